;; Guest faults the engine turns into traps; the process must end as trapped (the host keeps
;; running, and other processes with it). Imports nothing; needs no capability.
;;   unreachable     executes `unreachable`
;;   oob_load        i32.load at 0xFFFFFFF0 (memory is 1 page)    -> memory access out of bounds
;;   div_zero        i32.div_u by zero                             -> divide by zero
;;   stack_overflow  unbounded recursion                           -> call stack exhausted
;;   bad_indirect    call_indirect through a null table slot       -> null function / table access
;;   loop_forever    an endless loop without calls: never ends by itself; only stop/terminate
;;                   (or a CPU budget) ends it
;;   ok              returns normally: status 0 (a control case)
(module
  (memory (export "memory") 1)
  (table 2 funcref)
  (type $void (func))
  (global $zero (mut i32) (i32.const 0))
  (func (export "unreachable") unreachable)
  (func (export "oob_load")
    (drop (i32.load (i32.const 0xFFFFFFF0))))
  (func (export "div_zero")
    (drop (i32.div_u (i32.const 1) (global.get $zero))))
  (func $recurse (param $n i32) (result i32)
    (i32.add (call $recurse (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))
  (func (export "stack_overflow")
    (drop (call $recurse (i32.const 0))))
  (func (export "bad_indirect")
    (call_indirect (type $void) (i32.const 1)))
  (func (export "loop_forever")
    (loop $forever
      (global.set $zero (global.get $zero))
      (br $forever)))
  (func (export "ok")))
