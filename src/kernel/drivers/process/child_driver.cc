// Child processes. A process handle names a ProcessObject (shareable: another process may wait
// for or stop the same child); each handle keys its own waiter in the child's state.
#include "kernel/drivers/process/child_driver.h"

#include <selium/abi/hostcalls.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include <flatbuffers/flatbuffers.h>

#include <chrono>

#include "kernel/channel.h"
#include "kernel/drivers/channel/channel_driver.h"
#include "kernel/launcher.h"
#include "kernel/process.h"
#include "kernel/process_directory.h"
#include "kernel/registry.h"
#include "selium/schemas/process_generated.h"

namespace selium::kernel {
namespace {

class ProcessObject final : public Shareable {
 public:
  explicit ProcessObject(std::shared_ptr<ChildState> state) : state(std::move(state)) {}
  HandleKind kind() const override { return HandleKind::Process; }
  std::unique_ptr<Resource> attach(Process& process) override;
  const std::shared_ptr<ChildState> state;
};

class ProcessHandle final : public Resource {
 public:
  static constexpr HandleKind kKind = HandleKind::Process;
  explicit ProcessHandle(std::shared_ptr<ProcessObject> object) : object(std::move(object)) {}
  ~ProcessHandle() override { object->state->forget(this); }
  HandleKind kind() const override { return kKind; }
  std::shared_ptr<Shareable> shareable() override { return object; }
  bool cancelWait() override {
    object->state->forget(this);
    return true;
  }
  ChildState& state() const { return *object->state; }
  const std::shared_ptr<ProcessObject> object;
};

std::unique_ptr<Resource> ProcessObject::attach(Process&) {
  return std::make_unique<ProcessHandle>(
      std::static_pointer_cast<ProcessObject>(shared_from_this()));
}

// A process's life as others see it (process_lifetime): waiting for its end is all it allows.
class LifetimeObject final : public Shareable {
 public:
  LifetimeObject(ProcessId pid, std::shared_ptr<ChildState> life)
      : pid(pid), life(std::move(life)) {}
  HandleKind kind() const override { return HandleKind::Lifetime; }
  std::unique_ptr<Resource> attach(Process& process) override;
  const ProcessId pid;
  const std::shared_ptr<ChildState> life;
};

class LifetimeHandle final : public Resource {
 public:
  static constexpr HandleKind kKind = HandleKind::Lifetime;
  explicit LifetimeHandle(std::shared_ptr<LifetimeObject> object) : object(std::move(object)) {}
  ~LifetimeHandle() override { object->life->forget(this); }
  HandleKind kind() const override { return kKind; }
  std::shared_ptr<Shareable> shareable() override { return object; }
  bool cancelWait() override {
    object->life->forget(this);
    return true;
  }
  const std::shared_ptr<LifetimeObject> object;
};

std::unique_ptr<Resource> LifetimeObject::attach(Process&) {
  return std::make_unique<LifetimeHandle>(
      std::static_pointer_cast<LifetimeObject>(shared_from_this()));
}

int32_t insertHandle(CallContext& ctx, std::unique_ptr<Resource> resource) {
  auto inserted = ctx.process.handles().insert(std::move(resource));
  if (auto* code = std::get_if<ErrorCode>(&inserted)) {
    return fail(ctx, *code, "too many open handles");
  }
  return std::get<int32_t>(inserted);
}

ProcessDirectory* directoryOf(CallContext& ctx, const char* call, int32_t& error) {
  ProcessDirectory* directory = ctx.process.host().directory();
  if (directory == nullptr) {
    error = fail(ctx, ErrorCode::Unsupported,
                 std::string(call) + ": this host keeps no directory of processes");
  }
  return directory;
}

ProcessHandle* findProcess(CallContext& ctx, int32_t handle, int32_t& error) {
  auto* resource = ctx.process.handles().get<ProcessHandle>(handle);
  if (resource == nullptr) {
    error = fail(ctx, ErrorCode::InvalidHandle,
                 "handle " + std::to_string(handle) + " is not an open process of this process");
  }
  return resource;
}

// Why a child has no pid: not started yet, or it ended (failed) without ever starting.
std::string notStarted(const ProcessHandle& handle, int32_t process) {
  std::string what = "process of handle " + std::to_string(process);
  if (handle.state().exit()) {
    return what + " ended without starting (process_exit_message says why)";
  }
  return what + " has not started yet";
}

}  // namespace

namespace hostcalls {

int32_t process_start(CallContext& ctx, GuestIn request) {
  return startChild(ctx, request, "process_start", nullptr, nullptr);
}

}  // namespace hostcalls

int32_t startChild(CallContext& ctx, GuestIn request, const char* call,
                   const std::function<int32_t(const StartRequest&)>& authorise,
                   std::shared_ptr<ChildState>* started) {
  const std::string prefix = std::string(call) + ": ";
  Launcher* launcher = ctx.process.host().launcher();
  if (launcher == nullptr) {
    return fail(ctx, ErrorCode::Unsupported, "this host cannot start child processes");
  }
  auto decoded = decodeStartRequest(request.bytes);
  if (!decoded) {
    return fail(ctx,
                request.bytes.size() > SELIUM_START_REQUEST_MAX_BYTES ? ErrorCode::TooLarge
                                                                      : ErrorCode::InvalidArgument,
                prefix + decoded.error().message);
  }
  StartRequest start = std::move(*decoded);
  if (ctx.process.liveChildren()->load(std::memory_order_relaxed) >= ctx.process.maxChildren()) {
    return fail(ctx, ErrorCode::LimitExceeded,
                prefix + "this process already has " + std::to_string(ctx.process.maxChildren()) +
                    " children that have not ended (the limit); wait for one to end");
  }
  // A process grants only what it holds.
  for (Capability capability : start.capabilities.inOrder()) {
    if (!ctx.process.capabilities().contains(capability)) {
      return fail(ctx, ErrorCode::PermissionDenied,
                  prefix + "capability " + std::string(capabilityName(capability)) +
                      " is not held by this process, and a process can grant a child only "
                      "capabilities it holds");
    }
  }
  if (authorise) {
    if (int32_t refused = authorise(start); refused < 0) return refused;
  }
  std::vector<std::shared_ptr<Shareable>> resources;
  for (std::size_t i = 0; i < start.args.size(); ++i) {
    EntrypointArg& arg = start.args[i];
    if (arg.kind != ParamKind::Resource) continue;
    auto handle = static_cast<int32_t>(std::get<uint64_t>(arg.value));
    Resource* resource = ctx.process.handles().get(handle);
    if (resource == nullptr) {
      return fail(ctx, ErrorCode::InvalidHandle,
                  prefix + "args[" + std::to_string(i) + "]: handle " + std::to_string(handle) +
                      " is not an open handle of this process");
    }
    std::shared_ptr<Shareable> object = resource->shareable();
    if (object == nullptr) {
      return fail(ctx, ErrorCode::InvalidArgument,
                  prefix + "args[" + std::to_string(i) + "]: handle " + std::to_string(handle) +
                      " is a " + std::string(kindName(resource->kind())) +
                      ", which cannot be given to another process");
    }
    // As handle_share: a deleted channel (or its reader or writer) is closed for good, and the
    // child could not attach it.
    if (!object->alive()) {
      return fail(ctx, ErrorCode::Closed,
                  prefix + "args[" + std::to_string(i) + "]: handle " + std::to_string(handle) +
                      " names a " + std::string(kindName(resource->kind())) +
                      " that is closed for good; it cannot be given to another process");
    }
    resources.push_back(std::move(object));
  }
  auto state = std::make_shared<ChildState>(ctx.process.liveChildren());
  auto inserted = ctx.process.handles().insert(
      std::make_unique<ProcessHandle>(std::make_shared<ProcessObject>(state)));
  if (auto* code = std::get_if<ErrorCode>(&inserted)) {
    return fail(ctx, *code, "too many open handles");
  }
  if (started != nullptr) *started = state;
  launcher->launch(ctx.process.id(), std::move(start), std::move(resources), std::move(state));
  return std::get<int32_t>(inserted);
}

namespace hostcalls {

int32_t process_stop(CallContext& ctx, int32_t process) {
  int32_t error = 0;
  ProcessHandle* handle = findProcess(ctx, process, error);
  if (handle == nullptr) return error;
  ChildState& state = handle->state();
  if (state.exit()) return 0;
  state.requestStop();  // seen by the launcher if the child has no pid yet
  if (auto pid = state.pid()) {
    if (Launcher* launcher = ctx.process.host().launcher()) launcher->stop(*pid);
  }
  return 0;
}

int64_t process_wait(CallContext& ctx, int32_t process, int32_t waker) {
  int32_t error = 0;
  ProcessHandle* handle = findProcess(ctx, process, error);
  if (handle == nullptr) return error;
  ChildExit exit;
  switch (handle->state().poll(handle, ctx.process.waker(waker), exit)) {
    case ChildState::Wait::Ended:
      return (int64_t{exit.reason} << 32) | static_cast<uint32_t>(exit.status);
    case ChildState::Wait::Waiting:
      return errorResult(ErrorCode::WouldBlock);
    case ChildState::Wait::Busy:
      break;
  }
  return fail(ctx, ErrorCode::InvalidArgument,
              "another task is already waiting on process handle " + std::to_string(process) +
                  ": wait for a process from one task at a time (handle_cancel_wait frees it)");
}

int32_t process_exit_message(CallContext& ctx, int32_t process, GuestOut buf) {
  int32_t error = 0;
  ProcessHandle* handle = findProcess(ctx, process, error);
  if (handle == nullptr) return error;
  auto exit = handle->state().exit();
  if (!exit) {
    return fail(ctx, ErrorCode::NotFound,
                "process of handle " + std::to_string(process) + " has not ended");
  }
  std::size_t n = std::min(exit->message.size(), buf.bytes.size());
  if (n > 0) std::memcpy(buf.bytes.data(), exit->message.data(), n);
  return static_cast<int32_t>(std::min<std::size_t>(exit->message.size(), INT32_MAX));
}

int64_t process_pid(CallContext& ctx, int32_t process) {
  int32_t error = 0;
  ProcessHandle* handle = findProcess(ctx, process, error);
  if (handle == nullptr) return error;
  auto pid = handle->state().pid();
  if (!pid) return fail(ctx, ErrorCode::NotFound, notStarted(*handle, process));
  return static_cast<int64_t>(*pid);
}

int32_t process_log_open(CallContext& ctx, int32_t process) {
  int32_t error = 0;
  ProcessHandle* handle = findProcess(ctx, process, error);
  if (handle == nullptr) return error;
  Launcher* launcher = ctx.process.host().launcher();
  auto pid = handle->state().pid();
  if (launcher == nullptr || !pid) {
    // A child that ended without starting never will: its stream is as gone as an ended one's.
    return fail(ctx, handle->state().exit() ? ErrorCode::Closed : ErrorCode::NotFound,
                notStarted(*handle, process));
  }
  std::shared_ptr<Channel> channel = launcher->logChannel(*pid);
  if (channel == nullptr) {
    return fail(
        ctx, ErrorCode::Closed,
        "process of handle " + std::to_string(process) + " has ended: its log stream is gone");
  }
  auto inserted = ctx.process.handles().insert(
      makeReaderResource(ChannelReader::open(channel, Strength::Weak)));
  if (auto* code = std::get_if<ErrorCode>(&inserted)) {
    return fail(ctx, *code, "too many open handles");
  }
  return std::get<int32_t>(inserted);
}

int32_t process_lifetime(CallContext& ctx) {
  int32_t error = 0;
  ProcessDirectory* directory = directoryOf(ctx, "process_lifetime", error);
  if (directory == nullptr) return error;
  std::shared_ptr<ChildState> life = directory->life(ctx.process.id());
  if (life == nullptr) {
    return fail(ctx, ErrorCode::Internal, "process_lifetime: this process is not in the directory");
  }
  return insertHandle(ctx, std::make_unique<LifetimeHandle>(std::make_shared<LifetimeObject>(
                               ctx.process.id(), std::move(life))));
}

int64_t lifetime_wait(CallContext& ctx, int32_t lifetime, int32_t waker) {
  auto* handle = ctx.process.handles().get<LifetimeHandle>(lifetime);
  if (handle == nullptr) {
    return fail(ctx, ErrorCode::InvalidHandle,
                "handle " + std::to_string(lifetime) + " is not an open lifetime of this process");
  }
  ChildExit exit;
  switch (handle->object->life->poll(handle, ctx.process.waker(waker), exit)) {
    case ChildState::Wait::Ended:
      return static_cast<int64_t>(handle->object->pid);
    case ChildState::Wait::Waiting:
      return errorResult(ErrorCode::WouldBlock);
    case ChildState::Wait::Busy:
      break;
  }
  return fail(ctx, ErrorCode::InvalidArgument,
              "another task is already waiting on lifetime handle " + std::to_string(lifetime) +
                  ": wait from one task at a time (handle_cancel_wait frees it)");
}

int64_t lifetime_pid(CallContext& ctx, int32_t lifetime) {
  auto* handle = ctx.process.handles().get<LifetimeHandle>(lifetime);
  if (handle == nullptr) {
    return fail(ctx, ErrorCode::InvalidHandle,
                "handle " + std::to_string(lifetime) + " is not an open lifetime of this process");
  }
  return static_cast<int64_t>(handle->object->pid);
}

int32_t process_list(CallContext& ctx, GuestOut buf) {
  const ProcessId self = ctx.process.id();
  const bool all = ctx.process.capabilities().contains(Capability::SessionLifecycle);
  return writeProcessList(ctx, buf, "process_list", [&](const ProcessDirectory::Entry& entry) {
    return all ||
           std::find(entry.ancestors.begin(), entry.ancestors.end(), self) != entry.ancestors.end();
  });
}

int32_t process_attach(CallContext& ctx, int64_t pid) {
  int32_t error = 0;
  ProcessDirectory* directory = directoryOf(ctx, "process_attach", error);
  if (directory == nullptr) return error;
  const bool all = ctx.process.capabilities().contains(Capability::SessionLifecycle);
  if (pid > 0 && !all && directory->life(static_cast<ProcessId>(pid)) != nullptr &&
      !directory->isDescendant(static_cast<ProcessId>(pid), ctx.process.id())) {
    return fail(ctx, ErrorCode::PermissionDenied,
                "process_attach: process " + std::to_string(pid) +
                    " was not started by this process or its descendants; attaching any process "
                    "needs SessionLifecycle");
  }
  return attachProcess(ctx, pid, "process_attach");
}

}  // namespace hostcalls

std::shared_ptr<Shareable> makeLifetime(ProcessId pid, std::shared_ptr<ChildState> life) {
  return std::make_shared<LifetimeObject>(pid, std::move(life));
}

int32_t attachProcess(CallContext& ctx, int64_t pid, const char* call) {
  int32_t error = 0;
  ProcessDirectory* directory = directoryOf(ctx, call, error);
  if (directory == nullptr) return error;
  std::shared_ptr<ChildState> life =
      pid > 0 ? directory->life(static_cast<ProcessId>(pid)) : nullptr;
  if (life == nullptr) {
    return fail(ctx, ErrorCode::NotFound,
                std::string(call) + ": no process " + std::to_string(pid) + " is running");
  }
  return insertHandle(
      ctx, std::make_unique<ProcessHandle>(std::make_shared<ProcessObject>(std::move(life))));
}

int32_t writeProcessList(CallContext& ctx, GuestOut buf, const char* call,
                         const std::function<bool(const ProcessDirectory::Entry&)>& visible) {
  int32_t error = 0;
  ProcessDirectory* directory = directoryOf(ctx, call, error);
  if (directory == nullptr) return error;
  std::vector<ProcessDirectory::Entry> entries = directory->list(visible);
  namespace fb = selium::abi;
  flatbuffers::FlatBufferBuilder builder(256 + entries.size() * 128);
  std::vector<flatbuffers::Offset<fb::ProcessInfo>> infos;
  infos.reserve(entries.size());
  const auto now = std::chrono::steady_clock::now();
  for (const ProcessDirectory::Entry& entry : entries) {
    std::vector<uint32_t> capabilities;
    for (Capability capability : entry.capabilities.inOrder()) {
      capabilities.push_back(static_cast<uint32_t>(capability));
    }
    std::sort(capabilities.begin(), capabilities.end());
    auto module = builder.CreateString(entry.module);
    auto entrypoint = builder.CreateString(entry.entrypoint);
    auto log_uri = entry.log_uri ? builder.CreateString(*entry.log_uri) : 0;
    auto caps = builder.CreateVector(capabilities);
    auto started =
        std::chrono::duration_cast<std::chrono::milliseconds>(entry.started_wall.time_since_epoch())
            .count();
    auto uptime =
        std::chrono::duration_cast<std::chrono::milliseconds>(now - entry.started).count();
    infos.push_back(fb::CreateProcessInfo(
        builder, entry.pid, entry.parent, module, entrypoint,
        entry.stopping ? fb::ProcessRunState::Stopping : fb::ProcessRunState::Running,
        static_cast<uint64_t>(std::max<int64_t>(started, 0)),
        static_cast<uint64_t>(std::max<int64_t>(uptime, 0)), log_uri, caps));
  }
  builder.Finish(fb::CreateProcessList(builder, builder.CreateVector(infos)));
  if (builder.GetSize() > INT32_MAX) {
    return fail(ctx, ErrorCode::TooLarge, std::string(call) + ": the list is too large");
  }
  if (builder.GetSize() <= buf.bytes.size()) {
    std::memcpy(buf.bytes.data(), builder.GetBufferPointer(), builder.GetSize());
  }
  return static_cast<int32_t>(builder.GetSize());
}

}  // namespace selium::kernel
