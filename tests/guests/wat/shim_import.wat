;; Imports the hostcall shim's own import, selium_host.call (src/engine/hostcall_shim.h), which
;; would let a guest call any hostcall index with arguments of its choosing. It is not part of the
;; ABI: the host must refuse to load the module, naming the import. (If it were wrongly
;; instantiated, `start` would exit with status 99.)
(module
  (import "selium_host" "call" (func $call (param i32) (result i32)))
  (import "selium" "process_exit" (func $exit (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "start")
    (drop (call $call (i32.const 0)))
    (drop (call $exit (i32.const 99)))))
