;; Table growth under the per-process table budget. Needs no capability.
;;   grow (param $step i32)  grows its one table (declared with no maximum) by $step elements
;;                           until table.grow fails, then exits with the table's size
;;   hog                     grows the table by 4 M elements at a time until table.grow fails,
;;                           then exits with 2: with a budget the worker's V8 heap cannot hold,
;;                           the heap runs out first
(module
  (import "selium" "process_exit" (func $exit (param i32) (result i32)))
  (table $t 0 funcref)
  (func (export "grow") (param $step i32)
    (block $full
      (loop $more
        (br_if $full (i32.eq (table.grow $t (ref.null func) (local.get $step)) (i32.const -1)))
        (br $more)))
    (drop (call $exit (table.size $t))))
  (func (export "hog")
    (block $full
      (loop $more
        (br_if $full
          (i32.eq (table.grow $t (ref.null func) (i32.const 4000000)) (i32.const -1)))
        (br $more)))
    (drop (call $exit (i32.const 2)))))
