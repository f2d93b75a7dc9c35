;; A module without memory asks for the last error with a null, empty buffer: the host must
;; return the message's length without touching memory. Needs no capability.
;;   start  handle_close(12345) fails (InvalidHandle), then exits with last_error(0, 0), the
;;          message's length (> 0)
(module
  (import "selium" "handle_close" (func $handle_close (param i32) (result i32)))
  (import "selium" "last_error" (func $last_error (param i32 i32) (result i32)))
  (import "selium" "process_exit" (func $exit (param i32) (result i32)))
  (func (export "start")
    (drop (call $handle_close (i32.const 12345)))
    (drop (call $exit (call $last_error (i32.const 0) (i32.const 0))))))
