// The HTTP client (net/http/client.h): request validation, the queue, and the one connection to
// the origin — resolve, connect, TLS handshake, ALPN dispatch to HTTP/1.1 (client_h1.cc) or
// HTTP/2 (client_h2.cc), idle timeout, reconnection. Loop thread only.
#include "net/http/client.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/address.h"
#include "net/http/client_connection.h"
#include "net/http/http_util.h"
#include "util/log.h"

namespace selium::net::http {
namespace {

namespace asio = boost::asio;
using boost::asio::ip::tcp;
using boost::system::error_code;
using detail::ClientConnection;
using detail::ClientExchangeImpl;

constexpr std::string_view kLogTarget = "selium.net.http.client";

// Shows at most 80 bytes of an input in an error, control and non-ASCII bytes as '?'.
std::string quote(std::string_view text) {
  constexpr std::size_t kMax = 80;
  std::string out = "\"";
  for (char c : text.substr(0, kMax)) {
    auto u = static_cast<unsigned char>(c);
    out += u < 0x20 || u >= 0x7f ? '?' : c;
  }
  if (text.size() > kMax) out += "...";
  return out + "\"";
}

bool isIpLiteral(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// "host:port", IPv6 literals in brackets.
std::string hostPort(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

// The Host / :authority the origin implies: the port only when not the scheme's default.
std::string defaultAuthority(const Origin& origin) {
  uint16_t default_port = origin.tls ? 443 : 80;
  std::string host = toLowerAscii(origin.host);
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  if (origin.port == default_port) return host;
  return host + ":" + std::to_string(origin.port);
}

bool isValidTarget(std::string_view target) {
  if (target == "*") return true;
  if (target.empty() || target.front() != '/') return false;
  return std::none_of(target.begin(), target.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u >= 0x7f;
  });
}

// Why a handshake failed: the certificate verification result when that was it.
std::string handshakeFailure(SSL* ssl, const error_code& ec) {
  long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    return std::string("certificate verify failed (") + X509_verify_cert_error_string(verify) + ")";
  }
  return ec.message();
}

class ClientImpl final : public Client, public std::enable_shared_from_this<ClientImpl> {
 public:
  ClientImpl(asio::io_context& loop, Origin origin, ClientLimits limits)
      : loop_(loop),
        origin_(std::move(origin)),
        limits_(limits),
        origin_text_(hostPort(origin_.host, origin_.port)),
        authority_(defaultAuthority(origin_)),
        idle_timer_(loop) {
    if (origin_.tls) setUpTls();
  }

  ~ClientImpl() override { close(); }

  Result<std::shared_ptr<ClientExchange>> send(RequestHead head, std::shared_ptr<ByteProducer> body,
                                               ResponseHandler on_response) override {
    if (closed_) return Error{"the HTTP client for " + origin_text_ + " is closed"};
    if (!isValidHeaderName(head.method))
      return Error{"invalid request method " + quote(head.method)};
    if (!isValidTarget(head.target)) return Error{"invalid request target " + quote(head.target)};
    if (head.authority.empty()) {
      head.authority = authority_;
      if (!isValidAuthority(head.authority)) {
        return Error{"invalid origin host " + quote(origin_.host) + ": not usable as a Host"};
      }
    } else {
      if (!isValidAuthority(head.authority)) {
        return Error{"invalid request authority " + quote(head.authority)};
      }
      head.authority = toLowerAscii(head.authority);
    }
    std::vector<Header> headers;
    headers.reserve(head.headers.size());
    for (auto& header : head.headers) {
      if (!isValidHeaderName(header.name)) {
        return Error{"invalid request header name " + quote(header.name)};
      }
      if (!isValidHeaderValue(header.value)) {
        return Error{"invalid value of request header " + quote(header.name)};
      }
      std::string name = toLowerAscii(header.name);
      if (isConnectionLevelHeader(name) || name == "host" || name == "content-length") continue;
      headers.push_back({std::move(name), std::move(header.value)});
    }
    head.headers = std::move(headers);
    if (!body) {
      if (head.content_length.value_or(0) != 0) {
        return Error{"request declares a content-length of " +
                     std::to_string(*head.content_length) + " bytes but has no body"};
      }
      head.content_length = 0;
    }
    head.scheme = origin_.tls ? "https" : "http";
    forgetFinished();
    if (queue_.size() >= limits_.max_queued) {
      return Error{"too many requests waiting for " + origin_text_ + ": limit " +
                   std::to_string(limits_.max_queued)};
    }
    auto exchange = std::make_shared<ClientExchangeImpl>(loop_, std::move(head), std::move(body),
                                                         std::move(on_response));
    queue_.push_back(exchange);
    pump();
    return std::shared_ptr<ClientExchange>(std::move(exchange));
  }

  ClientConnectionInfo connectionInfo() const override { return info_; }

  std::size_t pending() const override {
    std::size_t count = 0;
    for (const auto& exchange : queue_) count += exchange->finished() ? 0 : 1;
    for (const auto& slot : slots_) {
      for (const auto& exchange : slot.running) count += exchange->finished() ? 0 : 1;
    }
    return count;
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    ++idle_gen_;
    idle_timer_.cancel();
    cancelAttempt();
    auto queue = std::move(queue_);
    queue_.clear();
    for (auto& exchange : queue) exchange->reset();
    auto slots = std::move(slots_);
    slots_.clear();
    for (auto& slot : slots) {
      for (auto& exchange : slot.running) exchange->reset();
      slot.connection->close("the HTTP client was closed");
    }
  }

 private:
  // A connection and the exchanges it runs. slots_.front() is the current one when it is not
  // retired; a retired one (no longer reusable) is closed once its exchanges are over.
  struct Slot {
    uint64_t id = 0;
    std::shared_ptr<ClientConnection> connection;
    std::vector<std::shared_ptr<ClientExchangeImpl>> running;
    bool retired = false;
  };

  // One connection attempt: resolve, connect, handshake, bounded by connect_timeout.
  struct Attempt {
    explicit Attempt(asio::io_context& loop) : resolver(loop), socket(loop), timer(loop) {}
    tcp::resolver resolver;
    TcpSocket socket;
    std::unique_ptr<TlsStream> tls;
    asio::steady_timer timer;
    bool timed_out = false;
    bool cancelled = false;

    void stop() {
      error_code ec;
      resolver.cancel();
      timer.cancel();
      socket.close(ec);
      if (tls) tls->next_layer().close(ec);
    }
  };

  void setUpTls() {
    SSL_CTX* ctx = origin_.tls->context().get();
    // Asio's context wrapper owns the SSL_CTX's app data and default password userdata (its
    // destructor deletes them as its own objects): refuse a context that uses them.
    if (ctx == nullptr) {
      tls_error_ = "the TLS configuration has no context";
      return;
    }
    if (SSL_CTX_get_app_data(ctx) != nullptr ||
        SSL_CTX_get_default_passwd_cb_userdata(ctx) != nullptr) {
      tls_error_ =
          "the TLS context uses SSL_CTX app data or password userdata, which the HTTP client's "
          "TLS streams (Boost.Asio) reserve";
      return;
    }
    SSL_CTX_up_ref(ctx);
    ssl_context_.emplace(ctx);  // takes the reference just added
  }

  // Drops exchanges that are over (reset while queued, finished on a connection).
  void forgetFinished() {
    std::erase_if(queue_, [](const auto& exchange) { return exchange->finished(); });
    for (auto& slot : slots_) {
      std::erase_if(slot.running, [](const auto& exchange) { return exchange->finished(); });
    }
  }

  Slot* current() {
    if (slots_.empty() || slots_.front().retired) return nullptr;
    return &slots_.front();
  }

  // Starts what can start; retires and closes what is spent; connects when needed.
  void pump() {
    if (closed_) return;
    forgetFinished();
    if (Slot* slot = current(); slot && !slot->connection->reusable()) slot->retired = true;
    for (auto it = slots_.begin(); it != slots_.end();) {
      if (it->retired && it->running.empty()) {
        auto connection = std::move(it->connection);
        it = slots_.erase(it);
        connection->close("the connection is no longer usable");
      } else {
        ++it;
      }
    }
    Slot* slot = current();
    while (slot && !queue_.empty() && slot->connection->canStart()) {
      auto exchange = std::move(queue_.front());
      queue_.pop_front();
      if (exchange->finished()) continue;
      slot->running.push_back(exchange);
      slot->connection->start(std::move(exchange));
    }
    if (!slot && !queue_.empty() && !attempt_) connect();
    updateIdleTimer();
  }

  void updateIdleTimer() {
    Slot* slot = current();
    bool idle = slot && slot->running.empty() && queue_.empty();
    if (idle == idle_armed_) return;
    idle_armed_ = idle;
    auto gen = ++idle_gen_;
    if (!idle) {
      idle_timer_.cancel();
      return;
    }
    idle_timer_.expires_after(limits_.idle_timeout);
    idle_timer_.async_wait([weak = weak_from_this(), gen](error_code ec) {
      auto self = weak.lock();
      if (ec || !self || gen != self->idle_gen_) return;
      self->onIdleTimeout();
    });
  }

  void onIdleTimeout() {
    idle_armed_ = false;
    Slot* slot = current();
    if (!slot || !slot->running.empty()) return;
    auto connection = std::move(slot->connection);
    slots_.erase(slots_.begin());
    log::write(log::Level::Debug, kLogTarget, "idle connection closed",
               {{"origin", origin_text_}, {"remote", connection->info().remote_address}});
    connection->close("idle for " + std::to_string(limits_.idle_timeout.count()) + " ms");
    pump();
  }

  // --- Connecting.

  void connect() {
    auto attempt = std::make_shared<Attempt>(loop_);
    attempt_ = attempt;
    if (!tls_error_.empty()) {
      // Not inside send(): the failure is reported like any other connect failure.
      asio::post(loop_, [weak = weak_from_this(), attempt] {
        if (auto self = weak.lock(); self && !attempt->cancelled) {
          self->connectFailed(*attempt, "TLS with " + self->origin_text_ + ": " + self->tls_error_);
        }
      });
      return;
    }
    attempt->timer.expires_after(limits_.connect_timeout);
    attempt->timer.async_wait([attempt](error_code ec) {
      if (ec || attempt->cancelled) return;
      attempt->timed_out = true;
      attempt->stop();  // the operation in flight fails with it
    });
    if (isIpLiteral(origin_.host)) {
      // No resolver for a literal: getaddrinfo's AI_ADDRCONFIG would refuse "::1" on a host
      // without a global IPv6 address.
      tcp::endpoint endpoint(asio::ip::make_address(origin_.host), origin_.port);
      std::vector<tcp::endpoint> endpoints{endpoint};
      return connectTo(attempt, std::move(endpoints));
    }
    attempt->resolver.async_resolve(
        origin_.host, std::to_string(origin_.port),
        [weak = weak_from_this(), attempt](error_code ec, tcp::resolver::results_type results) {
          auto self = weak.lock();
          if (!self || attempt->cancelled) return;
          if (ec)
            return self->connectFailed(*attempt, ec, "resolving " + quote(self->origin_.host));
          std::vector<tcp::endpoint> endpoints;
          for (const auto& entry : results) endpoints.push_back(entry.endpoint());
          self->connectTo(attempt, std::move(endpoints));
        });
  }

  void connectTo(const std::shared_ptr<Attempt>& attempt, std::vector<tcp::endpoint> endpoints) {
    asio::async_connect(
        attempt->socket, endpoints,
        [weak = weak_from_this(), attempt](error_code ec, const tcp::endpoint& endpoint) {
          auto self = weak.lock();
          if (!self || attempt->cancelled) return;
          if (ec) return self->connectFailed(*attempt, ec, "");
          self->connected(attempt, endpoint);
        });
  }

  void connected(const std::shared_ptr<Attempt>& attempt, const tcp::endpoint& endpoint) {
    error_code ec;
    attempt->socket.set_option(tcp::no_delay(true), ec);
    ClientConnectionInfo info;
    info.remote_address = formatAddress(endpoint.address(), endpoint.port());
    if (!ssl_context_) {
      attempt->timer.cancel();
      return established(*attempt, std::move(info), [&](detail::ClientConnectionContext context) {
        return detail::startH1ClientConnection(std::move(attempt->socket), std::move(context));
      });
    }
    attempt->tls = std::make_unique<TlsStream>(std::move(attempt->socket), *ssl_context_);
    SSL* ssl = attempt->tls->native_handle();
    if (auto status = origin_.tls->prepare(ssl, origin_.host); !status) {
      return connectFailed(*attempt, "TLS with " + origin_text_ + ": " + status.error().message);
    }
    attempt->tls->async_handshake(
        asio::ssl::stream_base::client,
        [weak = weak_from_this(), attempt, info = std::move(info)](error_code hs_ec) mutable {
          auto self = weak.lock();
          if (!self || attempt->cancelled) return;
          self->handshaken(attempt, hs_ec, std::move(info));
        });
  }

  void handshaken(const std::shared_ptr<Attempt>& attempt, error_code ec,
                  ClientConnectionInfo info) {
    SSL* ssl = attempt->tls->native_handle();
    if (ec) {
      std::string reason =
          attempt->timed_out
              ? "timed out after " + std::to_string(limits_.connect_timeout.count()) + " ms"
              : handshakeFailure(ssl, ec);
      ERR_clear_error();
      return connectFailed(*attempt, "TLS handshake with " + origin_text_ + ": " + reason);
    }
    attempt->timer.cancel();
    const unsigned char* alpn = nullptr;
    unsigned int alpn_length = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_length);
    if (alpn != nullptr) info.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_length);
    if (info.alpn == "h2") {
      return established(*attempt, std::move(info), [&](detail::ClientConnectionContext context) {
        return detail::startH2ClientConnection(std::move(attempt->tls), std::move(context));
      });
    }
    established(*attempt, std::move(info), [&](detail::ClientConnectionContext context) {
      return detail::startH1ClientConnection(std::move(attempt->tls), std::move(context));
    });
  }

  template <class Start>
  void established(Attempt& attempt, ClientConnectionInfo info, Start start) {
    attempt_.reset();
    uint64_t id = next_id_++;
    log::write(log::Level::Debug, kLogTarget, "connected",
               {{"origin", origin_text_},
                {"remote", info.remote_address},
                {"alpn", info.alpn.empty() ? std::string("-") : info.alpn}});
    info_ = info;
    detail::ClientConnectionContext context;
    context.loop = &loop_;
    context.limits = limits_;
    context.info = std::move(info);
    context.origin = origin_text_;
    context.events.on_ready = [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->pump();
    };
    context.events.on_closed = [weak = weak_from_this(), id] {
      if (auto self = weak.lock()) self->onConnectionClosed(id);
    };
    Slot slot;
    slot.id = id;
    slot.connection = start(std::move(context));
    (void)attempt;
    // Retired ones go behind the current one.
    slots_.insert(slots_.begin(), std::move(slot));
    pump();
  }

  void connectFailed(Attempt& attempt, const error_code& ec, const std::string& step) {
    std::string reason =
        attempt.timed_out
            ? "timed out after " + std::to_string(limits_.connect_timeout.count()) + " ms"
            : ec.message();
    if (!step.empty() && !attempt.timed_out) reason = step + ": " + reason;
    connectFailed(attempt, "connect to " + origin_text_ + ": " + reason);
  }

  // Every queued exchange fails with `reason`; the next send() connects again.
  void connectFailed(Attempt& attempt, const std::string& reason) {
    attempt.cancelled = true;
    attempt.stop();
    attempt_.reset();
    log::write(log::Level::Debug, kLogTarget, "connect failed",
               {{"origin", origin_text_}, {"error", reason}});
    auto queue = std::move(queue_);
    queue_.clear();
    for (auto& exchange : queue) exchange->finish(false, reason);
  }

  void cancelAttempt() {
    if (!attempt_) return;
    attempt_->cancelled = true;
    attempt_->stop();
    attempt_.reset();
  }

  void onConnectionClosed(uint64_t id) {
    std::erase_if(slots_, [id](const Slot& slot) { return slot.id == id; });
    pump();
  }

  asio::io_context& loop_;
  Origin origin_;
  ClientLimits limits_;
  std::string origin_text_;  // "host:port" for messages
  std::string authority_;    // the default Host
  std::optional<asio::ssl::context> ssl_context_;
  std::string tls_error_;  // why TLS cannot be used (reported by each connect)
  std::deque<std::shared_ptr<ClientExchangeImpl>> queue_;
  std::vector<Slot> slots_;
  std::shared_ptr<Attempt> attempt_;
  ClientConnectionInfo info_;
  asio::steady_timer idle_timer_;
  uint64_t idle_gen_ = 0;
  bool idle_armed_ = false;
  uint64_t next_id_ = 1;
  bool closed_ = false;
};

}  // namespace

std::shared_ptr<Client> Client::create(asio::io_context& loop, Origin origin, ClientLimits limits) {
  return std::make_shared<ClientImpl>(loop, std::move(origin), limits);
}

}  // namespace selium::net::http
