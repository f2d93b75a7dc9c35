// The host's hostcall tables, expanded from include/selium/abi/hostcalls.h (module "selium",
// handlers in namespace `hostcalls`) and include/selium/abi/wasi.h (module
// "wasi_snapshot_preview1", handlers in namespace `wasi`). Each entry names a handler with the
// same name; a missing handler or a handler whose derived wasm signature differs from the ABI
// declaration is a compile error.
#include "kernel/hostcall.h"

#include <selium/abi/hostcalls.h>
#include <selium/abi/wasi.h>

#include <array>

#include "kernel/drivers/channel/channel_driver.h"
#include "kernel/drivers/log/log_driver.h"
#include "kernel/drivers/net/http_client_driver.h"
#include "kernel/drivers/net/http_driver.h"
#include "kernel/drivers/net/quic_driver.h"
#include "kernel/drivers/net/tls_driver.h"
#include "kernel/drivers/process/child_driver.h"
#include "kernel/drivers/process/process_driver.h"
#include "kernel/drivers/process/session_driver.h"
#include "kernel/drivers/share/share_driver.h"
#include "kernel/drivers/time/time_driver.h"
#include "kernel/drivers/wasi/wasi_driver.h"

namespace selium::kernel {
namespace {

#define SELIUM_CHECK_SIGNATURE_(ns, name, ret, decl)                                 \
  static_assert(detail::CSignature<ret decl>::params ==                              \
                    detail::HandlerSignature<decltype(&ns::name)>::params,           \
                "hostcall " #name ": handler parameters differ from the ABI table"); \
  static_assert(detail::CSignature<ret decl>::result ==                              \
                    detail::HandlerSignature<decltype(&ns::name)>::result,           \
                "hostcall " #name ": handler result differs from the ABI table");
#define SELIUM_CHECK_SELIUM_(name, cap, ret, decl) \
  SELIUM_CHECK_SIGNATURE_(hostcalls, name, ret, decl)
#define SELIUM_CHECK_WASI_(name, cap, ret, decl) SELIUM_CHECK_SIGNATURE_(wasi, name, ret, decl)
SELIUM_HOSTCALLS(SELIUM_CHECK_SELIUM_)
SELIUM_WASI_CALLS(SELIUM_CHECK_WASI_)
#undef SELIUM_CHECK_WASI_
#undef SELIUM_CHECK_SELIUM_
#undef SELIUM_CHECK_SIGNATURE_

// One index space over both tables (selium first, then WASI), so per-process bitsets (denials,
// unsupported-call notices) cover every hostcall.
enum : std::size_t {
#define SELIUM_INDEX_(name, cap, ret, decl) k_selium_##name,
  SELIUM_HOSTCALLS(SELIUM_INDEX_) kSeliumEnd
#undef SELIUM_INDEX_
};
enum : std::size_t {
#define SELIUM_INDEX_(name, cap, ret, decl) k_wasi_##name,
  SELIUM_WASI_CALLS(SELIUM_INDEX_) kWasiEnd
#undef SELIUM_INDEX_
};
constexpr std::size_t kSeliumCount = kSeliumEnd;
constexpr std::size_t kHostcallCount = kSeliumCount + std::size_t{kWasiEnd};

constexpr int32_t kSeliumDenied = errorResult(ErrorCode::PermissionDenied);
constexpr int32_t kWasiDenied = SELIUM_WASI_ERRNO_NOTCAPABLE;

const std::array<HostcallSpec, kHostcallCount> kTable = {{
#define SELIUM_ENTRY_(index, module, ns, name, cap, ret, decl, denied) \
  {index,                                                              \
   module,                                                             \
   #name,                                                              \
   cap,                                                                \
   detail::CSignature<ret decl>::params,                               \
   detail::CSignature<ret decl>::result,                               \
   denied,                                                             \
   &invokeHandler<&ns::name>},
#define SELIUM_ENTRY_SELIUM_(name, cap, ret, decl)                                      \
  SELIUM_ENTRY_(k_selium_##name, SELIUM_IMPORT_MODULE, hostcalls, name, cap, ret, decl, \
                kSeliumDenied)
#define SELIUM_ENTRY_WASI_(name, cap, ret, decl)                                                  \
  SELIUM_ENTRY_(kSeliumCount + std::size_t{k_wasi_##name}, SELIUM_WASI_IMPORT_MODULE, wasi, name, \
                cap, ret, decl, kWasiDenied)
    SELIUM_HOSTCALLS(SELIUM_ENTRY_SELIUM_) SELIUM_WASI_CALLS(SELIUM_ENTRY_WASI_)
#undef SELIUM_ENTRY_WASI_
#undef SELIUM_ENTRY_SELIUM_
#undef SELIUM_ENTRY_
}};

static_assert(kHostcallCount <= Process::kMaxHostcalls,
              "Process keeps one bit per hostcall for its log-once notices");

}  // namespace

int32_t fail(CallContext& ctx, ErrorCode code, std::string message) {
  ctx.process.setLastError(std::move(message));
  return errorResult(code);
}

namespace detail {

std::optional<std::span<uint8_t>> guestSpan(CallContext& ctx, uint32_t address, uint32_t length) {
  uint64_t end = uint64_t{address} + length;
  std::span<uint8_t> memory = ctx.guestMemory();
  if (end > memory.size()) {
    fail(ctx, ErrorCode::OutOfBounds,
         "guest range [" + std::to_string(address) + ", " + std::to_string(end) +
             ") is outside the process's memory of " + std::to_string(memory.size()) + " bytes");
    return std::nullopt;
  }
  return memory.subspan(address, length);
}

}  // namespace detail

std::span<const HostcallSpec> hostcallTable() { return kTable; }

std::span<const HostcallSpec> hostcallTable(std::string_view module) {
  std::span<const HostcallSpec> all = kTable;
  if (module == SELIUM_IMPORT_MODULE) return all.subspan(0, kSeliumCount);
  if (module == SELIUM_WASI_IMPORT_MODULE) return all.subspan(kSeliumCount);
  return {};
}

const HostcallSpec* findHostcall(std::string_view module, std::string_view name) {
  for (const HostcallSpec& spec : hostcallTable(module)) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

bool requireCapability(CallContext& ctx, Capability capability) {
  if (ctx.process.capabilities().contains(capability)) return true;
  const HostcallSpec& spec = *ctx.hostcall;
  std::string_view needed = capabilityName(capability);
  if (ctx.process.firstDenial(spec.index)) {
    // The one line an operator sees about a missing grant, so it says how to grant it.
    std::string message = "hostcall denied: " + std::string(spec.name) + " needs capability " +
                          std::string(needed) + "; grant it in the module's spec with " +
                          "capabilities=" + std::string(needed) +
                          " (comma-separated with any others)";
    log::warn(message, {{"pid", ctx.process.id()},
                        {"module", ctx.process.module()},
                        {"hostcall", spec.name},
                        {"import_module", spec.module},
                        {"capability", needed}});
  }
  ctx.process.setLastError(std::string(spec.name) + " needs capability " + std::string(needed) +
                           ", which this process was not granted");
  return false;
}

int64_t dispatchHostcall(const HostcallSpec& spec, CallContext& ctx, const WasmValue* args) {
  ctx.hostcall = &spec;
  if (spec.capability != SELIUM_CAP_NONE &&
      !requireCapability(ctx, static_cast<Capability>(spec.capability))) {
    return spec.denied;
  }
  return spec.invoke(ctx, args);
}

}  // namespace selium::kernel
