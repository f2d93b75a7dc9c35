// Child processes (capability ProcessLifecycle): start a module from the work dir's modules/
// with an entrypoint, typed arguments (handles included: the child gets its own) and
// capabilities (only ones this process holds); stop it, wait for its exit, follow its logs.
//
//   auto child = selium::ProcessBuilder("worker.wasm")
//                    .entrypoint("work")
//                    .capability(SELIUM_CAP_ChannelReader)
//                    .arg(selium::Arg::u32(4))
//                    .arg(selium::Arg::resource(reader.handle()))
//                    .start();
//   auto exit = co_await child->exit();   // Result<Exit>: reason, status, message
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "selium/abi/entrypoints.h"
#include "selium/channel.hpp"
#include "selium/result.hpp"
#include "selium/selium.h"
#include "selium/task.hpp"

namespace selium {

// One entrypoint argument of a child (kinds as in module specs).
struct Arg {
  int32_t kind = SELIUM_PARAM_KIND_u32;
  int64_t int_value = 0;
  uint64_t uint_value = 0;
  double float_value = 0;
  std::vector<uint8_t> bytes;
  selium_handle_t handle_value = 0;

  static Arg i8(int8_t v) { return signedArg(SELIUM_PARAM_KIND_i8, v); }
  static Arg u8(uint8_t v) { return unsignedArg(SELIUM_PARAM_KIND_u8, v); }
  static Arg i16(int16_t v) { return signedArg(SELIUM_PARAM_KIND_i16, v); }
  static Arg u16(uint16_t v) { return unsignedArg(SELIUM_PARAM_KIND_u16, v); }
  static Arg i32(int32_t v) { return signedArg(SELIUM_PARAM_KIND_i32, v); }
  static Arg i64(int64_t v) { return signedArg(SELIUM_PARAM_KIND_i64, v); }
  static Arg u32(uint32_t v) { return unsignedArg(SELIUM_PARAM_KIND_u32, v); }
  static Arg u64(uint64_t v) { return unsignedArg(SELIUM_PARAM_KIND_u64, v); }
  static Arg f32(float v) {
    Arg a;
    a.kind = SELIUM_PARAM_KIND_f32;
    a.float_value = v;
    return a;
  }
  static Arg f64(double v) {
    Arg a;
    a.kind = SELIUM_PARAM_KIND_f64;
    a.float_value = v;
    return a;
  }
  static Arg utf8(std::string_view text) {
    Arg a;
    a.kind = SELIUM_PARAM_KIND_utf8;
    a.bytes.assign(text.begin(), text.end());
    return a;
  }
  static Arg buffer(std::span<const uint8_t> data) {
    Arg a;
    a.kind = SELIUM_PARAM_KIND_buffer;
    a.bytes.assign(data.begin(), data.end());
    return a;
  }
  // Bytes for a `hex` parameter (the child receives them as bytes, like `buffer`).
  static Arg hex(std::span<const uint8_t> data) {
    Arg a = buffer(data);
    a.kind = SELIUM_PARAM_KIND_hex;
    return a;
  }
  // A handle of this process; the child receives its own handle to the same resource.
  static Arg resource(const Handle& h) {
    Arg a;
    a.kind = SELIUM_PARAM_KIND_resource;
    a.handle_value = h.get();
    return a;
  }

 private:
  static Arg signedArg(int32_t kind, int64_t v) {
    Arg a;
    a.kind = kind;
    a.int_value = v;
    return a;
  }
  static Arg unsignedArg(int32_t kind, uint64_t v) {
    Arg a;
    a.kind = kind;
    a.uint_value = v;
    return a;
  }
};

// How a child ended.
struct Exit {
  int32_t reason = SELIUM_EXIT_NORMAL;  // SELIUM_EXIT_*
  int32_t status = 0;
  std::string message;  // as the runtime logs it
  bool ok() const noexcept { return reason == SELIUM_EXIT_NORMAL && status == 0; }
};

class ChildProcess {
 public:
  explicit ChildProcess(Handle handle) noexcept : handle_(std::move(handle)) {}
  // A handle on the running process `pid`: one this process (or one it started, and so on)
  // started, or any with SessionLifecycle. NotFound if it does not run.
  static Result<ChildProcess> attach(int64_t pid) noexcept;
  // Finishes when the child has ended.
  Task<Result<Exit>> exit();
  // Stops it (it ends with SELIUM_EXIT_TERMINATED).
  Result<void> stop() noexcept;
  // Its process id once it has started (NotFound before).
  Result<int64_t> pid() const noexcept;
  // A weak reader of its log stream (frames are selium.abi.LogRecord FlatBuffers).
  Result<Reader> logs() const noexcept;
  const Handle& handle() const noexcept { return handle_; }
  Handle& handle() noexcept { return handle_; }

 private:
  Handle handle_;
};

// A running process as process_list shows it.
struct ProcessInfo {
  int64_t pid = 0;
  int64_t parent = 0;  // 0: started by the runtime
  std::string module;
  std::string entrypoint;
  bool stopping = false;
  uint64_t started_unix_ms = 0;
  uint64_t uptime_ms = 0;
  std::string log_uri;
  std::vector<selium_capability_t> capabilities;
};

// The running processes this process may see: every one with SessionLifecycle, else those it
// started (and those they started, and so on). Ascending pid.
Result<std::vector<ProcessInfo>> listProcesses();
// The same from a ProcessList FlatBuffer (process_list, session_list).
Result<std::vector<ProcessInfo>> decodeProcessList(std::span<const uint8_t> bytes);

namespace detail {
// Calls a list hostcall (process_list, session_list) with a buffer until the list fits.
Result<std::vector<uint8_t>> readProcessList(
    const std::function<int32_t(uint8_t* buf, uint32_t cap)>& call);
}  // namespace detail

// A process's life, to learn when it ends; needs no capability. A service that keeps state for
// the processes it serves asks each client for its lifetime's shared id, attaches it, and waits:
//
//   auto id = selium::Lifetime::self()->share();          // client: send *id to the service
//   auto life = selium::Lifetime::attach(id);             // service
//   co_await life->ended();                               // the client has ended: clean up
class Lifetime {
 public:
  // This process's own life.
  static Result<Lifetime> self() noexcept;
  // Another process's, from the shared id of its lifetime.
  static Result<Lifetime> attach(SharedId id) noexcept;
  Result<SharedId> share() const noexcept { return handle_.share(); }
  // The pid of the process it names.
  int64_t pid() const noexcept;
  // Finishes with that pid once the process has ended. One task at a time per Lifetime.
  Task<Result<int64_t>> ended();
  const Handle& handle() const noexcept { return handle_; }

 private:
  explicit Lifetime(Handle handle) noexcept : handle_(std::move(handle)) {}
  Handle handle_;
};

class ProcessBuilder {
 public:
  explicit ProcessBuilder(std::string module) : module_(std::move(module)) {}
  ProcessBuilder& entrypoint(std::string name) {
    entrypoint_ = std::move(name);
    return *this;
  }
  ProcessBuilder& capability(selium_capability_t capability) {
    capabilities_.push_back(capability);
    return *this;
  }
  ProcessBuilder& arg(Arg a) {
    args_.push_back(std::move(a));
    return *this;
  }
  ProcessBuilder& logUri(std::string uri) {
    log_uri_ = std::move(uri);
    return *this;
  }
  ProcessBuilder& env(std::string name_value) {
    env_.push_back(std::move(name_value));
    return *this;
  }
  // Starts the child's log stream before it runs, so logs() reads it from its first record
  // (otherwise the stream starts when first opened, and earlier records are not kept).
  ProcessBuilder& followLogs() {
    follow_logs_ = true;
    return *this;
  }
  // The FlatBuffers StartRequest this builder describes (schemas/process.fbs).
  std::vector<uint8_t> request() const;
  // Starts the child: PermissionDenied for a capability this process lacks, InvalidArgument for
  // a malformed request; a module that cannot load shows as an Exit with SELIUM_EXIT_FAILED.
  Result<ChildProcess> start() const;

 private:
  std::string module_;
  std::string entrypoint_;
  std::vector<selium_capability_t> capabilities_;
  std::vector<Arg> args_;
  std::string log_uri_;
  std::vector<std::string> env_;
  bool follow_logs_ = false;
};

}  // namespace selium
