/* Imports every hostcall the SDK declares (the whole SELIUM_HOSTCALLS table, through the SDK's
 * own declarations), so loading it proves that every entry is declared for guests and linked by
 * the host with the same signature. Exports start(), which returns at once (status 0). */
#include <selium/selium.h>

/* Taking each function's address makes the linker keep the import. */
#define SELIUM_COVERAGE_ENTRY_(name, capability, result, params) (const void*)&selium_##name,
static const void* const kEveryHostcall[] = {SELIUM_HOSTCALLS(SELIUM_COVERAGE_ENTRY_)};

/* Exported so the table cannot be dropped as unused. */
SELIUM_EXPORT(hostcall_count) uint32_t hostcall_count(void) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < sizeof kEveryHostcall / sizeof kEveryHostcall[0]; ++i) {
    const void* volatile entry = kEveryHostcall[i]; /* volatile: the compiler must not fold it */
    n += entry != 0;
  }
  return n;
}

SELIUM_EXPORT(start) void start(void) {}
