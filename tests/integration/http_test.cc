// HTTP servers in real guests (tests/guests/http) on an in-process engine, answered over real
// loopback sockets to curl: plain HTTP/1.1 with keep-alive, bodies both ways (whole, chunked,
// streamed with backpressure), the request head as guests see it, HTTPS with the work dir's
// certificates, every way an answer can fail (never, dropped, cut short, process exit), several
// processes accepting on one port, capabilities, and sockets released when processes end.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <selium/abi/capabilities.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "net/http/http_test_support.h"
#include "net/tls/testing/test_pki.h"
#include "subprocess.h"
#include "support/engine_fixture.h"
#include "support/temp_dir.h"
#include "util/certs.h"

namespace selium::engine {
namespace {

using kernel::Capability;
using kernel::EntrypointArg;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::string fieldText(const kernel::GuestLogRecord& record, const std::string& key) {
  for (const auto& f : record.fields) {
    if (f.key == key) {
      if (auto* text = std::get_if<std::string>(&f.value)) return *text;
    }
  }
  return "";
}

struct Curl {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class HttpTest : public EngineFixture {
 protected:
  void SetUp() override {
    startEngine(optionsWithCerts(work_.path() / "certs"));
    module_ = loadGuest("http.wasm");
    ASSERT_TRUE(module_);
  }

  static std::vector<Capability> plainCaps() {
    return {Capability::NetHttpBind, Capability::NetHttpAccept, Capability::NetHttpRead,
            Capability::NetHttpWrite};
  }
  static std::vector<Capability> tlsCaps() {
    return {Capability::NetHttpsBind, Capability::NetHttpsAccept, Capability::NetHttpsRead,
            Capability::NetHttpsWrite};
  }
  // HTTPS with a configuration of its own.
  static std::vector<Capability> tlsConfigCaps() {
    auto caps = tlsCaps();
    caps.push_back(Capability::NetTlsServerConfig);
    return caps;
  }

  kernel::ProcessId spawn(std::string entry, std::vector<EntrypointArg> args,
                          std::vector<Capability> caps) {
    return spawnOk(*engine_, request(module_, std::move(entry), std::move(args), caps));
  }

  // Starts serve() and returns its port (0 and a failure if it never listened).
  uint16_t serve(uint32_t tls = 0, uint32_t timeout_ms = 0,
                 std::vector<Capability> caps = plainCaps(), kernel::ProcessId* pid_out = nullptr) {
    kernel::ProcessId pid = spawn("serve", {utf8("127.0.0.1"), u32(tls), u32(timeout_ms)}, caps);
    if (pid_out != nullptr) *pid_out = pid;
    return portOf(pid, "listening");
  }

  uint16_t portOf(kernel::ProcessId pid, const std::string& message) {
    if (!recorder_.waitLogCount(pid, message, 1, 20s)) {
      ADD_FAILURE() << "no \"" << message << "\" from " << pid << dump(pid);
      return 0;
    }
    auto record = recordOf(recorder_, pid, message);
    for (const auto& f : record.fields) {
      if (f.key == "port") {
        if (auto* v = std::get_if<uint64_t>(&f.value)) return static_cast<uint16_t>(*v);
        if (auto* v = std::get_if<int64_t>(&f.value)) return static_cast<uint16_t>(*v);
      }
    }
    ADD_FAILURE() << "no port field" << dump(pid);
    return 0;
  }

  Curl curl(std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/curl", "-sS", "--max-time", "30"};
    argv.insert(argv.end(), args.begin(), args.end());
    testing::SubprocessOptions options;
    options.argv = argv;
    testing::Subprocess process(options);
    auto result = process.wait(60s);
    return {result.exit_code, result.out, result.err};
  }

  std::string url(uint16_t port, const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }

  std::filesystem::path writeFile(const std::string& name, const std::vector<uint8_t>& bytes) {
    auto path = work_.path() / name;
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return path;
  }

  static std::vector<uint8_t> randomBytes(std::size_t n) {
    std::mt19937 rng(42);
    std::vector<uint8_t> out(n);
    for (auto& b : out) b = static_cast<uint8_t>(rng());
    return out;
  }

  static std::string readFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }

  selium::testing::TempDir work_{"http"};
  std::shared_ptr<const Module> module_;
};

TEST_F(HttpTest, AnswersPlainHttpAndKeepsTheConnectionAlive) {
  uint16_t port = serve();
  ASSERT_NE(port, 0);
  auto r =
      curl({"-w", "%{http_code} %{num_connects}\\n", url(port, "/hello"), url(port, "/hello")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Two answers over one connection: the second transfer made no new connection.
  EXPECT_EQ(r.out, "hello\n200 1\nhello\n200 0\n");
}

TEST_F(HttpTest, TheGuestSeesTheRequestHead) {
  uint16_t port = serve();
  auto r = curl({"-H", "X-Test: yes", "-H", "X-Multi: 1", "-H", "X-Multi: 2", "--data-binary",
                 "abc", url(port, "/head?q=1")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("method: POST\n"));
  EXPECT_THAT(r.out, HasSubstr("target: /head?q=1\n"));
  EXPECT_THAT(r.out, HasSubstr("path: /head\n"));
  EXPECT_THAT(r.out, HasSubstr("query: q=1\n"));
  EXPECT_THAT(r.out, HasSubstr("authority: 127.0.0.1:" + std::to_string(port) + "\n"));
  EXPECT_THAT(r.out, HasSubstr("scheme: http\n"));
  EXPECT_THAT(r.out, HasSubstr("version: 11\n"));
  EXPECT_THAT(r.out, HasSubstr("content-length: 3\n"));
  EXPECT_THAT(r.out, HasSubstr("x-test: yes\n"));
  EXPECT_THAT(r.out, HasSubstr("h:x-multi: 1\nh:x-multi: 2\n"));
  EXPECT_THAT(r.out, HasSubstr("remote-set: yes\n"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("h:host:")));
}

TEST_F(HttpTest, EchoesBodiesWholeChunkedAndStreamed) {
  uint16_t port = serve();
  {
    // A whole response carries up to 1 MiB with its head.
    const auto small = randomBytes(900 * 1024);
    auto in = writeFile("small.bin", small);
    auto out = work_.path() / "whole.bin";
    auto r = curl({"--data-binary", "@" + in.string(), "-o", out.string(), url(port, "/echo")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(readFile(out) == std::string(small.begin(), small.end()));
  }
  const auto data = randomBytes(3 << 20);
  auto in = writeFile("in.bin", data);
  const std::string expected(data.begin(), data.end());
  {
    auto out = work_.path() / "chunked.bin";
    auto r = curl({"-H", "Transfer-Encoding: chunked", "--data-binary", "@" + in.string(), "-o",
                   out.string(), url(port, "/stream-echo")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(readFile(out) == expected);
  }
  {
    auto r = curl({url(port, "/stream?n=5000")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::string lines;
    for (int i = 0; i < 5000; ++i) lines += "line " + std::to_string(i) + "\n";
    EXPECT_EQ(r.out, lines);
  }
}

TEST_F(HttpTest, AnswersHttpsWithTheWorkDirCertificates) {
  uint16_t port = serve(1, 0, tlsCaps());
  ASSERT_NE(port, 0);
  const std::string host = "localhost:" + std::to_string(port);
  auto r = curl({"--http1.1", "--cacert", (work_.path() / "certs" / "ca.crt").string(), "--resolve",
                 host + ":127.0.0.1", "https://" + host + "/head"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("scheme: https\n"));
  EXPECT_THAT(r.out, HasSubstr("alpn: http/1.1\n"));
  EXPECT_THAT(r.out, HasSubstr("sni: localhost\n"));
  // A client that does not trust the CA is refused by its own verification.
  auto untrusted = curl({"--resolve", host + ":127.0.0.1", "https://" + host + "/hello"});
  EXPECT_NE(untrusted.exit_code, 0);
}

TEST_F(HttpTest, HttpsSpeaksHttp2WithTheSameGuestCode) {
  uint16_t port = serve(1, 0, tlsCaps());
  ASSERT_NE(port, 0);
  const std::string host = "localhost:" + std::to_string(port);
  const std::string ca = (work_.path() / "certs" / "ca.crt").string();
  auto r = curl({"--http2", "--cacert", ca, "--resolve", host + ":127.0.0.1",
                 "https://" + host + "/head", "https://" + host + "/hello"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("version: 20\n"));
  EXPECT_THAT(r.out, HasSubstr("alpn: h2\n"));
  EXPECT_THAT(r.out, HasSubstr("authority: " + host + "\n"));
  EXPECT_THAT(r.out, ::testing::EndsWith("hello\n"));
  // Bodies both ways over h2: whole and streamed.
  const auto data = randomBytes(2 << 20);
  auto in = writeFile("h2.bin", data);
  auto out = work_.path() / "h2-out.bin";
  auto echo = curl({"--http2", "--cacert", ca, "--resolve", host + ":127.0.0.1", "--data-binary",
                    "@" + in.string(), "-o", out.string(), "https://" + host + "/stream-echo"});
  ASSERT_EQ(echo.exit_code, 0) << echo.err;
  EXPECT_TRUE(readFile(out) == std::string(data.begin(), data.end()));
  auto lines = curl({"--http2", "--cacert", ca, "--resolve", host + ":127.0.0.1",
                     "https://" + host + "/stream?n=3"});
  EXPECT_EQ(lines.out, "line 0\nline 1\nline 2\n");
}

TEST_F(HttpTest, DomainsOnOnePortAreRoutedBySniAndHostAndCanRequireClientCertificates) {
  net::tls::testing::TestCa ca("Test Root");
  auto a = ca.issueServer({"a.test"});
  auto b = ca.issueServer({"b.test"});
  const std::string ca_file = (work_.path() / "test-ca.crt").string();
  net::tls::testing::writeFile(ca_file, ca.certPem());
  auto client = ca.issueClient("client.a.test");
  const std::string cert_file = (work_.path() / "client.crt").string();
  const std::string key_file = (work_.path() / "client.key").string();
  net::tls::testing::writeFile(cert_file, client.cert_pem);
  net::tls::testing::writeFile(key_file, client.key_pem);

  // a.test requires client certificates; b.test joins the same port without.
  kernel::ProcessId pa =
      spawn("serve_tls",
            {utf8("a.test"), u32(0), utf8(a.cert_pem), utf8(a.key_pem), utf8(ca.certPem()), u32(1)},
            tlsConfigCaps());
  uint16_t port = portOf(pa, "listening");
  ASSERT_NE(port, 0);
  kernel::ProcessId pb = spawn(
      "serve_tls", {utf8("b.test"), u32(port), utf8(b.cert_pem), utf8(b.key_pem), utf8(""), u32(0)},
      tlsConfigCaps());
  ASSERT_EQ(portOf(pb, "listening"), port);
  auto at = [&](const std::string& name) {
    return "https://" + name + ":" + std::to_string(port) + "/head";
  };
  auto resolve = [&](const std::string& name) {
    return name + ":" + std::to_string(port) + ":127.0.0.1";
  };
  // b.test: its own certificate (curl checks the name) and its own process.
  auto rb = curl({"--cacert", ca_file, "--resolve", resolve("b.test"), at("b.test")});
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  EXPECT_THAT(rb.out, HasSubstr("domain: b.test\n"));
  EXPECT_THAT(rb.out, HasSubstr("sni: b.test\n"));
  // a.test without a client certificate: refused in the handshake.
  auto refused = curl({"--cacert", ca_file, "--resolve", resolve("a.test"), at("a.test")});
  EXPECT_NE(refused.exit_code, 0) << refused.out;
  // The client reads the reason (the server lingers after its alert rather than resetting).
  EXPECT_THAT(refused.err, HasSubstr("certificate required")) << refused.err;
  // With one: served by a.test's process, over HTTP/2 and HTTP/1.1 alike.
  for (const char* version : {"--http2", "--http1.1"}) {
    auto ra = curl({version, "--cacert", ca_file, "--cert", cert_file, "--key", key_file,
                    "--resolve", resolve("a.test"), at("a.test")});
    ASSERT_EQ(ra.exit_code, 0) << version << " " << ra.err;
    EXPECT_THAT(ra.out, HasSubstr("domain: a.test\n"));
  }
  // A Host that names the other domain inside b.test's connection goes to that domain's queue.
  auto crossed = curl({"--http1.1", "--cacert", ca_file, "--resolve", resolve("b.test"), "-H",
                       "Host: nowhere.test", at("b.test")});
  EXPECT_THAT(crossed.out, HasSubstr("misdirected request"));
}

TEST_F(HttpTest, BadTlsMaterialIsRefusedWithItsReason) {
  net::tls::testing::TestCa ca("Test Root");
  auto a = ca.issueServer({"a.test"});
  auto other = ca.issueServer({"other.test"});
  // The key of another certificate.
  kernel::ProcessId mismatched =
      spawn("serve_tls",
            {utf8("a.test"), u32(0), utf8(a.cert_pem), utf8(other.key_pem), utf8(""), u32(0)},
            tlsConfigCaps());
  ASSERT_TRUE(recorder_.waitExit(mismatched, 20s));
  EXPECT_THAT(fieldText(recordOf(recorder_, mismatched, "config failed"), "message"),
              HasSubstr("does not match"));
  // Not PEM at all.
  kernel::ProcessId garbage =
      spawn("serve_tls",
            {utf8("a.test"), u32(0), utf8("not a cert"), utf8("not a key"), utf8(""), u32(0)},
            tlsConfigCaps());
  ASSERT_TRUE(recorder_.waitExit(garbage, 20s));
  EXPECT_THAT(fieldText(recordOf(recorder_, garbage, "config failed"), "message"),
              HasSubstr("CERTIFICATE"));
  // A certificate for another name than the domain bound.
  kernel::ProcessId wrong = spawn(
      "serve_tls", {utf8("b.test"), u32(0), utf8(a.cert_pem), utf8(a.key_pem), utf8(""), u32(0)},
      tlsConfigCaps());
  ASSERT_TRUE(recorder_.waitExit(wrong, 20s));
  EXPECT_THAT(fieldText(recordOf(recorder_, wrong, "listen failed"), "message"),
              HasSubstr("does not cover domain \"b.test\""));
  // An expired certificate.
  auto expired = ca.issueServer({"a.test"}, {-std::chrono::hours(48), -std::chrono::hours(24)});
  kernel::ProcessId old = spawn(
      "serve_tls",
      {utf8("a.test"), u32(0), utf8(expired.cert_pem), utf8(expired.key_pem), utf8(""), u32(0)},
      tlsConfigCaps());
  ASSERT_TRUE(recorder_.waitExit(old, 20s));
  EXPECT_THAT(fieldText(recordOf(recorder_, old, "config failed"), "message"),
              HasSubstr("expired"));
}

TEST_F(HttpTest, ATlsConfigurationNeedsItsCapability) {
  net::tls::testing::TestCa ca("Test Root");
  auto a = ca.issueServer({"a.test"});
  kernel::ProcessId pid = spawn(
      "serve_tls", {utf8("a.test"), u32(0), utf8(a.cert_pem), utf8(a.key_pem), utf8(""), u32(0)},
      tlsCaps());
  ASSERT_TRUE(recorder_.waitExit(pid, 20s));
  EXPECT_THAT(fieldText(recordOf(recorder_, pid, "config failed"), "message"),
              HasSubstr("needs capability NetTlsServerConfig"));
}

TEST_F(HttpTest, HttpsNeedsTheHttpsCapabilitiesAndPlainTheHttpOnes) {
  kernel::ProcessId tls_with_plain =
      spawn("serve", {utf8("127.0.0.1"), u32(1), u32(0)}, plainCaps());
  auto exit = recorder_.waitExit(tls_with_plain, 20s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->status, 1);
  EXPECT_THAT(fieldText(recordOf(recorder_, tls_with_plain, "listen failed"), "message"),
              HasSubstr("needs capability NetHttpsBind"));
  kernel::ProcessId plain_with_tls = spawn("serve", {utf8("127.0.0.1"), u32(0), u32(0)}, tlsCaps());
  exit = recorder_.waitExit(plain_with_tls, 20s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->status, 1);
  EXPECT_THAT(fieldText(recordOf(recorder_, plain_with_tls, "listen failed"), "message"),
              HasSubstr("needs capability NetHttpBind"));
}

TEST_F(HttpTest, EveryUnansweredRequestGetsAnError) {
  uint16_t port = serve(0, 300);
  // Never answered: the listener's response timeout answers 504.
  auto never = curl({"-o", "/dev/null", "-w", "%{http_code}", url(port, "/never")});
  EXPECT_EQ(never.out, "504") << never.err;
  // Closed unanswered: 500.
  auto dropped = curl({"-o", "/dev/null", "-w", "%{http_code}", url(port, "/drop")});
  EXPECT_EQ(dropped.out, "500") << dropped.err;
  // A streamed body whose writer goes away unfinished: the client sees an error, not a body.
  auto unfinished = curl({url(port, "/unfinished")});
  EXPECT_NE(unfinished.exit_code, 0) << unfinished.out;
  // The server still serves.
  auto hello = curl({url(port, "/hello")});
  EXPECT_EQ(hello.out, "hello\n");
}

TEST_F(HttpTest, AProcessThatExitsMidRequestFailsItsRequestAndReleasesItsSocket) {
  kernel::ProcessId pid = 0;
  uint16_t port = serve(0, 0, plainCaps(), &pid);
  auto r = curl({"-o", "/dev/null", "-w", "%{http_code}", url(port, "/exit")});
  // Either an error response or a reset: never a hang, never a success.
  EXPECT_TRUE(r.out == "500" || r.exit_code != 0) << r.out << " " << r.exit_code;
  auto exit = recorder_.waitExit(pid, 20s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->status, 3);
  // The listening socket went with the process.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  bool refused = false;
  while (!refused && std::chrono::steady_clock::now() < deadline) {
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket socket(io);
    boost::system::error_code ec;
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
    refused = ec == boost::asio::error::connection_refused;
    if (!refused) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(refused);
}

TEST_F(HttpTest, ProcessesAcceptingOnOnePortEachTakeOneRequest) {
  kernel::ProcessId first = spawn("accept_one", {u32(0)}, plainCaps());
  uint16_t port = portOf(first, "joined");
  ASSERT_NE(port, 0);
  kernel::ProcessId second = spawn("accept_one", {u32(port)}, plainCaps());
  ASSERT_EQ(portOf(second, "joined"), port);
  auto a = curl({"-v", url(port, "/")});
  auto b = curl({"-v", url(port, "/")});
  ASSERT_EQ(a.exit_code, 0) << a.err << dump(first) << dump(second);
  ASSERT_EQ(b.exit_code, 0) << b.err;
  std::set<std::string> answers = {a.out, b.out};
  EXPECT_EQ(answers, (std::set<std::string>{"worker " + std::to_string(first) + "\n",
                                            "worker " + std::to_string(second) + "\n"}));
  EXPECT_TRUE(recorder_.waitExit(first, 20s));
  EXPECT_TRUE(recorder_.waitExit(second, 20s));
}

TEST_F(HttpTest, AProcessOpensAtMostItsShareOfSockets) {
  // Room for the test's own descriptors beyond the process's 1,024 sockets.
  struct rlimit original {};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &original), 0);
  struct rlimit raised = original;
  raised.rlim_cur = std::min<rlim_t>(original.rlim_max, 4096);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &raised), 0);
  if (raised.rlim_cur < 2048) GTEST_SKIP() << "descriptor limit " << raised.rlim_cur;
  {
    // Every port-0 bind opens a socket: the 1,025th is refused; closing them gives them back.
    kernel::ProcessId pid = spawn("listen_many", {u32(1100)}, plainCaps());
    ASSERT_TRUE(recorder_.waitExit(pid, 60s).has_value()) << dump(pid);
    auto record = recordOf(recorder_, pid, "listened");
    EXPECT_EQ(fieldText(record, "error"), "LimitExceeded");
    EXPECT_THAT(fieldText(record, "message"), HasSubstr("over its limit of 1024"));
    bool counted = false;
    for (const auto& f : record.fields) {
      if (f.key == "count") {
        counted = true;
        EXPECT_EQ(std::get<uint64_t>(f.value), 1024u);
      }
    }
    EXPECT_TRUE(counted);
    bool reopened = false;
    for (const auto& f : recordOf(recorder_, pid, "after close").fields) {
      if (f.key == "ok")
        reopened = std::get_if<int64_t>(&f.value) != nullptr ? std::get<int64_t>(f.value) == 1
                                                             : std::get<uint64_t>(f.value) == 1;
    }
    EXPECT_TRUE(reopened);
  }
  ::setrlimit(RLIMIT_NOFILE, &original);
}

TEST_F(HttpTest, RequestsWaitingForAnAcceptAreBoundedInBytes) {
  struct rlimit original {};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &original), 0);
  struct rlimit raised = original;
  raised.rlim_cur = std::min<rlim_t>(original.rlim_max, 4096);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &raised), 0);
  if (raised.rlim_cur < 1024) GTEST_SKIP() << "descriptor limit " << raised.rlim_cur;
  // Heads of about 60 KiB: 4 MiB of them is about 69 requests, long before the count of 1,024.
  kernel::ProcessId pid = spawn("listen_idle", {u32(128 * 1024)}, plainCaps());
  uint16_t port = portOf(pid, "listening");
  ASSERT_NE(port, 0);
  const std::string request =
      "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: " + std::string(60000, 'p') + "\r\n\r\n";
  std::vector<std::unique_ptr<net::http::testing::RawClient>> clients;
  for (int i = 0; i < 100; ++i) {
    clients.push_back(std::make_unique<net::http::testing::RawClient>(port));
    ASSERT_TRUE(clients.back()->send(request));
  }
  // The queued ones wait (for the 30 s response timeout); the rest are refused at once.
  std::this_thread::sleep_for(1s);
  int refused = 0;
  for (auto& client : clients) {
    auto response = client->readResponse(false, 50ms);
    if (response) {
      EXPECT_EQ(response->status, 503);
      EXPECT_THAT(response->body, HasSubstr("MiB of heads"));
      ++refused;
    }
  }
  EXPECT_GT(refused, 20);
  EXPECT_LT(refused, 40);
  clients.clear();
  ::setrlimit(RLIMIT_NOFILE, &original);
}

}  // namespace
}  // namespace selium::engine
