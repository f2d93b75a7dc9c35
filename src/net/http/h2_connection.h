// HTTP/2 server connections over nghttp2: one Exchange per stream, with flow control as the
// request body's backpressure. H2Session is the transport-free core (bytes in, bytes out) that
// the TLS connection (startH2Connection, connection.h) and the fuzz target drive the same way.
// Loop thread only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "net/http/connection.h"
#include "net/http/exchange.h"
#include "util/result.h"

namespace selium::net::http {

// One HTTP/2 server session: parses the client's frames, hands each complete request head to the
// handler as an Exchange, and turns the exchanges' responses into frames. It never touches a
// socket; its owner feeds it what the peer sent and writes what it produces.
class H2Session {
 public:
  using Clock = std::chrono::steady_clock;

  // `loop` runs the exchanges' timers (response and body timeouts) and is what
  // Exchange::loop() returns.
  static std::unique_ptr<H2Session> create(boost::asio::io_context& loop, ServerLimits limits,
                                           RequestHandler handler, PeerInfo peer);
  // Exchanges still open are reset: their consumers see end(false), onFinished(false) runs.
  virtual ~H2Session() = default;

  // Queues the server's SETTINGS (and connection window). Call once, first.
  virtual Status start() = 0;
  // Takes everything the peer sent. An error (naming the cause) means the connection must end:
  // produce() then gives the GOAWAY, if any, to send before closing.
  virtual Status receive(std::span<const uint8_t> bytes) = 0;
  // Appends frames to send to `out`, about `max_bytes` at most (one frame may go past it);
  // returns how many bytes it appended. Zero: nothing to send now.
  virtual std::size_t produce(std::vector<uint8_t>& out, std::size_t max_bytes) = 0;
  // False when the session has nothing more to read or write (GOAWAY done, fatal error).
  virtual bool alive() const = 0;
  // Resets every open exchange and queues GOAWAY with `error_code` (an HTTP/2 error code);
  // nothing is sent after it. Idempotent.
  virtual void shutdown(uint32_t error_code) = 0;
  // The HTTP/2 error code the last receive() error calls for in GOAWAY.
  virtual uint32_t failureCode() const = 0;

  // Runs (possibly from inside an exchange's call, never from inside nghttp2) when produce()
  // has something new to give; the owner schedules a write.
  virtual void setOutputWanted(std::function<void()> callback) = 0;

  // For the owner's connection timers.
  virtual std::size_t openStreams() const = 0;  // streams begun by the peer and not closed
  virtual bool sawRequest() const = 0;          // a request head has arrived (whole)
  // When the header block being received (HEADERS + CONTINUATION) began; nullopt if none is.
  virtual std::optional<Clock::time_point> headerBlockSince() const = 0;
  // When the last stream closed (or the session started); meaningful with openStreams() == 0.
  virtual Clock::time_point idleSince() const = 0;
  // Exchanges handed to the handler that the application still holds (finished or not).
  virtual std::size_t liveExchanges() const = 0;
};

// Limits of one session that the ServerLimits do not give, fixed here.
struct H2Tuning {
  static constexpr int32_t kStreamWindow = 256 << 10;    // SETTINGS_INITIAL_WINDOW_SIZE
  static constexpr int32_t kConnectionWindow = 1 << 20;  // connection-level receive window
  // Request body bytes buffered on one connection (all streams) before the connection-level
  // credit is withheld too; so at most this plus kConnectionWindow are held per connection.
  static constexpr std::size_t kBufferedBodyCap = 1 << 20;
  // Exchanges the application may hold per allowed stream before new streams are refused.
  static constexpr std::size_t kLiveExchangesPerStream = 4;
  // Peer RST_STREAM and empty DATA frames: a token bucket (rapid reset, empty-frame floods).
  static constexpr double kResetBurst = 1000;
  static constexpr double kResetsPerSecond = 100;
  static constexpr std::size_t kWriteChunk = 64 << 10;  // one coalesced write
};

}  // namespace selium::net::http
