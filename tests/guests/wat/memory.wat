;; Memory limits. Needs no capability.
;;   grow_all   grows memory one page at a time until memory.grow returns -1, then exits with the
;;              number of pages it reached (the limit the host set, in 64 KiB pages)
;;   grow_huge  memory.grow(65536) (4 GiB at once) must fail with -1: exits with 1 if it did
;;   touch      writes to the last byte of memory and exits 0 (no trap)
;;   fill       grows memory to the limit like grow_all, then writes a byte every 4 KiB of it (so
;;              all of it is resident) and exits with the number of pages
;;   hostcall_after_grow
;;              has the host write into memory, grows memory by a page, has the host write into
;;              the new page and checks both copies match; a range past the new end must still be
;;              refused. Exits 0 if so; 2: bytes differ, 3: the new page was refused, 4: the range
;;              past the end was accepted, 5: memory could not grow
;;   host_writes_after_grow
;;              has the host write into memory, grows memory by a page, clears the host's bytes,
;;              and has the host write them again: they must be there. (If the grow moved memory
;;              and the host kept writing into the old copy, they would not.) Exits 0 if so;
;;              2: the bytes are missing, 5: memory could not grow
(module
  (import "selium" "process_exit" (func $exit (param i32) (result i32)))
  (import "selium" "handle_close" (func $close (param i32) (result i32)))
  (import "selium" "last_error" (func $last_error (param i32 i32) (result i32)))
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
    (drop (call $exit (i32.const 0))))
  (func (export "fill")
    (local $at i32)
    (block $grown
      (loop $more
        (br_if $grown (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (br $more)))
    (block $filled
      (loop $write
        (br_if $filled (i32.ge_u (local.get $at) (i32.mul (memory.size) (i32.const 65536))))
        (i32.store8 (local.get $at) (i32.const 1))
        (local.set $at (i32.add (local.get $at) (i32.const 4096)))
        (br $write)))
    (drop (call $exit (memory.size))))
  (func (export "host_writes_after_grow")
    (drop (call $close (i32.const 0x7fffffff)))  ;; fails: sets a last error to copy out
    (drop (call $last_error (i32.const 0) (i32.const 8)))
    (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then (drop (call $exit (i32.const 5)))))
    (i64.store (i32.const 0) (i64.const 0))
    (drop (call $last_error (i32.const 0) (i32.const 8)))
    (if (i64.eq (i64.load (i32.const 0)) (i64.const 0)) (then (drop (call $exit (i32.const 2)))))
    (drop (call $exit (i32.const 0))))
  (func (export "hostcall_after_grow")
    (local $new i32)
    (drop (call $close (i32.const 0x7fffffff)))  ;; fails: sets a last error to copy out
    (drop (call $last_error (i32.const 0) (i32.const 8)))
    (local.set $new (memory.grow (i32.const 1)))
    (if (i32.eq (local.get $new) (i32.const -1)) (then (drop (call $exit (i32.const 5)))))
    (local.set $new (i32.mul (local.get $new) (i32.const 65536)))
    (if (i32.lt_s (call $last_error (local.get $new) (i32.const 8)) (i32.const 0))
      (then (drop (call $exit (i32.const 3)))))
    (if (i64.ne (i64.load (i32.const 0)) (i64.load (local.get $new)))
      (then (drop (call $exit (i32.const 2)))))
    (if (i32.ge_s (call $last_error (i32.add (local.get $new) (i32.const 65532)) (i32.const 8))
                  (i32.const 0))
      (then (drop (call $exit (i32.const 4)))))
    (drop (call $exit (i32.const 0)))))
