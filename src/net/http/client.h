// The HTTP client: requests to one origin (scheme, host, port), over HTTP/1.1 or HTTP/2 (chosen
// by ALPN over TLS; plain HTTP is HTTP/1.1). The guest's HttpClient handle is one of these.
//
// A Client keeps at most one connection to its origin and makes it when a request needs it:
// after a failed connect, a connection the server closed, or an idle timeout, the next request
// connects again. HTTP/1.1 runs one request at a time on the connection (no pipelining; queued
// requests wait their turn); HTTP/2 runs as many at once as the server allows
// (SETTINGS_MAX_CONCURRENT_STREAMS), queuing the rest. A request is never sent twice: one whose
// connection fails, or that an HTTP/2 GOAWAY left unprocessed, fails with the reason.
//
// Threading: like the server (exchange.h), a Client, its connection and its exchanges belong to
// one io_context and are touched on its thread only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "net/http/exchange.h"
#include "net/stream.h"
#include "net/tls/tls_config.h"
#include "util/result.h"

namespace selium::net::http {

struct Origin {
  std::string host;  // a DNS name or an IP literal (IPv6 without brackets)
  uint16_t port = 0;
  // null: plain HTTP/1.1. Otherwise TLS with this configuration: it verifies the server (name or
  // IP, ClientConfig::prepare) and offers its ALPN list; "h2" selected → HTTP/2, anything else
  // (or no ALPN) → HTTP/1.1.
  std::shared_ptr<const tls::ClientConfig> tls;
};

struct ClientLimits {
  std::chrono::milliseconds connect_timeout{10000};   // DNS + TCP connect + TLS handshake
  std::chrono::milliseconds response_timeout{30000};  // request fully sent → response head
  std::chrono::milliseconds body_timeout{30000};      // no response body byte for this long
  // The server takes none of our bytes (HTTP/1.1: not while its early response keeps coming).
  std::chrono::milliseconds send_timeout{30000};
  std::chrono::milliseconds idle_timeout{60000};  // a connection with no request: closed
  std::size_t max_header_bytes = 65536;           // response head (status line + fields)
  std::size_t max_headers = 100;                  // response header fields
  std::size_t max_queued = 64;  // requests waiting for the connection (not yet running)
};

// A response head as received: `status` 200-999 (interim 1xx responses are consumed by the
// client), `headers` lower-cased without the connection-level ones, `content_length` as
// declared (nullopt: chunked, until close, or an HTTP/2 stream without content-length).
struct ClientResponse {
  ResponseHead head;
  int version = 11;  // 10, 11 or 20
};

// Called once per request, on the loop: the response head, or why the request failed before one
// arrived ("connect to example.org:443: Connection refused", "no response head within 30000
// ms", "malformed response: ...", "the server closed the connection").
using ResponseHandler = std::function<void(Result<ClientResponse>)>;

// One request and its response from the client's side.
class ClientExchange {
 public:
  virtual ~ClientExchange() = default;

  // Where the response body goes; may be set before the head arrives. Until it is set the body is
  // held (HTTP/1.1: nothing more is read from the socket; HTTP/2: no flow-control credit is
  // given back). Set at most once. end(true) once the body is complete (at once for a response
  // without one: HEAD, 204, 304, content-length 0), end(false) if it was cut short or the
  // request failed.
  virtual void setBodyConsumer(std::shared_ptr<ByteConsumer> consumer) = 0;
  // The consumer has room again.
  virtual void resumeBody() = 0;
  // The request body's producer has more (after Wait).
  virtual void resumeRequest() = 0;
  // Abandons the request: a queued one is dropped; a running one is cut (HTTP/1.1: the
  // connection is closed and the next request makes a new one; HTTP/2: RST_STREAM CANCEL). The
  // response handler is not called after it. Idempotent.
  virtual void reset() = 0;
  // Over: the response body ended (either way), or the request failed or was reset.
  virtual bool finished() const = 0;
  // Called once when it becomes finished (posted on the loop). `clean`: the whole response came
  // back, and the request went out whole (or the server answered before reading all of it).
  virtual void onFinished(std::function<void(bool clean)> callback) = 0;
};

// What the current connection is (empty strings before the first one).
struct ClientConnectionInfo {
  std::string remote_address;  // "ip:port", IPv6 as "[ip]:port"
  std::string alpn;            // "h2", "http/1.1" or empty
};

class Client {
 public:
  static std::shared_ptr<Client> create(boost::asio::io_context& loop, Origin origin,
                                        ClientLimits limits);
  virtual ~Client() = default;

  // Queues a request and returns its exchange. `head`: method (a token), target (origin-form
  // "/path?query", or "*"), authority (empty: the origin's host, with ":port" unless it is the
  // scheme's default; IPv6 in brackets), headers (connection-level ones, host and content-length
  // are ignored: the protocol writes its own), content_length (the request body's exact length;
  // nullopt: streamed, chunked on HTTP/1.1). `body`: the request body (null: none, and
  // content_length must be 0 or nullopt). Errors (nothing queued): an invalid method, target,
  // authority or header; more than max_queued requests waiting; the client is closed.
  virtual Result<std::shared_ptr<ClientExchange>> send(RequestHead head,
                                                       std::shared_ptr<ByteProducer> body,
                                                       ResponseHandler on_response) = 0;

  virtual ClientConnectionInfo connectionInfo() const = 0;
  // Requests running or queued, not yet finished.
  virtual std::size_t pending() const = 0;
  // Resets every request and closes the connection; send() fails after it. Idempotent.
  virtual void close() = 0;
};

}  // namespace selium::net::http
