// A process's log stream for subscribers: every record the process logs (SDK records and WASI
// stdout/stderr lines) as a frame on a channel the host creates for it, encoded as a FlatBuffers
// selium.abi.LogRecord (schemas/log.fbs). The runtime prints records directly, as before; the
// channel exists only once someone subscribes (process_log_open), so a process nobody follows
// costs nothing. Subscribers hold weak readers: a process that logs faster than they read never
// waits and never grows memory (the ring is bounded; the oldest records are overwritten, and the
// lagging reader learns how many it lost). When the process ends the channel is drained, so
// subscribers read the tail and then see EndOfStream. Thread-safe: the process writes on its
// worker; subscribers attach from any.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>

#include "kernel/channel.h"

namespace selium::kernel {

struct GuestLogRecord;

class LogStream {
 public:
  static constexpr std::size_t kCapacity = 256 * 1024;

  LogStream() = default;
  ~LogStream();
  LogStream(const LogStream&) = delete;
  LogStream& operator=(const LogStream&) = delete;

  // The channel, created on first use; nullptr once the process has ended.
  std::shared_ptr<Channel> channel();
  // Writes the record if the channel exists (cheap check otherwise).
  void write(const GuestLogRecord& record);
  // The process ended: no more records; subscribers read what is left, then EndOfStream.
  void close();

  uint64_t written() const { return written_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> open_{false};  // a channel exists and the stream is not closed
  std::mutex mutex_;
  bool closed_ = false;
  std::shared_ptr<Channel> channel_;
  std::shared_ptr<ChannelWriter> writer_;
  Waiter waiter_;  // never armed: writes to a channel with only weak readers never wait
  std::atomic<uint64_t> written_{0};
};

// A guest record as the selium.abi.LogRecord FlatBuffer subscribers read.
std::vector<uint8_t> encodeLogRecord(const GuestLogRecord& record);

}  // namespace selium::kernel
