// HTTPS with mutual TLS: only clients with a certificate signed by the given CA get an answer.
//
//   serve(utf8 address, u16 port, hex cert_chain_pem, hex key_pem, hex client_ca_pem)
//       makes a TLS server configuration from the three PEM texts (guests have no file system,
//       so they come as arguments: `hex` because a module spec cannot hold the newlines of PEM),
//       asking for and requiring a client certificate signed by client_ca_pem; listens on
//       address:port (port 0: the system picks) for HTTP/2 and HTTP/1.1 over TLS; logs Info
//       "listening" {address, port}; answers every request "hello client\n" until stopped.
//       Status 1 if the configuration is refused (the host's reason is logged) or the listen
//       fails.
//
// The greeting cannot name the client: the request head (selium.abi.HttpRequestHead) carries no
// client certificate details. A request reaching the guest at all proves the client presented a
// certificate the CA signed: the host ends the handshake of any other client.
#include <cstdint>
#include <string>
#include <string_view>

#include <selium/selium.hpp>

namespace {

constexpr selium::log::Logger kLog{"examples.https_mtls"};

std::string_view text(selium::Bytes bytes) {
  return std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

selium::Task<void> handle(selium::Request request) {
  kLog.debug("request", {{"method", request.method()},
                         {"target", request.target()},
                         {"alpn", request.alpn()},
                         {"remote", request.remoteAddress()}});
  auto sent = request.respond(
      selium::Response(200).header("content-type", "text/plain").body("hello client\n"));
  if (!sent && sent.error() != selium::ErrorCode::Closed) {
    kLog.warn("cannot answer", {{"error", sent.error().name()}, {"detail", selium::lastError()}});
  }
  co_return;
}

}  // namespace

SELIUM_ENTRYPOINT(serve, (utf8, address), (u16, port), (hex, cert_chain_pem), (hex, key_pem),
                  (hex, client_ca_pem)) {
  selium::TlsServerOptions tls;
  tls.cert_chain_pem = text(cert_chain_pem);
  tls.key_pem = text(key_pem);
  tls.client_ca_pem = text(client_ca_pem);
  tls.require_client_auth = true;
  tls.alpn = {"h2", "http/1.1"};
  auto config = selium::TlsServerConfig::create(tls);
  if (!config) {
    // The host names the problem: no certificate in the PEM, a key that does not match it, a
    // certificate out of its validity dates, ...
    kLog.error("TLS configuration refused",
               {{"error", config.error().name()}, {"detail", selium::lastError()}});
    co_return 1;
  }

  selium::ListenOptions options;
  options.address = address;
  options.port = port;
  options.tls = selium::Tls::Config;
  options.tls_config = &*config;
  auto server = selium::HttpServer::listen(options);
  if (!server) {
    kLog.error("listen failed", {{"address", address},
                                 {"port", port},
                                 {"error", server.error().name()},
                                 {"detail", selium::lastError()}});
    co_return 1;
  }
  kLog.info("listening",
            {{"address", address.empty() ? "0.0.0.0" : address}, {"port", server->port()}});
  for (;;) {
    auto request = co_await server->accept();
    if (!request) {
      kLog.error("accept failed",
                 {{"error", request.error().name()}, {"detail", selium::lastError()}});
      co_return 2;
    }
    selium::spawn(handle(std::move(*request)));
  }
}
