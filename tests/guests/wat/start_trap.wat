;; A module whose start function traps during instantiation: spawning it fails (the process
;; ends with reason "failed" and the trap message), and nothing else is affected.
(module
  (func $boom unreachable)
  (start $boom)
  (func (export "start")))
