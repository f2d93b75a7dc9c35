// HTTP and HTTPS servers (capabilities NetHttpBind/Accept/Read/Write for plain HTTP, NetHttps*
// over TLS) and TLS configurations (NetTlsServerConfig). One API for HTTP/1.1 and HTTP/2: a
// request is a head plus a body stream, a response a status and headers plus a body (whole, or
// streamed through a BodyWriter). Keep-alive, pipelining, chunking and HTTP/2 streams are the
// host's business. docs/networking.md describes the model and the limits.
//
//   auto server = selium::HttpServer::listen({.port = 8080});
//   for (;;) {
//     auto request = co_await server->accept();
//     if (!request) break;
//     request->respond(selium::Response(200).header("content-type", "text/plain").body("hi\n"));
//   }
//
// A Request is a handle: transfer() it and another process answers it with Request::attach (the
// load balancer pattern). Destroying a Request nobody answered answers 500 (HTTP/2: resets it).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "selium/channel.hpp"
#include "selium/result.hpp"
#include "selium/selium.h"
#include "selium/task.hpp"

namespace selium {

struct Header {
  std::string name;
  std::string value;
};

// A TLS server configuration: certificate chain, key, optional client CA for mutual TLS, ALPN.
// Checked by the host when created (bad PEM, a key that does not match, an expired certificate:
// InvalidArgument, with the reason in lastError()).
struct TlsServerOptions {
  std::string_view cert_chain_pem;
  std::string_view key_pem;
  std::string_view client_ca_pem;  // empty: no client certificates
  bool require_client_auth = false;
  std::vector<std::string> alpn;  // empty: no ALPN; HTTPS listeners want {"h2", "http/1.1"}
  bool allow_tls12 = false;       // TLS 1.3 only unless set
};

class TlsServerConfig {
 public:
  explicit TlsServerConfig(Handle handle) noexcept : handle_(std::move(handle)) {}
  static Result<TlsServerConfig> create(const TlsServerOptions& options) noexcept;
  const Handle& handle() const noexcept { return handle_; }

 private:
  Handle handle_;
};

// Limits of a listener (0: the runtime's default; see docs/networking.md).
struct HttpLimits {
  uint32_t max_connections = 0;
  uint32_t max_header_bytes = 0;
  uint64_t max_body_bytes = 0;
  uint32_t header_timeout_ms = 0;
  uint32_t idle_timeout_ms = 0;
  uint32_t body_timeout_ms = 0;
  uint32_t response_timeout_ms = 0;
  uint32_t send_timeout_ms = 0;
};

enum class Tls { None, Default, Config };

struct ListenOptions {
  std::string_view domain;   // requests for this host only; empty: any host
  std::string_view address;  // empty: 0.0.0.0
  uint16_t port = 0;         // 0: the system picks (HttpServer::port() tells)
  // None: plain HTTP; Default: HTTPS with the work dir's certs/server.crt + server.key; Config:
  // HTTPS with `tls_config`.
  Tls tls = Tls::None;
  const TlsServerConfig* tls_config = nullptr;
  HttpLimits limits;
};

// A response with its whole body (sent with one hostcall).
class Response {
 public:
  explicit Response(int status = 200) : status_(status) {}
  Response& header(std::string_view name, std::string_view value) & {
    headers_.push_back({std::string(name), std::string(value)});
    return *this;
  }
  Response&& header(std::string_view name, std::string_view value) && {
    return std::move(header(name, value));
  }
  Response& body(std::string_view bytes) & {
    body_.assign(bytes.begin(), bytes.end());
    return *this;
  }
  Response&& body(std::string_view bytes) && { return std::move(body(bytes)); }
  Response& body(std::span<const uint8_t> bytes) & {
    body_.assign(bytes.begin(), bytes.end());
    return *this;
  }
  Response&& body(std::span<const uint8_t> bytes) && { return std::move(body(bytes)); }

  int status() const noexcept { return status_; }
  const std::vector<Header>& headers() const noexcept { return headers_; }
  const std::vector<uint8_t>& bodyBytes() const noexcept { return body_; }

 private:
  int status_;
  std::vector<Header> headers_;
  std::vector<uint8_t> body_;
};

// The body of a streamed response: write pieces, then finish(). Destroying it unfinished cuts
// the body short (the client sees an error, never a truncated body passed off as whole).
class BodyWriter {
 public:
  explicit BodyWriter(Writer writer) noexcept : writer_(std::move(writer)) {}
  Task<Result<void>> write(std::span<const uint8_t> bytes);
  Task<Result<void>> write(std::string_view text) {
    return write(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  }
  // Ends the body: the client sees it complete.
  Result<void> finish() noexcept;
  Writer& writer() noexcept { return writer_; }

 private:
  Writer writer_;
};

// One request to answer.
class Request {
 public:
  Request(Request&&) noexcept = default;
  Request& operator=(Request&&) noexcept = default;
  // A request another process shared (Request::share()).
  static Result<Request> attach(SharedId id) noexcept;
  Result<SharedId> share() const noexcept { return handle_.share(); }
  // Hands the request to another process (which attaches the id): this handle is closed, and the
  // request waits up to SELIUM_TRANSFER_TIMEOUT_MS to be attached.
  Result<SharedId> transfer() noexcept { return handle_.transfer(); }

  // The head's fields; all empty in a process without NetHttpRead (NetHttpsRead), which can
  // still pass the request on (transfer) or answer it.
  std::string_view method() const noexcept;
  std::string_view target() const noexcept;  // path and query, "/a?b=c"
  std::string_view path() const noexcept;    // target up to '?'
  std::string_view query() const noexcept;   // after '?', or empty
  std::string_view authority() const noexcept;
  std::string_view scheme() const noexcept;
  int version() const noexcept;  // 10, 11 or 20
  // The first header of that name (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const noexcept;
  std::size_t headerCount() const noexcept;
  std::pair<std::string_view, std::string_view> headerAt(std::size_t i) const noexcept;
  std::optional<uint64_t> contentLength() const noexcept;
  std::string_view remoteAddress() const noexcept;
  std::string_view alpn() const noexcept;
  std::string_view serverName() const noexcept;

  // The body as a byte stream (once): frames are pieces of it, then EndOfStream (complete) or
  // Closed (cut short).
  Result<Reader> body() noexcept;
  // The whole body, at most `limit` bytes (TooLarge past it).
  Task<Result<std::vector<uint8_t>>> readBody(std::size_t limit = 1 << 20);

  // Answers with a whole response, head and body in one hostcall: for bodies up to about 1 MiB
  // (the head and body together are at most SELIUM_NET_REQUEST_MAX_BYTES; larger is
  // InvalidArgument: use respondStreaming). Closed: the client went away or the host answered
  // already (504 after the listener's response timeout).
  Result<void> respond(const Response& response) noexcept;
  // Answers with a head and a streamed body: `length` when known (the body must be exactly that
  // long), else chunked (HTTP/1.1) or DATA frames (HTTP/2).
  Result<BodyWriter> respondStreaming(int status, const std::vector<Header>& headers,
                                      std::optional<uint64_t> length = std::nullopt) noexcept;

  const Handle& handle() const noexcept { return handle_; }

 private:
  friend class HttpServer;
  explicit Request(Handle handle) noexcept : handle_(std::move(handle)) {}
  Result<void> loadHead() noexcept;
  const void* root() const noexcept;
  Handle handle_;
  std::vector<uint8_t> head_;
};

class HttpServer {
 public:
  explicit HttpServer(Handle handle) noexcept : handle_(std::move(handle)) {}
  static Result<HttpServer> listen(const ListenOptions& options) noexcept;
  // A listener another process shared (several processes accepting on one listener: each
  // request goes to exactly one of them).
  static Result<HttpServer> attach(SharedId id) noexcept;

  // The next request.
  Task<Result<Request>> accept();
  uint16_t port() const noexcept;
  Result<SharedId> share() const noexcept { return handle_.share(); }
  const Handle& handle() const noexcept { return handle_; }

 private:
  Handle handle_;
};

}  // namespace selium
