// Fuzz target for the HTTP/1.1 connection (net/http/h1_connection.cc): the input is everything a
// client sends on one connection (a socket pair's far end), the application answers in ways
// picked from the request. Beyond "no crash" (and no leak, under ASan):
//  - every head that reaches the application keeps the limits (field count, head size, body
//    size) and the RequestHead rules (lower-case names, no connection-level header, origin-form
//    target, valid lower-case authority, version 10 or 11);
//  - no consumer gets more than max_body_bytes or anything after end();
//  - what the server writes is a sequence of well-formed HTTP/1.1 responses, never more than
//    one per request plus one error answer.
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "net/http/connection.h"
#include "net/http/http_util.h"

namespace {

using namespace selium::net;
using namespace selium::net::http;
namespace asio = boost::asio;

void check(bool condition) {
  if (!condition) std::abort();
}

ServerLimits fuzzLimits() {
  ServerLimits limits;
  limits.max_header_bytes = 1024;
  limits.max_headers = 16;
  limits.max_body_bytes = 2048;
  // Timeouts never fire within one input: the run stops when nothing is left to do.
  return limits;
}

class Producer : public ByteProducer {
 public:
  explicit Producer(std::string data) : data_(std::move(data)) {}
  Chunk read(std::span<uint8_t> out) override {
    if (at_ == data_.size()) return {State::End, 0};
    std::size_t n = std::min({out.size(), data_.size() - at_, std::size_t{7}});
    std::memcpy(out.data(), data_.data() + at_, n);
    at_ += n;
    return {State::Data, n};
  }

 private:
  std::string data_;
  std::size_t at_ = 0;
};

struct Stats {
  int requests = 0;
  std::vector<std::string> methods;  // of the requests handled, in order
};

class Consumer : public ByteConsumer {
 public:
  Consumer(std::weak_ptr<Exchange> exchange, bool streamed)
      : exchange_(std::move(exchange)), streamed_(streamed) {}
  std::size_t offer(std::span<const uint8_t> bytes) override {
    check(!ended_);
    total_ += bytes.size();
    check(total_ <= fuzzLimits().max_body_bytes);
    return bytes.size();
  }
  void end(bool complete) override {
    check(!ended_);
    ended_ = true;
    auto exchange = exchange_.lock();
    if (!exchange || !complete) return;
    ResponseHead head;
    head.status = 200;
    if (!streamed_) head.content_length = std::to_string(total_).size();
    exchange->respond(head, std::make_shared<Producer>(std::to_string(total_)));
  }

 private:
  std::weak_ptr<Exchange> exchange_;
  bool streamed_;
  bool ended_ = false;
  std::size_t total_ = 0;
};

void checkHead(const RequestHead& head) {
  ServerLimits limits = fuzzLimits();
  check(head.version == 10 || head.version == 11);
  check(!head.method.empty());
  check(head.target == "*" || (!head.target.empty() && head.target.front() == '/'));
  check(head.scheme == "http");
  check(isValidAuthority(head.authority) && toLowerAscii(head.authority) == head.authority);
  check(head.headers.size() <= limits.max_headers);
  std::size_t bytes = head.method.size() + head.target.size();
  for (const auto& h : head.headers) {
    check(toLowerAscii(h.name) == h.name && h.name != "host");
    check(!isConnectionLevelHeader(h.name));
    bytes += h.name.size() + h.value.size();
  }
  check(bytes <= limits.max_header_bytes);
  if (head.content_length) check(*head.content_length <= limits.max_body_bytes);
}

void handle(std::shared_ptr<Exchange> exchange, Stats& stats) {
  ++stats.requests;
  stats.methods.push_back(exchange->head().method);
  checkHead(exchange->head());
  const std::string& target = exchange->head().target;
  switch (target.size() % 5) {
    case 0: {  // answer at once, without reading the body
      ResponseHead head;
      head.status = 200;
      head.headers.push_back({"X-Target-Length", std::to_string(target.size())});
      check(exchange->respond(head, std::make_shared<Producer>(target)));
      check(!exchange->respond(head, nullptr));
      break;
    }
    case 1:  // read the body, then answer with its length
    case 2:
      exchange->setBodyConsumer(std::make_shared<Consumer>(exchange, target.size() % 5 == 2));
      break;
    case 3:
      exchange->reset();
      check(exchange->finished());
      check(!exchange->respond(ResponseHead{}, nullptr));
      break;
    case 4: {  // no body
      ResponseHead head;
      head.status = 204;
      check(exchange->respond(head, nullptr));
      break;
    }
  }
}

// Parses what the server wrote: complete responses (the i-th answers the i-th request handled,
// then maybe the host's error answer), then possibly one cut short.
int countResponses(const std::string& output, const std::vector<std::string>& methods) {
  namespace bhttp = boost::beast::http;
  int count = 0;
  std::string_view rest = output;
  while (!rest.empty()) {
    check(rest.substr(0, 9) == "HTTP/1.1 ");
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(1 << 20);
    if (static_cast<std::size_t>(count) < methods.size() && methods[count] == "HEAD") {
      parser.skip(true);
    }
    boost::system::error_code ec;
    std::size_t used = 0;
    while (!parser.is_done()) {
      std::size_t n = parser.put(asio::buffer(rest.data() + used, rest.size() - used), ec);
      used += n;
      if (ec == bhttp::error::need_more || (n == 0 && !ec)) break;
      check(!ec);
    }
    if (!parser.is_done()) break;  // the connection ended mid-response
    if (parser.get().result_int() != 100) ++count;
    rest.remove_prefix(used);
  }
  return count;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  static asio::io_context loop;
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) != 0) std::abort();
  int client = fds[1];

  Stats stats;
  bool closed = false;
  ConnectionContext context;
  context.loop = &loop;
  context.limits = fuzzLimits();
  context.handler = [&stats](std::shared_ptr<Exchange> exchange) {
    handle(std::move(exchange), stats);
  };
  context.peer.remote_address = "127.0.0.1:1";
  context.on_closed = [&closed] { closed = true; };
  // The connection only reads, writes and closes: a socket pair stands in for TCP.
  TcpSocket socket(loop);
  boost::system::error_code ec;
  socket.assign(asio::ip::tcp::v4(), fds[0], ec);
  check(!ec);
  auto connection = startH1Connection(std::move(socket), std::move(context));

  std::size_t written = 0;
  std::string output;
  int quiet_rounds = 0;
  while (quiet_rounds < 3) {
    bool progress = false;
    if (written < size) {
      ssize_t n = ::send(client, data + written, size - written, MSG_NOSIGNAL);
      if (n > 0) written += static_cast<std::size_t>(n), progress = true;
    }
    if (loop.poll() > 0) progress = true;
    char chunk[8192];
    ssize_t n;
    while ((n = ::recv(client, chunk, sizeof chunk, 0)) > 0) {
      output.append(chunk, static_cast<std::size_t>(n));
      progress = true;
    }
    if (closed && written == size) break;
    quiet_rounds = progress ? 0 : quiet_rounds + 1;
  }
  ::close(client);
  connection->close();
  while (loop.poll() > 0) {
  }
  connection.reset();
  while (loop.poll() > 0) {
  }
  loop.restart();

  int responses = countResponses(output, stats.methods);
  check(responses <= stats.requests + 1);
  return 0;
}
