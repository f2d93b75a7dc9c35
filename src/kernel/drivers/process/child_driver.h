// Child processes (capability ProcessLifecycle): start, stop, wait, exit message, pid, log stream;
// the directory of running processes (process_list, process_attach) and lifetimes. Over
// kernel/launcher.h and kernel/process_directory.h; the host's Launcher does the starting.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "kernel/hostcall.h"
#include "kernel/process_directory.h"
#include "kernel/start_request.h"

namespace selium::kernel {

// Shared with the session driver. `call` names the hostcall in messages.
// Starts a child as process_start does; `authorise` (if set) may refuse the decoded request
// (it returns the error result, or 0), and `started` (if set) receives the child's state.
int32_t startChild(CallContext& ctx, GuestIn request, const char* call,
                   const std::function<int32_t(const StartRequest&)>& authorise,
                   std::shared_ptr<ChildState>* started);
// A shareable object of kind Lifetime for process `pid` whose life is `life` (the host shares one
// when it publishes a process's log_uri, so the entry goes when the process does).
std::shared_ptr<Shareable> makeLifetime(ProcessId pid, std::shared_ptr<ChildState> life);
// A process handle on the running process `pid`; who may was checked by the caller.
int32_t attachProcess(CallContext& ctx, int64_t pid, const char* call);
// Writes the ProcessList of the running processes `visible` accepts (it runs under the
// directory's lock) into buf if it fits; returns its full length.
int32_t writeProcessList(CallContext& ctx, GuestOut buf, const char* call,
                         const std::function<bool(const ProcessDirectory::Entry&)>& visible);

}  // namespace selium::kernel

namespace selium::kernel::hostcalls {

int32_t process_start(CallContext& ctx, GuestIn request);
int32_t process_stop(CallContext& ctx, int32_t process);
int64_t process_wait(CallContext& ctx, int32_t process, int32_t waker);
int32_t process_exit_message(CallContext& ctx, int32_t process, GuestOut buf);
int64_t process_pid(CallContext& ctx, int32_t process);
int32_t process_log_open(CallContext& ctx, int32_t process);
int32_t process_lifetime(CallContext& ctx);
int64_t lifetime_wait(CallContext& ctx, int32_t lifetime, int32_t waker);
int64_t lifetime_pid(CallContext& ctx, int32_t lifetime);
int32_t process_list(CallContext& ctx, GuestOut buf);
int32_t process_attach(CallContext& ctx, int64_t pid);

}  // namespace selium::kernel::hostcalls
