// Network byte streams as kernel channels, so guests read and write them with the channel
// hostcalls and share them like any reader or writer:
//  - ChannelSink takes bytes from the network (a request body, a QUIC stream's incoming side) and
//    writes them as frames into a byte-stream channel the guest reads;
//  - ChannelSource reads the frames a guest writes into a byte-stream channel and gives them to
//    the network (a response body, a QUIC stream's outgoing side).
// Both live on one asio loop (the socket's) and are woken there, through a LoopWake, when the
// channel has room or frames again; a wake from another worker's thread is posted to that loop.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "kernel/channel.h"
#include "kernel/waker.h"
#include "net/stream.h"

namespace selium::kernel {

// A WakeTarget that runs a callback on a loop: wakes from any thread are posted, and the
// callback runs only while its owner (weakly held) is alive.
class LoopWake final : public WakeTarget, public std::enable_shared_from_this<LoopWake> {
 public:
  LoopWake(boost::asio::io_context& loop, std::function<void()> callback)
      : loop_(loop), callback_(std::move(callback)) {}
  // Posts the callback (once while a post is pending).
  void wakeFromAnyThread(ProcessId pid, int32_t token) override;
  Waker waker() { return Waker{shared_from_this(), 0, 0}; }

 private:
  boost::asio::io_context& loop_;
  const std::function<void()> callback_;  // holds its owner weakly
  std::atomic<bool> posted_{false};
};

// Bytes from the network into a channel (the host is its writer).
class ChannelSink final : public net::ByteConsumer,
                          public std::enable_shared_from_this<ChannelSink> {
 public:
  // Largest frame written: a guest reading with a buffer this large never sees TooLarge.
  static constexpr std::size_t kMaxFrame = 16 * 1024;

  // `resume` runs on `loop` when the channel has room again after offer() took less than it was
  // offered.
  static std::shared_ptr<ChannelSink> create(boost::asio::io_context& loop,
                                             std::shared_ptr<Channel> channel,
                                             std::function<void()> resume);
  ~ChannelSink() override;

  std::size_t offer(std::span<const uint8_t> bytes) override;
  // complete: the channel drains (readers get EndOfStream after the last frame); cut short: it
  // closes (readers get Closed).
  void end(bool complete) override;

 private:
  ChannelSink(std::shared_ptr<Channel> channel, std::function<void()> resume);
  std::shared_ptr<Channel> channel_;
  std::shared_ptr<ChannelWriter> writer_;
  std::function<void()> resume_;
  std::shared_ptr<LoopWake> wake_;
  Waiter waiter_;
  bool ended_ = false;
};

// Bytes a guest writes into a channel, for the network (the host is its strong reader).
class ChannelSource final : public net::ByteProducer,
                            public std::enable_shared_from_this<ChannelSource> {
 public:
  // `length`: the body's declared length: after that many bytes the source reports End without
  // waiting for the writer to finish (and drains the channel, so later writes fail Closed).
  // `resume` runs on `loop` when frames arrive after read() said Wait.
  static std::shared_ptr<ChannelSource> create(boost::asio::io_context& loop,
                                               std::shared_ptr<Channel> channel,
                                               std::optional<uint64_t> length,
                                               std::function<void()> resume);
  ~ChannelSource() override;

  Chunk read(std::span<uint8_t> out) override;
  // The network side is done with the stream (sent, or the peer went away): the channel closes,
  // so the guest's writes fail Closed.
  void close();

 private:
  ChannelSource(std::shared_ptr<Channel> channel, std::optional<uint64_t> length,
                std::function<void()> resume);
  std::shared_ptr<Channel> channel_;
  std::shared_ptr<ChannelReader> reader_;
  std::optional<uint64_t> remaining_;
  std::function<void()> resume_;
  std::shared_ptr<LoopWake> wake_;
  Waiter waiter_;
  std::vector<uint8_t> pending_;  // a frame larger than the caller's buffer, being handed out
  std::size_t pending_pos_ = 0;
};

}  // namespace selium::kernel
