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

}  // namespace selium
