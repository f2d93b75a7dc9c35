;; Declares 32 tables of one element each, with no maximum. Needs no capability.
;;   grow (param $step i32)  grows every table by $step elements until table.grow fails, then
;;                           exits with the sum of their sizes
(module
  (import "selium" "process_exit" (func $exit (param i32) (result i32)))
  (table $t0 1 funcref)
  (table $t1 1 funcref)
  (table $t2 1 funcref)
  (table $t3 1 funcref)
  (table $t4 1 funcref)
  (table $t5 1 funcref)
  (table $t6 1 funcref)
  (table $t7 1 funcref)
  (table $t8 1 funcref)
  (table $t9 1 funcref)
  (table $t10 1 funcref)
  (table $t11 1 funcref)
  (table $t12 1 funcref)
  (table $t13 1 funcref)
  (table $t14 1 funcref)
  (table $t15 1 funcref)
  (table $t16 1 funcref)
  (table $t17 1 funcref)
  (table $t18 1 funcref)
  (table $t19 1 funcref)
  (table $t20 1 funcref)
  (table $t21 1 funcref)
  (table $t22 1 funcref)
  (table $t23 1 funcref)
  (table $t24 1 funcref)
  (table $t25 1 funcref)
  (table $t26 1 funcref)
  (table $t27 1 funcref)
  (table $t28 1 funcref)
  (table $t29 1 funcref)
  (table $t30 1 funcref)
  (table $t31 1 funcref)
  (func (export "grow") (param $step i32)
    (local $total i32)
    (block $full0 (loop $more0
      (br_if $full0 (i32.eq (table.grow $t0 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more0)))
    (local.set $total (i32.add (local.get $total) (table.size $t0)))
    (block $full1 (loop $more1
      (br_if $full1 (i32.eq (table.grow $t1 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more1)))
    (local.set $total (i32.add (local.get $total) (table.size $t1)))
    (block $full2 (loop $more2
      (br_if $full2 (i32.eq (table.grow $t2 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more2)))
    (local.set $total (i32.add (local.get $total) (table.size $t2)))
    (block $full3 (loop $more3
      (br_if $full3 (i32.eq (table.grow $t3 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more3)))
    (local.set $total (i32.add (local.get $total) (table.size $t3)))
    (block $full4 (loop $more4
      (br_if $full4 (i32.eq (table.grow $t4 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more4)))
    (local.set $total (i32.add (local.get $total) (table.size $t4)))
    (block $full5 (loop $more5
      (br_if $full5 (i32.eq (table.grow $t5 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more5)))
    (local.set $total (i32.add (local.get $total) (table.size $t5)))
    (block $full6 (loop $more6
      (br_if $full6 (i32.eq (table.grow $t6 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more6)))
    (local.set $total (i32.add (local.get $total) (table.size $t6)))
    (block $full7 (loop $more7
      (br_if $full7 (i32.eq (table.grow $t7 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more7)))
    (local.set $total (i32.add (local.get $total) (table.size $t7)))
    (block $full8 (loop $more8
      (br_if $full8 (i32.eq (table.grow $t8 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more8)))
    (local.set $total (i32.add (local.get $total) (table.size $t8)))
    (block $full9 (loop $more9
      (br_if $full9 (i32.eq (table.grow $t9 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more9)))
    (local.set $total (i32.add (local.get $total) (table.size $t9)))
    (block $full10 (loop $more10
      (br_if $full10 (i32.eq (table.grow $t10 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more10)))
    (local.set $total (i32.add (local.get $total) (table.size $t10)))
    (block $full11 (loop $more11
      (br_if $full11 (i32.eq (table.grow $t11 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more11)))
    (local.set $total (i32.add (local.get $total) (table.size $t11)))
    (block $full12 (loop $more12
      (br_if $full12 (i32.eq (table.grow $t12 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more12)))
    (local.set $total (i32.add (local.get $total) (table.size $t12)))
    (block $full13 (loop $more13
      (br_if $full13 (i32.eq (table.grow $t13 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more13)))
    (local.set $total (i32.add (local.get $total) (table.size $t13)))
    (block $full14 (loop $more14
      (br_if $full14 (i32.eq (table.grow $t14 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more14)))
    (local.set $total (i32.add (local.get $total) (table.size $t14)))
    (block $full15 (loop $more15
      (br_if $full15 (i32.eq (table.grow $t15 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more15)))
    (local.set $total (i32.add (local.get $total) (table.size $t15)))
    (block $full16 (loop $more16
      (br_if $full16 (i32.eq (table.grow $t16 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more16)))
    (local.set $total (i32.add (local.get $total) (table.size $t16)))
    (block $full17 (loop $more17
      (br_if $full17 (i32.eq (table.grow $t17 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more17)))
    (local.set $total (i32.add (local.get $total) (table.size $t17)))
    (block $full18 (loop $more18
      (br_if $full18 (i32.eq (table.grow $t18 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more18)))
    (local.set $total (i32.add (local.get $total) (table.size $t18)))
    (block $full19 (loop $more19
      (br_if $full19 (i32.eq (table.grow $t19 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more19)))
    (local.set $total (i32.add (local.get $total) (table.size $t19)))
    (block $full20 (loop $more20
      (br_if $full20 (i32.eq (table.grow $t20 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more20)))
    (local.set $total (i32.add (local.get $total) (table.size $t20)))
    (block $full21 (loop $more21
      (br_if $full21 (i32.eq (table.grow $t21 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more21)))
    (local.set $total (i32.add (local.get $total) (table.size $t21)))
    (block $full22 (loop $more22
      (br_if $full22 (i32.eq (table.grow $t22 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more22)))
    (local.set $total (i32.add (local.get $total) (table.size $t22)))
    (block $full23 (loop $more23
      (br_if $full23 (i32.eq (table.grow $t23 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more23)))
    (local.set $total (i32.add (local.get $total) (table.size $t23)))
    (block $full24 (loop $more24
      (br_if $full24 (i32.eq (table.grow $t24 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more24)))
    (local.set $total (i32.add (local.get $total) (table.size $t24)))
    (block $full25 (loop $more25
      (br_if $full25 (i32.eq (table.grow $t25 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more25)))
    (local.set $total (i32.add (local.get $total) (table.size $t25)))
    (block $full26 (loop $more26
      (br_if $full26 (i32.eq (table.grow $t26 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more26)))
    (local.set $total (i32.add (local.get $total) (table.size $t26)))
    (block $full27 (loop $more27
      (br_if $full27 (i32.eq (table.grow $t27 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more27)))
    (local.set $total (i32.add (local.get $total) (table.size $t27)))
    (block $full28 (loop $more28
      (br_if $full28 (i32.eq (table.grow $t28 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more28)))
    (local.set $total (i32.add (local.get $total) (table.size $t28)))
    (block $full29 (loop $more29
      (br_if $full29 (i32.eq (table.grow $t29 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more29)))
    (local.set $total (i32.add (local.get $total) (table.size $t29)))
    (block $full30 (loop $more30
      (br_if $full30 (i32.eq (table.grow $t30 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more30)))
    (local.set $total (i32.add (local.get $total) (table.size $t30)))
    (block $full31 (loop $more31
      (br_if $full31 (i32.eq (table.grow $t31 (ref.null func) (local.get $step)) (i32.const -1)))
      (br $more31)))
    (local.set $total (i32.add (local.get $total) (table.size $t31)))
    (drop (call $exit (local.get $total)))))
