/* Imports every function of the WASI table (SELIUM_WASI_CALLS in selium/abi/wasi.h) with the
 * table's signature, so loading it proves that the host links every preview-1 import. Exports
 * start(), which returns at once (status 0). No libc: the declarations are expanded here. */
#include <selium/abi/wasi.h>

#define SELIUM_WASI_DECLARE_(name, capability, result, params)                  \
  __attribute__((import_module(SELIUM_WASI_IMPORT_MODULE), import_name(#name))) \
  result selium_wasi_##name params;
SELIUM_WASI_CALLS(SELIUM_WASI_DECLARE_)
#undef SELIUM_WASI_DECLARE_

/* Taking each function's address makes the linker keep the import. */
#define SELIUM_WASI_ENTRY_(name, capability, result, params) (const void*)&selium_wasi_##name,
static const void* const kEveryWasiCall[] = {SELIUM_WASI_CALLS(SELIUM_WASI_ENTRY_)};

/* Exported so the table cannot be dropped as unused. */
__attribute__((export_name("wasi_call_count"))) uint32_t wasi_call_count(void) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < sizeof kEveryWasiCall / sizeof kEveryWasiCall[0]; ++i) {
    const void* volatile entry = kEveryWasiCall[i]; /* volatile: the compiler must not fold it */
    n += entry != 0;
  }
  return n;
}

__attribute__((export_name("start"))) void start(void) {}
