;; process_exit and the selium_poll protocol without the SDK. Needs no capability. Each entry
;; ends the process with the status named below (never with a trap):
;;   start          process_exit(7)                                          -> 7
;;   after_exit     process_exit(3), then `unreachable` that must never run   -> 3
;;   exit_caught    process_exit(11) inside try/catch_all, then process_exit(12) in the handler
;;                  and after it: exit must not be catchable                  -> 11
;;   negative       process_exit(-1)                                         -> -1
;;   returns        returns; the host calls selium_poll(-1), which returns 1 -> 0
;;   exit_in_poll   returns; selium_poll(-1) calls process_exit(9)           -> 9
;;   poll_waker     returns; selium_poll(w) calls process_exit(w)            -> -1 (SELIUM_WAKER_START)
;;   yield_waker    yield_now(42) must return -1 (-WouldBlock; else exit 100); returns;
;;                  selium_poll(-1) returns 0 (pending); the host then calls selium_poll(42),
;;                  which calls process_exit(42)                            -> 42
;; selium_poll is exported, so every entry that returns is followed by selium_poll(-1).
(module
  (import "selium" "process_exit" (func $exit (param i32) (result i32)))
  (import "selium" "yield_now" (func $yield_now (param i32) (result i32)))
  (memory (export "memory") 1)
  ;; What selium_poll does: 0 done, 1 exit(9), 2 exit(waker), 3 pending on -1 then exit(waker).
  (global $mode (mut i32) (i32.const 0))
  (func (export "start")
    (drop (call $exit (i32.const 7))))
  (func (export "after_exit")
    (drop (call $exit (i32.const 3)))
    unreachable)
  (func (export "exit_caught")
    (try
      (do (drop (call $exit (i32.const 11))))
      (catch_all (drop (call $exit (i32.const 12)))))
    (drop (call $exit (i32.const 12))))
  (func (export "negative")
    (drop (call $exit (i32.const -1))))
  (func (export "returns"))
  (func (export "exit_in_poll")
    (global.set $mode (i32.const 1)))
  (func (export "poll_waker")
    (global.set $mode (i32.const 2)))
  (func (export "yield_waker")
    (if (i32.ne (call $yield_now (i32.const 42)) (i32.const -1))
      (then (drop (call $exit (i32.const 100)))))
    (global.set $mode (i32.const 3)))
  (func (export "selium_poll") (param $waker i32) (result i32)
    (if (i32.eq (global.get $mode) (i32.const 1))
      (then (drop (call $exit (i32.const 9)))))
    (if (i32.eq (global.get $mode) (i32.const 2))
      (then (drop (call $exit (local.get $waker)))))
    (if (i32.eq (global.get $mode) (i32.const 3))
      (then
        (if (i32.eq (local.get $waker) (i32.const -1))
          (then (return (i32.const 0))))
        (drop (call $exit (local.get $waker)))))
    (i32.const 1)))
