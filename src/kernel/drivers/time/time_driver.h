// Time driver (capability TimeRead): clocks and timers. Timers run on the process's worker loop
// and wake the guest through its waker.
#pragma once

#include "kernel/hostcall.h"

namespace selium::kernel::hostcalls {

int64_t time_now(CallContext& ctx, int32_t clock);
int32_t timer_create(CallContext& ctx, int64_t duration_ns);
int32_t timer_poll(CallContext& ctx, int32_t timer, int32_t waker);

}  // namespace selium::kernel::hostcalls
