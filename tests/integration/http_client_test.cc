// HTTP clients in real guests (tests/guests/http_client) on an in-process engine, talking over
// real loopback sockets to two real servers: the guest HTTP server of tests/guests/http (plain,
// and HTTPS with h2 or http/1.1 by ALPN) and nginx from Debian (plain HTTP/1.1, HTTPS with
// HTTP/2). Bodies both ways (inline, streamed with and without a length), keep-alive reuse,
// concurrent requests, an abandoned response, failures named (refused, unverified certificate)
// and capabilities.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <selium/abi/capabilities.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
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
namespace fs = std::filesystem;

std::string field(const kernel::GuestLogRecord& record, const std::string& key) {
  for (const auto& f : record.fields) {
    if (f.key != key) continue;
    if (auto* text = std::get_if<std::string>(&f.value)) return *text;
    if (auto* u = std::get_if<uint64_t>(&f.value)) return std::to_string(*u);
    if (auto* i = std::get_if<int64_t>(&f.value)) return std::to_string(*i);
  }
  return "";
}

// The guest's FNV-1a, hex, over the same bytes.
std::string digest(const std::string& bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char b : bytes) {
    h ^= b;
    h *= 1099511628211ull;
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

uint16_t freePort() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

bool waitListening(uint16_t port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket socket(io);
    boost::system::error_code ec;
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
    if (!ec) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

// nginx from Debian, one process: plain HTTP/1.1 on one port, HTTPS (h2 and http/1.1) with the
// work dir's server certificate on another, serving files of www/.
class Nginx {
 public:
  Nginx(const fs::path& dir, const fs::path& certs) {
    fs::create_directories(dir / "logs");
    fs::create_directories(dir / "www");
    plain_ = freePort();
    tls_ = freePort();
    std::ofstream conf(dir / "nginx.conf");
    conf << "daemon off;\nmaster_process off;\nworker_processes 1;\npid "
         << (dir / "nginx.pid").string() << ";\nerror_log " << (dir / "logs/error.log").string()
         << " error;\nevents { worker_connections 256; }\n"
         << "http {\n access_log off;\n client_body_temp_path " << (dir / "tmp").string()
         << ";\n server {\n  listen 127.0.0.1:" << plain_ << ";\n"
         << "  listen 127.0.0.1:" << tls_ << " ssl http2;\n"
         << "  ssl_certificate " << (certs / "server.crt").string() << ";\n"
         << "  ssl_certificate_key " << (certs / "server.key").string() << ";\n"
         << "  ssl_protocols TLSv1.3;\n  root " << (dir / "www").string() << ";\n"
         << "  add_header X-Test nginx;\n }\n}\n";
    conf.close();
    testing::SubprocessOptions options;
    options.argv = {"/usr/sbin/nginx", "-p", dir.string(), "-c", (dir / "nginx.conf").string()};
    process_ = std::make_unique<testing::Subprocess>(options);
    ready_ = waitListening(plain_, 10s) && waitListening(tls_, 10s);
  }
  ~Nginx() {
    process_->signal(SIGTERM);
    (void)process_->wait(10s);
  }
  bool ready() const { return ready_; }
  uint16_t plain() const { return plain_; }
  uint16_t tls() const { return tls_; }

 private:
  uint16_t plain_ = 0;
  uint16_t tls_ = 0;
  bool ready_ = false;
  std::unique_ptr<testing::Subprocess> process_;
};

class HttpClientTest : public EngineFixture {
 protected:
  void SetUp() override {
    startEngine(optionsWithCerts(work_.path() / "certs"));
    for (const char* name : {"http.wasm", "http_client.wasm"}) {
      modules_.push_back(loadGuest(name));
      ASSERT_TRUE(modules_.back());
    }
  }

  static std::vector<Capability> serverCaps() {
    return {Capability::NetHttpBind,  Capability::NetHttpAccept, Capability::NetHttpRead,
            Capability::NetHttpWrite, Capability::NetHttpsBind,  Capability::NetHttpsAccept,
            Capability::NetHttpsRead, Capability::NetHttpsWrite, Capability::NetTlsServerConfig};
  }
  static std::vector<Capability> clientCaps() {
    return {Capability::NetHttpConnect,    Capability::NetHttpRead,  Capability::NetHttpWrite,
            Capability::NetHttpsConnect,   Capability::NetHttpsRead, Capability::NetHttpsWrite,
            Capability::NetTlsClientConfig};
  }

  kernel::ProcessId spawn(std::size_t module, std::string entry, std::vector<EntrypointArg> args,
                          std::vector<Capability> caps) {
    return spawnOk(*engine_, request(modules_[module], std::move(entry), std::move(args), caps));
  }

  // A guest HTTP server (tests/guests/http serve): its port.
  uint16_t serve(uint32_t tls) {
    kernel::ProcessId pid = spawn(0, "serve", {utf8("127.0.0.1"), u32(tls), u32(0)}, serverCaps());
    if (!recorder_.waitLogCount(pid, "listening", 1, 20s)) {
      ADD_FAILURE() << "the server never listened" << dump(pid);
      return 0;
    }
    return static_cast<uint16_t>(std::stoi(field(recordOf(recorder_, pid, "listening"), "port")));
  }

  // Runs a client entrypoint to its exit; its exit status.
  int run(std::string entry, std::vector<EntrypointArg> args,
          std::vector<Capability> caps = clientCaps(), kernel::ProcessId* pid_out = nullptr) {
    kernel::ProcessId pid = spawn(1, std::move(entry), std::move(args), std::move(caps));
    if (pid_out != nullptr) *pid_out = pid;
    auto exit = recorder_.waitExit(pid, 60s);
    if (!exit) {
      ADD_FAILURE() << "the client never ended" << dump(pid);
      return -1;
    }
    last_ = pid;
    // Log records travel apart from the exit: wait for the last one the guest writes.
    if (!recorder_.waitLogCount(pid, exit->status == 0 ? "done" : "failed", 1, 10s)) {
      ADD_FAILURE() << "no closing log record" << dump(pid);
    }
    return exit->status;
  }

  std::vector<kernel::GuestLogRecord> responses() {
    std::vector<kernel::GuestLogRecord> out;
    for (auto& record : recorder_.logsOf(last_)) {
      if (record.message == "response") out.push_back(record);
    }
    return out;
  }
  std::string logs() { return dump(last_); }

  selium::testing::TempDir work_{"http-client"};
  std::vector<std::shared_ptr<const Module>> modules_;
  kernel::ProcessId last_ = 0;
};

TEST_F(HttpClientTest, GetsOverPlainHttpReusingTheConnection) {
  uint16_t port = serve(0);
  ASSERT_NE(port, 0);
  ASSERT_EQ(run("get", {utf8("127.0.0.1"), u32(port), u32(0), utf8("/head"), u32(3)}), 0) << logs();
  auto got = responses();
  ASSERT_EQ(got.size(), 3u) << logs();
  std::set<std::string> remotes;
  for (const auto& r : got) {
    EXPECT_EQ(field(r, "status"), "200");
    EXPECT_EQ(field(r, "version"), "11");
    EXPECT_THAT(field(r, "body"), HasSubstr("method: GET\ntarget: /head\n"));
    EXPECT_THAT(field(r, "body"), HasSubstr("authority: 127.0.0.1:" + std::to_string(port) + "\n"));
  }
}

TEST_F(HttpClientTest, PostsAnInlineBody) {
  uint16_t port = serve(0);
  ASSERT_EQ(run("post", {utf8("127.0.0.1"), u32(port), u32(0), utf8("/echo"), utf8("ping pong")}),
            0)
      << logs();
  auto got = responses();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(field(got[0], "body"), "ping pong");
  EXPECT_EQ(field(got[0], "length"), "9");
}

TEST_F(HttpClientTest, StreamsRequestBodiesFullDuplexWithAndWithoutALength) {
  const uint16_t plain = serve(0);
  const uint16_t tls = serve(1);
  // HTTP/1.1 chunked and with content-length, then HTTP/2 both ways: 3 MiB echoed back by the
  // server as it reads, through 64 KiB rings both ways.
  for (uint32_t over_tls : {0u, 1u})
    for (uint32_t declare : {0u, 1u}) {
      SCOPED_TRACE(::testing::Message() << "tls " << over_tls << " declare " << declare);
      ASSERT_EQ(run("upload", {utf8(over_tls != 0 ? "localhost" : "127.0.0.1"),
                               u32(over_tls != 0 ? tls : plain), u32(over_tls),
                               utf8("/stream-echo"), u32(3u << 20), u32(declare)}),
                0)
          << logs();
      auto got = responses();
      ASSERT_EQ(got.size(), 1u);
      EXPECT_EQ(field(got[0], "status"), "200") << field(got[0], "body");
      EXPECT_EQ(field(got[0], "length"), std::to_string(3u << 20));
      EXPECT_EQ(field(got[0], "digest"), field(recordOf(recorder_, last_, "sending"), "digest"));
      EXPECT_EQ(field(got[0], "version"), over_tls != 0 ? "20" : "11");
    }
}

TEST_F(HttpClientTest, HttpsNegotiatesHttp2OrHttp11ByAlpn) {
  uint16_t port = serve(1);
  ASSERT_EQ(run("get", {utf8("localhost"), u32(port), u32(1), utf8("/head"), u32(2)}), 0) << logs();
  auto h2 = responses();
  ASSERT_EQ(h2.size(), 2u);
  EXPECT_EQ(field(h2[0], "version"), "20");
  EXPECT_THAT(field(h2[0], "body"), HasSubstr("alpn: h2\n"));
  EXPECT_THAT(field(h2[0], "body"), HasSubstr("sni: localhost\n"));

  ASSERT_EQ(run("get", {utf8("localhost"), u32(port), u32(2), utf8("/head"), u32(1)}), 0) << logs();
  auto h1 = responses();
  ASSERT_EQ(h1.size(), 1u);
  EXPECT_EQ(field(h1[0], "version"), "11");
  EXPECT_THAT(field(h1[0], "body"), HasSubstr("alpn: http/1.1\n"));
}

TEST_F(HttpClientTest, RunsManyRequestsAtOnce) {
  uint16_t port = serve(1);
  ASSERT_EQ(run("parallel", {utf8("localhost"), u32(port), u32(1), utf8("/hello"), u32(40)}), 0)
      << logs();
  auto record = recordOf(recorder_, last_, "parallel");
  EXPECT_EQ(field(record, "ok"), "40");
  EXPECT_EQ(field(record, "versions"), std::to_string(40 * 20));

  uint16_t plain = serve(0);
  ASSERT_EQ(run("parallel", {utf8("127.0.0.1"), u32(plain), u32(0), utf8("/hello"), u32(10)}), 0)
      << logs();
  record = recordOf(recorder_, last_, "parallel");
  EXPECT_EQ(field(record, "ok"), "10");
  EXPECT_EQ(field(record, "versions"), std::to_string(10 * 11));
}

TEST_F(HttpClientTest, AnAbandonedResponseLeavesTheClientUsable) {
  for (uint32_t tls : {0u, 1u}) {
    SCOPED_TRACE(tls);
    uint16_t port = serve(tls);
    ASSERT_EQ(run("abandon", {utf8(tls != 0 ? "localhost" : "127.0.0.1"), u32(port), u32(tls),
                              utf8("/stream?n=200000")}),
              0)
        << logs();
    auto got = responses();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(field(got[0], "body"), "hello\n");
  }
}

TEST_F(HttpClientTest, TalksToNginx) {
  Nginx nginx(work_.path() / "nginx", work_.path() / "certs");
  ASSERT_TRUE(nginx.ready()) << "nginx did not start";
  std::string file;
  for (int i = 0; i < 20000; ++i) file += "nginx line " + std::to_string(i) + "\n";
  std::ofstream(work_.path() / "nginx/www/file.txt") << file;

  ASSERT_EQ(run("get", {utf8("127.0.0.1"), u32(nginx.plain()), u32(0), utf8("/file.txt"), u32(2)}),
            0)
      << logs();
  auto got = responses();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(field(got[0], "version"), "11");
  EXPECT_EQ(field(got[0], "header"), "nginx");
  EXPECT_EQ(field(got[1], "digest"), digest(file));

  ASSERT_EQ(run("get", {utf8("localhost"), u32(nginx.tls()), u32(1), utf8("/file.txt"), u32(1)}), 0)
      << logs();
  got = responses();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(field(got[0], "version"), "20");
  EXPECT_EQ(field(got[0], "status"), "200");
  EXPECT_EQ(field(got[0], "digest"), digest(file));

  ASSERT_EQ(run("get", {utf8("localhost"), u32(nginx.tls()), u32(1), utf8("/missing"), u32(1)}), 0)
      << logs();
  got = responses();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(field(got[0], "status"), "404");
}

TEST_F(HttpClientTest, FailuresNameTheirCause) {
  // Nobody listens.
  const uint16_t closed = freePort();
  EXPECT_EQ(run("get", {utf8("127.0.0.1"), u32(closed), u32(0), utf8("/"), u32(1)}), 1);
  auto failed = recordOf(recorder_, last_, "failed");
  EXPECT_EQ(field(failed, "error"), "Closed");
  EXPECT_THAT(field(failed, "message"), HasSubstr("127.0.0.1:" + std::to_string(closed)));
  EXPECT_THAT(field(failed, "message"), HasSubstr("refused"));

  // A server whose certificate another CA signed.
  net::tls::testing::TestCa other("Other Root");
  auto leaf = other.issueServer({"localhost"});
  kernel::ProcessId server =
      spawn(0, "serve_tls",
            {utf8("localhost"), u32(0), utf8(leaf.cert_pem), utf8(leaf.key_pem), utf8(""), u32(0)},
            serverCaps());
  ASSERT_TRUE(recorder_.waitLogCount(server, "listening", 1, 20s)) << dump(server);
  const auto port =
      static_cast<uint32_t>(std::stoi(field(recordOf(recorder_, server, "listening"), "port")));
  EXPECT_EQ(run("get", {utf8("localhost"), u32(port), u32(1), utf8("/"), u32(1)}), 1);
  failed = recordOf(recorder_, last_, "failed");
  EXPECT_EQ(field(failed, "error"), "Closed");
  EXPECT_THAT(field(failed, "message"), HasSubstr("certificate"));
  EXPECT_THAT(field(failed, "message"), HasSubstr("localhost:" + std::to_string(port)));

  // An unknown name.
  EXPECT_EQ(run("get", {utf8("no-such-host.invalid"), u32(80), u32(0), utf8("/"), u32(1)}), 1);
  failed = recordOf(recorder_, last_, "failed");
  EXPECT_THAT(field(failed, "message"), HasSubstr("no-such-host.invalid"));
}

TEST_F(HttpClientTest, CapabilitiesGateEveryStep) {
  uint16_t port = serve(0);
  // No NetHttpConnect: the client is refused.
  EXPECT_EQ(run("get", {utf8("127.0.0.1"), u32(port), u32(0), utf8("/hello"), u32(1)},
                {Capability::NetHttpRead, Capability::NetHttpWrite, Capability::NetHttpsConnect}),
            1);
  auto failed = recordOf(recorder_, last_, "failed");
  EXPECT_EQ(field(failed, "step"), "connect");
  EXPECT_EQ(field(failed, "error"), "PermissionDenied");
  // HTTPS capabilities do not cover plain HTTP sends.
  EXPECT_EQ(run("get", {utf8("127.0.0.1"), u32(port), u32(0), utf8("/hello"), u32(1)},
                {Capability::NetHttpConnect, Capability::NetHttpsRead, Capability::NetHttpsWrite}),
            1);
  failed = recordOf(recorder_, last_, "failed");
  EXPECT_EQ(field(failed, "step"), "fetch");
  EXPECT_EQ(field(failed, "error"), "PermissionDenied");
  // Write but not Read: the request goes, the response cannot be read.
  EXPECT_EQ(run("get", {utf8("127.0.0.1"), u32(port), u32(0), utf8("/hello"), u32(1)},
                {Capability::NetHttpConnect, Capability::NetHttpWrite}),
            1);
  failed = recordOf(recorder_, last_, "failed");
  EXPECT_EQ(field(failed, "step"), "fetch");
  EXPECT_EQ(field(failed, "error"), "PermissionDenied");
}

}  // namespace
}  // namespace selium::engine
