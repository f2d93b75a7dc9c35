;; A module without memory. It loads and runs (memory is needed only by hostcalls that take guest
;; pointers); those see no memory at all, so any non-empty range is out of bounds. Needs no
;; capability. Each entry exits with:
;;   start      exit(log_write(0, 16))                         -> -5 (-OutOfBounds)
;;   last_error handle_close(0) fails first (else exit 99); then
;;              exit(last_error(0, 8))                        -> -5 (-OutOfBounds)
;;   no_pointer exit(process_id() > 0 ? 0 : 1)                 -> 0 (pointer-free calls work)
(module
  (import "selium" "log_write" (func $log_write (param i32 i32) (result i32)))
  (import "selium" "last_error" (func $last_error (param i32 i32) (result i32)))
  (import "selium" "handle_close" (func $handle_close (param i32) (result i32)))
  (import "selium" "process_id" (func $process_id (result i64)))
  (import "selium" "process_exit" (func $exit (param i32) (result i32)))
  (func (export "start")
    (drop (call $exit (call $log_write (i32.const 0) (i32.const 16)))))
  (func (export "last_error")
    (if (i32.ge_s (call $handle_close (i32.const 0)) (i32.const 0))
      (then (drop (call $exit (i32.const 99)))))
    (drop (call $exit (call $last_error (i32.const 0) (i32.const 8)))))
  (func (export "no_pointer")
    (drop (call $exit
      (select (i32.const 0) (i32.const 1)
        (i64.gt_s (call $process_id) (i64.const 0)))))))
