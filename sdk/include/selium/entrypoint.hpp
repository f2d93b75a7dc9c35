// Entrypoints: SELIUM_ENTRYPOINT(name, (kind, param)...) defines a coroutine body returning
// selium::Task<int32_t> and exports, under `name`, a wasm function taking the flattened ABI
// arguments the runtime passes for a module spec's `params`.
//
//   SELIUM_ENTRYPOINT(start, (utf8, host), (u16, port)) {
//     selium::log::info("starting", {{"host", host}, {"port", port}});
//     co_return 0;  // 0: the process ends with status 0; non-zero: process_exit(status)
//   }
//
// Kinds and the C++ parameter types they give (wasm parameters in brackets):
//   i8 int8_t, u8 uint8_t, i16 int16_t, u16 uint16_t, i32 int32_t, u32 uint32_t  [i32]
//   i64 int64_t, u64 uint64_t                                                  [i64]
//   f32 float [f32], f64 double [f64]
//   utf8 std::string_view                                                      [i32 ptr, i32 len]
//   buffer, hex selium::Bytes (std::span<const std::byte>)                     [i32 ptr, i32 len]
//   resource selium::ResourceId (a handle of this process)                     [i64]
// Up to 16 parameters; `SELIUM_ENTRYPOINT(start) { ... }` takes none. Strings and buffers point
// into memory the host obtained from selium_alloc and stay valid for the life of the process.
//
// Each entrypoint also records its name and parameter kinds in the module's `selium.entrypoints`
// custom section (format: selium/abi/entrypoints.h), so the runtime can refuse a spec whose
// params have the right wasm types in the wrong kinds, such as (u32, utf8) for (utf8, u32).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "selium/abi/entrypoints.h"
#include "selium/selium.h"
#include "selium/task.hpp"

namespace selium {

// Bytes passed to an entrypoint as `buffer` or `hex`.
using Bytes = std::span<const std::byte>;

// The value an entrypoint parameter of kind `resource` receives: a handle of THIS process (its own
// handle number for the resource its starter named, never the starter's number). Wrap it to use
// it: selium::Reader r(selium::Handle(static_cast<selium_handle_t>(id.value)));
struct ResourceId {
  uint64_t value = 0;
  friend constexpr bool operator==(ResourceId, ResourceId) = default;
};

namespace detail {
inline std::string_view utf8Arg(uint32_t ptr, uint32_t len) noexcept {
  return len == 0
             ? std::string_view()
             : std::string_view(reinterpret_cast<const char*>(static_cast<uintptr_t>(ptr)), len);
}
inline Bytes bytesArg(uint32_t ptr, uint32_t len) noexcept {
  return len == 0 ? Bytes()
                  : Bytes(reinterpret_cast<const std::byte*>(static_cast<uintptr_t>(ptr)), len);
}
}  // namespace detail

}  // namespace selium

// Per kind: the C++ parameter type, the wrapper's wasm parameters, and the conversion from them.
// Small integers arrive as i32 and are truncated explicitly (the callee never trusts extension).
#define SELIUM_KIND_TYPE_i8 int8_t
#define SELIUM_KIND_TYPE_u8 uint8_t
#define SELIUM_KIND_TYPE_i16 int16_t
#define SELIUM_KIND_TYPE_u16 uint16_t
#define SELIUM_KIND_TYPE_i32 int32_t
#define SELIUM_KIND_TYPE_u32 uint32_t
#define SELIUM_KIND_TYPE_i64 int64_t
#define SELIUM_KIND_TYPE_u64 uint64_t
#define SELIUM_KIND_TYPE_f32 float
#define SELIUM_KIND_TYPE_f64 double
#define SELIUM_KIND_TYPE_utf8 ::std::string_view
#define SELIUM_KIND_TYPE_buffer ::selium::Bytes
#define SELIUM_KIND_TYPE_hex ::selium::Bytes
#define SELIUM_KIND_TYPE_resource ::selium::ResourceId

#define SELIUM_KIND_WASM_i8(n) int32_t selium_arg_##n
#define SELIUM_KIND_WASM_u8(n) uint32_t selium_arg_##n
#define SELIUM_KIND_WASM_i16(n) int32_t selium_arg_##n
#define SELIUM_KIND_WASM_u16(n) uint32_t selium_arg_##n
#define SELIUM_KIND_WASM_i32(n) int32_t selium_arg_##n
#define SELIUM_KIND_WASM_u32(n) uint32_t selium_arg_##n
#define SELIUM_KIND_WASM_i64(n) int64_t selium_arg_##n
#define SELIUM_KIND_WASM_u64(n) uint64_t selium_arg_##n
#define SELIUM_KIND_WASM_f32(n) float selium_arg_##n
#define SELIUM_KIND_WASM_f64(n) double selium_arg_##n
#define SELIUM_KIND_WASM_utf8(n) uint32_t selium_arg_##n##_ptr, uint32_t selium_arg_##n##_len
#define SELIUM_KIND_WASM_buffer(n) uint32_t selium_arg_##n##_ptr, uint32_t selium_arg_##n##_len
#define SELIUM_KIND_WASM_hex(n) uint32_t selium_arg_##n##_ptr, uint32_t selium_arg_##n##_len
#define SELIUM_KIND_WASM_resource(n) uint64_t selium_arg_##n

#define SELIUM_KIND_ARG_i8(n) static_cast<int8_t>(selium_arg_##n)
#define SELIUM_KIND_ARG_u8(n) static_cast<uint8_t>(selium_arg_##n)
#define SELIUM_KIND_ARG_i16(n) static_cast<int16_t>(selium_arg_##n)
#define SELIUM_KIND_ARG_u16(n) static_cast<uint16_t>(selium_arg_##n)
#define SELIUM_KIND_ARG_i32(n) selium_arg_##n
#define SELIUM_KIND_ARG_u32(n) selium_arg_##n
#define SELIUM_KIND_ARG_i64(n) selium_arg_##n
#define SELIUM_KIND_ARG_u64(n) selium_arg_##n
#define SELIUM_KIND_ARG_f32(n) selium_arg_##n
#define SELIUM_KIND_ARG_f64(n) selium_arg_##n
#define SELIUM_KIND_ARG_utf8(n) \
  ::selium::detail::utf8Arg(selium_arg_##n##_ptr, selium_arg_##n##_len)
#define SELIUM_KIND_ARG_buffer(n) \
  ::selium::detail::bytesArg(selium_arg_##n##_ptr, selium_arg_##n##_len)
#define SELIUM_KIND_ARG_hex(n) \
  ::selium::detail::bytesArg(selium_arg_##n##_ptr, selium_arg_##n##_len)
#define SELIUM_KIND_ARG_resource(n) (::selium::ResourceId{selium_arg_##n})

// Per kind: its SELIUM_PARAM_KIND_* number as a literal, which the assembler can read.
#define SELIUM_KIND_ID_i8 0
#define SELIUM_KIND_ID_u8 1
#define SELIUM_KIND_ID_i16 2
#define SELIUM_KIND_ID_u16 3
#define SELIUM_KIND_ID_i32 4
#define SELIUM_KIND_ID_u32 5
#define SELIUM_KIND_ID_i64 6
#define SELIUM_KIND_ID_u64 7
#define SELIUM_KIND_ID_f32 8
#define SELIUM_KIND_ID_f64 9
#define SELIUM_KIND_ID_utf8 10
#define SELIUM_KIND_ID_buffer 11
#define SELIUM_KIND_ID_hex 12
#define SELIUM_KIND_ID_resource 13
#define SELIUM_KIND_ID_CHECK_(kind, id) static_assert(SELIUM_KIND_ID_##kind == id);
SELIUM_PARAM_KINDS(SELIUM_KIND_ID_CHECK_)
#undef SELIUM_KIND_ID_CHECK_

// (kind, name) -> one of the three forms above. An unknown kind fails to compile with an
// undeclared SELIUM_KIND_* identifier.
#define SELIUM_PARAM_(kind, name) [[maybe_unused]] SELIUM_KIND_TYPE_##kind name
#define SELIUM_WASM_(kind, name) SELIUM_KIND_WASM_##kind(name)
#define SELIUM_ARG_(kind, name) SELIUM_KIND_ARG_##kind(name)
#define SELIUM_APPLY_(m, pair) m pair

// The `selium.entrypoints` record (selium/abi/entrypoints.h) as assembler text. It is emitted by
// module-level asm because wasm-ld 14 keeps a `.custom_section.` *variable* as ordinary data;
// a `.custom_section.` section made by the assembler becomes a custom section, and the linker
// concatenates those of all object files. Lengths are label differences, so the assembler
// counts the bytes.
#define SELIUM_STR_(x) SELIUM_STR_IMPL_(x)
#define SELIUM_STR_IMPL_(x) #x
#define SELIUM_RECORD_NAME_(text) ".byte 2f-1f\n1:\n.ascii \"" text "\"\n2:\n"
#define SELIUM_RECORD_PARAM_(kind, name) \
  ".byte " SELIUM_STR_(SELIUM_KIND_ID_##kind) "\n" SELIUM_RECORD_NAME_(#name)
#define SELIUM_RECORD_(name, ...) \
  ".section .custom_section." SELIUM_ENTRYPOINTS_SECTION ",\"\",@\n"                      \
  ".byte " SELIUM_STR_(SELIUM_ENTRYPOINTS_RECORD_VERSION) "\n" SELIUM_RECORD_NAME_(#name) \
  ".byte " SELIUM_STR_(0 __VA_OPT__(+SELIUM_NARGS_(__VA_ARGS__))) "\n"                    \
  __VA_OPT__(SELIUM_JOIN_EACH_(SELIUM_RECORD_PARAM_, __VA_ARGS__)) ".text\n"

// SELIUM_FOR_EACH_(m, pairs...) -> m pair1, m pair2, ... (comma-separated, up to 16).
#define SELIUM_NARGS_(...) \
  SELIUM_NARGS_IMPL_(__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define SELIUM_NARGS_IMPL_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, \
                           n, ...)                                                                \
  n
#define SELIUM_CAT_(a, b) SELIUM_CAT_IMPL_(a, b)
#define SELIUM_CAT_IMPL_(a, b) a##b
#define SELIUM_FOR_EACH_(m, ...) \
  SELIUM_CAT_(SELIUM_FOR_EACH_, SELIUM_NARGS_(__VA_ARGS__))(m, __VA_ARGS__)
#define SELIUM_FOR_EACH_1(m, a) SELIUM_APPLY_(m, a)
#define SELIUM_FOR_EACH_2(m, a, ...) SELIUM_APPLY_(m, a), SELIUM_FOR_EACH_1(m, __VA_ARGS__)
#define SELIUM_FOR_EACH_3(m, a, ...) SELIUM_APPLY_(m, a), SELIUM_FOR_EACH_2(m, __VA_ARGS__)
#define SELIUM_FOR_EACH_4(m, a, ...) SELIUM_APPLY_(m, a), SELIUM_FOR_EACH_3(m, __VA_ARGS__)
#define SELIUM_FOR_EACH_5(m, a, ...) SELIUM_APPLY_(m, a), SELIUM_FOR_EACH_4(m, __VA_ARGS__)
#define SELIUM_FOR_EACH_6(m, a, ...) SELIUM_APPLY_(m, a), SELIUM_FOR_EACH_5(m, __VA_ARGS__)
#define SELIUM_FOR_EACH_7(m, a, ...) SELIUM_APPLY_(m, a), SELIUM_FOR_EACH_6(m, __VA_ARGS__)
#define SELIUM_FOR_EACH_8(m, a, ...) SELIUM_APPLY_(m, a), SELIUM_FOR_EACH_7(m, __VA_ARGS__)
#define SELIUM_FOR_EACH_9(m, a, ...) SELIUM_APPLY_(m, a), SELIUM_FOR_EACH_8(m, __VA_ARGS__)
#define SELIUM_FOR_EACH_10(m, a, ...) SELIUM_APPLY_(m, a), SELIUM_FOR_EACH_9(m, __VA_ARGS__)
#define SELIUM_FOR_EACH_11(m, a, ...) SELIUM_APPLY_(m, a), SELIUM_FOR_EACH_10(m, __VA_ARGS__)
#define SELIUM_FOR_EACH_12(m, a, ...) SELIUM_APPLY_(m, a), SELIUM_FOR_EACH_11(m, __VA_ARGS__)
#define SELIUM_FOR_EACH_13(m, a, ...) SELIUM_APPLY_(m, a), SELIUM_FOR_EACH_12(m, __VA_ARGS__)
#define SELIUM_FOR_EACH_14(m, a, ...) SELIUM_APPLY_(m, a), SELIUM_FOR_EACH_13(m, __VA_ARGS__)
#define SELIUM_FOR_EACH_15(m, a, ...) SELIUM_APPLY_(m, a), SELIUM_FOR_EACH_14(m, __VA_ARGS__)
#define SELIUM_FOR_EACH_16(m, a, ...) SELIUM_APPLY_(m, a), SELIUM_FOR_EACH_15(m, __VA_ARGS__)

// SELIUM_JOIN_EACH_(m, pairs...) -> m pair1 m pair2 ... (juxtaposed: string literals concatenate).
#define SELIUM_JOIN_EACH_(m, ...) \
  SELIUM_CAT_(SELIUM_JOIN_EACH_, SELIUM_NARGS_(__VA_ARGS__))(m, __VA_ARGS__)
#define SELIUM_JOIN_EACH_1(m, a) SELIUM_APPLY_(m, a)
#define SELIUM_JOIN_EACH_2(m, a, ...) SELIUM_APPLY_(m, a) SELIUM_JOIN_EACH_1(m, __VA_ARGS__)
#define SELIUM_JOIN_EACH_3(m, a, ...) SELIUM_APPLY_(m, a) SELIUM_JOIN_EACH_2(m, __VA_ARGS__)
#define SELIUM_JOIN_EACH_4(m, a, ...) SELIUM_APPLY_(m, a) SELIUM_JOIN_EACH_3(m, __VA_ARGS__)
#define SELIUM_JOIN_EACH_5(m, a, ...) SELIUM_APPLY_(m, a) SELIUM_JOIN_EACH_4(m, __VA_ARGS__)
#define SELIUM_JOIN_EACH_6(m, a, ...) SELIUM_APPLY_(m, a) SELIUM_JOIN_EACH_5(m, __VA_ARGS__)
#define SELIUM_JOIN_EACH_7(m, a, ...) SELIUM_APPLY_(m, a) SELIUM_JOIN_EACH_6(m, __VA_ARGS__)
#define SELIUM_JOIN_EACH_8(m, a, ...) SELIUM_APPLY_(m, a) SELIUM_JOIN_EACH_7(m, __VA_ARGS__)
#define SELIUM_JOIN_EACH_9(m, a, ...) SELIUM_APPLY_(m, a) SELIUM_JOIN_EACH_8(m, __VA_ARGS__)
#define SELIUM_JOIN_EACH_10(m, a, ...) SELIUM_APPLY_(m, a) SELIUM_JOIN_EACH_9(m, __VA_ARGS__)
#define SELIUM_JOIN_EACH_11(m, a, ...) SELIUM_APPLY_(m, a) SELIUM_JOIN_EACH_10(m, __VA_ARGS__)
#define SELIUM_JOIN_EACH_12(m, a, ...) SELIUM_APPLY_(m, a) SELIUM_JOIN_EACH_11(m, __VA_ARGS__)
#define SELIUM_JOIN_EACH_13(m, a, ...) SELIUM_APPLY_(m, a) SELIUM_JOIN_EACH_12(m, __VA_ARGS__)
#define SELIUM_JOIN_EACH_14(m, a, ...) SELIUM_APPLY_(m, a) SELIUM_JOIN_EACH_13(m, __VA_ARGS__)
#define SELIUM_JOIN_EACH_15(m, a, ...) SELIUM_APPLY_(m, a) SELIUM_JOIN_EACH_14(m, __VA_ARGS__)
#define SELIUM_JOIN_EACH_16(m, a, ...) SELIUM_APPLY_(m, a) SELIUM_JOIN_EACH_15(m, __VA_ARGS__)

// Defines entrypoint `name` (exported under that name) and opens its body; see the top of this
// file. Use at namespace scope, once per name; a module may have several.
#define SELIUM_ENTRYPOINT(name, ...)                                                       \
  static_assert(sizeof(#name) - 1 <= 255, "an entrypoint's name is at most 255 bytes");    \
  asm(SELIUM_RECORD_(name __VA_OPT__(, __VA_ARGS__)));                                     \
  static ::selium::Task<int32_t> selium_entry_body_##name(                                 \
      __VA_OPT__(SELIUM_FOR_EACH_(SELIUM_PARAM_, __VA_ARGS__)));                           \
  extern "C" __attribute__((export_name(#name))) void selium_entry_##name(                 \
      __VA_OPT__(SELIUM_FOR_EACH_(SELIUM_WASM_, __VA_ARGS__))) {                           \
    ::selium_init();                                                                       \
    ::selium::detail::runEntry(                                                            \
        selium_entry_body_##name(__VA_OPT__(SELIUM_FOR_EACH_(SELIUM_ARG_, __VA_ARGS__)))); \
  }                                                                                        \
  static ::selium::Task<int32_t> selium_entry_body_##name(                                 \
      __VA_OPT__(SELIUM_FOR_EACH_(SELIUM_PARAM_, __VA_ARGS__)))
