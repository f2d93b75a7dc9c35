;; WASI calls with hostile pointers, through the real engine. Each entrypoint exits (selium
;; process_exit) with the errno the WASI call returned; on a correct host:
;;   iov_wrap      fd_write with an iovec whose buffer wraps around 4 GiB      -> 21 (EFAULT)
;;   iovs_oob      fd_write with the iovec array past the end of memory         -> 21
;;   count_wrap    fd_write with 0x20000000 iovecs (count * 8 wraps to 0)       -> 28 (EINVAL)
;;   nwritten_oob  fd_write with a good iovec but the count pointer out of bounds -> 21
;;   args_oob      args_get with the pointer array out of bounds                -> 21
;;   random_oob    random_get running past the end of memory                    -> 21
;;   clock         clock_time_get(realtime) into memory                          -> 0, or 76
;;                 (ENOTCAPABLE) without TimeRead
;;   exit          proc_exit(5): ends the process with status 5, never returns (no trap)
;; It also exports a `_start` that takes a parameter, which a WASI command's must not: spawning
;; it with the default entrypoint is refused with both signatures named.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "selium" "process_exit" (func $exit (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "never printed\n")
  (func (export "iov_wrap")
    (i32.store (i32.const 0) (i32.const 0xFFFFFFF0))
    (i32.store (i32.const 4) (i32.const 0x20))
    (drop (call $exit (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))))
  (func (export "iovs_oob")
    (drop (call $exit
      (call $fd_write (i32.const 1) (i32.const 65532) (i32.const 1) (i32.const 16)))))
  (func (export "count_wrap")
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 14))
    (drop (call $exit
      (call $fd_write (i32.const 1) (i32.const 0) (i32.const 0x20000000) (i32.const 16)))))
  (func (export "nwritten_oob")
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 14))
    (drop (call $exit
      (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 65534)))))
  (func (export "args_oob")
    (drop (call $exit (call $args_get (i32.const 65534) (i32.const 0)))))
  (func (export "random_oob")
    (drop (call $exit (call $random_get (i32.const 65530) (i32.const 100)))))
  (func (export "clock")
    (drop (call $exit (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 64)))))
  (func (export "_start") (param i32))
  (func (export "exit")
    (call $proc_exit (i32.const 5))
    unreachable))
