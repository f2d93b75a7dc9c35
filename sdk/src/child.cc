// Child processes over process_start / process_wait / process_stop and friends.
#include "selium/child.hpp"

#include <flatbuffers/flatbuffers.h>

#include "process_generated.h"

namespace selium {

namespace fb = ::selium::abi;

std::vector<uint8_t> ProcessBuilder::request() const {
  flatbuffers::FlatBufferBuilder builder(256);
  std::vector<flatbuffers::Offset<fb::Arg>> args;
  for (const Arg& a : args_) {
    flatbuffers::Offset<flatbuffers::Vector<uint8_t>> bytes;
    if (!a.bytes.empty()) bytes = builder.CreateVector(a.bytes);
    fb::ArgBuilder arg(builder);
    arg.add_kind(static_cast<fb::ArgKind>(a.kind));
    arg.add_int_(a.int_value);
    arg.add_uint(a.uint_value);
    arg.add_f32(static_cast<float>(a.float_value));
    arg.add_f64(a.float_value);
    if (!a.bytes.empty()) arg.add_bytes(bytes);
    arg.add_handle(a.handle_value);
    args.push_back(arg.Finish());
  }
  std::vector<flatbuffers::Offset<flatbuffers::String>> env;
  for (const std::string& e : env_) env.push_back(builder.CreateString(e));
  auto path = builder.CreateString(module_);
  flatbuffers::Offset<flatbuffers::String> entry;
  if (!entrypoint_.empty()) entry = builder.CreateString(entrypoint_);
  auto caps = builder.CreateVector(capabilities_);
  auto args_vec = builder.CreateVector(args);
  flatbuffers::Offset<flatbuffers::String> uri;
  if (!log_uri_.empty()) uri = builder.CreateString(log_uri_);
  auto env_vec = builder.CreateVector(env);
  fb::StartRequestBuilder request(builder);
  request.add_path(path);
  if (!entrypoint_.empty()) request.add_entrypoint(entry);
  request.add_capabilities(caps);
  request.add_args(args_vec);
  if (!log_uri_.empty()) request.add_log_uri(uri);
  if (follow_logs_) request.add_follow_logs(true);
  request.add_env(env_vec);
  builder.Finish(request.Finish());
  return {builder.GetBufferPointer(), builder.GetBufferPointer() + builder.GetSize()};
}

Result<ChildProcess> ProcessBuilder::start() const {
  std::vector<uint8_t> bytes = request();
  int32_t handle =
      selium_process_start(SELIUM_ADDR(bytes.data()), static_cast<uint32_t>(bytes.size()));
  if (handle < 0) return Error::fromResult(handle);
  return ChildProcess(Handle(handle));
}

Task<Result<Exit>> ChildProcess::exit() {
  selium_handle_t process = handle_.get();
  int64_t result = 0;
  for (;;) {
    auto poll = [process, &result](int32_t waker) noexcept {
      result = selium_process_wait(process, waker);
      return result == -SELIUM_ERR_WouldBlock ? -SELIUM_ERR_WouldBlock : 0;
    };
    (void)co_await detail::PollHandle(process, poll);
    if (result != -SELIUM_ERR_WouldBlock) break;
  }
  if (result < 0) co_return Error::fromResult(result);
  Exit exit;
  exit.reason = static_cast<int32_t>(result >> 32);
  exit.status = static_cast<int32_t>(static_cast<uint32_t>(result));
  exit.message.resize(256);
  int32_t length = selium_process_exit_message(process, SELIUM_ADDR(exit.message.data()),
                                               static_cast<uint32_t>(exit.message.size()));
  if (length > static_cast<int32_t>(exit.message.size())) {
    exit.message.resize(static_cast<std::size_t>(length));
    length = selium_process_exit_message(process, SELIUM_ADDR(exit.message.data()),
                                         static_cast<uint32_t>(exit.message.size()));
  }
  exit.message.resize(length < 0 ? 0 : static_cast<std::size_t>(length));
  co_return exit;
}

Result<void> ChildProcess::stop() noexcept {
  int32_t result = selium_process_stop(handle_.get());
  if (result < 0) return Error::fromResult(result);
  return Result<void>();
}

Result<int64_t> ChildProcess::pid() const noexcept {
  int64_t pid = selium_process_pid(handle_.get());
  if (pid < 0) return Error::fromResult(pid);
  return pid;
}

Result<Reader> ChildProcess::logs() const noexcept {
  int32_t reader = selium_process_log_open(handle_.get());
  if (reader < 0) return Error::fromResult(reader);
  return Reader(Handle(reader));
}

Result<ChildProcess> ChildProcess::attach(int64_t pid) noexcept {
  int32_t handle = selium_process_attach(pid);
  if (handle < 0) return Error::fromResult(handle);
  return ChildProcess(Handle(handle));
}

Result<std::vector<ProcessInfo>> decodeProcessList(std::span<const uint8_t> bytes) {
  // The host's buffer is ours and aligned, but a list may come from anywhere: verify it.
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  if (!verifier.VerifyBuffer<fb::ProcessList>(nullptr)) {
    return Error(ErrorCode::InvalidArgument);  // not a selium.abi.ProcessList
  }
  const auto* list = flatbuffers::GetRoot<fb::ProcessList>(bytes.data());
  std::vector<ProcessInfo> out;
  if (list->processes() == nullptr) return out;
  out.reserve(list->processes()->size());
  for (const fb::ProcessInfo* in : *list->processes()) {
    ProcessInfo info;
    info.pid = static_cast<int64_t>(in->pid());
    info.parent = static_cast<int64_t>(in->parent());
    if (in->path() != nullptr) info.module = in->path()->str();
    if (in->entrypoint() != nullptr) info.entrypoint = in->entrypoint()->str();
    info.stopping = in->state() == fb::ProcessRunState_Stopping;
    info.started_unix_ms = in->started_unix_ms();
    info.uptime_ms = in->uptime_ms();
    if (in->log_uri() != nullptr) info.log_uri = in->log_uri()->str();
    if (in->capabilities() != nullptr) {
      info.capabilities.assign(in->capabilities()->begin(), in->capabilities()->end());
    }
    out.push_back(std::move(info));
  }
  return out;
}

Result<std::vector<uint8_t>> detail::readProcessList(
    const std::function<int32_t(uint8_t* buf, uint32_t cap)>& call) {
  std::vector<uint8_t> buffer(4096);
  // The list may grow between the call that sizes it and the one that fills it: try again.
  for (int attempt = 0; attempt < 8; ++attempt) {
    int32_t size = call(buffer.data(), static_cast<uint32_t>(buffer.size()));
    if (size < 0) return Error::fromResult(size);
    if (static_cast<std::size_t>(size) <= buffer.size()) {
      buffer.resize(static_cast<std::size_t>(size));
      return buffer;
    }
    buffer.resize(static_cast<std::size_t>(size) + 4096);
  }
  return Error(ErrorCode::Internal);  // the list kept growing while it was read
}

Result<std::vector<ProcessInfo>> listProcesses() {
  auto bytes = detail::readProcessList(
      [](uint8_t* buf, uint32_t cap) { return selium_process_list(SELIUM_ADDR(buf), cap); });
  if (!bytes) return bytes.error();
  return decodeProcessList(*bytes);
}

Result<Lifetime> Lifetime::self() noexcept {
  int32_t handle = selium_process_lifetime();
  if (handle < 0) return Error::fromResult(handle);
  return Lifetime(Handle(handle));
}

Result<Lifetime> Lifetime::attach(SharedId id) noexcept {
  auto handle = Handle::attach(id, Kind::Lifetime);
  if (!handle) return handle.error();
  return Lifetime(std::move(*handle));
}

int64_t Lifetime::pid() const noexcept { return selium_lifetime_pid(handle_.get()); }

Task<Result<int64_t>> Lifetime::ended() {
  selium_handle_t lifetime = handle_.get();
  int64_t result = 0;
  for (;;) {
    auto poll = [lifetime, &result](int32_t waker) noexcept {
      result = selium_lifetime_wait(lifetime, waker);
      return result == -SELIUM_ERR_WouldBlock ? -SELIUM_ERR_WouldBlock : 0;
    };
    (void)co_await detail::PollHandle(lifetime, poll);
    if (result != -SELIUM_ERR_WouldBlock) break;
  }
  if (result < 0) co_return Error::fromResult(result);
  co_return result;
}

}  // namespace selium
