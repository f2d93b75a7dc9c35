#include "net/quic/test_support.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "util/certs.h"

namespace selium::net::quic::testing {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "selium-quic-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Certs makeCerts(const std::filesystem::path& dir, const std::string& server_name,
                const std::string& client_name) {
  util::CertOptions options;
  options.output_dir = dir;
  options.server_name = server_name;
  options.client_name = client_name;
  auto written = util::generateCerts(options);
  if (!written) throw std::runtime_error(written.error().message);
  Certs certs;
  certs.dir = dir;
  certs.ca = readFile(dir / "ca.crt");
  certs.server_cert = readFile(dir / "server.crt");
  certs.server_key = readFile(dir / "server.key");
  certs.client_cert = readFile(dir / "client.crt");
  certs.client_key = readFile(dir / "client.key");
  return certs;
}

bool runUntil(boost::asio::io_context& loop, const std::function<bool()>& done,
              std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (loop.stopped()) loop.restart();
    loop.run_for(std::chrono::milliseconds(5));
  }
  return true;
}

std::size_t Collector::offer(std::span<const uint8_t> bytes) {
  if (paused) {
    ++offers_while_paused;
    return 0;
  }
  data.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return bytes.size();
}

void Collector::end(bool is_complete) {
  EXPECT_FALSE(ended) << "end() called twice";
  ended = true;
  complete = is_complete;
}

std::size_t PatternChecker::offer(std::span<const uint8_t> bytes) {
  if (paused) return 0;
  std::size_t take = bytes.size();
  if (received < pause_at && received + take >= pause_at) {
    take = static_cast<std::size_t>(pause_at - received);
    paused = true;
  }
  for (std::size_t i = 0; i < take; ++i) {
    if (bytes[i] != patternByte(received + i)) ++mismatches;
  }
  received += take;
  return take;
}

void PatternChecker::end(bool is_complete) {
  EXPECT_FALSE(ended) << "end() called twice";
  ended = true;
  complete = is_complete;
}

ByteProducer::Chunk BytesProducer::read(std::span<uint8_t> out) {
  if (sent_ < bytes_.size()) {
    const std::size_t n = std::min(out.size(), bytes_.size() - sent_);
    std::memcpy(out.data(), bytes_.data() + sent_, n);
    sent_ += n;
    return {State::Data, n};
  }
  switch (then_) {
    case Then::End:
      return {State::End, 0};
    case Then::Abort:
      return {State::Abort, 0};
    case Then::Wait:
      return {State::Wait, 0};
  }
  return {State::Wait, 0};
}

ByteProducer::Chunk PatternProducer::read(std::span<uint8_t> out) {
  if (sent_ == size_) return {State::End, 0};
  const std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(out.size(), size_ - sent_));
  for (std::size_t i = 0; i < n; ++i) out[i] = patternByte(sent_ + i);
  sent_ += n;
  return {State::Data, n};
}

void Echo::attach(const std::shared_ptr<Stream>& stream) {
  auto echo = std::make_shared<Echo>();
  echo->stream_ = stream;
  stream->setConsumer(echo);
  stream->setProducer(echo);
}

std::size_t Echo::offer(std::span<const uint8_t> bytes) {
  const std::size_t n = std::min(bytes.size(), kLimit - std::min(kLimit, buffer_.size()));
  buffer_.append(reinterpret_cast<const char*>(bytes.data()), n);
  if (n < bytes.size()) receive_paused_ = true;
  if (send_waiting_ && n > 0) {
    send_waiting_ = false;
    if (auto stream = stream_.lock()) stream->resumeSend();
  }
  return n;
}

void Echo::end(bool is_complete) {
  ended_ = true;
  complete_ = is_complete;
  if (send_waiting_) {
    send_waiting_ = false;
    if (auto stream = stream_.lock()) stream->resumeSend();
  }
}

ByteProducer::Chunk Echo::read(std::span<uint8_t> out) {
  if (buffer_.empty()) {
    if (ended_) return {complete_ ? State::End : State::Abort, 0};
    send_waiting_ = true;
    return {State::Wait, 0};
  }
  const std::size_t n = std::min(out.size(), buffer_.size());
  std::memcpy(out.data(), buffer_.data(), n);
  buffer_.erase(0, n);
  if (receive_paused_) {
    receive_paused_ = false;
    if (auto stream = stream_.lock()) stream->resumeReceive();
  }
  return {State::Data, n};
}

std::unique_ptr<EchoServer> startEchoServer(boost::asio::io_context& loop, ServerTls tls,
                                            Limits limits) {
  auto server = std::make_unique<EchoServer>();
  EchoServer* raw = server.get();
  auto endpoint = Endpoint::listen(
      loop, boost::asio::ip::udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0),
      std::move(tls), limits, [raw](std::shared_ptr<Connection> connection) {
        connection->onStream([](std::shared_ptr<Stream> stream) { Echo::attach(stream); });
        raw->connections.push_back(std::move(connection));
      });
  if (!endpoint) throw std::runtime_error(endpoint.error().message);
  server->endpoint = std::move(*endpoint);
  return server;
}

Result<std::shared_ptr<Connection>> connectAndWait(boost::asio::io_context& loop,
                                                   const std::string& host, uint16_t port,
                                                   ClientTls tls, Limits limits) {
  auto result = std::make_shared<std::optional<Result<std::shared_ptr<Connection>>>>();
  Endpoint::connect(loop, host, port, std::move(tls), limits,
                    [result](Result<std::shared_ptr<Connection>> r) { *result = std::move(r); });
  if (!runUntil(loop, [&] { return result->has_value(); })) {
    return Error{"connect did not finish in time"};
  }
  return std::move(**result);
}

}  // namespace selium::net::quic::testing
