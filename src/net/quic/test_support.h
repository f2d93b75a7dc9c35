// Helpers for the QUIC tests: certificates in temp dirs, bounded loop runs, and byte consumers and
// producers that record, pause, echo and generate patterns.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "net/quic/quic.h"

namespace selium::net::quic::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A CA with a server and a client certificate (util::generateCerts), as PEM text.
struct Certs {
  std::filesystem::path dir;
  std::string ca, server_cert, server_key, client_cert, client_key;
  Identity identity(std::vector<std::string> names) const {
    return Identity{std::move(names), server_cert, server_key};
  }
};
Certs makeCerts(const std::filesystem::path& dir, const std::string& server_name = "localhost",
                const std::string& client_name = "client.localhost");

std::string readFile(const std::filesystem::path& path);

// Runs the loop until `done()` or `timeout`; true if done.
bool runUntil(boost::asio::io_context& loop, const std::function<bool()>& done,
              std::chrono::milliseconds timeout = std::chrono::seconds(20));

// Byte i of a pattern stream (so large transfers are checked without storing them).
inline uint8_t patternByte(uint64_t i) {
  return static_cast<uint8_t>((i * 131 + (i >> 13)) & 0xff);
}

// Keeps what it is offered; can be told to take nothing until resumed.
class Collector : public ByteConsumer {
 public:
  std::size_t offer(std::span<const uint8_t> bytes) override;
  void end(bool complete) override;

  std::string data;
  bool ended = false;
  bool complete = false;
  bool paused = false;
  std::size_t offers_while_paused = 0;
};

// Checks a pattern stream as it arrives; pauses once at `pause_at` bytes until resume().
class PatternChecker : public ByteConsumer {
 public:
  std::size_t offer(std::span<const uint8_t> bytes) override;
  void end(bool complete) override;

  uint64_t received = 0;
  uint64_t mismatches = 0;
  uint64_t pause_at = UINT64_MAX;
  bool paused = false;
  bool ended = false;
  bool complete = false;
};

// Sends fixed bytes, then ends (or aborts, or waits forever).
class BytesProducer : public ByteProducer {
 public:
  enum class Then { End, Abort, Wait };
  BytesProducer(std::string bytes, Then then) : bytes_(std::move(bytes)), then_(then) {}
  Chunk read(std::span<uint8_t> out) override;
  void setThen(Then then) { then_ = then; }

 private:
  std::string bytes_;
  std::size_t sent_ = 0;
  Then then_;
};

// Sends `size` pattern bytes, then ends.
class PatternProducer : public ByteProducer {
 public:
  explicit PatternProducer(uint64_t size) : size_(size) {}
  Chunk read(std::span<uint8_t> out) override;

 private:
  uint64_t size_;
  uint64_t sent_ = 0;
};

// Sends back what a stream receives (bounded buffer, real backpressure both ways), then ends the
// same way the peer did.
class Echo : public ByteConsumer, public ByteProducer {
 public:
  static void attach(const std::shared_ptr<Stream>& stream);
  std::size_t offer(std::span<const uint8_t> bytes) override;
  void end(bool complete) override;
  Chunk read(std::span<uint8_t> out) override;

 private:
  static constexpr std::size_t kLimit = 256 * 1024;
  std::weak_ptr<Stream> stream_;
  std::string buffer_;
  bool ended_ = false;
  bool complete_ = false;
  bool receive_paused_ = false;
  bool send_waiting_ = false;
};

// A server endpoint on 127.0.0.1:0 whose connections echo every stream.
struct EchoServer {
  std::shared_ptr<Endpoint> endpoint;
  std::vector<std::shared_ptr<Connection>> connections;
};
std::unique_ptr<EchoServer> startEchoServer(boost::asio::io_context& loop, ServerTls tls,
                                            Limits limits = {});

// Connects and waits (bounded); the result of the attempt.
Result<std::shared_ptr<Connection>> connectAndWait(boost::asio::io_context& loop,
                                                   const std::string& host, uint16_t port,
                                                   ClientTls tls, Limits limits = {});

}  // namespace selium::net::quic::testing
