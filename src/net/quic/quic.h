// QUIC (RFC 9000) over UDP for guests' networking: server endpoints that accept connections and
// bidirectional streams, and clients that connect. ngtcp2 does the protocol, GnuTLS the TLS 1.3
// handshake; each stream's bytes flow through net::ByteConsumer / net::ByteProducer with real
// backpressure (flow-control credit is only given back for bytes the consumer took).
//
// Everything here belongs to one boost::asio::io_context and runs on its thread only: call every
// function, and expect every callback, on that loop thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "net/stream.h"
#include "util/result.h"

namespace selium::net::quic {

// A certificate chain and its key, offered to clients whose SNI matches one of `names`
// ("example.com" exactly, or "*.example.com" for one extra label).
struct Identity {
  std::vector<std::string> names;
  std::string cert_chain_pem;
  std::string key_pem;
};

struct ServerTls {
  // Chosen by the client's SNI: an exact name first, then a wildcard, else the first identity.
  std::vector<Identity> identities;
  // Non-empty: client certificates are requested and must chain to this CA when presented.
  std::string client_ca_pem;
  // With client_ca_pem: a client without a (valid) certificate is refused.
  bool require_client_auth = false;
  // Empty: no ALPN is required (the control plane uses none). Otherwise the client must offer one
  // of these; the server's order wins.
  std::vector<std::string> alpn;
};

struct ClientTls {
  // Trust anchors for the server's certificate (PEM); empty: the system trust store.
  std::string ca_pem;
  // Optional client certificate (mutual TLS).
  std::string cert_pem;
  std::string key_pem;
  // Non-empty: offered, and the server must select one of them.
  std::vector<std::string> alpn;
  // SNI and the name the server certificate must carry; empty: the host given to connect() (an
  // IP literal is then matched against the certificate's IP addresses and sends no SNI).
  std::string server_name;
};

struct Limits {
  std::size_t max_connections = 10000;        // per endpoint; more are refused
  uint64_t max_streams_per_connection = 100;  // concurrent bidirectional streams the peer opens
  // Unidirectional streams the peer may open. Their bytes are read and dropped: nothing here
  // uses them, but HTTP/3 peers refuse to talk without 3 (control and QPACK streams).
  uint64_t peer_uni_streams = 0;
  std::chrono::milliseconds idle_timeout{30000};
  // After this long without sending, a PING goes (0: never): keeps a connection open while the
  // peer, whose idle timeout may be shorter, works on a long request.
  std::chrono::milliseconds keep_alive{0};
  std::chrono::milliseconds handshake_timeout{10000};
  // Server: with this many handshakes under way, a client's first Initial is answered with a
  // Retry (a stateless token bound to its address) and only an Initial carrying a valid token
  // creates a connection, so spoofed Initials cannot fill max_connections. 0: always.
  std::size_t retry_threshold = 64;
  uint64_t stream_window = 1u << 20;       // bytes the peer may send ahead on one stream
  uint64_t connection_window = 16u << 20;  // ... on all streams of a connection together
  // Bytes a stream holds for sending (produced, not yet acknowledged by the peer); the producer
  // is not read while a stream holds this much.
  std::size_t max_send_buffer = 1u << 20;
};

// The application error code sent in RESET_STREAM when a ByteProducer aborts.
inline constexpr uint64_t kProducerAbortedError = 0x1;

// One bidirectional stream. Bytes in go to the consumer, bytes out come from the producer.
class Stream {
 public:
  virtual ~Stream() = default;
  virtual int64_t id() const = 0;

  // Where received bytes go; bytes that arrive before it is set are held (up to the stream
  // window). end(true) after the peer's FIN and every byte taken; end(false) on RESET_STREAM,
  // stopSending(), reset() or the connection's loss. Set once.
  virtual void setConsumer(std::shared_ptr<ByteConsumer> consumer) = 0;
  // The consumer took fewer bytes than offered earlier and has room again.
  virtual void resumeReceive() = 0;

  // Where bytes to send come from. State::End sends FIN, State::Abort sends RESET_STREAM with
  // kProducerAbortedError. The producer is dropped (released) when the peer stops the stream or
  // the connection ends. Set once.
  virtual void setProducer(std::shared_ptr<ByteProducer> producer) = 0;
  // The producer returned Wait earlier and has bytes (or its end) now.
  virtual void resumeSend() = 0;

  // Abandons both directions: RESET_STREAM and STOP_SENDING with `app_error_code`.
  virtual void reset(uint64_t app_error_code) = 0;
  // Asks the peer to stop sending (STOP_SENDING); held bytes are dropped, the consumer ends.
  virtual void stopSending(uint64_t app_error_code) = 0;

  // Received bytes held for the consumer, and bytes held for sending (for limits and tests).
  virtual std::size_t heldReceiveBytes() const = 0;
  virtual std::size_t heldSendBytes() const = 0;
};

// An established connection (the TLS handshake is complete).
class Connection {
 public:
  virtual ~Connection() = default;

  virtual std::string remoteAddress() const = 0;  // "ip:port"
  virtual std::string serverName() const = 0;     // SNI (server side: what the client sent)
  virtual std::string alpn() const = 0;           // negotiated protocol, empty if none
  // The peer's certificate subject (RFC 4514), empty if it sent none. Server side: the client
  // certificate; client side: the server certificate.
  virtual std::string peerCertificateSubject() const = 0;

  // Streams the peer opens, in order. Set once; streams opened before are delivered then.
  virtual void onStream(std::function<void(std::shared_ptr<Stream>)> handler) = 0;
  // Opens a bidirectional stream; an error when the peer's stream limit is reached (see
  // onStreamCredit) or the connection is closed.
  virtual Result<std::shared_ptr<Stream>> openStream() = 0;
  // Called when the peer raises its stream limit, so a refused openStream() may succeed now.
  virtual void onStreamCredit(std::function<void()> handler) = 0;

  // Called once when the connection ends, with why ("idle timeout", "closed by peer: ...").
  // Called at once if it has ended already.
  virtual void onClosed(std::function<void(std::string reason)> handler) = 0;
  // Sends CONNECTION_CLOSE with an application error code; every stream ends. Idempotent.
  virtual void close(uint64_t app_error_code, std::string reason) = 0;
  virtual bool isClosed() const = 0;
};

// A UDP socket that speaks QUIC: a server's listener, or a client's own socket.
class Endpoint {
 public:
  // Binds a server endpoint; port 0 picks one. on_connection gets each connection once its
  // handshake is done. Errors name the endpoint and the reason, or the bad certificate.
  static Result<std::shared_ptr<Endpoint>> listen(
      boost::asio::io_context& loop, const boost::asio::ip::udp::endpoint& endpoint, ServerTls tls,
      Limits limits, std::function<void(std::shared_ptr<Connection>)> on_connection);

  // Connects to host:port (a DNS name or an IP literal) from a fresh ephemeral UDP socket and
  // verifies the server certificate. `done` runs once: the established connection, or an error
  // naming the host and the reason (DNS, TLS alert, certificate, handshake timeout).
  static void connect(boost::asio::io_context& loop, std::string host, uint16_t port, ClientTls tls,
                      Limits limits, std::function<void(Result<std::shared_ptr<Connection>>)> done);

  virtual ~Endpoint() = default;
  virtual uint16_t port() const = 0;
  // Adds a certificate for more names (several guests binding several domains on one port).
  virtual Status addIdentity(Identity identity) = 0;
  // Closes every connection (CONNECTION_CLOSE, no error) and the socket. Idempotent.
  virtual void close() = 0;
  virtual std::size_t connectionCount() const = 0;

  // Tests and fuzzing: handles `datagram` as if it had arrived from `from`.
  virtual void handleDatagramForTest(std::span<const uint8_t> datagram,
                                     const boost::asio::ip::udp::endpoint& from) = 0;
};

}  // namespace selium::net::quic
