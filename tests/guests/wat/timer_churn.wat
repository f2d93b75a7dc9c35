;; Makes and closes a million timers of 1000 s inside one call, then writes "measure\n" to stdout
;; (WASI fd_write: the test's log sink looks at the host's memory while the call is still
;; running) and exits 0. Exits with timer_create's or handle_close's negative result if one
;; fails. Run WITH TimeRead.
;;   churn
(module
  (import "selium" "timer_create" (func $timer_create (param i64) (result i32)))
  (import "selium" "handle_close" (func $handle_close (param i32) (result i32)))
  (import "selium" "process_exit" (func $exit (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "measure\n")
  (func (export "churn")
    (local $i i32)
    (local $h i32)
    (local $r i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const 1000000)))
        (local.set $h (call $timer_create (i64.const 1000000000000)))
        (if (i32.lt_s (local.get $h) (i32.const 0))
          (then (drop (call $exit (local.get $h)))))
        (local.set $r (call $handle_close (local.get $h)))
        (if (i32.ne (local.get $r) (i32.const 0))
          (then (drop (call $exit (local.get $r)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 8))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
    (drop (call $exit (i32.const 0)))))
