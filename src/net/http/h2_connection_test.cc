// HTTP/2 server connections against real peers: curl, h2load, and a raw nghttp2 client session
// (for frames curl will not send: RST_STREAM mid-body, rapid reset, silence). The server side is
// an acceptor plus TLS handshake on 127.0.0.1:0 whose loop runs on its own thread; peers run on
// the test's thread.
#include "net/http/h2_connection.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "support/temp_dir.h"
#include "util/certs.h"

namespace selium::net::http {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Certificates, shared by every test.

const std::filesystem::path& certDir() {
  static testing::TempDir* dir = [] {
    auto* made = new testing::TempDir("h2-certs");
    util::CertOptions options;
    options.output_dir = made->path();
    auto written = util::generateCerts(options);
    if (!written) throw std::runtime_error(written.error().message);
    return made;
  }();
  return dir->path();
}

std::string caPath() { return (certDir() / "ca.crt").string(); }

// Waits (bounded) until `done` holds; false on timeout.
bool waitFor(const std::function<bool()>& done, std::chrono::milliseconds limit = 20s) {
  auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Bodies for the handlers.

// Collects the request body; takes at most `take_max` bytes per offer (then is "full" and asks
// to be resumed on the next loop turn), so the connection's backpressure path runs.
class CollectingConsumer : public ByteConsumer {
 public:
  CollectingConsumer(std::weak_ptr<Exchange> exchange, std::size_t take_max,
                     std::function<void(CollectingConsumer&, bool)> on_end)
      : exchange_(std::move(exchange)), take_max_(take_max), on_end_(std::move(on_end)) {}

  std::size_t offer(std::span<const uint8_t> bytes) override {
    max_offer = std::max(max_offer, bytes.size());
    std::size_t n = std::min(bytes.size(), take_max_);
    data.append(reinterpret_cast<const char*>(bytes.data()), n);
    if (n < bytes.size()) {
      ++pauses;
      if (auto exchange = exchange_.lock()) {
        asio::post(exchange->loop(), [weak = exchange_] {
          if (auto e = weak.lock()) e->resumeBody();
        });
      }
    }
    return n;
  }
  void end(bool complete) override {
    ended = true;
    if (on_end_) on_end_(*this, complete);
  }

  std::string data;
  std::size_t max_offer = 0;
  std::size_t pauses = 0;
  bool ended = false;

 private:
  std::weak_ptr<Exchange> exchange_;
  std::size_t take_max_;
  std::function<void(CollectingConsumer&, bool)> on_end_;
};

// Gives `data` in chunks of at most `chunk` bytes; with `pause`, every other read is Wait and a
// timer resumes the exchange a millisecond later.
class BufferProducer : public ByteProducer, public std::enable_shared_from_this<BufferProducer> {
 public:
  BufferProducer(std::string data, std::size_t chunk, bool pause, std::weak_ptr<Exchange> exchange)
      : data_(std::move(data)), chunk_(chunk), pause_(pause), exchange_(std::move(exchange)) {}

  Chunk read(std::span<uint8_t> out) override {
    if (at_ == data_.size()) return {State::End, 0};
    if (pause_ && (++reads_ % 2 == 0)) {
      if (auto exchange = exchange_.lock()) {
        auto timer = std::make_shared<asio::steady_timer>(exchange->loop(), 1ms);
        timer->async_wait([timer, weak = exchange_](const boost::system::error_code&) {
          if (auto e = weak.lock()) e->resumeResponse();
        });
      }
      return {State::Wait, 0};
    }
    std::size_t n = std::min({out.size(), chunk_, data_.size() - at_});
    std::memcpy(out.data(), data_.data() + at_, n);
    at_ += n;
    return {State::Data, n};
  }

 private:
  std::string data_;
  std::size_t at_ = 0;
  std::size_t chunk_;
  bool pause_;
  int reads_ = 0;
  std::weak_ptr<Exchange> exchange_;
};

// An endless body (for a peer that stops reading).
class EndlessProducer : public ByteProducer {
 public:
  Chunk read(std::span<uint8_t> out) override {
    std::memset(out.data(), 'z', out.size());
    return {State::Data, out.size()};
  }
};

std::string pattern(std::size_t size, uint32_t seed) {
  std::mt19937 random(seed);
  std::string out(size, '\0');
  for (auto& c : out) c = static_cast<char>(random());
  return out;
}

// ---------------------------------------------------------------------------------------------
// What the handlers saw, read by the test thread.

struct Record {
  std::mutex mutex;
  std::vector<RequestHead> heads;
  std::vector<bool> body_ends;  // consumer end(complete) values
  std::vector<bool> finishes;   // onFinished(clean) values
  std::vector<std::size_t> max_offers;
  std::size_t pauses = 0;
  std::size_t body_bytes = 0;                   // taken so far by the "hold" consumers
  std::vector<std::shared_ptr<Exchange>> held;  // exchanges kept for later checks

  template <typename F>
  auto locked(F&& f) {
    std::lock_guard lock(mutex);
    return f();
  }
};

// The handlers of the test server, by path.
RequestHandler makeHandler(Record& record) {
  return [&record](std::shared_ptr<Exchange> exchange) {
    const RequestHead& head = exchange->head();
    std::string path = head.target.substr(0, head.target.find('?'));
    record.locked([&] { record.heads.push_back(head); });
    exchange->onFinished(
        [&record](bool clean) { record.locked([&] { record.finishes.push_back(clean); }); });
    std::weak_ptr<Exchange> weak = exchange;

    if (path == "/json") {
      std::string body = R"({"ok":true,"method":")" + head.method + R"(","authority":")" +
                         head.authority + R"("})";
      ResponseHead response;
      response.headers = {{"Content-Type", "application/json"}, {"X-Test", "yes"}};
      response.content_length = body.size();
      exchange->respond(response, std::make_shared<BufferProducer>(body, 1 << 20, false, weak));
    } else if (path == "/echo" || path == "/echo-slow") {
      // The whole body, then the same bytes back (paced producer for /echo-slow).
      std::size_t take = path == "/echo-slow" ? 7000 : SIZE_MAX;
      auto consumer = std::make_shared<CollectingConsumer>(
          weak, take, [&record, weak, path](CollectingConsumer& c, bool complete) {
            record.locked([&] {
              record.body_ends.push_back(complete);
              record.max_offers.push_back(c.max_offer);
              record.pauses += c.pauses;
            });
            auto e = weak.lock();
            if (!e) return;
            if (!complete) return;
            ResponseHead response;
            response.content_length = c.data.size();
            e->respond(response, std::make_shared<BufferProducer>(std::move(c.data), 5000,
                                                                  path == "/echo-slow", weak));
          });
      exchange->setBodyConsumer(consumer);
    } else if (path == "/hold") {
      // Reads the body, never answers; reports what it got.
      class Holding : public ByteConsumer {
       public:
        explicit Holding(Record& r) : r_(r) {}
        std::size_t offer(std::span<const uint8_t> bytes) override {
          r_.locked([&] { r_.body_bytes += bytes.size(); });
          return bytes.size();
        }
        void end(bool complete) override {
          r_.locked([&] { r_.body_ends.push_back(complete); });
        }
        Record& r_;
      };
      exchange->setBodyConsumer(std::make_shared<Holding>(record));
      record.locked([&] { record.held.push_back(exchange); });
    } else if (path == "/stream") {
      ResponseHead response;
      response.headers = {{"content-type", "text/plain"}};
      exchange->respond(response,
                        std::make_shared<BufferProducer>(pattern(200000, 7), 3000, true, weak));
    } else if (path == "/endless") {
      exchange->respond(ResponseHead{}, std::make_shared<EndlessProducer>());
    } else if (path == "/never") {
      record.locked([&] { record.held.push_back(exchange); });
    } else if (path == "/drop") {
      // Never answers and holds nothing.
    } else if (path == "/reset") {
      exchange->reset();
    } else if (path == "/long-declared") {
      ResponseHead response;
      response.content_length = 10;
      exchange->respond(response,
                        std::make_shared<BufferProducer>(std::string(20, 'x'), 100, false, weak));
    } else {
      ResponseHead response;
      response.status = 404;
      exchange->respond(response, nullptr);
    }
  };
}

// ---------------------------------------------------------------------------------------------
// The server: acceptor, TLS handshake with ALPN h2, startH2Connection. Its loop runs on a thread.

class TestServer {
 public:
  TestServer(ServerLimits limits, RequestHandler handler)
      : limits_(limits), handler_(std::move(handler)) {
    tls_.use_certificate_chain_file((certDir() / "server.crt").string());
    tls_.use_private_key_file((certDir() / "server.key").string(), asio::ssl::context::pem);
    SSL_CTX_set_alpn_select_cb(
        tls_.native_handle(),
        [](SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
           unsigned int inlen, void*) -> int {
          static const unsigned char kH2[] = {2, 'h', '2'};
          unsigned char* selected = nullptr;
          if (SSL_select_next_proto(&selected, outlen, kH2, sizeof kH2, in, inlen) !=
              OPENSSL_NPN_NEGOTIATED) {
            return SSL_TLSEXT_ERR_ALERT_FATAL;
          }
          *out = selected;
          return SSL_TLSEXT_ERR_OK;
        },
        nullptr);
    asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(endpoint.protocol());
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept();
    thread_ = std::thread([this] { loop_.run(); });
  }

  ~TestServer() {
    asio::post(loop_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      for (auto& connection : connections_) connection->close();
    });
    waitFor([this] { return closed_ == started_; }, 10s);
    work_.reset();
    loop_.stop();
    thread_.join();
  }

  uint16_t port() const { return port_; }
  int connectionsStarted() const { return started_; }
  int connectionsClosed() const { return closed_; }
  asio::io_context& loop() { return loop_; }

  // Runs `f` on the loop and waits for its result.
  template <typename F>
  auto onLoop(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    asio::post(loop_, [&task] { task(); });
    if (result.wait_for(10s) != std::future_status::ready) throw std::runtime_error("loop stuck");
    return result.get();
  }

 private:
  void accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, TcpSocket socket) {
      if (ec) return;
      auto stream = std::make_unique<TlsStream>(std::move(socket), tls_);
      auto* raw = stream.get();
      raw->async_handshake(
          asio::ssl::stream_base::server,
          [this, stream = std::move(stream)](const boost::system::error_code& ec) mutable {
            if (ec) return;
            ConnectionContext context;
            context.loop = &loop_;
            context.limits = limits_;
            context.handler = handler_;
            context.peer.remote_address = "127.0.0.1:1";
            context.peer.tls = true;
            context.peer.alpn = "h2";
            context.on_closed = [this] { ++closed_; };
            ++started_;
            connections_.push_back(startH2Connection(std::move(stream), std::move(context)));
          });
      accept();
    });
  }

  ServerLimits limits_;
  RequestHandler handler_;
  asio::io_context loop_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      asio::make_work_guard(loop_)};
  asio::ssl::context tls_{asio::ssl::context::tls_server};
  asio::ip::tcp::acceptor acceptor_{loop_};
  uint16_t port_ = 0;
  std::vector<std::shared_ptr<Connection>> connections_;  // loop thread
  std::atomic<int> started_{0};
  std::atomic<int> closed_{0};
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// Peers as subprocesses.

struct Outcome {
  int status = -1;  // exit status (-1: did not exit normally)
  std::string out;
};

Outcome run(const std::string& command) {
  Outcome result;
  FILE* pipe = ::popen(("timeout 120 " + command).c_str(), "r");
  if (!pipe) return result;
  char buffer[65536];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.out.append(buffer, n);
  int status = ::pclose(pipe);
  if (WIFEXITED(status)) result.status = WEXITSTATUS(status);
  return result;
}

std::string curl(const TestServer& server, const std::string& args) {
  std::string port = std::to_string(server.port());
  return "curl --http2 -sS --cacert " + caPath() + " --resolve localhost:" + port +
         ":127.0.0.1 --max-time 60 " + args;
}

std::string url(const TestServer& server, const std::string& path) {
  return "https://localhost:" + std::to_string(server.port()) + path;
}

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void writeFile(const std::filesystem::path& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

// ---------------------------------------------------------------------------------------------
// curl

TEST(H2Connection, CurlFetchesSeveralUrlsOverOneConnection) {
  Record record;
  TestServer server({}, makeHandler(record));
  Outcome r = run(curl(server, "-w '\\n%{http_version} %{response_code} %{content_type}\\n' " +
                                   url(server, "/json") + " " + url(server, "/json?x=1") + " " +
                                   url(server, "/missing")));
  ASSERT_EQ(r.status, 0) << r.out;
  std::string json = R"({"ok":true,"method":"GET","authority":"localhost:)" +
                     std::to_string(server.port()) + R"("})";
  EXPECT_EQ(r.out,
            json + "\n2 200 application/json\n" + json + "\n2 200 application/json\n\n2 404 \n");
  EXPECT_EQ(server.connectionsStarted(), 1);
  record.locked([&] {
    ASSERT_EQ(record.heads.size(), 3u);
    const RequestHead& head = record.heads[1];
    EXPECT_EQ(head.method, "GET");
    EXPECT_EQ(head.target, "/json?x=1");
    EXPECT_EQ(head.authority, "localhost:" + std::to_string(server.port()));
    EXPECT_EQ(head.scheme, "https");
    EXPECT_EQ(head.version, 20);
    EXPECT_EQ(head.content_length, std::optional<uint64_t>(0));
    bool has_user_agent = false;
    for (const Header& h : head.headers) {
      EXPECT_NE(h.name, "host");
      EXPECT_EQ(h.name[0] == ':', false);
      has_user_agent |= h.name == "user-agent";
    }
    EXPECT_TRUE(has_user_agent);
  });
  EXPECT_TRUE(waitFor([&] { return record.locked([&] { return record.finishes.size() == 3; }); }));
  record.locked([&] { EXPECT_EQ(record.finishes, (std::vector<bool>{true, true, true})); });
}

TEST(H2Connection, CurlParallelStreamsAndPausingProducer) {
  Record record;
  TestServer server({}, makeHandler(record));
  std::string urls;
  for (int i = 0; i < 8; ++i)
    urls += " -o /dev/null " + url(server, "/stream?i=" + std::to_string(i));
  Outcome r = run(curl(server,
                       "-Z --parallel-max 8 -w '%{http_version} "
                       "%{response_code} %{size_download}\\n'" +
                           urls));
  ASSERT_EQ(r.status, 0) << r.out;
  std::istringstream lines(r.out);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    EXPECT_EQ(line, "2 200 200000");
    ++count;
  }
  EXPECT_EQ(count, 8);
  EXPECT_EQ(server.connectionsStarted(), 1);
}

TEST(H2Connection, CurlStreamedBodyArrivesExactly) {
  Record record;
  TestServer server({}, makeHandler(record));
  testing::TempDir dir("h2-stream");
  Outcome r =
      run(curl(server, "-o " + (dir.path() / "out").string() + " " + url(server, "/stream")));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(readFile(dir.path() / "out"), pattern(200000, 7));
}

TEST(H2Connection, CurlPostIsEchoed) {
  Record record;
  TestServer server({}, makeHandler(record));
  Outcome r = run(curl(server, "--data-binary 'hello, h2' " + url(server, "/echo")));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "hello, h2");
  record.locked([&] {
    ASSERT_EQ(record.heads.size(), 1u);
    EXPECT_EQ(record.heads[0].method, "POST");
    EXPECT_EQ(record.heads[0].content_length, std::optional<uint64_t>(9));
    EXPECT_EQ(record.body_ends, std::vector<bool>{true});
  });
}

// A 6 MiB upload into a consumer that takes 7000 bytes at a time: the exact bytes come back, and
// the consumer was never offered more than one stream window (the rest waited at the client).
TEST(H2Connection, BigUploadThroughPausingConsumerIsEchoedExactly) {
  Record record;
  TestServer server({}, makeHandler(record));
  testing::TempDir dir("h2-upload");
  std::string body = pattern(6 << 20, 42);
  writeFile(dir.path() / "in", body);
  Outcome r = run(curl(server, "--data-binary @" + (dir.path() / "in").string() + " -o " +
                                   (dir.path() / "out").string() + " -w '%{response_code}' " +
                                   url(server, "/echo-slow")));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "200");
  std::string echoed = readFile(dir.path() / "out");
  EXPECT_EQ(echoed.size(), body.size());
  EXPECT_TRUE(echoed == body);
  record.locked([&] {
    EXPECT_EQ(record.body_ends, std::vector<bool>{true});
    ASSERT_EQ(record.max_offers.size(), 1u);
    EXPECT_LE(record.max_offers[0], std::size_t{H2Tuning::kStreamWindow});
    EXPECT_GT(record.pauses, 100u);
  });
}

TEST(H2Connection, UnansweredRequestGets504AndLateRespondFails) {
  Record record;
  ServerLimits limits;
  limits.response_timeout = 300ms;
  TestServer server(limits, makeHandler(record));
  Outcome r = run(curl(server, "-o /dev/null -w '%{response_code}' " + url(server, "/never")));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "504");
  auto exchange = record.locked([&] { return record.held.at(0); });
  EXPECT_FALSE(server.onLoop([&] { return exchange->respond(ResponseHead{}, nullptr); }));
  EXPECT_TRUE(waitFor([&] { return server.onLoop([&] { return exchange->finished(); }); }));
  record.locked([&] { EXPECT_EQ(record.finishes, std::vector<bool>{false}); });
}

TEST(H2Connection, HeadersOverTheLimitGet431) {
  Record record;
  ServerLimits limits;
  limits.max_header_bytes = 4096;
  limits.max_headers = 20;
  TestServer server(limits, makeHandler(record));
  Outcome big =
      run(curl(server, "-o /dev/null -w '%{response_code}' -H 'x-big: " + std::string(5000, 'a') +
                           "' " + url(server, "/json")));
  EXPECT_EQ(big.out, "431");
  std::string many;
  for (int i = 0; i < 25; ++i) many += " -H 'x-h" + std::to_string(i) + ": v'";
  Outcome lots =
      run(curl(server, "-o /dev/null -w '%{response_code}'" + many + " " + url(server, "/json")));
  EXPECT_EQ(lots.out, "431");
  Outcome fine =
      run(curl(server, "-o /dev/null -w '%{response_code}' -H 'x-ok: " + std::string(1000, 'a') +
                           "' " + url(server, "/json")));
  EXPECT_EQ(fine.out, "200");
  record.locked([&] { EXPECT_EQ(record.heads.size(), 1u); });  // only the one that fit
}

TEST(H2Connection, DeclaredBodyOverTheLimitGets413WithoutReachingTheHandler) {
  Record record;
  ServerLimits limits;
  limits.max_body_bytes = 100000;
  TestServer server(limits, makeHandler(record));
  testing::TempDir dir("h2-413");
  writeFile(dir.path() / "in", pattern(300000, 1));
  Outcome r = run(curl(server, "-o /dev/null -w '%{response_code}' --data-binary @" +
                                   (dir.path() / "in").string() + " " + url(server, "/echo")));
  EXPECT_EQ(r.out, "413");
  record.locked([&] { EXPECT_TRUE(record.heads.empty()); });
}

TEST(H2Connection, StreamedBodyOverTheLimitGets413) {
  Record record;
  ServerLimits limits;
  limits.max_body_bytes = 100000;
  TestServer server(limits, makeHandler(record));
  testing::TempDir dir("h2-413s");
  writeFile(dir.path() / "in", pattern(300000, 2));
  // From stdin: curl sends no content-length.
  Outcome r = run("cat " + (dir.path() / "in").string() + " | " +
                  curl(server, "-o /dev/null -w '%{response_code}' -T - " + url(server, "/echo")));
  EXPECT_EQ(r.out, "413");
  record.locked([&] {
    ASSERT_EQ(record.heads.size(), 1u);
    EXPECT_EQ(record.heads[0].content_length, std::nullopt);
    EXPECT_EQ(record.body_ends, std::vector<bool>{false});
  });
}

TEST(H2Connection, ResetExchangeResetsTheStream) {
  Record record;
  TestServer server({}, makeHandler(record));
  Outcome r = run(curl(server, url(server, "/reset") + " 2>&1"));
  EXPECT_EQ(r.status, 92) << r.out;  // CURLE_HTTP2_STREAM
  Outcome more = run(curl(
      server, "-o /dev/null -w '%{response_code}' " + url(server, "/long-declared") + " 2>&1"));
  EXPECT_EQ(more.status, 92) << more.out;  // 20 bytes produced for a content-length of 10
}

TEST(H2Connection, HeadRequestGetsNoBody) {
  Record record;
  TestServer server({}, makeHandler(record));
  Outcome r = run(curl(server, "-I " + url(server, "/json")));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("HTTP/2 200"), std::string::npos) << r.out;
  std::string body = R"({"ok":true,"method":"HEAD","authority":"localhost:)" +
                     std::to_string(server.port()) + R"("})";
  EXPECT_NE(r.out.find("content-length: " + std::to_string(body.size())), std::string::npos)
      << r.out;
}

// ---------------------------------------------------------------------------------------------
// h2load

TEST(H2Connection, H2loadManyStreamsAllSucceed) {
  Record record;
  TestServer server({}, makeHandler(record));
  Outcome r = run("h2load -n 2000 -c 4 -m 10 " + url(server, "/json") + " 2>&1");
  ASSERT_EQ(r.status, 0) << r.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m,
                                std::regex(R"(requests: (\d+) total, (\d+) started, (\d+) done, )"
                                           R"((\d+) succeeded, (\d+) failed, (\d+) errored)")))
      << r.out;
  EXPECT_EQ(m[1], "2000");
  EXPECT_EQ(m[4], "2000");
  EXPECT_EQ(m[5], "0");
  EXPECT_EQ(m[6], "0");
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(status codes: (\d+) 2xx)"))) << r.out;
  EXPECT_EQ(m[1], "2000");
  EXPECT_EQ(server.connectionsStarted(), 4);
  std::cout << r.out.substr(r.out.find("finished in")) << std::endl;
}

}  // namespace
}  // namespace selium::net::http
