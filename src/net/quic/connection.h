// One QUIC connection (either role): the ngtcp2_conn, its TLS session, its timer and streams.
// Owned by its EndpointImpl until it is over (then only by the application's shared_ptr); a
// client connection also keeps its own endpoint alive. Loop thread only.
//
// ngtcp2 callbacks only record what happened (bytes into stream buffers, flags); application code
// (consumers, producers, handlers) runs afterwards, outside ngtcp2, so it may call back in freely.
#pragma once

#include <ngtcp2/ngtcp2.h>

#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "net/quic/quic.h"
#include "net/quic/stream.h"
#include "net/quic/tls.h"

namespace selium::net::quic {

class EndpointImpl;

// ngtcp2 timestamps: steady clock nanoseconds.
ngtcp2_tstamp timestampNow();

class ConnectionImpl : public Connection, public std::enable_shared_from_this<ConnectionImpl> {
 public:
  using ConnectDone = std::function<void(Result<std::shared_ptr<Connection>>)>;

  ConnectionImpl(EndpointImpl& endpoint, const Limits& limits);
  ~ConnectionImpl() override;

  // Server: the client's first Initial packet (accepted by ngtcp2_accept) came from `remote`.
  // `original_dcid`: the Initial carried a valid Retry token, which held the DCID of the client's
  // very first Initial.
  Status startServer(const ngtcp2_pkt_hd& initial, const boost::asio::ip::udp::endpoint& remote,
                     std::shared_ptr<ServerTlsContext> tls, const ngtcp2_cid* original_dcid);
  // Client: sends the first flight; `done` runs once established or failed.
  Status startClient(const boost::asio::ip::udp::endpoint& remote, const ClientTls& tls,
                     const std::string& host, ConnectDone done,
                     std::shared_ptr<EndpointImpl> owner);

  void onDatagram(std::span<const uint8_t> datagram, const boost::asio::ip::udp::endpoint& from);
  // The socket can take datagrams again after a send would have blocked.
  void onWritable();
  // The endpoint is closing: CONNECTION_CLOSE now, no closing period (the socket goes away).
  void shutdown(const std::string& reason);

  // Connection
  std::string remoteAddress() const override { return remote_address_; }
  std::string serverName() const override { return tls_.server_name; }
  std::string alpn() const override { return alpn_; }
  std::string peerCertificateSubject() const override { return peer_subject_; }
  void onStream(std::function<void(std::shared_ptr<Stream>)> handler) override;
  Result<std::shared_ptr<Stream>> openStream() override;
  void onStreamCredit(std::function<void()> handler) override;
  void onClosed(std::function<void(std::string reason)> handler) override;
  void close(uint64_t app_error_code, std::string reason) override;
  bool isClosed() const override { return state_ >= State::Closing; }

  // For streams.
  ngtcp2_conn* raw() const { return conn_; }
  void consumed(int64_t stream_id, std::size_t size);  // returns flow-control credit
  void discarded(std::size_t size);                    // connection credit only
  void enqueue(StreamImpl& stream);                    // deliver() it soon
  void scheduleWork();                                 // process streams and write soon

  // ngtcp2 callbacks (static trampolines in connection.cc call these).
  int onHandshakeCompleted();
  int onStreamOpen(int64_t stream_id);
  int onStreamData(uint32_t flags, int64_t stream_id, const uint8_t* data, std::size_t size);
  int onAckedStreamData(int64_t stream_id, uint64_t size);
  int onStreamClose(int64_t stream_id);
  int onStreamReset(int64_t stream_id);
  int onStreamStopSending(int64_t stream_id);
  int onExtendMaxStreamData(int64_t stream_id);
  int onExtendMaxLocalStreams();
  int onNewConnectionId(ngtcp2_cid* cid, uint8_t* token, std::size_t cid_size);
  int onRemoveConnectionId(const ngtcp2_cid* cid);

 private:
  enum class State { Handshaking, Established, Closing, Draining, Finished };

  // Server: `original_dcid` is echoed in the transport parameters; `retry` is the validated
  // Initial after a Retry (null without one).
  Status create(bool server, const boost::asio::ip::udp::endpoint& remote, const ngtcp2_cid& dcid,
                const ngtcp2_cid& scid, const ngtcp2_cid* original_dcid, const ngtcp2_pkt_hd* retry,
                uint32_t version);
  ngtcp2_path path(const boost::asio::ip::udp::endpoint& remote);
  // After ngtcp2 calls: announce, deliver, retire streams; then write.
  void process();
  void writeAll();
  bool sendPacket(std::span<const uint8_t> packet, const ngtcp2_addr& to);
  void armTimer();
  void onTimer();
  void onReadError(int rv);
  void closeWithError(const ngtcp2_connection_close_error& error, std::string reason);
  void enterClosing(const ngtcp2_connection_close_error& error, std::string reason);
  void enterDraining(std::string reason);
  void startCloseTimer();
  void finish(std::string reason);
  void ended(std::string reason);  // tells streams and handlers, once
  void established();
  void retire(const std::shared_ptr<StreamImpl>& stream);
  std::string peerCloseReason();
  std::string tlsFailure(const std::string& fallback);
  StreamImpl* streamOf(int64_t stream_id);
  bool peerOpened(int64_t stream_id) const { return (stream_id & 1) == (server_ ? 0 : 1); }
  std::string cidKey(const ngtcp2_cid& cid) const;

  EndpointImpl* endpoint_;                          // null once finished
  std::shared_ptr<EndpointImpl> owner_;             // client: its own endpoint
  std::shared_ptr<ConnectionImpl> handshake_hold_;  // client: alive until connect() reports
  boost::asio::io_context& loop_;
  const Limits limits_;
  bool server_ = true;
  State state_ = State::Handshaking;

  ngtcp2_conn* conn_ = nullptr;
  TlsSessionState tls_;
  Credentials client_credentials_;
  Session session_;
  ngtcp2_sockaddr_union local_addr_{};
  ngtcp2_socklen local_addrlen_ = 0;
  std::string remote_address_;
  std::string alpn_;
  std::string peer_subject_;
  std::vector<std::string> cid_keys_;  // registered with the endpoint

  boost::asio::steady_timer timer_;
  ngtcp2_tstamp timer_deadline_ = UINT64_MAX;
  bool handshake_completed_ = false;
  bool half_open_ = false;  // server: counted in the endpoint's handshakes under way
  bool work_posted_ = false;
  bool credit_signal_ = false;
  bool alpn_required_ = false;  // client: offered ALPN, so the server must select one

  std::map<int64_t, std::shared_ptr<StreamImpl>> streams_;
  std::deque<std::shared_ptr<StreamImpl>> incoming_;  // opened by the peer, not yet handed out
  std::vector<std::shared_ptr<StreamImpl>> work_;     // streams to deliver()
  int64_t last_sent_stream_ = -1;                     // round robin among senders
  // Streams the peer reset before sending anything (StreamImpl::resetBeforeOpen) that the
  // application has not been told of yet: ngtcp2 counts none of them against the peer's stream
  // limit, so this bounds them (at max_streams_per_connection; more are not announced).
  std::size_t untracked_streams_ = 0;

  std::function<void(std::shared_ptr<Stream>)> on_stream_;
  std::function<void()> on_credit_;
  std::function<void(std::string)> on_closed_;
  ConnectDone connect_done_;
  bool ended_ = false;
  std::string end_reason_;

  // A datagram the socket refused (EAGAIN), sent first when it is writable again.
  std::vector<uint8_t> blocked_packet_;
  boost::asio::ip::udp::endpoint blocked_to_;
  // Closing period: the CONNECTION_CLOSE packet, repeated (less and less often) to late packets.
  std::vector<uint8_t> close_packet_;
  uint64_t packets_while_closing_ = 0;
};

}  // namespace selium::net::quic
