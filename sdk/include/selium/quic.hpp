// QUIC connections and streams (capabilities NetQuicBind, NetQuicAccept, NetQuicConnect,
// NetQuicRead, NetQuicWrite). A connection carries any number of bidirectional streams; each
// stream is a Reader (its bytes in, then EndOfStream on FIN or Closed on reset) and a
// StreamWriter (write pieces, finish() sends FIN; destroying it unfinished resets the stream).
// TLS 1.3 always. docs/networking.md describes the model and the limits.
//
//   auto listener = selium::QuicListener::listen({.port = 4433});
//   auto connection = co_await listener->accept();
//   auto stream = co_await connection->acceptStream();
//   auto bytes = co_await stream->reader.read();
//   co_await stream->writer.write("pong");
//   stream->writer.finish();
//
// Listeners, connections, readers and writers are handles: share() them and another process
// attaches and uses them (several processes accepting on one listener each get their own
// connections; a stream answered by another process).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "selium/channel.hpp"
#include "selium/http.hpp"
#include "selium/result.hpp"
#include "selium/task.hpp"

namespace selium {

// 0: the runtime's default for each (see docs/networking.md).
struct QuicLimits {
  uint32_t max_connections = 0;  // listeners: connections at once on the port
  uint32_t max_streams = 0;      // streams the peer may have open at once
  uint32_t idle_timeout_ms = 0;  // a quiet connection is closed after this
};

struct QuicListenOptions {
  std::string_view domain;   // connections whose server name (SNI) is this; empty: any other
  std::string_view address;  // empty: 0.0.0.0
  uint16_t port = 0;         // 0: the system picks (QuicListener::port() tells)
  const TlsServerConfig* tls_config = nullptr;  // null: the work dir's certs/server.crt + key
  QuicLimits limits;
};

struct QuicConnectOptions {
  std::string_view host;  // DNS name or IP literal
  uint16_t port = 0;
  // null: trust the work dir's certs/ca.crt, presenting certs/client.crt + key if present.
  const TlsClientConfig* tls_config = nullptr;
  QuicLimits limits;
};

// A stream's sending side: BodyWriter's semantics (finish() sends FIN).
using StreamWriter = BodyWriter;

struct QuicStream {
  Reader reader;
  StreamWriter writer;
};

struct QuicConnectionInfo {
  std::string remote_address;  // "ip:port"
  std::string server_name;     // SNI
  std::string alpn;            // negotiated protocol, empty if none
  std::string peer_subject;    // the peer certificate's subject, empty if it sent none
};

class QuicConnection {
 public:
  explicit QuicConnection(Handle handle) noexcept : handle_(std::move(handle)) {}
  // Starts connecting and returns at once: stream calls wait for the handshake, and fail Closed
  // (lastError() says why) if it fails.
  static Result<QuicConnection> connect(const QuicConnectOptions& options) noexcept;
  static Result<QuicConnection> attach(SharedId id) noexcept;

  // The next stream the peer opens; Closed once the connection is over.
  Task<Result<QuicStream>> acceptStream();
  // Opens a stream (waits for the handshake, or for the peer to allow more streams).
  Task<Result<QuicStream>> openStream();
  // NotFound while the handshake runs.
  Result<QuicConnectionInfo> info() const noexcept;

  Result<SharedId> share() const noexcept { return handle_.share(); }
  const Handle& handle() const noexcept { return handle_; }
  // Closes the connection (when no other handle names it).
  void close() noexcept { handle_.close(); }

 private:
  Handle handle_;
};

class QuicListener {
 public:
  explicit QuicListener(Handle handle) noexcept : handle_(std::move(handle)) {}
  static Result<QuicListener> listen(const QuicListenOptions& options) noexcept;
  static Result<QuicListener> attach(SharedId id) noexcept;

  // The next connection (its handshake done).
  Task<Result<QuicConnection>> accept();
  uint16_t port() const noexcept;
  Result<SharedId> share() const noexcept { return handle_.share(); }
  const Handle& handle() const noexcept { return handle_; }

 private:
  Handle handle_;
};

}  // namespace selium
