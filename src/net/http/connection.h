// What the HTTP server's listener and its protocol connections (HTTP/1.1: h1_connection.*,
// HTTP/2: h2_connection.*) share. Loop thread only.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <functional>
#include <memory>

#include "net/http/exchange.h"

namespace selium::net::http {

using TcpSocket = boost::asio::ip::tcp::socket;
using TlsStream = boost::asio::ssl::stream<TcpSocket>;

// One accepted connection, whatever its protocol.
class Connection {
 public:
  virtual ~Connection() = default;
  // Stops serving: exchanges in flight are reset, the socket is closed. Idempotent. on_closed
  // runs (once) whether the connection ends this way or on its own.
  virtual void close() = 0;
};

// What a listener gives each connection.
struct ConnectionContext {
  boost::asio::io_context* loop = nullptr;
  ServerLimits limits;
  RequestHandler handler;
  PeerInfo peer;
  std::function<void()> on_closed;  // the connection has ended (the listener forgets it)
};

// Serves HTTP/1.1 (and 1.0) on a plain or TLS stream whose handshake is done (h1_connection.cc).
std::shared_ptr<Connection> startH1Connection(TcpSocket socket, ConnectionContext context);
std::shared_ptr<Connection> startH1Connection(std::unique_ptr<TlsStream> stream,
                                              ConnectionContext context);
// Serves HTTP/2 on a TLS stream that negotiated ALPN "h2" (h2_connection.cc).
std::shared_ptr<Connection> startH2Connection(std::unique_ptr<TlsStream> stream,
                                              ConnectionContext context);

}  // namespace selium::net::http
