// QUIC servers and clients through the SDK (NetQuic* capabilities).
//   serve(u32 port)                listens on 127.0.0.1:port (0: a new port) with the work dir's
//                                  certificates, logs Info "listening" {port}, and serves every
//                                  stream of every connection by its first frame:
//     "handoff..."   the stream's reader and writer are transferred: logs Info "handoff"
//                    {reader, writer, first} (shared ids, the first frame) for answer()
//     "info"         the connection's info as lines "name: value" (remote, sni, alpn, peer), FIN
//     "exit"         the process exits with status 3
//     "drop reader"  the stream's reader is closed at once (the peer should be told to stop
//                    sending); "reader dropped" is written and the stream finished
//     anything else  echoed until FIN, then FIN; a stream the peer resets is reset back
//                  A stream that ends before its first frame logs Info "stream ended early"
//                  {error} (Closed: the peer reset it).
//                  On failure logs Error "listen failed" / "accept failed" {error, message} and
//                  exits 1 / 2.
//   serve_mtls(utf8 cert, utf8 key, utf8 ca)
//                                  as serve(0), with a TLS configuration that requires client
//                                  certificates issued by `ca`.
//   answer(u64 reader, u64 writer) attaches a handed-off stream, reads it to FIN, writes
//                                  "answered by {pid}: " + what it read, finishes, exits 0.
//   client(u32 port, u32 streams, u32 big)
//                                  connects to 127.0.0.1:port (default certificates); opens
//                                  `streams` streams at once, each sending "stream i" and
//                                  checking its echo; then one stream of `big` pattern bytes
//                                  checked byte-exact; then a stream it resets, whose reader must
//                                  end Closed. Logs Info "client info" {remote, alpn, peer}, then
//                                  "client done" {streams, big} and exits 0; on failure logs
//                                  Error "client failed" {step, error, message}, exits 1.
//   connect_wrong_name(u32 port)   connects with a TLS configuration that expects another server
//                                  name; logs Info "connect failed" {error, message} when opening
//                                  a stream fails (exits 0), else exits 1.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <selium/selium.hpp>

namespace {

constexpr selium::log::Logger kLog{"quic"};

uint8_t patternByte(uint64_t i) { return static_cast<uint8_t>((i * 131 + (i >> 13)) & 0xff); }

// Reads a stream to its end: the bytes, or the error that ended it (EndOfStream is success).
selium::Task<selium::Result<std::string>> readAll(selium::Reader& reader, std::string first = {}) {
  std::string out = std::move(first);
  std::vector<uint8_t> buffer(64 * 1024);
  for (;;) {
    auto n = co_await reader.read(buffer);
    if (!n) {
      if (n.error() == selium::ErrorCode::EndOfStream) co_return std::move(out);
      co_return n.error();
    }
    out.append(reinterpret_cast<const char*>(buffer.data()), *n);
  }
}

std::string infoText(const selium::QuicConnection& connection) {
  auto info = connection.info();
  if (!info) return "error: " + std::string(info.error().name()) + "\n";
  return "remote: " + info->remote_address + "\nsni: " + info->server_name +
         "\nalpn: " + info->alpn + "\npeer: " + info->peer_subject + "\n";
}

selium::Task<void> serveStream(std::shared_ptr<selium::QuicConnection> connection,
                               selium::QuicStream stream) {
  std::vector<uint8_t> buffer(64 * 1024);
  auto first = co_await stream.reader.read(buffer);
  if (!first) {
    kLog.info("stream ended early", {{"error", first.error().name()}});
    if (first.error() == selium::ErrorCode::EndOfStream) (void)stream.writer.finish();
    co_return;  // Closed: reset; the writer goes unfinished, which resets our side too
  }
  const std::string_view head(reinterpret_cast<const char*>(buffer.data()), *first);
  if (head.starts_with("handoff")) {
    // answer() reads what follows the first frame (logged as "first").
    auto reader = stream.reader.handle().transfer();
    auto writer = stream.writer.writer().handle().transfer();
    if (!reader || !writer) co_return;
    kLog.info("handoff", {{"reader", *reader}, {"writer", *writer}, {"first", head}});
    co_return;
  }
  if (head == "info") {
    (void)co_await stream.writer.write(infoText(*connection));
    (void)stream.writer.finish();
    co_return;
  }
  if (head == "exit") selium_process_exit(3);
  if (head.starts_with("drop reader")) {
    stream.reader.handle().close();
    if (co_await stream.writer.write("reader dropped")) (void)stream.writer.finish();
    co_return;
  }
  if (!co_await stream.writer.write(std::span<const uint8_t>(buffer.data(), *first))) co_return;
  for (;;) {
    auto n = co_await stream.reader.read(buffer);
    if (!n) {
      if (n.error() == selium::ErrorCode::EndOfStream) (void)stream.writer.finish();
      co_return;
    }
    if (!co_await stream.writer.write(std::span<const uint8_t>(buffer.data(), *n))) co_return;
  }
}

selium::Task<void> serveConnection(selium::QuicConnection accepted) {
  auto connection = std::make_shared<selium::QuicConnection>(std::move(accepted));
  for (;;) {
    auto stream = co_await connection->acceptStream();
    if (!stream) co_return;  // the connection is over
    selium::spawn(serveStream(connection, std::move(*stream)));
  }
}

selium::Task<int> serveOn(const selium::QuicListenOptions& options) {
  auto listener = selium::QuicListener::listen(options);
  if (!listener) {
    kLog.error("listen failed",
               {{"error", listener.error().name()}, {"message", selium::lastError()}});
    co_return 1;
  }
  kLog.info("listening", {{"port", listener->port()}});
  for (;;) {
    auto connection = co_await listener->accept();
    if (!connection) {
      kLog.error("accept failed",
                 {{"error", connection.error().name()}, {"message", selium::lastError()}});
      co_return 2;
    }
    selium::spawn(serveConnection(std::move(*connection)));
  }
}

int clientFailed(std::string_view step, selium::Error error) {
  kLog.error("client failed",
             {{"step", step}, {"error", error.name()}, {"message", selium::lastError()}});
  return 1;
}

selium::Task<void> writePattern(selium::StreamWriter writer, uint32_t size) {
  std::vector<uint8_t> piece(16 * 1024);
  for (uint64_t at = 0; at < size; at += piece.size()) {
    const std::size_t n = std::min<uint64_t>(piece.size(), size - at);
    for (std::size_t i = 0; i < n; ++i) piece[i] = patternByte(at + i);
    if (!co_await writer.write(std::span<const uint8_t>(piece.data(), n))) co_return;
  }
  (void)writer.finish();
}

}  // namespace

SELIUM_ENTRYPOINT(serve, (u32, port)) {
  selium::QuicListenOptions options;
  options.address = "127.0.0.1";
  options.port = static_cast<uint16_t>(port);
  co_return co_await serveOn(options);
}

SELIUM_ENTRYPOINT(serve_mtls, (utf8, cert), (utf8, key), (utf8, ca)) {
  selium::TlsServerOptions tls;
  tls.cert_chain_pem = cert;
  tls.key_pem = key;
  tls.client_ca_pem = ca;
  tls.require_client_auth = true;
  auto config = selium::TlsServerConfig::create(tls);
  if (!config) {
    kLog.error("listen failed",
               {{"error", config.error().name()}, {"message", selium::lastError()}});
    co_return 1;
  }
  selium::QuicListenOptions options;
  options.address = "127.0.0.1";
  options.tls_config = &*config;
  co_return co_await serveOn(options);
}

SELIUM_ENTRYPOINT(answer, (u64, reader_id), (u64, writer_id)) {
  auto reader = selium::Reader::attach(static_cast<selium::SharedId>(reader_id));
  auto writer = selium::Writer::attach(static_cast<selium::SharedId>(writer_id));
  if (!reader || !writer) co_return 1;
  auto request = co_await readAll(*reader);
  if (!request) co_return 2;
  selium::StreamWriter out(std::move(*writer));
  if (!co_await out.write("answered by " + std::to_string(selium_process_id()) + ": " + *request)) {
    co_return 3;
  }
  if (!out.finish()) co_return 4;
  co_return 0;
}

SELIUM_ENTRYPOINT(client, (u32, port), (u32, streams), (u32, big)) {
  selium::QuicConnectOptions options;
  options.host = "127.0.0.1";
  options.port = static_cast<uint16_t>(port);
  auto connection = selium::QuicConnection::connect(options);
  if (!connection) co_return clientFailed("connect", connection.error());
  // Many streams open at once: every one written and finished before any echo is read.
  std::vector<selium::QuicStream> open;
  for (uint32_t i = 0; i < streams; ++i) {
    auto stream = co_await connection->openStream();
    if (!stream) co_return clientFailed("open", stream.error());
    if (auto w = co_await stream->writer.write("stream " + std::to_string(i)); !w) {
      co_return clientFailed("write", w.error());
    }
    if (auto f = stream->writer.finish(); !f) co_return clientFailed("finish", f.error());
    open.push_back(std::move(*stream));
  }
  for (uint32_t i = 0; i < streams; ++i) {
    auto echo = co_await readAll(open[i].reader);
    if (!echo) co_return clientFailed("read", echo.error());
    if (*echo != "stream " + std::to_string(i)) {
      co_return clientFailed("echo " + std::to_string(i) + ": " + *echo,
                             selium::Error(selium::ErrorCode::Internal));
    }
  }
  open.clear();
  auto info = connection->info();
  if (!info) co_return clientFailed("info", info.error());
  kLog.info("client info",
            {{"remote", info->remote_address}, {"alpn", info->alpn}, {"peer", info->peer_subject}});
  if (big > 0) {
    auto stream = co_await connection->openStream();
    if (!stream) co_return clientFailed("open big", stream.error());
    selium::spawn(writePattern(std::move(stream->writer), big));
    std::vector<uint8_t> buffer(64 * 1024);
    uint64_t received = 0;
    for (;;) {
      auto n = co_await stream->reader.read(buffer);
      if (!n) {
        if (n.error() == selium::ErrorCode::EndOfStream) break;
        co_return clientFailed("read big", n.error());
      }
      for (std::size_t i = 0; i < *n; ++i) {
        if (buffer[i] != patternByte(received + i)) {
          co_return clientFailed("big byte " + std::to_string(received + i),
                                 selium::Error(selium::ErrorCode::Internal));
        }
      }
      received += *n;
    }
    if (received != big) {
      co_return clientFailed("big length " + std::to_string(received),
                             selium::Error(selium::ErrorCode::Internal));
    }
  }
  {
    // Reset: the writer goes away unfinished; the server resets its side back.
    auto stream = co_await connection->openStream();
    if (!stream) co_return clientFailed("open reset", stream.error());
    if (auto w = co_await stream->writer.write("about to reset"); !w) {
      co_return clientFailed("write reset", w.error());
    }
    // Once the echo shows the server has the stream, the writer goes away unfinished.
    std::vector<uint8_t> buffer(64);
    auto echo = co_await stream->reader.read(buffer);
    if (!echo) co_return clientFailed("read reset echo", echo.error());
    stream->writer.writer().handle().close();
    auto rest = co_await readAll(stream->reader);
    if (rest || rest.error() != selium::ErrorCode::Closed) {
      co_return clientFailed(
          "reset ended " + std::string(rest ? "EndOfStream" : rest.error().name()),
          selium::Error(selium::ErrorCode::Internal));
    }
  }
  kLog.info("client done", {{"streams", streams}, {"big", big}});
  co_return 0;
}

SELIUM_ENTRYPOINT(connect_wrong_name, (u32, port)) {
  selium::TlsClientOptions tls;
  tls.server_name = "wrong.example";
  auto config = selium::TlsClientConfig::create(tls);
  if (!config) co_return clientFailed("tls config", config.error());
  selium::QuicConnectOptions options;
  options.host = "127.0.0.1";
  options.port = static_cast<uint16_t>(port);
  options.tls_config = &*config;
  auto connection = selium::QuicConnection::connect(options);
  if (!connection) co_return clientFailed("connect", connection.error());
  auto stream = co_await connection->openStream();
  if (stream) co_return 1;
  kLog.info("connect failed", {{"error", stream.error().name()}, {"message", selium::lastError()}});
  co_return 0;
}
