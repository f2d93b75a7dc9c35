#include "net/quic/endpoint.h"

#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>

#include "net/address.h"
#include "net/quic/connection.h"

namespace selium::net::quic {
namespace {

using boost::asio::ip::udp;

// Large enough for any UDP payload; datagrams are handled one at a time from this buffer.
constexpr std::size_t kReceiveBufferSize = 65536;
// Datagrams read per wake-up before yielding to other handlers.
constexpr int kReadsPerWake = 64;
// How long a Retry token is good for: one round trip is enough; allow for slow clients.
constexpr ngtcp2_duration kRetryTokenLifetime = 10 * NGTCP2_SECONDS;

std::string describe(const udp::endpoint& endpoint) {
  return formatAddress(endpoint.address(), endpoint.port());
}

}  // namespace

EndpointImpl::EndpointImpl(boost::asio::io_context& loop, Role role, const Limits& limits)
    : loop_(loop),
      role_(role),
      limits_(limits),
      socket_(loop),
      buffer_(std::make_shared<std::vector<uint8_t>>(kReceiveBufferSize)) {
  (void)gnutls_rnd(GNUTLS_RND_KEY, secret_.data(), secret_.size());
  (void)gnutls_rnd(GNUTLS_RND_KEY, retry_secret_.data(), retry_secret_.size());
}

EndpointImpl::~EndpointImpl() {
  // Normally close() ran already; connections do not outlive the endpoint's socket.
  auto connections = std::move(connections_);
  for (auto& [raw, connection] : connections) connection->shutdown("endpoint destroyed");
  boost::system::error_code ignored;
  socket_.close(ignored);
}

Status EndpointImpl::open(const udp::endpoint& bind) {
  boost::system::error_code ec;
  socket_.open(bind.protocol(), ec);
  if (!ec) socket_.bind(bind, ec);
  if (!ec) socket_.non_blocking(true, ec);
  if (!ec) local_ = socket_.local_endpoint(ec);
  if (ec) return Error{"QUIC endpoint " + describe(bind) + ": " + ec.message()};
  receive();
  return Ok{};
}

void EndpointImpl::setServer(std::shared_ptr<ServerTlsContext> tls,
                             std::function<void(std::shared_ptr<Connection>)> on_connection) {
  tls_ = std::move(tls);
  on_connection_ = std::move(on_connection);
}

Status EndpointImpl::addIdentity(Identity identity) {
  if (!tls_) return Error{"QUIC endpoint " + describe(local_) + " is not a server"};
  return tls_->addIdentity(identity);
}

void EndpointImpl::close() {
  if (closed_) return;
  auto keep = shared_from_this();
  closed_ = true;
  auto connections = connections_;  // shutdown() removes them one by one
  if (auto client = client_.lock()) client->shutdown("endpoint closed");
  for (auto& [raw, connection] : connections) connection->shutdown("endpoint closed");
  connections_.clear();
  by_cid_.clear();
  closeSocket();
  on_connection_ = nullptr;
}

void EndpointImpl::closeSocket() {
  boost::system::error_code ignored;
  socket_.close(ignored);
}

// ---- Receiving ------------------------------------------------------------------------------

void EndpointImpl::receive() {
  if (closed_ || !socket_.is_open()) return;
  auto buffer = buffer_;
  socket_.async_receive_from(
      boost::asio::buffer(*buffer), from_,
      [weak = weak_from_this(), buffer](const boost::system::error_code& ec, std::size_t size) {
        auto endpoint = weak.lock();
        if (!endpoint || endpoint->closed_ || ec == boost::asio::error::operation_aborted) return;
        if (!ec) endpoint->handleDatagram(std::span(buffer->data(), size), endpoint->from_);
        // Drain what is queued without going back through the reactor each time.
        for (int i = 0; i < kReadsPerWake && !endpoint->closed_; ++i) {
          boost::system::error_code read_ec;
          const std::size_t n = endpoint->socket_.receive_from(boost::asio::buffer(*buffer),
                                                               endpoint->from_, 0, read_ec);
          if (read_ec) break;
          endpoint->handleDatagram(std::span(buffer->data(), n), endpoint->from_);
        }
        endpoint->receive();
      });
}

void EndpointImpl::handleDatagramForTest(std::span<const uint8_t> datagram,
                                         const udp::endpoint& from) {
  handleDatagram(datagram, from);
}

void EndpointImpl::handleDatagram(std::span<const uint8_t> datagram, const udp::endpoint& from) {
  if (closed_ || datagram.empty()) return;
  auto keep = shared_from_this();
  try {
    ngtcp2_version_cid header{};
    const int rv =
        ngtcp2_pkt_decode_version_cid(&header, datagram.data(), datagram.size(), kCidLength);
    if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
      // Only for long headers of at least 1200 bytes (ngtcp2 checks): no amplification.
      if (role_ == Role::Server) sendVersionNegotiation(header, from);
      return;
    }
    if (rv != 0) return;  // not QUIC, or truncated

    if (role_ == Role::Client) {
      if (auto client = client_.lock()) client->onDatagram(datagram, from);
      return;
    }
    const std::string key(reinterpret_cast<const char*>(header.dcid), header.dcidlen);
    if (const auto it = by_cid_.find(key); it != by_cid_.end()) {
      it->second->onDatagram(datagram, from);
      return;
    }
    // Unknown connection ID: only a client's first Initial may start a connection. Anything else
    // (late packets of a forgotten connection, garbage) is dropped; no stateless reset is sent.
    accept(datagram, from);
  } catch (...) {
    // Out of memory for one datagram: drop it, keep serving.
  }
}

void EndpointImpl::accept(std::span<const uint8_t> datagram, const udp::endpoint& from) {
  ngtcp2_pkt_hd header{};
  if (ngtcp2_accept(&header, datagram.data(), datagram.size()) != 0) return;
  if (!tls_ || header.type != NGTCP2_PKT_INITIAL) return;
  // Address validation (RFC 9000 section 8.1): a Retry token proves the client receives at its
  // address. Tokens of another kind (NEW_TOKEN: we issue none) count as no token.
  ngtcp2_cid original_dcid{};
  bool validated = false;
  if (header.token.len > 0 && header.token.base[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY) {
    if (!verifyRetryToken(header, from, original_dcid)) {
      // Forged, expired or for another address: no state; the client learns at once (RFC 9000
      // section 8.1.3) from a packet smaller than its Initial.
      refuse(header, from, NGTCP2_INVALID_TOKEN);
      return;
    }
    validated = true;
  }
  if (!validated && handshaking_ >= limits_.retry_threshold) {
    sendRetry(header, from);
    return;
  }
  if (connections_.size() >= limits_.max_connections) {
    refuse(header, from, NGTCP2_CONNECTION_REFUSED);
    return;
  }
  auto connection = std::make_shared<ConnectionImpl>(*this, limits_);
  connections_.emplace(connection.get(), connection);
  ++handshaking_;
  Status started =
      connection->startServer(header, from, tls_, validated ? &original_dcid : nullptr);
  if (!started) {
    connection->shutdown(started.error().message);
    connections_.erase(connection.get());
    return;
  }
  connection->onDatagram(datagram, from);
}

bool EndpointImpl::verifyRetryToken(const ngtcp2_pkt_hd& header, const udp::endpoint& from,
                                    ngtcp2_cid& original_dcid) const {
  return ngtcp2_crypto_verify_retry_token(&original_dcid, header.token.base, header.token.len,
                                          retry_secret_.data(), retry_secret_.size(),
                                          header.version,
                                          reinterpret_cast<const ngtcp2_sockaddr*>(from.data()),
                                          static_cast<ngtcp2_socklen>(from.size()), &header.dcid,
                                          kRetryTokenLifetime, timestampNow()) == 0;
}

void EndpointImpl::sendRetry(const ngtcp2_pkt_hd& header, const udp::endpoint& to) {
  // The client's next Initial goes to this new connection ID; the token carries its original
  // DCID (the transport parameters must echo it) and binds both to the client's address.
  ngtcp2_cid retry_scid{};
  retry_scid.datalen = kCidLength;
  (void)gnutls_rnd(GNUTLS_RND_NONCE, retry_scid.data, retry_scid.datalen);
  std::array<uint8_t, NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN> token;
  const ngtcp2_ssize token_size = ngtcp2_crypto_generate_retry_token(
      token.data(), retry_secret_.data(), retry_secret_.size(), header.version,
      reinterpret_cast<const ngtcp2_sockaddr*>(to.data()), static_cast<ngtcp2_socklen>(to.size()),
      &retry_scid, &header.dcid, timestampNow());
  if (token_size < 0) return;
  std::array<uint8_t, NGTCP2_MAX_UDP_PAYLOAD_SIZE> packet;
  const ngtcp2_ssize size = ngtcp2_crypto_write_retry(
      packet.data(), packet.size(), header.version, &header.scid, &retry_scid, &header.dcid,
      token.data(), static_cast<std::size_t>(token_size));
  if (size > 0) send(std::span(packet.data(), static_cast<std::size_t>(size)), to);
}

void EndpointImpl::sendVersionNegotiation(const ngtcp2_version_cid& header,
                                          const udp::endpoint& to) {
  // A reserved version (0x?a?a?a?a) keeps clients from assuming the list is complete.
  uint32_t reserved = 0;
  (void)gnutls_rnd(GNUTLS_RND_NONCE, &reserved, sizeof(reserved));
  const uint32_t versions[] = {(reserved & 0xf0f0f0f0u) | 0x0a0a0a0au, NGTCP2_PROTO_VER_V1};
  uint8_t unused_bits = 0;
  (void)gnutls_rnd(GNUTLS_RND_NONCE, &unused_bits, 1);
  std::array<uint8_t, NGTCP2_MAX_UDP_PAYLOAD_SIZE> packet;
  // The reply swaps the connection IDs.
  const ngtcp2_ssize size = ngtcp2_pkt_write_version_negotiation(
      packet.data(), packet.size(), unused_bits, header.scid, header.scidlen, header.dcid,
      header.dcidlen, versions, 2);
  if (size > 0) send(std::span(packet.data(), static_cast<std::size_t>(size)), to);
}

void EndpointImpl::refuse(const ngtcp2_pkt_hd& header, const udp::endpoint& to, uint64_t error) {
  std::array<uint8_t, NGTCP2_MAX_UDP_PAYLOAD_SIZE> packet;
  const ngtcp2_ssize size = ngtcp2_crypto_write_connection_close(
      packet.data(), packet.size(), header.version, &header.scid, &header.dcid, error, nullptr, 0);
  if (size > 0) send(std::span(packet.data(), static_cast<std::size_t>(size)), to);
}

// ---- Sending --------------------------------------------------------------------------------

EndpointImpl::SendResult EndpointImpl::send(std::span<const uint8_t> datagram,
                                            const udp::endpoint& to) {
  if (!socket_.is_open()) return SendResult::Sent;  // closing: the datagram is lost
  boost::system::error_code ec;
  socket_.send_to(boost::asio::buffer(datagram.data(), datagram.size()), to, 0, ec);
  if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again ||
      ec == boost::asio::error::no_buffer_space) {
    return SendResult::Blocked;
  }
  // Other errors (unreachable, too large) are packet loss to QUIC; it retransmits or times out.
  return SendResult::Sent;
}

void EndpointImpl::waitWritable(ConnectionImpl& connection) {
  blocked_.push_back(connection.weak_from_this());
  if (waiting_writable_ || !socket_.is_open()) return;
  waiting_writable_ = true;
  socket_.async_wait(udp::socket::wait_write,
                     [weak = weak_from_this()](const boost::system::error_code& ec) {
                       auto endpoint = weak.lock();
                       if (!endpoint) return;
                       endpoint->waiting_writable_ = false;
                       if (ec || endpoint->closed_) return;
                       auto blocked = std::move(endpoint->blocked_);
                       endpoint->blocked_.clear();
                       for (auto& weak_connection : blocked) {
                         if (auto connection = weak_connection.lock()) connection->onWritable();
                       }
                     });
}

// ---- Connections ----------------------------------------------------------------------------

void EndpointImpl::setClient(const std::shared_ptr<ConnectionImpl>& connection) {
  client_ = connection;
}

void EndpointImpl::registerCid(const std::string& key, ConnectionImpl& connection) {
  by_cid_[key] = &connection;
}

void EndpointImpl::unregisterCid(const std::string& key) { by_cid_.erase(key); }

void EndpointImpl::removeConnection(ConnectionImpl& connection) {
  auto keep = weak_from_this().lock();  // null while the endpoint is being destroyed
  connections_.erase(&connection);
  if (role_ == Role::Client) {
    closed_ = true;
    closeSocket();
  }
}

void EndpointImpl::handshakeOver() {
  if (handshaking_ > 0) --handshaking_;
}

void EndpointImpl::announce(std::shared_ptr<Connection> connection) {
  if (on_connection_) on_connection_(std::move(connection));
}

// ---- Factories ------------------------------------------------------------------------------

Result<std::shared_ptr<Endpoint>> Endpoint::listen(
    boost::asio::io_context& loop, const udp::endpoint& endpoint, ServerTls tls, Limits limits,
    std::function<void(std::shared_ptr<Connection>)> on_connection) {
  Result<std::shared_ptr<ServerTlsContext>> context = ServerTlsContext::create(tls);
  if (!context)
    return Error{"QUIC endpoint " + describe(endpoint) + ": " + context.error().message};
  auto server = std::make_shared<EndpointImpl>(loop, EndpointImpl::Role::Server, limits);
  server->setServer(std::move(*context), std::move(on_connection));
  if (Status opened = server->open(endpoint); !opened) return opened.error();
  return std::shared_ptr<Endpoint>(server);
}

namespace {

void connectTo(boost::asio::io_context& loop, const udp::endpoint& remote, const std::string& host,
               const ClientTls& tls, const Limits& limits,
               std::function<void(Result<std::shared_ptr<Connection>>)> done) {
  auto endpoint = std::make_shared<EndpointImpl>(loop, EndpointImpl::Role::Client, limits);
  const udp::endpoint any(remote.address().is_v6() ? udp::v6() : udp::v4(), 0);
  if (Status opened = endpoint->open(any); !opened) {
    done(Error{"QUIC connect to " + describe(remote) + ": " + opened.error().message});
    return;
  }
  auto connection = std::make_shared<ConnectionImpl>(*endpoint, limits);
  endpoint->setClient(connection);
  Status started = connection->startClient(remote, tls, host, done, endpoint);
  if (!started) {
    connection->shutdown(started.error().message);
    done(Error{"QUIC connect to " + describe(remote) + ": " + started.error().message});
  }
}

}  // namespace

void Endpoint::connect(boost::asio::io_context& loop, std::string host, uint16_t port,
                       ClientTls tls, Limits limits,
                       std::function<void(Result<std::shared_ptr<Connection>>)> done) {
  boost::system::error_code ec;
  const boost::asio::ip::address address = boost::asio::ip::make_address(host, ec);
  if (!ec) {
    // Completion is always asynchronous, like the resolver path.
    boost::asio::post(loop, [&loop, remote = udp::endpoint(address, port), host, tls, limits,
                             done = std::move(done)]() mutable {
      connectTo(loop, remote, host, tls, limits, std::move(done));
    });
    return;
  }
  if (!isDnsName(host)) {
    boost::asio::post(loop, [host, done = std::move(done)] {
      done(Error{"QUIC connect: \"" + host + "\" is neither an IP address nor a DNS name"});
    });
    return;
  }
  auto resolver = std::make_shared<udp::resolver>(loop);
  resolver->async_resolve(
      host, std::to_string(port),
      [&loop, resolver, host, tls = std::move(tls), limits, done = std::move(done)](
          const boost::system::error_code& error, udp::resolver::results_type results) mutable {
        if (error || results.empty()) {
          done(Error{"QUIC connect: resolving \"" + host +
                     "\": " + (error ? error.message() : std::string("no address"))});
          return;
        }
        connectTo(loop, results.begin()->endpoint(), host, tls, limits, std::move(done));
      });
}

}  // namespace selium::net::quic
