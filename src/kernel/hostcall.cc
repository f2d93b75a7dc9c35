// The host's hostcall table, expanded from include/selium/abi/hostcalls.h. Each entry names a
// handler in namespace `hostcalls` with the same name; a missing handler or a handler whose
// derived wasm signature differs from the ABI declaration is a compile error.
#include "kernel/hostcall.h"

#include <selium/abi/hostcalls.h>

#include <array>

#include "kernel/drivers/log/log_driver.h"
#include "kernel/drivers/process/process_driver.h"
#include "kernel/drivers/time/time_driver.h"

namespace selium::kernel {
namespace {

#define SELIUM_CHECK_SIGNATURE_(name, cap, ret, decl)                                \
  static_assert(detail::CSignature<ret decl>::params ==                              \
                    detail::HandlerSignature<decltype(&hostcalls::name)>::params,    \
                "hostcall " #name ": handler parameters differ from the ABI table"); \
  static_assert(detail::CSignature<ret decl>::result ==                              \
                    detail::HandlerSignature<decltype(&hostcalls::name)>::result,    \
                "hostcall " #name ": handler result differs from the ABI table");    \
  constexpr auto name##_params = detail::CSignature<ret decl>::params;
SELIUM_HOSTCALLS(SELIUM_CHECK_SIGNATURE_)
#undef SELIUM_CHECK_SIGNATURE_

enum : std::size_t {
#define SELIUM_HOSTCALL_INDEX_(name, cap, ret, decl) k_##name,
  SELIUM_HOSTCALLS(SELIUM_HOSTCALL_INDEX_)
#undef SELIUM_HOSTCALL_INDEX_
      kHostcallCount
};

const std::array<HostcallSpec, kHostcallCount> kTable = {{
#define SELIUM_HOSTCALL_ENTRY_(name, cap, ret, decl) \
  {k_##name,                                         \
   #name,                                            \
   cap,                                              \
   name##_params,                                    \
   detail::CSignature<ret decl>::result,             \
   &invokeHandler<&hostcalls::name>},
    SELIUM_HOSTCALLS(SELIUM_HOSTCALL_ENTRY_)
#undef SELIUM_HOSTCALL_ENTRY_
}};

static_assert(kHostcallCount <= 128, "Process::denied_ holds one bit per hostcall");

}  // namespace

int32_t fail(CallContext& ctx, ErrorCode code, std::string message) {
  ctx.process.setLastError(std::move(message));
  return errorResult(code);
}

namespace detail {

std::optional<std::span<uint8_t>> guestSpan(CallContext& ctx, uint32_t address, uint32_t length) {
  uint64_t end = uint64_t{address} + length;
  if (end > ctx.memory.size()) {
    fail(ctx, ErrorCode::OutOfBounds,
         "guest range [" + std::to_string(address) + ", " + std::to_string(end) +
             ") is outside the process's memory of " + std::to_string(ctx.memory.size()) +
             " bytes");
    return std::nullopt;
  }
  return ctx.memory.subspan(address, length);
}

}  // namespace detail

std::span<const HostcallSpec> hostcallTable() { return kTable; }

const HostcallSpec* findHostcall(std::string_view name) {
  for (const HostcallSpec& spec : kTable) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

int64_t dispatchHostcall(const HostcallSpec& spec, CallContext& ctx, const WasmValue* args) {
  if (spec.capability != SELIUM_CAP_NONE &&
      !ctx.process.capabilities().contains(static_cast<Capability>(spec.capability))) {
    std::string_view needed = capabilityName(static_cast<Capability>(spec.capability));
    if (ctx.process.firstDenial(spec.index)) {
      log::warn("hostcall denied: capability not granted", {{"pid", ctx.process.id()},
                                                            {"module", ctx.process.module()},
                                                            {"hostcall", spec.name},
                                                            {"capability", needed}});
    }
    return fail(ctx, ErrorCode::PermissionDenied,
                std::string(spec.name) + " needs capability " + std::string(needed) +
                    ", which this process was not granted");
  }
  return spec.invoke(ctx, args);
}

}  // namespace selium::kernel
