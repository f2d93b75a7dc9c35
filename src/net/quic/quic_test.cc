// Our QUIC client against our QUIC server on 127.0.0.1: handshake, streams, flow control,
// FIN/RESET, closing, TLS policy (SNI, ALPN, mutual TLS, name checks), limits and garbage.
#include "net/quic/quic.h"

#include <gtest/gtest.h>

#include <boost/asio/ip/udp.hpp>
#include <fstream>
#include <optional>
#include <random>

#include "net/quic/test_support.h"

namespace selium::net::quic {
namespace {

using namespace testing;
using boost::asio::ip::udp;

class QuicTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    certs_ = new Certs(makeCerts(dir_->path() / "one"));
    other_ = new Certs(makeCerts(dir_->path() / "two", "localhost", "intruder.localhost"));
  }
  static void TearDownTestSuite() {
    delete other_;
    delete certs_;
    delete dir_;
  }

  ServerTls serverTls() const {
    ServerTls tls;
    tls.identities.push_back(certs_->identity({"localhost"}));
    return tls;
  }
  ClientTls clientTls() const {
    ClientTls tls;
    tls.ca_pem = certs_->ca;
    tls.server_name = "localhost";
    return tls;
  }
  uint16_t port(const EchoServer& server) const { return server.endpoint->port(); }

  void TearDown() override {
    for (auto& endpoint : endpoints_) endpoint->close();
    runUntil(
        loop_, [] { return false; }, std::chrono::milliseconds(20));
  }

  EchoServer& echoServer(ServerTls tls, Limits limits = {}) {
    servers_.push_back(startEchoServer(loop_, std::move(tls), limits));
    endpoints_.push_back(servers_.back()->endpoint);
    return *servers_.back();
  }

  std::shared_ptr<Connection> connect(uint16_t port, ClientTls tls, Limits limits = {}) {
    auto connection = connectAndWait(loop_, "127.0.0.1", port, std::move(tls), limits);
    EXPECT_TRUE(connection.ok()) << (connection.ok() ? "" : connection.error().message);
    return connection.ok() ? *connection : nullptr;
  }

  // Sends `bytes` (then FIN) on a new stream and returns what comes back.
  std::shared_ptr<Collector> exchange(const std::shared_ptr<Connection>& connection,
                                      const std::string& bytes) {
    auto stream = connection->openStream();
    EXPECT_TRUE(stream.ok());
    if (!stream.ok()) return nullptr;
    auto collector = std::make_shared<Collector>();
    (*stream)->setConsumer(collector);
    (*stream)->setProducer(std::make_shared<BytesProducer>(bytes, BytesProducer::Then::End));
    EXPECT_TRUE(runUntil(loop_, [&] { return collector->ended; }));
    return collector;
  }

  // The server announces a connection when the client's Finished arrives, a moment after the
  // client is done.
  void waitConnections(const EchoServer& server, std::size_t count) {
    EXPECT_TRUE(runUntil(loop_, [&] { return server.connections.size() >= count; }));
  }

  // A real client Initial (no token): our client talking to a plain UDP socket that never
  // answers. Each call gives a new one (new connection IDs).
  std::vector<uint8_t> captureInitial() {
    udp::socket sink(loop_, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    std::vector<uint8_t> initial(65536);
    udp::endpoint from;
    std::size_t size = 0;
    sink.async_receive_from(boost::asio::buffer(initial), from,
                            [&](const boost::system::error_code& ec, std::size_t n) {
                              if (!ec) size = n;
                            });
    Limits short_handshake;
    short_handshake.handshake_timeout = std::chrono::milliseconds(100);
    bool done = false;
    Endpoint::connect(loop_, "127.0.0.1", sink.local_endpoint().port(), clientTls(),
                      short_handshake, [&](Result<std::shared_ptr<Connection>>) { done = true; });
    EXPECT_TRUE(runUntil(loop_, [&] { return size > 0 && done; }));
    initial.resize(size);
    return initial;
  }

  static TempDir* dir_;
  static Certs* certs_;
  static Certs* other_;  // another CA
  boost::asio::io_context loop_;
  std::vector<std::unique_ptr<EchoServer>> servers_;
  std::vector<std::shared_ptr<Endpoint>> endpoints_;
};

TempDir* QuicTest::dir_ = nullptr;
Certs* QuicTest::certs_ = nullptr;
Certs* QuicTest::other_ = nullptr;

TEST_F(QuicTest, HandshakeAndEchoOnOneStream) {
  EchoServer& server = echoServer(serverTls());
  auto connection = connect(port(server), clientTls());
  ASSERT_TRUE(connection);
  EXPECT_EQ(connection->alpn(), "");
  EXPECT_NE(connection->peerCertificateSubject().find("CN=localhost"), std::string::npos)
      << connection->peerCertificateSubject();

  waitConnections(server, 1);
  auto reply = exchange(connection, "hello over quic");
  ASSERT_TRUE(reply);
  EXPECT_TRUE(reply->complete);
  EXPECT_EQ(reply->data, "hello over quic");

  ASSERT_EQ(server.connections.size(), 1u);
  EXPECT_EQ(server.connections[0]->serverName(), "localhost");
  EXPECT_EQ(server.connections[0]->peerCertificateSubject(), "");
  EXPECT_TRUE(server.connections[0]->remoteAddress().starts_with("127.0.0.1:"))
      << server.connections[0]->remoteAddress();
}

TEST_F(QuicTest, ManyConcurrentStreamsEchoByteExact) {
  EchoServer& server = echoServer(serverTls());
  auto connection = connect(port(server), clientTls());
  ASSERT_TRUE(connection);
  constexpr int kStreams = 50;
  constexpr std::size_t kSize = 64 * 1024;
  std::vector<std::shared_ptr<Collector>> replies;
  std::vector<std::string> sent;
  for (int i = 0; i < kStreams; ++i) {
    std::string bytes(kSize, '\0');
    for (std::size_t j = 0; j < kSize; ++j) bytes[j] = static_cast<char>((i * 7 + j * 13) & 0xff);
    auto stream = connection->openStream();
    ASSERT_TRUE(stream.ok()) << stream.error().message;
    auto collector = std::make_shared<Collector>();
    (*stream)->setConsumer(collector);
    (*stream)->setProducer(std::make_shared<BytesProducer>(bytes, BytesProducer::Then::End));
    replies.push_back(collector);
    sent.push_back(std::move(bytes));
  }
  ASSERT_TRUE(runUntil(loop_, [&] {
    return std::all_of(replies.begin(), replies.end(), [](auto& r) { return r->ended; });
  }));
  for (int i = 0; i < kStreams; ++i) {
    EXPECT_TRUE(replies[i]->complete) << "stream " << i;
    EXPECT_TRUE(replies[i]->data == sent[i]) << "stream " << i << " differs";
  }
}

// The server's consumer stops taking bytes for a while: the sender is held back by flow control
// (the server holds at most one stream window), and the transfer completes byte-exact after.
TEST_F(QuicTest, LargeTransferWithPausingConsumerStaysBounded) {
  constexpr uint64_t kSize = 32ull << 20;
  Limits limits;
  std::shared_ptr<Stream> server_stream;
  auto checker = std::make_shared<PatternChecker>();
  checker->pause_at = 4u << 20;
  auto endpoint = Endpoint::listen(
      loop_, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0), serverTls(), limits,
      [&](std::shared_ptr<Connection> c) {
        c->onStream([&, c](std::shared_ptr<Stream> s) {
          server_stream = s;
          s->setConsumer(checker);
          s->setProducer(std::make_shared<BytesProducer>("", BytesProducer::Then::End));
        });
      });
  ASSERT_TRUE(endpoint.ok()) << endpoint.error().message;
  endpoints_.push_back(*endpoint);
  auto connection = connect((*endpoint)->port(), clientTls());
  ASSERT_TRUE(connection);
  auto stream = connection->openStream();
  ASSERT_TRUE(stream.ok());
  (*stream)->setProducer(std::make_shared<PatternProducer>(kSize));
  auto reply = std::make_shared<Collector>();
  (*stream)->setConsumer(reply);

  ASSERT_TRUE(runUntil(loop_, [&] { return checker->paused; }));
  // While paused the sender is held back: its buffer fills up and stays full, and the server
  // holds no more than one stream window.
  std::size_t max_held = 0;
  auto track = [&] {
    max_held = std::max(max_held, server_stream->heldReceiveBytes());
    return false;
  };
  bool stalled = false;
  for (int i = 0; i < 100 && !stalled; ++i) {
    const std::size_t before = server_stream->heldReceiveBytes();
    runUntil(loop_, track, std::chrono::milliseconds(100));
    stalled = before > 0 && server_stream->heldReceiveBytes() == before;
  }
  ASSERT_TRUE(stalled);
  EXPECT_LE(server_stream->heldReceiveBytes(), limits.stream_window);
  EXPECT_GE(server_stream->heldReceiveBytes(), limits.stream_window / 2);
  EXPECT_EQ((*stream)->heldSendBytes(), limits.max_send_buffer);
  EXPECT_EQ(checker->received, 4u << 20);

  checker->paused = false;
  server_stream->resumeReceive();
  ASSERT_TRUE(runUntil(
      loop_,
      [&] {
        max_held = std::max(max_held, server_stream->heldReceiveBytes());
        return checker->ended;
      },
      std::chrono::seconds(60)));
  EXPECT_TRUE(checker->complete);
  EXPECT_EQ(checker->received, kSize);
  EXPECT_EQ(checker->mismatches, 0u);
  EXPECT_LE(max_held, limits.stream_window);
  ASSERT_TRUE(runUntil(loop_, [&] { return reply->ended; }));
  EXPECT_TRUE(reply->complete);
}

TEST_F(QuicTest, FinWithoutDataEndsComplete) {
  EchoServer& server = echoServer(serverTls());
  auto connection = connect(port(server), clientTls());
  ASSERT_TRUE(connection);
  auto reply = exchange(connection, "");
  ASSERT_TRUE(reply);
  EXPECT_TRUE(reply->complete);
  EXPECT_EQ(reply->data, "");
}

TEST_F(QuicTest, ProducerAbortResetsTheStreamAtThePeer) {
  std::shared_ptr<Collector> server_side = std::make_shared<Collector>();
  auto endpoint = Endpoint::listen(
      loop_, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0), serverTls(), {},
      [&](std::shared_ptr<Connection> c) {
        c->onStream([&](std::shared_ptr<Stream> s) { s->setConsumer(server_side); });
      });
  ASSERT_TRUE(endpoint.ok());
  endpoints_.push_back(*endpoint);
  auto connection = connect((*endpoint)->port(), clientTls());
  ASSERT_TRUE(connection);
  auto stream = connection->openStream();
  ASSERT_TRUE(stream.ok());
  auto producer = std::make_shared<BytesProducer>("partial", BytesProducer::Then::Wait);
  (*stream)->setProducer(producer);
  ASSERT_TRUE(runUntil(loop_, [&] { return server_side->data == "partial"; }));
  producer->setThen(BytesProducer::Then::Abort);
  (*stream)->resumeSend();
  ASSERT_TRUE(runUntil(loop_, [&] { return server_side->ended; }));
  EXPECT_FALSE(server_side->complete);
}

TEST_F(QuicTest, ResetEndsBothSides) {
  std::shared_ptr<Collector> server_side = std::make_shared<Collector>();
  auto endpoint = Endpoint::listen(
      loop_, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0), serverTls(), {},
      [&](std::shared_ptr<Connection> c) {
        c->onStream([&, first = true](std::shared_ptr<Stream> s) mutable {
          if (!first) return Echo::attach(s);
          first = false;
          s->setConsumer(server_side);
          s->setProducer(std::make_shared<BytesProducer>("", BytesProducer::Then::Wait));
        });
      });
  ASSERT_TRUE(endpoint.ok());
  endpoints_.push_back(*endpoint);
  auto connection = connect((*endpoint)->port(), clientTls());
  ASSERT_TRUE(connection);
  auto stream = connection->openStream();
  ASSERT_TRUE(stream.ok());
  auto client_side = std::make_shared<Collector>();
  (*stream)->setConsumer(client_side);
  (*stream)->setProducer(std::make_shared<BytesProducer>("some bytes", BytesProducer::Then::Wait));
  ASSERT_TRUE(runUntil(loop_, [&] { return server_side->data == "some bytes"; }));
  (*stream)->reset(42);
  ASSERT_TRUE(runUntil(loop_, [&] { return server_side->ended && client_side->ended; }));
  EXPECT_FALSE(server_side->complete);
  EXPECT_FALSE(client_side->complete);
  // The connection survives a stream reset.
  auto reply = exchange(connection, "still here");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, "still here");
}

TEST_F(QuicTest, PeerClosingTheConnectionEndsStreamsIncomplete) {
  std::shared_ptr<Collector> server_side = std::make_shared<Collector>();
  std::optional<std::string> server_reason;
  auto endpoint = Endpoint::listen(
      loop_, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0), serverTls(), {},
      [&](std::shared_ptr<Connection> c) {
        c->onClosed([&](std::string reason) { server_reason = reason; });
        c->onStream([&](std::shared_ptr<Stream> s) { s->setConsumer(server_side); });
      });
  ASSERT_TRUE(endpoint.ok());
  endpoints_.push_back(*endpoint);
  auto connection = connect((*endpoint)->port(), clientTls());
  ASSERT_TRUE(connection);
  auto stream = connection->openStream();
  ASSERT_TRUE(stream.ok());
  auto client_side = std::make_shared<Collector>();
  (*stream)->setConsumer(client_side);
  (*stream)->setProducer(std::make_shared<BytesProducer>("unfinished", BytesProducer::Then::Wait));
  ASSERT_TRUE(runUntil(loop_, [&] { return server_side->data == "unfinished"; }));
  std::optional<std::string> client_reason;
  connection->onClosed([&](std::string reason) { client_reason = reason; });
  connection->close(7, "bye now");
  EXPECT_TRUE(connection->isClosed());
  EXPECT_TRUE(client_side->ended || runUntil(loop_, [&] { return client_side->ended; }));
  EXPECT_FALSE(client_side->complete);
  ASSERT_TRUE(runUntil(loop_, [&] { return server_side->ended && server_reason.has_value(); }));
  EXPECT_FALSE(server_side->complete);
  EXPECT_NE(server_reason->find("application error 7"), std::string::npos) << *server_reason;
  EXPECT_NE(server_reason->find("bye now"), std::string::npos) << *server_reason;
  ASSERT_TRUE(client_reason.has_value());
  EXPECT_NE(client_reason->find("bye now"), std::string::npos);
  EXPECT_FALSE(connection->openStream().ok());
}

TEST_F(QuicTest, SniSelectsTheIdentity) {
  TempDir dir;
  Certs a = makeCerts(dir.path() / "a", "a.test");
  Certs b = makeCerts(dir.path() / "b", "b.test");
  ServerTls tls;
  tls.identities.push_back(a.identity({"a.test"}));
  EchoServer& server = echoServer(tls);
  ASSERT_TRUE(server.endpoint->addIdentity(b.identity({"*.b.test", "b.test"})).ok());
  EXPECT_FALSE(server.endpoint->addIdentity(Identity{{"x.test"}, "junk", "junk"}).ok());

  for (const std::string name : {"a.test", "b.test", "www.b.test"}) {
    ClientTls client;
    client.ca_pem = a.ca + b.ca;
    client.server_name = name;
    auto connection = connectAndWait(loop_, "127.0.0.1", port(server), client);
    if (name == "www.b.test") {
      // The wildcard identity is chosen, but its certificate only names b.test.
      ASSERT_FALSE(connection.ok());
      EXPECT_NE(connection.error().message.find("www.b.test"), std::string::npos)
          << connection.error().message;
      continue;
    }
    ASSERT_TRUE(connection.ok()) << name << ": " << connection.error().message;
    EXPECT_NE((*connection)->peerCertificateSubject().find("CN=" + name), std::string::npos)
        << (*connection)->peerCertificateSubject();
    waitConnections(server, name == "a.test" ? 1 : 2);
    EXPECT_EQ(server.connections.back()->serverName(), name);
  }
}

TEST_F(QuicTest, ClientRefusesCertificateForAnotherName) {
  EchoServer& server = echoServer(serverTls());
  ClientTls tls = clientTls();
  tls.server_name = "other.test";
  auto connection = connectAndWait(loop_, "127.0.0.1", port(server), tls);
  ASSERT_FALSE(connection.ok());
  EXPECT_NE(connection.error().message.find("server certificate refused for \"other.test\""),
            std::string::npos)
      << connection.error().message;
  // An IP literal without server_name is checked against the certificate's IP addresses.
  ClientTls by_ip = clientTls();
  by_ip.server_name.clear();
  auto ok = connectAndWait(loop_, "127.0.0.1", port(server), by_ip);
  EXPECT_TRUE(ok.ok()) << ok.error().message;
}

TEST_F(QuicTest, ClientRefusesServerFromAnotherCa) {
  EchoServer& server = echoServer(serverTls());
  ClientTls tls = clientTls();
  tls.ca_pem = other_->ca;
  auto connection = connectAndWait(loop_, "127.0.0.1", port(server), tls);
  ASSERT_FALSE(connection.ok());
  EXPECT_NE(connection.error().message.find("server certificate refused"), std::string::npos)
      << connection.error().message;
}

TEST_F(QuicTest, AlpnRequiredAndMismatch) {
  ServerTls tls = serverTls();
  tls.alpn = {"selium/1", "other/2"};
  EchoServer& server = echoServer(tls);

  ClientTls good = clientTls();
  good.alpn = {"other/2", "selium/1"};
  auto connection = connect(port(server), good);
  ASSERT_TRUE(connection);
  EXPECT_EQ(connection->alpn(), "selium/1");  // the server's preference wins
  waitConnections(server, 1);
  EXPECT_EQ(server.connections.back()->alpn(), "selium/1");

  ClientTls wrong = clientTls();
  wrong.alpn = {"h3"};
  auto refused = connectAndWait(loop_, "127.0.0.1", port(server), wrong);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("TLS alert"), std::string::npos)
      << refused.error().message;

  auto none = connectAndWait(loop_, "127.0.0.1", port(server), clientTls());
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(server.connections.size(), 1u);

  // A client that requires ALPN refuses a server that negotiates none.
  EchoServer& plain = echoServer(serverTls());
  auto unanswered = connectAndWait(loop_, "127.0.0.1", port(plain), good);
  ASSERT_FALSE(unanswered.ok());
  EXPECT_NE(unanswered.error().message.find("ALPN"), std::string::npos)
      << unanswered.error().message;
}

TEST_F(QuicTest, MutualTls) {
  ServerTls tls = serverTls();
  tls.client_ca_pem = certs_->ca;
  tls.require_client_auth = true;
  EchoServer& server = echoServer(tls);

  auto anonymous = connectAndWait(loop_, "127.0.0.1", port(server), clientTls());
  EXPECT_FALSE(anonymous.ok());

  ClientTls intruder = clientTls();
  intruder.cert_pem = other_->client_cert;
  intruder.key_pem = other_->client_key;
  auto refused = connectAndWait(loop_, "127.0.0.1", port(server), intruder);
  EXPECT_FALSE(refused.ok());
  EXPECT_TRUE(server.connections.empty());

  ClientTls member = clientTls();
  member.cert_pem = certs_->client_cert;
  member.key_pem = certs_->client_key;
  auto connection = connect(port(server), member);
  ASSERT_TRUE(connection);
  waitConnections(server, 1);
  ASSERT_EQ(server.connections.size(), 1u);
  EXPECT_NE(server.connections[0]->peerCertificateSubject().find("CN=client.localhost"),
            std::string::npos)
      << server.connections[0]->peerCertificateSubject();
  auto reply = exchange(connection, "authenticated");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, "authenticated");
}

TEST_F(QuicTest, OptionalClientCertificateIsCheckedWhenPresented) {
  ServerTls tls = serverTls();
  tls.client_ca_pem = certs_->ca;
  EchoServer& server = echoServer(tls);
  auto anonymous = connect(port(server), clientTls());
  ASSERT_TRUE(anonymous);
  waitConnections(server, 1);
  EXPECT_EQ(server.connections.back()->peerCertificateSubject(), "");
  ClientTls intruder = clientTls();
  intruder.cert_pem = other_->client_cert;
  intruder.key_pem = other_->client_key;
  EXPECT_FALSE(connectAndWait(loop_, "127.0.0.1", port(server), intruder).ok());
}

TEST_F(QuicTest, IdleTimeoutClosesBothSides) {
  Limits limits;
  limits.idle_timeout = std::chrono::milliseconds(300);
  std::optional<std::string> server_reason;
  auto endpoint =
      Endpoint::listen(loop_, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0),
                       serverTls(), limits, [&](std::shared_ptr<Connection> c) {
                         c->onClosed([&](std::string reason) { server_reason = reason; });
                       });
  ASSERT_TRUE(endpoint.ok());
  endpoints_.push_back(*endpoint);
  auto connection = connect((*endpoint)->port(), clientTls(), limits);
  ASSERT_TRUE(connection);
  std::optional<std::string> client_reason;
  connection->onClosed([&](std::string reason) { client_reason = reason; });
  ASSERT_TRUE(runUntil(loop_, [&] { return client_reason && server_reason; }));
  EXPECT_EQ(*client_reason, "idle timeout");
  EXPECT_EQ(*server_reason, "idle timeout");
  EXPECT_TRUE(runUntil(loop_, [&] { return (*endpoint)->connectionCount() == 0; }));
}

// A client's keep-alive PINGs hold open a connection its server would close as idle, and the
// connection still carries streams afterwards.
TEST_F(QuicTest, KeepAliveHoldsAConnectionThePeerWouldCloseAsIdle) {
  Limits server_limits;
  server_limits.idle_timeout = std::chrono::milliseconds(500);
  EchoServer& server = echoServer(serverTls(), server_limits);
  Limits client_limits;
  client_limits.keep_alive = std::chrono::milliseconds(100);
  auto connection = connect(port(server), clientTls(), client_limits);
  ASSERT_TRUE(connection);
  std::optional<std::string> closed;
  connection->onClosed([&](std::string reason) { closed = reason; });
  // Four idle timeouts without a stream.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2000);
  (void)runUntil(loop_, [&] { return closed || std::chrono::steady_clock::now() > until; });
  EXPECT_FALSE(closed) << *closed;
  auto reply = exchange(connection, "still here");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, "still here");
}

TEST_F(QuicTest, ConnectionLimitRefusesTheNextClient) {
  Limits limits;
  limits.max_connections = 1;
  EchoServer& server = echoServer(serverTls(), limits);
  auto first = connect(port(server), clientTls());
  ASSERT_TRUE(first);
  auto second = connectAndWait(loop_, "127.0.0.1", port(server), clientTls());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("transport error 2"), std::string::npos)
      << second.error().message;  // CONNECTION_REFUSED
  EXPECT_EQ(server.endpoint->connectionCount(), 1u);
}

TEST_F(QuicTest, StreamLimitAndCredit) {
  Limits limits;
  limits.max_streams_per_connection = 2;
  std::vector<std::shared_ptr<Stream>> server_streams;
  auto endpoint =
      Endpoint::listen(loop_, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0),
                       serverTls(), limits, [&](std::shared_ptr<Connection> c) {
                         c->onStream([&](std::shared_ptr<Stream> s) {
                           server_streams.push_back(s);
                           Echo::attach(s);
                         });
                       });
  ASSERT_TRUE(endpoint.ok());
  endpoints_.push_back(*endpoint);
  auto connection = connect((*endpoint)->port(), clientTls());
  ASSERT_TRUE(connection);
  bool credit = false;
  connection->onStreamCredit([&] { credit = true; });
  auto one = connection->openStream();
  auto two = connection->openStream();
  ASSERT_TRUE(one.ok() && two.ok());
  auto three = connection->openStream();
  ASSERT_FALSE(three.ok());
  EXPECT_NE(three.error().message.find("stream limit"), std::string::npos);

  auto reply = std::make_shared<Collector>();
  (*one)->setConsumer(reply);
  (*one)->setProducer(std::make_shared<BytesProducer>("done", BytesProducer::Then::End));
  ASSERT_TRUE(runUntil(loop_, [&] { return reply->ended && credit; }));
  EXPECT_TRUE(connection->openStream().ok());
}

// Bytes that are not QUIC, truncated Initials and unknown versions do not disturb a live server.
TEST_F(QuicTest, GarbageDatagramsAreDroppedAndTheServerKeepsServing) {
  // A real client Initial: our client talking to a plain UDP socket.
  udp::socket sink(loop_, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  std::vector<uint8_t> initial(65536);
  udp::endpoint client_address;
  std::size_t initial_size = 0;
  sink.async_receive_from(boost::asio::buffer(initial), client_address,
                          [&](const boost::system::error_code& ec, std::size_t n) {
                            if (!ec) initial_size = n;
                          });
  Limits short_handshake;
  short_handshake.handshake_timeout = std::chrono::milliseconds(200);
  std::optional<bool> capture_done;
  Endpoint::connect(loop_, "127.0.0.1", sink.local_endpoint().port(), clientTls(), short_handshake,
                    [&](Result<std::shared_ptr<Connection>> r) { capture_done = r.ok(); });
  ASSERT_TRUE(runUntil(loop_, [&] { return initial_size > 0 && capture_done.has_value(); }));
  EXPECT_FALSE(*capture_done);
  ASSERT_GE(initial_size, 1200u);
  initial.resize(initial_size);
  if (const char* dir = std::getenv("SELIUM_QUIC_CORPUS_OUT")) {
    std::ofstream(std::string(dir) + "/client_initial", std::ios::binary)
        .write(reinterpret_cast<const char*>(initial.data()),
               static_cast<std::streamsize>(initial.size()));
  }

  EchoServer& server = echoServer(serverTls());
  const udp::endpoint target(boost::asio::ip::make_address("127.0.0.1"), port(server));
  udp::socket attacker(loop_, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  std::mt19937 random(1234);
  std::vector<std::vector<uint8_t>> garbage;
  for (int i = 0; i < 200; ++i) {
    std::vector<uint8_t> bytes(1 + random() % 1500);
    for (auto& b : bytes) b = static_cast<uint8_t>(random());
    garbage.push_back(std::move(bytes));
  }
  for (std::size_t cut : {1u, 5u, 6u, 7u, 20u, 100u, 1199u}) {
    garbage.emplace_back(initial.begin(), initial.begin() + static_cast<std::ptrdiff_t>(cut));
  }
  std::vector<uint8_t> corrupted = initial;  // right header, undecryptable payload
  for (std::size_t i = 60; i < corrupted.size(); i += 7) corrupted[i] ^= 0x5a;
  garbage.push_back(corrupted);
  std::vector<uint8_t> wrong_version = initial;  // unknown version: Version Negotiation
  wrong_version[1] = 0x1a;
  wrong_version[2] = 0x2a;
  wrong_version[3] = 0x3a;
  wrong_version[4] = 0x4a;
  garbage.push_back(wrong_version);
  for (auto& bytes : garbage) attacker.send_to(boost::asio::buffer(bytes), target);

  // The server answers the unknown version with Version Negotiation (version 0) listing v1.
  std::vector<uint8_t> reply(65536);
  bool got_vn = false;
  std::function<void()> read_reply = [&] {
    attacker.async_receive(boost::asio::buffer(reply),
                           [&](const boost::system::error_code& ec, std::size_t n) {
                             if (ec) return;
                             if (n >= 7 && (reply[0] & 0x80) && reply[1] == 0 && reply[2] == 0 &&
                                 reply[3] == 0 && reply[4] == 0) {
                               got_vn = true;
                               return;
                             }
                             read_reply();
                           });
  };
  read_reply();
  ASSERT_TRUE(runUntil(loop_, [&] { return got_vn; }));
  EXPECT_EQ(server.endpoint->connectionCount(), 0u);

  auto connection = connect(port(server), clientTls());
  ASSERT_TRUE(connection);
  auto echoed = exchange(connection, "after the garbage");
  ASSERT_TRUE(echoed);
  EXPECT_EQ(echoed->data, "after the garbage");
  // The real Initial itself (replayed) opens at most one half-open connection, which the
  // handshake timeout reaps; it does not disturb the live one.
  attacker.send_to(boost::asio::buffer(initial), target);
  auto again = exchange(connection, "and after a replay");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->data, "and after a replay");
}

TEST_F(QuicTest, ConnectFailsForBadHostAndBadCa) {
  auto bad_host = connectAndWait(loop_, "not a host!", 443, clientTls());
  ASSERT_FALSE(bad_host.ok());
  EXPECT_NE(bad_host.error().message.find("not a host!"), std::string::npos);
  ClientTls bad_ca = clientTls();
  bad_ca.ca_pem = "garbage";
  auto refused = connectAndWait(loop_, "127.0.0.1", 9, bad_ca);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("CA"), std::string::npos) << refused.error().message;
}

TEST_F(QuicTest, ListenRejectsBadConfiguration) {
  ServerTls none;
  auto empty = Endpoint::listen(loop_, udp::endpoint(udp::v4(), 0), none, {}, nullptr);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("no identity"), std::string::npos);
  ServerTls bad = serverTls();
  bad.identities[0].key_pem = "not a key";
  auto broken = Endpoint::listen(loop_, udp::endpoint(udp::v4(), 0), bad, {}, nullptr);
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.error().message.find("\"localhost\""), std::string::npos)
      << broken.error().message;
}

TEST_F(QuicTest, EndpointCloseClosesConnections) {
  EchoServer& server = echoServer(serverTls());
  auto connection = connect(port(server), clientTls());
  ASSERT_TRUE(connection);
  std::optional<std::string> reason;
  connection->onClosed([&](std::string r) { reason = r; });
  server.endpoint->close();
  ASSERT_TRUE(runUntil(loop_, [&] { return reason.has_value(); }));
  EXPECT_NE(reason->find("endpoint closed"), std::string::npos) << *reason;
  EXPECT_EQ(server.endpoint->connectionCount(), 0u);
}

TEST_F(QuicTest, ConnectResolvesDnsNames) {
  // Serve on whatever "localhost" resolves to first, which is what connect() uses.
  udp::resolver resolver(loop_);
  boost::system::error_code ec;
  auto results = resolver.resolve("localhost", "0", ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_FALSE(results.empty());
  const udp::endpoint bind(results.begin()->endpoint().address(), 0);
  std::vector<std::shared_ptr<Connection>> accepted;
  auto endpoint =
      Endpoint::listen(loop_, bind, serverTls(), {}, [&](std::shared_ptr<Connection> c) {
        accepted.push_back(c);
        c->onStream([](std::shared_ptr<Stream> s) { Echo::attach(s); });
      });
  ASSERT_TRUE(endpoint.ok()) << endpoint.error().message;
  endpoints_.push_back(*endpoint);
  ClientTls tls = clientTls();
  tls.server_name.clear();  // SNI and verification from the host name
  auto connection = connectAndWait(loop_, "localhost", (*endpoint)->port(), tls);
  ASSERT_TRUE(connection.ok()) << connection.error().message;
  ASSERT_TRUE(runUntil(loop_, [&] { return accepted.size() == 1; }));
  EXPECT_EQ(accepted[0]->serverName(), "localhost");
  auto reply = exchange(*connection, "by name");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, "by name");
}

TEST_F(QuicTest, DroppingTheEndpointClosesItsConnections) {
  std::vector<std::shared_ptr<Connection>> accepted;
  auto endpoint = Endpoint::listen(
      loop_, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0), serverTls(), {},
      [&](std::shared_ptr<Connection> c) { accepted.push_back(c); });
  ASSERT_TRUE(endpoint.ok());
  auto connection = connect((*endpoint)->port(), clientTls());
  ASSERT_TRUE(connection);
  ASSERT_TRUE(runUntil(loop_, [&] { return accepted.size() == 1; }));
  std::optional<std::string> reason;
  connection->onClosed([&](std::string r) { reason = r; });
  endpoint->reset();  // no close(): the destructor closes what is left
  EXPECT_TRUE(accepted[0]->isClosed());
  EXPECT_FALSE(accepted[0]->openStream().ok());
  ASSERT_TRUE(runUntil(loop_, [&] { return reason.has_value(); }));
  EXPECT_NE(reason->find("endpoint destroyed"), std::string::npos) << *reason;
}

}  // namespace
}  // namespace selium::net::quic

namespace selium::net::quic {
namespace {

using namespace testing;
using boost::asio::ip::udp;

// A long-header packet's type (RFC 9000 17.2, QUIC v1): 0 Initial, 1 0-RTT, 2 Handshake, 3 Retry.
int longHeaderType(const std::vector<uint8_t>& packet) {
  if (packet.empty() || (packet[0] & 0x80) == 0) return -1;
  return (packet[0] & 0x30) >> 4;
}

// `initial` with a Retry token nobody issued in its header (its payload no longer decrypts, which
// does not matter: the token is checked first).
std::vector<uint8_t> withForgedToken(const std::vector<uint8_t>& initial) {
  std::size_t at = 5;          // first byte, version
  at += 1 + initial[at];       // DCID
  at += 1 + initial[at];       // SCID
  EXPECT_EQ(initial[at], 0u);  // no token yet (a one-byte varint 0)
  std::vector<uint8_t> forged(initial.begin(), initial.begin() + static_cast<std::ptrdiff_t>(at));
  std::vector<uint8_t> token(61, 0x5a);
  token[0] = 0xb6;  // NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY
  forged.push_back(static_cast<uint8_t>(token.size()));
  forged.insert(forged.end(), token.begin(), token.end());
  forged.insert(forged.end(), initial.begin() + static_cast<std::ptrdiff_t>(at + 1), initial.end());
  return forged;
}

// Replies to `attacker` until `count` arrived or the time is up.
std::vector<std::vector<uint8_t>> receiveReplies(boost::asio::io_context& loop,
                                                 udp::socket& attacker, std::size_t count) {
  std::vector<std::vector<uint8_t>> replies;
  std::vector<uint8_t> buffer(65536);
  std::function<void()> next = [&] {
    attacker.async_receive(
        boost::asio::buffer(buffer), [&](const boost::system::error_code& ec, std::size_t n) {
          if (ec) return;
          replies.emplace_back(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n));
          if (replies.size() < count) next();
        });
  };
  next();
  runUntil(
      loop, [&] { return replies.size() >= count; }, std::chrono::seconds(10));
  attacker.cancel();
  runUntil(
      loop, [] { return false; }, std::chrono::milliseconds(10));
  return replies;
}

}  // namespace

// Initials from an address that never answers (spoofed) would each hold a half-open connection
// until the handshake timeout. With Retry they get a token and create nothing; a real client
// comes back with its token and connects.
TEST_F(QuicTest, RetryLeavesSpoofedInitialsWithoutStateAndRealClientsConnect) {
  Limits limits;
  limits.retry_threshold = 0;  // always
  EchoServer& server = echoServer(serverTls(), limits);
  std::vector<std::vector<uint8_t>> initials;
  for (int i = 0; i < 4; ++i) initials.push_back(captureInitial());
  const udp::endpoint target(boost::asio::ip::make_address("127.0.0.1"), port(server));
  udp::socket attacker(loop_, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  for (const auto& initial : initials) attacker.send_to(boost::asio::buffer(initial), target);
  auto replies = receiveReplies(loop_, attacker, initials.size());
  ASSERT_EQ(replies.size(), initials.size());
  for (const auto& reply : replies) {
    EXPECT_EQ(longHeaderType(reply), 3);  // Retry
    EXPECT_LT(reply.size(), 200u);        // no amplification
  }
  EXPECT_EQ(server.endpoint->connectionCount(), 0u);

  // A forged token: no state, and the sender is told at once (CONNECTION_CLOSE in an Initial).
  const std::vector<uint8_t> forged = withForgedToken(initials[0]);
  if (const char* dir = std::getenv("SELIUM_QUIC_CORPUS_OUT")) {
    std::ofstream(std::string(dir) + "/initial_forged_retry_token", std::ios::binary)
        .write(reinterpret_cast<const char*>(forged.data()),
               static_cast<std::streamsize>(forged.size()));
  }
  attacker.send_to(boost::asio::buffer(forged), target);
  replies = receiveReplies(loop_, attacker, 1);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(longHeaderType(replies[0]), 0);
  EXPECT_EQ(server.endpoint->connectionCount(), 0u);

  // A real client follows the Retry and is served.
  auto connection = connect(port(server), clientTls());
  ASSERT_TRUE(connection);
  auto echoed = exchange(connection, "after a retry");
  ASSERT_TRUE(echoed);
  EXPECT_EQ(echoed->data, "after a retry");
  EXPECT_EQ(server.endpoint->connectionCount(), 1u);
}

// Below the threshold Initials are accepted at once (no extra round trip); at it, Retry.
TEST_F(QuicTest, RetryStartsAtTheThresholdOfHalfOpenHandshakes) {
  Limits limits;
  limits.retry_threshold = 2;
  EchoServer& server = echoServer(serverTls(), limits);
  std::vector<std::vector<uint8_t>> initials;
  for (int i = 0; i < 3; ++i) initials.push_back(captureInitial());
  const udp::endpoint target(boost::asio::ip::make_address("127.0.0.1"), port(server));
  udp::socket attacker(loop_, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  for (const auto& initial : initials) attacker.send_to(boost::asio::buffer(initial), target);
  // Two half-open connections answer with their Initial + Handshake flights; the third is a Retry.
  std::vector<std::vector<uint8_t>> replies = receiveReplies(loop_, attacker, 3);
  ASSERT_TRUE(runUntil(loop_, [&] { return server.endpoint->connectionCount() == 2; }));
  bool retried = false;
  for (;;) {
    for (const auto& reply : replies) retried = retried || longHeaderType(reply) == 3;
    if (retried) break;
    replies = receiveReplies(loop_, attacker, 1);
    if (replies.empty()) break;
  }
  EXPECT_TRUE(retried);
  EXPECT_EQ(server.endpoint->connectionCount(), 2u);
  // A real client still gets through (via Retry, while the two are half-open).
  auto connection = connect(port(server), clientTls());
  ASSERT_TRUE(connection);
  EXPECT_EQ(exchange(connection, "x")->data, "x");
}

// A peer stream whose first frame is RESET_STREAM is still announced, already ended: the
// application learns of every stream the peer opened (ngtcp2 0.12 itself forgets such a stream).
TEST_F(QuicTest, AStreamResetBeforeAnyDataIsAnnouncedEnded) {
  std::vector<std::shared_ptr<Collector>> seen;
  auto endpoint = Endpoint::listen(
      loop_, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0), serverTls(), {},
      [&](std::shared_ptr<Connection> c) {
        c->onStream([&](std::shared_ptr<Stream> s) {
          seen.push_back(std::make_shared<Collector>());
          s->setConsumer(seen.back());
          s->setProducer(std::make_shared<BytesProducer>("answer", BytesProducer::Then::End));
        });
      });
  ASSERT_TRUE(endpoint.ok());
  endpoints_.push_back(*endpoint);
  auto connection = connect((*endpoint)->port(), clientTls());
  ASSERT_TRUE(connection);
  for (int i = 0; i < 3; ++i) {
    auto stream = connection->openStream();
    ASSERT_TRUE(stream.ok());
    (*stream)->setProducer(std::make_shared<BytesProducer>("", BytesProducer::Then::Abort));
  }
  ASSERT_TRUE(runUntil(loop_, [&] {
    return seen.size() == 3 && seen[0]->ended && seen[1]->ended && seen[2]->ended;
  }));
  for (const auto& collector : seen) {
    EXPECT_FALSE(collector->complete);
    EXPECT_EQ(collector->data, "");
  }
  // Streams with data are unaffected.
  auto stream = connection->openStream();
  ASSERT_TRUE(stream.ok());
  auto reply = std::make_shared<Collector>();
  (*stream)->setConsumer(reply);
  (*stream)->setProducer(std::make_shared<BytesProducer>("question", BytesProducer::Then::End));
  ASSERT_TRUE(runUntil(loop_, [&] { return reply->ended && seen.size() == 4 && seen[3]->ended; }));
  EXPECT_TRUE(reply->complete);
  EXPECT_EQ(reply->data, "answer");
  EXPECT_EQ(seen[3]->data, "question");
}

// ngtcp2 gives the peer its credit back for such a stream at once, so the ones the application
// has not taken yet are bounded here instead (by max_streams_per_connection).
TEST_F(QuicTest, StreamsResetBeforeAnyDataAreBoundedWhileNotTaken) {
  Limits limits;
  limits.max_streams_per_connection = 2;
  std::vector<std::shared_ptr<Stream>> seen;  // taken, never read: they stay announced
  auto endpoint = Endpoint::listen(
      loop_, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0), serverTls(), limits,
      [&](std::shared_ptr<Connection> c) {
        c->onStream([&](std::shared_ptr<Stream> s) { seen.push_back(std::move(s)); });
      });
  ASSERT_TRUE(endpoint.ok());
  endpoints_.push_back(*endpoint);
  auto connection = connect((*endpoint)->port(), clientTls());
  ASSERT_TRUE(connection);
  int64_t last_id = -1;
  for (int i = 0; i < 8; ++i) {
    std::shared_ptr<Stream> stream;
    ASSERT_TRUE(runUntil(loop_,
                         [&] {
                           auto opened = connection->openStream();
                           if (opened.ok()) stream = *opened;
                           return opened.ok();
                         }))
        << "no stream credit for stream " << i;
    (*stream).setProducer(std::make_shared<BytesProducer>("", BytesProducer::Then::Abort));
    last_id = stream->id();
  }
  // A last stream with data, after all the resets: once it is seen, the resets were handled.
  std::shared_ptr<Stream> marker;
  ASSERT_TRUE(runUntil(loop_, [&] {
    auto opened = connection->openStream();
    if (opened.ok()) marker = *opened;
    return opened.ok();
  }));
  marker->setProducer(std::make_shared<BytesProducer>("marker", BytesProducer::Then::End));
  ASSERT_TRUE(runUntil(loop_, [&] {
    for (const auto& s : seen) {
      if (s->id() == marker->id()) return true;
    }
    return false;
  }));
  std::size_t resets = 0;
  for (const auto& s : seen) resets += s->id() <= last_id ? 1 : 0;
  EXPECT_GE(resets, 1u);
  EXPECT_LE(resets, limits.max_streams_per_connection);
}

}  // namespace selium::net::quic
