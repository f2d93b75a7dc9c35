// A process: one guest instance's kernel-side state — identity, capabilities, handles, last
// error, log stream (with its line-buffered stdout/stderr), argv and environment. Owned by, and
// only touched on, its worker's thread.
#pragma once

#include <atomic>
#include <bitset>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kernel/capability.h"
#include "kernel/handle_table.h"
#include "kernel/log_stream.h"
#include "kernel/registry.h"
#include "kernel/timer_queue.h"
#include "kernel/waker.h"
#include "util/log.h"

namespace selium::kernel {

class Launcher;
class ProcessDirectory;
class NetContext;

// One record of a process's log stream.
struct GuestLogRecord {
  log::Level level = log::Level::Info;
  std::string target;  // the guest's own target; may be empty
  std::string message;
  std::vector<log::Field> fields;
};

// Receives a process's log records (the runtime prints them; later, subscribers read them).
using LogSink = std::function<void(const class Process&, const GuestLogRecord&)>;

// What a process needs from the engine that runs it.
class ProcessHost {
 public:
  virtual ~ProcessHost() = default;
  // Asks for the guest's poll export to be called with `waker`, after the work already queued on
  // the worker (never inside the guest call that may be running). A waker already pending is not
  // queued again: wakes are coalesced per process, so a driver may call this as often as it
  // likes. Never refused (drivers' wakes are bounded by the handles that make them). Called on
  // the worker thread.
  virtual void wake(ProcessId pid, int32_t waker) = 0;
  // yield_now: the same, but refused (false) when the process already has kMaxPendingWakes
  // distinct wakers pending, so a guest cannot queue wakes without bound.
  virtual bool wakeYield(ProcessId pid, int32_t waker) {
    wake(pid, waker);
    return true;
  }

  // A waker for `pid`'s `token` that any thread may fire (a channel whose other end is on another
  // worker). The default fires nothing: hosts that run no channels (unit tests).
  virtual Waker crossWaker(ProcessId pid, int32_t token) {
    (void)pid;
    (void)token;
    return {};
  }
  // Shared ids and singletons, common to every process of this host.
  virtual Registry& registry() { return Registry::standalone(); }
  // Starts child processes (process_start); nullptr: this host cannot (unit tests).
  virtual Launcher* launcher() { return nullptr; }
  // The running processes (process_list, process_attach, lifetimes); nullptr: this host keeps
  // none (unit tests), and those hostcalls answer Unsupported.
  virtual ProcessDirectory* directory() { return nullptr; }
  // Sockets shared between processes (an HTTP port several processes bind) and the work dir's
  // default TLS material; the default has no certificates (unit tests).
  virtual NetContext& network();

  // Distinct wakers one process may have pending through yield_now.
  static constexpr std::size_t kMaxPendingWakes = 4096;
};

struct ProcessConfig {
  ProcessId id = 0;
  std::string module;      // label for logs: the spec's path
  std::string entrypoint;  // the export it runs
  CapabilitySet capabilities;
  std::optional<std::string> log_uri;
  std::size_t max_handles = 1u << 16;
  // Bytes of channel rings this process may have created and not yet freed (channel_create).
  std::size_t max_channel_bytes = std::size_t{64} << 20;
  // Children this process started (process_start) that have not ended yet, starting ones
  // included.
  std::size_t max_children = 1024;
  // Sockets this process opened that are still open: HTTP and QUIC listening sockets it opened
  // (joining a port another opened is free), HTTP clients (one connection each) and QUIC
  // connections it made.
  std::size_t max_sockets = 1024;
  std::vector<std::string> argv;  // WASI args_get: argv[0] is the module, then the spec's args
  std::vector<std::string> env;   // WASI environ_get: "NAME=value" strings (empty by default)
  // The log stream subscribers read; null: the process makes its own. An engine makes it at
  // spawn, so the stream can be found by pid before the process exists on its worker.
  std::shared_ptr<LogStream> log_stream;
};

// The standard output streams a guest writes with WASI fd_write (fd 1 and 2).
enum class StdStream { Stdout, Stderr };

// Takes a guest's stdout/stderr bytes as written, instead of the log stream (`selium-runtime
// run`: byte for byte to the runtime's own fds). Called on the worker thread; it may block it.
using StdWriter = std::function<void(StdStream, std::span<const uint8_t>)>;

class Process {
 public:
  // Bound on the hostcall index space (every import module) for the log-once bitsets.
  static constexpr std::size_t kMaxHostcalls = 128;
  // A stdout/stderr line longer than this is emitted in pieces of this size.
  static constexpr std::size_t kMaxStdLineBytes = 16 * 1024;

  Process(ProcessConfig config, boost::asio::io_context& loop, ProcessHost& host, LogSink sink);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  ProcessId id() const { return config_.id; }
  const std::string& module() const { return config_.module; }
  const std::string& entrypoint() const { return config_.entrypoint; }
  const CapabilitySet& capabilities() const { return config_.capabilities; }
  const std::optional<std::string>& logUri() const { return config_.log_uri; }
  const std::vector<std::string>& argv() const { return config_.argv; }
  const std::vector<std::string>& env() const { return config_.env; }
  boost::asio::io_context& loop() { return loop_; }
  HandleTable& handles() { return handles_; }
  TimerQueue& timers() { return timers_; }

  // Asks for a poll with `waker` (see ProcessHost::wake) ...
  void wake(int32_t waker) { host_.wake(config_.id, waker); }
  // ... or, for yield_now, the same unless too many are pending (false: refused).
  bool wakeYield(int32_t waker) { return host_.wakeYield(config_.id, waker); }
  ProcessHost& host() { return host_; }
  // A waker for `token` that any thread may fire.
  Waker waker(int32_t token) { return host_.crossWaker(config_.id, token); }
  Registry& registry() { return host_.registry(); }
  NetContext& network() { return host_.network(); }

  // Channel ring bytes this process created that are still allocated. Shared with the channels,
  // which give their bytes back when freed, even after the process has ended.
  const std::shared_ptr<std::atomic<std::size_t>>& channelBytes() const { return channel_bytes_; }
  std::size_t maxChannelBytes() const { return config_.max_channel_bytes; }

  // Children this process started that have not ended (shared with their ChildStates, which
  // count themselves out when the child ends, even after this process has ended).
  const std::shared_ptr<std::atomic<std::size_t>>& liveChildren() const { return live_children_; }
  std::size_t maxChildren() const { return config_.max_children; }

  // Sockets this process opened and that are still open (shared with what holds them, which count
  // themselves out when they close, even after this process has ended).
  const std::shared_ptr<std::atomic<std::size_t>>& openSockets() const { return open_sockets_; }
  std::size_t maxSockets() const { return config_.max_sockets; }

  // Hostcall failures: the message the last_error hostcall returns.
  void setLastError(std::string message) { last_error_ = std::move(message); }
  const std::string& lastError() const { return last_error_; }

  // True the first time hostcall number `index` is denied to this process (log it once).
  bool firstDenial(std::size_t index);
  // True the first time this process calls hostcall number `index` that the host does not
  // support (an unimplemented WASI function, one that would block): log it once.
  bool firstUnsupported(std::size_t index);

  // Prints the record (the sink) and writes it to the log stream for subscribers.
  void emitLog(const GuestLogRecord& record) const;
  // The stream subscribers read (process_log_open); shared with the engine, which hands its
  // channel out by pid.
  const std::shared_ptr<LogStream>& logStream() const { return log_stream_; }

  // Guest stdout/stderr bytes onto the log stream, line-buffered per stream: one record per line
  // (without its "\n" or "\r\n"; message made valid UTF-8) with a field stream=stdout|stderr,
  // at level info (stdout) or warn (stderr). A line longer than kMaxStdLineBytes is emitted in
  // pieces; flushStdStreams() emits what is left (done when the process's resources are
  // released, so nothing written is lost however the process ends).
  // With a writer set (setStdWriter), bytes go to it unchanged instead, unbuffered.
  void writeStdStream(StdStream stream, std::span<const uint8_t> bytes);
  void flushStdStreams();
  // Set before the guest writes (EngineOptions::on_start): bytes written earlier, by a wasm start
  // function, are log records still.
  void setStdWriter(StdWriter writer) { std_writer_ = std::move(writer); }

  // process_exit: the engine unwinds the guest and ends the process with this status.
  void requestExit(int32_t status) { exit_status_ = status; }
  const std::optional<int32_t>& exitRequested() const { return exit_status_; }

  // Flushes stdout/stderr and releases every handle (timers are cancelled). Idempotent; also done
  // by the destructor.
  // Keeps `object` alive while the process lives (what the host shared on its behalf, such as its
  // published log stream).
  void hold(std::shared_ptr<Shareable> object) { held_.push_back(std::move(object)); }
  void releaseResources() {
    held_.clear();
    flushStdStreams();
    log_stream_->close();
    handles_.clear();
    registry().releaseSingletons(config_.id);
  }

 private:
  std::vector<std::shared_ptr<Shareable>> held_;
  ProcessConfig config_;
  boost::asio::io_context& loop_;
  ProcessHost& host_;
  LogSink sink_;
  TimerQueue timers_;  // before handles_: timer resources cancel their entries when released
  HandleTable handles_;
  std::string last_error_;
  std::bitset<kMaxHostcalls> denied_;
  std::bitset<kMaxHostcalls> unsupported_;
  std::optional<int32_t> exit_status_;
  std::shared_ptr<LogStream> log_stream_;
  std::shared_ptr<std::atomic<std::size_t>> channel_bytes_ =
      std::make_shared<std::atomic<std::size_t>>(0);
  std::shared_ptr<std::atomic<std::size_t>> live_children_ =
      std::make_shared<std::atomic<std::size_t>>(0);
  std::shared_ptr<std::atomic<std::size_t>> open_sockets_ =
      std::make_shared<std::atomic<std::size_t>>(0);
  std::string std_pending_[2];  // an unfinished line of stdout / stderr
  StdWriter std_writer_;

  void emitStdLine(StdStream stream, std::string_view line);
};

}  // namespace selium::kernel
