;; Exports of assorted shapes for the runtime's entrypoint signature checks (spec params vs the
;; export's wasm type) and its error messages. Needs no capability. Called with arguments that
;; match, each of these returns at once, so the process ends normally with status 0 (no
;; selium_poll export); echo_args is the guest that checks argument values:
;;   takes_i32 (param i32), takes_i64 (param i64), takes_f64 (param f64),
;;   takes_utf8 (param i32 i32)   (ptr, len: memory from selium_alloc), no_params
;; And one that is no valid entrypoint:
;;   returns_i32 (result i32)     returns 5: an entrypoint must return nothing, so a correct
;;                                host rejects it before calling it
;; Not functions: "memory" (memory) and "not_a_function" (global i32 = 1).
;; selium_alloc is a bump allocator from 4096 (never frees; 0 when out of memory).
(module
  (memory (export "memory") 1)
  (global (export "not_a_function") i32 (i32.const 1))
  (global $next (mut i32) (i32.const 4096))
  (func (export "takes_i32") (param i32))
  (func (export "takes_i64") (param i64))
  (func (export "takes_f64") (param f64))
  (func (export "takes_utf8") (param $ptr i32) (param $len i32))
  (func (export "returns_i32") (result i32)
    (i32.const 5))
  (func (export "no_params"))
  (func (export "selium_alloc") (param $size i32) (param $align i32) (result i32)
    (local $addr i32)
    (local $end i32)
    (if (i32.eqz (local.get $align)) (then (local.set $align (i32.const 1))))
    ;; addr = (next + align - 1) & -align
    (local.set $addr
      (i32.and
        (i32.add (global.get $next) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $addr) (local.get $size)))
    (if (i32.or
          (i32.lt_u (local.get $end) (local.get $addr))
          (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536))))
      (then
        (if (i32.eq
              (memory.grow
                (i32.add (i32.shr_u (i32.sub (local.get $end)
                                             (i32.mul (memory.size) (i32.const 65536)))
                                    (i32.const 16))
                         (i32.const 1)))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $next (local.get $end))
    (local.get $addr)))
