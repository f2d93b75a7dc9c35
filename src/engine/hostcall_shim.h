// The hostcall shim: a small wasm module, generated from the hostcall table, that every guest's
// imports resolve to.
//
// Why: V8 10.2 calls a C++ function from wasm cheaply (a "fast API call", a few ns) only when
// the import is an API function with a C signature V8 supports - no i64 results, no way to
// reach the function's data - and then compiles a wrapper for it at every instantiation
// (hundreds of microseconds). A regular API callback costs about 30 ns plus BigInt boxing for
// i64. The shim avoids both: one instance per worker imports one fast C function,
// `call(index) -> i32`, and exports one wasm function per hostcall with the hostcall's exact
// signature. Each stores its arguments into the shim's own memory, calls `call(index)` and
// loads the result from there. Guests import those wasm functions, which V8 links as plain
// wasm-to-wasm calls (no wrapper, nothing compiled per instance).
//
// Layout of the shim's memory (one page, never grown, so its address is fixed): the result of
// the call at kResultOffset (8 bytes; an i32 result is its low half), argument i at
// kArgsOffset + 8 * i (an i32 in the low half of its slot). `call` returns 0 when the hostcall
// returned, anything else when the guest must unwind (process_exit): the shim then executes
// `unreachable`, a trap no wasm exception handler can catch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/wasm_binary.h"
#include "kernel/hostcall.h"

namespace selium::engine {

// The wasm signature of a hostcall: what a guest must import it as, and what the shim exports.
FuncType hostcallType(const kernel::HostcallSpec& spec);

}  // namespace selium::engine

namespace selium::engine::shim {

inline constexpr std::string_view kImportModule = "selium_host";
inline constexpr std::string_view kImportName = "call";
inline constexpr std::string_view kMemoryExport = "memory";
inline constexpr uint32_t kResultOffset = 8;
inline constexpr uint32_t kArgsOffset = 16;
inline constexpr std::size_t kMaxArgs = 16;  // build() refuses a hostcall with more
static_assert(kResultOffset + 8 <= kArgsOffset, "the result slot overlaps the arguments");
static_assert(kArgsOffset + 8 * kMaxArgs <= 65536, "the argument slots exceed the shim's page");

// The shim's export for `spec`: its index in the table, in decimal.
std::string exportName(const kernel::HostcallSpec& spec);

// The shim module's bytes for `table` (every entry's index must be its position).
std::vector<uint8_t> build(std::span<const kernel::HostcallSpec> table);

}  // namespace selium::engine::shim
