// http_bench's server: serve(u32 tls) listens on 127.0.0.1:0 (tls 1: the work dir's
// certificates, HTTP/2 and HTTP/1.1), logs Info "listening" {port}, and answers every request
// "hello\n" with one hostcall, until stopped.
#include <selium/selium.hpp>

SELIUM_ENTRYPOINT(serve, (u32, tls)) {
  selium::ListenOptions options;
  options.address = "127.0.0.1";
  options.tls = tls == 1 ? selium::Tls::Default : selium::Tls::None;
  options.limits.max_connections = 100000;
  auto server = selium::HttpServer::listen(options);
  if (!server) {
    selium::log::error("listen failed", {{"message", selium::lastError()}});
    co_return 1;
  }
  selium::log::info("listening", {{"port", server->port()}});
  const selium::Response hello =
      selium::Response(200).header("content-type", "text/plain").body("hello\n");
  for (;;) {
    auto request = co_await server->accept();
    if (!request) co_return 2;
    (void)request->respond(hello);
  }
}
