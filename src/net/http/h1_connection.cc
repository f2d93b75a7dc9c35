// HTTP/1.1 connections over Boost.Beast's request parser. One request at a time per connection:
// pipelined requests wait in the read buffer until the exchange before them has finished. Bodies
// stream both ways with backpressure; every limit of ServerLimits is answered here before any
// request reaches the application. All state is owned by the loop thread.
//
// The connection is a state machine driven by advance(): socket and timer completions change
// state and call it directly; calls from the application (the Exchange) only change flags and
// schedule() it, so no application callback ever runs inside another one.
#include "net/http/h1_connection.h"

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

#include "net/http/http_util.h"

namespace selium::net::http {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using RequestParser = bhttp::request_parser<bhttp::buffer_body>;

TcpSocket& lowestOf(TcpSocket& socket) { return socket; }
TcpSocket& lowestOf(std::unique_ptr<TlsStream>& stream) { return stream->next_layer(); }
TlsStream& tlsOf(std::unique_ptr<TlsStream>& stream) { return *stream; }

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

bool startsWithNoCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && toLowerAscii(text.substr(0, prefix.size())) == prefix;
}

template <class Holder>
class H1Connection;

// The application's handle on one request. Forwards to its connection until it is finished;
// after that every call is a no-op (respond() returns false).
template <class Holder>
class H1Exchange final : public Exchange {
 public:
  H1Exchange(std::shared_ptr<H1Connection<Holder>> connection, asio::io_context& loop,
             RequestHead head, std::shared_ptr<const PeerInfo> peer)
      : connection_(std::move(connection)),
        loop_(loop),
        head_(std::move(head)),
        peer_(std::move(peer)) {}

  asio::io_context& loop() override { return loop_; }
  const RequestHead& head() const override { return head_; }
  const PeerInfo& peer() const override { return *peer_; }

  void setBodyConsumer(std::shared_ptr<BodyConsumer> consumer) override {
    if (auto c = connection_) c->setBodyConsumer(std::move(consumer));
  }
  void resumeBody() override {
    if (auto c = connection_) c->resumeBody();
  }
  bool respond(ResponseHead head, std::shared_ptr<BodyProducer> body) override {
    auto c = connection_;
    return c && c->respond(std::move(head), std::move(body));
  }
  void resumeResponse() override {
    if (auto c = connection_) c->resumeResponse();
  }
  void reset() override {
    if (auto c = connection_) c->resetExchange();
  }
  bool finished() const override { return finished_; }
  void onFinished(std::function<void(bool clean)> callback) override {
    if (!callback) return;
    if (!finished_) {
      callback_ = std::move(callback);
      return;
    }
    asio::post(loop_, [callback = std::move(callback), clean = clean_] { callback(clean); });
  }

  // Connection side: the exchange is over. The callback runs from the loop, never inside the
  // caller (which may be the application itself, through reset()).
  void finish(bool clean) {
    if (finished_) return;
    finished_ = true;
    clean_ = clean;
    connection_.reset();
    if (callback_) {
      asio::post(loop_, [callback = std::move(callback_), clean] { callback(clean); });
      callback_ = nullptr;
    }
  }

 private:
  std::shared_ptr<H1Connection<Holder>> connection_;  // until finished
  asio::io_context& loop_;
  RequestHead head_;
  std::shared_ptr<const PeerInfo> peer_;
  std::function<void(bool)> callback_;
  bool finished_ = false;
  bool clean_ = false;
};

template <class Holder>
class H1Connection final : public Connection,
                           public std::enable_shared_from_this<H1Connection<Holder>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Holder, TcpSocket>;

  H1Connection(Holder stream, ConnectionContext context)
      : stream_(std::move(stream)),
        loop_(*context.loop),
        limits_(context.limits),
        handler_(std::move(context.handler)),
        peer_(std::make_shared<const PeerInfo>(std::move(context.peer))),
        on_closed_(std::move(context.on_closed)),
        read_timer_(loop_),
        write_timer_(loop_),
        response_timer_(loop_) {
    // Room for a head at its limit plus one read; chunk lines and trailers must fit here too.
    buffer_cap_ = std::max(limits_.max_header_bytes, kH1ReadChunk) + kH1ReadChunk;
    buffer_.max_size(buffer_cap_);
  }

  void start() {
    if constexpr (!kTls) {
      // A plain socket waits for readability and then reads what is there without blocking.
      error_code ec;
      stream_.non_blocking(true, ec);
      if (ec) return hardClose();
    }
    advance();
  }

  void close() override {
    auto self = this->shared_from_this();
    hardClose();
  }

  // --- Exchange entry points (the current exchange only; it forwards nothing once finished).

  void setBodyConsumer(std::shared_ptr<BodyConsumer> consumer) {
    if (!consumer || cur_.consumer_set || phase_ != Phase::Exchange) return;
    cur_.consumer_set = true;
    cur_.consumer = std::move(consumer);
    schedule();
  }

  void resumeBody() {
    cur_.body_paused = false;
    cur_.body_resumed = true;
    schedule();
  }

  bool respond(ResponseHead head, std::shared_ptr<BodyProducer> body) {
    if (cur_.responded || phase_ != Phase::Exchange) return false;
    if (head.status < 200 || head.status > 999) return false;
    for (const auto& h : head.headers) {
      if (!isValidHeaderName(h.name) || !isValidHeaderValue(h.value)) return false;
    }
    cur_.responded = true;
    ++response_timer_gen_;
    response_timer_.cancel();

    std::string& out = cur_.response_head;
    out.reserve(128);
    out += "HTTP/1.1 ";
    out += std::to_string(head.status);
    out += ' ';
    out += reasonPhrase(head.status);
    out += "\r\n";
    bool dated = false;
    for (const auto& h : head.headers) {
      std::string lower = toLowerAscii(h.name);
      if (isConnectionLevelHeader(lower) || lower == "content-length") continue;
      dated = dated || lower == "date";
      out += h.name;
      out += ": ";
      out += h.value;
      out += "\r\n";
    }
    if (!dated) {
      out += "Date: ";
      out += httpDate();
      out += "\r\n";
    }
    auto contentLength = [&](uint64_t n) {
      out += "Content-Length: ";
      out += std::to_string(n);
      out += "\r\n";
    };
    cur_.no_body = true;
    if (head.status == 204) {
      // No framing at all.
    } else if (head.status == 304 || cur_.is_head) {
      if (head.content_length) contentLength(*head.content_length);
    } else if (!body) {
      contentLength(0);
    } else if (head.content_length) {
      contentLength(*head.content_length);
      cur_.remaining = *head.content_length;
      cur_.no_body = *head.content_length == 0;
    } else if (cur_.version == 11) {
      out += "Transfer-Encoding: chunked\r\n";
      cur_.chunked = true;
      cur_.no_body = false;
    } else {
      // HTTP/1.0 and a streamed body: the end of the connection ends the body.
      cur_.close_after = true;
      cur_.no_body = false;
    }
    if (!cur_.keep_alive) cur_.close_after = true;
    if (!cur_.body_done) {
      // A client waiting for 100 Continue that never came will not send the body: closing is
      // the only way to stay in step. A declared remainder over the drain limit is not worth
      // reading.
      if (cur_.expect_continue && !cur_.continue_sent) cur_.close_after = true;
      if (cur_.content_length && *cur_.content_length - cur_.body_decoded > kH1DrainLimit) {
        cur_.close_after = true;
      }
    }
    if (cur_.close_after) {
      out += "Connection: close\r\n";
    } else if (cur_.version == 10) {
      out += "Connection: keep-alive\r\n";
    }
    out += "\r\n";
    if (!cur_.no_body) cur_.producer = std::move(body);
    schedule();
    return true;
  }

  void resumeResponse() {
    cur_.producer_waiting = false;
    cur_.producer_resumed = true;
    schedule();
  }

  void resetExchange() {
    if (phase_ != Phase::Exchange || !exchange_ || exchange_->finished()) return;
    cur_.reset_requested = true;
    exchange_->finish(false);
    schedule();
  }

 private:
  enum class Phase : uint8_t {
    Head,      // reading and parsing the next request head (idle when nothing is buffered)
    Exchange,  // a request is with the application: body in, response out
    Drain,     // the response is out; discarding the rest of a request body nobody read
    Error,     // writing the host's own error response; the connection closes after it
    Linger,    // response out, our side shut: discarding input until the peer closes (bounded)
    Closed,
  };
  enum class WriteKind : uint8_t { Continue, Part, Last };

  // State of the request in progress; reset between requests.
  struct Current {
    int version = 11;
    bool keep_alive = true;
    bool is_head = false;
    bool expect_continue = false;
    bool continue_queued = false;
    bool continue_sent = false;
    std::optional<uint64_t> content_length;  // of the request; nullopt: chunked
    // Request body.
    std::shared_ptr<BodyConsumer> consumer;
    bool consumer_set = false;
    bool body_done = false;     // the parser has the whole body
    bool body_ended = false;    // the consumer was ended (or never will hear of it)
    bool body_paused = false;   // the consumer is full
    bool body_resumed = false;  // resumeBody() since the last offer
    bool need_input = false;    // the parser needs bytes from the socket
    uint64_t body_decoded = 0;
    uint64_t drain_base = 0;  // body_decoded when draining began
    std::unique_ptr<uint8_t[]> body_chunk;
    std::size_t body_begin = 0;
    std::size_t body_end = 0;
    bool reset_requested = false;
    // Response.
    bool responded = false;     // a response (the application's or the host's) is decided
    bool head_written = false;  // its first bytes went to the socket: no other can replace it
    bool no_body = true;
    bool chunked = false;
    bool close_after = false;
    bool producer_waiting = false;
    bool producer_resumed = false;
    bool response_done = false;
    std::optional<uint64_t> remaining;  // body bytes still due under a content-length
    std::string response_head;
    std::shared_ptr<BodyProducer> producer;
    std::unique_ptr<uint8_t[]> out_chunk;
    std::array<char, 24> chunk_prefix{};
    WriteKind write_kind = WriteKind::Part;
  };

  void schedule() {
    if (scheduled_ || phase_ == Phase::Closed) return;
    scheduled_ = true;
    asio::post(loop_, [self = this->shared_from_this()] {
      self->scheduled_ = false;
      self->advance();
    });
  }

  void advance() {
    switch (phase_) {
      case Phase::Head:
        return advanceHead();
      case Phase::Exchange:
        return advanceExchange();
      case Phase::Drain:
        return advanceDrain();
      case Phase::Error:
        return pumpWrites();
      case Phase::Linger:
      case Phase::Closed:
        return;
    }
  }

  // --- Request heads.

  void advanceHead() {
    if (!parser_) {
      parser_.emplace();
      parser_->header_limit(static_cast<uint32_t>(
          std::min<std::size_t>(limits_.max_header_bytes, std::numeric_limits<uint32_t>::max())));
      parser_->body_limit(limits_.max_body_bytes);
    }
    if (!head_started_) {
      // RFC 9112 2.2: empty lines before a request line are ignored (a few: more of them start
      // the head's clock, so they cannot hold an idle connection open).
      while (buffer_.size() > 0 && skipped_crlf_ < kMaxSkippedCrlf) {
        char c = *static_cast<const char*>(buffer_.data().data());
        if (c != '\r' && c != '\n') break;
        buffer_.consume(1);
        ++skipped_crlf_;
      }
    }
    if (buffer_.size() > 0) {
      if (!head_started_) {
        head_started_ = true;
        head_deadline_ = Clock::now() + limits_.header_timeout;
      }
      error_code ec;
      std::size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec && ec != bhttp::error::need_more) return refuseHead(ec);
      if (parser_->is_header_done()) return onHead();
    }
    if (peer_eof_) return hardClose();
    if (!reading_) startRead();
  }

  void refuseHead(error_code ec) {
    if (ec == bhttp::error::header_limit) {
      return fail(431, "request header fields too large: limit " +
                           std::to_string(limits_.max_header_bytes) + " bytes");
    }
    if (ec == bhttp::error::body_limit) {
      return fail(413, "request body too large: declared content-length over the limit of " +
                           std::to_string(limits_.max_body_bytes) + " bytes");
    }
    if (ec == bhttp::error::bad_version) {
      return fail(505, "HTTP version not supported: only HTTP/1.0 and HTTP/1.1 are");
    }
    fail(400, "malformed request: " + ec.message());
  }

  void onHead() {
    auto& req = parser_->get();
    unsigned version = req.version();
    if (version != 10 && version != 11) {
      return fail(505, "HTTP version not supported: HTTP/" + std::to_string(version / 10) + "." +
                           std::to_string(version % 10));
    }
    std::size_t count = 0;
    int hosts = 0;
    std::string_view host;
    std::string transfer_encoding;  // every coding named, comma-separated
    std::size_t codings = 0;
    std::vector<std::string> nominated;  // named by Connection: hop-by-hop too
    for (const auto& field : req) {
      ++count;
      if (field.name() == bhttp::field::host) {
        ++hosts;
        host = sv(field.value());
      } else if (field.name() == bhttp::field::transfer_encoding) {
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
      return fail(431, "too many request header fields: " + std::to_string(count) + ", limit " +
                           std::to_string(limits_.max_headers));
    }
    if (codings > 0 &&
        (codings != 1 || toLowerAscii(transfer_encoding) != "chunked" || version == 10)) {
      // Only plain chunked: Beast takes an unknown coding as "no body", which would desynchronise
      // us from the client, and the application could not undo a compression it is not told of.
      return fail(400, "unsupported transfer-encoding: " + clip(transfer_encoding));
    }
    if (hosts > 1) return fail(400, "malformed request: more than one host header");
    if (hosts == 0 && version == 11) {
      return fail(400, "malformed request: missing host header (HTTP/1.1 requires it)");
    }
    if (req.method() == bhttp::verb::connect) {
      return fail(501, "not implemented: CONNECT is not supported");
    }

    RequestHead head;
    head.method = std::string(sv(req.method_string()));
    head.scheme = kTls ? "https" : "http";
    head.version = static_cast<int>(version);
    std::string_view target = sv(req.target());
    std::string authority(host);
    if (!target.empty() && target.front() == '/') {
      head.target = std::string(target);
    } else if (target == "*" && req.method() == bhttp::verb::options) {
      head.target = "*";
    } else if (startsWithNoCase(target, "http://") || startsWithNoCase(target, "https://")) {
      // Absolute form (RFC 9112 3.2.2): its authority replaces Host.
      std::string_view rest = target.substr(target.find("://") + 3);
      std::size_t end = rest.find_first_of("/?");
      authority = std::string(rest.substr(0, end));
      std::string_view path = end == std::string_view::npos ? "" : rest.substr(end);
      head.target =
          path.empty() || path.front() != '/' ? "/" + std::string(path) : std::string(path);
    } else {
      return fail(400, "malformed request target: " + clip(target));
    }
    if (!isValidAuthority(authority)) return fail(400, "malformed host: " + clip(authority));
    head.authority = toLowerAscii(authority);
    head.headers.reserve(count);
    for (const auto& field : req) {
      std::string name = toLowerAscii(sv(field.name_string()));
      if (name == "host" || isConnectionLevelHeader(name)) continue;
      if (std::find(nominated.begin(), nominated.end(), name) != nominated.end()) continue;
      head.headers.push_back({std::move(name), std::string(sv(field.value()))});
    }
    if (parser_->chunked()) {
      head.content_length = std::nullopt;
    } else {
      head.content_length = parser_->content_length().value_or(0);
    }

    cur_.version = static_cast<int>(version);
    cur_.keep_alive = parser_->keep_alive();
    cur_.is_head = req.method() == bhttp::verb::head;
    cur_.expect_continue =
        version == 11 && bhttp::token_list(req[bhttp::field::expect]).exists("100-continue");
    cur_.content_length = head.content_length;
    cur_.body_done = parser_->is_done();

    ++read_timer_gen_;
    read_timer_.cancel();
    phase_ = Phase::Exchange;
    exchange_ = std::make_shared<H1Exchange<Holder>>(this->shared_from_this(), loop_,
                                                     std::move(head), peer_);
    armResponseTimer();
    if (!handler_) return fail(500, "internal server error: no request handler");
    try {
      handler_(exchange_);
    } catch (...) {
      resetExchange();
    }
    if (phase_ == Phase::Exchange) advanceExchange();
  }

  // --- The exchange.

  void advanceExchange() {
    if (cur_.reset_requested) {
      cur_.reset_requested = false;
      if (cur_.head_written) return abandon();
      return fail(500, "internal server error: the application reset the exchange");
    }
    pumpWrites();
    if (phase_ != Phase::Exchange) return;
    pumpBody();
    if (phase_ != Phase::Exchange) return;
    maybeRead();
  }

  // Moves request body bytes from the read buffer to the consumer until it is full or the
  // buffer is empty; ends it when the body is complete.
  void pumpBody() {
    if (cur_.body_ended || !cur_.consumer) return;
    while (!cur_.body_paused) {
      if (cur_.body_begin < cur_.body_end) {
        std::size_t available = cur_.body_end - cur_.body_begin;
        cur_.body_resumed = false;
        std::size_t took = 0;
        try {
          took = cur_.consumer->offer({cur_.body_chunk.get() + cur_.body_begin, available});
        } catch (...) {
          resetExchange();
          return;
        }
        if (phase_ != Phase::Exchange || cur_.reset_requested || !cur_.consumer) return;
        took = std::min(took, available);
        cur_.body_begin += took;
        if (took < available) {
          cur_.body_paused = true;
          if (cur_.body_resumed) resumeBody();  // it made room while we were still inside offer()
          return;
        }
        continue;
      }
      if (cur_.body_done) {
        cur_.body_chunk.reset();
        return endConsumer(true);
      }
      if (!cur_.body_chunk) cur_.body_chunk = std::make_unique<uint8_t[]>(kH1BodyChunk);
      error_code ec;
      std::size_t got = decodeBody(cur_.body_chunk.get(), kH1BodyChunk, ec);
      cur_.body_begin = 0;
      cur_.body_end = got;
      if (ec) return bodyFailed(ec);
      if (got == 0 && !cur_.body_done) {
        cur_.need_input = true;
        if (peer_eof_) return abandon();  // the peer went away mid-body
        return;
      }
    }
  }

  // Decodes request body bytes from the read buffer into `out`. ec: the body is malformed or
  // over the limit, or (need_more) a chunk line or the trailers do not fit the buffer.
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
        if (buffer_.size() >= buffer_cap_ - kH1ReadChunk) {
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
    cur_.body_decoded += got;
    if (!ec && parser_->is_done()) cur_.body_done = true;
    return got;
  }

  void bodyFailed(error_code ec) {
    if (ec == bhttp::error::body_limit) {
      return failExchange(413, "request body too large: over the limit of " +
                                   std::to_string(limits_.max_body_bytes) + " bytes");
    }
    if (ec == bhttp::error::header_limit) {
      return failExchange(400, "malformed request body: a chunk line or the trailers exceed " +
                                   std::to_string(buffer_cap_ - kH1ReadChunk) + " bytes");
    }
    failExchange(400, "malformed request body: " + ec.message());
  }

  void maybeRead() {
    if (reading_ || peer_eof_) return;
    if (!cur_.body_done) {
      // The body is read only for a consumer that has room and wants more.
      if (!cur_.consumer || cur_.body_paused || cur_.body_begin < cur_.body_end ||
          !cur_.need_input) {
        return;
      }
      if (cur_.expect_continue && !cur_.continue_sent && !cur_.responded) {
        cur_.continue_queued = true;
        pumpWrites();
      }
      return startRead();
    }
    // The request is complete: read ahead (bounded) to see pipelined requests and the peer's
    // going away; nothing of it is parsed before this exchange has finished.
    if (buffer_.size() + kH1ReadChunk < buffer_cap_) startRead();
  }

  void endConsumer(bool complete) {
    cur_.body_ended = true;
    if (auto consumer = std::move(cur_.consumer)) {
      asio::post(loop_, [consumer = std::move(consumer), complete] {
        try {
          consumer->end(complete);
        } catch (...) {
        }
      });
    }
  }

  // --- Writing.

  void pumpWrites() {
    if (writing_ || phase_ == Phase::Closed) return;
    if (!cur_.responded) {
      if (cur_.continue_queued && !cur_.continue_sent) {
        cur_.continue_sent = true;
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        startWrite(WriteKind::Continue, {asio::buffer(kContinue.data(), kContinue.size())});
      }
      return;
    }
    if (cur_.response_done) return;
    std::array<asio::const_buffer, 4> parts{};
    std::size_t n = 0;
    bool head_now = !cur_.head_written;
    if (head_now) parts[n++] = asio::buffer(cur_.response_head);
    if (cur_.no_body) {
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
    if (!cur_.out_chunk) cur_.out_chunk = std::make_unique<uint8_t[]>(kH1WriteChunk);
    cur_.producer_resumed = false;
    ByteProducer::Chunk chunk{ByteProducer::State::Abort, 0};
    try {
      chunk = cur_.producer->read({cur_.out_chunk.get(), kH1WriteChunk});
    } catch (...) {
      chunk = {ByteProducer::State::Abort, 0};
    }
    if (phase_ != Phase::Exchange || cur_.reset_requested || writing_) return;
    switch (chunk.state) {
      case ByteProducer::State::Data: {
        if (chunk.size == 0 || chunk.size > kH1WriteChunk) return abandon();
        if (cur_.remaining) {
          // More than the declared content-length: the response cannot be completed.
          if (chunk.size > *cur_.remaining) return abandon();
          *cur_.remaining -= chunk.size;
        }
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
        cur_.producer_waiting = !cur_.producer_resumed;
        if (!cur_.producer_waiting) return schedule();
        if (head_now) {
          cur_.head_written = true;
          startWrite(WriteKind::Part, parts);
        }
        return;
      case ByteProducer::State::End:
        // Fewer bytes than declared: closing is the only way the client can tell.
        if (cur_.remaining && *cur_.remaining > 0) return abandon();
        if (cur_.chunked) parts[n++] = asio::buffer("0\r\n\r\n", 5);
        cur_.head_written = true;
        return startWrite(WriteKind::Last, parts);
      case ByteProducer::State::Abort:
        return abandon();
    }
  }

  void startWrite(WriteKind kind, const std::array<asio::const_buffer, 4>& parts) {
    writing_ = true;
    cur_.write_kind = kind;
    auto gen = ++write_timer_gen_;
    write_timer_.expires_after(limits_.send_timeout);
    write_timer_.async_wait([self = this->shared_from_this(), gen](error_code ec) {
      if (ec || gen != self->write_timer_gen_) return;
      self->abandon();  // the peer has read nothing for send_timeout
    });
    auto write = [self = this->shared_from_this()](error_code ec, std::size_t) {
      self->onWritten(ec);
    };
    if constexpr (kTls) {
      asio::async_write(tlsOf(stream_), parts, std::move(write));
    } else {
      asio::async_write(stream_, parts, std::move(write));
    }
  }

  void onWritten(error_code ec) {
    writing_ = false;
    ++write_timer_gen_;
    write_timer_.cancel();
    if (phase_ == Phase::Closed) return;
    if (ec) return abandon();  // the peer is gone
    if (cur_.write_kind != WriteKind::Last) return advance();
    if (phase_ == Phase::Error) return gracefulClose();
    responseComplete();
  }

  void responseComplete() {
    cur_.response_done = true;
    cur_.producer.reset();
    cur_.out_chunk.reset();
    if (exchange_) exchange_->finish(true);
    if (!cur_.body_ended) endConsumer(false);  // the application answered before reading it all
    if (cur_.close_after) return gracefulClose();
    if (!cur_.body_done) {
      phase_ = Phase::Drain;
      cur_.body_chunk.reset();
      cur_.drain_base = cur_.body_decoded;
      return advanceDrain();
    }
    nextRequest();
  }

  void advanceDrain() {
    std::array<uint8_t, 1024> scratch;
    while (!cur_.body_done) {
      error_code ec;
      std::size_t got = decodeBody(scratch.data(), scratch.size(), ec);
      if (ec || cur_.body_decoded - cur_.drain_base > kH1DrainLimit) return hardClose();
      if (got == 0 && !cur_.body_done) {
        if (peer_eof_) return hardClose();
        if (!reading_) startRead();
        return;
      }
    }
    nextRequest();
  }

  void nextRequest() {
    ++response_timer_gen_;
    response_timer_.cancel();
    exchange_.reset();
    cur_ = Current{};
    parser_.reset();
    head_started_ = false;
    skipped_crlf_ = 0;
    first_request_ = false;
    phase_ = Phase::Head;
    // An idle keep-alive connection keeps no buffer (no read has it: see startRead).
    if (buffer_.size() == 0) buffer_.shrink_to_fit();
    if (reading_) armReadTimer();  // a read-ahead is already waiting: it now waits for a head
    advanceHead();
  }

  // --- Reading. A plain socket waits for readability and then reads synchronously into the
  // buffer (so an idle connection holds no buffer); TLS reads into a chunk of its own. Either
  // way no operation in flight points into buffer_, which may move.

  void startRead() {
    std::size_t room = buffer_cap_ - buffer_.size();
    if (room == 0 || reading_) return;
    reading_ = true;
    armReadTimer();
    if constexpr (kTls) {
      if (!read_chunk_) read_chunk_ = std::make_unique<uint8_t[]>(kH1ReadChunk);
      tlsOf(stream_).async_read_some(
          asio::buffer(read_chunk_.get(), std::min(room, kH1ReadChunk)),
          [self = this->shared_from_this()](error_code ec, std::size_t n) {
            if (self->phase_ != Phase::Closed && n > 0) {
              auto space = self->buffer_.prepare(n);
              std::memcpy(space.data(), self->read_chunk_.get(), n);
              self->buffer_.commit(n);
            }
            self->onRead(ec);
          });
    } else {
      stream_.async_wait(TcpSocket::wait_read, [self = this->shared_from_this()](error_code ec) {
        if (ec) return self->onRead(ec);
        self->readAvailable();
      });
    }
  }

  void readAvailable() {
    if (phase_ == Phase::Closed) return onRead(asio::error::operation_aborted);
    std::size_t room = std::min(buffer_cap_ - buffer_.size(), kH1ReadChunk);
    error_code ec;
    std::size_t n = stream_.read_some(buffer_.prepare(room), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      reading_ = false;
      return startRead();
    }
    buffer_.commit(n);
    onRead(ec);
  }

  void onRead(error_code ec) {
    reading_ = false;
    if (phase_ == Phase::Closed) return;
    if (ec) peer_eof_ = true;  // end of stream, a reset or a TLS truncation: no more input
    cur_.need_input = false;
    if (phase_ == Phase::Error || phase_ == Phase::Linger) {
      lingered_ += buffer_.size();
      buffer_.consume(buffer_.size());
      if (phase_ == Phase::Linger && (peer_eof_ || lingered_ > kH1LingerBytes)) return hardClose();
      // TLS lingers inside async_shutdown, which reads for itself.
      if (phase_ == Phase::Linger && kTls) return;
      if (!peer_eof_ && lingered_ <= kH1LingerBytes) startRead();
      return;
    }
    if (phase_ != Phase::Head) {
      ++read_timer_gen_;
      read_timer_.cancel();
    }
    advance();
  }

  void armReadTimer() {
    switch (phase_) {
      case Phase::Head:
        if (head_started_) {
          read_timer_.expires_at(head_deadline_);  // from the first byte: slow heads time out
        } else {
          read_timer_.expires_after(first_request_ ? limits_.header_timeout : limits_.idle_timeout);
        }
        break;
      case Phase::Exchange:
        if (cur_.body_done) return;  // reading ahead: the response timeout covers it
        read_timer_.expires_after(limits_.body_timeout);
        break;
      case Phase::Drain:
        read_timer_.expires_after(limits_.body_timeout);
        break;
      case Phase::Error:
      case Phase::Linger:  // armed once by gracefulClose
      case Phase::Closed:
        return;
    }
    auto gen = ++read_timer_gen_;
    read_timer_.async_wait([self = this->shared_from_this(), gen](error_code ec) {
      if (ec || gen != self->read_timer_gen_) return;
      self->onReadTimeout();
    });
  }

  void onReadTimeout() {
    switch (phase_) {
      case Phase::Head:
        if (!head_started_) return hardClose();  // idle: nothing to answer
        return fail(408, "request header timeout: the request head did not arrive within " +
                             std::to_string(limits_.header_timeout.count()) + " ms");
      case Phase::Exchange:
        return failExchange(408, "request body timeout: no body bytes for " +
                                     std::to_string(limits_.body_timeout.count()) + " ms");
      case Phase::Drain:
      case Phase::Linger:
        return hardClose();
      case Phase::Error:
      case Phase::Closed:
        return;
    }
  }

  void armResponseTimer() {
    auto gen = ++response_timer_gen_;
    response_timer_.expires_after(limits_.response_timeout);
    response_timer_.async_wait([self = this->shared_from_this(), gen](error_code ec) {
      if (ec || gen != self->response_timer_gen_) return;
      if (self->phase_ != Phase::Exchange || self->cur_.responded) return;
      self->fail(504, "gateway timeout: the application did not respond within " +
                          std::to_string(self->limits_.response_timeout.count()) + " ms");
    });
  }

  // --- Endings.

  // The exchange (if any) is over without a clean response.
  void finishExchange() {
    cur_.producer.reset();
    if (!cur_.body_ended) endConsumer(false);
    if (exchange_) exchange_->finish(false);
  }

  // Answers with the host's error response and closes, or just closes when a response has
  // already started.
  void fail(int status, std::string reason) {
    if (cur_.head_written) return abandon();
    finishExchange();
    ++response_timer_gen_;
    response_timer_.cancel();
    ++read_timer_gen_;
    read_timer_.cancel();
    phase_ = Phase::Error;
    cur_.responded = true;
    cur_.no_body = true;
    cur_.close_after = true;
    cur_.continue_queued = false;
    cur_.producer_waiting = false;
    cur_.response_head = errorResponse(status, reason);
    if (cur_.is_head) {
      cur_.response_head.resize(cur_.response_head.find("\r\n\r\n") + 4);  // no body for HEAD
    }
    pumpWrites();  // or, with a 100 Continue in flight, when it completes
    // Keep reading (and discarding) so a client busy sending still reads our answer.
    if (!reading_ && !peer_eof_) startRead();
  }

  void failExchange(int status, std::string reason) { fail(status, std::move(reason)); }

  void abandon() {
    finishExchange();
    hardClose();
  }

  void gracefulClose() {
    phase_ = Phase::Linger;
    cur_.producer.reset();
    if (peer_eof_) return hardClose();
    auto gen = ++read_timer_gen_;
    read_timer_.expires_after(kH1LingerTime);
    read_timer_.async_wait([self = this->shared_from_this(), gen](error_code ec) {
      if (ec || gen != self->read_timer_gen_) return;
      self->hardClose();
    });
    if constexpr (kTls) {
      // close_notify, then the peer's (bounded by the linger timer).
      tlsOf(stream_).async_shutdown(
          [self = this->shared_from_this()](error_code) { self->hardClose(); });
    } else {
      error_code ec;
      stream_.shutdown(TcpSocket::shutdown_send, ec);
      if (ec) return hardClose();
      if (!reading_) startRead();
    }
  }

  void hardClose() {
    if (phase_ == Phase::Closed) return;
    finishExchange();
    phase_ = Phase::Closed;
    ++read_timer_gen_;
    ++write_timer_gen_;
    ++response_timer_gen_;
    read_timer_.cancel();
    write_timer_.cancel();
    response_timer_.cancel();
    error_code ec;
    lowestOf(stream_).close(ec);
    if (on_closed_) {
      asio::post(loop_, std::move(on_closed_));
      on_closed_ = nullptr;
    }
  }

  Holder stream_;
  asio::io_context& loop_;
  ServerLimits limits_;
  RequestHandler handler_;
  std::shared_ptr<const PeerInfo> peer_;
  std::function<void()> on_closed_;
  asio::steady_timer read_timer_;
  asio::steady_timer write_timer_;
  asio::steady_timer response_timer_;
  uint32_t read_timer_gen_ = 0;
  uint32_t write_timer_gen_ = 0;
  uint32_t response_timer_gen_ = 0;
  boost::beast::flat_buffer buffer_;
  std::size_t buffer_cap_ = 0;
  std::unique_ptr<uint8_t[]> read_chunk_;  // TLS only
  std::optional<RequestParser> parser_;
  std::shared_ptr<H1Exchange<Holder>> exchange_;
  Current cur_;
  Clock::time_point head_deadline_;
  std::size_t lingered_ = 0;
  static constexpr uint8_t kMaxSkippedCrlf = 8;
  uint8_t skipped_crlf_ = 0;
  Phase phase_ = Phase::Head;
  bool reading_ = false;
  bool writing_ = false;
  bool scheduled_ = false;
  bool peer_eof_ = false;
  bool head_started_ = false;
  bool first_request_ = true;
};

}  // namespace

std::shared_ptr<Connection> startH1Connection(TcpSocket socket, ConnectionContext context) {
  auto connection =
      std::make_shared<H1Connection<TcpSocket>>(std::move(socket), std::move(context));
  connection->start();
  return connection;
}

std::shared_ptr<Connection> startH1Connection(std::unique_ptr<TlsStream> stream,
                                              ConnectionContext context) {
  auto connection = std::make_shared<H1Connection<std::unique_ptr<TlsStream>>>(std::move(stream),
                                                                               std::move(context));
  connection->start();
  return connection;
}

}  // namespace selium::net::http
