// The listener with real clients: curl over HTTP/1.1, 1.0 and TLS (ALPN, SNI, client
// certificates), the connection cap, close(), and listen errors.
#include "net/http/server.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/resource.h>

#include "net/http/http_test_support.h"
#include "util/certs.h"

namespace selium::net::http {
namespace {

using namespace testing;

// Echoes the request: "METHOD TARGET\n" then the body, once it is complete.
void echo(std::shared_ptr<Exchange> ex) {
  auto consumer = std::make_shared<CollectingConsumer>();
  std::weak_ptr<Exchange> weak = ex;
  consumer->on_end = [weak, consumer = consumer.get()](bool complete) {
    auto ex = weak.lock();
    if (!ex) return;
    if (!complete) return ex->reset();
    respondText(*ex, ex->head().method + " " + ex->head().target + "\n" + consumer->data);
  };
  ex->setBodyConsumer(consumer);
}

class ServerTest : public ::testing::Test {
 protected:
  std::unique_ptr<TestServer> startServer(ServerOptions options = {}) {
    auto server = std::make_unique<TestServer>(std::move(options), [this](auto ex) {
      {
        std::lock_guard lock(mutex_);
        peers_.push_back(ex->peer());
        heads_.push_back(ex->head());
      }
      echo(std::move(ex));
    });
    EXPECT_EQ(server->error, "");
    return server;
  }
  ProcessResult curl(std::vector<std::string> args) {
    args.insert(args.begin(), {"curl", "-sS", "--max-time", "20"});
    return runProcess(args, dir_.path);
  }
  std::string url(uint16_t port, const std::string& path, const std::string& scheme = "http") {
    return scheme + "://localhost:" + std::to_string(port) + path;
  }

  TempDir dir_;
  std::mutex mutex_;
  std::vector<PeerInfo> peers_;
  std::vector<RequestHead> heads_;
};

TEST_F(ServerTest, ListenErrorNamesTheEndpoint) {
  auto first = startServer();
  asio::io_context loop;
  auto endpoint = asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), first->port);
  auto second = Server::listen(loop, endpoint, {}, [](auto) {});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().message,
            "127.0.0.1:" + std::to_string(first->port) + ": Address already in use");
}

TEST_F(ServerTest, CurlReusesTheKeepAliveConnection) {
  auto server = startServer();
  auto result = curl({"-v", "--resolve", "localhost:" + std::to_string(server->port) + ":127.0.0.1",
                      url(server->port, "/one"), url(server->port, "/two?x=1")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "GET /one\nGET /two?x=1\n");
  EXPECT_NE(result.err.find("Re-using existing connection"), std::string::npos) << result.err;
  std::lock_guard lock(mutex_);
  ASSERT_EQ(peers_.size(), 2u);
  EXPECT_EQ(peers_[0].remote_address, peers_[1].remote_address);
  EXPECT_EQ(heads_[0].authority, "localhost:" + std::to_string(server->port));
}

TEST_F(ServerTest, ListensOnIpv6) {
  LoopThread loop;
  auto server = loop.call([&] {
    return Server::listen(loop.io, asio::ip::tcp::endpoint(asio::ip::make_address("::1"), 0), {},
                          [this](std::shared_ptr<Exchange> ex) {
                            {
                              std::lock_guard lock(mutex_);
                              peers_.push_back(ex->peer());
                            }
                            echo(std::move(ex));
                          });
  });
  if (!server) GTEST_SKIP() << "no IPv6 loopback: " << server.error().message;
  uint16_t port = loop.call([&] { return server.value()->port(); });
  auto result = curl({"-g", "http://[::1]:" + std::to_string(port) + "/six"});
  loop.call([&] {
    server.value()->close();
    server.value().reset();
    return 0;
  });
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "GET /six\n");
  std::lock_guard lock(mutex_);
  ASSERT_EQ(peers_.size(), 1u);
  EXPECT_EQ(peers_[0].local_address, "[::1]:" + std::to_string(port));
  EXPECT_EQ(peers_[0].remote_address.rfind("[::1]:", 0), 0u);
}

TEST_F(ServerTest, CurlPostsBodiesWithLengthAndChunked) {
  auto server = startServer();
  std::string body(100000, 'p');
  auto body_file = dir_.path / "body";
  std::ofstream(body_file) << body;
  auto sized = curl({"--data-binary", "@" + body_file.string(), url(server->port, "/sized")});
  ASSERT_EQ(sized.exit_code, 0) << sized.err;
  EXPECT_EQ(sized.out, "POST /sized\n" + body);
  auto chunked = curl({"--data-binary", "@" + body_file.string(), "-H",
                       "Transfer-Encoding: chunked", url(server->port, "/chunked")});
  ASSERT_EQ(chunked.exit_code, 0) << chunked.err;
  EXPECT_EQ(chunked.out, "POST /chunked\n" + body);
  std::lock_guard lock(mutex_);
  ASSERT_EQ(heads_.size(), 2u);
  EXPECT_EQ(heads_[0].content_length, body.size());
  EXPECT_EQ(heads_[1].content_length, std::nullopt);
}

TEST_F(ServerTest, CurlHttp10) {
  auto server = startServer();
  auto result = curl({"--http1.0", "-i", url(server->port, "/old")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("HTTP/1.1 200 OK"), std::string::npos);
  EXPECT_NE(result.out.find("GET /old\n"), std::string::npos);
  std::lock_guard lock(mutex_);
  ASSERT_EQ(heads_.size(), 1u);
  EXPECT_EQ(heads_[0].version, 10);
}

// ALPN: the first protocol the client offers that we speak ("h2" only when `offer_h2`).
int selectAlpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
               unsigned int in_length, void* arg) {
  bool offer_h2 = arg != nullptr;
  for (unsigned int i = 0; i < in_length;) {
    unsigned int length = in[i];
    std::string_view proto(reinterpret_cast<const char*>(in + i + 1), length);
    if (proto == "http/1.1" || (offer_h2 && proto == "h2")) {
      *out = in + i + 1;
      *out_length = static_cast<unsigned char>(length);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + length;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

class TlsServerTest : public ServerTest {
 protected:
  void SetUp() override {
    util::CertOptions options;
    options.output_dir = dir_.path / "certs";
    auto written = util::generateCerts(options);
    ASSERT_TRUE(written) << written.error().message;
    certs_ = options.output_dir;
  }
  std::shared_ptr<SSL_CTX> context(bool require_client_cert, bool offer_h2 = false) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    EXPECT_EQ(SSL_CTX_use_certificate_chain_file(ctx, (certs_ / "server.crt").c_str()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx, (certs_ / "server.key").c_str(), SSL_FILETYPE_PEM),
              1);
    SSL_CTX_set_alpn_select_cb(ctx, selectAlpn, offer_h2 ? ctx : nullptr);
    if (require_client_cert) {
      EXPECT_EQ(SSL_CTX_load_verify_locations(ctx, (certs_ / "ca.crt").c_str(), nullptr), 1);
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    return {ctx, SSL_CTX_free};
  }
  std::vector<std::string> tlsArgs(uint16_t port) {
    return {"--cacert", (certs_ / "ca.crt").string(), "--resolve",
            "localhost:" + std::to_string(port) + ":127.0.0.1"};
  }
  std::filesystem::path certs_;
};

TEST_F(TlsServerTest, ServesHttpsWithAlpnAndSni) {
  ServerOptions options;
  options.tls = context(false);
  auto server = startServer(options);
  auto args = tlsArgs(server->port);
  args.insert(args.end(), {"--http1.1", "--data-binary", "secret", url(server->port, "/a", "https"),
                           url(server->port, "/b", "https")});
  auto result = curl(args);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "POST /a\nsecretPOST /b\nsecret");
  std::lock_guard lock(mutex_);
  ASSERT_EQ(peers_.size(), 2u);
  EXPECT_TRUE(peers_[0].tls);
  EXPECT_EQ(peers_[0].alpn, "http/1.1");
  EXPECT_EQ(peers_[0].sni, "localhost");
  EXPECT_EQ(heads_[0].scheme, "https");
  EXPECT_EQ(peers_[0].remote_address, peers_[1].remote_address);  // kept alive
}

TEST_F(TlsServerTest, ClientCertificateRequiredAndRefusedWithoutOne) {
  ServerOptions options;
  options.tls = context(true);
  auto server = startServer(options);
  auto without = curl([&] {
    auto args = tlsArgs(server->port);
    args.push_back(url(server->port, "/", "https"));
    return args;
  }());
  EXPECT_NE(without.exit_code, 0);
  auto with = curl([&] {
    auto args = tlsArgs(server->port);
    args.insert(args.end(), {"--cert", (certs_ / "client.crt").string(), "--key",
                             (certs_ / "client.key").string(), url(server->port, "/", "https")});
    return args;
  }());
  ASSERT_EQ(with.exit_code, 0) << with.err;
  EXPECT_EQ(with.out, "GET /\n");
  std::lock_guard lock(mutex_);
  EXPECT_EQ(heads_.size(), 1u);
}

TEST_F(TlsServerTest, HandshakeTimeoutClosesSilentClients) {
  ServerOptions options;
  options.tls = context(false);
  options.handshake_timeout = 200ms;
  auto server = startServer(options);
  RawClient silent(server->port);
  ASSERT_TRUE(waitUntil([&] { return server->connectionCount() == 1; }));
  EXPECT_TRUE(silent.readUntilClosed());
  EXPECT_TRUE(waitUntil([&] { return server->connectionCount() == 0; }));
}

TEST_F(ServerTest, ConnectionsOverTheCapGet503) {
  ServerOptions options;
  options.limits.max_connections = 2;
  auto server = startServer(options);
  RawClient first(server->port);
  RawClient second(server->port);
  ASSERT_TRUE(waitUntil([&] { return server->connectionCount() == 2; }));
  RawClient third(server->port);
  auto refused = third.readResponse();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->header("connection"), "close");
  EXPECT_TRUE(third.readUntilClosed());
  // The first two are served.
  ASSERT_TRUE(first.send("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"));
  auto served = first.readResponse();
  ASSERT_TRUE(served);
  EXPECT_EQ(served->body, "GET /1\n");
  // Room again once one leaves.
  second.close();
  ASSERT_TRUE(waitUntil([&] { return server->connectionCount() == 1; }));
  RawClient fourth(server->port);
  ASSERT_TRUE(fourth.send("GET /4 HTTP/1.1\r\nHost: a\r\n\r\n"));
  auto later = fourth.readResponse();
  ASSERT_TRUE(later);
  EXPECT_EQ(later->status, 200);
}

TEST_F(TlsServerTest, TlsConnectionsOverTheCapAreClosed) {
  ServerOptions options;
  options.tls = context(false);
  options.limits.max_connections = 1;
  auto server = startServer(options);
  RawClient holder(server->port);
  ASSERT_TRUE(waitUntil([&] { return server->connectionCount() == 1; }));
  RawClient refused(server->port);
  EXPECT_TRUE(refused.readUntilClosed());
  EXPECT_TRUE(refused.pending().empty());
}

TEST_F(ServerTest, KeepsAcceptingAfterRunningOutOfDescriptors) {
  auto server = startServer();
  rlimit original{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &original), 0);
  int lowest_free = ::dup(0);
  ASSERT_GE(lowest_free, 0);
  ::close(lowest_free);
  // Room for the client's socket only: the server's accept fails with EMFILE.
  rlimit lowered{static_cast<rlim_t>(lowest_free) + 1, original.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
  RawClient client(server->port);
  bool connected = client.connected();
  bool sent = client.send("GET /after HTTP/1.1\r\nHost: a\r\n\r\n");
  long early = client.receive(300ms);  // it cannot be accepted, let alone answered
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &original), 0);
  ASSERT_TRUE(connected && sent);
  EXPECT_EQ(early, -1);
  auto response = client.readResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "GET /after\n");
}

TEST_F(ServerTest, CloseEndsEveryConnection) {
  auto server = startServer();
  RawClient idle(server->port);
  RawClient busy(server->port);
  ASSERT_TRUE(busy.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc"));
  ASSERT_TRUE(waitUntil([&] {
    std::lock_guard lock(mutex_);
    return heads_.size() == 1;
  }));
  EXPECT_EQ(server->connectionCount(), 2u);
  server->loop.call([&] {
    server->server->close();
    server->server->close();  // idempotent
    return 0;
  });
  EXPECT_TRUE(idle.readUntilClosed());
  EXPECT_TRUE(busy.readUntilClosed());
  EXPECT_EQ(server->connectionCount(), 0u);
  RawClient late(server->port);
  EXPECT_FALSE(late.connected());
}

}  // namespace
}  // namespace selium::net::http
