;; Declares a minimum of 100 pages (6.25 MiB): refused to load under a smaller memory limit.
(module
  (memory (export "memory") 100)
  (func (export "start")))
