// HTTP servers and TLS configurations over the tls_*, http_* and stream_finish hostcalls.
#include "selium/http.hpp"

#include <flatbuffers/flatbuffers.h>

#include "net_generated.h"

namespace selium {

namespace fb = ::selium::abi;

namespace {

std::string_view view(const flatbuffers::String* s) noexcept {
  return s == nullptr ? std::string_view() : std::string_view(s->data(), s->size());
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::HttpHeader>>> headerVector(
    flatbuffers::FlatBufferBuilder& b, const std::vector<Header>& headers) {
  std::vector<flatbuffers::Offset<fb::HttpHeader>> out;
  out.reserve(headers.size());
  for (const Header& h : headers) {
    out.push_back(fb::CreateHttpHeader(b, b.CreateString(h.name), b.CreateString(h.value)));
  }
  return b.CreateVector(out);
}

// A body stream to its end: at most `limit` bytes (TooLarge past it).
Task<Result<std::vector<uint8_t>>> readAll(Reader& reader, std::size_t limit,
                                           std::optional<uint64_t> length) {
  std::vector<uint8_t> out;
  if (length && *length <= limit) out.reserve(static_cast<std::size_t>(*length));
  std::vector<uint8_t> buffer(16 * 1024);
  for (;;) {
    auto n = co_await reader.read(buffer);
    if (!n) {
      if (n.error() == ErrorCode::EndOfStream) co_return std::move(out);
      if (n.error() == ErrorCode::TooLarge) {
        buffer.resize(reader.needed());
        continue;
      }
      co_return n.error();
    }
    if (out.size() + *n > limit) co_return Error(ErrorCode::TooLarge);
    out.insert(out.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(*n));
  }
}

// Reads a FlatBuffer the host copies out with `call(buf, cap)` (> cap: call again with that much).
template <typename Call>
int32_t copyOut(std::vector<uint8_t>& out, Call call) {
  out.resize(512);
  for (;;) {
    int32_t n = call(SELIUM_ADDR(out.data()), static_cast<uint32_t>(out.size()));
    if (n < 0) return n;
    if (static_cast<std::size_t>(n) <= out.size()) {
      out.resize(static_cast<std::size_t>(n));
      return n;
    }
    out.resize(static_cast<std::size_t>(n));
  }
}

}  // namespace

Result<TlsServerConfig> TlsServerConfig::create(const TlsServerOptions& options) noexcept {
  flatbuffers::FlatBufferBuilder b(options.cert_chain_pem.size() + options.key_pem.size() +
                                   options.client_ca_pem.size() + 256);
  auto chain = b.CreateString(options.cert_chain_pem.data(), options.cert_chain_pem.size());
  auto key = b.CreateString(options.key_pem.data(), options.key_pem.size());
  auto ca = b.CreateString(options.client_ca_pem.data(), options.client_ca_pem.size());
  std::vector<flatbuffers::Offset<flatbuffers::String>> alpn;
  for (const std::string& p : options.alpn) alpn.push_back(b.CreateString(p));
  auto alpn_vec = b.CreateVector(alpn);
  b.Finish(
      fb::CreateTlsServerConfig(b, chain, key, ca, options.require_client_auth, alpn_vec,
                                options.allow_tls12 ? fb::TlsVersion_Tls12 : fb::TlsVersion_Tls13));
  int32_t handle = selium_tls_server_config(SELIUM_ADDR(b.GetBufferPointer()), b.GetSize());
  if (handle < 0) return Error::fromResult(handle);
  return TlsServerConfig(Handle(handle));
}

Result<HttpServer> HttpServer::listen(const ListenOptions& options) noexcept {
  flatbuffers::FlatBufferBuilder b(256);
  auto domain = b.CreateString(options.domain.data(), options.domain.size());
  auto address = b.CreateString(options.address.data(), options.address.size());
  const HttpLimits& l = options.limits;
  auto limits = fb::CreateHttpLimits(b, l.max_connections, l.max_header_bytes, l.max_body_bytes,
                                     l.header_timeout_ms, l.idle_timeout_ms, l.body_timeout_ms,
                                     l.response_timeout_ms, l.send_timeout_ms);
  int32_t tls = SELIUM_TLS_NONE;
  if (options.tls == Tls::Default) tls = SELIUM_TLS_DEFAULT;
  if (options.tls == Tls::Config) {
    if (options.tls_config == nullptr) return Error(ErrorCode::InvalidArgument);
    tls = options.tls_config->handle().get();
  }
  b.Finish(fb::CreateHttpListen(b, domain, address, options.port, tls, limits));
  int32_t handle = selium_http_listen(SELIUM_ADDR(b.GetBufferPointer()), b.GetSize());
  if (handle < 0) return Error::fromResult(handle);
  return HttpServer(Handle(handle));
}

Result<HttpServer> HttpServer::attach(SharedId id) noexcept {
  auto handle = Handle::attach(id, Kind::HttpListener);
  if (!handle) return handle.error();
  return HttpServer(std::move(*handle));
}

uint16_t HttpServer::port() const noexcept {
  int32_t port = selium_http_listener_port(handle_.get());
  return port < 0 ? 0 : static_cast<uint16_t>(port);
}

Task<Result<Request>> HttpServer::accept() {
  selium_handle_t listener = handle_.get();
  auto poll = [listener](int32_t waker) noexcept { return selium_http_accept(listener, waker); };
  int32_t result;
  while ((result = co_await detail::PollHandle(listener, poll)) == -SELIUM_ERR_WouldBlock) {
  }
  if (result < 0) co_return Error::fromResult(result);
  Request request{Handle(result)};
  if (auto loaded = request.loadHead(); !loaded) co_return loaded.error();
  co_return std::move(request);
}

namespace {
// The head of a request this process may not read (it lacks NetHttpRead / NetHttpsRead: a
// balancer that only passes requests on): every field empty.
std::vector<uint8_t> emptyHead() {
  flatbuffers::FlatBufferBuilder b(64);
  fb::HttpRequestHeadBuilder head(b);
  b.Finish(head.Finish());
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}
}  // namespace

Result<Request> Request::attach(SharedId id) noexcept {
  auto handle = Handle::attach(id, Kind::HttpRequest);
  if (!handle) return handle.error();
  Request request{std::move(*handle)};
  if (auto loaded = request.loadHead(); !loaded) return loaded.error();
  return std::move(request);
}

Result<void> Request::loadHead() noexcept {
  int32_t n = copyOut(head_, [this](uint32_t buf, uint32_t cap) {
    return selium_http_request_head(handle_.get(), buf, cap);
  });
  if (n == -SELIUM_ERR_PermissionDenied) {
    head_ = emptyHead();
    return Result<void>();
  }
  if (n < 0) return Error::fromResult(n);
  flatbuffers::Verifier verifier(head_.data(), head_.size());
  if (!fb::VerifyHttpRequestHeadBuffer(verifier)) return Error(ErrorCode::Internal);
  return Result<void>();
}

const void* Request::root() const noexcept { return fb::GetHttpRequestHead(head_.data()); }

#define SELIUM_HEAD_ (static_cast<const fb::HttpRequestHead*>(root()))

std::string_view Request::method() const noexcept { return view(SELIUM_HEAD_->method()); }
std::string_view Request::target() const noexcept { return view(SELIUM_HEAD_->target()); }
std::string_view Request::path() const noexcept {
  std::string_view t = target();
  return t.substr(0, t.find('?'));
}
std::string_view Request::query() const noexcept {
  std::string_view t = target();
  auto q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}
std::string_view Request::authority() const noexcept { return view(SELIUM_HEAD_->authority()); }
std::string_view Request::scheme() const noexcept { return view(SELIUM_HEAD_->scheme()); }
int Request::version() const noexcept { return SELIUM_HEAD_->version(); }
std::optional<std::string_view> Request::header(std::string_view name) const noexcept {
  const auto* headers = SELIUM_HEAD_->headers();
  if (headers == nullptr) return std::nullopt;
  for (const auto* h : *headers) {
    if (equalsIgnoreCase(view(h->name()), name)) return view(h->value());
  }
  return std::nullopt;
}
std::size_t Request::headerCount() const noexcept {
  const auto* headers = SELIUM_HEAD_->headers();
  return headers == nullptr ? 0 : headers->size();
}
std::pair<std::string_view, std::string_view> Request::headerAt(std::size_t i) const noexcept {
  const auto* h = SELIUM_HEAD_->headers()->Get(static_cast<flatbuffers::uoffset_t>(i));
  return {view(h->name()), view(h->value())};
}
std::optional<uint64_t> Request::contentLength() const noexcept {
  int64_t length = SELIUM_HEAD_->content_length();
  if (length < 0) return std::nullopt;
  return static_cast<uint64_t>(length);
}
std::string_view Request::remoteAddress() const noexcept {
  return view(SELIUM_HEAD_->remote_address());
}
std::string_view Request::alpn() const noexcept { return view(SELIUM_HEAD_->alpn()); }
std::string_view Request::serverName() const noexcept { return view(SELIUM_HEAD_->server_name()); }

#undef SELIUM_HEAD_

Result<Reader> Request::body() noexcept {
  int32_t reader = selium_http_request_body(handle_.get());
  if (reader < 0) return Error::fromResult(reader);
  return Reader(Handle(reader));
}

Task<Result<std::vector<uint8_t>>> Request::readBody(std::size_t limit) {
  auto reader = body();
  if (!reader) co_return reader.error();
  co_return co_await readAll(*reader, limit, contentLength());
}

Result<void> Request::respond(const Response& response) noexcept {
  flatbuffers::FlatBufferBuilder b(256 + response.bodyBytes().size());
  auto headers = headerVector(b, response.headers());
  auto body = b.CreateVector(response.bodyBytes());
  b.Finish(fb::CreateHttpResponseHead(b, static_cast<uint16_t>(response.status()), headers,
                                      static_cast<int64_t>(response.bodyBytes().size()), body));
  int32_t result =
      selium_http_respond(handle_.get(), SELIUM_ADDR(b.GetBufferPointer()), b.GetSize());
  if (result < 0) return Error::fromResult(result);
  if (result > 0) (void)selium_handle_close(result);  // never for an inline body
  return Result<void>();
}

Result<BodyWriter> Request::respondStreaming(int status, const std::vector<Header>& headers,
                                             std::optional<uint64_t> length) noexcept {
  flatbuffers::FlatBufferBuilder b(256);
  auto header_vec = headerVector(b, headers);
  b.Finish(fb::CreateHttpResponseHead(b, static_cast<uint16_t>(status), header_vec,
                                      length ? static_cast<int64_t>(*length) : int64_t{-1}));
  int32_t result =
      selium_http_respond(handle_.get(), SELIUM_ADDR(b.GetBufferPointer()), b.GetSize());
  if (result < 0) return Error::fromResult(result);
  // 0: nothing to write (HEAD, 204, 304, length 0); the writer stays empty and finish() is a no-op.
  return BodyWriter(Writer(Handle(result)));
}

Task<Result<void>> BodyWriter::write(std::span<const uint8_t> bytes) {
  if (!writer_.handle()) co_return Result<void>();
  // Pieces that leave room for others in the body's ring.
  constexpr std::size_t kPiece = 16 * 1024;
  for (std::size_t at = 0; at < bytes.size(); at += kPiece) {
    auto piece = bytes.subspan(at, std::min(kPiece, bytes.size() - at));
    auto written = co_await writer_.write(piece);
    if (!written) co_return written.error();
  }
  co_return Result<void>();
}

Result<void> BodyWriter::finish() noexcept {
  if (!writer_.handle()) return Result<void>();
  int32_t result = selium_stream_finish(writer_.handle().get());
  if (result < 0) return Error::fromResult(result);
  writer_.handle().close();
  return Result<void>();
}

// Clients ------------------------------------------------------------------------------------

Result<HttpClient> HttpClient::connect(const HttpConnectOptions& options) noexcept {
  flatbuffers::FlatBufferBuilder b(256);
  auto host = b.CreateString(options.host.data(), options.host.size());
  const HttpClientLimits& l = options.limits;
  auto limits =
      fb::CreateHttpClientLimits(b, l.connect_timeout_ms, l.response_timeout_ms, l.body_timeout_ms,
                                 l.send_timeout_ms, l.idle_timeout_ms, l.max_header_bytes);
  int32_t tls = SELIUM_TLS_NONE;
  if (options.tls == Tls::Default) tls = SELIUM_TLS_DEFAULT;
  if (options.tls == Tls::Config) {
    if (options.tls_config == nullptr) return Error(ErrorCode::InvalidArgument);
    tls = options.tls_config->handle().get();
  }
  b.Finish(fb::CreateHttpConnect(b, host, options.port, tls, limits));
  int32_t handle = selium_http_connect(SELIUM_ADDR(b.GetBufferPointer()), b.GetSize());
  if (handle < 0) return Error::fromResult(handle);
  return HttpClient(Handle(handle));
}

Result<HttpClient> HttpClient::attach(SharedId id) noexcept {
  auto handle = Handle::attach(id, Kind::HttpClient);
  if (!handle) return handle.error();
  return HttpClient(std::move(*handle));
}

Task<Result<HttpExchange>> HttpClient::send(const ClientRequest& request) {
  flatbuffers::FlatBufferBuilder b(256 + (request.bodyBytes() ? request.bodyBytes()->size() : 0));
  auto method = b.CreateString(request.method());
  auto target = b.CreateString(request.target());
  auto authority = b.CreateString(request.authorityValue());
  auto headers = headerVector(b, request.headers());
  flatbuffers::Offset<flatbuffers::Vector<uint8_t>> body;
  int64_t length = 0;
  if (request.bodyBytes()) {
    body = b.CreateVector(*request.bodyBytes());
    length = static_cast<int64_t>(request.bodyBytes()->size());
  } else if (request.streamed()) {
    length = request.length() ? static_cast<int64_t>(*request.length()) : int64_t{-1};
  }
  b.Finish(fb::CreateHttpRequest(b, method, target, authority, headers, length, body));
  selium_handle_t client = handle_.get();
  const uint32_t addr = SELIUM_ADDR(b.GetBufferPointer());
  const uint32_t size = b.GetSize();
  auto poll = [client, addr, size](int32_t waker) noexcept {
    return selium_http_send(client, addr, size, waker);
  };
  int32_t result;
  while ((result = co_await detail::PollHandle(client, poll)) == -SELIUM_ERR_WouldBlock) {
  }
  if (result < 0) co_return Error::fromResult(result);
  co_return HttpExchange(Handle(result));
}

Task<Result<HttpExchange>> HttpClient::fetch(const ClientRequest& request) {
  auto exchange = co_await send(request);
  if (!exchange) co_return exchange.error();
  auto head = co_await exchange->response();
  if (!head) co_return head.error();
  co_return std::move(*exchange);
}

Result<HttpExchange> HttpExchange::attach(SharedId id) noexcept {
  auto handle = Handle::attach(id, Kind::HttpExchange);
  if (!handle) return handle.error();
  return HttpExchange(std::move(*handle));
}

Result<BodyWriter> HttpExchange::bodyWriter() noexcept {
  int32_t writer = selium_http_send_body(handle_.get());
  if (writer < 0) return Error::fromResult(writer);
  return BodyWriter(Writer(Handle(writer)));
}

Task<Result<void>> HttpExchange::response() {
  selium_handle_t exchange = handle_.get();
  std::vector<uint8_t> head(512);
  for (;;) {
    const uint32_t addr = SELIUM_ADDR(head.data());
    const uint32_t cap = static_cast<uint32_t>(head.size());
    auto poll = [exchange, addr, cap](int32_t waker) noexcept {
      return selium_http_response_head(exchange, addr, cap, waker);
    };
    int32_t n;
    while ((n = co_await detail::PollHandle(exchange, poll)) == -SELIUM_ERR_WouldBlock) {
    }
    if (n < 0) co_return Error::fromResult(n);
    const bool fits = static_cast<std::size_t>(n) <= head.size();
    head.resize(static_cast<std::size_t>(n));
    if (fits) break;
  }
  flatbuffers::Verifier verifier(head.data(), head.size());
  if (!verifier.VerifyBuffer<fb::HttpResponseHead>(nullptr)) co_return Error(ErrorCode::Internal);
  head_ = std::move(head);
  co_return Result<void>();
}

const void* HttpExchange::root() const noexcept {
  return head_.empty() ? nullptr : flatbuffers::GetRoot<fb::HttpResponseHead>(head_.data());
}

#define SELIUM_RESPONSE_ (static_cast<const fb::HttpResponseHead*>(root()))

int HttpExchange::status() const noexcept {
  return root() == nullptr ? 0 : SELIUM_RESPONSE_->status();
}
int HttpExchange::version() const noexcept {
  return root() == nullptr ? 0 : SELIUM_RESPONSE_->version();
}
std::optional<std::string_view> HttpExchange::header(std::string_view name) const noexcept {
  if (root() == nullptr || SELIUM_RESPONSE_->headers() == nullptr) return std::nullopt;
  for (const auto* h : *SELIUM_RESPONSE_->headers()) {
    if (equalsIgnoreCase(view(h->name()), name)) return view(h->value());
  }
  return std::nullopt;
}
std::size_t HttpExchange::headerCount() const noexcept {
  if (root() == nullptr || SELIUM_RESPONSE_->headers() == nullptr) return 0;
  return SELIUM_RESPONSE_->headers()->size();
}
std::pair<std::string_view, std::string_view> HttpExchange::headerAt(std::size_t i) const noexcept {
  const auto* h = SELIUM_RESPONSE_->headers()->Get(static_cast<flatbuffers::uoffset_t>(i));
  return {view(h->name()), view(h->value())};
}
std::optional<uint64_t> HttpExchange::contentLength() const noexcept {
  if (root() == nullptr || SELIUM_RESPONSE_->content_length() < 0) return std::nullopt;
  return static_cast<uint64_t>(SELIUM_RESPONSE_->content_length());
}

#undef SELIUM_RESPONSE_

Result<Reader> HttpExchange::body() noexcept {
  int32_t reader = selium_http_response_body(handle_.get());
  if (reader < 0) return Error::fromResult(reader);
  return Reader(Handle(reader));
}

Task<Result<std::vector<uint8_t>>> HttpExchange::readBody(std::size_t limit) {
  auto reader = body();
  if (!reader) co_return reader.error();
  co_return co_await readAll(*reader, limit, contentLength());
}

}  // namespace selium
