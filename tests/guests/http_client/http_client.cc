// HTTP clients through the SDK (NetHttpConnect/Read/Write, or NetHttps* over TLS). `tls`: 0
// plain HTTP; 1 TLS with the work dir's CA (ALPN h2 + http/1.1); 2 TLS offering http/1.1 only
// (a TlsClientConfig, so NetTlsClientConfig too).
//   get(utf8 host, u32 port, u32 tls, utf8 target, u32 count)
//                     `count` GETs one after another on one client; each logs Info "response"
//                     {status, version, length (bytes read), digest (FNV-1a of the body, hex),
//                     body (its first 200 bytes, bytes over 0x7f as '?'), header (the x-test
//                     response header or
//                     "(none)")}. Then Info "done" and exit 0. A failure logs Error "failed"
//                     {step, error, message} and exits 1.
//   post(utf8 host, u32 port, u32 tls, utf8 target, utf8 body)
//                     one POST with the body inline; logs "response" as get().
//   upload(utf8 host, u32 port, u32 tls, utf8 target, u32 bytes, u32 declare)
//                     one POST whose body (`bytes` of a fixed pattern, digest logged as Info
//                     "sending" {digest}) is streamed through the body writer in 10,000-byte
//                     pieces, with content-length when `declare` is 1 (else chunked / DATA
//                     frames), while the response is read (full duplex); logs "response" as
//                     get().
//   parallel(utf8 host, u32 port, u32 tls, utf8 target, u32 n)
//                     n GETs sent at once on one client, then awaited; Info "parallel"
//                     {ok (count with status 200), versions (sum of versions)}, exit 0.
//   Every entrypoint that succeeds logs Info "done" last.
//   abandon(utf8 host, u32 port, u32 tls, utf8 target)
//                     sends a GET, waits for the head, reads nothing of the body and drops the
//                     exchange; then a GET of /hello on the same client logs "response"; exit 0.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <selium/selium.hpp>

namespace {

constexpr selium::log::Logger kLog{"http_client"};

uint64_t fnv1a(std::span<const uint8_t> bytes, uint64_t h = 1469598103934665603ull) {
  for (uint8_t b : bytes) {
    h ^= b;
    h *= 1099511628211ull;
  }
  return h;
}

std::string hex(uint64_t v) {
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4)
    out[static_cast<std::size_t>(i)] = "0123456789abcdef"[v & 15];
  return out;
}

int failed(std::string_view step, selium::Error error) {
  kLog.error("failed", {{"step", step}, {"error", error.name()}, {"message", selium::lastError()}});
  return 1;
}

struct Client {
  std::optional<selium::TlsClientConfig> config;
  std::optional<selium::HttpClient> client;
};

selium::Result<void> connect(Client& out, std::string_view host, uint32_t port, uint32_t tls) {
  selium::HttpConnectOptions options;
  options.host = host;
  options.port = static_cast<uint16_t>(port);
  if (tls == 1) options.tls = selium::Tls::Default;
  if (tls == 2) {
    auto config = selium::TlsClientConfig::create({.alpn = {"http/1.1"}});
    if (!config) return config.error();
    out.config.emplace(std::move(*config));
    options.tls = selium::Tls::Config;
    options.tls_config = &*out.config;
  }
  auto client = selium::HttpClient::connect(options);
  if (!client) return client.error();
  out.client.emplace(std::move(*client));
  return {};
}

// Reads the body and logs the response.
selium::Task<selium::Result<void>> report(selium::HttpExchange& response) {
  auto body = co_await response.readBody(64u << 20);
  if (!body) co_return body.error();
  std::string text(body->begin(), body->begin() + std::min<std::size_t>(body->size(), 200));
  for (char& c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) c = '?';  // log fields are UTF-8
  }
  kLog.info("response", {{"status", response.status()},
                         {"version", response.version()},
                         {"length", static_cast<uint64_t>(body->size())},
                         {"digest", hex(fnv1a(*body))},
                         {"body", text},
                         {"header", std::string(response.header("X-Test").value_or("(none)"))}});
  co_return selium::Result<void>();
}

selium::Task<void> writeAll(selium::BodyWriter& writer, const std::vector<uint8_t>& data,
                            std::string& failure) {
  constexpr std::size_t kPiece = 10000;
  for (std::size_t at = 0; at < data.size(); at += kPiece) {
    const std::size_t n = std::min(kPiece, data.size() - at);
    if (auto w = co_await writer.write(std::span<const uint8_t>(data.data() + at, n)); !w) {
      failure = w.error().name();
      co_return;
    }
  }
  if (auto f = writer.finish(); !f) failure = f.error().name();
}

selium::Task<selium::Result<void>> report(selium::HttpExchange& response);

selium::Task<void> readResponse(selium::HttpExchange& exchange, std::string& failure) {
  if (auto head = co_await exchange.response(); !head) {
    failure = head.error().name();
    co_return;
  }
  if (auto r = co_await report(exchange); !r) failure = r.error().name();
}

std::vector<uint8_t> pattern(std::size_t n) {
  std::vector<uint8_t> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>((i * 7 + i / 251) & 0xff);
  return out;
}

}  // namespace

SELIUM_ENTRYPOINT(get, (utf8, host), (u32, port), (u32, tls), (utf8, target), (u32, count)) {
  Client c;
  if (auto made = connect(c, host, port, tls); !made) co_return failed("connect", made.error());
  for (uint32_t i = 0; i < count; ++i) {
    auto response = co_await c.client->fetch(selium::ClientRequest("GET", target));
    if (!response) co_return failed("fetch", response.error());
    if (auto r = co_await report(*response); !r) co_return failed("body", r.error());
  }
  kLog.info("done", {});
  co_return 0;
}

SELIUM_ENTRYPOINT(post, (utf8, host), (u32, port), (u32, tls), (utf8, target), (utf8, body)) {
  Client c;
  if (auto made = connect(c, host, port, tls); !made) co_return failed("connect", made.error());
  auto response = co_await c.client->fetch(
      selium::ClientRequest("POST", target).header("content-type", "text/plain").body(body));
  if (!response) co_return failed("fetch", response.error());
  if (auto r = co_await report(*response); !r) co_return failed("body", r.error());
  kLog.info("done", {});
  co_return 0;
}

SELIUM_ENTRYPOINT(upload, (utf8, host), (u32, port), (u32, tls), (utf8, target), (u32, bytes),
                  (u32, declare)) {
  Client c;
  if (auto made = connect(c, host, port, tls); !made) co_return failed("connect", made.error());
  const std::vector<uint8_t> data = pattern(bytes);
  kLog.info("sending", {{"digest", hex(fnv1a(data))}});
  std::optional<uint64_t> length;
  if (declare != 0) length = bytes;
  auto exchange = co_await c.client->send(selium::ClientRequest("POST", target).stream(length));
  if (!exchange) co_return failed("send", exchange.error());
  auto writer = exchange->bodyWriter();
  if (!writer) co_return failed("writer", writer.error());
  // Full duplex: the response is read while the body is written (an echo answers as it reads).
  std::vector<selium::Task<void>> both;
  std::string write_failed;
  std::string read_failed;
  both.push_back(writeAll(*writer, data, write_failed));
  both.push_back(readResponse(*exchange, read_failed));
  co_await selium::whenAll(std::move(both));
  if (!write_failed.empty()) {
    kLog.error("failed",
               {{"step", "write"}, {"error", write_failed}, {"message", selium::lastError()}});
    co_return 1;
  }
  if (!read_failed.empty()) {
    kLog.error("failed",
               {{"step", "read"}, {"error", read_failed}, {"message", selium::lastError()}});
    co_return 1;
  }
  kLog.info("done", {});
  co_return 0;
}

SELIUM_ENTRYPOINT(parallel, (utf8, host), (u32, port), (u32, tls), (utf8, target), (u32, n)) {
  Client c;
  if (auto made = connect(c, host, port, tls); !made) co_return failed("connect", made.error());
  std::vector<selium::HttpExchange> sent;
  for (uint32_t i = 0; i < n; ++i) {
    auto exchange = co_await c.client->send(selium::ClientRequest("GET", target));
    if (!exchange) co_return failed("send", exchange.error());
    sent.push_back(std::move(*exchange));
  }
  int ok = 0;
  int versions = 0;
  for (auto& exchange : sent) {
    if (auto head = co_await exchange.response(); !head) co_return failed("response", head.error());
    auto body = co_await exchange.readBody();
    if (!body) co_return failed("body", body.error());
    if (exchange.status() == 200) ++ok;
    versions += exchange.version();
  }
  kLog.info("parallel", {{"ok", ok}, {"versions", versions}});
  kLog.info("done", {});
  co_return 0;
}

SELIUM_ENTRYPOINT(abandon, (utf8, host), (u32, port), (u32, tls), (utf8, target)) {
  Client c;
  if (auto made = connect(c, host, port, tls); !made) co_return failed("connect", made.error());
  {
    auto response = co_await c.client->fetch(selium::ClientRequest("GET", target));
    if (!response) co_return failed("fetch", response.error());
    kLog.info("abandoning", {{"status", response->status()}});
  }
  auto response = co_await c.client->fetch(selium::ClientRequest("GET", "/hello"));
  if (!response) co_return failed("fetch", response.error());
  if (auto r = co_await report(*response); !r) co_return failed("body", r.error());
  kLog.info("done", {});
  co_return 0;
}
