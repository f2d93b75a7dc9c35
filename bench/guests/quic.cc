// quic_bench's server: serve(utf8 cert_chain_pem, utf8 key_pem) listens for QUIC on 127.0.0.1:0
// with that certificate and ALPN "h3" (the ngtcp2 sample programs it is compared with speak
// HTTP/3), logs Info "listening" {port}, and answers every stream: it reads the request (a decimal
// byte count, then FIN) and sends that many zero bytes in 16 KiB frames, then FIN. Until stopped.
#include <charconv>
#include <cstdint>
#include <string>
#include <vector>

#include <selium/selium.hpp>

namespace {

selium::Task<void> answer(selium::QuicStream stream) {
  std::string request;
  std::vector<uint8_t> buffer(16 * 1024);
  for (;;) {
    auto n = co_await stream.reader.read(buffer);
    if (!n) {
      if (n.error() != selium::ErrorCode::EndOfStream) co_return;
      break;
    }
    if (request.size() + *n > 32) co_return;  // not a byte count: reset
    request.append(reinterpret_cast<const char*>(buffer.data()), *n);
  }
  uint64_t size = 0;
  std::from_chars(request.data(), request.data() + request.size(), size);
  std::fill(buffer.begin(), buffer.end(), 0);
  for (uint64_t sent = 0; sent < size;) {
    const std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(buffer.size(), size - sent));
    if (!co_await stream.writer.write(std::span<const uint8_t>(buffer.data(), n))) co_return;
    sent += n;
  }
  (void)stream.writer.finish();
}

selium::Task<void> serveConnection(selium::QuicConnection connection) {
  for (;;) {
    auto stream = co_await connection.acceptStream();
    if (!stream) co_return;
    selium::spawn(answer(std::move(*stream)));
  }
}

}  // namespace

SELIUM_ENTRYPOINT(serve, (utf8, cert_chain_pem), (utf8, key_pem)) {
  selium::TlsServerOptions tls;
  tls.cert_chain_pem = cert_chain_pem;
  tls.key_pem = key_pem;
  tls.alpn = {"h3"};
  auto config = selium::TlsServerConfig::create(tls);
  if (!config) {
    selium::log::error("tls failed", {{"message", selium::lastError()}});
    co_return 1;
  }
  selium::QuicListenOptions options;
  options.address = "127.0.0.1";
  options.tls_config = &*config;
  options.limits.max_connections = 100000;
  auto listener = selium::QuicListener::listen(options);
  if (!listener) {
    selium::log::error("listen failed", {{"message", selium::lastError()}});
    co_return 1;
  }
  selium::log::info("listening", {{"port", listener->port()}});
  for (;;) {
    auto connection = co_await listener->accept();
    if (!connection) co_return 2;
    selium::spawn(serveConnection(std::move(*connection)));
  }
}
