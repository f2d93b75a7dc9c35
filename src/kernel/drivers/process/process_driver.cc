// Hostcalls about the calling process itself.
#include "kernel/drivers/process/process_driver.h"

#include <algorithm>
#include <cstring>

namespace selium::kernel::hostcalls {

int32_t last_error(CallContext& ctx, GuestOut buffer) {
  const std::string& message = ctx.process.lastError();
  std::size_t n = std::min(message.size(), buffer.bytes.size());
  // An empty span may have no address (a module without memory): memcpy needs one.
  if (n > 0) std::memcpy(buffer.bytes.data(), message.data(), n);
  return static_cast<int32_t>(std::min<std::size_t>(message.size(), INT32_MAX));
}

int64_t process_id(CallContext& ctx) { return static_cast<int64_t>(ctx.process.id()); }

int32_t process_exit(CallContext& ctx, int32_t status) {
  // The engine sees the request when this returns and unwinds the guest.
  ctx.process.requestExit(status);
  return 0;
}

int32_t yield_now(CallContext& ctx, int32_t waker) {
  if (!ctx.process.wakeYield(waker)) {
    return fail(ctx, ErrorCode::LimitExceeded,
                "yield_now: " + std::to_string(ProcessHost::kMaxPendingWakes) +
                    " distinct wakers are already pending; return to the host first");
  }
  return errorResult(ErrorCode::WouldBlock);
}

int32_t handle_close(CallContext& ctx, int32_t handle) {
  if (!ctx.process.handles().remove(handle)) {
    return fail(ctx, ErrorCode::InvalidHandle,
                "handle " + std::to_string(handle) + " is not open in this process");
  }
  return 0;
}

}  // namespace selium::kernel::hostcalls
