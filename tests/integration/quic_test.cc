// QUIC in real guests (tests/guests/quic) on an in-process engine, over real loopback UDP: a guest
// echo server and a guest client in another process (many streams on one connection, a 4 MiB
// stream byte-exact, FIN and reset), the host's own QUIC client against a guest server
// (connection info, a stream handed to another process and answered there), mutual TLS,
// a connect that fails verification, capabilities, and the UDP port released when a process ends.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <selium/abi/capabilities.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "net/quic/quic.h"
#include "net/quic/test_support.h"
#include "support/engine_fixture.h"
#include "support/temp_dir.h"
#include "util/certs.h"

namespace selium::engine {
namespace {

using kernel::Capability;
using kernel::EntrypointArg;
using ::testing::HasSubstr;
using namespace std::chrono_literals;
namespace quic = net::quic;

std::vector<Capability> serverCaps() {
  return {Capability::NetQuicBind, Capability::NetQuicAccept, Capability::NetQuicRead,
          Capability::NetQuicWrite};
}
std::vector<Capability> clientCaps() {
  return {Capability::NetQuicConnect, Capability::NetQuicRead, Capability::NetQuicWrite};
}
std::vector<Capability> without(std::vector<Capability> caps, Capability dropped) {
  std::erase(caps, dropped);
  return caps;
}

// Says "drop reader", then sends bytes for ever; counts what it produced.
class EndlessProducer : public net::ByteProducer {
 public:
  Chunk read(std::span<uint8_t> out) override {
    static constexpr std::string_view kHead = "drop reader";
    std::size_t n = out.size();
    if (produced < kHead.size()) {
      n = std::min(n, kHead.size() - produced);
      std::memcpy(out.data(), kHead.data() + produced, n);
    } else {
      std::memset(out.data(), 'x', n);
    }
    produced += n;
    return {State::Data, n};
  }
  uint64_t produced = 0;
};

class QuicTest : public EngineFixture {
 protected:
  void SetUp() override {
    startEngine(optionsWithCerts(certsDir()));
    module_ = loadGuest("quic.wasm");
    ASSERT_TRUE(module_);
  }
  void TearDown() override {
    connections_.clear();
    loop_.restart();
    loop_.poll();
    EngineFixture::TearDown();
  }

  std::filesystem::path certsDir() const { return work_.path() / "certs"; }
  std::string pem(const std::string& name) const {
    return quic::testing::readFile(certsDir() / name);
  }

  kernel::ProcessId spawn(std::string entry, std::vector<EntrypointArg> args,
                          std::vector<Capability> caps) {
    return spawnOk(*engine_, request(module_, std::move(entry), std::move(args), caps));
  }

  uint16_t portOf(kernel::ProcessId pid) {
    if (!recorder_.waitLogCount(pid, "listening", 1, 20s)) {
      ADD_FAILURE() << "no \"listening\" from " << pid << dump(pid);
      return 0;
    }
    return static_cast<uint16_t>(uintField(recordOf(recorder_, pid, "listening"), "port"));
  }

  uint16_t serve(kernel::ProcessId* pid_out = nullptr) {
    kernel::ProcessId pid = spawn("serve", {u32(0)}, serverCaps());
    if (pid_out != nullptr) *pid_out = pid;
    return portOf(pid);
  }

  // The host's QUIC client (the work dir's CA; with the client certificate unless told not to).
  Result<std::shared_ptr<quic::Connection>> hostConnect(uint16_t port, bool client_cert = true) {
    quic::ClientTls tls;
    tls.ca_pem = pem("ca.crt");
    if (client_cert) {
      tls.cert_pem = pem("client.crt");
      tls.key_pem = pem("client.key");
    }
    tls.server_name = "localhost";
    auto connected = quic::testing::connectAndWait(loop_, "127.0.0.1", port, tls);
    if (connected) connections_.push_back(*connected);
    return connected;
  }

  // Sends `bytes` then FIN on a new stream; what comes back (bounded in time).
  std::shared_ptr<quic::testing::Collector> exchange(
      const std::shared_ptr<quic::Connection>& connection, const std::string& bytes,
      const std::function<bool()>& also_wait_for = nullptr) {
    auto collector = std::make_shared<quic::testing::Collector>();
    auto stream = connection->openStream();
    EXPECT_TRUE(stream) << (stream ? "" : stream.error().message);
    if (!stream) return collector;
    (*stream)->setConsumer(collector);
    (*stream)->setProducer(std::make_shared<quic::testing::BytesProducer>(
        bytes, quic::testing::BytesProducer::Then::End));
    EXPECT_TRUE(quic::testing::runUntil(
        loop_, [&] { return collector->ended && (!also_wait_for || also_wait_for()); }, 30s));
    return collector;
  }

  selium::testing::TempDir work_{"quic"};
  std::shared_ptr<const Module> module_;
  boost::asio::io_context loop_;
  std::vector<std::shared_ptr<quic::Connection>> connections_;
};

TEST_F(QuicTest, AGuestClientEchoesManyStreamsABigOneAndAReset) {
  uint16_t port = serve();
  ASSERT_NE(port, 0);
  kernel::ProcessId client = spawn("client", {u32(port), u32(50), u32(4u << 20)}, clientCaps());
  auto exit = recorder_.waitExit(client, 120s);
  ASSERT_TRUE(exit) << dump(client);
  EXPECT_EQ(exit->status, 0) << dump(client);
  auto done = recordOf(recorder_, client, "client done");
  EXPECT_EQ(uintField(done, "streams"), 50u);
  EXPECT_EQ(uintField(done, "big"), 4u << 20);
  auto info = recordOf(recorder_, client, "client info");
  EXPECT_EQ(textField(info, "remote"), "127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(textField(info, "alpn"), "");
  EXPECT_THAT(textField(info, "peer"), HasSubstr("CN=localhost"));
}

TEST_F(QuicTest, TheHostClientTalksToAGuestServer) {
  uint16_t port = serve();
  ASSERT_NE(port, 0);
  auto connection = hostConnect(port);
  ASSERT_TRUE(connection) << connection.error().message;
  auto echo = exchange(*connection, "hello over quic");
  EXPECT_TRUE(echo->complete);
  EXPECT_EQ(echo->data, "hello over quic");
  // What the guest sees of the connection.
  auto info = exchange(*connection, "info");
  EXPECT_TRUE(info->complete);
  EXPECT_THAT(info->data, HasSubstr("sni: localhost\n"));
  EXPECT_THAT(info->data, HasSubstr("alpn: \n"));
  EXPECT_THAT(info->data, HasSubstr("peer: CN=client.localhost"));
  EXPECT_THAT(info->data, HasSubstr("remote: 127.0.0.1:"));
  // A stream the host resets (after the guest has seen it) is reset back: the host's consumer
  // ends incomplete.
  auto collector = std::make_shared<quic::testing::Collector>();
  auto stream = (*connection)->openStream();
  ASSERT_TRUE(stream);
  (*stream)->setConsumer(collector);
  auto producer = std::make_shared<quic::testing::BytesProducer>(
      "partial", quic::testing::BytesProducer::Then::Wait);
  (*stream)->setProducer(producer);
  ASSERT_TRUE(quic::testing::runUntil(
      loop_, [&] { return collector->data == "partial"; }, 30s));
  producer->setThen(quic::testing::BytesProducer::Then::Abort);
  (*stream)->resumeSend();
  ASSERT_TRUE(quic::testing::runUntil(
      loop_, [&] { return collector->ended; }, 30s));
  EXPECT_FALSE(collector->complete);
}

TEST_F(QuicTest, AStreamResetBeforeItsFirstByteStillReachesTheGuest) {
  kernel::ProcessId server = 0;
  uint16_t port = serve(&server);
  ASSERT_NE(port, 0);
  auto connection = hostConnect(port);
  ASSERT_TRUE(connection) << connection.error().message;
  // Nothing but RESET_STREAM: the producer aborts before any byte.
  auto stream = (*connection)->openStream();
  ASSERT_TRUE(stream);
  (*stream)->setProducer(std::make_shared<quic::testing::BytesProducer>(
      "", quic::testing::BytesProducer::Then::Abort));
  ASSERT_TRUE(quic::testing::runUntil(
      loop_, [&] { return recorder_.waitLogCount(server, "stream ended early", 1, 0ms); }, 20s))
      << dump(server);
  EXPECT_EQ(textField(recordOf(recorder_, server, "stream ended early"), "error"), "Closed");
  // The connection goes on serving.
  auto echo = exchange(*connection, "after the reset");
  EXPECT_TRUE(echo->complete);
  EXPECT_EQ(echo->data, "after the reset");
}

TEST_F(QuicTest, AGuestThatDropsAStreamsReaderStopsThePeerSending) {
  uint16_t port = serve();
  ASSERT_NE(port, 0);
  auto connection = hostConnect(port);
  ASSERT_TRUE(connection) << connection.error().message;
  auto stream = (*connection)->openStream();
  ASSERT_TRUE(stream);
  auto answer = std::make_shared<quic::testing::Collector>();
  auto producer = std::make_shared<EndlessProducer>();
  std::weak_ptr<EndlessProducer> watch = producer;
  (*stream)->setConsumer(answer);
  (*stream)->setProducer(std::move(producer));
  // STOP_SENDING makes the stream drop its producer (which would send for ever otherwise), while
  // the guest's own side still finishes normally.
  ASSERT_TRUE(quic::testing::runUntil(
      loop_, [&] { return answer->ended && watch.expired(); }, 30s))
      << "answer ended " << answer->ended << ", producer released " << watch.expired();
  EXPECT_TRUE(answer->complete);
  EXPECT_EQ(answer->data, "reader dropped");
  EXPECT_FALSE((*connection)->isClosed());
  auto echo = exchange(*connection, "still here");
  EXPECT_EQ(echo->data, "still here");
}

TEST_F(QuicTest, AStreamHandedToAnotherProcessIsAnsweredThere) {
  kernel::ProcessId server = 0;
  uint16_t port = serve(&server);
  ASSERT_NE(port, 0);
  auto connection = hostConnect(port);
  ASSERT_TRUE(connection) << connection.error().message;
  const std::string question = "handoff: what is six times seven?";
  auto collector = std::make_shared<quic::testing::Collector>();
  auto stream = (*connection)->openStream();
  ASSERT_TRUE(stream);
  (*stream)->setConsumer(collector);
  (*stream)->setProducer(std::make_shared<quic::testing::BytesProducer>(
      question, quic::testing::BytesProducer::Then::End));
  ASSERT_TRUE(quic::testing::runUntil(
      loop_, [&] { return recorder_.waitLogCount(server, "handoff", 1, 0ms); }, 20s))
      << dump(server);
  auto handoff = recordOf(recorder_, server, "handoff");
  kernel::ProcessId worker =
      spawn("answer", {u64(uintField(handoff, "reader")), u64(uintField(handoff, "writer"))},
            {Capability::NetQuicRead, Capability::NetQuicWrite});
  ASSERT_TRUE(quic::testing::runUntil(
      loop_, [&] { return collector->ended; }, 30s));
  EXPECT_TRUE(collector->complete);
  const std::string prefix = "answered by " + std::to_string(worker) + ": ";
  ASSERT_THAT(collector->data, ::testing::StartsWith(prefix));
  EXPECT_EQ(textField(handoff, "first") + collector->data.substr(prefix.size()), question);
  auto exit = recorder_.waitExit(worker, 20s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->status, 0);
}

TEST_F(QuicTest, MutualTlsRefusesAClientWithoutACertificate) {
  kernel::ProcessId server = spawn(
      "serve_mtls", {utf8(pem("server.crt")), utf8(pem("server.key")), utf8(pem("ca.crt"))}, [] {
        auto caps = serverCaps();
        caps.push_back(Capability::NetTlsServerConfig);
        return caps;
      }());
  uint16_t port = portOf(server);
  ASSERT_NE(port, 0);
  auto refused = hostConnect(port, /*client_cert=*/false);
  EXPECT_FALSE(refused);
  auto accepted = hostConnect(port, /*client_cert=*/true);
  ASSERT_TRUE(accepted) << accepted.error().message;
  auto info = exchange(*accepted, "info");
  EXPECT_THAT(info->data, HasSubstr("peer: CN=client.localhost"));
}

TEST_F(QuicTest, AConnectThatFailsVerificationSaysWhyOnItsStreamCalls) {
  uint16_t port = serve();
  ASSERT_NE(port, 0);
  auto caps = clientCaps();
  caps.push_back(Capability::NetTlsClientConfig);
  kernel::ProcessId client = spawn("connect_wrong_name", {u32(port)}, caps);
  auto exit = recorder_.waitExit(client, 30s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->status, 0) << dump(client);
  auto failed = recordOf(recorder_, client, "connect failed");
  EXPECT_EQ(textField(failed, "error"), "Closed");
  EXPECT_THAT(textField(failed, "message"),
              HasSubstr("connection to 127.0.0.1:" + std::to_string(port) + " failed: "));
}

TEST_F(QuicTest, EveryCapabilityIsEnforced) {
  // No NetQuicBind: the listen is refused.
  kernel::ProcessId no_bind =
      spawn("serve", {u32(0)}, without(serverCaps(), Capability::NetQuicBind));
  auto exit = recorder_.waitExit(no_bind, 20s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->status, 1);
  EXPECT_EQ(textField(recordOf(recorder_, no_bind, "listen failed"), "error"), "PermissionDenied");
  // No NetQuicAccept: it listens, and the accept is refused.
  kernel::ProcessId no_accept =
      spawn("serve", {u32(0)}, without(serverCaps(), Capability::NetQuicAccept));
  exit = recorder_.waitExit(no_accept, 20s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->status, 2);
  EXPECT_EQ(textField(recordOf(recorder_, no_accept, "accept failed"), "error"),
            "PermissionDenied");

  uint16_t port = serve();
  ASSERT_NE(port, 0);
  auto clientStep = [&](Capability dropped) {
    kernel::ProcessId pid =
        spawn("client", {u32(port), u32(1), u32(0)}, without(clientCaps(), dropped));
    auto ended = recorder_.waitExit(pid, 30s);
    EXPECT_TRUE(ended);
    if (!ended) return std::string();
    EXPECT_EQ(ended->status, 1) << dump(pid);
    auto failed = recordOf(recorder_, pid, "client failed");
    EXPECT_EQ(textField(failed, "error"), "PermissionDenied");
    return textField(failed, "step");
  };
  EXPECT_EQ(clientStep(Capability::NetQuicConnect), "connect");
  EXPECT_EQ(clientStep(Capability::NetQuicWrite), "write");
  EXPECT_EQ(clientStep(Capability::NetQuicRead), "read");
}

TEST_F(QuicTest, AProcessThatEndsReleasesItsUdpPort) {
  kernel::ProcessId server = 0;
  uint16_t port = serve(&server);
  ASSERT_NE(port, 0);
  auto connection = hostConnect(port);
  ASSERT_TRUE(connection) << connection.error().message;
  auto stream = (*connection)->openStream();
  ASSERT_TRUE(stream);
  (*stream)->setProducer(std::make_shared<quic::testing::BytesProducer>(
      "exit", quic::testing::BytesProducer::Then::End));
  ASSERT_TRUE(quic::testing::runUntil(
      loop_, [&] { return recorder_.waitExit(server, 0ms).has_value(); }, 20s));
  EXPECT_EQ(recorder_.waitExit(server, 0ms)->status, 3);
  // The socket closes on its loop soon after: a new socket may bind the port then.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  bool bound = false;
  while (!bound && std::chrono::steady_clock::now() < deadline) {
    boost::asio::io_context io;
    boost::asio::ip::udp::socket socket(io);
    boost::system::error_code ec;
    socket.open(boost::asio::ip::udp::v4(), ec);
    socket.bind({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
    bound = !ec;
    if (!bound) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(bound);
  // And a guest can listen on it again.
  kernel::ProcessId again = spawn("serve", {u32(port)}, serverCaps());
  EXPECT_EQ(portOf(again), port) << dump(again);
}

}  // namespace
}  // namespace selium::engine
