;; An endless loop of hostcalls that never yields: hostcalls return straight into wasm (they are
;; fast C calls), so only V8's own interrupt checks in the loop let stop, shutdown and
;; --max-slice end it. Needs no capability.
;;   start   calls selium.process_id forever
(module
  (import "selium" "process_id" (func $process_id (result i64)))
  (global $sink (mut i64) (i64.const 0))
  (func (export "start")
    (loop $forever
      (global.set $sink (i64.add (global.get $sink) (call $process_id)))
      (br $forever))))
