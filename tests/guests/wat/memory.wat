;; Memory limits. Needs no capability.
;;   grow_all   grows memory one page at a time until memory.grow returns -1, then exits with the
;;              number of pages it reached (the limit the host set, in 64 KiB pages)
;;   grow_huge  memory.grow(65536) (4 GiB at once) must fail with -1: exits with 1 if it did
;;   touch      writes to the last byte of memory and exits 0 (no trap)
(module
  (import "selium" "process_exit" (func $exit (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "grow_all")
    (block $done
      (loop $more
        (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (br $more)))
    (drop (call $exit (memory.size))))
  (func (export "grow_huge")
    (drop (call $exit (i32.eq (memory.grow (i32.const 65536)) (i32.const -1)))))
  (func (export "touch")
    (i32.store8 (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1)) (i32.const 7))
    (drop (call $exit (i32.const 0)))))
