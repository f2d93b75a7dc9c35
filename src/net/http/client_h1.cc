// The HTTP client's HTTP/1.1 connection (startH1ClientConnection of client_connection.h): one
// exchange at a time, no pipelining. The request head is written by us, its body pulled from the
// exchange's producer (Content-Length or chunked); the response is parsed by Boost.Beast's
// response_parser fed from our own bounded buffer, its body offered to the exchange's consumer
// with backpressure (nothing more is read from the socket while the consumer is full or unset).
//
// As on the server side (h1_connection.cc) the connection is a state machine driven by
// advance(): socket and timer completions call it directly; the application's calls reach it
// only through wake(), which posts it, so no application code runs inside another call.
#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "net/http/client_connection.h"
#include "net/http/http_util.h"

namespace selium::net::http::detail {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using ResponseParser = bhttp::response_parser<bhttp::buffer_body>;

// Bytes read from the socket at a time (into a chunk of its own, then the parse buffer).
constexpr std::size_t kReadChunk = 16384;
// Response body bytes decoded and offered to the consumer at a time.
constexpr std::size_t kBodyChunk = 16384;
// Request body bytes pulled from the producer at a time (one write).
constexpr std::size_t kWriteChunk = 16384;
// Interim (1xx) responses skipped before one request's final response; more is malformed.
constexpr int kMaxInterim = 16;

TcpSocket& lowestOf(TcpSocket& socket) { return socket; }
TcpSocket& lowestOf(std::unique_ptr<TlsStream>& stream) { return stream->next_layer(); }
TcpSocket& streamOf(TcpSocket& socket) { return socket; }
TlsStream& streamOf(std::unique_ptr<TlsStream>& stream) { return *stream; }

std::string_view sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

std::string clip(std::string_view text) {
  constexpr std::size_t kMax = 80;
  std::string out(text.substr(0, kMax));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  if (text.size() > kMax) out += "...";
  return out;
}

// Methods whose requests carry no body by definition: no "Content-Length: 0" for them
// (RFC 9110 8.6: a user agent should not send one).
bool bodylessMethod(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "DELETE" || method == "OPTIONS" ||
         method == "TRACE";
}

template <class Holder>
class H1ClientConnection final : public ClientConnection,
                                 public std::enable_shared_from_this<H1ClientConnection<Holder>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Holder, TcpSocket>;

  H1ClientConnection(Holder stream, ClientConnectionContext context)
      : stream_(std::move(stream)),
        loop_(*context.loop),
        limits_(context.limits),
        info_(std::move(context.info)),
        origin_(std::move(context.origin)),
        events_(std::move(context.events)),
        write_timer_(loop_),
        response_timer_(loop_),
        body_timer_(loop_) {
    if (origin_.empty()) origin_ = info_.remote_address;
    // Room for a head at its limit plus one read; chunk lines and trailers must fit here too.
    buffer_cap_ = std::max(limits_.max_header_bytes, kReadChunk) + kReadChunk;
    buffer_.max_size(buffer_cap_);
  }

  // Idle from the start: a read watches for the server closing (or sending unasked bytes).
  void begin() { startRead(); }

  bool canStart() const override { return phase_ == Phase::Idle && !ending_; }
  bool reusable() const override { return phase_ != Phase::Closed && !ending_; }

  void start(std::shared_ptr<ClientExchangeImpl> exchange) override {
    if (!exchange) return;
    if (!canStart()) {
      exchange->finish(false, "the connection to " + origin_ + " cannot take a request now");
      return;
    }
    phase_ = Phase::Exchange;
    cur_ = Current{};
    parser_.reset();
    exchange_ = std::move(exchange);
    exchange_->bind(this->weak_from_this());
    buildHead(exchange_->head());
    // Not now: the producer is application code, and start() runs inside the Client's send().
    schedule();
  }

  void wake() override {
    cur_.request_resumed = true;
    cur_.producer_waiting = false;
    cur_.body_resumed = true;
    cur_.body_paused = false;
    schedule();
  }

  void close(const std::string& reason) override {
    if (phase_ == Phase::Closed) return;
    auto self = this->shared_from_this();
    phase_ = Phase::Closed;
    ending_ = true;
    if (auto exchange = std::move(exchange_)) exchange->finish(false, reason);
    ++write_gen_;
    ++response_gen_;
    ++body_gen_;
    write_timer_.cancel();
    response_timer_.cancel();
    body_timer_.cancel();
    error_code ec;
    lowestOf(stream_).close(ec);
    if (auto on_closed = std::move(events_.on_closed)) {
      events_.on_closed = nullptr;
      asio::post(loop_, std::move(on_closed));
    }
  }

  const ClientConnectionInfo& info() const override { return info_; }

 private:
  enum class Phase : uint8_t {
    Idle,      // no exchange; a read watches for the server closing
    Exchange,  // a request going out and its response coming in (both at once)
    Closed,
  };
  enum class WriteKind : uint8_t { Part, Last };

  // State of the exchange in progress; reset by start().
  struct Current {
    // Request.
    std::string head;
    bool head_written = false;
    bool has_body = false;
    bool chunked = false;
    std::optional<uint64_t> remaining;  // body bytes still due under a content-length
    uint64_t body_sent = 0;
    bool producer_waiting = false;
    bool request_resumed = false;  // wake() since the last pull
    bool request_sent = false;     // every byte of the request was written
    bool send_stopped = false;     // the server answered early (or a write failed): send no more
    std::string send_error;        // why a write failed
    std::unique_ptr<uint8_t[]> out_chunk;
    std::array<char, 24> chunk_prefix{};
    WriteKind write_kind = WriteKind::Part;
    // Response.
    bool is_head = false;
    int interim = 0;
    bool head_received = false;
    bool keep_alive = false;
    bool body_done = false;  // the parser has the whole body
    bool need_input = false;
    bool body_paused = false;
    bool body_resumed = false;  // wake() since the last offer
    bool complete_pending = false;
    error_code body_error;  // malformed body after the bytes still to offer
    std::unique_ptr<uint8_t[]> body_chunk;
    std::size_t body_begin = 0;
    std::size_t body_end = 0;
  };

  void schedule() {
    if (scheduled_ || phase_ != Phase::Exchange) return;
    scheduled_ = true;
    asio::post(loop_, [self = this->shared_from_this()] {
      self->scheduled_ = false;
      self->advance();
    });
  }

  void advance() {
    if (phase_ != Phase::Exchange) return;
    if (exchange_->abandoned()) return close("reset by the application");
    pumpWrites();
    if (phase_ != Phase::Exchange) return;
    pumpResponse();
    if (phase_ != Phase::Exchange) return;
    maybeRead();
  }

  // --- The request.

  void buildHead(const RequestHead& head) {
    std::string& out = cur_.head;
    out.reserve(256);
    out += head.method;
    out += ' ';
    out += head.target;
    out += " HTTP/1.1\r\nHost: ";
    out += head.authority;
    out += "\r\n";
    for (const auto& h : head.headers) {
      out += h.name;
      out += ": ";
      out += h.value;
      out += "\r\n";
    }
    cur_.is_head = head.method == "HEAD";
    bool has_producer = exchange_->body() != nullptr;
    if (head.content_length) {
      if (*head.content_length > 0 || !bodylessMethod(head.method)) {
        out += "Content-Length: ";
        out += std::to_string(*head.content_length);
        out += "\r\n";
      }
      cur_.remaining = *head.content_length;
      cur_.has_body = has_producer && *head.content_length > 0;
    } else if (has_producer) {
      out += "Transfer-Encoding: chunked\r\n";
      cur_.chunked = true;
      cur_.has_body = true;
    }
    out += "\r\n";
  }

  void pumpWrites() {
    if (writing_ || cur_.request_sent || cur_.send_stopped) return;
    std::array<asio::const_buffer, 4> parts{};
    std::size_t n = 0;
    bool head_now = !cur_.head_written;
    if (head_now) parts[n++] = asio::buffer(cur_.head);
    if (!cur_.has_body) {
      cur_.head_written = true;
      return startWrite(WriteKind::Last, parts);
    }
    if (cur_.producer_waiting) {
      if (head_now) {
        cur_.head_written = true;
        startWrite(WriteKind::Part, parts);
      }
      return;
    }
    ByteProducer* producer = exchange_->body();
    if (!producer) return close("the request body is gone");
    if (!cur_.out_chunk) cur_.out_chunk = std::make_unique<uint8_t[]>(kWriteChunk);
    cur_.request_resumed = false;
    ByteProducer::Chunk chunk{ByteProducer::State::Abort, 0};
    try {
      chunk = producer->read({cur_.out_chunk.get(), kWriteChunk});
    } catch (...) {
      chunk = {ByteProducer::State::Abort, 0};
    }
    if (phase_ != Phase::Exchange || writing_) return;
    switch (chunk.state) {
      case ByteProducer::State::Data: {
        if (chunk.size == 0 || chunk.size > kWriteChunk) {
          return close("the request body's producer returned an invalid chunk size");
        }
        if (cur_.remaining) {
          if (chunk.size > *cur_.remaining) {
            return close("the request body is longer than its content-length of " +
                         std::to_string(*exchange_->head().content_length) + " bytes");
          }
          *cur_.remaining -= chunk.size;
        }
        cur_.body_sent += chunk.size;
        if (cur_.chunked) {
          int len = std::snprintf(cur_.chunk_prefix.data(), cur_.chunk_prefix.size(), "%zx\r\n",
                                  chunk.size);
          parts[n++] = asio::buffer(cur_.chunk_prefix.data(), static_cast<std::size_t>(len));
        }
        parts[n++] = asio::buffer(cur_.out_chunk.get(), chunk.size);
        if (cur_.chunked) parts[n++] = asio::buffer("\r\n", 2);
        cur_.head_written = true;
        return startWrite(WriteKind::Part, parts);
      }
      case ByteProducer::State::Wait:
        cur_.producer_waiting = !cur_.request_resumed;
        if (!cur_.producer_waiting) return schedule();
        if (head_now) {
          cur_.head_written = true;
          startWrite(WriteKind::Part, parts);
        }
        return;
      case ByteProducer::State::End:
        if (cur_.remaining && *cur_.remaining > 0) {
          return close("the request body ended after " + std::to_string(cur_.body_sent) +
                       " of its " + std::to_string(*exchange_->head().content_length) + " bytes");
        }
        if (cur_.chunked) parts[n++] = asio::buffer("0\r\n\r\n", 5);
        cur_.head_written = true;
        return startWrite(WriteKind::Last, parts);
      case ByteProducer::State::Abort:
        return close("the request body was aborted by the application");
    }
  }

  void startWrite(WriteKind kind, const std::array<asio::const_buffer, 4>& parts) {
    writing_ = true;
    cur_.write_kind = kind;
    armWriteTimer();
    asio::async_write(
        streamOf(stream_), parts,
        [self = this->shared_from_this()](error_code ec, std::size_t) { self->onWritten(ec); });
  }

  void armWriteTimer() {
    auto gen = ++write_gen_;
    write_mark_ = read_total_;
    write_timer_.expires_after(limits_.send_timeout);
    write_timer_.async_wait([self = this->shared_from_this(), gen](error_code ec) {
      if (ec || gen != self->write_gen_) return;
      self->onWriteTimeout();
    });
  }

  // A write made no progress for send_timeout.
  void onWriteTimeout() {
    if (phase_ == Phase::Exchange && cur_.head_received) {
      // The server answered before taking the whole request and does not read the rest now.
      if (cur_.complete_pending) return complete(true);  // the response is whole: it decided
      if (read_total_ != write_mark_) {
        // Its response is still coming: it is alive, just not reading (an early answer that
        // does not want the body, or a duplex one whose reader waits for ours). The response's
        // own timeouts bound the exchange from here.
        return armWriteTimer();
      }
    }
    close("the server " + origin_ + " took no request bytes for " +
          std::to_string(limits_.send_timeout.count()) + " ms");
  }

  void onWritten(error_code ec) {
    writing_ = false;
    ++write_gen_;
    write_timer_.cancel();
    if (phase_ != Phase::Exchange) return;
    if (ec) {
      // The server may have answered and closed: the response (or its absence) decides.
      cur_.send_stopped = true;
      ending_ = true;
      cur_.send_error = "sending the request to " + origin_ + ": " + ec.message();
      if (!cur_.head_received) armResponseTimer();
      return advance();
    }
    if (cur_.write_kind == WriteKind::Last) {
      cur_.request_sent = true;
      cur_.out_chunk.reset();
      if (!cur_.head_received) armResponseTimer();
      if (cur_.complete_pending) return complete();
    }
    advance();
  }

  // --- The response.

  void pumpResponse() {
    while (phase_ == Phase::Exchange) {
      if (!cur_.head_received) {
        if (!parseHead()) return;
        continue;
      }
      // Complete without a consumer when there is no body (HEAD, 204, 304, length 0).
      if (cur_.body_done && cur_.body_begin == cur_.body_end) return complete();
      ByteConsumer* consumer = exchange_->consumer();
      if (!consumer || cur_.body_paused) return;  // held until a consumer wants bytes
      if (cur_.body_begin < cur_.body_end) {
        std::size_t available = cur_.body_end - cur_.body_begin;
        cur_.body_resumed = false;
        std::size_t took = 0;
        try {
          took = consumer->offer({cur_.body_chunk.get() + cur_.body_begin, available});
        } catch (...) {
          return close("reset by the application: the response body's consumer failed");
        }
        if (phase_ != Phase::Exchange) return;
        took = std::min(took, available);
        cur_.body_begin += took;
        if (took < available) {
          cur_.body_paused = !cur_.body_resumed;  // it may have made room inside offer()
          if (cur_.body_paused) return;
        }
        continue;
      }
      if (cur_.body_error) return malformed(cur_.body_error);
      if (!cur_.body_chunk) cur_.body_chunk = std::make_unique<uint8_t[]>(kBodyChunk);
      error_code ec;
      std::size_t got = decodeBody(cur_.body_chunk.get(), kBodyChunk, ec);
      cur_.body_begin = 0;
      cur_.body_end = got;
      if (ec) {
        if (got == 0) return malformed(ec);
        cur_.body_error = ec;  // after the bytes decoded before it
      }
      if (got == 0 && !cur_.body_done) {
        if (peer_eof_) {
          if (!endOfBodyInput()) return;
          continue;
        }
        cur_.need_input = true;
        return;
      }
    }
  }

  // Parses what the buffer holds of the response head; true when a head (interim or final) was
  // taken and parsing may go on.
  bool parseHead() {
    if (!parser_) {
      parser_.emplace();
      parser_->header_limit(static_cast<uint32_t>(
          std::min<std::size_t>(limits_.max_header_bytes, std::numeric_limits<uint32_t>::max())));
      // No limit: the consumer takes the body at its own pace. (Not boost::none: Boost 1.74
      // compares a content-length against an empty optional as over the limit.)
      parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
      if (cur_.is_head) parser_->skip(true);
    }
    if (buffer_.size() > 0) {
      error_code ec;
      std::size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec && ec != bhttp::error::need_more) {
        malformed(ec);
        return false;
      }
      if (parser_->is_header_done()) return onHead();
    }
    if (peer_eof_) endOfHeadInput();
    return false;
  }

  bool onHead() {
    auto& res = parser_->get();
    int status = static_cast<int>(res.result_int());
    unsigned version = res.version();
    if (version != 10 && version != 11) {
      malformed("unsupported HTTP version " + std::to_string(version / 10) + "." +
                std::to_string(version % 10));
      return false;
    }
    std::size_t count = 0;
    std::string transfer_encoding;
    std::size_t codings = 0;
    std::vector<std::string> nominated;  // named by Connection: hop-by-hop too
    for (const auto& field : res) {
      ++count;
      if (field.name() == bhttp::field::transfer_encoding) {
        for (auto token : bhttp::token_list(field.value())) {
          if (codings++ > 0) transfer_encoding += ", ";
          transfer_encoding += sv(token);
        }
        if (codings == 0) codings = 1;  // an empty or unparsable value is not "chunked" either
      } else if (field.name() == bhttp::field::connection) {
        for (auto token : bhttp::token_list(field.value())) {
          nominated.push_back(toLowerAscii(sv(token)));
        }
      }
    }
    if (count > limits_.max_headers) {
      malformed("too many header fields: " + std::to_string(count) + ", limit " +
                std::to_string(limits_.max_headers));
      return false;
    }
    if (status == 101) {
      close("the server " + origin_ + " switched protocols (101), which this client does not do");
      return false;
    }
    if (status < 100) {
      malformed("status " + std::to_string(status));
      return false;
    }
    if (status < 200) {
      // Interim: skipped. Beast takes a 1xx as complete at its head.
      if (++cur_.interim > kMaxInterim) {
        malformed("more than " + std::to_string(kMaxInterim) + " interim responses");
        return false;
      }
      parser_.reset();
      return true;
    }
    if (codings > 0 && (codings != 1 || toLowerAscii(transfer_encoding) != "chunked")) {
      // Only plain chunked: another coding would reach the application undeclared (the
      // transfer-encoding field is connection-level and not passed on).
      malformed("unsupported transfer-encoding " + clip(transfer_encoding));
      return false;
    }

    ClientResponse response;
    response.version = static_cast<int>(version);
    response.head.status = status;
    response.head.headers.reserve(count);
    for (const auto& field : res) {
      std::string name = toLowerAscii(sv(field.name_string()));
      if (isConnectionLevelHeader(name) || name == "content-length") continue;
      if (std::find(nominated.begin(), nominated.end(), name) != nominated.end()) continue;
      response.head.headers.push_back({std::move(name), std::string(sv(field.value()))});
    }
    if (!parser_->chunked()) {
      if (auto length = parser_->content_length()) response.head.content_length = *length;
    }
    cur_.head_received = true;
    cur_.keep_alive = parser_->keep_alive();
    cur_.body_done = parser_->is_done();
    ++response_gen_;
    response_timer_.cancel();
    if (!cur_.keep_alive) ending_ = true;
    if (!cur_.request_sent && status >= 300) {
      // An early error: the server does not want the rest of the body (RFC 9112 9.5). An early
      // success may be a duplex exchange (the server answers as it reads): keep sending, even if
      // the response says "Connection: close" — that forbids further requests, not the rest of
      // this one (RFC 9112 9.6), and a server that answers at once cannot know whether its
      // application will read a large declared body (ours then announces close). Either way the
      // connection is not reused unless the request went out whole.
      cur_.send_stopped = true;
    }
    exchange_->deliver(std::move(response));
    return true;
  }

  // Decodes response body bytes from the read buffer into `out`. ec: the body is malformed, or
  // (header_limit) a chunk line or the trailers do not fit the buffer.
  std::size_t decodeBody(uint8_t* out, std::size_t capacity, error_code& ec) {
    auto& body = parser_->get().body();
    body.data = out;
    body.size = capacity;
    body.more = true;
    while (!parser_->is_done() && buffer_.size() > 0 && body.size > 0) {
      std::size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == bhttp::error::need_buffer) {
        ec = {};
      } else if (ec == bhttp::error::need_more) {
        ec = {};
        if (buffer_.size() >= buffer_cap_ - kReadChunk) {
          ec = bhttp::error::header_limit;  // a chunk line or trailer section that never ends
        }
        break;
      } else if (ec) {
        break;
      }
      if (used == 0) break;
    }
    std::size_t got = capacity - body.size;
    body.data = nullptr;
    body.size = 0;
    if (!ec && parser_->is_done()) cur_.body_done = true;
    return got;
  }

  // The server's side ended before a response head.
  void endOfHeadInput() {
    if (!cur_.send_error.empty()) return close(cur_.send_error);
    std::string reason = "the server " + origin_ + " closed the connection before the response";
    if (read_error_ && read_error_ != asio::error::eof) reason += ": " + read_error_.message();
    close(reason);
  }

  // The server's side ended mid-body: the end of a close-delimited body (true), else a cut.
  bool endOfBodyInput() {
    error_code ec;
    parser_->put_eof(ec);
    if (!ec && parser_->is_done()) {
      cur_.body_done = true;
      return true;
    }
    close("the server " + origin_ + " closed the connection mid-body");
    return false;
  }

  void malformed(error_code ec) {
    std::string what = ec.message();
    if (ec == bhttp::error::header_limit) {
      what += cur_.head_received
                  ? " (a chunk line or the trailers are too long)"
                  : " (limit " + std::to_string(limits_.max_header_bytes) + " bytes)";
    }
    malformed(what);
  }

  void malformed(const std::string& what) {
    close("malformed response from " + origin_ + ": " + what);
  }

  // The response is complete and every body byte was taken. `request_stuck`: the last request
  // bytes it waited for never went out (the connection closes).
  void complete(bool request_stuck = false) {
    if (!request_stuck && !cur_.request_sent && writing_ && cur_.write_kind == WriteKind::Last) {
      // The last request bytes are on their way: their completion decides on reuse.
      cur_.complete_pending = true;
      return;
    }
    ++response_gen_;
    ++body_gen_;
    body_armed_ = false;
    response_timer_.cancel();
    body_timer_.cancel();
    cur_.body_chunk.reset();
    auto exchange = std::move(exchange_);
    exchange->finish(true, "");
    if (events_.on_ready) asio::post(loop_, events_.on_ready);
    if (!cur_.request_sent || !cur_.keep_alive || ending_ || peer_eof_ || buffer_.size() > 0) {
      ending_ = true;
      return close("the connection ended with its response");
    }
    phase_ = Phase::Idle;
    cur_ = Current{};
    parser_.reset();
    buffer_.shrink_to_fit();
    startRead();
  }

  // --- Reading: into a chunk of our own, then the parse buffer (no operation in flight points
  // into buffer_, which moves).

  void maybeRead() {
    if (reading_ || peer_eof_) return;
    if (!cur_.head_received) {
      startRead();
      return;
    }
    if (cur_.body_done) return;
    // The body is read only for a consumer that has room and wants more.
    if (!exchange_->consumer() || cur_.body_paused || cur_.body_begin < cur_.body_end ||
        !cur_.need_input) {
      return;
    }
    if (!body_armed_) armBodyTimer();  // the read may have started before the head
    startRead();
  }

  void startRead() {
    if (reading_ || peer_eof_ || phase_ == Phase::Closed) return;
    std::size_t room = buffer_cap_ - buffer_.size();
    if (room == 0) return;
    reading_ = true;
    if (!read_chunk_) read_chunk_ = std::make_unique<uint8_t[]>(kReadChunk);
    streamOf(stream_).async_read_some(
        asio::buffer(read_chunk_.get(), std::min(room, kReadChunk)),
        [self = this->shared_from_this()](error_code ec, std::size_t n) {
          if (self->phase_ != Phase::Closed && n > 0) {
            self->read_total_ += n;
            auto space = self->buffer_.prepare(n);
            std::memcpy(space.data(), self->read_chunk_.get(), n);
            self->buffer_.commit(n);
          }
          self->onRead(ec);
        });
  }

  void onRead(error_code ec) {
    reading_ = false;
    if (body_armed_) {
      body_armed_ = false;
      ++body_gen_;
      body_timer_.cancel();
    }
    if (phase_ == Phase::Closed) return;
    if (ec) {
      peer_eof_ = true;  // end of stream, a reset or a TLS truncation: no more input
      read_error_ = ec;
    }
    if (phase_ == Phase::Idle) {
      if (buffer_.size() > 0) return close("the server sent bytes outside a response");
      if (peer_eof_) return close("the server closed the connection");
      return startRead();
    }
    cur_.need_input = false;
    advance();
  }

  // --- Timers.

  void armResponseTimer() {
    auto gen = ++response_gen_;
    response_timer_.expires_after(limits_.response_timeout);
    response_timer_.async_wait([self = this->shared_from_this(), gen](error_code ec) {
      if (ec || gen != self->response_gen_ || self->phase_ != Phase::Exchange) return;
      if (self->cur_.head_received) return;
      self->close("no response head from " + self->origin_ + " within " +
                  std::to_string(self->limits_.response_timeout.count()) + " ms");
    });
  }

  void armBodyTimer() {
    body_armed_ = true;
    auto gen = ++body_gen_;
    body_timer_.expires_after(limits_.body_timeout);
    body_timer_.async_wait([self = this->shared_from_this(), gen](error_code ec) {
      if (ec || gen != self->body_gen_ || self->phase_ != Phase::Exchange) return;
      self->close("no response body bytes from " + self->origin_ + " for " +
                  std::to_string(self->limits_.body_timeout.count()) + " ms");
    });
  }

  Holder stream_;
  asio::io_context& loop_;
  ClientLimits limits_;
  ClientConnectionInfo info_;
  std::string origin_;
  ClientConnectionEvents events_;
  asio::steady_timer write_timer_;
  asio::steady_timer response_timer_;
  asio::steady_timer body_timer_;
  uint32_t write_gen_ = 0;
  uint32_t response_gen_ = 0;
  uint32_t body_gen_ = 0;
  uint64_t read_total_ = 0;  // bytes read from the socket, ever
  uint64_t write_mark_ = 0;  // read_total_ when the write timer was armed
  boost::beast::flat_buffer buffer_;
  std::size_t buffer_cap_ = 0;
  std::unique_ptr<uint8_t[]> read_chunk_;
  std::shared_ptr<ClientExchangeImpl> exchange_;
  Current cur_;
  std::optional<ResponseParser> parser_;  // of the response in progress (or interim)
  error_code read_error_;
  Phase phase_ = Phase::Idle;
  bool reading_ = false;
  bool writing_ = false;
  bool scheduled_ = false;
  bool peer_eof_ = false;
  bool ending_ = false;      // takes no further exchange
  bool body_armed_ = false;  // body_timer_ waits for the read in flight
};

template <class Holder>
std::shared_ptr<ClientConnection> startConnection(Holder stream, ClientConnectionContext context) {
  auto connection =
      std::make_shared<H1ClientConnection<Holder>>(std::move(stream), std::move(context));
  connection->begin();
  return connection;
}

}  // namespace

std::shared_ptr<ClientConnection> startH1ClientConnection(TcpSocket socket,
                                                          ClientConnectionContext context) {
  return startConnection(std::move(socket), std::move(context));
}

std::shared_ptr<ClientConnection> startH1ClientConnection(std::unique_ptr<TlsStream> stream,
                                                          ClientConnectionContext context) {
  return startConnection(std::move(stream), std::move(context));
}

}  // namespace selium::net::http::detail
