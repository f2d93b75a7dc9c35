;; Imports wasi_snapshot_preview1.fd_write: WASI is not offered to guests, so a correct host
;; refuses to instantiate the module with an error that names the import; nothing runs.
;; (If it were wrongly instantiated, `start` would exit with status 99.)
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "selium" "process_exit" (func $exit (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "start")
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0)))
    (drop (call $exit (i32.const 99)))))
