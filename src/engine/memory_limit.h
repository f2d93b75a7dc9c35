// Per-process memory limits, enforced by the module itself: the memory's declared maximum is
// lowered to the limit before compilation, so `memory.grow` past it fails the way wasm defines
// (it returns -1) and the guest can handle it. V8 has no per-memory cap of its own to set.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/wasm_binary.h"
#include "util/result.h"

namespace selium::engine {

inline constexpr uint64_t kWasmPageBytes = 64 * 1024;

// Returns `bytes` with every defined memory's maximum set to at most `max_pages`. An error if a
// memory's declared minimum is already above the limit, or if the module imports a memory
// (this runtime provides none). `info` is the parse of `bytes`.
Result<std::vector<uint8_t>> limitMemory(std::span<const uint8_t> bytes, const WasmModuleInfo& info,
                                         uint32_t max_pages);

}  // namespace selium::engine
