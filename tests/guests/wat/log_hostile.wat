;; Guest log records the runtime must print without letting the guest forge, amplify or stall
;; its output. Needs no capability. Memory: 1 page. The records are prebuilt selium.abi.LogRecord
;; FlatBuffers (flatc -b schemas/log.fbs from the JSON in the comment above each data segment).
;;   flood       log_write(flood record) in an endless loop that never yields: only stop or
;;               shutdown end it
;;   misaligned  exit(log_write(the flood record copied to odd address 4097))   -> 0
;;   forged      exit(log_write(record with fields pid, module, stream, guest_target))  -> 0; the
;;               runtime prints them as guest.pid, guest.module, ...
;;   bad_key     exit(log_write(record whose key holds a newline and a fake record)) -> -4
;;               (-InvalidArgument)
;;   control     exit(log_write(record whose message and value hold a newline and ESC)) -> 0;
;;               printed escaped, on one line
(module
  (import "selium" "log_write" (func $log_write (param i32 i32) (result i32)))
  (import "selium" "process_exit" (func $exit (param i32) (result i32)))
  (memory (export "memory") 1)
  ;; flood
  ;; {"level": "Info", "target": "flood", "message": "flooding the log output with a long enough line to fill pipes quickly ................................................................................", "fields": [{"key": "n", "kind": "Uint", "uint": 7}]}
  (data (i32.const 1024)
    "\14\00\00\00\00\00\00\00\0c\00\10\00\00\00\04\00\08\00\0c\00\0c\00\00\00\dc\00\00\00\3c\00\00\00"
    "\04\00\00\00\01\00\00\00\14\00\00\00\00\00\0e\00\14\00\08\00\07\00\00\00\00\00\0c\00\0e\00\00\00"
    "\00\00\00\02\0c\00\00\00\07\00\00\00\00\00\00\00\01\00\00\00\6e\00\00\00\96\00\00\00\66\6c\6f\6f"
    "\64\69\6e\67\20\74\68\65\20\6c\6f\67\20\6f\75\74\70\75\74\20\77\69\74\68\20\61\20\6c\6f\6e\67\20"
    "\65\6e\6f\75\67\68\20\6c\69\6e\65\20\74\6f\20\66\69\6c\6c\20\70\69\70\65\73\20\71\75\69\63\6b\6c"
    "\79\20\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e"
    "\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e"
    "\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\00\00\05\00\00\00\66\6c\6f\6f\64\00\00\00")
  ;; flood (misaligned copy)
  (data (i32.const 4097)
    "\14\00\00\00\00\00\00\00\0c\00\10\00\00\00\04\00\08\00\0c\00\0c\00\00\00\dc\00\00\00\3c\00\00\00"
    "\04\00\00\00\01\00\00\00\14\00\00\00\00\00\0e\00\14\00\08\00\07\00\00\00\00\00\0c\00\0e\00\00\00"
    "\00\00\00\02\0c\00\00\00\07\00\00\00\00\00\00\00\01\00\00\00\6e\00\00\00\96\00\00\00\66\6c\6f\6f"
    "\64\69\6e\67\20\74\68\65\20\6c\6f\67\20\6f\75\74\70\75\74\20\77\69\74\68\20\61\20\6c\6f\6e\67\20"
    "\65\6e\6f\75\67\68\20\6c\69\6e\65\20\74\6f\20\66\69\6c\6c\20\70\69\70\65\73\20\71\75\69\63\6b\6c"
    "\79\20\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e"
    "\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e"
    "\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\00\00\05\00\00\00\66\6c\6f\6f\64\00\00\00")
  ;; forged
  ;; {"level": "Warn", "message": "forged", "fields": [{"key": "pid", "kind": "Str", "str": "1"}, {"key": "module", "kind": "Str", "str": "evil.wasm"}, {"key": "stream", "kind": "Str", "str": "stdout"}, {"key": "guest_target", "kind": "Str", "str": "x"}]}
  (data (i32.const 8192)
    "\10\00\00\00\0c\00\10\00\07\00\00\00\08\00\0c\00\0c\00\00\00\00\00\00\03\b8\00\00\00\04\00\00\00"
    "\04\00\00\00\90\00\00\00\58\00\00\00\30\00\00\00\04\00\00\00\8a\ff\ff\ff\10\00\00\00\04\00\00\00"
    "\01\00\00\00\78\00\00\00\0c\00\00\00\67\75\65\73\74\5f\74\61\72\67\65\74\00\00\00\00\b2\ff\ff\ff"
    "\14\00\00\00\04\00\00\00\06\00\00\00\73\74\64\6f\75\74\00\00\06\00\00\00\73\74\72\65\61\6d\00\00"
    "\d6\ff\ff\ff\18\00\00\00\04\00\00\00\09\00\00\00\65\76\69\6c\2e\77\61\73\6d\00\00\00\06\00\00\00"
    "\6d\6f\64\75\6c\65\00\00\00\00\0a\00\0c\00\04\00\00\00\08\00\0a\00\00\00\10\00\00\00\04\00\00\00"
    "\01\00\00\00\31\00\00\00\03\00\00\00\70\69\64\00\06\00\00\00\66\6f\72\67\65\64\00\00")
  ;; badkey
  ;; {"level": "Info", "message": "bad key", "fields": [{"key": "a\n2026-01-01T00:00:00.000000Z ERROR selium.runtime: process exited pid=1", "kind": "Str", "str": "v"}]}
  (data (i32.const 12288)
    "\10\00\00\00\0c\00\0c\00\00\00\00\00\04\00\08\00\0c\00\00\00\80\00\00\00\04\00\00\00\01\00\00\00"
    "\10\00\00\00\00\00\0a\00\0c\00\04\00\00\00\08\00\0a\00\00\00\10\00\00\00\04\00\00\00\01\00\00\00"
    "\76\00\00\00\48\00\00\00\61\0a\32\30\32\36\2d\30\31\2d\30\31\54\30\30\3a\30\30\3a\30\30\2e\30\30"
    "\30\30\30\30\5a\20\45\52\52\4f\52\20\73\65\6c\69\75\6d\2e\72\75\6e\74\69\6d\65\3a\20\70\72\6f\63"
    "\65\73\73\20\65\78\69\74\65\64\20\70\69\64\3d\31\00\00\00\00\07\00\00\00\62\61\64\20\6b\65\79\00")
  ;; ctrl
  ;; {"level": "Info", "message": "line one\n2026-01-01T00:00:00.000000Z ERROR selium.runtime: forged \u001b[31m", "fields": [{"key": "v", "kind": "Str", "str": "a\nb"}]}
  (data (i32.const 16384)
    "\10\00\00\00\0c\00\0c\00\00\00\00\00\04\00\08\00\0c\00\00\00\38\00\00\00\04\00\00\00\01\00\00\00"
    "\10\00\00\00\00\00\0a\00\0c\00\04\00\00\00\08\00\0a\00\00\00\10\00\00\00\04\00\00\00\03\00\00\00"
    "\61\0a\62\00\01\00\00\00\76\00\00\00\47\00\00\00\6c\69\6e\65\20\6f\6e\65\0a\32\30\32\36\2d\30\31"
    "\2d\30\31\54\30\30\3a\30\30\3a\30\30\2e\30\30\30\30\30\30\5a\20\45\52\52\4f\52\20\73\65\6c\69\75"
    "\6d\2e\72\75\6e\74\69\6d\65\3a\20\66\6f\72\67\65\64\20\1b\5b\33\31\6d\00")
  (func (export "flood")
    (loop $forever
      (drop (call $log_write (i32.const 1024) (i32.const 256)))
      (br $forever)))
  (func (export "misaligned")
    (drop (call $exit (call $log_write (i32.const 4097) (i32.const 256)))))
  (func (export "forged")
    (drop (call $exit (call $log_write (i32.const 8192) (i32.const 220)))))
  (func (export "bad_key")
    (drop (call $exit (call $log_write (i32.const 12288) (i32.const 160)))))
  (func (export "control")
    (drop (call $exit (call $log_write (i32.const 16384) (i32.const 152))))))
