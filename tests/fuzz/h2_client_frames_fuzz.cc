// Fuzz target for the HTTP/2 client session (net/http/client_h2.h): arbitrary bytes, after a
// valid server SETTINGS frame, go through H2ClientSession::receive/produce as the server's side of
// a connection, with three exchanges running: a GET whose consumer takes a little at a time, a
// POST whose body pauses (Wait, then resumeRequest), and a GET whose consumer is set late and
// which the application resets half-way. Beyond "no crash": every exchange finishes once, every
// consumer ends once and is never offered bytes after that, what one produce() gives is bounded,
// and once the session is gone every exchange is finished.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "net/http/client_h2.h"

namespace {

using namespace selium;
using namespace selium::net;
using namespace selium::net::http;
using detail::ClientExchangeImpl;

void check(bool condition) {
  if (!condition) std::abort();
}

constexpr uint8_t kEmptySettings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};

// Stands in for the socket driver: wake() only records that the session should look.
class FuzzConnection : public detail::ClientConnection {
 public:
  bool canStart() const override { return true; }
  bool reusable() const override { return true; }
  void start(std::shared_ptr<ClientExchangeImpl>) override {}
  void wake() override { woken = true; }
  void close(const std::string&) override {}
  const ClientConnectionInfo& info() const override { return info_; }
  bool woken = false;

 private:
  ClientConnectionInfo info_;
};

struct Counts {
  int consumers_ended = 0;
  int finishes = 0;
  int answers = 0;
};

class SlowConsumer : public ByteConsumer {
 public:
  SlowConsumer(Counts& counts, boost::asio::io_context& loop) : counts_(counts), loop_(loop) {}
  std::size_t offer(std::span<const uint8_t> bytes) override {
    check(!ended_);
    check(!bytes.empty());
    std::size_t n = std::min<std::size_t>(bytes.size(), 100);
    if (n < bytes.size()) {
      boost::asio::post(loop_, [exchange = exchange] {
        if (auto e = exchange.lock()) e->resumeBody();
      });
    }
    return n;
  }
  void end(bool) override {
    check(!ended_);
    ended_ = true;
    ++counts_.consumers_ended;
  }
  std::weak_ptr<ClientExchangeImpl> exchange;

 private:
  Counts& counts_;
  boost::asio::io_context& loop_;
  bool ended_ = false;
};

class PausingProducer : public ByteProducer {
 public:
  PausingProducer(boost::asio::io_context& loop) : loop_(loop) {}
  Chunk read(std::span<uint8_t> out) override {
    if (left_ == 0) return {State::End, 0};
    if (++reads_ % 3 == 0) {
      boost::asio::post(loop_, [exchange = exchange] {
        if (auto e = exchange.lock()) e->resumeRequest();
      });
      return {State::Wait, 0};
    }
    std::size_t n = std::min<std::size_t>(out.size(), std::min<std::size_t>(left_, 700));
    std::memset(out.data(), 'q', n);
    left_ -= n;
    return {State::Data, n};
  }
  std::weak_ptr<ClientExchangeImpl> exchange;

 private:
  boost::asio::io_context& loop_;
  std::size_t left_ = 3000;
  int reads_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  boost::asio::io_context loop;
  Counts counts;
  ClientLimits limits;
  limits.max_header_bytes = 2048;
  limits.max_headers = 20;
  auto connection = std::make_shared<FuzzConnection>();
  std::vector<std::shared_ptr<ClientExchangeImpl>> exchanges;
  std::vector<std::shared_ptr<SlowConsumer>> consumers;

  auto makeExchange = [&](const std::string& method, const std::string& target,
                          std::shared_ptr<ByteProducer> body, std::optional<uint64_t> length) {
    RequestHead head;
    head.method = method;
    head.target = target;
    head.authority = "fuzz.example:443";
    head.scheme = "https";
    head.version = 20;
    head.headers = {{"Accept", "*/*"}, {"x-fuzz", "1"}};
    head.content_length = length;
    auto exchange = std::make_shared<ClientExchangeImpl>(
        loop, head, std::move(body), [&counts](Result<ClientResponse> response) {
          ++counts.answers;
          if (response) {
            check(response->version == 20);
            check(response->head.status >= 200 && response->head.status <= 999);
          } else {
            check(!response.error().message.empty());
          }
        });
    exchange->onFinished([&counts](bool) { ++counts.finishes; });
    exchange->bind(connection);
    exchanges.push_back(exchange);
    return exchange;
  };
  auto addConsumer = [&](const std::shared_ptr<ClientExchangeImpl>& exchange) {
    auto consumer = std::make_shared<SlowConsumer>(counts, loop);
    consumer->exchange = exchange;
    consumers.push_back(consumer);
    exchange->setBodyConsumer(consumer);
  };

  {
    auto session = H2ClientSession::create(limits, "fuzz:443");
    check(session->start().ok());
    constexpr std::size_t kBound = H2ClientTuning::kWriteChunk + (64 << 10);
    std::vector<uint8_t> out;
    check(session->produce(out, H2ClientTuning::kWriteChunk) <= kBound);

    auto get = makeExchange("GET", "/a", nullptr, std::nullopt);
    addConsumer(get);
    auto producer = std::make_shared<PausingProducer>(loop);
    auto post = makeExchange("POST", "/b", producer,
                             size % 2 ? std::optional<uint64_t>(3000) : std::nullopt);
    producer->exchange = post;
    addConsumer(post);
    auto late = makeExchange("HEAD", "/c", nullptr, std::nullopt);
    session->startExchange(get);
    session->startExchange(post);
    session->startExchange(late);

    std::vector<uint8_t> input(kEmptySettings, kEmptySettings + sizeof kEmptySettings);
    input.insert(input.end(), data, data + size);
    // Two pieces, so a frame can straddle receive() calls; the application acts in between.
    std::size_t cut = size > 0 ? input.size() - size + data[0] % (size + 1) : input.size();
    int piece_number = 0;
    for (auto piece : {std::span<const uint8_t>(input.data(), cut),
                       std::span<const uint8_t>(input.data() + cut, input.size() - cut)}) {
      if (!session->receive(piece).ok()) break;
      if (piece_number++ == 0) {
        addConsumer(late);
        if (size > 1 && data[1] % 2) late->reset();
      }
      for (int round = 0; round < 16; ++round) {
        out.clear();
        check(session->produce(out, H2ClientTuning::kWriteChunk) <= kBound);
        loop.poll();
        loop.restart();
        bool woken = connection->woken;
        connection->woken = false;
        if (woken) session->poll();
        if (out.empty() && !woken) break;
      }
      check(session->runningExchanges() <= exchanges.size());
    }
    if (size > 2 && data[2] % 2)
      session->expire(H2ClientSession::Clock::now() + std::chrono::hours(1));
    session->shutdown(0, "fuzz over");
    out.clear();
    session->produce(out, H2ClientTuning::kWriteChunk);
    check(!session->canStart());
  }
  loop.restart();
  loop.poll();
  // The session is gone: every exchange is finished, once; every consumer ended once.
  for (auto& exchange : exchanges) check(exchange->finished());
  check(counts.finishes == static_cast<int>(exchanges.size()));
  check(counts.consumers_ended == static_cast<int>(consumers.size()));
  check(counts.answers <= static_cast<int>(exchanges.size()));
  return 0;
}
