// Interoperability with the ngtcp2 sample programs from Debian (ngtcp2-client's gtlsclient and
// ngtcp2-server's gtlsserver), which speak HTTP/3 (ALPN "h3") over QUIC.
//
// What this proves: the handshake (TLS 1.3 over QUIC, ALPN, certificate checks on our side),
// stream data in both directions with FIN, and clean connection close work against a separate
// QUIC implementation's application code. It is the same ngtcp2 library underneath, so it does not
// prove wire compatibility with other stacks. HTTP/3 itself is not implemented here: the tests
// frame one request/response by hand (static-table QPACK only) and drop the peer's control and
// QPACK streams (Limits::peer_uni_streams).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <boost/asio/ip/udp.hpp>
#include <filesystem>
#include <fstream>

#include "net/quic/quic.h"
#include "net/quic/test_support.h"

extern char** environ;

namespace selium::net::quic {
namespace {

using namespace testing;
using boost::asio::ip::udp;

constexpr const char* kSampleClient = "/usr/bin/gtlsclient";
constexpr const char* kSampleServer = "/usr/sbin/gtlsserver";

// A child process, killed (if still running) and reaped on destruction.
class Child {
 public:
  explicit Child(std::vector<std::string> argv) {
    std::vector<char*> args;
    for (auto& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Child() {
    if (pid_ > 0 && !status_) {
      // SIGTERM, not SIGKILL: the child is /usr/bin/timeout, which passes SIGTERM on to the
      // sample program; killed outright it would leave that program running.
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }
  bool started() const { return pid_ > 0; }
  // The exit status once it has exited.
  std::optional<int> poll() {
    if (!status_ && pid_ > 0) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) status_ = status;
    }
    return status_;
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

std::string varint(uint64_t value) {
  // QUIC variable-length integer (RFC 9000 section 16), enough for test frames.
  std::string out;
  if (value < 64) {
    out.push_back(static_cast<char>(value));
  } else if (value < 16384) {
    out.push_back(static_cast<char>(0x40 | (value >> 8)));
    out.push_back(static_cast<char>(value & 0xff));
  } else {
    out.push_back(static_cast<char>(0x80 | ((value >> 24) & 0x3f)));
    out.push_back(static_cast<char>((value >> 16) & 0xff));
    out.push_back(static_cast<char>((value >> 8) & 0xff));
    out.push_back(static_cast<char>(value & 0xff));
  }
  return out;
}

std::string frame(uint64_t type, const std::string& payload) {
  return varint(type) + varint(payload.size()) + payload;
}

// QPACK literal field line with a static name reference (RFC 9204 section 4.5.4).
std::string literal(uint8_t static_index, const std::string& value) {
  std::string out;
  out.push_back(static_cast<char>(0x50 | static_index));
  out.push_back(static_cast<char>(value.size()));  // < 127, no Huffman
  return out + value;
}

struct Frames {
  std::vector<std::pair<uint64_t, std::string>> list;
  bool ok = true;
};

Frames parseFrames(const std::string& bytes) {
  Frames frames;
  std::size_t at = 0;
  auto read = [&](uint64_t& value) {
    if (at >= bytes.size()) return false;
    const uint8_t first = static_cast<uint8_t>(bytes[at]);
    const std::size_t size = std::size_t{1} << (first >> 6);
    if (at + size > bytes.size()) return false;
    value = first & 0x3f;
    for (std::size_t i = 1; i < size; ++i)
      value = (value << 8) | static_cast<uint8_t>(bytes[at + i]);
    at += size;
    return true;
  };
  while (at < bytes.size()) {
    uint64_t type = 0, length = 0;
    if (!read(type) || !read(length) || at + length > bytes.size()) {
      frames.ok = false;
      break;
    }
    frames.list.emplace_back(type, bytes.substr(at, length));
    at += length;
  }
  return frames;
}

class QuicInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kSampleClient) || !std::filesystem::exists(kSampleServer)) {
      GTEST_SKIP() << "ngtcp2-client / ngtcp2-server are not installed";
    }
    certs_ = makeCerts(dir_.path() / "certs");
  }

  TempDir dir_;
  Certs certs_;
  boost::asio::io_context loop_;
};

// gtlsclient fetches https://localhost/hello.txt from our server, which answers the one request
// stream with a hand-framed HTTP/3 response.
TEST_F(QuicInteropTest, SampleClientDownloadsFromOurServer) {
  const std::string body = "hello from the selium QUIC server\n";
  ServerTls tls;
  tls.identities.push_back(certs_.identity({"localhost"}));
  tls.alpn = {"h3"};
  Limits limits;
  limits.peer_uni_streams = 3;  // the client's control and QPACK streams
  auto request = std::make_shared<Collector>();
  std::optional<std::string> closed;
  std::shared_ptr<Connection> connection;
  std::shared_ptr<Stream> request_stream;
  auto endpoint =
      Endpoint::listen(loop_, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0), tls,
                       limits, [&](std::shared_ptr<Connection> c) {
                         connection = c;
                         c->onClosed([&](std::string reason) { closed = reason; });
                         c->onStream([&](std::shared_ptr<Stream> stream) {
                           request_stream = stream;
                           stream->setConsumer(request);
                           // QPACK: no dynamic table (0, 0), then ":status: 200" (static index 25).
                           const std::string headers = std::string("\x00\x00\xd9", 3);
                           stream->setProducer(std::make_shared<BytesProducer>(
                               frame(0x01, headers) + frame(0x00, body), BytesProducer::Then::End));
                         });
                       });
  ASSERT_TRUE(endpoint.ok()) << endpoint.error().message;

  const std::filesystem::path download = dir_.path() / "download";
  std::filesystem::create_directories(download);
  Child client({"/usr/bin/timeout", "20", kSampleClient, "-q", "--exit-on-all-streams-close",
                "--download=" + download.string(), "127.0.0.1", std::to_string((*endpoint)->port()),
                "https://localhost/hello.txt"});
  ASSERT_TRUE(client.started());
  ASSERT_TRUE(runUntil(
      loop_, [&] { return client.poll().has_value(); }, std::chrono::seconds(25)));
  const int status = *client.poll();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_EQ(readFile(download / "hello.txt"), body);
  ASSERT_TRUE(connection);
  EXPECT_EQ(connection->alpn(), "h3");
  EXPECT_EQ(connection->serverName(), "localhost");
  ASSERT_TRUE(request_stream);
  EXPECT_EQ(request_stream->id(), 0);
  // The request: one HEADERS frame, then FIN.
  EXPECT_TRUE(request->complete);
  const Frames frames = parseFrames(request->data);
  ASSERT_TRUE(frames.ok);
  ASSERT_FALSE(frames.list.empty());
  EXPECT_EQ(frames.list[0].first, 0x01u);
  // The client closes the connection when it is done.
  ASSERT_TRUE(runUntil(loop_, [&] { return closed.has_value(); }));
  EXPECT_NE(closed->find("closed by peer"), std::string::npos) << *closed;
  (*endpoint)->close();
}

// Our client fetches a file from gtlsserver with a hand-framed HTTP/3 GET.
TEST_F(QuicInteropTest, OurClientDownloadsFromSampleServer) {
  const std::filesystem::path htdocs = dir_.path() / "htdocs";
  std::filesystem::create_directories(htdocs);
  std::string body;
  for (int i = 0; i < 5000; ++i) body += "line " + std::to_string(i) + " of the sample file\n";
  std::ofstream(htdocs / "file.txt") << body;

  // A free UDP port for the sample server (it cannot report one it picked itself).
  uint16_t port = 0;
  {
    udp::socket probe(loop_, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    port = probe.local_endpoint().port();
  }
  Child server({"/usr/bin/timeout", "30", kSampleServer, "-q", "-d", htdocs.string(), "127.0.0.1",
                std::to_string(port), (certs_.dir / "server.key").string(),
                (certs_.dir / "server.crt").string()});
  ASSERT_TRUE(server.started());

  ClientTls tls;
  tls.ca_pem = certs_.ca;
  tls.server_name = "localhost";
  tls.alpn = {"h3"};
  Limits limits;
  limits.peer_uni_streams = 3;  // the server's control and QPACK streams
  limits.handshake_timeout = std::chrono::milliseconds(500);
  // The server needs a moment to bind; retry (bounded) until it answers.
  Result<std::shared_ptr<Connection>> connection = Error{"not tried"};
  for (int attempt = 0; attempt < 20 && !connection.ok(); ++attempt) {
    connection = connectAndWait(loop_, "127.0.0.1", port, tls, limits);
  }
  ASSERT_TRUE(connection.ok()) << connection.error().message;
  EXPECT_EQ((*connection)->alpn(), "h3");
  EXPECT_NE((*connection)->peerCertificateSubject().find("CN=localhost"), std::string::npos);

  auto stream = (*connection)->openStream();
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  // QPACK: no dynamic table; :method GET (17), :scheme https (23), :authority, :path literals.
  const std::string headers =
      std::string("\x00\x00", 2) + "\xd1\xd7" + literal(0, "localhost") + literal(1, "/file.txt");
  auto response = std::make_shared<Collector>();
  (*stream)->setConsumer(response);
  (*stream)->setProducer(
      std::make_shared<BytesProducer>(frame(0x01, headers), BytesProducer::Then::End));
  ASSERT_TRUE(runUntil(loop_, [&] { return response->ended; }));
  EXPECT_TRUE(response->complete);

  const Frames frames = parseFrames(response->data);
  ASSERT_TRUE(frames.ok);
  std::string received;
  bool saw_status_200 = false;
  for (const auto& [type, payload] : frames.list) {
    if (type == 0x01 && !saw_status_200) {
      // Encoded field section prefix (0, 0), then ":status: 200" from the static table.
      saw_status_200 = payload.size() >= 3 && payload.compare(0, 3, "\x00\x00\xd9", 3) == 0;
    } else if (type == 0x00) {
      received += payload;
    }
  }
  EXPECT_TRUE(saw_status_200);
  EXPECT_TRUE(received == body) << "received " << received.size() << " of " << body.size();
  (*connection)->close(0x100, "done");  // H3_NO_ERROR
  runUntil(
      loop_, [] { return false; }, std::chrono::milliseconds(50));
}

}  // namespace
}  // namespace selium::net::quic
