;; Handle checks. Run WITH TimeRead (capabilities=TimeRead): timers are the handles a guest can
;; make without other capabilities. Each entry exits with the result named below; a correct
;; host gives -3 (-InvalidHandle) for every final call:
;;   stale         h = timer_create(1); handle_close(h); exit(timer_poll(h, 0))
;;   never_issued  exit(timer_poll(12345, 0))
;;   double_close  h = timer_create(1); handle_close(h); exit(handle_close(h))
;;   zero          exit(handle_close(0))
;;   negative      exit(handle_close(-1))
;;   wrong_kind    (param i32 h) exit(timer_poll(h, 0)); the test passes a handle of another kind
;; Set-up failures exit with other values: a failing timer_create exits with its (negative)
;; result, e.g. -2 without TimeRead; a failing first handle_close exits with 101.
;;   exhaust       creates timers without closing them until timer_create fails and exits with
;;                 that result (-10 -LimitExceeded when the host caps handles per process), or
;;                 with 1 if all 100000 succeeded.
(module
  (import "selium" "timer_create" (func $timer_create (param i64) (result i32)))
  (import "selium" "timer_poll" (func $timer_poll (param i32 i32) (result i32)))
  (import "selium" "handle_close" (func $handle_close (param i32) (result i32)))
  (import "selium" "process_exit" (func $exit (param i32) (result i32)))
  (memory (export "memory") 1)

  ;; A fresh timer handle; exits with timer_create's result when that fails.
  (func $new_timer (result i32)
    (local $h i32)
    (local.set $h (call $timer_create (i64.const 1)))
    (if (i32.lt_s (local.get $h) (i32.const 0))
      (then (drop (call $exit (local.get $h)))))
    (local.get $h))

  ;; Closes h; exits with 101 when that fails.
  (func $close_once (param $h i32)
    (if (i32.ne (call $handle_close (local.get $h)) (i32.const 0))
      (then (drop (call $exit (i32.const 101))))))

  (func (export "stale")
    (local $h i32)
    (local.set $h (call $new_timer))
    (call $close_once (local.get $h))
    (drop (call $exit (call $timer_poll (local.get $h) (i32.const 0)))))
  (func (export "never_issued")
    (drop (call $exit (call $timer_poll (i32.const 12345) (i32.const 0)))))
  (func (export "double_close")
    (local $h i32)
    (local.set $h (call $new_timer))
    (call $close_once (local.get $h))
    (drop (call $exit (call $handle_close (local.get $h)))))
  (func (export "zero")
    (drop (call $exit (call $handle_close (i32.const 0)))))
  (func (export "negative")
    (drop (call $exit (call $handle_close (i32.const -1)))))
  (func (export "wrong_kind") (param $h i32)
    (drop (call $exit (call $timer_poll (local.get $h) (i32.const 0)))))
  (func (export "exhaust")
    (local $i i32)
    (local $h i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const 100000)))
        (local.set $h (call $timer_create (i64.const 1000000000)))
        (if (i32.lt_s (local.get $h) (i32.const 0))
          (then (drop (call $exit (local.get $h)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (drop (call $exit (i32.const 1)))))
