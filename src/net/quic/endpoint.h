// A UDP socket that speaks QUIC: reads datagrams, routes them to connections by connection ID
// (server) or to its one connection (client), accepts new connections within limits, answers
// unknown versions with Version Negotiation, and sends for its connections. Loop thread only.
#pragma once

#include <array>
#include <boost/asio/ip/udp.hpp>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/quic/quic.h"
#include "net/quic/tls.h"

namespace selium::net::quic {

class ConnectionImpl;

// Length of the connection IDs we issue (short headers carry no length, so it is fixed).
inline constexpr std::size_t kCidLength = 16;

class EndpointImpl : public Endpoint, public std::enable_shared_from_this<EndpointImpl> {
 public:
  enum class Role { Server, Client };

  EndpointImpl(boost::asio::io_context& loop, Role role, const Limits& limits);
  ~EndpointImpl() override;

  Status open(const boost::asio::ip::udp::endpoint& bind);
  void setServer(std::shared_ptr<ServerTlsContext> tls,
                 std::function<void(std::shared_ptr<Connection>)> on_connection);

  // Endpoint
  uint16_t port() const override { return local_.port(); }
  Status addIdentity(Identity identity) override;
  void close() override;
  std::size_t connectionCount() const override {
    return role_ == Role::Client ? (client_.expired() ? 0 : 1) : connections_.size();
  }
  void handleDatagramForTest(std::span<const uint8_t> datagram,
                             const boost::asio::ip::udp::endpoint& from) override;

  // For connections.
  enum class SendResult { Sent, Blocked };
  SendResult send(std::span<const uint8_t> datagram, const boost::asio::ip::udp::endpoint& to);
  // Calls connection.onWritable() once the socket can send again.
  void waitWritable(ConnectionImpl& connection);
  // A client endpoint's one connection, which owns the endpoint (the application owns the
  // connection; dropping it closes both).
  void setClient(const std::shared_ptr<ConnectionImpl>& connection);
  void registerCid(const std::string& key, ConnectionImpl& connection);
  void unregisterCid(const std::string& key);
  // The connection is over; drops the endpoint's reference (a client endpoint closes then).
  void removeConnection(ConnectionImpl& connection);
  void announce(std::shared_ptr<Connection> connection);
  // A server connection's handshake is over (established or failed): it is no longer half-open.
  void handshakeOver();
  const std::array<uint8_t, 32>& secret() const { return secret_; }
  const boost::asio::ip::udp::endpoint& local() const { return local_; }
  boost::asio::io_context& loop() { return loop_; }

 private:
  void receive();
  void handleDatagram(std::span<const uint8_t> datagram,
                      const boost::asio::ip::udp::endpoint& from);
  void accept(std::span<const uint8_t> datagram, const boost::asio::ip::udp::endpoint& from);
  void sendVersionNegotiation(const ngtcp2_version_cid& header,
                              const boost::asio::ip::udp::endpoint& to);
  void refuse(const ngtcp2_pkt_hd& header, const boost::asio::ip::udp::endpoint& to,
              uint64_t error);
  void sendRetry(const ngtcp2_pkt_hd& header, const boost::asio::ip::udp::endpoint& to);
  // A Retry token: true with the client's original DCID when it is ours, for this address and
  // this Initial's DCID, and not expired.
  bool verifyRetryToken(const ngtcp2_pkt_hd& header, const boost::asio::ip::udp::endpoint& from,
                        ngtcp2_cid& original_dcid) const;
  void closeSocket();

  boost::asio::io_context& loop_;
  const Role role_;
  const Limits limits_;
  boost::asio::ip::udp::socket socket_;
  boost::asio::ip::udp::endpoint local_;
  std::array<uint8_t, 32> secret_{};        // stateless reset tokens
  std::array<uint8_t, 32> retry_secret_{};  // Retry tokens (only this endpoint can read them)
  std::size_t handshaking_ = 0;             // server connections whose handshake is under way
  std::shared_ptr<ServerTlsContext> tls_;
  std::function<void(std::shared_ptr<Connection>)> on_connection_;
  bool closed_ = false;

  // Receive buffer: shared with the pending read so it outlives a destroyed endpoint.
  std::shared_ptr<std::vector<uint8_t>> buffer_;
  boost::asio::ip::udp::endpoint from_;

  // Server: the endpoint owns its connections until they are over.
  std::unordered_map<ConnectionImpl*, std::shared_ptr<ConnectionImpl>> connections_;
  std::weak_ptr<ConnectionImpl> client_;
  std::unordered_map<std::string, ConnectionImpl*> by_cid_;
  std::vector<std::weak_ptr<ConnectionImpl>> blocked_;  // waiting for the socket to drain
  bool waiting_writable_ = false;
};

}  // namespace selium::net::quic
