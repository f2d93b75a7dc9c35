// A QUIC echo service and a client that checks it: every stream of every connection is echoed
// back, each stream in a task of its own, so one slow stream holds up no other.
//
//   serve(utf8 address, u16 port, utf8 domain)
//       listens on address:port (port 0: the system picks) for connections whose server name is
//       `domain` (empty: any), with the work dir's certs/server.crt and server.key, no ALPN and no
//       client certificates. Logs Info "listening" {address, port, domain}; "connection"
//       {remote, sni, alpn, peer} per connection and "connection closed" {remote, streams,
//       bytes, reason} when it ends; Debug "stream" {remote, bytes, outcome} per stream. Status 1
//       if the listen fails, 2 if an accept fails.
//   serve_tls(utf8 address, u16 port, utf8 domain, hex cert_chain_pem, hex key_pem,
//             hex client_ca_pem, utf8 alpn)
//       the same with a TLS configuration made from the PEM arguments (guests have no file
//       system): a non-empty client_ca_pem requires client certificates that CA signed (mutual
//       TLS); `alpn` is a space-separated list of protocols a client must offer one of (empty:
//       none). Status 1 also when the configuration is refused.
//   client(utf8 host, u16 port, u32 streams, u32 bytes)
//       connects to host:port (trusting the work dir's certs/ca.crt, presenting certs/client.crt
//       when there is one), opens `streams` streams at once, sends `bytes` bytes on each (a
//       pattern that differs per stream) while reading the echo, and checks every echo byte for
//       byte. Logs Info "connected" {remote, alpn, peer}, Debug "stream echoed" {index, bytes}
//       or Warn "stream failed" {index, step, error, detail}, then Info "done" {streams, bytes,
//       ok, failed}. Status 0 when every stream came back whole, else 1.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <selium/selium.hpp>

namespace {

constexpr selium::log::Logger kLog{"examples.quic_echo"};
constexpr std::size_t kPiece = 16 * 1024;  // a stream's frames are at most this long

std::string_view text(selium::Bytes bytes) {
  return std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// Byte `at` of stream `stream`'s message: distinct per stream, so crossed streams show.
uint8_t messageByte(uint32_t stream, uint64_t at) {
  const uint64_t x = at * 131 + (at >> 11) + uint64_t{stream} * 7919;
  return static_cast<uint8_t>(x ^ (x >> 8));
}

// ---- Server --------------------------------------------------------------------------------

// What one connection's streams added up to (its streams run as separate tasks).
struct ConnectionStats {
  std::string remote;
  uint64_t streams = 0;
  uint64_t bytes = 0;
};

// Echoes one stream: every frame read is written back; the peer's FIN is answered with FIN. A
// stream the peer resets (Closed) is reset back: the writer goes away unfinished.
selium::Task<void> echoStream(std::shared_ptr<ConnectionStats> stats, selium::QuicStream stream) {
  std::vector<uint8_t> buffer(64 * 1024);
  uint64_t echoed = 0;
  std::string_view outcome = "finished";
  for (;;) {
    auto n = co_await stream.reader.read(buffer);
    if (!n) {
      if (n.error() == selium::ErrorCode::EndOfStream) {
        if (!stream.writer.finish()) outcome = "finish failed";
      } else {
        outcome = n.error() == selium::ErrorCode::Closed ? "reset by the client" : n.error().name();
      }
      break;
    }
    if (auto sent = co_await stream.writer.write(std::span<const uint8_t>(buffer.data(), *n));
        !sent) {
      outcome = "the client stopped reading";
      break;
    }
    echoed += *n;
  }
  stats->bytes += echoed;
  kLog.debug("stream", {{"remote", stats->remote}, {"bytes", echoed}, {"outcome", outcome}});
}

selium::Task<void> serveConnection(selium::QuicConnection connection) {
  auto stats = std::make_shared<ConnectionStats>();
  if (auto info = connection.info()) {
    stats->remote = info->remote_address;
    kLog.info("connection", {{"remote", info->remote_address},
                             {"sni", info->server_name},
                             {"alpn", info->alpn},
                             {"peer", info->peer_subject}});
  }
  for (;;) {
    auto stream = co_await connection.acceptStream();
    if (!stream) {
      // Closed: the connection is over (the client closed it, or it timed out idle); streams
      // still being echoed end with it.
      kLog.info("connection closed", {{"remote", stats->remote},
                                      {"streams", stats->streams},
                                      {"bytes", stats->bytes},
                                      {"reason", selium::lastError()}});
      co_return;
    }
    ++stats->streams;
    selium::spawn(echoStream(stats, std::move(*stream)));
  }
}

selium::Task<int> serve(std::string_view address, uint16_t port, std::string_view domain,
                        const selium::TlsServerConfig* tls) {
  selium::QuicListenOptions options;
  options.address = address;
  options.port = port;
  options.domain = domain;
  options.tls_config = tls;
  auto listener = selium::QuicListener::listen(options);
  if (!listener) {
    kLog.error("listen failed", {{"address", address},
                                 {"port", port},
                                 {"error", listener.error().name()},
                                 {"detail", selium::lastError()}});
    co_return 1;
  }
  kLog.info("listening", {{"address", address.empty() ? "0.0.0.0" : address},
                          {"port", listener->port()},
                          {"domain", domain}});
  for (;;) {
    auto connection = co_await listener->accept();
    if (!connection) {
      kLog.error("accept failed",
                 {{"error", connection.error().name()}, {"detail", selium::lastError()}});
      co_return 2;
    }
    selium::spawn(serveConnection(std::move(*connection)));
  }
}

std::vector<std::string> words(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    const std::size_t space = list.find(' ');
    if (space != 0) out.emplace_back(list.substr(0, space));
    if (space == std::string_view::npos) break;
    list.remove_prefix(space + 1);
  }
  return out;
}

// ---- Client --------------------------------------------------------------------------------

struct ClientTotals {
  uint32_t ok = 0;
  uint32_t failed = 0;
};

void streamFailed(ClientTotals& totals, uint32_t stream, std::string_view step,
                  std::string_view error, std::string_view detail) {
  ++totals.failed;
  kLog.warn("stream failed",
            {{"index", stream}, {"step", step}, {"error", error}, {"detail", detail}});
}

// Sends stream `index`'s message, then FIN. A failed write leaves the writer unfinished, which
// resets the stream; the reading side reports it.
selium::Task<void> sendMessage(selium::StreamWriter& writer, uint32_t index, uint64_t size) {
  std::vector<uint8_t> piece(kPiece);
  for (uint64_t at = 0; at < size; at += piece.size()) {
    const std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(piece.size(), size - at));
    for (std::size_t i = 0; i < n; ++i) piece[i] = messageByte(index, at + i);
    if (!co_await writer.write(std::span<const uint8_t>(piece.data(), n))) co_return;
  }
  (void)writer.finish();
}

// Reads stream `index`'s echo to its end and checks it byte for byte.
selium::Task<void> checkEcho(selium::Reader& reader, uint32_t index, uint64_t size,
                             ClientTotals& totals) {
  std::vector<uint8_t> buffer(64 * 1024);
  uint64_t received = 0;
  for (;;) {
    auto n = co_await reader.read(buffer);
    if (!n) {
      if (n.error() != selium::ErrorCode::EndOfStream) {
        streamFailed(totals, index, "read", n.error().name(), selium::lastError());
      } else if (received != size) {
        streamFailed(
            totals, index, "length", "Internal",
            "the echo has " + std::to_string(received) + " bytes, not " + std::to_string(size));
      } else {
        ++totals.ok;
        kLog.debug("stream echoed", {{"index", index}, {"bytes", received}});
      }
      co_return;
    }
    for (std::size_t i = 0; i < *n; ++i) {
      if (buffer[i] != messageByte(index, received + i)) {
        streamFailed(totals, index, "compare", "Internal",
                     "echo byte " + std::to_string(received + i) + " differs");
        co_return;
      }
    }
    received += *n;
  }
}

selium::Task<void> runStream(selium::QuicConnection& connection, uint32_t index, uint64_t size,
                             ClientTotals& totals) {
  auto stream = co_await connection.openStream();
  if (!stream) {
    streamFailed(totals, index, "open", stream.error().name(), selium::lastError());
    co_return;
  }
  // Send and read at once: a large message does not fit the windows, so the echo must be read
  // while the rest is still being sent.
  std::vector<selium::Task<void>> both;
  both.push_back(sendMessage(stream->writer, index, size));
  both.push_back(checkEcho(stream->reader, index, size, totals));
  co_await selium::whenAll(std::move(both));
}

}  // namespace

SELIUM_ENTRYPOINT(serve, (utf8, address), (u16, port), (utf8, domain)) {
  co_return co_await serve(address, port, domain, nullptr);
}

SELIUM_ENTRYPOINT(serve_tls, (utf8, address), (u16, port), (utf8, domain), (hex, cert_chain_pem),
                  (hex, key_pem), (hex, client_ca_pem), (utf8, alpn)) {
  selium::TlsServerOptions tls;
  tls.cert_chain_pem = text(cert_chain_pem);
  tls.key_pem = text(key_pem);
  tls.client_ca_pem = text(client_ca_pem);
  tls.require_client_auth = !client_ca_pem.empty();
  tls.alpn = words(alpn);
  auto config = selium::TlsServerConfig::create(tls);
  if (!config) {
    kLog.error("TLS configuration refused",
               {{"error", config.error().name()}, {"detail", selium::lastError()}});
    co_return 1;
  }
  co_return co_await serve(address, port, domain, &*config);
}

SELIUM_ENTRYPOINT(client, (utf8, host), (u16, port), (u32, streams), (u32, bytes)) {
  selium::QuicConnectOptions options;
  options.host = host;
  options.port = port;
  auto connection = selium::QuicConnection::connect(options);
  if (!connection) {
    kLog.error("connect failed",
               {{"error", connection.error().name()}, {"detail", selium::lastError()}});
    co_return 1;
  }
  ClientTotals totals;
  std::vector<selium::Task<void>> all;
  for (uint32_t i = 0; i < streams; ++i) all.push_back(runStream(*connection, i, bytes, totals));
  // Every stream is opened at once; the first open also waits for the handshake.
  co_await selium::whenAll(std::move(all));
  if (auto info = connection->info()) {
    kLog.info(
        "connected",
        {{"remote", info->remote_address}, {"alpn", info->alpn}, {"peer", info->peer_subject}});
  }
  kLog.info("done",
            {{"streams", streams}, {"bytes", bytes}, {"ok", totals.ok}, {"failed", totals.failed}});
  co_return totals.failed == 0 && totals.ok == streams ? 0 : 1;
}
