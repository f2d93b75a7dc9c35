// Byte streams with backpressure, for every protocol here: HTTP bodies (net/http/exchange.h) and
// QUIC streams (net/quic/). The owner of the stream (an Exchange, a QUIC stream) has the resume
// functions; consumers and producers call them, on the owner's loop thread, when they are ready
// again. src/kernel/drivers/net/ implements both over kernel channels for guests.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace selium::net {

// Bytes from the network to the application.
class ByteConsumer {
 public:
  virtual ~ByteConsumer() = default;
  // Takes a prefix of `bytes` and returns how many it took. Fewer than offered: full; the
  // protocol offers the rest (and reads more from the peer) only after the owner's resume call
  // (HTTP: Exchange::resumeBody()). Meanwhile the peer is held back (TCP: nothing more is read
  // from the socket; HTTP/2 and QUIC: no flow-control credit is given back).
  virtual std::size_t offer(std::span<const uint8_t> bytes) = 0;
  // The stream ended: complete (every byte offered and taken, the peer finished it cleanly), or
  // cut short (the peer went away, reset the stream, or sent something malformed). Called once;
  // no offer() after it.
  virtual void end(bool complete) = 0;
};

// Bytes from the application to the network.
class ByteProducer {
 public:
  virtual ~ByteProducer() = default;
  enum class State : uint8_t {
    Data,   // `size` bytes copied into `out` (size > 0)
    Wait,   // nothing now; the producer calls the owner's resume function when it has more
    End,    // the stream is complete (nothing copied): finish it cleanly (FIN, END_STREAM, ...)
    Abort,  // the application failed mid-stream: reset the stream / close the connection
  };
  struct Chunk {
    State state = State::Wait;
    std::size_t size = 0;
  };
  // Copies up to out.size() bytes into `out`. Called on the owner's loop thread.
  virtual Chunk read(std::span<uint8_t> out) = 0;
};

// A whole body given at once.
class StaticBytes final : public ByteProducer {
 public:
  // `keep`: held as long as the bytes are (a budget token that counts them, say).
  explicit StaticBytes(std::vector<uint8_t> bytes, std::shared_ptr<void> keep = nullptr)
      : bytes_(std::move(bytes)), keep_(std::move(keep)) {}
  Chunk read(std::span<uint8_t> out) override {
    if (pos_ == bytes_.size()) return {State::End, 0};
    const std::size_t n = std::min(out.size(), bytes_.size() - pos_);
    std::memcpy(out.data(), bytes_.data() + pos_, n);
    pos_ += n;
    return {State::Data, n};
  }

 private:
  std::vector<uint8_t> bytes_;
  std::size_t pos_ = 0;
  std::shared_ptr<void> keep_;
};

}  // namespace selium::net
