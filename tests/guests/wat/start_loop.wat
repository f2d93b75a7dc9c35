;; A module whose start function never returns: instantiation itself is guest code that stop,
;; shutdown and --max-slice must be able to end.
(module
  (func $spin (loop $forever (br $forever)))
  (start $spin)
  (func (export "start")))
