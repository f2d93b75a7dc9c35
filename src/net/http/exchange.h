// The contract between HTTP protocol code (HTTP/1.1 over Boost.Beast, HTTP/2 over nghttp2) and
// whoever answers requests (the kernel's net driver hands them to guests). One Exchange is one
// request and its response, whatever the protocol: a head plus a body stream each way.
//
// Threading: an Exchange, its connection and its listener belong to one asio io_context (the
// loop of the worker that bound the listener). Every member function here is called on that
// loop's thread only; code on other threads posts to loop().
//
// Body bytes flow with backpressure both ways:
//  - request body: the protocol offers bytes to the BodyConsumer; a consumer that takes fewer
//    than offered is full, and the protocol reads nothing more from the peer for this request
//    (HTTP/1.1: from the socket; HTTP/2: it withholds the stream's flow-control credit) until the
//    consumer calls Exchange::resumeBody();
//  - response body: the protocol pulls from the BodyProducer when it can send; Wait means "none
//    now", and the producer calls Exchange::resumeResponse() when it has more.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "net/stream.h"

namespace selium::net::http {

struct Header {
  std::string name;  // lower-case
  std::string value;
};

struct RequestHead {
  std::string method;     // as sent ("GET", "POST", ...)
  std::string target;     // origin-form path and query ("/a/b?c=d"), "*" for OPTIONS *
  std::string authority;  // Host (HTTP/1.1) or :authority (HTTP/2), lower-cased, port kept
  std::string scheme;     // "http" or "https"
  int version = 11;       // 10, 11 or 20
  // As received, names lower-cased, in order; without the connection-level ones (connection,
  // keep-alive, proxy-connection, transfer-encoding, upgrade, te, http2-settings) and without
  // host (it is `authority`). Repeated names stay repeated.
  std::vector<Header> headers;
  // The body's length when the client declared one (0: no body); nullopt: chunked (HTTP/1.1)
  // or an HTTP/2 stream without content-length.
  std::optional<uint64_t> content_length;
};

struct ResponseHead {
  int status = 200;  // 100-199 are refused by respond(): interim responses are the host's business
  // Names any case (sent lower-case on HTTP/2); connection-level ones (see RequestHead) and
  // content-length are ignored: the protocol writes its own.
  std::vector<Header> headers;
  // The body's length when known: the protocol sends content-length and expects exactly this
  // many bytes (more is an error: the producer is cut off and the exchange reset). nullopt:
  // streamed (HTTP/1.1 chunked, or closing the connection for an HTTP/1.0 client; HTTP/2 DATA
  // frames until END_STREAM).
  std::optional<uint64_t> content_length;
};

// Where the connection came from (for the guest, logs, and routing by SNI).
struct PeerInfo {
  std::string remote_address;  // "ip:port", IPv6 as "[ip]:port"
  std::string local_address;   // the listener's side, same form
  bool tls = false;
  std::string alpn;  // "h2", "http/1.1", or empty
  std::string sni;   // the server name the client asked for in TLS, lower-cased; may be empty
};

// Body bytes move through the ByteConsumer / ByteProducer of net/stream.h.
using BodyConsumer = ByteConsumer;
using BodyProducer = ByteProducer;

class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  virtual ~Exchange() = default;

  virtual boost::asio::io_context& loop() = 0;
  virtual const RequestHead& head() const = 0;
  virtual const PeerInfo& peer() const = 0;

  // Where request body bytes go. Until one is set the protocol holds the body (reads nothing
  // more of it). Set at most once. With no body (content_length 0) end(true) follows at once.
  virtual void setBodyConsumer(std::shared_ptr<BodyConsumer> consumer) = 0;
  // The consumer has room again.
  virtual void resumeBody() = 0;

  // Sends the response head and then the producer's body (null: no body, as for content_length
  // 0). Once per exchange: false if a response was already sent (by the application, or by the
  // host itself after the response timeout) or the exchange was reset; false too (and nothing
  // sent, so the application may answer again) for a status outside 200-999 or a header whose
  // name is not a token or whose value holds CR, LF, NUL or another control character
  // (net/http/http_util.h isValidHeaderName/isValidHeaderValue: no response splitting). A HEAD
  // request's response sends no body bytes whatever the producer has; 204 and 304 likewise.
  virtual bool respond(ResponseHead head, std::shared_ptr<BodyProducer> body) = 0;
  // The producer has more (after Wait).
  virtual void resumeResponse() = 0;

  // Abandons the exchange: before a response, the client gets 500 (HTTP/1.1, and the
  // connection closes if the request body is not fully read) or RST_STREAM (HTTP/2); after one
  // started, the connection closes (HTTP/1.1) or the stream is reset (HTTP/2). Idempotent.
  virtual void reset() = 0;

  // True once the exchange is over (response sent completely, or reset, or the peer went away):
  // nothing the application does matters any more.
  virtual bool finished() const = 0;
  // Called once when the exchange becomes finished (on the loop): the application releases what
  // it holds for it. `clean`: the response went out whole.
  virtual void onFinished(std::function<void(bool clean)> callback) = 0;
};

// Limits of one listener. Each has the answer the issue names; none of these requests ever
// reaches the application.
struct ServerLimits {
  std::size_t max_connections = 10000;   // more: accepted and closed at once (HTTP/1.1: 503)
  std::size_t max_header_bytes = 16384;  // request line + headers: more is 431
  uint64_t max_body_bytes = 8ull << 20;  // declared or received: more is 413
  std::size_t max_headers = 100;         // header fields: more is 431
  std::chrono::milliseconds header_timeout{10000};    // first byte to end of head: 408, close
  std::chrono::milliseconds idle_timeout{60000};      // keep-alive with no request: close
  std::chrono::milliseconds body_timeout{30000};      // no body byte for this long: 408, close
  std::chrono::milliseconds response_timeout{30000};  // head received to respond(): 504
  std::chrono::milliseconds send_timeout{30000};      // a peer that reads nothing this long: close
  uint32_t max_h2_streams = 128;                      // SETTINGS_MAX_CONCURRENT_STREAMS
};

// Called by a connection for each request whose head is complete and valid (on the loop). The
// application answers with respond() or reset(), now or later; one it never answers gets 504
// after ServerLimits::response_timeout (the connection keeps the exchange alive until then).
using RequestHandler = std::function<void(std::shared_ptr<Exchange>)>;

}  // namespace selium::net::http
