;; Guest for density_bench: the smallest process that stays alive and waits. No SDK, no
;; capability, no import. One page of memory (a real guest always has one), an entrypoint that
;; returns at once and a `selium_poll` that always answers "pending" (0): nothing ever wakes the
;; process, so it stays idle until it is stopped.
;;   start         returns at once; the engine then polls the root task, which stays pending.
;;   selium_poll   returns 0 (SELIUM_POLL_PENDING) whatever the waker.
(module
  (memory (export "memory") 1)
  (func (export "start"))
  (func (export "selium_poll") (param $waker i32) (result i32)
    (i32.const 0)))
