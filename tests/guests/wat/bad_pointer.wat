;; Guest pointers the host must reject without crashing or reading outside this instance. Needs
;; no capability. Memory: 1 page (64 KiB). Every entry exits with the hostcall's result:
;;   log_oob         log_write(memory_bytes - 2, 100)  -> -5 (-OutOfBounds)
;;   log_wrap        log_write(0xFFFFFFF0, 0x20)       -> -5 (ptr + len wraps around 2^32)
;;   last_error_oob  handle_close(0) fails first (so a message exists), then
;;                   last_error(0xFFFFFFFF, 10)        -> -5
;;   log_garbage     log_write(1024, 16) over 16 bytes that are no LogRecord -> -4 (-InvalidArgument)
;;   log_empty       log_write(1024, 0)                -> -4 (an empty buffer is no LogRecord)
;; Exit status 99 means handle_close(0) unexpectedly succeeded.
(module
  (import "selium" "log_write" (func $log_write (param i32 i32) (result i32)))
  (import "selium" "last_error" (func $last_error (param i32 i32) (result i32)))
  (import "selium" "handle_close" (func $handle_close (param i32) (result i32)))
  (import "selium" "process_exit" (func $exit (param i32) (result i32)))
  (memory (export "memory") 1)
  ;; Root offset 0xFFFFFFF7 points far outside the buffer; the rest is noise.
  (data (i32.const 1024) "\f7\ff\ff\ff\de\ad\be\ef\01\02\03\04\05\06\07\08")
  (func (export "log_oob")
    (drop (call $exit
      (call $log_write
        (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 2))
        (i32.const 100)))))
  (func (export "log_wrap")
    (drop (call $exit (call $log_write (i32.const 0xFFFFFFF0) (i32.const 0x20)))))
  (func (export "last_error_oob")
    (if (i32.ge_s (call $handle_close (i32.const 0)) (i32.const 0))
      (then (drop (call $exit (i32.const 99)))))
    (drop (call $exit (call $last_error (i32.const 0xFFFFFFFF) (i32.const 10)))))
  (func (export "log_garbage")
    (drop (call $exit (call $log_write (i32.const 1024) (i32.const 16)))))
  (func (export "log_empty")
    (drop (call $exit (call $log_write (i32.const 1024) (i32.const 0))))))
