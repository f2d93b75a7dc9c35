;; WASI imports a correct host refuses, each named in the error: a preview-1 name that does not
;; exist, the pre-preview-1 module "wasi_unstable" (not provided), and fd_write with a signature
;; that is not preview 1's. Nothing runs. (If it were wrongly instantiated, `start` would exit
;; with status 99.)
(module
  (import "wasi_snapshot_preview1" "no_such_call" (func $nope (param i32) (result i32)))
  (import "wasi_unstable" "fd_write" (func $old_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32) (result i32)))
  (import "selium" "process_exit" (func $exit (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "start")
    (drop (call $fd_write (i32.const 1)))
    (drop (call $exit (i32.const 99)))))
