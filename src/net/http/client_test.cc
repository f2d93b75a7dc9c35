// The HTTP client against real servers: our own Server (plain and TLS), nginx, and raw TCP
// servers scripted in the test for what no well-behaved server sends (malformed, slow, closing
// mid-body).
#include "net/http/client.h"

#include <gtest/gtest.h>

#include <atomic>

#include "net/http/http_test_support.h"
#include "net/tls/tls_config.h"
#include "util/certs.h"

namespace selium::net::http {
namespace {

using namespace testing;

// --- Bytes with a checkable pattern.

uint8_t patternByte(uint64_t offset) { return static_cast<uint8_t>((offset * 7 + offset / 4093)); }

// Produces `total` pattern bytes in pieces of at most `piece`, then End; counts what it gave.
class PatternProducer : public ByteProducer {
 public:
  explicit PatternProducer(uint64_t total, std::size_t piece = 1 << 20)
      : total_(total), piece_(piece) {}
  Chunk read(std::span<uint8_t> out) override {
    uint64_t at = produced.load();
    if (at == total_) return {State::End, 0};
    std::size_t n = static_cast<std::size_t>(std::min<uint64_t>({out.size(), piece_, total_ - at}));
    for (std::size_t i = 0; i < n; ++i) out[i] = patternByte(at + i);
    produced += n;
    return {State::Data, n};
  }
  std::atomic<uint64_t> produced{0};

 private:
  uint64_t total_;
  std::size_t piece_;
};

// Checks that what it gets is the pattern; takes nothing while `hold` is set.
class PatternConsumer : public ByteConsumer {
 public:
  std::size_t offer(std::span<const uint8_t> bytes) override {
    ++offers;
    if (hold) return 0;
    uint64_t at = received.load();
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      if (bytes[i] != patternByte(at + i)) mismatch = true;
    }
    received += bytes.size();
    return bytes.size();
  }
  void end(bool complete) override {
    this->complete = complete;
    ended = true;
  }
  std::atomic<bool> hold{false};
  std::atomic<uint64_t> received{0};
  std::atomic<int> offers{0};
  std::atomic<bool> mismatch{false};
  std::atomic<bool> ended{false};
  std::atomic<bool> complete{false};
};

// --- One request as the test sees it.

struct Call {
  std::mutex mutex;
  std::optional<ClientResponse> response;
  std::optional<std::string> error;  // the handler's Error
  std::optional<bool> finished;      // onFinished's `clean`
  std::string send_error;            // send() refused it
  int handler_calls = 0;
  std::shared_ptr<ClientExchange> exchange;
  std::shared_ptr<CollectingConsumer> body = std::make_shared<CollectingConsumer>();

  bool waitFinished(std::chrono::milliseconds timeout = 20s) {
    return waitUntil(
        [&] {
          std::lock_guard lock(mutex);
          return finished.has_value();
        },
        timeout);
  }
  int status() {
    std::lock_guard lock(mutex);
    return response ? response->head.status : 0;
  }
  std::string errorText() {
    std::lock_guard lock(mutex);
    return error.value_or("");
  }
  std::string bodyText() {
    std::lock_guard lock(mutex);
    std::lock_guard body_lock(body->mutex);
    return body->data;
  }
  bool bodyComplete() {
    std::lock_guard body_lock(body->mutex);
    return body->ended && body->complete;
  }
  bool clean() {
    std::lock_guard lock(mutex);
    return finished.value_or(false);
  }
};

enum class Consumer : uint8_t { AtOnce, None };

RequestHead makeHead(std::string method, std::string target, std::vector<Header> headers = {},
                     std::optional<uint64_t> content_length = std::nullopt) {
  RequestHead head;
  head.method = std::move(method);
  head.target = std::move(target);
  head.headers = std::move(headers);
  head.content_length = content_length;
  return head;
}

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

// A listener on 127.0.0.1 whose connections a script serves, one after the other, on a thread
// of its own: for the responses no real server sends.
class RawServer {
 public:
  class Peer {
   public:
    explicit Peer(int fd) : fd_(fd) { ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK); }
    ~Peer() { ::close(fd_); }
    // The next request head (through its empty line); nullopt if none within `timeout`.
    std::optional<std::string> readHead(std::chrono::milliseconds timeout = 10s) {
      auto deadline = Clock::now() + timeout;
      while (true) {
        auto end = pending_.find("\r\n\r\n");
        if (end != std::string::npos) {
          std::string head = pending_.substr(0, end + 4);
          pending_.erase(0, end + 4);
          return head;
        }
        if (!receive(deadline)) return std::nullopt;
      }
    }
    // Reads `n` more bytes (after the head).
    std::optional<std::string> readBytes(std::size_t n, std::chrono::milliseconds timeout = 10s) {
      auto deadline = Clock::now() + timeout;
      while (pending_.size() < n) {
        if (!receive(deadline)) return std::nullopt;
      }
      std::string out = pending_.substr(0, n);
      pending_.erase(0, n);
      return out;
    }
    bool send(std::string_view bytes) {
      auto deadline = Clock::now() + 10s;
      while (!bytes.empty()) {
        ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n > 0) {
          bytes.remove_prefix(static_cast<std::size_t>(n));
          continue;
        }
        if (n < 0 && errno != EAGAIN) return false;
        pollfd p{fd_, POLLOUT, 0};
        if (Clock::now() > deadline || ::poll(&p, 1, 100) < 0) return false;
      }
      return true;
    }
    // True once the client closed the connection (within `timeout`).
    bool waitClosed(std::chrono::milliseconds timeout = 10s) {
      auto deadline = Clock::now() + timeout;
      while (receive(deadline)) {
      }
      return eof_;
    }

   private:
    bool receive(Clock::time_point deadline) {
      while (!eof_) {
        char chunk[65536];
        ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n > 0) {
          pending_.append(chunk, static_cast<std::size_t>(n));
          return true;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
          eof_ = true;
          return false;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd_, POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 100)));
      }
      return false;
    }
    int fd_;
    bool eof_ = false;
    std::string pending_;
  };
  using Script = std::function<void(Peer&)>;

  explicit RawServer(Script script) : script_(std::move(script)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::listen(fd_, 16);
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port = ntohs(address.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~RawServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  uint16_t port = 0;
  std::atomic<int> accepted{0};
  std::atomic<int> served{0};  // scripts that returned

 private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) continue;
      ++accepted;
      Peer peer(client);
      script_(peer);
      ++served;
    }
  }
  Script script_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A port nothing listens on (bound once, then released).
uint16_t closedPort() {
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

class ClientTest : public ::testing::Test {
 protected:
  void TearDown() override { closeClient(); }

  void closeClient() {
    loop_.call([&] {
      if (client_) client_->close();
      client_.reset();
      return 0;
    });
  }

  void makeClient(Origin origin, ClientLimits limits = {}) {
    loop_.call([&] {
      if (client_) client_->close();
      client_ = Client::create(loop_.io, std::move(origin), limits);
      return 0;
    });
  }
  void makeClient(uint16_t port, ClientLimits limits = {}) {
    makeClient(Origin{"127.0.0.1", port, nullptr}, limits);
  }

  std::shared_ptr<Call> send(RequestHead head, std::shared_ptr<ByteProducer> body = nullptr,
                             Consumer consumer = Consumer::AtOnce) {
    auto call = std::make_shared<Call>();
    loop_.call([&] {
      sendOnLoop(call, std::move(head), std::move(body), consumer);
      return 0;
    });
    return call;
  }

  // On the loop thread.
  void sendOnLoop(const std::shared_ptr<Call>& call, RequestHead head,
                  std::shared_ptr<ByteProducer> body, Consumer consumer) {
    auto result =
        client_->send(std::move(head), std::move(body), [call](Result<ClientResponse> response) {
          std::lock_guard lock(call->mutex);
          ++call->handler_calls;
          if (response) {
            call->response = std::move(response.value());
          } else {
            call->error = response.error().message;
          }
        });
    if (!result) {
      std::lock_guard lock(call->mutex);
      call->send_error = result.error().message;
      call->finished = false;
      return;
    }
    call->exchange = result.value();
    if (consumer == Consumer::AtOnce) call->exchange->setBodyConsumer(call->body);
    call->exchange->onFinished([call](bool clean) {
      std::lock_guard lock(call->mutex);
      call->finished = clean;
    });
  }

  std::shared_ptr<Call> get(const std::string& target) { return send(makeHead("GET", target)); }

  std::size_t pending() {
    return loop_.call([&] { return client_->pending(); });
  }
  ClientConnectionInfo info() {
    return loop_.call([&] { return client_->connectionInfo(); });
  }

  // A server whose handler records the heads and peers it sees before passing the exchange on.
  std::unique_ptr<TestServer> startServer(ServerOptions options = {},
                                          RequestHandler handler = echo) {
    auto server = std::make_unique<TestServer>(
        std::move(options), [this, handler = std::move(handler)](std::shared_ptr<Exchange> ex) {
          {
            std::lock_guard lock(mutex_);
            heads_.push_back(ex->head());
            peers_.push_back(ex->peer());
          }
          handler(std::move(ex));
        });
    EXPECT_EQ(server->error, "");
    return server;
  }
  std::vector<RequestHead> heads() {
    std::lock_guard lock(mutex_);
    return heads_;
  }
  std::vector<PeerInfo> peers() {
    std::lock_guard lock(mutex_);
    return peers_;
  }

  LoopThread loop_;
  std::shared_ptr<Client> client_;
  TempDir dir_;
  std::mutex mutex_;
  std::vector<RequestHead> heads_;
  std::vector<PeerInfo> peers_;
};

// --- Requests and responses.

TEST_F(ClientTest, GetsAResponseWithContentLength) {
  auto server = startServer();
  makeClient(server->port);
  auto call = send(makeHead("GET", "/hello?x=1", {{"X-Test", "yes"}, {"Accept", "*/*"}}));
  ASSERT_TRUE(call->waitFinished());
  EXPECT_EQ(call->errorText(), "");
  EXPECT_TRUE(call->clean());
  ASSERT_EQ(call->status(), 200);
  std::lock_guard lock(call->mutex);
  EXPECT_EQ(call->response->version, 11);
  EXPECT_EQ(call->response->head.content_length, std::optional<uint64_t>(15));
  bool has_type = false;
  for (const auto& h : call->response->head.headers) {
    EXPECT_NE(h.name, "content-length");
    EXPECT_NE(h.name, "connection");
    if (h.name == "content-type") has_type = h.value == "text/plain";
  }
  EXPECT_TRUE(has_type);
  EXPECT_EQ(call->handler_calls, 1);
  {
    std::lock_guard body_lock(call->body->mutex);
    EXPECT_EQ(call->body->data, "GET /hello?x=1\n");
    EXPECT_TRUE(call->body->ended && call->body->complete);
  }
  auto seen = heads();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].authority, "127.0.0.1:" + std::to_string(server->port));
  EXPECT_EQ(seen[0].content_length, std::optional<uint64_t>(0));
  ASSERT_EQ(seen[0].headers.size(), 2u);
  EXPECT_EQ(seen[0].headers[0].name, "x-test");
  EXPECT_EQ(seen[0].headers[0].value, "yes");
}

TEST_F(ClientTest, PostsABodyOfKnownLength) {
  auto server = startServer();
  makeClient(server->port);
  std::string body(100000, 'q');
  body[0] = 'a';
  body.back() = 'z';
  auto call = send(makeHead("POST", "/upload", {}, body.size()),
                   std::make_shared<StringProducer>(body, 7000));
  ASSERT_TRUE(call->waitFinished());
  EXPECT_TRUE(call->clean()) << call->errorText();
  EXPECT_TRUE(call->bodyText() == "POST /upload\n" + body);
  auto seen = heads();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].content_length, std::optional<uint64_t>(body.size()));
}

TEST_F(ClientTest, StreamsMebibytesBothWaysChunked) {
  static constexpr uint64_t kUp = 3 * 1024 * 1024 + 17;
  static constexpr uint64_t kDown = 5 * 1024 * 1024 + 3;
  std::atomic<uint64_t> server_received{0};
  std::atomic<bool> server_mismatch{false};
  auto server = startServer({}, [&](std::shared_ptr<Exchange> ex) {
    auto checker = std::make_shared<PatternConsumer>();
    std::weak_ptr<Exchange> weak = ex;
    // Answers once the upload is complete, with a streamed (chunked) body.
    class Answer : public PatternConsumer {
     public:
      Answer(std::weak_ptr<Exchange> ex, std::atomic<uint64_t>& total, std::atomic<bool>& bad)
          : ex_(std::move(ex)), total_(total), bad_(bad) {}
      void end(bool complete) override {
        total_ = received.load();
        bad_ = mismatch.load();
        auto ex = ex_.lock();
        if (!ex || !complete) return;
        ResponseHead head = textHead(200);
        ex->respond(head, std::make_shared<PatternProducer>(kDown, 10000));
      }

     private:
      std::weak_ptr<Exchange> ex_;
      std::atomic<uint64_t>& total_;
      std::atomic<bool>& bad_;
    };
    ex->setBodyConsumer(std::make_shared<Answer>(weak, server_received, server_mismatch));
  });
  makeClient(server->port);
  auto consumer = std::make_shared<PatternConsumer>();
  auto call = std::make_shared<Call>();
  loop_.call([&] {
    sendOnLoop(call, makeHead("PUT", "/big"), std::make_shared<PatternProducer>(kUp, 5000),
               Consumer::None);
    call->exchange->setBodyConsumer(consumer);
    return 0;
  });
  ASSERT_TRUE(call->waitFinished(60s));
  EXPECT_TRUE(call->clean()) << call->errorText();
  EXPECT_EQ(server_received.load(), kUp);
  EXPECT_FALSE(server_mismatch.load());
  EXPECT_EQ(call->status(), 200);
  {
    std::lock_guard lock(call->mutex);
    EXPECT_EQ(call->response->head.content_length, std::nullopt);  // chunked
  }
  ASSERT_TRUE(waitUntil([&] { return consumer->ended.load(); }));
  EXPECT_TRUE(consumer->complete);
  EXPECT_EQ(consumer->received.load(), kDown);
  EXPECT_FALSE(consumer->mismatch.load());
  auto seen = heads();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].content_length, std::nullopt);  // it went chunked
}

TEST_F(ClientTest, ReusesTheKeepAliveConnection) {
  auto server = startServer();
  makeClient(server->port);
  for (int i = 0; i < 3; ++i) {
    auto call = get("/" + std::to_string(i));
    ASSERT_TRUE(call->waitFinished());
    EXPECT_EQ(call->bodyText(), "GET /" + std::to_string(i) + "\n");
  }
  auto seen = peers();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].remote_address, seen[1].remote_address);
  EXPECT_EQ(seen[1].remote_address, seen[2].remote_address);
  EXPECT_EQ(server->connectionCount(), 1u);
  EXPECT_EQ(info().remote_address, "127.0.0.1:" + std::to_string(server->port));
  EXPECT_EQ(info().alpn, "");
  EXPECT_EQ(pending(), 0u);
}

TEST_F(ClientTest, RunsQueuedRequestsInOrderOnOneConnection) {
  auto server = startServer();
  makeClient(server->port);
  std::vector<std::shared_ptr<Call>> calls;
  loop_.call([&] {
    for (int i = 0; i < 6; ++i) {
      auto call = std::make_shared<Call>();
      sendOnLoop(call, makeHead("GET", "/q" + std::to_string(i)), nullptr, Consumer::AtOnce);
      calls.push_back(call);
    }
    EXPECT_EQ(client_->pending(), 6u);
    return 0;
  });
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(calls[i]->waitFinished());
    EXPECT_TRUE(calls[i]->clean());
    EXPECT_EQ(calls[i]->bodyText(), "GET /q" + std::to_string(i) + "\n");
  }
  auto seen = heads();
  ASSERT_EQ(seen.size(), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(seen[i].target, "/q" + std::to_string(i));
  auto who = peers();
  for (const auto& peer : who) EXPECT_EQ(peer.remote_address, who[0].remote_address);
  EXPECT_EQ(pending(), 0u);
}

TEST_F(ClientTest, ConnectionCloseMakesTheNextRequestReconnect) {
  RawServer raw([](RawServer::Peer& peer) {
    if (!peer.readHead()) return;
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\none");
    peer.waitClosed(2s);
  });
  makeClient(raw.port);
  auto first = get("/1");
  ASSERT_TRUE(first->waitFinished());
  EXPECT_TRUE(first->clean()) << first->errorText();
  EXPECT_EQ(first->bodyText(), "one");
  auto second = get("/2");
  ASSERT_TRUE(second->waitFinished());
  EXPECT_TRUE(second->clean()) << second->errorText();
  EXPECT_EQ(second->bodyText(), "one");
  EXPECT_EQ(raw.accepted.load(), 2);
}

TEST_F(ClientTest, ReadsABodyDelimitedByTheConnectionsEnd) {
  RawServer raw([](RawServer::Peer& peer) {
    if (!peer.readHead()) return;
    peer.send("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
  });
  makeClient(raw.port);
  auto call = get("/");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_TRUE(call->clean()) << call->errorText();
  EXPECT_EQ(call->bodyText(), "until the end");
  std::lock_guard lock(call->mutex);
  EXPECT_EQ(call->response->version, 10);
  EXPECT_EQ(call->response->head.content_length, std::nullopt);
}

TEST_F(ClientTest, HeadAnd204And304HaveNoBody) {
  auto server = startServer({}, [](std::shared_ptr<Exchange> ex) {
    ResponseHead head = textHead(200);
    if (ex->head().target == "/204") head.status = 204;
    if (ex->head().target == "/304") head.status = 304;
    head.content_length = 1234;
    ex->respond(head, std::make_shared<StringProducer>(std::string(1234, 'x')));
  });
  makeClient(server->port);
  auto head = send(makeHead("HEAD", "/"));
  ASSERT_TRUE(head->waitFinished());
  EXPECT_TRUE(head->clean()) << head->errorText();
  EXPECT_EQ(head->status(), 200);
  EXPECT_TRUE(head->bodyComplete());
  EXPECT_EQ(head->bodyText(), "");
  {
    std::lock_guard lock(head->mutex);
    EXPECT_EQ(head->response->head.content_length, std::optional<uint64_t>(1234));
  }
  for (std::string target : {"/204", "/304"}) {
    // No consumer at all: the exchange still finishes; one set later ends at once.
    auto call = send(makeHead("GET", target), nullptr, Consumer::None);
    ASSERT_TRUE(call->waitFinished()) << target;
    EXPECT_TRUE(call->clean()) << call->errorText();
    EXPECT_EQ(call->status(), std::stoi(target.substr(1)));
    loop_.call([&] {
      call->exchange->setBodyConsumer(call->body);
      return 0;
    });
    EXPECT_TRUE(waitUntil([&] { return call->bodyComplete(); }));
  }
  auto after = get("/after");
  ASSERT_TRUE(after->waitFinished());
  EXPECT_EQ(after->bodyText(), std::string(1234, 'x'));
  auto seen = peers();
  ASSERT_EQ(seen.size(), 4u);
  for (const auto& peer : seen) EXPECT_EQ(peer.remote_address, seen[0].remote_address);
}

TEST_F(ClientTest, SkipsInterimResponses) {
  RawServer raw([](RawServer::Peer& peer) {
    if (!peer.readHead()) return;
    peer.send(
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-Final: 1\r\n\r\nok");
    peer.waitClosed(2s);
  });
  makeClient(raw.port);
  auto call = get("/");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_TRUE(call->clean()) << call->errorText();
  EXPECT_EQ(call->status(), 201);
  EXPECT_EQ(call->bodyText(), "ok");
  std::lock_guard lock(call->mutex);
  ASSERT_EQ(call->response->head.headers.size(), 1u);
  EXPECT_EQ(call->response->head.headers[0].name, "x-final");
}

TEST_F(ClientTest, RefusesSwitchingProtocols) {
  RawServer raw([](RawServer::Peer& peer) {
    if (!peer.readHead()) return;
    peer.send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
    peer.waitClosed(2s);
  });
  makeClient(raw.port);
  auto call = get("/");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_FALSE(call->clean());
  EXPECT_NE(call->errorText().find("switched protocols (101)"), std::string::npos)
      << call->errorText();
}

TEST_F(ClientTest, ServerClosingMidBodyEndsItUnclean) {
  RawServer raw([](RawServer::Peer& peer) {
    if (!peer.readHead()) return;
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..");
  });
  makeClient(raw.port);
  auto call = get("/");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_FALSE(call->clean());
  EXPECT_EQ(call->status(), 200);
  EXPECT_EQ(call->bodyText(), "only ten..");
  std::lock_guard lock(call->body->mutex);
  EXPECT_TRUE(call->body->ended);
  EXPECT_FALSE(call->body->complete);
}

TEST_F(ClientTest, ServerClosingBeforeRespondingFailsTheRequest) {
  RawServer raw([](RawServer::Peer& peer) { peer.readHead(); });
  makeClient(raw.port);
  auto call = get("/");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_EQ(call->errorText(), "the server 127.0.0.1:" + std::to_string(raw.port) +
                                   " closed the connection before the response");
}

// --- Connecting.

TEST_F(ClientTest, ConnectRefusedNamesTheAddress) {
  uint16_t port = closedPort();
  makeClient(port);
  auto call = get("/");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_EQ(call->errorText(),
            "connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
  EXPECT_EQ(pending(), 0u);
  // The next request tries again (and finds a server this time).
  auto server = std::make_unique<TestServer>(ServerOptions{}, echo);
  makeClient(server->port);
  auto again = get("/again");
  ASSERT_TRUE(again->waitFinished());
  EXPECT_EQ(again->bodyText(), "GET /again\n");
}

TEST_F(ClientTest, EveryQueuedRequestFailsWithTheConnectError) {
  uint16_t port = closedPort();
  makeClient(port);
  auto first = get("/1");
  auto second = get("/2");
  ASSERT_TRUE(first->waitFinished());
  ASSERT_TRUE(second->waitFinished());
  EXPECT_EQ(first->errorText(), second->errorText());
  EXPECT_NE(first->errorText().find("Connection refused"), std::string::npos);
  // A new attempt after the failure.
  auto third = get("/3");
  ASSERT_TRUE(third->waitFinished());
  EXPECT_EQ(third->errorText(), first->errorText());
}

TEST_F(ClientTest, ResolvesLocalhost) {
  auto server = startServer();
  makeClient(Origin{"localhost", server->port, nullptr});
  auto call = get("/named");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_EQ(call->bodyText(), "GET /named\n") << call->errorText();
  EXPECT_EQ(heads()[0].authority, "localhost:" + std::to_string(server->port));
  EXPECT_EQ(info().remote_address, "127.0.0.1:" + std::to_string(server->port));
}

TEST_F(ClientTest, UnknownHostFailsNamingIt) {
  ClientLimits limits;
  limits.connect_timeout = 5s;
  makeClient(Origin{"no-such-host.invalid", 80, nullptr}, limits);
  auto call = get("/");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_EQ(call->errorText().rfind("connect to no-such-host.invalid:80: ", 0), 0u)
      << call->errorText();
}

TEST_F(ClientTest, ConnectsToIpv6Literals) {
  LoopThread server_loop;
  auto listened = server_loop.call([&] {
    return Server::listen(server_loop.io, asio::ip::tcp::endpoint(asio::ip::make_address("::1"), 0),
                          {}, echo);
  });
  if (!listened) GTEST_SKIP() << "no IPv6 loopback: " << listened.error().message;
  uint16_t port = server_loop.call([&] { return listened.value()->port(); });
  makeClient(Origin{"::1", port, nullptr});
  auto call = get("/six");
  bool finished = call->waitFinished();
  server_loop.call([&] {
    listened.value()->close();
    listened.value().reset();
    return 0;
  });
  ASSERT_TRUE(finished);
  EXPECT_EQ(call->bodyText(), "GET /six\n") << call->errorText();
  EXPECT_EQ(info().remote_address, "[::1]:" + std::to_string(port));
}

TEST_F(ClientTest, ConnectTimeoutBoundsTheAttempt) {
  // A listener whose backlog is full never completes a handshake for another connection (on
  // Linux the SYN is dropped): the connect hangs until our timeout.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(fd, 0), 0);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  uint16_t port = ntohs(address.sin_port);
  // Non-blocking fillers: the ones past the backlog stay in SYN-SENT themselves.
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    int filler = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(filler, reinterpret_cast<sockaddr*>(&address), sizeof address);
    fillers.push_back(filler);
  }
  ClientLimits limits;
  limits.connect_timeout = 300ms;
  makeClient(port, limits);
  auto call = get("/");
  bool finished = call->waitFinished();
  ::close(fd);
  for (int filler : fillers) ::close(filler);
  ASSERT_TRUE(finished);
  EXPECT_EQ(call->errorText(),
            "connect to 127.0.0.1:" + std::to_string(port) + ": timed out after 300 ms");
}

// --- Limits and malformed responses.

std::unique_ptr<RawServer> answering(std::string response) {
  return std::make_unique<RawServer>([response = std::move(response)](RawServer::Peer& peer) {
    if (!peer.readHead()) return;
    peer.send(response);
    peer.waitClosed(2s);
  });
}

TEST_F(ClientTest, MalformedStatusLineFails) {
  auto raw = answering("HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n");
  makeClient(raw->port);
  auto call = get("/");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_EQ(call->errorText().rfind(
                "malformed response from 127.0.0.1:" + std::to_string(raw->port) + ": ", 0),
            0u)
      << call->errorText();
  std::lock_guard lock(call->mutex);
  EXPECT_FALSE(call->response);
}

TEST_F(ClientTest, GarbageInsteadOfAResponseFails) {
  auto raw = answering("SSH-2.0-OpenSSH_9.2\r\n\r\n");
  makeClient(raw->port);
  auto call = get("/");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_EQ(call->errorText().rfind("malformed response from ", 0), 0u) << call->errorText();
}

TEST_F(ClientTest, OversizedResponseHeadFails) {
  auto raw = answering("HTTP/1.1 200 OK\r\nX-Big: " + std::string(4000, 'b') +
                       "\r\nContent-Length: 0\r\n\r\n");
  ClientLimits limits;
  limits.max_header_bytes = 1024;
  makeClient(raw->port, limits);
  auto call = get("/");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_NE(call->errorText().find("header limit exceeded (limit 1024 bytes)"), std::string::npos)
      << call->errorText();
}

TEST_F(ClientTest, EndlessResponseHeadFails) {
  // A head that never ends must not grow the buffer without bound.
  RawServer raw([](RawServer::Peer& peer) {
    if (!peer.readHead()) return;
    peer.send("HTTP/1.1 200 OK\r\n");
    std::string field = "X-Pad: " + std::string(1000, 'p') + "\r\n";
    for (int i = 0; i < 2000; ++i) {
      if (!peer.send(field)) return;
    }
  });
  makeClient(raw.port);
  auto call = get("/");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_NE(call->errorText().find("header limit exceeded (limit 65536 bytes)"), std::string::npos)
      << call->errorText();
}

TEST_F(ClientTest, TooManyHeaderFieldsFail) {
  std::string fields;
  for (int i = 0; i < 20; ++i) fields += "X-" + std::to_string(i) + ": v\r\n";
  auto raw = answering("HTTP/1.1 200 OK\r\n" + fields + "Content-Length: 0\r\n\r\n");
  ClientLimits limits;
  limits.max_headers = 10;
  makeClient(raw->port, limits);
  auto call = get("/");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_EQ(call->errorText(), "malformed response from 127.0.0.1:" + std::to_string(raw->port) +
                                   ": too many header fields: 21, limit 10");
}

TEST_F(ClientTest, BadChunkCutsTheBody) {
  auto raw = answering(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nnope\r\n0\r\n\r\n");
  makeClient(raw->port);
  auto call = get("/");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_FALSE(call->clean());
  EXPECT_EQ(call->status(), 200);
  EXPECT_EQ(call->bodyText(), "hello");
  std::lock_guard lock(call->body->mutex);
  EXPECT_TRUE(call->body->ended);
  EXPECT_FALSE(call->body->complete);
}

TEST_F(ClientTest, UnsupportedTransferCodingFails) {
  auto raw = answering("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n");
  makeClient(raw->port);
  auto call = get("/");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_NE(call->errorText().find("unsupported transfer-encoding gzip, chunked"),
            std::string::npos)
      << call->errorText();
}

TEST_F(ClientTest, ResponseTimeout) {
  RawServer raw([](RawServer::Peer& peer) {
    peer.readHead();
    peer.waitClosed(5s);  // reads the request, never answers
  });
  ClientLimits limits;
  limits.response_timeout = 200ms;
  makeClient(raw.port, limits);
  auto call = get("/");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_EQ(call->errorText(),
            "no response head from 127.0.0.1:" + std::to_string(raw.port) + " within 200 ms");
}

TEST_F(ClientTest, BodyTimeout) {
  RawServer raw([](RawServer::Peer& peer) {
    if (!peer.readHead()) return;
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    peer.waitClosed(5s);
  });
  ClientLimits limits;
  limits.body_timeout = 200ms;
  makeClient(raw.port, limits);
  auto call = get("/");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_FALSE(call->clean());
  EXPECT_EQ(call->bodyText(), "abc");
  EXPECT_TRUE(waitUntil([&] { return raw.served.load() == 1; }));  // we closed the connection
}

TEST_F(ClientTest, SendTimeoutWhenTheServerReadsNothing) {
  std::atomic<bool> release{false};
  RawServer raw([&](RawServer::Peer& peer) {
    peer.readHead(3s);  // reads the head, then nothing of the body
    waitUntil([&] { return release.load(); });
  });
  ClientLimits limits;
  limits.send_timeout = 300ms;
  makeClient(raw.port, limits);
  auto call =
      send(makeHead("POST", "/", {}, 64ull << 20), std::make_shared<PatternProducer>(64ull << 20));
  ASSERT_TRUE(call->waitFinished());
  release = true;
  EXPECT_EQ(call->errorText(), "the server 127.0.0.1:" + std::to_string(raw.port) +
                                   " took no request bytes for 300 ms");
}

// --- Backpressure, reset, close.

TEST_F(ClientTest, AFullConsumerHoldsTheServerBack) {
  static constexpr uint64_t kTotal = 48ull << 20;
  auto producer = std::make_shared<PatternProducer>(kTotal, 65536);
  auto server = startServer({}, [producer](std::shared_ptr<Exchange> ex) {
    ResponseHead head = textHead(200);
    head.content_length = kTotal;
    ex->respond(head, producer);
  });
  makeClient(server->port);
  auto consumer = std::make_shared<PatternConsumer>();
  consumer->hold = true;
  auto call = std::make_shared<Call>();
  loop_.call([&] {
    sendOnLoop(call, makeHead("GET", "/big"), nullptr, Consumer::None);
    call->exchange->setBodyConsumer(consumer);
    return 0;
  });
  ASSERT_TRUE(waitUntil([&] { return call->status() == 200 && consumer->offers.load() > 0; }));
  // The server's writes stall once the socket buffers are full: its producer stops being pulled.
  uint64_t last = 0;
  ASSERT_TRUE(waitUntil(
      [&] {
        uint64_t now = producer->produced.load();
        bool still = now == last;
        last = now;
        if (still) std::this_thread::sleep_for(200ms);
        return still && producer->produced.load() == now;
      },
      30s));
  EXPECT_LT(producer->produced.load(), kTotal / 2);
  EXPECT_EQ(consumer->received.load(), 0u);
  EXPECT_FALSE(call->waitFinished(100ms));
  // Resumed, it gets every byte.
  consumer->hold = false;
  loop_.call([&] {
    call->exchange->resumeBody();
    return 0;
  });
  ASSERT_TRUE(call->waitFinished(60s));
  EXPECT_TRUE(call->clean());
  EXPECT_EQ(consumer->received.load(), kTotal);
  EXPECT_FALSE(consumer->mismatch.load());
  EXPECT_TRUE(waitUntil([&] { return consumer->ended.load(); }));
  EXPECT_TRUE(consumer->complete.load());
}

TEST_F(ClientTest, ResetMidResponseClosesAndTheNextRequestReconnects) {
  std::atomic<int> server_finished_unclean{0};
  auto server = startServer({}, [&](std::shared_ptr<Exchange> ex) {
    if (ex->head().target == "/endless") {
      ex->onFinished([&](bool clean) {
        if (!clean) ++server_finished_unclean;
      });
      ex->respond(textHead(200), std::make_shared<PatternProducer>(1ull << 40, 16384));
      return;
    }
    echo(std::move(ex));
  });
  makeClient(server->port);
  auto consumer = std::make_shared<PatternConsumer>();
  auto call = std::make_shared<Call>();
  loop_.call([&] {
    sendOnLoop(call, makeHead("GET", "/endless"), nullptr, Consumer::None);
    call->exchange->setBodyConsumer(consumer);
    return 0;
  });
  ASSERT_TRUE(waitUntil([&] { return consumer->received.load() > 1000000; }));
  loop_.call([&] {
    call->exchange->reset();
    call->exchange->reset();  // idempotent
    return 0;
  });
  ASSERT_TRUE(call->waitFinished());
  EXPECT_FALSE(call->clean());
  EXPECT_TRUE(waitUntil([&] { return consumer->ended.load(); }));
  EXPECT_FALSE(consumer->complete.load());
  EXPECT_FALSE(consumer->mismatch.load());
  EXPECT_TRUE(waitUntil([&] { return server_finished_unclean.load() == 1; }));
  EXPECT_EQ(pending(), 0u);
  auto next = get("/next");
  ASSERT_TRUE(next->waitFinished());
  EXPECT_EQ(next->bodyText(), "GET /next\n");
  auto who = peers();
  ASSERT_EQ(who.size(), 2u);
  EXPECT_NE(who[0].remote_address, who[1].remote_address);
  std::lock_guard lock(call->mutex);
  EXPECT_EQ(call->handler_calls, 1);  // the head came before the reset; nothing after
}

TEST_F(ClientTest, ResetWhileQueuedDropsTheRequest) {
  auto server = startServer();
  makeClient(server->port);
  std::shared_ptr<Call> first = std::make_shared<Call>();
  std::shared_ptr<Call> dropped = std::make_shared<Call>();
  std::shared_ptr<Call> third = std::make_shared<Call>();
  loop_.call([&] {
    sendOnLoop(first, makeHead("GET", "/1"), nullptr, Consumer::AtOnce);
    sendOnLoop(dropped, makeHead("GET", "/2"), nullptr, Consumer::AtOnce);
    sendOnLoop(third, makeHead("GET", "/3"), nullptr, Consumer::AtOnce);
    dropped->exchange->reset();
    EXPECT_TRUE(dropped->exchange->finished());
    EXPECT_EQ(client_->pending(), 2u);
    return 0;
  });
  ASSERT_TRUE(third->waitFinished());
  ASSERT_TRUE(dropped->waitFinished());
  EXPECT_FALSE(dropped->clean());
  EXPECT_EQ(first->bodyText(), "GET /1\n");
  EXPECT_EQ(third->bodyText(), "GET /3\n");
  std::lock_guard lock(dropped->mutex);
  EXPECT_EQ(dropped->handler_calls, 0);
  auto seen = heads();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].target, "/3");
}

TEST_F(ClientTest, MaxQueuedRefusesMore) {
  auto server = startServer();
  ClientLimits limits;
  limits.max_queued = 2;
  makeClient(server->port, limits);
  std::vector<std::shared_ptr<Call>> calls;
  loop_.call([&] {
    for (int i = 0; i < 3; ++i) {
      auto call = std::make_shared<Call>();
      sendOnLoop(call, makeHead("GET", "/" + std::to_string(i)), nullptr, Consumer::AtOnce);
      calls.push_back(call);
    }
    return 0;
  });
  EXPECT_EQ(calls[2]->send_error, "too many requests waiting for 127.0.0.1:" +
                                      std::to_string(server->port) + ": limit 2");
  ASSERT_TRUE(calls[0]->waitFinished());
  ASSERT_TRUE(calls[1]->waitFinished());
  EXPECT_TRUE(calls[0]->clean());
  EXPECT_TRUE(calls[1]->clean());
}

TEST_F(ClientTest, CloseResetsEverythingAndRefusesMore) {
  std::atomic<int> heads_read{0};
  std::atomic<bool> closed_seen{false};
  RawServer raw([&](RawServer::Peer& peer) {  // never answers
    if (!peer.readHead()) return;
    ++heads_read;
    closed_seen = peer.waitClosed();
  });
  makeClient(raw.port);
  auto running = get("/running");
  auto queued = get("/queued");
  ASSERT_TRUE(waitUntil([&] { return heads_read.load() == 1; }));
  loop_.call([&] {
    client_->close();
    client_->close();  // idempotent
    return 0;
  });
  ASSERT_TRUE(running->waitFinished());
  ASSERT_TRUE(queued->waitFinished());
  EXPECT_FALSE(running->clean());
  EXPECT_FALSE(queued->clean());
  {
    std::lock_guard lock(running->mutex);
    EXPECT_EQ(running->handler_calls, 0);
  }
  EXPECT_TRUE(waitUntil([&] { return closed_seen.load(); }));
  auto refused = get("/after");
  EXPECT_EQ(refused->send_error,
            "the HTTP client for 127.0.0.1:" + std::to_string(raw.port) + " is closed");
  EXPECT_EQ(heads_read.load(), 1);
  EXPECT_EQ(pending(), 0u);
}

TEST_F(ClientTest, IdleConnectionsAreClosedAndReplaced) {
  auto server = startServer();
  ClientLimits limits;
  limits.idle_timeout = 100ms;
  makeClient(server->port, limits);
  auto first = get("/1");
  ASSERT_TRUE(first->waitFinished());
  EXPECT_TRUE(waitUntil([&] { return server->connectionCount() == 0; }));
  auto second = get("/2");
  ASSERT_TRUE(second->waitFinished());
  EXPECT_EQ(second->bodyText(), "GET /2\n");
  auto who = peers();
  ASSERT_EQ(who.size(), 2u);
  EXPECT_NE(who[0].remote_address, who[1].remote_address);
}

TEST_F(ClientTest, ServerClosingAnIdleConnectionIsNoticed) {
  ServerOptions options;
  options.limits.idle_timeout = 100ms;
  auto server = startServer(options);
  makeClient(server->port);
  auto first = get("/1");
  ASSERT_TRUE(first->waitFinished());
  ASSERT_TRUE(waitUntil([&] { return server->connectionCount() == 0; }));
  // The end of stream is already readable on the client's socket: two round trips through the
  // client's loop let it see it before the next request (which would otherwise fail: a request
  // is never sent twice).
  for (int i = 0; i < 2; ++i) EXPECT_EQ(pending(), 0u);
  auto second = get("/2");
  ASSERT_TRUE(second->waitFinished());
  EXPECT_TRUE(second->clean()) << second->errorText();
  EXPECT_EQ(second->bodyText(), "GET /2\n");
}

TEST_F(ClientTest, EarlyErrorResponseStopsTheUpload) {
  ServerOptions options;
  options.limits.max_body_bytes = 4096;
  auto server = startServer(options);
  makeClient(server->port);
  auto producer = std::make_shared<PatternProducer>(256ull << 20, 16384);
  auto call = send(makeHead("POST", "/too-big"), producer);  // chunked: the server learns late
  ASSERT_TRUE(call->waitFinished());
  EXPECT_EQ(call->status(), 413);
  EXPECT_TRUE(call->bodyComplete());
  EXPECT_NE(call->bodyText().find("request body too large"), std::string::npos);
  EXPECT_LT(producer->produced.load(), 256ull << 20);
  // The connection is not reused.
  auto next = get("/next");
  ASSERT_TRUE(next->waitFinished());
  EXPECT_EQ(next->bodyText(), "GET /next\n");
  auto who = peers();
  ASSERT_EQ(who.size(), 2u);
  EXPECT_NE(who[0].remote_address, who[1].remote_address);
}

// The server answers 200 at once and echoes the request body as it arrives: the client keeps
// sending after the early head (a duplex exchange).
class Pipe : public ByteConsumer, public ByteProducer {
 public:
  explicit Pipe(std::weak_ptr<Exchange> exchange) : exchange_(std::move(exchange)) {}
  std::size_t offer(std::span<const uint8_t> bytes) override {
    buffer_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    if (auto ex = exchange_.lock()) ex->resumeResponse();
    return bytes.size();
  }
  void end(bool) override {
    ended_ = true;
    if (auto ex = exchange_.lock()) ex->resumeResponse();
  }
  Chunk read(std::span<uint8_t> out) override {
    if (buffer_.empty()) return {ended_ ? State::End : State::Wait, 0};
    std::size_t n = std::min(out.size(), buffer_.size());
    std::memcpy(out.data(), buffer_.data(), n);
    buffer_.erase(0, n);
    return {State::Data, n};
  }

 private:
  std::weak_ptr<Exchange> exchange_;
  std::string buffer_;
  bool ended_ = false;
};

TEST_F(ClientTest, KeepsSendingAfterAnEarlySuccessfulHead) {
  static constexpr uint64_t kSize = 1ull << 20;
  auto server = startServer({}, [](std::shared_ptr<Exchange> ex) {
    auto pipe = std::make_shared<Pipe>(ex);
    ex->setBodyConsumer(pipe);
    ex->respond(textHead(200), pipe);
  });
  makeClient(server->port);
  auto consumer = std::make_shared<PatternConsumer>();
  auto call = std::make_shared<Call>();
  loop_.call([&] {
    sendOnLoop(call, makeHead("POST", "/duplex"), std::make_shared<PatternProducer>(kSize, 4000),
               Consumer::None);
    call->exchange->setBodyConsumer(consumer);
    return 0;
  });
  ASSERT_TRUE(call->waitFinished(30s));
  EXPECT_TRUE(call->clean()) << call->errorText();
  EXPECT_EQ(consumer->received.load(), kSize);
  EXPECT_FALSE(consumer->mismatch.load());
}

TEST_F(ClientTest, DroppingTheClientEndsItsRequests) {
  RawServer raw([](RawServer::Peer& peer) {
    if (!peer.readHead()) return;
    peer.waitClosed();
  });
  makeClient(raw.port);
  auto running = get("/");
  ASSERT_TRUE(waitUntil([&] { return raw.accepted.load() == 1; }));
  loop_.call([&] {
    client_.reset();  // the last reference: no close() first
    return 0;
  });
  ASSERT_TRUE(running->waitFinished());
  EXPECT_FALSE(running->clean());
  EXPECT_TRUE(waitUntil([&] { return raw.served.load() == 1; }));  // the socket was closed
}

TEST_F(ClientTest, RequestBodyShorterOrLongerThanDeclaredIsCut) {
  auto server = startServer();
  makeClient(server->port);
  auto shorter =
      send(makeHead("POST", "/short", {}, 10), std::make_shared<StringProducer>("12345"));
  ASSERT_TRUE(shorter->waitFinished());
  EXPECT_EQ(shorter->errorText(), "the request body ended after 5 of its 10 bytes");
  auto longer = send(makeHead("POST", "/long", {}, 3), std::make_shared<StringProducer>("12345"));
  ASSERT_TRUE(longer->waitFinished());
  EXPECT_EQ(longer->errorText(), "the request body is longer than its content-length of 3 bytes");
  auto fine = get("/fine");
  ASSERT_TRUE(fine->waitFinished());
  EXPECT_EQ(fine->bodyText(), "GET /fine\n");
}

// A producer that says Wait until the test feeds it.
class FedProducer : public ByteProducer {
 public:
  Chunk read(std::span<uint8_t> out) override {
    std::lock_guard lock(mutex);
    if (data.empty()) return {ended ? State::End : State::Wait, 0};
    std::size_t n = std::min(out.size(), data.size());
    std::memcpy(out.data(), data.data(), n);
    data.erase(0, n);
    return {State::Data, n};
  }
  std::mutex mutex;
  std::string data;
  bool ended = false;
};

TEST_F(ClientTest, StreamsARequestBodyThatWaits) {
  auto server = startServer();
  makeClient(server->port);
  auto producer = std::make_shared<FedProducer>();
  auto call = send(makeHead("POST", "/fed"), producer);
  ASSERT_TRUE(waitUntil([&] { return heads().size() == 1; }));  // the head went out alone
  for (std::string piece : {"one ", "two ", "three"}) {
    {
      std::lock_guard lock(producer->mutex);
      producer->data += piece;
      producer->ended = piece == "three";
    }
    loop_.call([&] {
      call->exchange->resumeRequest();
      return 0;
    });
  }
  ASSERT_TRUE(call->waitFinished());
  EXPECT_EQ(call->bodyText(), "POST /fed\none two three");
}

TEST_F(ClientTest, RefusesInvalidRequests) {
  makeClient(closedPort());
  EXPECT_EQ(send(makeHead("GE T", "/"))->send_error, "invalid request method \"GE T\"");
  EXPECT_EQ(send(makeHead("GET", "relative"))->send_error, "invalid request target \"relative\"");
  EXPECT_EQ(send(makeHead("GET", "/a b"))->send_error, "invalid request target \"/a b\"");
  EXPECT_EQ(send(makeHead("GET", "/", {{"X-Evil", "a\r\nInjected: 1"}}))->send_error,
            "invalid value of request header \"X-Evil\"");
  EXPECT_EQ(send(makeHead("GET", "/", {{"Bad Name", "v"}}))->send_error,
            "invalid request header name \"Bad Name\"");
  auto head = makeHead("GET", "/");
  head.authority = "evil.example\r\nX: y";
  EXPECT_EQ(send(head)->send_error, "invalid request authority \"evil.example??X: y\"");
  EXPECT_EQ(send(makeHead("POST", "/", {}, 5))->send_error,
            "request declares a content-length of 5 bytes but has no body");
  EXPECT_EQ(pending(), 0u);
}

TEST_F(ClientTest, WritesItsOwnFramingAndDropsConnectionHeaders) {
  std::string seen_head;
  RawServer raw([&](RawServer::Peer& peer) {
    auto head = peer.readHead();
    if (!head) return;
    auto body = peer.readBytes(4);
    seen_head = *head + body.value_or("?");
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    peer.waitClosed(2s);
  });
  makeClient(raw.port);
  auto call = send(makeHead("PUT", "/x",
                            {{"Connection", "close"},
                             {"Transfer-Encoding", "gzip"},
                             {"Host", "other"},
                             {"Content-Length", "99"},
                             {"X-Kept", "1"}},
                            4),
                   std::make_shared<StringProducer>("data"));
  ASSERT_TRUE(call->waitFinished());
  EXPECT_TRUE(call->clean()) << call->errorText();
  EXPECT_EQ(seen_head, "PUT /x HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(raw.port) +
                           "\r\nx-kept: 1\r\nContent-Length: 4\r\n\r\ndata");
}

// --- TLS.

class ClientTlsTest : public ClientTest {
 protected:
  void SetUp() override {
    util::CertOptions options;
    options.output_dir = dir_.path / "certs";
    auto written = util::generateCerts(options);
    ASSERT_TRUE(written) << written.error().message;
    certs_ = options.output_dir;
  }
  std::unique_ptr<TestServer> startTlsServer(std::vector<std::string> alpn = {"http/1.1"}) {
    auto config = tls::loadDefaultServerConfig(certs_, std::move(alpn));
    EXPECT_TRUE(config) << config.error().message;
    ServerOptions options;
    options.tls = config.value()->context();
    return startServer(options);
  }
  std::shared_ptr<const tls::ClientConfig> clientConfig(
      std::vector<std::string> alpn = {"http/1.1"}, std::string server_name = "",
      const std::filesystem::path& ca_dir = {}) {
    auto ca = ca_dir.empty() ? certs_ : ca_dir;
    std::ifstream in(ca / "ca.crt");
    std::stringstream pem;
    pem << in.rdbuf();
    tls::ClientMaterial material;
    material.ca_pem = pem.str();
    material.alpn = std::move(alpn);
    material.server_name = std::move(server_name);
    auto config = tls::ClientConfig::create(std::move(material));
    EXPECT_TRUE(config) << config.error().message;
    return config.value();
  }
  std::filesystem::path certs_;
};

TEST_F(ClientTlsTest, GetsOverTlsWithAlpnAndReuse) {
  auto server = startTlsServer();
  makeClient(Origin{"localhost", server->port, clientConfig()});
  for (int i = 0; i < 2; ++i) {
    auto call = send(makeHead("POST", "/tls", {}, 6), std::make_shared<StringProducer>("secret"));
    ASSERT_TRUE(call->waitFinished());
    EXPECT_TRUE(call->clean()) << call->errorText();
    EXPECT_EQ(call->bodyText(), "POST /tls\nsecret");
  }
  EXPECT_EQ(info().alpn, "http/1.1");
  auto who = peers();
  ASSERT_EQ(who.size(), 2u);
  EXPECT_EQ(who[0].remote_address, who[1].remote_address);
  EXPECT_EQ(who[0].sni, "localhost");
  EXPECT_EQ(heads()[0].scheme, "https");
  EXPECT_EQ(heads()[0].authority, "localhost:" + std::to_string(server->port));
}

TEST_F(ClientTlsTest, StreamsMebibytesOverTls) {
  static constexpr uint64_t kDown = 4ull << 20;
  auto config = tls::loadDefaultServerConfig(certs_, {"http/1.1"});
  ASSERT_TRUE(config) << config.error().message;
  ServerOptions options;
  options.tls = config.value()->context();
  auto big = startServer(options, [](std::shared_ptr<Exchange> ex) {
    ex->respond(textHead(200), std::make_shared<PatternProducer>(kDown, 12345));
  });
  makeClient(Origin{"localhost", big->port, clientConfig()});
  auto consumer = std::make_shared<PatternConsumer>();
  auto call = std::make_shared<Call>();
  loop_.call([&] {
    sendOnLoop(call, makeHead("GET", "/big"), nullptr, Consumer::None);
    call->exchange->setBodyConsumer(consumer);
    return 0;
  });
  ASSERT_TRUE(call->waitFinished(60s));
  EXPECT_TRUE(call->clean()) << call->errorText();
  EXPECT_EQ(consumer->received.load(), kDown);
  EXPECT_FALSE(consumer->mismatch.load());
}

TEST_F(ClientTlsTest, VerifiesIpLiterals) {
  auto server = startTlsServer();
  makeClient(Origin{"127.0.0.1", server->port, clientConfig()});
  auto call = get("/ip");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_EQ(call->bodyText(), "GET /ip\n") << call->errorText();
  EXPECT_EQ(peers()[0].sni, "");  // no SNI for an address
}

TEST_F(ClientTlsTest, WrongCaFailsNamingTheCause) {
  util::CertOptions other;
  other.output_dir = dir_.path / "other";
  ASSERT_TRUE(util::generateCerts(other));
  auto server = startTlsServer();
  makeClient(Origin{"localhost", server->port, clientConfig({"http/1.1"}, "", other.output_dir)});
  auto call = get("/");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_EQ(call->errorText().rfind("TLS handshake with localhost:" + std::to_string(server->port) +
                                        ": certificate verify failed (",
                                    0),
            0u)
      << call->errorText();
  EXPECT_TRUE(heads().empty());
}

TEST_F(ClientTlsTest, WrongNameFailsNamingTheCause) {
  auto server = startTlsServer();
  makeClient(Origin{"localhost", server->port, clientConfig({"http/1.1"}, "wrong.example")});
  auto call = get("/");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_EQ(call->errorText(), "TLS handshake with localhost:" + std::to_string(server->port) +
                                   ": certificate verify failed (hostname mismatch)");
}

TEST_F(ClientTlsTest, PlainServerFailsTheHandshake) {
  auto server = startServer();
  makeClient(Origin{"localhost", server->port, clientConfig()});
  auto call = get("/");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_EQ(call->errorText().rfind("TLS handshake with localhost:", 0), 0u) << call->errorText();
}

TEST_F(ClientTlsTest, H2WhenTheServerPrefersIt) {
  auto server = startTlsServer({"h2", "http/1.1"});
  makeClient(Origin{"localhost", server->port, clientConfig({"h2", "http/1.1"})});
  auto call = get("/which");
  ASSERT_TRUE(call->waitFinished());
  EXPECT_EQ(call->bodyText(), "GET /which\n") << call->errorText();
  EXPECT_EQ(info().alpn, "h2");
}

// --- Full duplex through a bounded server (the guest-level /stream-echo).

// The server answers 200 (chunked) at once and echoes the request body through 64 KiB
// (respondWithBoundedEcho): the upload can only go on as the echo is read, so the client must
// keep sending and reading at once. Parameter: the request body's length is declared (true) or
// chunked (false). With a declared 3 MiB the server's early head says "Connection: close" (it
// cannot know the application will read that much), which once made the client stop sending and
// the exchange stall until the server's body timeout.
class ClientDuplexTest : public ClientTlsTest, public ::testing::WithParamInterface<bool> {
 protected:
  void runEcho(uint16_t port, std::shared_ptr<const tls::ClientConfig> tls = nullptr) {
    static constexpr uint64_t kSize = 3ull << 20;
    bool declared = GetParam();
    makeClient(Origin{tls ? "localhost" : "127.0.0.1", port, std::move(tls)});
    auto producer = std::make_shared<PatternProducer>(kSize, 10000);
    auto consumer = std::make_shared<PatternConsumer>();
    auto call = std::make_shared<Call>();
    loop_.call([&] {
      std::optional<uint64_t> length;
      if (declared) length = kSize;
      sendOnLoop(call, makeHead("POST", "/stream-echo", {}, length), producer, Consumer::None);
      call->exchange->setBodyConsumer(consumer);
      return 0;
    });
    ASSERT_TRUE(call->waitFinished(60s)) << "stalled: " << producer->produced.load() << " sent, "
                                         << consumer->received.load() << " echoed";
    EXPECT_TRUE(call->clean()) << call->errorText();
    EXPECT_EQ(call->status(), 200);
    EXPECT_EQ(producer->produced.load(), kSize);
    ASSERT_TRUE(waitUntil([&] { return consumer->ended.load(); }));
    EXPECT_TRUE(consumer->complete.load());
    EXPECT_EQ(consumer->received.load(), kSize);
    EXPECT_FALSE(consumer->mismatch.load());
    auto seen = heads();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].content_length, declared ? std::optional<uint64_t>(kSize) : std::nullopt);
  }
};

TEST_P(ClientDuplexTest, EchoesMebibytesThroughABoundedServerPipe) {
  auto server = startServer({}, respondWithBoundedEcho);
  runEcho(server->port);
}

TEST_P(ClientDuplexTest, EchoesMebibytesThroughABoundedServerPipeOverTls) {
  auto config = tls::loadDefaultServerConfig(certs_, {"http/1.1"});
  ASSERT_TRUE(config) << config.error().message;
  ServerOptions options;
  options.tls = config.value()->context();
  auto server = startServer(options, respondWithBoundedEcho);
  runEcho(server->port, clientConfig());
  EXPECT_EQ(info().alpn, "http/1.1");
}

TEST_P(ClientDuplexTest, EchoesMebibytesThroughABoundedServerPipeOverH2) {
  auto config = tls::loadDefaultServerConfig(certs_, {"h2"});
  ASSERT_TRUE(config) << config.error().message;
  ServerOptions options;
  options.tls = config.value()->context();
  auto server = startServer(options, respondWithBoundedEcho);
  runEcho(server->port, clientConfig({"h2"}));
  EXPECT_EQ(info().alpn, "h2");
}

INSTANTIATE_TEST_SUITE_P(DeclaredAndChunked, ClientDuplexTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "ContentLength" : "Chunked";
                         });

// An early 2xx from a server that never reads the (large, declared) body: ours says
// "Connection: close". The client keeps offering the body, its writes stall, but the response
// still coming in keeps the send timeout from cutting it; the exchange ends clean with the
// response and the connection is not reused.
TEST_F(ClientTest, EarlyAnswerThatReadsNothingStillArrivesWhole) {
  static constexpr uint64_t kUp = 256ull << 20;  // more than any socket buffers hold
  static constexpr int kPieces = 12;
  auto fed = std::make_shared<FedProducer>();
  std::shared_ptr<Exchange> held;
  ServerOptions options;
  options.limits.max_body_bytes = kUp;
  auto server = startServer(options, [&](std::shared_ptr<Exchange> ex) {
    held = ex;  // on the server loop; no consumer: the body is never read
    ex->respond(textHead(200), fed);
  });
  ClientLimits limits;
  limits.send_timeout = 200ms;
  makeClient(server->port, limits);
  auto producer = std::make_shared<PatternProducer>(kUp, 16384);
  auto call = send(makeHead("POST", "/ignores-the-body", {}, kUp), producer);
  ASSERT_TRUE(waitUntil([&] { return call->status() == 200; }));
  std::string expected;
  for (int i = 0; i < kPieces; ++i) {
    // Well past the send timeout in all: the upload is stuck the whole time.
    std::this_thread::sleep_for(50ms);
    std::string piece = "piece " + std::to_string(i) + "\n";
    expected += piece;
    {
      std::lock_guard lock(fed->mutex);
      fed->data += piece;
      fed->ended = i + 1 == kPieces;
    }
    server->loop.call([&] {
      held->resumeResponse();
      return 0;
    });
  }
  ASSERT_TRUE(call->waitFinished());
  EXPECT_TRUE(call->clean()) << call->errorText();
  EXPECT_EQ(call->bodyText(), expected);
  EXPECT_LT(producer->produced.load(), kUp);
  server->loop.call([&] {
    held.reset();
    return 0;
  });
  auto next = get("/next");  // a new connection
  ASSERT_TRUE(next->waitFinished());
  EXPECT_TRUE(next->clean()) << next->errorText();
  auto who = peers();
  ASSERT_EQ(who.size(), 2u);
  EXPECT_NE(who[0].remote_address, who[1].remote_address);
}

// --- nginx.

class ClientNginxTest : public ClientTest {
 protected:
  void SetUp() override {
    if (::access("/usr/sbin/nginx", X_OK) != 0) GTEST_SKIP() << "no nginx";
    root_ = dir_.path / "www";
    std::filesystem::create_directories(root_);
    port_ = closedPort();
    auto conf = dir_.path / "nginx.conf";
    std::ofstream(conf) << "daemon off;\nmaster_process off;\nerror_log "
                        << (dir_.path / "error.log").string() << ";\npid "
                        << (dir_.path / "nginx.pid").string()
                        << ";\nevents { worker_connections 64; }\nhttp {\n access_log off;\n"
                        << " client_body_temp_path " << dir_.path.string() << ";\n"
                        << " server {\n  listen 127.0.0.1:" << port_ << ";\n  root "
                        << root_.string() << ";\n  keepalive_requests 3;\n"
                        << "  location = /chunked { return 200 'short'; }\n"
                        << "  location = /teapot { return 418; }\n }\n}\n";
    std::vector<std::string> argv = {"/usr/sbin/nginx", "-p", dir_.path.string(), "-c",
                                     conf.string()};
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, (dir_.path / "stderr").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_EQ(posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    ASSERT_TRUE(waitUntil([&] {
      RawClient probe(port_);
      return probe.connected();
    })) << "nginx did not start";
  }
  void TearDown() override {
    ClientTest::TearDown();
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::filesystem::path root_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

TEST_F(ClientNginxTest, FetchesFilesAndReconnectsAfterKeepaliveRequests) {
  std::string file(3 * 1024 * 1024 + 5, '\0');
  for (std::size_t i = 0; i < file.size(); ++i) file[i] = static_cast<char>(patternByte(i));
  std::ofstream(root_ / "big.bin", std::ios::binary) << file;
  std::ofstream(root_ / "small.txt") << "small\n";
  makeClient(port_);
  // nginx closes after 3 requests on a connection (keepalive_requests): the 4th and later go on a
  // new one, transparently.
  for (int i = 0; i < 5; ++i) {
    auto call = get("/small.txt");
    ASSERT_TRUE(call->waitFinished());
    EXPECT_TRUE(call->clean()) << i << ": " << call->errorText();
    EXPECT_EQ(call->bodyText(), "small\n");
  }
  auto big = get("/big.bin");
  ASSERT_TRUE(big->waitFinished(60s));
  EXPECT_TRUE(big->clean()) << big->errorText();
  EXPECT_TRUE(big->bodyText() == file);
  auto head = send(makeHead("HEAD", "/big.bin"));
  ASSERT_TRUE(head->waitFinished());
  EXPECT_TRUE(head->clean());
  {
    std::lock_guard lock(head->mutex);
    EXPECT_EQ(head->response->head.content_length, std::optional<uint64_t>(file.size()));
  }
  auto missing = get("/missing");
  ASSERT_TRUE(missing->waitFinished());
  EXPECT_EQ(missing->status(), 404);
  EXPECT_TRUE(missing->clean());
  auto teapot = get("/teapot");
  ASSERT_TRUE(teapot->waitFinished());
  EXPECT_EQ(teapot->status(), 418);
}

TEST_F(ClientNginxTest, PostsChunkedToNginx) {
  makeClient(port_);
  // nginx answers at once and discards the chunked body; the connection goes on (or is replaced)
  // and the client stays usable.
  auto call = send(makeHead("POST", "/chunked"), std::make_shared<PatternProducer>(200000, 3000));
  ASSERT_TRUE(call->waitFinished());
  EXPECT_TRUE(call->clean()) << call->errorText();
  EXPECT_EQ(call->status(), 200);
  EXPECT_EQ(call->bodyText(), "short");
  auto after = get("/chunked");
  ASSERT_TRUE(after->waitFinished());
  EXPECT_EQ(after->bodyText(), "short");
}

}  // namespace
}  // namespace selium::net::http
