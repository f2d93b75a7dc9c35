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

// A TLS client configuration: the CA to trust (empty: the work dir's certs/ca.crt), an optional
// client certificate and key, ALPN, and a server name to verify instead of the host.
struct TlsClientOptions {
  std::string_view ca_pem;
  std::string_view cert_pem;
  std::string_view key_pem;
  std::vector<std::string> alpn;
  std::string_view server_name;
};

class TlsClientConfig {
 public:
  explicit TlsClientConfig(Handle handle) noexcept : handle_(std::move(handle)) {}
  static Result<TlsClientConfig> create(const TlsClientOptions& options) noexcept;
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

// Clients ------------------------------------------------------------------------------------

// Limits of a client (0: the runtime's default; see docs/networking.md).
struct HttpClientLimits {
  uint32_t connect_timeout_ms = 0;   // DNS + TCP + TLS handshake (10 s)
  uint32_t response_timeout_ms = 0;  // request sent → response head (30 s)
  uint32_t body_timeout_ms = 0;      // no response body byte for this long (30 s)
  uint32_t send_timeout_ms = 0;      // the server takes none of the request for this long (30 s)
  uint32_t idle_timeout_ms = 0;      // an unused connection is closed (60 s)
  uint32_t max_header_bytes = 0;     // response head (64 KiB)
};

struct HttpConnectOptions {
  std::string_view host;  // DNS name or IP literal (IPv6 without brackets)
  uint16_t port = 0;      // 0: 80, or 443 over TLS
  // None: plain HTTP/1.1; Default: TLS trusting the work dir's certs/ca.crt, HTTP/2 or HTTP/1.1
  // as the server prefers; Config: TLS with `tls_config` (its ALPN list decides the protocol).
  Tls tls = Tls::None;
  const TlsClientConfig* tls_config = nullptr;
  HttpClientLimits limits;
};

// A request to send: whole (body() or none), or streamed (stream(): write the body through
// HttpExchange::bodyWriter()).
class ClientRequest {
 public:
  explicit ClientRequest(std::string_view method = "GET", std::string_view target = "/")
      : method_(method), target_(target) {}
  ClientRequest& header(std::string_view name, std::string_view value) & {
    headers_.push_back({std::string(name), std::string(value)});
    return *this;
  }
  ClientRequest&& header(std::string_view name, std::string_view value) && {
    return std::move(header(name, value));
  }
  // Host / :authority; default: the client's host, and :port unless it is the default.
  ClientRequest& authority(std::string_view value) & {
    authority_ = value;
    return *this;
  }
  ClientRequest&& authority(std::string_view value) && { return std::move(authority(value)); }
  ClientRequest& body(std::string_view bytes) & {
    body_.emplace(bytes.begin(), bytes.end());
    return *this;
  }
  ClientRequest&& body(std::string_view bytes) && { return std::move(body(bytes)); }
  ClientRequest& body(std::span<const uint8_t> bytes) & {
    body_.emplace(bytes.begin(), bytes.end());
    return *this;
  }
  ClientRequest&& body(std::span<const uint8_t> bytes) && { return std::move(body(bytes)); }
  // The body is written later (HttpExchange::bodyWriter()): `length` when known, else chunked
  // (HTTP/1.1) or DATA frames (HTTP/2).
  ClientRequest& stream(std::optional<uint64_t> length = std::nullopt) & {
    streamed_ = true;
    length_ = length;
    return *this;
  }
  ClientRequest&& stream(std::optional<uint64_t> length = std::nullopt) && {
    return std::move(stream(length));
  }

  const std::string& method() const noexcept { return method_; }
  const std::string& target() const noexcept { return target_; }
  const std::string& authorityValue() const noexcept { return authority_; }
  const std::vector<Header>& headers() const noexcept { return headers_; }
  const std::optional<std::vector<uint8_t>>& bodyBytes() const noexcept { return body_; }
  bool streamed() const noexcept { return streamed_; }
  std::optional<uint64_t> length() const noexcept { return length_; }

 private:
  std::string method_;
  std::string target_;
  std::string authority_;
  std::vector<Header> headers_;
  std::optional<std::vector<uint8_t>> body_;
  bool streamed_ = false;
  std::optional<uint64_t> length_;
};

// A request sent and its response. The response's fields are valid once response() succeeded
// (HttpClient::fetch does both).
class HttpExchange {
 public:
  HttpExchange(HttpExchange&&) noexcept = default;
  HttpExchange& operator=(HttpExchange&&) noexcept = default;
  static Result<HttpExchange> attach(SharedId id) noexcept;
  Result<SharedId> share() const noexcept { return handle_.share(); }

  // The writer of a streamed request body (once). finish() it; destroying it unfinished aborts
  // the request.
  Result<BodyWriter> bodyWriter() noexcept;
  // Waits for the response head. Closed: the request failed first (lastError() says why:
  // connect, TLS, timeout, a malformed response).
  Task<Result<void>> response();

  int status() const noexcept;
  int version() const noexcept;  // 10, 11 or 20
  // The first header of that name (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const noexcept;
  std::size_t headerCount() const noexcept;
  std::pair<std::string_view, std::string_view> headerAt(std::size_t i) const noexcept;
  std::optional<uint64_t> contentLength() const noexcept;

  // The response body as a byte stream (once): frames, then EndOfStream (complete) or Closed.
  Result<Reader> body() noexcept;
  // The whole response body, at most `limit` bytes (TooLarge past it).
  Task<Result<std::vector<uint8_t>>> readBody(std::size_t limit = 1 << 20);

  const Handle& handle() const noexcept { return handle_; }

 private:
  friend class HttpClient;
  explicit HttpExchange(Handle handle) noexcept : handle_(std::move(handle)) {}
  const void* root() const noexcept;
  Handle handle_;
  std::vector<uint8_t> head_;
};

// An HTTP client for one origin: the host keeps one connection, made when needed.
//
//   auto client = selium::HttpClient::connect({.host = "api.internal", .tls =
//   selium::Tls::Default}); auto response = co_await client->fetch(selium::ClientRequest("GET",
//   "/status")); if (response && response->status() == 200) auto body = co_await
//   response->readBody();
class HttpClient {
 public:
  explicit HttpClient(Handle handle) noexcept : handle_(std::move(handle)) {}
  static Result<HttpClient> connect(const HttpConnectOptions& options) noexcept;
  static Result<HttpClient> attach(SharedId id) noexcept;

  // Sends a request (waiting while SELIUM_HTTP_CLIENT_MAX_PENDING of this client's requests are
  // unfinished).
  Task<Result<HttpExchange>> send(const ClientRequest& request);
  // Sends a request and waits for its response head.
  Task<Result<HttpExchange>> fetch(const ClientRequest& request);

  Result<SharedId> share() const noexcept { return handle_.share(); }
  const Handle& handle() const noexcept { return handle_; }

 private:
  Handle handle_;
};

}  // namespace selium
