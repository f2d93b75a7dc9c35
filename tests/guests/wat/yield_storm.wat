;; Guests that call yield_now far more often than the host should queue anything for. Needs no
;; capability. Each exits (selium process_exit) with the value named below on a correct host:
;;   coalesce  the entrypoint yields waker 7 a thousand times, then waker 8 once; selium_poll
;;             counts the polls of 7 and, when polled with 8, exits with that count -> 1 (each
;;             pending waker is polled once, however often it was yielded)
;;   limit     yields wakers 0, 1, 2, ... until one is refused; exits with the index of the first
;;             refusal if it was -10 (-LimitExceeded) -> 4096, or 1000000 if none was refused
;;   storm     the entrypoint and every poll yield waker 0 ten thousand times and return
;;             pending, forever; every 100th poll writes "tick\n" to stdout (WASI fd_write), so
;;             a test can watch it run. It never ends by itself.
(module
  (import "selium" "yield_now" (func $yield (param i32) (result i32)))
  (import "selium" "process_exit" (func $exit (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "tick\n")
  (global $mode (mut i32) (i32.const 0))   ;; 1 coalesce, 3 storm
  (global $polls (mut i32) (i32.const 0))

  (func $yield_many (param $waker i32) (param $n i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (drop (call $yield (local.get $waker)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))

  (func (export "coalesce")
    (global.set $mode (i32.const 1))
    (call $yield_many (i32.const 7) (i32.const 1000))
    (drop (call $yield (i32.const 8))))

  (func (export "limit")
    (local $i i32)
    (local $r i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const 1000000)))
        (local.set $r (call $yield (local.get $i)))
        (if (i32.ne (local.get $r) (i32.const -1))   ;; -1 is -WouldBlock
          (then
            (if (i32.eq (local.get $r) (i32.const -10))
              (then (drop (call $exit (local.get $i))))
              (else (drop (call $exit (i32.sub (i32.const 0) (local.get $r))))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (drop (call $exit (i32.const 1000000))))

  (func (export "storm")
    (global.set $mode (i32.const 3))
    (call $yield_many (i32.const 0) (i32.const 10000)))

  (func (export "selium_poll") (param $waker i32) (result i32)
    (if (i32.eq (global.get $mode) (i32.const 1))
      (then
        (if (i32.eq (local.get $waker) (i32.const 7))
          (then (global.set $polls (i32.add (global.get $polls) (i32.const 1)))))
        (if (i32.eq (local.get $waker) (i32.const 8))
          (then (drop (call $exit (global.get $polls)))))))
    (if (i32.eq (global.get $mode) (i32.const 3))
      (then
        (global.set $polls (i32.add (global.get $polls) (i32.const 1)))
        (if (i32.eqz (i32.rem_u (global.get $polls) (i32.const 100)))
          (then
            (i32.store (i32.const 0) (i32.const 64))
            (i32.store (i32.const 4) (i32.const 5))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))))
        (call $yield_many (i32.const 0) (i32.const 10000))))
    (i32.const 0)))
