;; A module without memory that asks for its log_uri into an empty buffer: the host has no memory
;; to copy into and must copy nothing (memcpy of a null pointer is undefined even for 0 bytes).
;; Needs no capability.
;;   start   exit(log_uri(0, 0))   -> the log_uri's length, or -6 (-NotFound) without one
(module
  (import "selium" "log_uri" (func $log_uri (param i32 i32) (result i32)))
  (import "selium" "process_exit" (func $exit (param i32) (result i32)))
  (func (export "start")
    (drop (call $exit (call $log_uri (i32.const 0) (i32.const 0))))))
