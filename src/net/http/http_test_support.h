// Test helpers for the HTTP server tests (test-only): a loop thread that owns a Server, a raw
// blocking TCP client with bounded waits that reads HTTP responses exactly, curl subprocesses,
// and simple body producers and consumers. The application side runs on the loop thread; what
// the tests assert on is handed over under a mutex.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "net/http/server.h"

extern char** environ;

namespace selium::net::http::testing {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Polls `condition` until it holds or `timeout` passes.
inline bool waitUntil(const std::function<bool()>& condition,
                      std::chrono::milliseconds timeout = 10s) {
  auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// An io_context running on its own thread.
class LoopThread {
 public:
  LoopThread() : guard_(asio::make_work_guard(io)), thread_([this] { io.run(); }) {}
  ~LoopThread() { stop(); }
  void stop() {
    guard_.reset();
    io.stop();
    if (thread_.joinable()) thread_.join();
  }
  // Runs `f` on the loop and returns its result (aborts the test binary after 10 s: a loop that
  // stuck is a bug worth a crash report).
  template <class F>
  auto call(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    asio::post(io, [&task] { task(); });
    if (result.wait_for(10s) != std::future_status::ready) std::abort();
    return result.get();
  }
  asio::io_context io;

 private:
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread thread_;
};

// A Server on 127.0.0.1 port 0 with its own loop thread.
class TestServer {
 public:
  TestServer(ServerOptions options, RequestHandler handler) {
    error = loop.call([&]() -> std::string {
      auto result =
          Server::listen(loop.io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0),
                         std::move(options), std::move(handler));
      if (!result) return result.error().message;
      server = std::move(result.value());
      return "";
    });
    if (server) port = server->port();
  }
  ~TestServer() {
    loop.call([this] {
      if (server) server->close();
      server.reset();
    });
    loop.stop();
  }
  std::size_t connectionCount() {
    return loop.call([this] { return server->connectionCount(); });
  }

  LoopThread loop;
  std::shared_ptr<Server> server;
  uint16_t port = 0;
  std::string error;
};

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names, last value wins
  std::string body;
  bool has(const std::string& name) const { return headers.count(name) > 0; }
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// A blocking TCP client with bounded waits.
class RawClient {
 public:
  explicit RawClient(uint16_t port, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }
  int fd() const { return fd_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void shutdownWrite() { ::shutdown(fd_, SHUT_WR); }

  // Writes everything (false if the peer is gone or it takes over `timeout`).
  bool send(std::string_view bytes, std::chrono::milliseconds timeout = 10s) {
    auto deadline = Clock::now() + timeout;
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
      if (!waitFor(POLLOUT, deadline)) return false;
    }
    return true;
  }

  // Receives what arrives within `timeout` into pending(); 0: the peer closed (or reset),
  // -1: nothing arrived in time.
  long receive(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (true) {
      char chunk[65536];
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        pending_.append(chunk, static_cast<std::size_t>(n));
        return n;
      }
      if (n == 0) {
        eof_ = true;
        return 0;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        eof_ = true;
        return 0;
      }
      if (!waitFor(POLLIN, deadline)) return -1;
    }
  }

  // Reads until the peer closes; false if it did not within `timeout`.
  bool readUntilClosed(std::chrono::milliseconds timeout = 10s) {
    auto deadline = Clock::now() + timeout;
    while (!eof_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0 || receive(left) < 0) return false;
    }
    return true;
  }

  // Reads one response; nullopt if it is malformed or incomplete when the peer closes or the
  // time is up. Bytes after it stay in pending().
  std::optional<Response> readResponse(bool head_request = false,
                                       std::chrono::milliseconds timeout = 10s) {
    namespace bhttp = boost::beast::http;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.header_limit(1 << 20);
    parser.body_limit(1ull << 32);
    if (head_request) parser.skip(true);
    auto deadline = Clock::now() + timeout;
    while (!parser.is_done()) {
      if (!pending_.empty()) {
        boost::system::error_code ec;
        std::size_t used = parser.put(asio::buffer(pending_), ec);
        pending_.erase(0, used);
        if (ec && ec != bhttp::error::need_more) return std::nullopt;
        if (parser.is_done()) break;
        if (used > 0 && !pending_.empty()) continue;
      }
      if (eof_) {
        boost::system::error_code ec;
        parser.put_eof(ec);
        if (ec || !parser.is_done()) return std::nullopt;
        break;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0 || receive(left) < 0) return std::nullopt;
    }
    Response response;
    auto& message = parser.get();
    response.status = static_cast<int>(message.result_int());
    for (const auto& field : message) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      response.headers[name] = std::string(field.value());
    }
    response.body = std::move(message.body());
    return response;
  }

  std::string& pending() { return pending_; }
  bool eof() const { return eof_; }

 private:
  bool waitFor(short events, Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, events, 0};
    return ::poll(&p, 1, static_cast<int>(left.count())) > 0;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string pending_;
};

struct ProcessResult {
  int exit_code = -1;  // -1: killed after the timeout
  std::string out;
  std::string err;
};

// Runs a program (curl, ...) with stdout and stderr captured in files under `dir`; kills it
// after `timeout`.
inline ProcessResult runProcess(const std::vector<std::string>& argv,
                                const std::filesystem::path& dir,
                                std::chrono::milliseconds timeout = 30s) {
  static int counter = 0;
  auto out_path = dir / ("out" + std::to_string(++counter));
  auto err_path = dir / ("err" + std::to_string(counter));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  ProcessResult result;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    result.err = "cannot start " + argv[0];
    return result;
  }
  auto deadline = Clock::now() + timeout;
  int status = 0;
  while (true) {
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (Clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      status = -1;
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  if (status != -1 && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  auto slurp = [](const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  result.out = slurp(out_path);
  result.err = slurp(err_path);
  return result;
}

// A fresh temporary directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "selium-http-XXXXXX").string();
    path = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::filesystem::path path;
};

// Produces `data` in pieces of at most `piece` bytes, then End.
class StringProducer : public ByteProducer {
 public:
  explicit StringProducer(std::string data, std::size_t piece = 1 << 20)
      : data_(std::move(data)), piece_(piece) {}
  Chunk read(std::span<uint8_t> out) override {
    if (at_ == data_.size()) return {State::End, 0};
    std::size_t n = std::min({out.size(), piece_, data_.size() - at_});
    std::memcpy(out.data(), data_.data() + at_, n);
    at_ += n;
    return {State::Data, n};
  }

 private:
  std::string data_;
  std::size_t piece_;
  std::size_t at_ = 0;
};

// Collects a request body; takes at most `room` bytes per offer() when set (0: unlimited).
// Thread-safe snapshot for the test thread.
class CollectingConsumer : public ByteConsumer {
 public:
  std::size_t offer(std::span<const uint8_t> bytes) override {
    std::lock_guard lock(mutex);
    std::size_t n = room == 0 ? bytes.size() : std::min(room, bytes.size());
    data.append(reinterpret_cast<const char*>(bytes.data()), n);
    ++offers;
    return n;
  }
  void end(bool complete) override {
    std::lock_guard lock(mutex);
    ended = true;
    this->complete = complete;
    if (on_end) on_end(complete);
  }
  std::mutex mutex;
  std::string data;
  std::size_t room = 0;
  int offers = 0;
  bool ended = false;
  bool complete = false;
  std::function<void(bool)> on_end;  // runs on the loop, under the mutex
};

inline ResponseHead textHead(int status = 200) {
  ResponseHead head;
  head.status = status;
  head.headers.push_back({"Content-Type", "text/plain"});
  return head;
}

// Responds with `body` and a content-length.
inline bool respondText(Exchange& exchange, std::string body, int status = 200) {
  ResponseHead head = textHead(status);
  head.content_length = body.size();
  return exchange.respond(std::move(head), std::make_shared<StringProducer>(std::move(body)));
}

// A streaming echo like a guest's /stream-echo endpoint: the request body's consumer and the
// response body's producer at once, holding at most `cap` bytes between them. When full it takes
// fewer bytes than offered (the protocol then reads no more of the request) and resumes the body
// once the response side has drained it: the request can only go on as fast as the client reads
// the response.
class BoundedEchoPipe : public ByteConsumer, public ByteProducer {
 public:
  BoundedEchoPipe(std::weak_ptr<Exchange> exchange, std::size_t cap)
      : exchange_(std::move(exchange)), cap_(cap) {}
  std::size_t offer(std::span<const uint8_t> bytes) override {
    std::size_t n = std::min(bytes.size(), cap_ - held_.size());
    held_.append(reinterpret_cast<const char*>(bytes.data()), n);
    if (n < bytes.size()) full_ = true;
    if (n > 0) resumeResponse();
    return n;
  }
  void end(bool) override {
    ended_ = true;
    resumeResponse();
  }
  Chunk read(std::span<uint8_t> out) override {
    if (held_.empty()) return {ended_ ? State::End : State::Wait, 0};
    std::size_t n = std::min(out.size(), held_.size());
    std::memcpy(out.data(), held_.data(), n);
    held_.erase(0, n);
    if (full_) {
      full_ = false;
      if (auto ex = exchange_.lock()) ex->resumeBody();
    }
    return {State::Data, n};
  }

 private:
  void resumeResponse() {
    if (auto ex = exchange_.lock()) ex->resumeResponse();
  }
  std::weak_ptr<Exchange> exchange_;
  std::size_t cap_;
  std::string held_;
  bool full_ = false;
  bool ended_ = false;
};

// Answers 200 at once with a streamed (chunked) body that echoes the request body through a
// BoundedEchoPipe of 64 KiB (the guest's ring size).
inline void respondWithBoundedEcho(std::shared_ptr<Exchange> exchange) {
  auto pipe = std::make_shared<BoundedEchoPipe>(exchange, 64 * 1024);
  exchange->setBodyConsumer(pipe);
  exchange->respond(textHead(200), pipe);
}

}  // namespace selium::net::http::testing
