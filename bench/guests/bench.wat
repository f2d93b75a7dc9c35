;; Guest for the benchmarks in bench/ (no SDK, no selium_poll: each process ends when its
;; entrypoint returns, or never for `spin`). Needs no capability.
;;   hostcall_loop(n)      calls selium.process_id n times: a no-op hostcall round trip with an
;;                         i64 result (the host returns it as a BigInt);
;;   hostcall_i32_loop(n)  calls selium.last_error(0, 0) n times: a no-op hostcall with an i32
;;                         result (no last error is ever set, so it copies nothing);
;;   local_loop(n)         calls $tiny n times: the wasm-to-wasm reference with the same shape
;;                         (no arguments, i64 result), accumulated so it cannot be dropped;
;;   start                 returns at once (spawn benchmarks);
;;   spin                  loops forever without a hostcall or a memory access: a guest that
;;                         never yields, ended only by stop or shutdown (stop_bench).
(module
  (import "selium" "process_id" (func $process_id (result i64)))
  (import "selium" "last_error" (func $last_error (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $acc (mut i64) (i64.const 0))

  ;; Reads and returns state, so neither the call nor its result can be optimised away.
  ;; V8 10.2 does not inline wasm-to-wasm calls, so each iteration is a real call.
  (func $tiny (result i64)
    (i64.add (global.get $acc) (i64.const 1)))

  (func (export "hostcall_loop") (param $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (drop (call $process_id))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next))))

  (func (export "hostcall_i32_loop") (param $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (drop (call $last_error (i32.const 0) (i32.const 0)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next))))

  (func (export "local_loop") (param $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (global.set $acc (call $tiny))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next))))

  (func (export "start"))

  (func (export "spin")
    (loop $forever
      (br $forever))))
