// Fuzz target for datagrams arriving at a QUIC server endpoint (net/quic): header decoding,
// Version Negotiation, connection acceptance and ngtcp2's packet parsing behind it. The input is
// split at "QUIC" markers into several datagrams from one source, so a corpus Initial followed by
// mutated packets reaches the code behind an accepted connection too.
#include <unistd.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <sstream>
#include <string_view>

#include "net/quic/quic.h"
#include "util/certs.h"

namespace {

using boost::asio::ip::udp;

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Harness {
  boost::asio::io_context loop;
  std::shared_ptr<selium::net::quic::Endpoint> endpoint;
  udp::socket sink{loop};  // where replies go (never read; the kernel drops overflow)

  Harness() {
    std::string pattern = (std::filesystem::temp_directory_path() / "quic-fuzz-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    const std::filesystem::path dir = pattern;
    selium::util::CertOptions options;
    options.output_dir = dir;
    if (!selium::util::generateCerts(options).ok()) std::abort();
    selium::net::quic::ServerTls tls;
    tls.identities.push_back(
        {{"localhost"}, readFile(dir / "server.crt"), readFile(dir / "server.key")});
    std::filesystem::remove_all(dir);
    selium::net::quic::Limits limits;
    limits.max_connections = 8;
    limits.handshake_timeout = std::chrono::milliseconds(50);
    limits.retry_threshold = 4;  // both paths: accepted at once, and Retry (tokens verified)
    auto listening = selium::net::quic::Endpoint::listen(
        loop, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0), tls, limits,
        [](std::shared_ptr<selium::net::quic::Connection> connection) {
          connection->onStream([](std::shared_ptr<selium::net::quic::Stream>) {});
        });
    if (!listening.ok()) std::abort();
    endpoint = *listening;
    sink.open(udp::v4());
    sink.bind(udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static Harness* harness = new Harness();  // lives for the process, like libFuzzer's
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const udp::endpoint from = harness->sink.local_endpoint();
  std::size_t start = 0;
  while (start <= input.size()) {
    std::size_t marker = input.find("QUIC", start);
    if (marker == std::string_view::npos) marker = input.size();
    const std::string_view datagram = input.substr(start, marker - start);
    harness->endpoint->handleDatagramForTest(
        std::span(reinterpret_cast<const uint8_t*>(datagram.data()), datagram.size()), from);
    start = marker + 4;
  }
  harness->loop.poll();
  if (harness->endpoint->connectionCount() > 8) std::abort();  // the limit holds
  return 0;
}
