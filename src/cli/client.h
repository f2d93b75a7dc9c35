// The control-plane client the `selium` CLI uses: one QUIC connection (mutual TLS with the cert
// dir's ca.crt, client.crt and client.key) and one bidirectional stream per request
// (schemas/control.fbs). Everything runs on the caller's thread: calls run the event loop until
// what they wait for has happened or their deadline has passed.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "control/protocol.h"
#include "net/quic/quic.h"

namespace selium::cli {

struct ConnectOptions {
  std::string host;
  uint16_t port = 0;
  std::filesystem::path cert_dir;  // ca.crt (required), client.crt + client.key
  std::chrono::milliseconds timeout{15000};
};

// One request's stream: the response frames as they arrive, then how the stream ended.
class Call : public net::ByteConsumer, public net::ByteProducer {
 public:
  // Bytes received, split into frames (at most control::kMaxResponseBytes each).
  std::size_t offer(std::span<const uint8_t> bytes) override;
  void end(bool complete) override;
  Chunk read(std::span<uint8_t> out) override;

  // Queues a frame to send.
  void sendFrame(std::span<const uint8_t> payload);
  // Queues bytes to send as they are.
  void sendRaw(std::span<const uint8_t> bytes);
  // Sends FIN after what is queued.
  void finish();
  // The next frame received, if any.
  std::optional<std::vector<uint8_t>> takeFrame();
  bool ended() const { return ended_; }
  bool endedCleanly() const { return complete_; }
  // A frame announced too long or a stream that ended mid-frame.
  const std::string& framingError() const { return framing_error_; }
  std::size_t queuedBytes() const { return out_.size() - out_pos_; }

  std::weak_ptr<net::quic::Stream> stream;

 private:
  control::FrameDecoder frames_{control::kMaxResponseBytes};
  std::deque<std::vector<uint8_t>> received_;
  std::vector<uint8_t> out_;
  std::size_t out_pos_ = 0;
  bool finish_ = false;
  bool ended_ = false;
  bool complete_ = false;
  std::string framing_error_;
};

class Client {
 public:
  // Connects (handshake included). An error says what failed and how to fix it.
  static control::Outcome<std::unique_ptr<Client>> connect(const ConnectOptions& options);
  ~Client();

  // Opens a stream and sends `request` (FIN after it unless `keep_open`). While the server's
  // limit of streams at once is reached, waits (bounded) for it to allow another.
  control::Outcome<std::shared_ptr<Call>> open(const control::Request& request, bool keep_open);
  // Opens a stream and sends `bytes` as they are (tests of the server's defences).
  control::Outcome<std::shared_ptr<Call>> openRaw(std::span<const uint8_t> bytes, bool keep_open);

  // Runs the loop until the call has a frame (returned), the stream or connection ends, the
  // deadline passes, or stop() (nullopt; why() says which).
  std::optional<std::vector<uint8_t>> nextFrame(Call& call,
                                                std::optional<std::chrono::milliseconds> timeout);
  // Waits for `call`'s response frame and decodes it.
  control::Outcome<control::Response> response(Call& call, std::chrono::milliseconds timeout);
  // Runs the loop until `call` ends (or the deadline / stop()).
  void waitEnd(Call& call, std::optional<std::chrono::milliseconds> timeout);
  // Queued bytes were taken by the transport (runs the loop until the call has none queued).
  void flush(Call& call, std::chrono::milliseconds timeout);

  // Sends an empty frame on `call` every `period` while the loop runs (streaming requests keep
  // the connection from going idle).
  void keepAlive(const std::shared_ptr<Call>& call, std::chrono::milliseconds period);

  // Makes the running wait return (from a signal handler on the loop).
  void stop() { stopped_ = true; }
  bool stopped() const { return stopped_; }
  // Why the last wait returned without what it waited for.
  const std::string& why() const { return why_; }
  boost::asio::io_context& loop() { return loop_; }
  std::string peer() const { return host_ + ":" + std::to_string(port_); }
  void close();

 private:
  Client() = default;
  bool runUntil(const std::function<bool()>& done,
                std::optional<std::chrono::milliseconds> timeout);

  boost::asio::io_context loop_;
  std::shared_ptr<net::quic::Connection> connection_;
  std::string closed_reason_;
  bool closed_ = false;
  bool stopped_ = false;
  std::string why_;
  std::string host_;
  uint16_t port_ = 0;
  uint64_t next_id_ = 1;
  uint64_t stream_credits_ = 0;  // times the server raised its stream limit
  std::chrono::milliseconds timeout_{15000};
  std::unique_ptr<boost::asio::steady_timer> keep_alive_;
  std::shared_ptr<std::function<void()>> keep_alive_tick_;
};

}  // namespace selium::cli
