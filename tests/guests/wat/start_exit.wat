;; A module whose start function calls process_exit(5) during instantiation: the process ends
;; there with status 5 (reason "error"), like any other exit; its entrypoint never runs.
(module
  (import "selium" "process_exit" (func $exit (param i32) (result i32)))
  (func $early (drop (call $exit (i32.const 5))))
  (start $early)
  (func (export "start") unreachable))
