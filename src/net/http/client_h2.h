// The HTTP client's HTTP/2 side over nghttp2: H2ClientSession is the transport-free core (the
// server's bytes in, ours out) that the TLS connection (startH2ClientConnection,
// client_connection.h) and the fuzz target drive the same way. Loop thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "net/http/client_connection.h"
#include "util/result.h"

namespace selium::net::http {

// One HTTP/2 client session: turns exchanges into streams (request head and body out, response
// head and body in, with flow control as the response body's backpressure). It never touches a
// socket or a timer; its owner feeds it what the server sent, writes what it produces, and calls
// expire() at nextDeadline().
class H2ClientSession {
 public:
  using Clock = std::chrono::steady_clock;

  // `peer` names the server in error messages ("127.0.0.1:443").
  static std::unique_ptr<H2ClientSession> create(ClientLimits limits, std::string peer);
  // Exchanges still running finish with end(false) ("the connection is gone").
  virtual ~H2ClientSession() = default;

  // Queues the connection preface and our SETTINGS. Call once, first.
  virtual Status start() = 0;
  // Takes everything the server sent. An error (naming the cause) means the connection must
  // end: every exchange has finished with it, and produce() gives the GOAWAY to send.
  virtual Status receive(std::span<const uint8_t> bytes) = 0;
  // Appends frames to send to `out`, about `max_bytes` at most (one frame may go past it);
  // returns how many bytes it appended. Zero: nothing to send now.
  virtual std::size_t produce(std::vector<uint8_t>& out, std::size_t max_bytes) = 0;
  // False when the session has nothing more to read or write (GOAWAY done, fatal error).
  virtual bool alive() const = 0;

  // ClientConnection::canStart() / reusable(), as far as the session knows.
  virtual bool canStart() const = 0;
  virtual bool reusable() const = 0;
  // Submits the exchange's request as a new stream (the caller has bound the exchange to its
  // connection). An exchange that cannot start (already finished, no stream id left) finishes
  // with the reason.
  virtual void startExchange(std::shared_ptr<detail::ClientExchangeImpl> exchange) = 0;
  // Looks at every running exchange after the application changed something (consumer set,
  // resumeBody, resumeRequest, reset): what ClientConnection::wake() posts.
  virtual void poll() = 0;
  // The earliest per-stream deadline (response, body, request body stalled by flow control).
  virtual std::optional<Clock::time_point> nextDeadline() const = 0;
  // Resets, with the reason, the streams whose deadline is at or before `now`.
  virtual void expire(Clock::time_point now) = 0;

  // Ends the session: every exchange still running finishes with `reason` (bodies that arrived
  // whole stay with their exchanges until the consumers take them), GOAWAY with `error_code`
  // is queued and nothing is sent after it. Idempotent.
  virtual void shutdown(uint32_t error_code, const std::string& reason) = 0;
  // The HTTP/2 error code the last receive() error calls for in GOAWAY.
  virtual uint32_t failureCode() const = 0;

  // Run (never from inside nghttp2) when produce() has something new to give, and when the
  // connection can take more exchanges or stopped being reusable (an exchange finished, SETTINGS
  // raised the limit, GOAWAY). The owner posts its write and ClientConnectionEvents::on_ready.
  virtual void setOutputWanted(std::function<void()> callback) = 0;
  virtual void setReady(std::function<void()> callback) = 0;

  // Exchanges started and not yet finished.
  virtual std::size_t runningExchanges() const = 0;
};

// Limits of one session that ClientLimits does not give, fixed here.
struct H2ClientTuning {
  static constexpr int32_t kStreamWindow = 256 << 10;    // SETTINGS_INITIAL_WINDOW_SIZE
  static constexpr int32_t kConnectionWindow = 1 << 20;  // connection-level receive window
  // Response body bytes buffered on one connection (all streams) before the connection-level
  // credit is withheld too; so at most this plus kConnectionWindow are held per connection.
  static constexpr std::size_t kBufferedBodyCap = 1 << 20;
  // Streams at once, whatever the server allows.
  static constexpr uint32_t kMaxConcurrentStreams = 256;
  // Frames that carry nothing for an exchange (PING, SETTINGS, PRIORITY, empty DATA, unknown
  // types, RST_STREAM): a token bucket, past which the server is flooding us.
  static constexpr double kControlBurst = 1000;
  static constexpr double kControlPerSecond = 100;
  static constexpr std::size_t kWriteChunk = 64 << 10;  // one coalesced write
};

}  // namespace selium::net::http
