;; An entrypoint that takes a string but no selium_alloc to place it with: the host must refuse
;; to start it (the spawn fails naming the missing allocator). `start` alone runs (status 0).
(module
  (memory (export "memory") 1)
  (func (export "takes_utf8") (param i32 i32))
  (func (export "start")))
