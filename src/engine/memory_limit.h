// Per-process limits on what a module declares, enforced by the module itself: before
// compilation, each memory's and each table's declared maximum is lowered to what the process
// may use, so `memory.grow` and `table.grow` past it fail the way wasm defines (they return -1)
// and the guest can handle it. V8 has no per-instance cap of its own to set.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/wasm_binary.h"
#include "util/result.h"

namespace selium::engine {

inline constexpr uint64_t kWasmPageBytes = 64 * 1024;

// Structural caps on a module, the same for every process: far above what compilers emit, far
// below what would let one module make V8 hold much memory per instance.
inline constexpr uint32_t kMaxTables = 100;
inline constexpr uint32_t kMaxGlobals = 100'000;
// What a table element costs on the V8 heap and beside it (a funcref table keeps the entry, its
// signature id and call target; measured with V8 10.2), for sizing the table budget.
inline constexpr uint64_t kTableElementBytes = 32;

struct ModuleLimits {
  uint32_t max_memory_pages = 4096;         // each memory, in 64 KiB pages
  uint32_t max_table_elements = 1'000'000;  // every table of the module together
};

// Returns `bytes` with every defined memory's maximum set to at most `max_memory_pages` and the
// tables' maxima set so that together they hold at most `max_table_elements`: each table keeps
// its declared minimum, and the room left is shared evenly by the tables that can grow. An error
// if a memory's or the tables' declared minimum is already above the limit, if the module
// declares more than kMaxTables tables or kMaxGlobals globals, or if it imports a memory (this
// runtime provides none). `info` is the parse of `bytes`.
Result<std::vector<uint8_t>> limitModule(std::span<const uint8_t> bytes, const WasmModuleInfo& info,
                                         const ModuleLimits& limits);

}  // namespace selium::engine
