// HTTP servers through the SDK (NetHttp* or NetHttps* capabilities).
//   serve(utf8 address, u32 tls, u32 timeout_ms)
//                                  listens on address:0 (tls 0: plain; 1: the work dir's
//                                  certificates; response timeout timeout_ms, 0: default),
//                                  logs Info "listening" {port}, and answers requests by path
//                                  until stopped:
//     /hello          200 "hello\n"
//     /echo           the request body, whole (content-length)
//     /stream?n=K     K lines "line i\n", streamed (chunked on HTTP/1.1)
//     /stream-echo    the request body streamed back as it arrives
//     /head           the request head as text lines "name: value" (method, target, authority,
//                     scheme, version, content-length, alpn, sni, x-test, headers)
//     /never          never answered (the request is kept)
//     /drop           the request handle is closed unanswered
//     /unfinished     streams "partial" then drops the body writer unfinished
//     /exit           the process exits with status 3 while the request is open
//     other           404
//   serve_tls(utf8 domain, u32 port, utf8 cert, utf8 key, utf8 ca, u32 require)
//                                  a TLS server configuration from the PEM args (ca: client CA,
//                                  empty for none; require: 1 to require client certificates;
//                                  ALPN h2 and http/1.1), listening for `domain` on
//                                  127.0.0.1:port (0: a new port): Info "listening" {port}, or
//                                  Error "config failed" / "listen failed" {message} and status
//                                  1; then answers like serve(), with "domain: {domain}" first on
//                                  /head.
//   listen_many(u32 n)             listens on 127.0.0.1:0 up to n times, keeping every listener,
//                                  then logs Info "listened" {count, error, message} (error and
//                                  message of the first failure, or "none"); closes them all and
//                                  logs Info "after close" {ok: 1 if a listen works again}; exits
//                                  0.
//   listen_idle(u32 max_header_bytes)
//                                  listens on 127.0.0.1:0 with that head limit, logs Info
//                                  "listening" {port} and never accepts (requests queue).
//   accept_one(u32 port)           listens on 127.0.0.1:port (0: a new port; else joining the
//                                  listener there), logs Info "joined" {port}, answers one
//                                  request with "worker {pid}\n", then exits 0.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <selium/selium.hpp>

namespace {

constexpr selium::log::Logger kLog{"http"};

std::vector<selium::Request> g_kept;  // /never

std::string g_domain;  // serve_tls

std::string headText(const selium::Request& r) {
  std::string out;
  if (!g_domain.empty()) out += "domain: " + g_domain + "\n";
  auto line = [&](std::string_view name, std::string_view value) {
    out.append(name).append(": ").append(value).append("\n");
  };
  line("method", r.method());
  line("target", r.target());
  line("path", r.path());
  line("query", r.query());
  line("authority", r.authority());
  line("scheme", r.scheme());
  line("version", std::to_string(r.version()));
  auto length = r.contentLength();
  line("content-length", length ? std::to_string(*length) : "none");
  line("alpn", r.alpn());
  line("sni", r.serverName());
  line("x-test", r.header("X-Test").value_or("(none)"));
  line("remote-set", r.remoteAddress().empty() ? "no" : "yes");
  for (std::size_t i = 0; i < r.headerCount(); ++i) {
    auto [name, value] = r.headerAt(i);
    line("h:" + std::string(name), value);
  }
  return out;
}

uint32_t queryNumber(std::string_view query, std::string_view key) {
  auto at = query.find(std::string(key) + "=");
  if (at == std::string_view::npos) return 0;
  uint32_t n = 0;
  for (std::size_t i = at + key.size() + 1; i < query.size() && query[i] >= '0' && query[i] <= '9';
       ++i) {
    n = n * 10 + static_cast<uint32_t>(query[i] - '0');
  }
  return n;
}

selium::Task<void> handle(selium::Request request) {
  const std::string_view path = request.path();
  if (path == "/hello") {
    (void)request.respond(
        selium::Response(200).header("content-type", "text/plain").body("hello\n"));
  } else if (path == "/echo") {
    auto body = co_await request.readBody(64u << 20);
    if (!body) {
      (void)request.respond(
          selium::Response(400).body("body: " + std::string(body.error().name())));
      co_return;
    }
    (void)request.respond(selium::Response(200).body(std::span<const uint8_t>(*body)));
  } else if (path == "/stream") {
    const uint32_t n = queryNumber(request.query(), "n");
    auto writer = request.respondStreaming(200, {{"content-type", "text/plain"}});
    if (!writer) co_return;
    for (uint32_t i = 0; i < n; ++i) {
      if (!co_await writer->write("line " + std::to_string(i) + "\n")) co_return;
    }
    (void)writer->finish();
  } else if (path == "/stream-echo") {
    auto reader = request.body();
    auto writer = request.respondStreaming(200, {{"content-type", "application/octet-stream"}});
    if (!reader || !writer) co_return;
    std::vector<uint8_t> buffer(64 * 1024);
    for (;;) {
      auto n = co_await reader->read(buffer);
      if (!n) {
        if (n.error() == selium::ErrorCode::EndOfStream) (void)writer->finish();
        co_return;  // Closed: the client went away; the writer goes unfinished
      }
      if (!co_await writer->write(std::span<const uint8_t>(buffer.data(), *n))) co_return;
    }
  } else if (path == "/head") {
    (void)request.respond(selium::Response(200).body(headText(request)));
  } else if (path == "/never") {
    g_kept.push_back(std::move(request));
  } else if (path == "/drop") {
    co_return;
  } else if (path == "/unfinished") {
    auto writer = request.respondStreaming(200, {});
    if (writer) (void)co_await writer->write("partial");
  } else if (path == "/exit") {
    selium_process_exit(3);
  } else {
    (void)request.respond(selium::Response(404).body("no such path\n"));
  }
}

}  // namespace

SELIUM_ENTRYPOINT(serve, (utf8, address), (u32, tls), (u32, timeout_ms)) {
  selium::ListenOptions options;
  options.address = address;
  options.limits.response_timeout_ms = timeout_ms;
  options.tls = tls == 1 ? selium::Tls::Default : selium::Tls::None;
  auto server = selium::HttpServer::listen(options);
  if (!server) {
    kLog.error("listen failed",
               {{"error", server.error().name()}, {"message", selium::lastError()}});
    co_return 1;
  }
  kLog.info("listening", {{"port", server->port()}});
  for (;;) {
    auto request = co_await server->accept();
    if (!request) {
      kLog.error("accept failed",
                 {{"error", request.error().name()}, {"message", selium::lastError()}});
      co_return 2;
    }
    selium::spawn(handle(std::move(*request)));
  }
}

SELIUM_ENTRYPOINT(serve_tls, (utf8, domain), (u32, port), (utf8, cert), (utf8, key), (utf8, ca),
                  (u32, require)) {
  selium::TlsServerOptions tls;
  tls.cert_chain_pem = cert;
  tls.key_pem = key;
  tls.client_ca_pem = ca;
  tls.require_client_auth = require == 1;
  tls.alpn = {"h2", "http/1.1"};
  auto config = selium::TlsServerConfig::create(tls);
  if (!config) {
    kLog.error("config failed", {{"message", selium::lastError()}});
    co_return 1;
  }
  g_domain = std::string(domain);
  selium::ListenOptions options;
  options.domain = domain;
  options.address = "127.0.0.1";
  options.port = static_cast<uint16_t>(port);
  options.tls = selium::Tls::Config;
  options.tls_config = &*config;
  auto server = selium::HttpServer::listen(options);
  if (!server) {
    kLog.error("listen failed", {{"message", selium::lastError()}});
    co_return 1;
  }
  kLog.info("listening", {{"port", server->port()}});
  for (;;) {
    auto request = co_await server->accept();
    if (!request) co_return 2;
    selium::spawn(handle(std::move(*request)));
  }
}

SELIUM_ENTRYPOINT(accept_one, (u32, port)) {
  selium::ListenOptions options;
  options.address = "127.0.0.1";
  options.port = static_cast<uint16_t>(port);
  auto server = selium::HttpServer::listen(options);
  if (!server) {
    kLog.error("listen failed",
               {{"error", server.error().name()}, {"message", selium::lastError()}});
    co_return 1;
  }
  kLog.info("joined", {{"port", server->port()}});
  auto request = co_await server->accept();
  if (!request) co_return 2;
  (void)request->respond(
      selium::Response(200).body("worker " + std::to_string(selium_process_id()) + "\n"));
  co_return 0;
}

SELIUM_ENTRYPOINT(listen_many, (u32, n)) {
  std::vector<selium::HttpServer> kept;
  std::string error = "none";
  std::string message = "none";
  for (uint32_t i = 0; i < n; ++i) {
    selium::ListenOptions options;
    options.address = "127.0.0.1";
    auto server = selium::HttpServer::listen(options);
    if (!server) {
      error = server.error().name();
      message = selium::lastError();
      break;
    }
    kept.push_back(std::move(*server));
  }
  kLog.info(
      "listened",
      {{"count", static_cast<uint64_t>(kept.size())}, {"error", error}, {"message", message}});
  kept.clear();
  selium::ListenOptions again;
  again.address = "127.0.0.1";
  kLog.info("after close", {{"ok", selium::HttpServer::listen(again).ok() ? 1 : 0}});
  co_return 0;
}

SELIUM_ENTRYPOINT(listen_idle, (u32, max_header_bytes)) {
  selium::ListenOptions options;
  options.address = "127.0.0.1";
  options.limits.max_header_bytes = max_header_bytes;
  auto server = selium::HttpServer::listen(options);
  if (!server) co_return 1;
  kLog.info("listening", {{"port", server->port()}});
  static selium::Event never;  // nothing sets it: the process waits until it is stopped
  co_await never.wait();
  co_return 0;
}
