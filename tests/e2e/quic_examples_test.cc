// End-to-end tests of examples/quic_echo: the real selium-runtime serves the echo guest from a
// temporary work dir on a UDP port the system picks (the guest logs it in its "listening" record);
// the example's client runs in a second runtime, and Debian's ngtcp2 sample client (gtlsclient,
// HTTP/3 over QUIC) talks to the guest server as a foreign peer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "runtime_fixture.h"

namespace selium::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

// Generous: a loaded machine may be slow to run processes. Nothing here measures time.
constexpr auto kClientTimeout = 120s;

constexpr std::string_view kServerCaps =
    "capabilities=NetQuicBind,NetQuicAccept,NetQuicRead,NetQuicWrite";
constexpr std::string_view kTlsServerCaps =
    "capabilities=NetTlsServerConfig,NetQuicBind,NetQuicAccept,NetQuicRead,NetQuicWrite";
constexpr std::string_view kClientCaps = "capabilities=NetQuicConnect,NetQuicRead,NetQuicWrite";

constexpr const char* kSampleClient = "/usr/bin/gtlsclient";

class QuicEchoE2E : public RuntimeTest {
 protected:
  QuicEchoE2E() : RuntimeTest("e2e-quic-examples") {}
  void SetUp() override {
    addModule("quic_echo.wasm");
    generateCerts(certs());
  }

  // A runtime of quic_echo.wasm with the debug log.
  std::unique_ptr<RuntimeProcess> start(const fs::path& work, const std::string& spec) {
    return startRuntime(
        work, {.modules = {"path=quic_echo.wasm;" + spec}, .log_level = "debug", .workers = 2});
  }

  fs::path certs() const { return work_ / "certs"; }
  std::string hexFile(const std::string& name) const { return hexOf(readFile(certs() / name)); }

  std::unique_ptr<RuntimeProcess> serve(std::string_view domain = "") {
    return start(work_, "entrypoint=serve;" + std::string(kServerCaps) +
                            ";args=utf8:127.0.0.1,u16:0,utf8:" + std::string(domain));
  }

  // serve_tls with the work dir's server certificate; `client_ca` empty: no client certificates.
  std::unique_ptr<RuntimeProcess> serveTls(bool client_ca, std::string_view alpn) {
    return start(work_, "entrypoint=serve_tls;" + std::string(kTlsServerCaps) +
                            ";args=utf8:127.0.0.1,u16:0,utf8:,hex:" + hexFile("server.crt") +
                            ",hex:" + hexFile("server.key") + ",hex:" +
                            (client_ca ? hexFile("ca.crt") : "") + ",utf8:" + std::string(alpn));
  }

  // What one run of the example's client saw.
  struct ClientRun {
    json exited;  // the runtime's "process exited" fields
    json done;    // the guest's "done" fields (null if it never got there)
    json connected;
    std::vector<json> failures;
    std::string output;
  };

  // Runs the client in a runtime of its own, from a work dir with the server's CA and (unless
  // told not to) the client certificate.
  ClientRun runClient(uint16_t port, uint32_t streams, uint32_t bytes,
                      bool client_certificate = true, std::string_view host = "localhost") {
    const fs::path work = makeWorkDir("client" + std::to_string(clients_++), {"quic_echo.wasm"});
    fs::create_directories(work / "certs");
    fs::copy_file(certs() / "ca.crt", work / "certs" / "ca.crt");
    if (client_certificate) {
      fs::copy_file(certs() / "client.crt", work / "certs" / "client.crt");
      fs::copy_file(certs() / "client.key", work / "certs" / "client.key");
    }
    auto runtime =
        start(work, "entrypoint=client;" + std::string(kClientCaps) +
                        ";args=utf8:" + std::string(host) + ",u16:" + std::to_string(port) +
                        ",u32:" + std::to_string(streams) + ",u32:" + std::to_string(bytes));
    ClientRun run;
    run.exited = runtime->waitForRecord("process exited", kClientTimeout);
    run.done = runtime->waitForGuest("done", {}, 1s);
    run.connected = runtime->waitForGuest("connected", {}, 1s);
    run.failures = runtime->guestRecords("stream failed");
    run.output = runtime->stop().out;
    return run;
  }

  int clients_ = 0;
};

TEST_F(QuicEchoE2E, TheClientEchoesManyConcurrentStreamsThroughTheRealRuntime) {
  auto server = serve();
  const uint16_t port = server->waitListening();
  ASSERT_NE(port, 0);

  // 20 streams at once, each 300,000 bytes: more than a stream's 64 KiB rings and the transport's
  // windows hold, so echoes flow while the client is still sending.
  ClientRun run = runClient(port, 20, 300000);
  ASSERT_FALSE(run.exited.is_null()) << run.output;
  EXPECT_EQ(run.exited.value("status", -1), 0) << run.output;
  ASSERT_FALSE(run.done.is_null()) << run.output;
  EXPECT_EQ(run.done["ok"], 20);
  EXPECT_EQ(run.done["failed"], 0);
  EXPECT_TRUE(run.failures.empty()) << run.failures.front().dump();
  EXPECT_EQ(run.connected["alpn"], "");
  EXPECT_THAT(run.connected["peer"].get<std::string>(), HasSubstr("CN=localhost"));
  EXPECT_THAT(run.connected["remote"].get<std::string>(), HasSubstr(std::to_string(port)));

  // The server saw one connection (SNI localhost, the client's certificate presented) with 20
  // streams; it logs its end once the client's runtime closed it.
  json connection = server->waitForGuest("connection");
  ASSERT_FALSE(connection.is_null());
  EXPECT_EQ(connection["sni"], "localhost");
  EXPECT_EQ(connection["alpn"], "");
  // The work dir's default configuration asks for a client certificate (optional): the client
  // runtime presents its certs/client.crt.
  EXPECT_THAT(connection["peer"].get<std::string>(), HasSubstr("CN=client.localhost"));
  json closed = server->waitForGuest("connection closed");
  ASSERT_FALSE(closed.is_null());
  EXPECT_EQ(closed["streams"], 20);
  EXPECT_EQ(closed["bytes"], 20 * 300000);
  std::vector<json> streams = server->guestRecords("stream");
  ASSERT_EQ(streams.size(), 20u);
  for (const json& stream : streams) {
    EXPECT_EQ(stream["bytes"], 300000);
    EXPECT_EQ(stream["outcome"], "finished");
  }
}

TEST_F(QuicEchoE2E, ADomainListenerServesOnlyItsServerName) {
  auto server = serve("localhost");
  const uint16_t port = server->waitListening();
  ASSERT_NE(port, 0);
  ClientRun named = runClient(port, 2, 10);
  EXPECT_EQ(named.exited.value("status", -1), 0) << named.output;
  EXPECT_EQ(named.done["ok"], 2);
  // By IP address the client sends no SNI: no domain takes the connection, which is closed
  // (application error 0x2) and every stream fails with the host's reason.
  ClientRun run = runClient(port, 2, 10, /*client_certificate=*/true, "127.0.0.1");
  ASSERT_FALSE(run.exited.is_null()) << run.output;
  EXPECT_EQ(run.exited.value("status", -1), 1) << run.output;
  EXPECT_EQ(run.done["ok"], 0);
  EXPECT_EQ(run.done["failed"], 2);
  ASSERT_FALSE(run.failures.empty());
  EXPECT_EQ(run.failures[0]["error"], "Closed");
  EXPECT_THAT(run.failures[0]["detail"].get<std::string>(), HasSubstr("no service here"));
}

TEST_F(QuicEchoE2E, MutualTlsServesOnlyClientsWithACertificate) {
  auto server = serveTls(/*client_ca=*/true, "");
  const uint16_t port = server->waitListening();
  ASSERT_NE(port, 0);

  ClientRun with = runClient(port, 3, 1000);
  EXPECT_EQ(with.exited.value("status", -1), 0) << with.output;
  EXPECT_EQ(with.done["ok"], 3);
  json connection = server->waitForGuest("connection");
  ASSERT_FALSE(connection.is_null());
  EXPECT_THAT(connection["peer"].get<std::string>(), HasSubstr("CN=client.localhost"));

  ClientRun without = runClient(port, 3, 1000, /*client_certificate=*/false);
  EXPECT_EQ(without.exited.value("status", -1), 1) << without.output;
  EXPECT_EQ(without.done["ok"], 0);
  ASSERT_FALSE(without.failures.empty());
  EXPECT_EQ(without.failures[0]["error"], "Closed");
  EXPECT_THAT(without.failures[0]["detail"].get<std::string>(), HasSubstr("failed"));
}

// Debian's ngtcp2 sample client (an HTTP/3 client: ALPN "h3", its control and QPACK streams, one
// GET on stream 0) against the echo guest configured with ALPN h3. What the sample client observes,
// from its debug output: a completed and confirmed handshake with ALPN h3, and on stream 0 its own
// request bytes back, whole and with FIN — which its HTTP/3 layer then refuses as a response
// (H3_MESSAGE_ERROR, 0x10e: a request's header block is no response), as it should.
TEST_F(QuicEchoE2E, TheNgtcp2SampleClientCompletesAHandshakeAndGetsItsStreamEchoed) {
  if (!fs::exists(kSampleClient)) GTEST_SKIP() << "ngtcp2-client (gtlsclient) is not installed";
  auto server = serveTls(/*client_ca=*/false, "h3");
  const uint16_t port = server->waitListening();
  ASSERT_NE(port, 0);
  SubprocessResult r =
      runProcess(SubprocessOptions{{"/usr/bin/timeout", "30", kSampleClient,
                                    "--exit-on-all-streams-close", "--timeout=5s", "127.0.0.1",
                                    std::to_string(port), "https://localhost/echo"},
                                   {},
                                   temp_.path()},
                 60s);
  const std::string& log = r.err;  // the sample client's debug output
  EXPECT_EQ(r.exit_code, 0) << log;
  EXPECT_THAT(log, HasSubstr("QUIC handshake has completed"));
  EXPECT_THAT(log, HasSubstr("Negotiated ALPN is h3"));
  EXPECT_THAT(log, HasSubstr("QUIC handshake has been confirmed"));  // our HANDSHAKE_DONE
  // Its request went out on stream 0 with FIN; the same number of bytes came back with FIN.
  std::smatch sent;
  ASSERT_TRUE(std::regex_search(
      log, sent, std::regex(R"(frm tx \d+ 1RTT STREAM\(0x0b\) id=0x0 fin=1 offset=0 len=(\d+))")))
      << log;
  std::smatch received;
  ASSERT_TRUE(std::regex_search(
      log, received,
      std::regex(R"(frm rx \d+ 1RTT STREAM\(0x0b\) id=0x0 fin=1 offset=0 len=(\d+))")))
      << log;
  EXPECT_EQ(received[1].str(), sent[1].str());
  // What came back is an HTTP/3 HEADERS frame (type 0x01): its own request.
  EXPECT_THAT(log, HasSubstr("Ordered STREAM data stream_id=0x0\n00000000  01 "));
  EXPECT_THAT(log, HasSubstr("HTTP stream 0 closed with error code 270"));

  json connection = server->waitForGuest("connection");
  ASSERT_FALSE(connection.is_null());
  EXPECT_EQ(connection["alpn"], "h3");
  EXPECT_EQ(connection["sni"], "localhost");
  json stream = server->waitForGuest("stream");
  ASSERT_FALSE(stream.is_null());
  EXPECT_EQ(stream["bytes"], std::stoi(sent[1].str()));
  EXPECT_EQ(stream["outcome"], "finished");
  // The client closes with H3_NO_ERROR (0x100 = 256) when it is done.
  json closed = server->waitForGuest("connection closed");
  ASSERT_FALSE(closed.is_null());
  EXPECT_THAT(closed["reason"].get<std::string>(), HasSubstr("application error 256"));
}

}  // namespace
}  // namespace selium::testing
