// An HTTP server socket: accepts TCP connections on one endpoint, does the TLS handshake (when it
// has a context), picks HTTP/2 or HTTP/1.1 by ALPN, caps connections, and hands every valid
// request to its RequestHandler as an Exchange. Loop thread only.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>

#include "net/http/connection.h"
#include "net/http/exchange.h"
#include "util/result.h"

namespace selium::net::http {

struct ServerOptions {
  ServerLimits limits;
  // null: plain HTTP/1.1. Otherwise TLS with this context (its ALPN callback and SNI routing are
  // set by net/tls): "h2" → HTTP/2, "http/1.1" or none → HTTP/1.1. Boost.Asio's SSL streams
  // own the context's app data and default password-callback userdata (SSL_CTX_set_app_data,
  // SSL_CTX_set_default_passwd_cb_userdata): listen() refuses a context that uses them; keep
  // per-context state in an ex_data index of its own.
  std::shared_ptr<SSL_CTX> tls;
  std::chrono::milliseconds handshake_timeout{10000};
};

class Server : public std::enable_shared_from_this<Server> {
 public:
  // Binds and listens (SO_REUSEADDR); port 0 picks one. Errors name the endpoint and the reason
  // ("127.0.0.1:80: Permission denied").
  static Result<std::shared_ptr<Server>> listen(boost::asio::io_context& loop,
                                                const boost::asio::ip::tcp::endpoint& endpoint,
                                                ServerOptions options, RequestHandler handler);
  virtual ~Server() = default;
  virtual uint16_t port() const = 0;
  // Stops accepting and closes every connection. Idempotent.
  virtual void close() = 0;
  // Closes the listening socket only: connections already accepted go on (the port can be bound
  // again at once). Idempotent; close() still ends the rest.
  virtual void stopAccepting() = 0;
  virtual std::size_t connectionCount() const = 0;
};

}  // namespace selium::net::http
