// Child processes (capability ProcessLifecycle): start, stop, wait, exit message, pid, log stream.
// Over kernel/launcher.h; the host's Launcher does the starting.
#pragma once

#include "kernel/hostcall.h"

namespace selium::kernel::hostcalls {

int32_t process_start(CallContext& ctx, GuestIn request);
int32_t process_stop(CallContext& ctx, int32_t process);
int64_t process_wait(CallContext& ctx, int32_t process, int32_t waker);
int32_t process_exit_message(CallContext& ctx, int32_t process, GuestOut buf);
int64_t process_pid(CallContext& ctx, int32_t process);
int32_t process_log_open(CallContext& ctx, int32_t process);

}  // namespace selium::kernel::hostcalls
