// Hostcall dispatch without an engine: handlers are plain C++ functions whose parameter types
// say how the wasm arguments are decoded; their wasm signatures are derived from those types at
// compile time and checked against the ABI tables (include/selium/abi/hostcalls.h for import
// module "selium", include/selium/abi/wasi.h for "wasi_snapshot_preview1"). The engine only
// converts its values to and from WasmValue.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "kernel/error_code.h"
#include "kernel/process.h"

namespace selium::kernel {

enum class WasmType : uint8_t { I32, I64, F32, F64 };

union WasmValue {
  int32_t i32;
  int64_t i64;
  float f32;
  double f64;
};

struct HostcallSpec;

// What a handler sees of the call: the process and its linear memory as it is now.
struct CallContext {
  Process& process;
  std::span<uint8_t> memory;               // empty when the module has no (exported) memory
  const HostcallSpec* hostcall = nullptr;  // the entry being called; set by dispatchHostcall
  // When set, `memory` is fetched through it on first use: most hostcalls never touch guest
  // memory, and looking it up costs a good share of a hostcall.
  std::span<uint8_t> (*fetch_memory)(void* state) = nullptr;
  void* fetch_state = nullptr;

  std::span<uint8_t> guestMemory() {
    if (fetch_memory != nullptr) {
      memory = fetch_memory(fetch_state);
      fetch_memory = nullptr;
    }
    return memory;
  }
};

// Handler parameter types for guest memory: decoded from (address, length) after a bounds check,
// so a handler never sees a guest offset.
struct GuestIn {
  std::span<const uint8_t> bytes;
  std::string_view text() const {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }
};
struct GuestOut {
  std::span<uint8_t> bytes;
};

// Records `message` as the process's last error and returns -code.
int32_t fail(CallContext& ctx, ErrorCode code, std::string message);

namespace detail {

template <typename T>
struct WasmParam;
template <>
struct WasmParam<int32_t> {
  static constexpr std::array<WasmType, 1> types{WasmType::I32};
};
template <>
struct WasmParam<uint32_t> : WasmParam<int32_t> {};
template <>
struct WasmParam<int64_t> {
  static constexpr std::array<WasmType, 1> types{WasmType::I64};
};
template <>
struct WasmParam<uint64_t> : WasmParam<int64_t> {};
template <>
struct WasmParam<float> {
  static constexpr std::array<WasmType, 1> types{WasmType::F32};
};
template <>
struct WasmParam<double> {
  static constexpr std::array<WasmType, 1> types{WasmType::F64};
};
template <>
struct WasmParam<GuestIn> {
  static constexpr std::array<WasmType, 2> types{WasmType::I32, WasmType::I32};
};
template <>
struct WasmParam<GuestOut> : WasmParam<GuestIn> {};

template <typename... P>
constexpr auto flatten() {
  constexpr std::size_t n = (std::size_t{0} + ... + WasmParam<P>::types.size());
  std::array<WasmType, n> out{};
  [[maybe_unused]] std::size_t i = 0;
  ((std::copy(WasmParam<P>::types.begin(), WasmParam<P>::types.end(), out.begin() + i),
    i += WasmParam<P>::types.size()),
   ...);
  return out;
}

// nullopt: the hostcall returns nothing (WASI proc_exit).
template <typename R>
constexpr std::optional<WasmType> resultType() {
  static_assert(std::is_same_v<R, int32_t> || std::is_same_v<R, int64_t> || std::is_void_v<R>,
                "hostcalls return int32_t, int64_t or nothing");
  if constexpr (std::is_void_v<R>) {
    return std::nullopt;
  } else {
    return std::is_same_v<R, int32_t> ? WasmType::I32 : WasmType::I64;
  }
}

// The wasm signature of a C declaration from the ABI table, e.g. int32_t(uint32_t, uint32_t).
template <typename F>
struct CSignature;
template <typename R, typename... P>
struct CSignature<R(P...)> {
  static constexpr auto params = flatten<P...>();
  static constexpr std::optional<WasmType> result = resultType<R>();
};

// The wasm signature of a handler: R(CallContext&, P...).
template <typename F>
struct HandlerSignature;
template <typename R, typename... P>
struct HandlerSignature<R (*)(CallContext&, P...)> {
  static constexpr auto params = flatten<P...>();
  static constexpr std::optional<WasmType> result = resultType<R>();
  using Return = R;
  using Args = std::tuple<P...>;
};

// Decodes one handler argument starting at args[i]; nullopt (with last error set) when a guest
// span is out of bounds.
template <typename T>
std::optional<T> decode(CallContext& ctx, const WasmValue* args);

template <>
inline std::optional<int32_t> decode<int32_t>(CallContext&, const WasmValue* args) {
  return args[0].i32;
}
template <>
inline std::optional<uint32_t> decode<uint32_t>(CallContext&, const WasmValue* args) {
  return static_cast<uint32_t>(args[0].i32);
}
template <>
inline std::optional<int64_t> decode<int64_t>(CallContext&, const WasmValue* args) {
  return args[0].i64;
}
template <>
inline std::optional<uint64_t> decode<uint64_t>(CallContext&, const WasmValue* args) {
  return static_cast<uint64_t>(args[0].i64);
}
template <>
inline std::optional<float> decode<float>(CallContext&, const WasmValue* args) {
  return args[0].f32;
}
template <>
inline std::optional<double> decode<double>(CallContext&, const WasmValue* args) {
  return args[0].f64;
}

// Bounds check shared by GuestIn and GuestOut: address + length must lie inside memory, computed
// in 64 bits so a range that wraps around 4 GiB is caught.
std::optional<std::span<uint8_t>> guestSpan(CallContext& ctx, uint32_t address, uint32_t length);

template <>
inline std::optional<GuestIn> decode<GuestIn>(CallContext& ctx, const WasmValue* args) {
  auto span =
      guestSpan(ctx, static_cast<uint32_t>(args[0].i32), static_cast<uint32_t>(args[1].i32));
  if (!span) return std::nullopt;
  return GuestIn{*span};
}
template <>
inline std::optional<GuestOut> decode<GuestOut>(CallContext& ctx, const WasmValue* args) {
  auto span =
      guestSpan(ctx, static_cast<uint32_t>(args[0].i32), static_cast<uint32_t>(args[1].i32));
  if (!span) return std::nullopt;
  return GuestOut{*span};
}

template <auto Handler, std::size_t... I>
int64_t invokeWith(CallContext& ctx, [[maybe_unused]] const WasmValue* args,
                   std::index_sequence<I...>) {
  using Sig = HandlerSignature<decltype(Handler)>;
  using Args = typename Sig::Args;
  // Offsets of each parameter in the flattened wasm argument list.
  [[maybe_unused]] constexpr std::array<std::size_t, sizeof...(I) + 1> offsets = [] {
    std::array<std::size_t, sizeof...(I) + 1> o{};
    std::size_t sizes[] = {WasmParam<std::tuple_element_t<I, Args>>::types.size()..., 0};
    for (std::size_t k = 0; k < sizeof...(I); ++k) o[k + 1] = o[k] + sizes[k];
    return o;
  }();
  std::tuple<std::optional<std::tuple_element_t<I, Args>>...> decoded{
      decode<std::tuple_element_t<I, Args>>(ctx, args + offsets[I])...};
  bool ok = (std::get<I>(decoded).has_value() && ... && true);
  if (!ok) return errorResult(ErrorCode::OutOfBounds);
  if constexpr (std::is_void_v<typename Sig::Return>) {
    Handler(ctx, *std::get<I>(decoded)...);
    return 0;
  } else {
    return Handler(ctx, *std::get<I>(decoded)...);
  }
}

}  // namespace detail

// One entry of the host's hostcall tables.
struct HostcallSpec {
  std::size_t index;        // position in hostcallTable(), over every module (stable for a build)
  std::string_view module;  // import module: "selium" or "wasi_snapshot_preview1"
  std::string_view name;    // import name
  uint32_t capability;      // SELIUM_CAP_* or SELIUM_CAP_NONE
  std::span<const WasmType> params;
  std::optional<WasmType> result;  // nullopt: returns nothing
  // What a call without the capability returns: -PermissionDenied for "selium", the WASI errno
  // ENOTCAPABLE for WASI (its callers expect errnos).
  int32_t denied;
  int64_t (*invoke)(CallContext&, const WasmValue* args);  // decodes args and calls the handler
};

template <auto Handler>
int64_t invokeHandler(CallContext& ctx, const WasmValue* args) {
  using Sig = detail::HandlerSignature<decltype(Handler)>;
  return detail::invokeWith<Handler>(
      ctx, args, std::make_index_sequence<std::tuple_size_v<typename Sig::Args>>{});
}

// Every hostcall of every import module: "selium" in its table's order, then WASI in its.
std::span<const HostcallSpec> hostcallTable();

// The hostcalls of one import module, in its table's order; empty for a module the host does
// not provide.
std::span<const HostcallSpec> hostcallTable(std::string_view module);

// The entry `module`.`name`, or nullptr.
const HostcallSpec* findHostcall(std::string_view module, std::string_view name);

// For hostcalls whose capability depends on their arguments (plain or TLS networking): true if
// the process holds `capability`; else false, with the denial logged once per process and
// hostcall and the last error set, as for a hostcall the table gates (return -PermissionDenied).
bool requireCapability(CallContext& ctx, Capability capability);

// Runs a hostcall for a process: checks the capability (spec.denied, logged once per process and
// hostcall), then decodes and calls the handler. `args` has spec.params.size() values.
int64_t dispatchHostcall(const HostcallSpec& spec, CallContext& ctx, const WasmValue* args);

}  // namespace selium::kernel
