// Fuzz target for the HTTP/2 server session (net/http/h2_connection.h): arbitrary bytes after a
// valid client preface go through H2Session::receive/produce, the same path a TLS connection
// takes. The handler answers by stream: a body (with pauses), an echo through a consumer that
// takes a little at a time, a reset, no answer, an answer without body. Beyond "no crash": every
// consumer ends once, every exchange's onFinished runs once and at most once, what one produce()
// gives is bounded, the application never holds more exchanges than the session allows, and
// once the session is gone every exchange is finished.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "net/http/h2_connection.h"

namespace {

using namespace selium::net;
using namespace selium::net::http;

void check(bool condition) {
  if (!condition) std::abort();
}

constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint8_t kEmptySettings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};

struct Counts {
  int consumers_made = 0;
  int consumers_ended = 0;
  int finishes = 0;
  int exchanges = 0;
};

class SlowConsumer : public ByteConsumer {
 public:
  SlowConsumer(Counts& counts, std::weak_ptr<Exchange> exchange)
      : counts_(counts), exchange_(std::move(exchange)) {
    ++counts_.consumers_made;
  }
  std::size_t offer(std::span<const uint8_t> bytes) override {
    check(!ended_);
    check(!bytes.empty());
    std::size_t n = std::min<std::size_t>(bytes.size(), 100);
    taken_ += n;
    if (n < bytes.size()) {
      if (auto exchange = exchange_.lock()) {
        boost::asio::post(exchange->loop(), [weak = exchange_] {
          if (auto e = weak.lock()) e->resumeBody();
        });
      }
    }
    return n;
  }
  void end(bool complete) override {
    check(!ended_);
    ended_ = true;
    ++counts_.consumers_ended;
    if (!complete) return;
    if (auto exchange = exchange_.lock()) {
      ResponseHead head;
      head.content_length = 0;
      exchange->respond(head, nullptr);
    }
  }

 private:
  Counts& counts_;
  std::weak_ptr<Exchange> exchange_;
  std::size_t taken_ = 0;
  bool ended_ = false;
};

class PausingProducer : public ByteProducer {
 public:
  explicit PausingProducer(std::weak_ptr<Exchange> exchange) : exchange_(std::move(exchange)) {}
  Chunk read(std::span<uint8_t> out) override {
    if (left_ == 0) return {State::End, 0};
    if (++reads_ % 3 == 0) {
      if (auto exchange = exchange_.lock()) {
        boost::asio::post(exchange->loop(), [weak = exchange_] {
          if (auto e = weak.lock()) e->resumeResponse();
        });
      }
      return {State::Wait, 0};
    }
    std::size_t n = std::min<std::size_t>(out.size(), std::min<std::size_t>(left_, 700));
    std::memset(out.data(), 'r', n);
    left_ -= n;
    return {State::Data, n};
  }

 private:
  std::weak_ptr<Exchange> exchange_;
  std::size_t left_ = 3000;
  int reads_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  boost::asio::io_context loop;
  Counts counts;
  std::vector<std::shared_ptr<Exchange>> held;
  ServerLimits limits;
  limits.max_header_bytes = 2048;
  limits.max_headers = 20;
  limits.max_body_bytes = 16384;
  limits.max_h2_streams = 8;

  auto handler = [&](std::shared_ptr<Exchange> exchange) {
    ++counts.exchanges;
    check(!exchange->head().method.empty());
    check(exchange->head().version == 20);
    exchange->onFinished([&counts](bool) { ++counts.finishes; });
    std::weak_ptr<Exchange> weak = exchange;
    switch (counts.exchanges % 5) {
      case 0: {
        ResponseHead head;
        head.headers = {{"X-Fuzz", "1"}, {"bad name", "x"}, {"ok", "bad\r\nvalue"}};
        head.content_length = 3000;
        check(exchange->respond(head, std::make_shared<PausingProducer>(weak)));
        check(!exchange->respond(head, nullptr));
        break;
      }
      case 1:
        exchange->setBodyConsumer(std::make_shared<SlowConsumer>(counts, weak));
        held.push_back(exchange);
        break;
      case 2:
        exchange->reset();
        check(exchange->finished());
        check(!exchange->respond(ResponseHead{}, nullptr));
        break;
      case 3:
        held.push_back(exchange);  // never answered
        break;
      default: {
        ResponseHead head;
        head.status = 204;
        check(exchange->respond(head, std::make_shared<PausingProducer>(weak)));
        break;
      }
    }
  };

  {
    auto session =
        H2Session::create(loop, limits, handler, PeerInfo{"fuzz:1", "fuzz:2", true, "h2", ""});
    check(session->start().ok());
    std::vector<uint8_t> out;
    constexpr std::size_t kBound = H2Tuning::kWriteChunk + (64 << 10);
    out.clear();
    check(session->produce(out, H2Tuning::kWriteChunk) <= kBound);

    std::vector<uint8_t> input(kPreface, kPreface + sizeof kPreface - 1);
    input.insert(input.end(), kEmptySettings, kEmptySettings + sizeof kEmptySettings);
    input.insert(input.end(), data, data + size);
    // Two pieces, so a frame can straddle receive() calls.
    std::size_t cut = size > 0 ? input.size() - size + data[0] % (size + 1) : input.size();
    for (auto piece : {std::span<const uint8_t>(input.data(), cut),
                       std::span<const uint8_t>(input.data() + cut, input.size() - cut)}) {
      if (!session->receive(piece).ok()) break;
      for (int round = 0; round < 16; ++round) {
        out.clear();
        check(session->produce(out, H2Tuning::kWriteChunk) <= kBound);
        loop.poll();
        loop.restart();
        if (out.empty()) break;
      }
      check(session->liveExchanges() <=
            std::size_t{limits.max_h2_streams} * H2Tuning::kLiveExchangesPerStream);
      check(session->openStreams() <= 2 * std::size_t{limits.max_h2_streams} + 2);
    }
    session->shutdown(0);
    out.clear();
    session->produce(out, H2Tuning::kWriteChunk);
  }
  // Complete bodies still buffered go to their consumers on resume, session or not.
  loop.restart();
  loop.poll();
  // The session is gone: every exchange the handler saw is finished, once.
  for (auto& exchange : held) check(exchange->finished());
  check(counts.finishes == counts.exchanges);
  check(counts.consumers_ended == counts.consumers_made);
  held.clear();
  if (std::getenv("H2_FUZZ_VERBOSE")) {
    std::fprintf(stderr, "exchanges %d consumers %d/%d finishes %d\n", counts.exchanges,
                 counts.consumers_ended, counts.consumers_made, counts.finishes);
  }
  return 0;
}
