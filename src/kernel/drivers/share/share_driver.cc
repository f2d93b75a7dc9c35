// TEMPORARY (issue 10 in progress): every entry answers Unsupported until its driver lands.
#include "kernel/drivers/share/share_driver.h"

namespace selium::kernel::hostcalls {

int32_t handle_kind(CallContext& ctx, int32_t) {
  return fail(ctx, ErrorCode::Unsupported, "handle_kind: not yet implemented");
}
int32_t handle_cancel_wait(CallContext& ctx, int32_t) {
  return fail(ctx, ErrorCode::Unsupported, "handle_cancel_wait: not yet implemented");
}
int64_t handle_share(CallContext& ctx, int32_t) {
  return fail(ctx, ErrorCode::Unsupported, "handle_share: not yet implemented");
}
int32_t handle_attach(CallContext& ctx, int64_t, int32_t) {
  return fail(ctx, ErrorCode::Unsupported, "handle_attach: not yet implemented");
}
int32_t singleton_register(CallContext& ctx, uint32_t, int32_t) {
  return fail(ctx, ErrorCode::Unsupported, "singleton_register: not yet implemented");
}
int32_t singleton_lookup(CallContext& ctx, uint32_t, int32_t) {
  return fail(ctx, ErrorCode::Unsupported, "singleton_lookup: not yet implemented");
}

}  // namespace selium::kernel::hostcalls
