// Process-self hostcalls (no capability): identity, exit, yield, handles, last error.
#pragma once

#include "kernel/hostcall.h"

namespace selium::kernel::hostcalls {

int32_t last_error(CallContext& ctx, GuestOut buffer);
int64_t process_id(CallContext& ctx);
int32_t process_exit(CallContext& ctx, int32_t status);
int32_t yield_now(CallContext& ctx, int32_t waker);
int32_t handle_close(CallContext& ctx, int32_t handle);

}  // namespace selium::kernel::hostcalls
