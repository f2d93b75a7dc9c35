;; Capability checks. Run WITHOUT TimeRead (capabilities=); every entry exits with the hostcall's
;; result, which a correct host makes -2 (-PermissionDenied):
;;   start       exit(i32.wrap(time_now(0)))
;;   timer       exit(timer_create(1000))
;;   timer_poll  exit(timer_poll(1, 0))   (the capability is checked before the handle)
;; With TimeRead granted, start exits with the low 32 bits of the wall clock and timer with a
;; handle (> 0) instead. The module always loads: a missing capability never blocks loading.
(module
  (import "selium" "time_now" (func $time_now (param i32) (result i64)))
  (import "selium" "timer_create" (func $timer_create (param i64) (result i32)))
  (import "selium" "timer_poll" (func $timer_poll (param i32 i32) (result i32)))
  (import "selium" "process_exit" (func $exit (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "start")
    (drop (call $exit (i32.wrap_i64 (call $time_now (i32.const 0))))))
  (func (export "timer")
    (drop (call $exit (call $timer_create (i64.const 1000)))))
  (func (export "timer_poll")
    (drop (call $exit (call $timer_poll (i32.const 1) (i32.const 0))))))
