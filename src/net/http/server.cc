// The HTTP listener: accept loop, connection cap, TLS handshake, ALPN dispatch (net/http/server.h).
#include "net/http/server.h"

#include <openssl/err.h>

#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "net/address.h"
#include "net/http/http_util.h"
#include "util/log.h"

namespace selium::net::http {
namespace {

namespace asio = boost::asio;
using boost::asio::ip::tcp;
using boost::system::error_code;

constexpr std::string_view kLogTarget = "selium.net.http";
// After an accept error that a retry would only repeat at once (out of descriptors or memory).
constexpr std::chrono::milliseconds kAcceptBackoff{50};

std::string endpointText(const tcp::endpoint& endpoint) {
  return formatAddress(endpoint.address(), endpoint.port());
}

class ServerImpl final : public Server {
 public:
  ServerImpl(asio::io_context& loop, ServerOptions options, RequestHandler handler)
      : loop_(loop),
        acceptor_(loop),
        backoff_(loop),
        options_(std::move(options)),
        handler_(std::make_shared<RequestHandler>(std::move(handler))) {}

  ~ServerImpl() override { close(); }

  Status open(const tcp::endpoint& endpoint) {
    auto failed = [&](std::string_view what, const error_code& ec) -> Status {
      return Error{endpointText(endpoint) + ": " + std::string(what) + ec.message()};
    };
    if (options_.tls) {
      SSL_CTX* ctx = options_.tls.get();
      // Asio's context wrapper owns the SSL_CTX's app data and default password userdata (its
      // destructor deletes them as its own objects): refuse a context that uses them.
      if (SSL_CTX_get_app_data(ctx) != nullptr ||
          SSL_CTX_get_default_passwd_cb_userdata(ctx) != nullptr) {
        return Error{endpointText(endpoint) +
                     ": the TLS context uses SSL_CTX app data or password userdata, which the "
                     "HTTP server's TLS streams (Boost.Asio) reserve"};
      }
      SSL_CTX_up_ref(ctx);
      ssl_context_.emplace(ctx);  // takes the reference just added
    }
    error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (ec) return failed("", ec);
    acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (ec) return failed("", ec);
    acceptor_.bind(endpoint, ec);
    if (ec) return failed("", ec);
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return failed("", ec);
    local_ = acceptor_.local_endpoint(ec);
    if (ec) return failed("", ec);
    return Ok{};
  }

  void startAccept() {
    if (closed_ || !accepting_) return;
    acceptor_.async_accept([weak = weakSelf()](error_code ec, tcp::socket socket) {
      auto self = weak.lock();
      if (!self) return;
      self->onAccept(ec, std::move(socket));
    });
  }

  uint16_t port() const override { return local_.port(); }

  void stopAccepting() override {
    if (!accepting_) return;
    accepting_ = false;
    error_code ec;
    acceptor_.close(ec);
    backoff_.cancel();
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    error_code ec;
    acceptor_.close(ec);
    backoff_.cancel();
    // Closing runs their on_closed, which erases from these maps: work on copies.
    auto handshakes = std::move(handshakes_);
    handshakes_.clear();
    for (auto& [id, handshake] : handshakes) {
      handshake->timer.cancel();
      handshake->stream->next_layer().close(ec);
    }
    auto connections = std::move(connections_);
    connections_.clear();
    for (auto& [id, connection] : connections) {
      if (connection) connection->close();
    }
  }

  std::size_t connectionCount() const override { return connections_.size() + handshakes_.size(); }

 private:
  struct Handshake {
    explicit Handshake(asio::io_context& loop) : timer(loop) {}
    std::unique_ptr<TlsStream> stream;
    asio::steady_timer timer;
    PeerInfo peer;
  };

  void onAccept(error_code ec, tcp::socket socket) {
    if (closed_ || !accepting_) return;
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      // Once per streak of the same error: a listener out of descriptors retries 20 times a
      // second.
      if (ec != last_accept_error_) {
        log::write(log::Level::Warn, kLogTarget, "accept failed",
                   {{"listener", endpointText(local_)}, {"error", ec.message()}});
      }
      last_accept_error_ = ec;
      if (ec == asio::error::connection_aborted) return startAccept();
      // EMFILE, ENFILE, ENOBUFS, ENOMEM: retrying at once would spin.
      backoff_.expires_after(kAcceptBackoff);
      backoff_.async_wait([weak = weakSelf()](error_code wait_ec) {
        auto self = weak.lock();
        if (!wait_ec && self) self->startAccept();
      });
      return;
    }
    last_accept_error_ = {};
    accepted(std::move(socket));
    startAccept();
  }

  void accepted(tcp::socket socket) {
    error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    auto remote = socket.remote_endpoint(ec);
    if (ec) return;  // already gone
    if (connectionCount() >= options_.limits.max_connections) return reject(socket);

    PeerInfo peer;
    peer.remote_address = endpointText(remote);
    peer.local_address = endpointText(socket.local_endpoint(ec));
    uint64_t id = next_id_++;
    if (!ssl_context_) return serve(id, std::move(socket), std::move(peer));

    auto handshake = std::make_shared<Handshake>(loop_);
    handshake->stream = std::make_unique<TlsStream>(std::move(socket), *ssl_context_);
    handshake->peer = std::move(peer);
    handshake->peer.tls = true;
    handshakes_.emplace(id, handshake);
    handshake->timer.expires_after(options_.handshake_timeout);
    handshake->timer.async_wait([handshake](error_code wait_ec) {
      if (wait_ec) return;
      error_code close_ec;
      handshake->stream->next_layer().close(close_ec);  // the handshake fails with it
    });
    handshake->stream->async_handshake(asio::ssl::stream_base::server,
                                       [weak = weakSelf(), handshake, id](error_code hs_ec) {
                                         handshake->timer.cancel();
                                         auto self = weak.lock();
                                         if (!self || self->closed_) return;
                                         self->handshakes_.erase(id);
                                         if (hs_ec) return linger(handshake);
                                         self->afterHandshake(id, *handshake);
                                       });
  }

  // After a failed handshake, whose alert (a client certificate required or refused, ...) is
  // written: our side shuts and the peer's bytes are read and dropped until it closes, at most
  // kLingerTime / kLingerBytes. A TLS 1.3 client sends its request right behind its certificate;
  // closing on those unread bytes would reset the connection under the alert, and the client
  // would report a reset instead of the reason.
  static constexpr std::chrono::milliseconds kLingerTime{1000};
  static constexpr std::size_t kLingerBytes = 64 * 1024;
  struct Linger {
    std::shared_ptr<Handshake> handshake;
    std::array<char, 4096> buffer;
    std::size_t discarded = 0;
  };
  static void linger(const std::shared_ptr<Handshake>& handshake) {
    tcp::socket& socket = handshake->stream->next_layer();
    error_code ec;
    socket.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
      socket.close(ec);
      return;
    }
    auto state = std::make_shared<Linger>(Linger{handshake, {}, 0});
    handshake->timer.expires_after(kLingerTime);
    handshake->timer.async_wait([state](error_code wait_ec) {
      if (wait_ec == asio::error::operation_aborted) return;
      error_code close_ec;
      state->handshake->stream->next_layer().close(close_ec);
    });
    drain(state);
  }
  static void drain(const std::shared_ptr<Linger>& state) {
    tcp::socket& socket = state->handshake->stream->next_layer();
    socket.async_read_some(asio::buffer(state->buffer), [state](error_code ec, std::size_t n) {
      state->discarded += n;
      if (!ec && state->discarded < kLingerBytes) return drain(state);
      state->handshake->timer.cancel();
      error_code close_ec;
      state->handshake->stream->next_layer().close(close_ec);
    });
  }

  // Over the cap: plain HTTP gets a minimal 503 (written without waiting: it fits any socket
  // buffer), TLS nothing. Input already there is read first, so closing does not reset the
  // connection under the response.
  void reject(tcp::socket& socket) {
    error_code ec;
    if (!ssl_context_) {
      socket.non_blocking(true, ec);
      std::array<char, 4096> discard;
      socket.read_some(asio::buffer(discard), ec);
      static const std::string kBusy =
          errorResponse(503, "service unavailable: connection limit reached");
      socket.write_some(asio::buffer(kBusy), ec);
      socket.shutdown(tcp::socket::shutdown_both, ec);
    }
    socket.close(ec);
  }

  void afterHandshake(uint64_t id, Handshake& handshake) {
    SSL* ssl = handshake.stream->native_handle();
    const unsigned char* alpn = nullptr;
    unsigned int alpn_length = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_length);
    if (alpn != nullptr) {
      handshake.peer.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_length);
    }
    if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
      handshake.peer.sni = toLowerAscii(sni);
    }
    if (handshake.peer.alpn == "h2") {
      return track(
          id,
          [&](ConnectionContext context) {
            return startH2Connection(std::move(handshake.stream), std::move(context));
          },
          std::move(handshake.peer));
    }
    track(
        id,
        [&](ConnectionContext context) {
          return startH1Connection(std::move(handshake.stream), std::move(context));
        },
        std::move(handshake.peer));
  }

  void serve(uint64_t id, tcp::socket socket, PeerInfo peer) {
    track(
        id,
        [&](ConnectionContext context) {
          return startH1Connection(std::move(socket), std::move(context));
        },
        std::move(peer));
  }

  template <class Start>
  void track(uint64_t id, Start start, PeerInfo peer) {
    ConnectionContext context;
    context.loop = &loop_;
    context.limits = options_.limits;
    context.handler = [handler = handler_](std::shared_ptr<Exchange> exchange) {
      (*handler)(std::move(exchange));
    };
    context.peer = std::move(peer);
    context.on_closed = [weak = weakSelf(), id] {
      if (auto self = weak.lock()) {
        self->connections_.erase(id);
      }
    };
    // The entry exists before start() so an on_closed run from inside it finds (and removes) it.
    connections_.emplace(id, nullptr);
    auto connection = start(std::move(context));
    if (auto it = connections_.find(id); it != connections_.end()) it->second = connection;
  }

  std::weak_ptr<ServerImpl> weakSelf() {
    return std::static_pointer_cast<ServerImpl>(shared_from_this());
  }

  asio::io_context& loop_;
  tcp::acceptor acceptor_;
  asio::steady_timer backoff_;
  ServerOptions options_;
  std::shared_ptr<RequestHandler> handler_;
  std::optional<asio::ssl::context> ssl_context_;
  tcp::endpoint local_;
  std::unordered_map<uint64_t, std::shared_ptr<Handshake>> handshakes_;
  std::unordered_map<uint64_t, std::shared_ptr<Connection>> connections_;
  error_code last_accept_error_;
  uint64_t next_id_ = 1;
  bool closed_ = false;
  bool accepting_ = true;
};

}  // namespace

Result<std::shared_ptr<Server>> Server::listen(asio::io_context& loop,
                                               const tcp::endpoint& endpoint, ServerOptions options,
                                               RequestHandler handler) {
  auto server = std::make_shared<ServerImpl>(loop, std::move(options), std::move(handler));
  if (auto status = server->open(endpoint); !status) return status.error();
  server->startAccept();
  return std::shared_ptr<Server>(std::move(server));
}

}  // namespace selium::net::http
