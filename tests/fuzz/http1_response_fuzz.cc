// Fuzz target for the HTTP client's HTTP/1.1 connection (net/http/client_h1.cc): the input is
// everything a server sends on one connection (a socket pair's far end) while the client runs one
// to three requests on it, one after the other. The first byte picks the requests (how many,
// which are HEAD, which upload a body) and how the response consumers take their bytes (all at
// once, or a few at a time with a resume). Beyond "no crash" (and no leak, under ASan):
//  - every exchange finishes exactly once (onFinished), and its handler runs at most once;
//  - a delivered head keeps the rules: status 200-999, version 10 or 11, at most max_headers
//    fields, names lower-case, no connection-level field, no content-length field;
//  - a consumer gets no offer after end(), end() at most once, and never more bytes than the
//    server sent;
//  - the exchanges run in order: a later one never gets a head before an earlier one finished.
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/http/client_connection.h"
#include "net/http/http_util.h"

namespace {

using namespace selium::net;
using namespace selium::net::http;
using selium::Result;
namespace asio = boost::asio;

void checkAt(bool condition, int line) {
  if (condition) return;
  std::fprintf(stderr, "http1_response_fuzz: check failed at line %d\n", line);
  std::abort();
}
#define SELIUM_FUZZ_CHECK(condition) checkAt((condition), __LINE__)

ClientLimits fuzzLimits() {
  ClientLimits limits;
  limits.max_header_bytes = 1024;
  limits.max_headers = 16;
  // Timeouts never fire within one input: the run stops when nothing is left to do.
  return limits;
}

class Producer : public ByteProducer {
 public:
  explicit Producer(std::string data) : data_(std::move(data)) {}
  Chunk read(std::span<uint8_t> out) override {
    if (at_ == data_.size()) return {State::End, 0};
    std::size_t n = std::min({out.size(), data_.size() - at_, std::size_t{3}});
    std::memcpy(out.data(), data_.data() + at_, n);
    at_ += n;
    return {State::Data, n};
  }

 private:
  std::string data_;
  std::size_t at_ = 0;
};

struct Record {
  int handler_calls = 0;
  int finished_calls = 0;
  bool head = false;
  std::size_t offered = 0;
  bool ended = false;
};

// Takes at most `room` bytes per offer (0: all), then asks to be offered again.
class Consumer : public ByteConsumer {
 public:
  Consumer(asio::io_context& loop, Record& record, std::size_t room)
      : loop_(loop), record_(record), room_(room) {}
  std::size_t offer(std::span<const uint8_t> bytes) override {
    SELIUM_FUZZ_CHECK(!record_.ended);
    std::size_t took = room_ == 0 ? bytes.size() : std::min(room_, bytes.size());
    record_.offered += took;
    if (took < bytes.size()) {
      asio::post(loop_, [exchange = exchange] {
        if (auto e = exchange.lock()) e->resumeBody();
      });
    }
    return took;
  }
  void end(bool) override {
    SELIUM_FUZZ_CHECK(!record_.ended);
    record_.ended = true;
  }
  std::weak_ptr<ClientExchange> exchange;

 private:
  asio::io_context& loop_;
  Record& record_;
  std::size_t room_;
};

void checkResponse(const ClientResponse& response) {
  SELIUM_FUZZ_CHECK(response.head.status >= 200 && response.head.status <= 999);
  SELIUM_FUZZ_CHECK(response.version == 10 || response.version == 11);
  SELIUM_FUZZ_CHECK(response.head.headers.size() <= fuzzLimits().max_headers);
  for (const auto& h : response.head.headers) {
    SELIUM_FUZZ_CHECK(toLowerAscii(h.name) == h.name);
    SELIUM_FUZZ_CHECK(!isConnectionLevelHeader(h.name) && h.name != "content-length");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size < 1 || size > 64 * 1024) return 0;
  static asio::io_context loop;
  const uint8_t options = data[0];
  ++data;
  --size;
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) != 0) std::abort();
  int server = fds[1];

  bool closed = false;
  std::shared_ptr<detail::ClientConnection> connection;
  std::vector<std::shared_ptr<detail::ClientExchangeImpl>> exchanges;
  std::vector<Record> records(1 + options % 3);
  std::size_t next = 0;

  auto pump = [&] {
    while (connection && next < exchanges.size() && connection->canStart()) {
      connection->start(exchanges[next++]);
    }
  };
  for (std::size_t i = 0; i < records.size(); ++i) {
    RequestHead head;
    head.method = (options >> (2 + i)) & 1 ? "HEAD" : "GET";
    head.target = "/" + std::to_string(i);
    head.authority = "fuzz";
    head.scheme = "http";
    std::shared_ptr<ByteProducer> body;
    head.content_length = 0;
    if ((options >> 5) & 1 && i == 0) {
      head.method = "POST";
      head.content_length = (options >> 6) & 1 ? std::optional<uint64_t>{} : 5;
      body = std::make_shared<Producer>("hello");
    }
    Record& record = records[i];
    record.head = head.method == "HEAD";
    auto exchange = std::make_shared<detail::ClientExchangeImpl>(
        loop, std::move(head), std::move(body),
        [&record, &records, i](Result<ClientResponse> response) {
          ++record.handler_calls;
          SELIUM_FUZZ_CHECK(record.handler_calls == 1);
          if (!response) return;
          checkResponse(response.value());
          // In order: every earlier exchange is over.
          std::size_t over = 0;
          for (std::size_t j = 0; j < i; ++j) over += records[j].finished_calls;
          SELIUM_FUZZ_CHECK(over == i);
        });
    auto consumer = std::make_shared<Consumer>(loop, record, (options >> 7) & 1 ? 1 + i * 5 : 0);
    consumer->exchange = exchange;
    exchange->setBodyConsumer(consumer);
    exchange->onFinished([&record](bool) { ++record.finished_calls; });
    exchanges.push_back(std::move(exchange));
  }

  detail::ClientConnectionContext context;
  context.loop = &loop;
  context.limits = fuzzLimits();
  context.info.remote_address = "127.0.0.1:1";
  context.origin = "fuzz:80";
  context.events.on_ready = [&] { pump(); };
  context.events.on_closed = [&] { closed = true; };
  // The connection only reads, writes and closes: a socket pair stands in for TCP.
  TcpSocket socket(loop);
  boost::system::error_code ec;
  socket.assign(asio::ip::tcp::v4(), fds[0], ec);
  SELIUM_FUZZ_CHECK(!ec);
  connection = detail::startH1ClientConnection(std::move(socket), std::move(context));
  pump();

  // The server's bytes come in segments separated by "@@@": segment i goes out once request i
  // has started and every one before it is over (as a server answers without pipelining); the
  // last segment takes the rest. After everything, the server shuts its sending side.
  std::vector<std::string_view> segments;
  {
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    while (segments.size() + 1 < records.size()) {
      auto at = rest.find("@@@");
      if (at == std::string_view::npos) break;
      segments.push_back(rest.substr(0, at));
      rest.remove_prefix(at + 3);
    }
    segments.push_back(rest);
  }
  std::size_t segment = 0;
  std::size_t written = 0;  // of the current segment
  bool shut = false;
  int quiet_rounds = 0;
  auto mayGo = [&](std::size_t i) {
    if (i >= next) return false;
    for (std::size_t j = 0; j < i; ++j) {
      if (!exchanges[j]->finished()) return false;
    }
    return true;
  };
  while (quiet_rounds < 3) {
    bool progress = false;
    if (segment < segments.size() && mayGo(segment)) {
      auto bytes = segments[segment];
      if (written < bytes.size()) {
        ssize_t n = ::send(server, bytes.data() + written, bytes.size() - written, MSG_NOSIGNAL);
        if (n > 0) written += static_cast<std::size_t>(n), progress = true;
      }
      if (written == bytes.size()) {
        ++segment;
        written = 0;
        progress = true;
      }
    } else if (segment == segments.size() && !shut) {
      ::shutdown(server, SHUT_WR);  // the end of a close-delimited body
      shut = true;
      progress = true;
    }
    if (loop.stopped()) loop.restart();  // it stops whenever it runs out of work
    if (loop.poll() > 0) progress = true;
    char chunk[8192];
    while (::recv(server, chunk, sizeof chunk, 0) > 0) progress = true;  // the requests
    if (closed) break;
    quiet_rounds = progress ? 0 : quiet_rounds + 1;
  }
  ::close(server);
  connection->close("the fuzz run is over");
  // Exchanges never started are not the connection's: finish them as the Client would.
  for (auto& exchange : exchanges) exchange->finish(false, "not run");
  loop.restart();
  while (loop.poll() > 0) {
  }
  connection.reset();
  loop.restart();
  while (loop.poll() > 0) {
  }
  loop.restart();

  for (const auto& record : records) {
    SELIUM_FUZZ_CHECK(record.finished_calls == 1);
    SELIUM_FUZZ_CHECK(record.handler_calls <= 1);
    SELIUM_FUZZ_CHECK(record.offered <= size);
    if (record.head) SELIUM_FUZZ_CHECK(record.offered == 0);
  }
  return 0;
}
