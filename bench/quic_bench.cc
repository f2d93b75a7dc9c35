// QUIC speed: one large stream downloaded from a guest server (bench/guests/quic.cc on one Selium
// worker) and from ngtcp2's sample server gtlsserver (Debian's ngtcp2-server, one process) serving
// a file of the same size, and new connections per second against both, measured alternately in
// the same run with the same client: the host's own QUIC client (src/net/quic). Also the cost of
// Retry (address validation) on the host's server, always against never. See bench/README.md.
//
//   quic_bench [--bytes 1073741824] [--reps 3] [--seconds 5] [--concurrency 32]
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "net/quic/quic.h"
#include "net/quic/test_support.h"
#include "util/certs.h"

extern char** environ;

namespace selium::bench {
namespace {

namespace fs = std::filesystem;
namespace quic = net::quic;
using namespace std::chrono_literals;
using boost::asio::ip::udp;

constexpr const char* kSampleServer = "/usr/sbin/gtlsserver";

struct Options {
  uint64_t bytes = uint64_t{1} << 30;
  int reps = 3;
  int seconds = 5;
  int concurrency = 32;
};

Options parseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) die("missing value for " + arg);
      return std::strtoull(argv[++i], nullptr, 10);
    };
    if (arg == "--bytes") {
      o.bytes = next();
    } else if (arg == "--reps") {
      o.reps = static_cast<int>(next());
    } else if (arg == "--seconds") {
      o.seconds = static_cast<int>(next());
    } else if (arg == "--concurrency") {
      o.concurrency = static_cast<int>(next());
    } else {
      die("usage: quic_bench [--bytes B] [--reps R] [--seconds S] [--concurrency C]");
    }
  }
  if (o.bytes < 1 || o.reps < 1 || o.seconds < 1 || o.concurrency < 1) die("bad options");
  return o;
}

// Counts what a stream receives.
class Counter : public net::ByteConsumer {
 public:
  std::size_t offer(std::span<const uint8_t> bytes) override {
    received += bytes.size();
    return bytes.size();
  }
  void end(bool is_complete) override {
    ended = true;
    complete = is_complete;
  }
  uint64_t received = 0;
  bool ended = false;
  bool complete = false;
};

// The HTTP/3 request gtlsserver answers: one HEADERS frame, QPACK without a dynamic table
// (:method GET, :scheme https, :authority localhost, :path /blob).
std::string h3Get() {
  auto literal = [](uint8_t index, const std::string& value) {
    std::string out;
    out.push_back(static_cast<char>(0x50 | index));
    out.push_back(static_cast<char>(value.size()));
    return out + value;
  };
  const std::string fields =
      std::string("\x00\x00\xd1\xd7", 4) + literal(0, "localhost") + literal(1, "/blob");
  return std::string(1, '\x01') + static_cast<char>(fields.size()) + fields;
}

// The client both servers get: ALPN h3 (the sample server speaks nothing else), the test CA,
// room for an HTTP/3 server's control and QPACK streams, and windows as large as the sample
// client's defaults so neither server waits on window updates.
quic::ClientTls clientTls(const fs::path& certs) {
  quic::ClientTls tls;
  tls.ca_pem = quic::testing::readFile(certs / "ca.crt");
  tls.server_name = "localhost";
  tls.alpn = {"h3"};
  return tls;
}

quic::Limits clientLimits() {
  quic::Limits limits;
  limits.peer_uni_streams = 3;
  limits.stream_window = 6u << 20;
  limits.connection_window = 15u << 20;
  return limits;
}

// CPU seconds a process has used (user + system), from /proc/<pid>/stat.
double processCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  const std::size_t close = stat.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::atof(field.c_str());  // utime, stime
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double threadCpuSeconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// The CPU the in-process Selium server used: this process's, less the client's (this thread).
double seliumServerCpuSeconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9 -
         threadCpuSeconds();
}

struct Transfer {
  double mb_per_second = 0;
  double server_cpu_per_gb = 0;  // CPU seconds the server spent per GB sent
  double client_cpu_per_gb = 0;
};

// Downloads `size` bytes over one stream (the request says how); MB/s of payload, and the CPU
// each side spent (`server_cpu` samples the server's).
Transfer download(boost::asio::io_context& loop, uint16_t port, const quic::ClientTls& tls,
                  const std::string& request, uint64_t size,
                  const std::function<double()>& server_cpu) {
  auto connection = quic::testing::connectAndWait(loop, "127.0.0.1", port, tls, clientLimits());
  if (!connection) die("connect: " + connection.error().message);
  auto stream = (*connection)->openStream();
  if (!stream) die("open: " + stream.error().message);
  auto counter = std::make_shared<Counter>();
  const double server_before = server_cpu();
  const double client_before = threadCpuSeconds();
  const auto start = Clock::now();
  (*stream)->setConsumer(counter);
  (*stream)->setProducer(std::make_shared<quic::testing::BytesProducer>(
      request, quic::testing::BytesProducer::Then::End));
  if (!quic::testing::runUntil(
          loop, [&] { return counter->ended; }, 600s))
    die("download stuck");
  const double seconds = nanosBetween(start, Clock::now()) / 1e9;
  const double gb = static_cast<double>(size) / 1e9;
  Transfer transfer;
  transfer.mb_per_second = static_cast<double>(size) / 1e6 / seconds;
  transfer.server_cpu_per_gb = (server_cpu() - server_before) / gb;
  transfer.client_cpu_per_gb = (threadCpuSeconds() - client_before) / gb;
  // HTTP/3 adds a few bytes of frame headers; the guest sends the bytes alone.
  if (!counter->complete || counter->received < size) {
    die(format("download ended early: %llu of %llu bytes",
               static_cast<unsigned long long>(counter->received),
               static_cast<unsigned long long>(size)));
  }
  (*connection)->close(0x100, "done");
  quic::testing::runUntil(
      loop, [] { return false; }, 20ms);
  return transfer;
}

struct Handshakes {
  double per_second = 0;
  double server_cpu_ms = 0;  // CPU milliseconds the server spent per handshake
  double client_cpu_ms = 0;
  uint64_t failed = 0;
};

// New connections per second for `seconds`, `concurrency` handshakes in flight; each is closed
// as soon as it is established. `server_cpu` samples the server's CPU seconds.
Handshakes handshakes(boost::asio::io_context& loop, uint16_t port, const quic::ClientTls& tls,
                      int seconds, int concurrency, const std::function<double()>& server_cpu) {
  uint64_t done = 0;
  uint64_t failed = 0;
  int in_flight = 0;
  const double server_before = server_cpu();
  const double client_before = threadCpuSeconds();
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::seconds(seconds);
  std::function<void()> next = [&] {
    ++in_flight;
    quic::Endpoint::connect(loop, "127.0.0.1", port, tls, clientLimits(),
                            [&](Result<std::shared_ptr<quic::Connection>> connected) {
                              --in_flight;
                              if (connected) {
                                ++done;
                                (*connected)->close(0x100, "done");
                              } else {
                                ++failed;
                              }
                              if (Clock::now() < deadline) next();
                            });
  };
  for (int i = 0; i < concurrency; ++i) next();
  quic::testing::runUntil(
      loop, [&] { return in_flight == 0; }, std::chrono::seconds(seconds + 60));
  const double elapsed = nanosBetween(start, Clock::now()) / 1e9;
  Handshakes result;
  result.per_second = static_cast<double>(done) / elapsed;
  result.failed = failed;
  if (done > 0) {
    result.server_cpu_ms = (server_cpu() - server_before) * 1e3 / static_cast<double>(done);
    result.client_cpu_ms = (threadCpuSeconds() - client_before) * 1e3 / static_cast<double>(done);
  }
  quic::testing::runUntil(
      loop, [] { return false; }, 100ms);
  return result;
}

// gtlsserver serving `htdocs` on 127.0.0.1:port (optionally with Retry on every connection).
class SampleServer {
 public:
  SampleServer(const fs::path& htdocs, const fs::path& certs, uint16_t port, bool retry) {
    std::vector<std::string> argv = {kSampleServer, "-q", "-d", htdocs.string()};
    if (retry) argv.push_back("-V");
    for (const std::string& a :
         {std::string("127.0.0.1"), std::to_string(port), (certs / "server.key").string(),
          (certs / "server.crt").string()}) {
      argv.push_back(a);
    }
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    const int error = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (error != 0) die("cannot start gtlsserver: " + std::string(std::strerror(error)));
  }
  pid_t pid() const { return pid_; }
  ~SampleServer() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }

 private:
  pid_t pid_ = -1;
};

uint16_t freeUdpPort(boost::asio::io_context& loop) {
  udp::socket probe(loop, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return probe.local_endpoint().port();
}

// Connects until the server answers (it needs a moment to bind); dies after ~10 s.
void waitUntilServing(boost::asio::io_context& loop, uint16_t port, quic::ClientTls tls) {
  quic::Limits limits = clientLimits();
  limits.handshake_timeout = 500ms;
  for (int i = 0; i < 20; ++i) {
    auto connection = quic::testing::connectAndWait(loop, "127.0.0.1", port, tls, limits);
    if (connection) {
      (*connection)->close(0x100, "ready");
      return;
    }
  }
  die("the server on port " + std::to_string(port) + " never answered");
}

// The host's QUIC server alone (no guest, no channels) on its own thread: the transport's cost.
class HostServer {
 public:
  HostServer(const fs::path& certs, std::size_t retry_threshold) : guard_(io_.get_executor()) {
    thread_ = std::thread([this] { io_.run(); });
    std::promise<uint16_t> port;
    boost::asio::post(io_, [&] {
      quic::ServerTls tls;
      tls.identities.push_back({{"localhost"},
                                quic::testing::readFile(certs / "server.crt"),
                                quic::testing::readFile(certs / "server.key")});
      tls.alpn = {"h3"};
      quic::Limits limits;
      limits.max_connections = 100000;
      limits.retry_threshold = retry_threshold;
      auto endpoint =
          quic::Endpoint::listen(io_, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0),
                                 tls, limits, [](std::shared_ptr<quic::Connection>) {});
      if (!endpoint) die(endpoint.error().message);
      endpoint_ = *endpoint;
      port.set_value(endpoint_->port());
    });
    port_ = port.get_future().get();
  }
  ~HostServer() {
    boost::asio::post(io_, [this] {
      endpoint_->close();
      endpoint_.reset();
    });
    guard_.reset();
    thread_.join();
  }
  uint16_t port() const { return port_; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
  std::shared_ptr<quic::Endpoint> endpoint_;  // on the thread
  uint16_t port_ = 0;
};

void report(const char* what, const std::vector<double>& selium, const std::vector<double>& other,
            const char* unit, const char* other_name) {
  const double s = median(selium);
  const double o = median(other);
  std::printf("%-34s Selium %9.1f %s   %-10s %9.1f %s   ratio %.2f\n", what, s, unit, other_name, o,
              unit, o > 0 ? s / o : 0.0);
}

}  // namespace
}  // namespace selium::bench

int main(int argc, char** argv) {
  using namespace selium;
  using namespace selium::bench;
  const Options o = parseOptions(argc, argv);
  if (!fs::exists(kSampleServer)) die("gtlsserver is missing: apt-get install ngtcp2-server");
  quietLog();
  const fs::path dir =
      fs::temp_directory_path() / ("selium-quic-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir / "htdocs");
  util::CertOptions cert_options;
  cert_options.output_dir = dir / "certs";
  if (auto written = util::generateCerts(cert_options); !written) die(written.error().message);
  const fs::path certs = dir / "certs";
  {
    // The sample server's file: sparse zeros, served from the page cache.
    std::ofstream blob(dir / "htdocs" / "blob", std::ios::binary);
    blob.close();
    fs::resize_file(dir / "htdocs" / "blob", o.bytes);
  }

  std::mutex mutex;
  std::condition_variable changed;
  std::map<kernel::ProcessId, uint16_t> ports;
  engine::EngineOptions options;
  options.workers = 1;
  options.network.certs_dir = certs;
  options.log_sink = [&](const kernel::Process& p, const kernel::GuestLogRecord& r) {
    if (r.message != "listening") return;
    for (const auto& f : r.fields) {
      if (f.key == "port") {
        std::lock_guard lock(mutex);
        ports[p.id()] = static_cast<uint16_t>(std::get<uint64_t>(f.value));
        changed.notify_all();
      }
    }
  };
  engine::Engine engine(std::move(options));
  auto module = engine.load(readGuest("bench_quic.wasm"), "bench_quic.wasm");
  if (!module) die(module.error().message);
  engine::SpawnRequest request;
  request.module = *module;
  request.entrypoint = "serve";
  request.args = {
      {kernel::ParamKind::Utf8, kernel::ArgValue{quic::testing::readFile(certs / "server.crt")}},
      {kernel::ParamKind::Utf8, kernel::ArgValue{quic::testing::readFile(certs / "server.key")}}};
  for (auto c : {kernel::Capability::NetTlsServerConfig, kernel::Capability::NetQuicBind,
                 kernel::Capability::NetQuicAccept, kernel::Capability::NetQuicRead,
                 kernel::Capability::NetQuicWrite}) {
    request.capabilities.add(c);
  }
  auto spawned = engine.spawn(std::move(request));
  if (!spawned) die(spawned.error().message);
  uint16_t selium_port = 0;
  {
    std::unique_lock lock(mutex);
    if (!changed.wait_for(lock, 20s, [&] { return ports.count(spawned->pid) > 0; })) {
      die("the guest server did not start");
    }
    selium_port = ports[spawned->pid];
  }

  boost::asio::io_context loop;
  const quic::ClientTls tls = clientTls(certs);
  const uint16_t sample_port = freeUdpPort(loop);
  std::printf(
      "quic_bench: %llu bytes per download, %d reps, handshakes for %d s with %d in "
      "flight\n",
      static_cast<unsigned long long>(o.bytes), o.reps, o.seconds, o.concurrency);
  std::vector<double> s_mbps, n_mbps, s_hs, n_hs, s_cpu, n_cpu, s_client, n_client, s_hs_cpu,
      n_hs_cpu;
  uint64_t failed = 0;
  {
    SampleServer sample(dir / "htdocs", certs, sample_port, /*retry=*/false);
    waitUntilServing(loop, selium_port, tls);
    waitUntilServing(loop, sample_port, tls);
    for (int rep = 0; rep < o.reps; ++rep) {
      const Transfer s = download(loop, selium_port, tls, std::to_string(o.bytes), o.bytes,
                                  seliumServerCpuSeconds);
      const Transfer n = download(loop, sample_port, tls, h3Get(), o.bytes,
                                  [&] { return processCpuSeconds(sample.pid()); });
      s_mbps.push_back(s.mb_per_second);
      n_mbps.push_back(n.mb_per_second);
      s_cpu.push_back(s.server_cpu_per_gb);
      n_cpu.push_back(n.server_cpu_per_gb);
      s_client.push_back(s.client_cpu_per_gb);
      n_client.push_back(n.client_cpu_per_gb);
      std::printf(
          "  rep %d: download Selium %.1f MB/s (server %.2f, client %.2f CPU s/GB), "
          "gtlsserver %.1f MB/s (server %.2f, client %.2f CPU s/GB)\n",
          rep + 1, s.mb_per_second, s.server_cpu_per_gb, s.client_cpu_per_gb, n.mb_per_second,
          n.server_cpu_per_gb, n.client_cpu_per_gb);
      std::fflush(stdout);
    }
    for (int rep = 0; rep < o.reps; ++rep) {
      const Handshakes s =
          handshakes(loop, selium_port, tls, o.seconds, o.concurrency, seliumServerCpuSeconds);
      const Handshakes n = handshakes(loop, sample_port, tls, o.seconds, o.concurrency,
                                      [&] { return processCpuSeconds(sample.pid()); });
      s_hs.push_back(s.per_second);
      n_hs.push_back(n.per_second);
      s_hs_cpu.push_back(s.server_cpu_ms);
      n_hs_cpu.push_back(n.server_cpu_ms);
      failed += s.failed + n.failed;
      std::printf(
          "  rep %d: handshakes Selium %.0f/s (server %.2f, client %.2f CPU ms each), "
          "gtlsserver %.0f/s (server %.2f, client %.2f CPU ms each)\n",
          rep + 1, s.per_second, s.server_cpu_ms, s.client_cpu_ms, n.per_second, n.server_cpu_ms,
          n.client_cpu_ms);
      std::fflush(stdout);
    }
  }
  // Retry: the host's server without a guest, never against always (one at a time, so the
  // process's CPU is that server's); gtlsserver -V for reference.
  std::vector<double> never, always, never_cpu, always_cpu, sample_retry;
  for (int rep = 0; rep < o.reps; ++rep) {
    for (const std::size_t threshold : {SIZE_MAX, std::size_t{0}}) {
      HostServer server(certs, threshold);
      const Handshakes h =
          handshakes(loop, server.port(), tls, o.seconds, o.concurrency, seliumServerCpuSeconds);
      (threshold == 0 ? always : never).push_back(h.per_second);
      (threshold == 0 ? always_cpu : never_cpu).push_back(h.server_cpu_ms);
      failed += h.failed;
      std::printf("  rep %d: host server, %s: %.0f handshakes/s (server %.2f CPU ms each)\n",
                  rep + 1, threshold == 0 ? "Retry always" : "no Retry", h.per_second,
                  h.server_cpu_ms);
      std::fflush(stdout);
    }
    const uint16_t retry_port = freeUdpPort(loop);
    SampleServer sample(dir / "htdocs", certs, retry_port, /*retry=*/true);
    waitUntilServing(loop, retry_port, tls);
    const Handshakes c = handshakes(loop, retry_port, tls, o.seconds, o.concurrency,
                                    [&] { return processCpuSeconds(sample.pid()); });
    sample_retry.push_back(c.per_second);
    failed += c.failed;
    std::printf("  rep %d: gtlsserver -V: %.0f handshakes/s (server %.2f CPU ms each)\n", rep + 1,
                c.per_second, c.server_cpu_ms);
    std::fflush(stdout);
  }
  std::printf("\nmedians of %d runs (ratio = Selium / other)\n", o.reps);
  report("download, one stream", s_mbps, n_mbps, "MB/s", "gtlsserver");
  report("server CPU per GB sent", s_cpu, n_cpu, "s   ", "gtlsserver");
  report("client CPU per GB received", s_client, n_client, "s   ", "gtlsserver");
  report("handshakes", s_hs, n_hs, "/s  ", "gtlsserver");
  report("server CPU per handshake", s_hs_cpu, n_hs_cpu, "ms  ", "gtlsserver");
  report("host server: Retry always vs never", always, never, "/s  ", "no Retry");
  report("  server CPU per handshake", always_cpu, never_cpu, "ms  ", "no Retry");
  std::printf("%-34s gtlsserver -V %.0f /s\n", "sample server with Retry", median(sample_retry));
  if (failed > 0) std::printf("failed handshakes: %llu\n", static_cast<unsigned long long>(failed));
  engine.shutdown(10s);
  fs::remove_all(dir);
  return 0;
}
