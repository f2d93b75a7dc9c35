// The HTTP/2 client connection against real servers: our own (net::http::Server over TLS with
// ALPN h2), nginx, and a scripted TLS "server" that writes frames by hand (GOAWAY, garbage,
// floods, flow-control violations). The tests connect and handshake themselves and drive
// startH2ClientConnection with hand-made exchanges, on a loop thread of their own; the servers
// run on other threads.
#include "net/http/client_h2.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <random>

#include "net/http/http_test_support.h"
#include "net/tls/tls_config.h"
#include "util/certs.h"

namespace selium::net::http {
namespace {

using namespace testing;
using detail::ClientExchangeImpl;

// ---------------------------------------------------------------------------------------------
// Certificates and TLS configurations, shared by every test.

const std::filesystem::path& certDir() {
  static TempDir dir;  // removed at exit
  static bool made = [] {
    util::CertOptions options;
    options.output_dir = dir.path;
    auto written = util::generateCerts(options);
    if (!written) throw std::runtime_error(written.error().message);
    return true;
  }();
  (void)made;
  return dir.path;
}

std::shared_ptr<const tls::ServerConfig> serverConfig() {
  static auto config = [] {
    auto result = tls::loadDefaultServerConfig(certDir(), {"h2"});
    if (!result) throw std::runtime_error(result.error().message);
    return result.value();
  }();
  return config;
}

std::shared_ptr<const tls::ClientConfig> clientConfig() {
  static auto config = [] {
    auto result = tls::loadDefaultClientConfig(certDir(), {"h2"});
    if (!result) throw std::runtime_error(result.error().message);
    return result.value();
  }();
  return config;
}

std::string pattern(std::size_t size, uint32_t seed) {
  std::mt19937 random(seed);
  std::string out(size, '\0');
  for (auto& c : out) c = static_cast<char>(random());
  return out;
}

// ---------------------------------------------------------------------------------------------
// The client side: one connection on a loop thread, exchanges made by hand, and the smallest
// queue that starts them as the connection allows (what the Client does).

// Where a response body goes; `paused` takes nothing. Read by the test thread under the mutex.
class Sink : public ByteConsumer {
 public:
  std::size_t offer(std::span<const uint8_t> bytes) override {
    std::lock_guard lock(mutex);
    max_offer = std::max(max_offer, bytes.size());
    if (ended) ++offers_after_end;
    if (paused) {
      ++refusals;
      return 0;
    }
    data.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return bytes.size();
  }
  void end(bool complete) override {
    std::lock_guard lock(mutex);
    ++ends;
    ended = true;
    this->complete = complete;
  }
  std::size_t size() {
    std::lock_guard lock(mutex);
    return data.size();
  }

  std::mutex mutex;
  std::string data;
  bool paused = false;
  std::size_t max_offer = 0;
  int refusals = 0;
  int ends = 0;
  int offers_after_end = 0;
  bool ended = false;
  bool complete = false;
};

// One request as the test sees it.
struct Call {
  std::shared_ptr<ClientExchangeImpl> exchange;  // loop thread only
  std::shared_ptr<Sink> sink = std::make_shared<Sink>();
  std::mutex mutex;
  std::optional<ClientResponse> response;
  std::string error;
  int answers = 0;
  int finishes = 0;
  bool clean = false;

  bool answered() {
    std::lock_guard lock(mutex);
    return answers > 0;
  }
  bool finished() {
    std::lock_guard lock(mutex);
    return finishes > 0;
  }
  std::string failure() {
    std::lock_guard lock(mutex);
    return error;
  }
  int status() {
    std::lock_guard lock(mutex);
    return response ? response->head.status : 0;
  }
};

enum class Consumer : uint8_t { Set, Later };

class H2Client {
 public:
  explicit H2Client(uint16_t port, ClientLimits limits = {}) : port_(port) {
    error = loop.call([&]() -> std::string {
      auto config = clientConfig();
      SSL_CTX_up_ref(config->context().get());
      ssl_.emplace(config->context().get());  // takes the reference just added
      auto stream = std::make_unique<TlsStream>(loop.io, *ssl_);
      boost::system::error_code ec;
      stream->next_layer().connect({asio::ip::make_address("127.0.0.1"), port}, ec);
      if (ec) return "connect: " + ec.message();
      if (auto status = config->prepare(stream->native_handle(), "localhost"); !status) {
        return status.error().message;
      }
      stream->handshake(asio::ssl::stream_base::client, ec);
      if (ec) return "handshake: " + ec.message();
      const unsigned char* alpn = nullptr;
      unsigned int alpn_length = 0;
      SSL_get0_alpn_selected(stream->native_handle(), &alpn, &alpn_length);
      std::string selected(reinterpret_cast<const char*>(alpn), alpn_length);
      if (selected != "h2") return "ALPN selected " + selected;
      detail::ClientConnectionContext context;
      context.loop = &loop.io;
      context.limits = limits;
      context.info = {"127.0.0.1:" + std::to_string(port), "h2"};
      context.events.on_ready = [this] {
        ++ready;
        pump();
      };
      context.events.on_closed = [this] { ++closed; };
      connection = detail::startH2ClientConnection(std::move(stream), std::move(context));
      return "";
    });
  }

  ~H2Client() {
    loop.call([this] {
      if (connection) connection->close("test over");
      connection.reset();  // what its pending handlers hold goes with the loop
      for (auto& exchange : queue_) exchange->finish(false, "test over");
      queue_.clear();
      return 0;
    });
    loop.stop();
  }

  RequestHead head(const std::string& target, const std::string& method = "GET") const {
    RequestHead head;
    head.method = method;
    head.target = target;
    head.authority = "localhost:" + std::to_string(port_);
    head.scheme = "https";
    head.version = 20;
    return head;
  }

  // `prepare` runs on the loop with the exchange before it is started.
  std::shared_ptr<Call> send(
      RequestHead head, std::shared_ptr<ByteProducer> body = nullptr,
      Consumer consumer = Consumer::Set,
      const std::function<void(const std::shared_ptr<ClientExchangeImpl>&)>& prepare = {}) {
    auto call = std::make_shared<Call>();
    loop.call([&] {
      auto exchange = std::make_shared<ClientExchangeImpl>(
          loop.io, std::move(head), std::move(body), [call](Result<ClientResponse> result) {
            std::lock_guard lock(call->mutex);
            ++call->answers;
            if (result) {
              call->response = std::move(result.value());
            } else {
              call->error = result.error().message;
            }
          });
      exchange->onFinished([call](bool clean) {
        std::lock_guard lock(call->mutex);
        ++call->finishes;
        call->clean = clean;
      });
      if (consumer == Consumer::Set) exchange->setBodyConsumer(call->sink);
      call->exchange = exchange;
      if (prepare) prepare(exchange);
      queue_.push_back(exchange);
      pump();
      return 0;
    });
    return call;
  }

  // Runs `f` on the loop with the call's exchange.
  void onExchange(const std::shared_ptr<Call>& call,
                  const std::function<void(ClientExchangeImpl&)>& f) {
    loop.call([&] {
      f(*call->exchange);
      return 0;
    });
  }
  void resume(const std::shared_ptr<Call>& call) {
    {
      std::lock_guard lock(call->sink->mutex);
      call->sink->paused = false;
    }
    onExchange(call, [](ClientExchangeImpl& e) { e.resumeBody(); });
  }

  bool canStart() {
    return loop.call([this] { return connection->canStart(); });
  }
  bool reusable() {
    return loop.call([this] { return connection->reusable(); });
  }
  std::size_t queued() {
    return loop.call([this] { return queue_.size(); });
  }

  bool wait(const std::shared_ptr<Call>& call, std::chrono::milliseconds limit = 20s) {
    return waitUntil([&] { return call->finished(); }, limit);
  }

  std::atomic<int> ready{0};
  std::atomic<int> closed{0};
  std::string error;
  std::shared_ptr<detail::ClientConnection> connection;  // loop thread

 private:
  void pump() {
    while (!queue_.empty() && connection && connection->canStart()) {
      auto exchange = queue_.front();
      queue_.pop_front();
      connection->start(exchange);
    }
  }

  uint16_t port_;
  std::optional<asio::ssl::context> ssl_;  // outlives the loop's handlers (declared before it)

 public:
  LoopThread loop;

 private:
  std::deque<std::shared_ptr<ClientExchangeImpl>> queue_;
};

// ---------------------------------------------------------------------------------------------
// Our HTTP/2 server (net::http::Server, TLS, ALPN h2) and what its handlers saw.

// Counts what a response body producer gave, for the backpressure test.
class CountingProducer : public ByteProducer {
 public:
  CountingProducer(std::string data, std::atomic<std::size_t>& produced)
      : data_(std::move(data)), produced_(produced) {}
  Chunk read(std::span<uint8_t> out) override {
    if (at_ == data_.size()) return {State::End, 0};
    std::size_t n = std::min({out.size(), data_.size() - at_, std::size_t{4096}});
    std::memcpy(out.data(), data_.data() + at_, n);
    at_ += n;
    produced_ += n;
    return {State::Data, n};
  }

 private:
  std::string data_;
  std::size_t at_ = 0;
  std::atomic<std::size_t>& produced_;
};

class EndlessProducer : public ByteProducer {
 public:
  Chunk read(std::span<uint8_t> out) override {
    std::memset(out.data(), 'z', out.size());
    return {State::Data, out.size()};
  }
};

// Gives `data` with a Wait every other read; a timer resumes the exchange 1 ms later.
class PausingProducer : public ByteProducer {
 public:
  PausingProducer(std::string data, std::function<void()> resume, asio::io_context& loop)
      : data_(std::move(data)), resume_(std::move(resume)), loop_(loop) {}
  Chunk read(std::span<uint8_t> out) override {
    if (at_ == data_.size()) return {State::End, 0};
    if (++reads_ % 2 == 0) {
      auto timer = std::make_shared<asio::steady_timer>(loop_, 1ms);
      timer->async_wait([timer, resume = resume_](const boost::system::error_code&) { resume(); });
      return {State::Wait, 0};
    }
    std::size_t n = std::min({out.size(), data_.size() - at_, std::size_t{7000}});
    std::memcpy(out.data(), data_.data() + at_, n);
    at_ += n;
    return {State::Data, n};
  }

 private:
  std::string data_;
  std::function<void()> resume_;
  asio::io_context& loop_;
  std::size_t at_ = 0;
  int reads_ = 0;
};

struct ServerRecord {
  std::mutex mutex;
  std::vector<RequestHead> heads;
  std::vector<std::shared_ptr<Exchange>> held;
  std::vector<bool> finishes;
  std::atomic<std::size_t> produced{0};

  std::size_t requests() {
    std::lock_guard lock(mutex);
    return heads.size();
  }
  std::size_t heldCount() {
    std::lock_guard lock(mutex);
    return held.size();
  }
};

RequestHandler makeHandler(ServerRecord& record) {
  return [&record](std::shared_ptr<Exchange> exchange) {
    const RequestHead& head = exchange->head();
    std::string path = head.target.substr(0, head.target.find('?'));
    std::string query = head.target.find('?') == std::string::npos
                            ? ""
                            : head.target.substr(head.target.find('?') + 1);
    {
      std::lock_guard lock(record.mutex);
      record.heads.push_back(head);
    }
    exchange->onFinished([&record](bool clean) {
      std::lock_guard lock(record.mutex);
      record.finishes.push_back(clean);
    });
    if (path == "/hello") {
      ResponseHead response = textHead(200);
      response.headers.push_back({"X-Method", head.method});
      response.headers.push_back({"X-Authority", head.authority});
      response.content_length = 5;
      exchange->respond(response, std::make_shared<StringProducer>("hello"));
    } else if (path == "/echo") {
      // The whole body, then the same bytes back (no content-length: DATA until END_STREAM).
      auto consumer = std::make_shared<CollectingConsumer>();
      std::weak_ptr<Exchange> weak = exchange;
      consumer->on_end = [weak, consumer = consumer.get()](bool complete) {
        auto e = weak.lock();
        if (!e || !complete) return;
        ResponseHead response;
        response.headers.push_back({"X-Length", std::to_string(consumer->data.size())});
        e->respond(response, std::make_shared<StringProducer>(consumer->data, 5000));
      };
      exchange->setBodyConsumer(consumer);
    } else if (path == "/big") {
      std::size_t size = std::stoul(query);
      ResponseHead response;
      response.content_length = size;
      exchange->respond(response,
                        std::make_shared<CountingProducer>(pattern(size, 3), record.produced));
    } else if (path == "/endless") {
      exchange->respond(ResponseHead{}, std::make_shared<EndlessProducer>());
    } else if (path == "/hold" || path == "/stall") {
      if (path == "/stall") {
        // The head, then a body that never comes.
        class Never : public ByteProducer {
          Chunk read(std::span<uint8_t>) override { return {State::Wait, 0}; }
        };
        exchange->respond(ResponseHead{}, std::make_shared<Never>());
      }
      std::lock_guard lock(record.mutex);
      record.held.push_back(exchange);
    } else if (path == "/reset") {
      exchange->reset();
    } else if (path == "/abort") {
      class Aborting : public ByteProducer {
        Chunk read(std::span<uint8_t> out) override {
          if (sent_) return {State::Abort, 0};
          sent_ = true;
          std::size_t n = std::min<std::size_t>(out.size(), 1000);
          std::memset(out.data(), 'a', n);
          return {State::Data, n};
        }
        bool sent_ = false;
      };
      exchange->respond(ResponseHead{}, std::make_shared<Aborting>());
    } else if (path == "/status") {
      ResponseHead response;
      response.status = std::stoi(query);
      response.content_length = 0;
      exchange->respond(response, nullptr);
    } else if (path == "/big-header") {
      // ?bytes or ?fields=N
      ResponseHead response;
      if (query.rfind("fields=", 0) == 0) {
        int fields = std::stoi(query.substr(7));
        for (int i = 0; i < fields; ++i)
          response.headers.push_back({"x-f" + std::to_string(i), "v"});
      } else {
        response.headers.push_back({"x-big", std::string(std::stoul(query), 'h')});
      }
      response.content_length = 2;
      exchange->respond(response, std::make_shared<StringProducer>("ok"));
    } else {
      ResponseHead response;
      response.status = 404;
      response.content_length = 0;
      exchange->respond(response, nullptr);
    }
  };
}

class ClientH2Test : public ::testing::Test {
 protected:
  std::unique_ptr<TestServer> startServer(ServerLimits limits = {}) {
    ServerOptions options;
    options.limits = limits;
    options.tls = serverConfig()->context();
    auto server = std::make_unique<TestServer>(options, makeHandler(record_));
    EXPECT_EQ(server->error, "");
    return server;
  }
  // Releases every exchange the server holds with a small answer.
  void answerHeld(TestServer& server, const std::string& body = "late") {
    server.loop.call([&] {
      std::vector<std::shared_ptr<Exchange>> held;
      {
        std::lock_guard lock(record_.mutex);
        held.swap(record_.held);
      }
      for (auto& exchange : held) respondText(*exchange, body);
      return 0;
    });
  }

  ServerRecord record_;
};

std::string bodyOf(const std::shared_ptr<Call>& call) {
  std::lock_guard lock(call->sink->mutex);
  return call->sink->data;
}

// ---------------------------------------------------------------------------------------------
// Against our own server.

TEST_F(ClientH2Test, GetDeliversHeadAndBody) {
  auto server = startServer();
  H2Client client(server->port);
  ASSERT_EQ(client.error, "");
  auto call = client.send(client.head("/hello?x=1"));
  ASSERT_TRUE(client.wait(call));
  EXPECT_EQ(call->failure(), "");
  std::lock_guard lock(call->mutex);
  ASSERT_TRUE(call->response);
  EXPECT_EQ(call->response->version, 20);
  EXPECT_EQ(call->response->head.status, 200);
  EXPECT_EQ(call->response->head.content_length, 5u);
  std::map<std::string, std::string> headers;
  for (auto& h : call->response->head.headers) headers[h.name] = h.value;
  EXPECT_EQ(headers["content-type"], "text/plain");
  EXPECT_EQ(headers["x-method"], "GET");
  EXPECT_EQ(headers["x-authority"], "localhost:" + std::to_string(server->port));
  EXPECT_EQ(headers.count("content-length"), 0u);  // it is content_length
  EXPECT_TRUE(call->clean);
  EXPECT_EQ(bodyOf(call), "hello");
  EXPECT_TRUE(waitUntil([&] { return call->sink->ended; }));
  EXPECT_TRUE(call->sink->complete);
  EXPECT_EQ(call->sink->ends, 1);
  EXPECT_TRUE(client.reusable());
  std::lock_guard server_lock(record_.mutex);
  ASSERT_EQ(record_.heads.size(), 1u);
  EXPECT_EQ(record_.heads[0].target, "/hello?x=1");
  EXPECT_EQ(record_.heads[0].scheme, "https");
  EXPECT_EQ(record_.heads[0].authority, "localhost:" + std::to_string(server->port));
}

TEST_F(ClientH2Test, RequestHeadersAreSentLowerCasedWithoutConnectionLevelOnes) {
  auto server = startServer();
  H2Client client(server->port);
  ASSERT_EQ(client.error, "");
  RequestHead head = client.head("/hello");
  head.headers = {{"X-Custom", "Value"},
                  {"connection", "close"},
                  {"host", "evil"},
                  {"Accept", "*/*"},
                  {"x-custom", "two"}};
  auto call = client.send(head);
  ASSERT_TRUE(client.wait(call));
  EXPECT_EQ(call->status(), 200);
  std::lock_guard lock(record_.mutex);
  ASSERT_EQ(record_.heads.size(), 1u);
  std::vector<std::pair<std::string, std::string>> got;
  for (auto& h : record_.heads[0].headers) got.emplace_back(h.name, h.value);
  std::vector<std::pair<std::string, std::string>> want{
      {"x-custom", "Value"}, {"accept", "*/*"}, {"x-custom", "two"}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(record_.heads[0].authority, "localhost:" + std::to_string(server->port));
}

TEST_F(ClientH2Test, PostWithKnownLengthIsEchoedExactly) {
  auto server = startServer(ServerLimits{.max_body_bytes = 64 << 20});
  H2Client client(server->port);
  ASSERT_EQ(client.error, "");
  std::string body = pattern(3 << 20, 11);
  RequestHead head = client.head("/echo", "POST");
  head.content_length = body.size();
  auto call = client.send(head, std::make_shared<StringProducer>(body, 5000));
  ASSERT_TRUE(client.wait(call, 60s));
  EXPECT_EQ(call->failure(), "");
  EXPECT_TRUE(call->clean);
  EXPECT_EQ(call->status(), 200);
  EXPECT_TRUE(bodyOf(call) == body) << bodyOf(call).size();
  std::lock_guard lock(record_.mutex);
  EXPECT_EQ(record_.heads[0].content_length, body.size());
}

TEST_F(ClientH2Test, StreamedPostWithPausingProducerIsEchoedExactly) {
  auto server = startServer(ServerLimits{.max_body_bytes = 64 << 20});
  H2Client client(server->port);
  ASSERT_EQ(client.error, "");
  std::string body = pattern(2 << 20, 12);
  auto exchange_slot = std::make_shared<std::weak_ptr<ClientExchangeImpl>>();
  auto producer = std::make_shared<PausingProducer>(
      body,
      [exchange_slot] {
        if (auto e = exchange_slot->lock()) e->resumeRequest();
      },
      client.loop.io);
  auto call = client.send(client.head("/echo", "POST"), producer, Consumer::Set,
                          [&](const auto& exchange) { *exchange_slot = exchange; });
  ASSERT_TRUE(client.wait(call, 60s));
  EXPECT_EQ(call->failure(), "");
  EXPECT_TRUE(call->clean);
  EXPECT_TRUE(bodyOf(call) == body) << bodyOf(call).size();
  std::lock_guard lock(record_.mutex);
  EXPECT_EQ(record_.heads[0].content_length, std::nullopt);
}

TEST_F(ClientH2Test, RequestBodyShorterOrLongerThanDeclaredResetsTheStream) {
  auto server = startServer();
  H2Client client(server->port);
  ASSERT_EQ(client.error, "");
  RequestHead shorter = client.head("/echo", "POST");
  shorter.content_length = 100;
  auto short_call = client.send(shorter, std::make_shared<StringProducer>(std::string(50, 's')));
  RequestHead longer = client.head("/echo", "POST");
  longer.content_length = 10;
  auto long_call = client.send(longer, std::make_shared<StringProducer>(std::string(50, 'l')));
  ASSERT_TRUE(client.wait(short_call));
  ASSERT_TRUE(client.wait(long_call));
  EXPECT_EQ(short_call->failure(), "the request body ended after 50 of 100 bytes");
  EXPECT_EQ(long_call->failure(), "the request body is longer than its content-length (10)");
  EXPECT_FALSE(short_call->clean);
  // The connection stays usable.
  auto after = client.send(client.head("/hello"));
  ASSERT_TRUE(client.wait(after));
  EXPECT_EQ(bodyOf(after), "hello");
}

TEST_F(ClientH2Test, EarlyCompleteResponseWithResetNoErrorIsClean) {
  // /hello answers without reading the body; the server then stops the upload with RST_STREAM
  // NO_ERROR (RFC 9113 8.1): the response is whole, so the exchange is too.
  auto server = startServer();
  H2Client client(server->port);
  ASSERT_EQ(client.error, "");
  RequestHead head = client.head("/hello", "POST");
  head.content_length = 4 << 20;
  auto call = client.send(head, std::make_shared<StringProducer>(std::string(4 << 20, 'e')));
  ASSERT_TRUE(client.wait(call));
  EXPECT_EQ(call->failure(), "");
  EXPECT_EQ(call->status(), 200);
  EXPECT_EQ(bodyOf(call), "hello");
  EXPECT_TRUE(call->clean);
  EXPECT_TRUE(client.reusable());
}

TEST_F(ClientH2Test, MoreRequestsThanTheServerAllowsWaitForFreeStreams) {
  auto server = startServer(ServerLimits{.max_h2_streams = 4});
  H2Client client(server->port);
  ASSERT_EQ(client.error, "");
  ASSERT_TRUE(waitUntil([&] { return client.ready >= 1; }));  // the server's SETTINGS arrived
  std::vector<std::shared_ptr<Call>> calls;
  for (int i = 0; i < 10; ++i) calls.push_back(client.send(client.head("/hold")));
  ASSERT_TRUE(waitUntil([&] { return record_.heldCount() == 4; }));
  EXPECT_FALSE(client.canStart());
  EXPECT_TRUE(client.reusable());
  EXPECT_EQ(client.queued(), 6u);
  EXPECT_EQ(record_.requests(), 4u);
  // Answering frees streams: the queue drains (on_ready), never more than four at a time.
  auto all_done = [&] {
    for (auto& call : calls) {
      if (!call->finished()) return false;
    }
    return true;
  };
  auto deadline = Clock::now() + 30s;
  while (!all_done() && Clock::now() < deadline) {
    EXPECT_LE(record_.heldCount(), 4u);
    answerHeld(*server);
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(all_done());
  for (auto& call : calls) {
    EXPECT_EQ(call->status(), 200);
    EXPECT_EQ(bodyOf(call), "late");
  }
  EXPECT_EQ(record_.requests(), 10u);
  EXPECT_TRUE(client.canStart());
}

TEST_F(ClientH2Test, ManyParallelRequestsAllComplete) {
  auto server = startServer(ServerLimits{.max_h2_streams = 8});
  H2Client client(server->port);
  ASSERT_EQ(client.error, "");
  std::vector<std::shared_ptr<Call>> calls;
  for (int i = 0; i < 60; ++i) {
    calls.push_back(client.send(client.head(i % 3 == 0 ? "/big?70000" : "/hello")));
  }
  std::string big = pattern(70000, 3);
  for (std::size_t i = 0; i < calls.size(); ++i) {
    ASSERT_TRUE(client.wait(calls[i], 30s)) << i;
    EXPECT_TRUE(calls[i]->clean) << calls[i]->failure();
    EXPECT_TRUE(bodyOf(calls[i]) == (i % 3 == 0 ? big : "hello")) << i;
  }
}

TEST_F(ClientH2Test, ConsumerThatTakesNothingStallsTheServerUntilResumed) {
  auto server = startServer();
  H2Client client(server->port);
  ASSERT_EQ(client.error, "");
  constexpr std::size_t kSize = 4 << 20;
  auto call = client.send(client.head("/big?" + std::to_string(kSize)), nullptr, Consumer::Later);
  {
    std::lock_guard lock(call->sink->mutex);
    call->sink->paused = true;
  }
  ASSERT_TRUE(waitUntil([&] { return call->answered(); }));
  client.onExchange(call, [&](ClientExchangeImpl& e) { e.setBodyConsumer(call->sink); });
  ASSERT_TRUE(waitUntil([&] {
    std::lock_guard lock(call->sink->mutex);
    return call->sink->refusals > 0;
  }));
  // The server's producer stops once the stream window is used up.
  std::size_t before = 0;
  for (int i = 0; i < 100; ++i) {
    before = record_.produced;
    std::this_thread::sleep_for(50ms);
    if (record_.produced == before) break;
  }
  EXPECT_EQ(record_.produced, before);
  EXPECT_LE(before, std::size_t(H2ClientTuning::kStreamWindow) + (64 << 10));
  EXPECT_FALSE(call->finished());
  EXPECT_EQ(call->sink->size(), 0u);

  client.resume(call);
  ASSERT_TRUE(client.wait(call, 60s));
  EXPECT_TRUE(call->clean);
  EXPECT_TRUE(bodyOf(call) == pattern(kSize, 3));
  std::lock_guard lock(call->sink->mutex);
  EXPECT_LE(call->sink->max_offer, std::size_t(H2ClientTuning::kStreamWindow));
  EXPECT_EQ(call->sink->offers_after_end, 0);
}

TEST_F(ClientH2Test, ApplicationResetMidResponseCancelsTheStreamOnly) {
  auto server = startServer();
  H2Client client(server->port);
  ASSERT_EQ(client.error, "");
  auto call = client.send(client.head("/endless"));
  ASSERT_TRUE(waitUntil([&] { return call->sink->size() > 100000; }));
  client.onExchange(call, [](ClientExchangeImpl& e) {
    e.reset();
    e.reset();  // idempotent
  });
  ASSERT_TRUE(client.wait(call));
  EXPECT_FALSE(call->clean);
  EXPECT_TRUE(waitUntil([&] { return call->sink->ended; }));
  EXPECT_FALSE(call->sink->complete);
  EXPECT_EQ(call->sink->ends, 1);
  // The server saw the stream end cut short.
  EXPECT_TRUE(waitUntil([&] {
    std::lock_guard lock(record_.mutex);
    return record_.finishes.size() == 1;
  }));
  {
    std::lock_guard lock(record_.mutex);
    EXPECT_FALSE(record_.finishes[0]);
  }
  auto after = client.send(client.head("/hello"));
  ASSERT_TRUE(client.wait(after));
  EXPECT_EQ(bodyOf(after), "hello");
  EXPECT_EQ(server->connectionCount(), 1u);
}

TEST_F(ClientH2Test, ResetBeforeTheHeadSuppressesTheHandler) {
  auto server = startServer();
  H2Client client(server->port);
  ASSERT_EQ(client.error, "");
  auto call = client.send(client.head("/hold"));
  ASSERT_TRUE(waitUntil([&] { return record_.heldCount() == 1; }));
  client.onExchange(call, [](ClientExchangeImpl& e) { e.reset(); });
  ASSERT_TRUE(client.wait(call));
  EXPECT_FALSE(call->clean);
  EXPECT_FALSE(call->answered());  // no handler call after reset()
}

TEST_F(ClientH2Test, ServerResetBeforeAndAfterTheHead) {
  auto server = startServer();
  H2Client client(server->port);
  ASSERT_EQ(client.error, "");
  auto before = client.send(client.head("/reset"));
  auto after = client.send(client.head("/abort"));
  ASSERT_TRUE(client.wait(before));
  ASSERT_TRUE(client.wait(after));
  EXPECT_EQ(before->failure(), "the server reset the stream: INTERNAL_ERROR");
  EXPECT_FALSE(before->clean);
  EXPECT_EQ(after->status(), 200);
  EXPECT_FALSE(after->clean);
  EXPECT_TRUE(waitUntil([&] { return after->sink->ended; }));
  EXPECT_FALSE(after->sink->complete);
  EXPECT_TRUE(client.reusable());
}

TEST_F(ClientH2Test, ServerCloseMidStreamFailsTheExchangesAndClosesTheConnection) {
  auto server = startServer();
  H2Client client(server->port);
  ASSERT_EQ(client.error, "");
  auto held = client.send(client.head("/hold"));
  auto streaming = client.send(client.head("/endless"));
  ASSERT_TRUE(waitUntil([&] { return record_.heldCount() == 1 && streaming->sink->size() > 0; }));
  server->loop.call([&] {
    server->server->close();
    return 0;
  });
  ASSERT_TRUE(client.wait(held));
  ASSERT_TRUE(client.wait(streaming));
  EXPECT_FALSE(held->failure().empty());
  EXPECT_FALSE(held->clean);
  EXPECT_FALSE(streaming->clean);
  EXPECT_TRUE(waitUntil([&] { return streaming->sink->ended; }));
  EXPECT_FALSE(streaming->sink->complete);
  EXPECT_TRUE(waitUntil([&] { return client.closed == 1; }));
  EXPECT_FALSE(client.reusable());
  EXPECT_FALSE(client.canStart());
  // A request on a closed connection fails at once, with the reason.
  auto late = client.send(client.head("/hello"));
  client.onExchange(late,
                    [&](ClientExchangeImpl& e) { client.connection->start(e.shared_from_this()); });
  ASSERT_TRUE(client.wait(late));
  EXPECT_FALSE(late->failure().empty());
  EXPECT_FALSE(late->clean);
}

TEST_F(ClientH2Test, HeadAnd204And304HaveNoBody) {
  auto server = startServer();
  H2Client client(server->port);
  ASSERT_EQ(client.error, "");
  auto head = client.send(client.head("/hello", "HEAD"));
  auto no_content = client.send(client.head("/status?204"));
  auto not_modified = client.send(client.head("/status?304"));
  for (auto& call : {head, no_content, not_modified}) {
    ASSERT_TRUE(client.wait(call));
    EXPECT_TRUE(call->clean) << call->failure();
    EXPECT_TRUE(waitUntil([&] { return call->sink->ended; }));
    EXPECT_TRUE(call->sink->complete);
    EXPECT_EQ(bodyOf(call), "");
  }
  EXPECT_EQ(head->status(), 200);
  std::lock_guard lock(head->mutex);
  EXPECT_EQ(head->response->head.content_length, 5u);  // HEAD keeps the declared length
  EXPECT_EQ(no_content->status(), 204);
  EXPECT_EQ(not_modified->status(), 304);
}

TEST_F(ClientH2Test, ResponseHeadOverTheLimitsFailsTheRequestOnly) {
  auto server = startServer();
  ClientLimits limits;
  limits.max_header_bytes = 2048;
  limits.max_headers = 10;
  H2Client client(server->port, limits);
  ASSERT_EQ(client.error, "");
  auto bytes = client.send(client.head("/big-header?5000"));
  auto fields = client.send(client.head("/big-header?fields=20"));
  auto fine = client.send(client.head("/big-header?fields=3"));
  ASSERT_TRUE(client.wait(bytes));
  ASSERT_TRUE(client.wait(fields));
  ASSERT_TRUE(client.wait(fine));
  EXPECT_EQ(bytes->failure(), "response head too large: over 2048 bytes");
  EXPECT_EQ(fields->failure(), "response head too large: over 10 fields");
  EXPECT_EQ(fine->failure(), "");
  EXPECT_EQ(bodyOf(fine), "ok");
  EXPECT_TRUE(client.reusable());
}

TEST_F(ClientH2Test, ResponseAndBodyTimeouts) {
  auto server = startServer();
  ClientLimits limits;
  limits.response_timeout = 300ms;
  limits.body_timeout = 300ms;
  H2Client client(server->port, limits);
  ASSERT_EQ(client.error, "");
  auto no_head = client.send(client.head("/hold"));
  auto no_body = client.send(client.head("/stall"));
  ASSERT_TRUE(client.wait(no_head));
  ASSERT_TRUE(client.wait(no_body));
  EXPECT_EQ(no_head->failure(), "no response head within 300 ms");
  EXPECT_EQ(no_body->status(), 200);
  EXPECT_FALSE(no_body->clean);
  EXPECT_TRUE(waitUntil([&] { return no_body->sink->ended; }));
  EXPECT_FALSE(no_body->sink->complete);
  EXPECT_TRUE(client.reusable());
}

TEST_F(ClientH2Test, ConsumerSetAfterTheBodyArrivedGetsAllOfIt) {
  auto server = startServer();
  H2Client client(server->port);
  ASSERT_EQ(client.error, "");
  auto call = client.send(client.head("/big?100000"), nullptr, Consumer::Later);
  ASSERT_TRUE(waitUntil([&] { return call->answered(); }));
  std::this_thread::sleep_for(100ms);  // let the body arrive (it must be held, not dropped)
  EXPECT_FALSE(call->finished());
  client.onExchange(call, [&](ClientExchangeImpl& e) { e.setBodyConsumer(call->sink); });
  ASSERT_TRUE(client.wait(call));
  EXPECT_TRUE(call->clean);
  EXPECT_TRUE(bodyOf(call) == pattern(100000, 3));
}

// Not a check: prints what one connection does on this machine (run with
// --gtest_also_run_disabled_tests).
TEST_F(ClientH2Test, DISABLED_Throughput) {
  auto server = startServer(ServerLimits{.max_body_bytes = 1ull << 30});
  H2Client client(server->port);
  ASSERT_EQ(client.error, "");
  ASSERT_TRUE(waitUntil([&] { return client.ready >= 1; }));
  constexpr std::size_t kBig = 256 << 20;
  auto started = Clock::now();
  class Counting : public ByteConsumer {
   public:
    std::size_t offer(std::span<const uint8_t> bytes) override {
      total += bytes.size();
      return bytes.size();
    }
    void end(bool) override {}
    std::atomic<std::size_t> total{0};
  };
  auto counting = std::make_shared<Counting>();
  auto call = client.send(client.head("/endless"), nullptr, Consumer::Later);
  client.onExchange(call, [&](ClientExchangeImpl& e) { e.setBodyConsumer(counting); });
  ASSERT_TRUE(waitUntil([&] { return counting->total >= kBig; }, 120s));
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  client.onExchange(call, [](ClientExchangeImpl& e) { e.reset(); });
  std::printf("download: %.0f MB/s\n", counting->total / seconds / 1e6);

  started = Clock::now();
  std::vector<std::shared_ptr<Call>> calls;
  for (int i = 0; i < 20000; ++i) {
    calls.push_back(client.send(client.head("/hello")));
    if (calls.size() >= 100) {
      for (auto& c : calls) ASSERT_TRUE(client.wait(c));
      calls.clear();
    }
  }
  for (auto& c : calls) ASSERT_TRUE(client.wait(c));
  seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf("small GETs, 100 in flight: %.0f req/s\n", 20000 / seconds);
}

// ---------------------------------------------------------------------------------------------
// A scripted "server": TLS with ALPN h2 on 127.0.0.1:0, then frames written by hand. The script
// runs on its own thread with the accepted connection; every read is bounded (SO_RCVTIMEO).

struct Frame {
  uint8_t type = 0;
  uint8_t flags = 0;
  int32_t stream = 0;
  std::string payload;
};

constexpr uint8_t kData = 0, kHeaders = 1, kRst = 3, kSettings = 4, kPushPromise = 5, kPing = 6,
                  kGoaway = 7, kWindowUpdate = 8, kContinuation = 9;
constexpr uint8_t kEndStream = 1, kAck = 1, kEndHeaders = 4;

std::string frame(uint8_t type, uint8_t flags, int32_t stream, std::string_view payload) {
  std::string out;
  std::size_t length = payload.size();
  out.push_back(static_cast<char>(length >> 16));
  out.push_back(static_cast<char>(length >> 8));
  out.push_back(static_cast<char>(length));
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(flags));
  for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<char>((stream >> shift) & 0xff));
  out.append(payload);
  return out;
}

std::string be32(uint32_t value) {
  std::string out;
  for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<char>((value >> shift) & 0xff));
  return out;
}

// HPACK: an integer with an N-bit prefix, and a literal field without indexing (no Huffman).
void hpackInt(std::string& out, uint8_t first, int prefix, std::size_t value) {
  std::size_t max = (1u << prefix) - 1;
  if (value < max) {
    out.push_back(static_cast<char>(first | value));
    return;
  }
  out.push_back(static_cast<char>(first | max));
  value -= max;
  while (value >= 128) {
    out.push_back(static_cast<char>((value % 128) | 128));
    value /= 128;
  }
  out.push_back(static_cast<char>(value));
}

std::string literal(std::string_view name, std::string_view value) {
  std::string out(1, '\0');
  hpackInt(out, 0, 7, name.size());
  out.append(name);
  hpackInt(out, 0, 7, value.size());
  out.append(value);
  return out;
}

const std::string kStatus200 = "\x88";  // static table entry 8

class RawPeer {
 public:
  RawPeer(SSL* ssl) : ssl_(ssl) {}

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      int n = SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  bool send(uint8_t type, uint8_t flags, int32_t stream, std::string_view payload) {
    return send(frame(type, flags, stream, payload));
  }
  // The next frame from the client (its preface skipped); nullopt on EOF or timeout.
  std::optional<Frame> read() {
    while (true) {
      if (!preface_done_ && in_.size() >= 24) {
        if (in_.compare(0, 24, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") != 0) return std::nullopt;
        in_.erase(0, 24);
        preface_done_ = true;
      }
      if (preface_done_ && in_.size() >= 9) {
        auto byte = [&](std::size_t i) { return static_cast<uint8_t>(in_[i]); };
        std::size_t length = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        if (in_.size() >= 9 + length) {
          Frame f;
          f.type = byte(3);
          f.flags = byte(4);
          f.stream = static_cast<int32_t>(((byte(5) & 0x7f) << 24) | (byte(6) << 16) |
                                          (byte(7) << 8) | byte(8));
          f.payload = in_.substr(9, length);
          in_.erase(0, 9 + length);
          return f;
        }
      }
      char buffer[16384];
      int n = SSL_read(ssl_, buffer, sizeof buffer);
      if (n <= 0) return std::nullopt;
      in_.append(buffer, static_cast<std::size_t>(n));
    }
  }
  // Reads until a frame of `type` (on `stream`, if not 0) arrives.
  std::optional<Frame> waitFor(uint8_t type, int32_t stream = 0) {
    while (auto f = read()) {
      if (f->type == type && (stream == 0 || f->stream == stream)) return f;
    }
    return std::nullopt;
  }
  // Set by a script: end the connection when it returns (no GOAWAY, no TLS close_notify).
  bool hang_up = false;

  // Reads until the client closes (or the read times out); whether a GOAWAY came.
  bool drain() {
    bool goaway = false;
    while (auto f = read()) goaway = goaway || f->type == kGoaway;
    return goaway;
  }

 private:
  SSL* ssl_;
  std::string in_;
  bool preface_done_ = false;
};

class RawH2Server {
 public:
  using Script = std::function<void(RawPeer&)>;

  explicit RawH2Server(Script script) : script_(std::move(script)) {
    ::signal(SIGPIPE, SIG_IGN);  // OpenSSL writes with write(2): a closed peer must not kill us
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::listen(listener_, 4);
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port = ntohs(address.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~RawH2Server() {
    ::shutdown(listener_, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
  }

  uint16_t port = 0;
  std::atomic<bool> script_done{false};
  std::atomic<bool> saw_goaway{false};

 private:
  void run() {
    int fd = ::accept(listener_, nullptr, nullptr);
    if (fd < 0) return;
    timeval timeout{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    SSL* ssl = SSL_new(serverConfig()->context().get());
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      RawPeer peer(ssl);
      script_(peer);
      if (peer.hang_up) {
        // Closing with unread bytes from the client would send a RST, which can make the
        // client's kernel drop what it had received but not yet read: end the stream (FIN)
        // and read until the client closes instead (SO_RCVTIMEO bounds it).
        ::shutdown(fd, SHUT_WR);
        char sink[4096];
        while (::read(fd, sink, sizeof sink) > 0) {
        }
      } else {
        saw_goaway = peer.drain();
      }
    }
    script_done = true;
    SSL_free(ssl);
    ::close(fd);
  }

  Script script_;
  int listener_ = -1;
  std::thread thread_;
};

// The server's opening: its SETTINGS, then (after the client's SETTINGS) the ACK.
void open(RawPeer& peer) {
  peer.send(kSettings, 0, 0, "");
  peer.waitFor(kSettings);
  peer.send(kSettings, kAck, 0, "");
}

TEST(ClientH2Raw, GoawayRefusesTheStreamsItDidNotProcess) {
  RawH2Server server([](RawPeer& peer) {
    open(peer);
    peer.waitFor(kHeaders, 1);
    peer.waitFor(kHeaders, 3);
    peer.send(kGoaway, 0, 0, be32(1) + be32(0));  // stream 1 processed, 3 not
    peer.send(kHeaders, kEndHeaders, 1, kStatus200 + literal("x-raw", "yes"));
    peer.send(kData, kEndStream, 1, "ok");
  });
  H2Client client(server.port);
  ASSERT_EQ(client.error, "");
  auto first = client.send(client.head("/one"));
  auto second = client.send(client.head("/two"));
  ASSERT_TRUE(client.wait(first));
  ASSERT_TRUE(client.wait(second));
  EXPECT_TRUE(first->clean) << first->failure();
  EXPECT_EQ(bodyOf(first), "ok");
  EXPECT_EQ(second->failure(), "the server refused the request (GOAWAY): not processed");
  EXPECT_FALSE(client.reusable());
  EXPECT_FALSE(client.canStart());
  EXPECT_GE(client.ready, 1);
  // Nothing left to do on it: the client closes the connection.
  EXPECT_TRUE(waitUntil([&] { return client.closed == 1; }));
  EXPECT_TRUE(waitUntil([&] { return server.script_done.load(); }));
}

TEST(ClientH2Raw, InterimHeadsAreSkippedAndTrailersIgnored) {
  RawH2Server server([](RawPeer& peer) {
    open(peer);
    peer.waitFor(kHeaders, 1);
    std::string status100 =
        "\x08\x03"
        "100";  // literal, indexed name :status (8)
    peer.send(kHeaders, kEndHeaders, 1, status100);
    peer.send(kHeaders, kEndHeaders, 1, kStatus200 + literal("content-length", "4"));
    peer.send(kData, 0, 1, "body");
    peer.send(kHeaders, kEndHeaders | kEndStream, 1, literal("x-trailer", "t"));
  });
  H2Client client(server.port);
  ASSERT_EQ(client.error, "");
  auto call = client.send(client.head("/"));
  ASSERT_TRUE(client.wait(call));
  EXPECT_TRUE(call->clean) << call->failure();
  EXPECT_EQ(call->status(), 200);
  EXPECT_EQ(bodyOf(call), "body");
  std::lock_guard lock(call->mutex);
  EXPECT_EQ(call->response->head.content_length, 4u);
  EXPECT_TRUE(call->response->head.headers.empty());
}

TEST(ClientH2Raw, GarbageEndsTheConnectionCleanly) {
  RawH2Server server([](RawPeer& peer) {
    open(peer);
    peer.waitFor(kHeaders, 1);
    std::string garbage = pattern(200, 5);
    garbage[3] = 0x55;  // an unknown frame type first, then nonsense
    peer.send(garbage);
  });
  H2Client client(server.port);
  ASSERT_EQ(client.error, "");
  auto call = client.send(client.head("/"));
  ASSERT_TRUE(client.wait(call));
  EXPECT_EQ(call->failure().rfind("HTTP/2 protocol error from 127.0.0.1:", 0), 0u)
      << call->failure();
  EXPECT_TRUE(waitUntil([&] { return client.closed == 1; }));
  EXPECT_FALSE(client.reusable());
  EXPECT_TRUE(waitUntil([&] { return server.script_done.load(); }));
  EXPECT_TRUE(server.saw_goaway);
}

TEST(ClientH2Raw, PingFloodEndsTheConnection) {
  RawH2Server server([](RawPeer& peer) {
    open(peer);
    peer.waitFor(kHeaders, 1);
    std::string pings;
    for (int i = 0; i < 5000; ++i) pings += frame(kPing, 0, 0, std::string(8, 'p'));
    peer.send(pings);
  });
  H2Client client(server.port);
  ASSERT_EQ(client.error, "");
  auto call = client.send(client.head("/"));
  ASSERT_TRUE(client.wait(call));
  EXPECT_NE(call->failure().find("flood"), std::string::npos) << call->failure();
  EXPECT_TRUE(waitUntil([&] { return client.closed == 1; }));
}

TEST(ClientH2Raw, PushPromiseIsAProtocolError) {
  RawH2Server server([](RawPeer& peer) {
    open(peer);
    peer.waitFor(kHeaders, 1);
    peer.send(kPushPromise, kEndHeaders, 1, be32(2) + "\x82\x87\x84");
  });
  H2Client client(server.port);
  ASSERT_EQ(client.error, "");
  auto call = client.send(client.head("/"));
  ASSERT_TRUE(client.wait(call));
  EXPECT_EQ(call->failure().rfind("HTTP/2 protocol error", 0), 0u) << call->failure();
  EXPECT_TRUE(waitUntil([&] { return client.closed == 1; }));
}

TEST(ClientH2Raw, DataBeyondTheStreamWindowResetsTheStream) {
  RawH2Server server([](RawPeer& peer) {
    open(peer);
    peer.waitFor(kHeaders, 1);
    peer.send(kHeaders, kEndHeaders, 1, kStatus200);
    std::string chunk(16384, 'd');
    std::string burst;
    for (int i = 0; i < 20; ++i) burst += frame(kData, 0, 1, chunk);  // 320 KiB > 256 KiB
    peer.send(burst);
  });
  H2Client client(server.port);
  ASSERT_EQ(client.error, "");
  auto call = client.send(client.head("/"), nullptr, Consumer::Later);  // takes nothing
  ASSERT_TRUE(client.wait(call));
  EXPECT_EQ(call->status(), 200);
  EXPECT_FALSE(call->clean);
  EXPECT_TRUE(client.reusable());  // a stream error (RFC 9113 6.9), not a connection error
}

TEST(ClientH2Raw, EndlessContinuationsEndTheConnection) {
  RawH2Server server([](RawPeer& peer) {
    open(peer);
    peer.waitFor(kHeaders, 1);
    std::string block = kStatus200 + literal("x-big", std::string(300000, 'c'));
    std::size_t first = 16384;
    peer.send(kHeaders, 0, 1, block.substr(0, first));
    for (std::size_t at = first; at < block.size(); at += 16384) {
      if (!peer.send(kContinuation, 0, 1, block.substr(at, 16384))) break;
    }
  });
  H2Client client(server.port);
  ASSERT_EQ(client.error, "");
  auto call = client.send(client.head("/"));
  ASSERT_TRUE(client.wait(call));
  EXPECT_EQ(call->failure().rfind("HTTP/2 protocol error", 0), 0u) << call->failure();
  EXPECT_TRUE(waitUntil([&] { return client.closed == 1; }));
}

TEST(ClientH2Raw, ServerResetIsReportedAndCloseCutsTheRest) {
  RawH2Server server([](RawPeer& peer) {
    open(peer);
    peer.waitFor(kHeaders, 1);
    peer.waitFor(kHeaders, 3);
    peer.send(kRst, 0, 1, be32(8));  // CANCEL
    peer.send(kHeaders, kEndHeaders, 3, kStatus200);
    peer.send(kData, 0, 3, "partial");
    peer.send(kWindowUpdate, 0, 0, be32(1000));
  });
  H2Client client(server.port);
  ASSERT_EQ(client.error, "");
  auto reset = client.send(client.head("/a"));
  auto cut = client.send(client.head("/b"));
  ASSERT_TRUE(client.wait(reset));
  EXPECT_EQ(reset->failure(), "the server reset the stream: CANCEL");
  ASSERT_TRUE(waitUntil([&] { return cut->sink->size() == 7; }));
  EXPECT_FALSE(cut->finished());
  client.loop.call([&] {
    client.connection->close("closed by the test");
    return 0;
  });
  ASSERT_TRUE(client.wait(cut));
  EXPECT_FALSE(cut->clean);
  EXPECT_TRUE(waitUntil([&] { return cut->sink->ended; }));
  EXPECT_FALSE(cut->sink->complete);
  EXPECT_TRUE(waitUntil([&] { return client.closed == 1; }));
}

TEST(ClientH2Raw, ServerThatClosesMidResponseFailsTheExchange) {
  RawH2Server server([](RawPeer& peer) {
    open(peer);
    peer.waitFor(kHeaders, 1);
    peer.send(kHeaders, kEndHeaders, 1, kStatus200);
    peer.send(kData, 0, 1, "some");
    peer.hang_up = true;
  });
  H2Client client(server.port);
  ASSERT_EQ(client.error, "");
  auto call = client.send(client.head("/"));
  ASSERT_TRUE(client.wait(call));
  EXPECT_EQ(call->status(), 200);
  EXPECT_FALSE(call->clean);
  EXPECT_TRUE(waitUntil([&] { return call->sink->ended; }));
  EXPECT_FALSE(call->sink->complete);
  EXPECT_TRUE(waitUntil([&] { return client.closed == 1; }));
  EXPECT_FALSE(client.reusable());
}

TEST(ClientH2Raw, ServerThatGivesNoCreditForTheBodyTimesTheStreamOut) {
  RawH2Server server([](RawPeer& peer) {
    open(peer);
    peer.waitFor(kHeaders, 1);
    // Reads what comes (the first 64 KiB window) but never sends WINDOW_UPDATE.
  });
  ClientLimits limits;
  limits.send_timeout = 300ms;
  H2Client client(server.port, limits);
  ASSERT_EQ(client.error, "");
  RequestHead head = client.head("/upload", "POST");
  head.content_length = 1 << 20;
  auto call = client.send(head, std::make_shared<StringProducer>(std::string(1 << 20, 'u')));
  ASSERT_TRUE(client.wait(call));
  EXPECT_EQ(call->failure(),
            "the server took none of the request body within 300 ms (flow control)");
  EXPECT_TRUE(client.reusable());
}

TEST(ClientH2Raw, ServerThatReadsNothingIsClosedAfterTheSendTimeout) {
  std::atomic<bool> done{false};
  RawH2Server server([&done](RawPeer& peer) {
    peer.send(kSettings, 0, 0, std::string("\x00\x04", 2) + be32(0x7fffffff));
    peer.waitFor(kSettings);
    peer.send(kSettings, kAck, 0, "");
    peer.send(kWindowUpdate, 0, 0, be32(0x7fff0000));
    waitUntil([&] { return done.load(); }, 20s);  // reads nothing meanwhile
    peer.hang_up = true;
  });
  ClientLimits limits;
  limits.send_timeout = 500ms;
  limits.response_timeout = 60s;
  H2Client client(server.port, limits);
  ASSERT_EQ(client.error, "");
  ASSERT_TRUE(waitUntil([&] { return client.ready >= 1; }));  // the server's SETTINGS are in
  auto call = client.send(client.head("/upload", "POST"), std::make_shared<EndlessProducer>());
  ASSERT_TRUE(client.wait(call));
  done = true;
  EXPECT_EQ(call->failure(), "the server reads nothing (send timeout after 500 ms)");
  EXPECT_TRUE(waitUntil([&] { return client.closed == 1; }));
  EXPECT_FALSE(client.reusable());
}

// ---------------------------------------------------------------------------------------------
// nginx as a second real HTTP/2 server.

class Nginx {
 public:
  Nginx() {
    auto probe = runProcess({"nginx", "-V"}, dir_.path, 10s);
    if (probe.err.find("--with-http_v2_module") == std::string::npos) {
      skip = "nginx has no http_v2 module";
      return;
    }
    std::filesystem::create_directories(dir_.path / "www");
    std::filesystem::create_directories(dir_.path / "logs");
    {
      std::ofstream(dir_.path / "www" / "big.bin", std::ios::binary) << pattern(3 << 20, 21);
      std::ofstream(dir_.path / "www" / "small.txt") << "small file\n";
    }
    port = freePort();
    bool echo = std::filesystem::exists("/usr/lib/nginx/modules/ngx_http_echo_module.so");
    std::ofstream conf(dir_.path / "nginx.conf");
    std::string d = dir_.path.string();
    if (echo) conf << "load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;\n";
    conf << "daemon off;\nmaster_process off;\nworker_processes 1;\npid " << d << "/nginx.pid;\n"
         << "error_log " << d << "/logs/error.log warn;\n"
         << "events { worker_connections 64; }\n"
         << "http {\n  access_log off;\n"
         << "  client_body_temp_path " << d << "/body;\n  proxy_temp_path " << d << "/proxy;\n"
         << "  fastcgi_temp_path " << d << "/fastcgi;\n  uwsgi_temp_path " << d << "/uwsgi;\n"
         << "  scgi_temp_path " << d << "/scgi;\n"
         << "  server {\n    listen 127.0.0.1:" << port << " ssl http2;\n"
         << "    ssl_certificate " << (certDir() / "server.crt").string() << ";\n"
         << "    ssl_certificate_key " << (certDir() / "server.key").string() << ";\n"
         << "    ssl_protocols TLSv1.2 TLSv1.3;\n"
         << "    root " << d << "/www;\n"
         << "    client_max_body_size 16m;\n    client_body_buffer_size 16m;\n";
    if (echo) {
      conf << "    location /echo { echo_read_request_body; echo_request_body; }\n";
      has_echo = true;
    }
    conf << "  }\n}\n";
    conf.close();
    std::vector<std::string> argv{
        "nginx", "-p", d, "-c", d + "/nginx.conf", "-e", d + "/logs/error.log"};
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    if (posix_spawnp(&pid_, "nginx", nullptr, nullptr, args.data(), environ) != 0) {
      skip = "cannot start nginx";
      pid_ = -1;
      return;
    }
    bool up = waitUntil(
        [&] {
          RawClient probe_client(port);
          return probe_client.connected();
        },
        10s);
    if (!up) skip = "nginx did not start listening: " + readLog();
  }
  ~Nginx() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      if (!waitUntil([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, 10s)) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
    }
  }
  std::string readLog() {
    std::ifstream in(dir_.path / "logs" / "error.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::string skip;
  uint16_t port = 0;
  bool has_echo = false;

 private:
  static uint16_t freePort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(fd);
    return ntohs(address.sin_port);
  }

  TempDir dir_;
  pid_t pid_ = -1;
};

TEST(ClientH2Nginx, GetsFilesHeadAnd404AndEchoesAPost) {
  Nginx nginx;
  if (!nginx.skip.empty()) GTEST_SKIP() << nginx.skip;
  H2Client client(nginx.port);
  ASSERT_EQ(client.error, "");
  auto big = client.send(client.head("/big.bin"));
  auto small = client.send(client.head("/small.txt"));
  auto head = client.send(client.head("/big.bin", "HEAD"));
  auto missing = client.send(client.head("/missing"));
  for (auto& call : {big, small, head, missing}) {
    ASSERT_TRUE(client.wait(call, 30s));
    EXPECT_TRUE(call->clean) << call->failure();
  }
  EXPECT_EQ(big->status(), 200);
  EXPECT_TRUE(bodyOf(big) == pattern(3 << 20, 21));
  {
    std::lock_guard lock(big->mutex);
    EXPECT_EQ(big->response->head.content_length, uint64_t{3 << 20});
  }
  EXPECT_EQ(bodyOf(small), "small file\n");
  EXPECT_EQ(head->status(), 200);
  EXPECT_EQ(bodyOf(head), "");
  EXPECT_EQ(missing->status(), 404);
  if (nginx.has_echo) {
    std::string body = pattern(1 << 20, 22);
    RequestHead post = client.head("/echo", "POST");
    post.content_length = body.size();
    auto echo = client.send(post, std::make_shared<StringProducer>(body, 10000));
    ASSERT_TRUE(client.wait(echo, 30s));
    EXPECT_TRUE(echo->clean) << echo->failure();
    EXPECT_EQ(echo->status(), 200);
    EXPECT_TRUE(bodyOf(echo) == body) << bodyOf(echo).size();
  }
  EXPECT_TRUE(client.reusable());
}

}  // namespace
}  // namespace selium::net::http
