;; Imports selium.no_such_call, which is in no hostcall table. A correct host refuses to
;; instantiate the module with an error that names "selium" / "no_such_call"; nothing runs.
;; (If it were wrongly instantiated, `start` would exit with status 99.)
(module
  (import "selium" "no_such_call" (func $no_such_call (param i32) (result i32)))
  (import "selium" "process_exit" (func $exit (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "start")
    (drop (call $no_such_call (i32.const 0)))
    (drop (call $exit (i32.const 99)))))
