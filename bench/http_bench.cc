// HTTP serving speed and memory: a guest answering "hello\n" (bench/guests/http.cc) on one Selium
// worker, against nginx from Debian with one worker process answering the same bytes, measured
// alternately in the same run: HTTP/1.1 keep-alive with wrk, HTTPS HTTP/2 with h2load, and the
// memory each server holds per idle connection. See bench/README.md.
//
//   http_bench [--seconds 5] [--reps 3] [--connections 50] [--idle 10000]
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "util/certs.h"

namespace selium::bench {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct Options {
  int seconds = 5;
  int reps = 3;
  int connections = 50;
  int idle = 10000;
};

Options parseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) die("missing value for " + arg);
      return std::atoi(argv[++i]);
    };
    if (arg == "--seconds") {
      o.seconds = next();
    } else if (arg == "--reps") {
      o.reps = next();
    } else if (arg == "--connections") {
      o.connections = next();
    } else if (arg == "--idle") {
      o.idle = next();
    } else {
      die("usage: http_bench [--seconds S] [--reps R] [--connections C] [--idle N]");
    }
  }
  if (o.seconds < 1 || o.reps < 1 || o.connections < 1 || o.idle < 0) die("bad options");
  return o;
}

// Resident memory of a process (self: 0), in bytes.
std::size_t rssOf(pid_t pid = 0) {
  std::ifstream in(pid == 0 ? "/proc/self/status" : "/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

struct Load {
  double requests_per_second = 0;
  double p99_ms = 0;
  bool ok = false;
};

double toMs(const std::string& value, const std::string& unit) {
  double v = std::atof(value.c_str());
  if (unit == "us") return v / 1000;
  if (unit == "s") return v * 1000;
  return v;
}

Load runWrk(uint16_t port, const Options& o) {
  auto out = runChild({"wrk", "-t1", "-c" + std::to_string(o.connections),
                       "-d" + std::to_string(o.seconds) + "s", "--latency",
                       "http://127.0.0.1:" + std::to_string(port) + "/hello"});
  Load load;
  std::smatch m;
  if (std::regex_search(out.out, m, std::regex(R"(Requests/sec:\s+([0-9.]+))"))) {
    load.requests_per_second = std::atof(m[1].str().c_str());
  }
  if (std::regex_search(out.out, m, std::regex(R"(99%\s+([0-9.]+)(us|ms|s))"))) {
    load.p99_ms = toMs(m[1].str(), m[2].str());
  }
  load.ok = out.exitedZero() && load.requests_per_second > 0 &&
            out.out.find("Non-2xx") == std::string::npos &&
            out.out.find("Socket errors") == std::string::npos;
  if (!load.ok) std::fprintf(stderr, "wrk:\n%s\n", out.out.c_str());
  return load;
}

Load runH2load(uint16_t port, const Options& o) {
  auto out = runChild({"h2load", "-D", std::to_string(o.seconds), "-c", "10", "-m", "10", "-t", "1",
                       "https://127.0.0.1:" + std::to_string(port) + "/hello"});
  Load load;
  std::smatch m;
  if (std::regex_search(out.out, m, std::regex(R"(finished in [0-9.]+m?s, ([0-9.]+) req/s)"))) {
    load.requests_per_second = std::atof(m[1].str().c_str());
  }
  std::smatch done;
  bool all_ok =
      std::regex_search(
          out.out, done,
          std::regex(R"(requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded)")) &&
      done[2] == done[3] && std::atoll(done[3].str().c_str()) > 0;
  if (std::regex_search(out.out, m, std::regex(R"(time for request:\s+\S+\s+\S+\s+\S+\s+\S+)"))) {
    // h2load gives min/max/mean/sd, not percentiles: p99 is not reported for it.
  }
  load.ok = out.exitedZero() && all_ok;
  if (!load.ok) std::fprintf(stderr, "h2load:\n%s\n", out.out.c_str());
  return load;
}

// nginx with one process (no master) serving the same bytes, plain and HTTPS with HTTP/2.
pid_t g_nginx = -1;  // stopped at exit, whatever path the benchmark ends by

class Nginx {
 public:
  Nginx(const fs::path& dir, uint16_t plain, uint16_t tls) : dir_(dir) {
    fs::create_directories(dir / "logs");
    std::ofstream conf(dir / "nginx.conf");
    conf << "daemon off;\nmaster_process off;\nworker_processes 1;\npid "
         << (dir / "nginx.pid").string() << ";\nerror_log " << (dir / "logs/error.log").string()
         << " error;\n"
         << "events { worker_connections 20000; }\n"
         << "http {\n access_log off;\n keepalive_requests 100000000;\n"
         << " client_body_temp_path " << (dir / "tmp").string() << ";\n"
         << " server {\n  listen 127.0.0.1:" << plain << ";\n"
         << "  listen 127.0.0.1:" << tls << " ssl http2;\n"
         << "  ssl_certificate " << (dir / "certs/server.crt").string() << ";\n"
         << "  ssl_certificate_key " << (dir / "certs/server.key").string() << ";\n"
         << "  ssl_protocols TLSv1.3;\n"
         << "  location / { default_type text/plain; return 200 \"hello\\n\"; }\n }\n}\n";
    conf.close();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execlp("nginx", "nginx", "-p", dir.c_str(), "-c", (dir / "nginx.conf").c_str(), nullptr);
      std::_Exit(127);
    }
    g_nginx = pid_;
    std::atexit([] {
      if (g_nginx > 0) ::kill(g_nginx, SIGTERM);
    });
    std::this_thread::sleep_for(500ms);
  }
  ~Nginx() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  fs::path dir_;
  pid_t pid_ = -1;
};

uint16_t freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Holds `n` idle connections to `port` from a child process (its descriptors count against its
// own limit, not the server's); they close when the returned object is destroyed.
class IdleClients {
 public:
  IdleClients(uint16_t port, int n) {
    int ready[2];
    int hold[2];
    if (::pipe(ready) != 0 || ::pipe(hold) != 0) die("pipe failed");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(ready[0]);
      ::close(hold[1]);
      std::vector<int> fds;
      for (int i = 0; i < n; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) std::_Exit(1);
        fds.push_back(fd);
      }
      char byte = 1;
      (void)::write(ready[1], &byte, 1);
      (void)::read(hold[0], &byte, 1);  // until the parent closes its end
      std::_Exit(0);
    }
    ::close(ready[1]);
    ::close(hold[0]);
    hold_ = hold[1];
    char byte = 0;
    if (::read(ready[0], &byte, 1) != 1) die("the idle clients could not connect");
    ::close(ready[0]);
    std::this_thread::sleep_for(1s);  // the server accepts them all
  }
  ~IdleClients() {
    ::close(hold_);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }

 private:
  pid_t pid_ = -1;
  int hold_ = -1;
};

}  // namespace
}  // namespace selium::bench

int main(int argc, char** argv) {
  using namespace selium;
  using namespace selium::bench;
  Options o = parseOptions(argc, argv);
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &nofile);
  quietLog();

  fs::path dir = fs::temp_directory_path() / ("selium-http-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir / "tmp");
  util::CertOptions certs;
  certs.output_dir = dir / "certs";
  if (auto written = util::generateCerts(certs); !written) die(written.error().message);

  std::mutex mutex;
  std::condition_variable changed;
  std::map<kernel::ProcessId, uint16_t> ports;
  engine::EngineOptions options;
  options.workers = 1;
  options.network.certs_dir = dir / "certs";
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
  auto module = engine.load(readGuest("bench_http.wasm"), "bench_http.wasm");
  if (!module) die(module.error().message);
  auto serve = [&](uint32_t tls) {
    engine::SpawnRequest request;
    request.module = *module;
    request.entrypoint = "serve";
    request.args = {{kernel::ParamKind::U32, kernel::ArgValue{uint64_t{tls}}}};
    for (auto c : {kernel::Capability::NetHttpBind, kernel::Capability::NetHttpAccept,
                   kernel::Capability::NetHttpRead, kernel::Capability::NetHttpWrite,
                   kernel::Capability::NetHttpsBind, kernel::Capability::NetHttpsAccept,
                   kernel::Capability::NetHttpsRead, kernel::Capability::NetHttpsWrite}) {
      request.capabilities.add(c);
    }
    auto spawned = engine.spawn(std::move(request));
    if (!spawned) die(spawned.error().message);
    std::unique_lock lock(mutex);
    if (!changed.wait_for(lock, 20s, [&] { return ports.count(spawned->pid) > 0; })) {
      die("the guest server did not start");
    }
    return ports[spawned->pid];
  };
  const uint16_t selium_plain = serve(0);
  const uint16_t selium_tls = serve(1);
  const uint16_t nginx_plain = freePort();
  const uint16_t nginx_tls = freePort();
  Nginx nginx(dir, nginx_plain, nginx_tls);

  std::vector<double> s1, n1, s1p99, n1p99, s2, n2;
  for (int rep = 0; rep < o.reps; ++rep) {
    auto a = runWrk(selium_plain, o);
    auto b = runWrk(nginx_plain, o);
    auto c = runH2load(selium_tls, o);
    auto d = runH2load(nginx_tls, o);
    if (!a.ok || !b.ok || !c.ok || !d.ok) {
      ::kill(nginx.pid(), SIGTERM);
      die("a load run failed (see above)");
    }
    s1.push_back(a.requests_per_second);
    s1p99.push_back(a.p99_ms);
    n1.push_back(b.requests_per_second);
    n1p99.push_back(b.p99_ms);
    s2.push_back(c.requests_per_second);
    n2.push_back(d.requests_per_second);
  }
  std::printf(
      "One Selium worker (a guest answering \"hello\\n\") vs one nginx process, medians of "
      "%d alternating runs of %d s; load generator on the same machine.\n\n",
      o.reps, o.seconds);
  std::printf(
      "| benchmark | Selium req/s | nginx req/s | ratio | Selium p99 | nginx p99 | target |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  std::printf(
      "| HTTP/1.1 keep-alive, wrk -t1 -c%d | %.0f | %.0f | %.2fx | %.2f ms | %.2f ms | >= 0.5x |\n",
      o.connections, median(s1), median(n1), median(s1) / median(n1), median(s1p99), median(n1p99));
  std::printf("| HTTPS HTTP/2, h2load -c10 -m10 | %.0f | %.0f | %.2fx | - | - | >= 0.5x |\n",
              median(s2), median(n2), median(s2) / median(n2));

  if (o.idle > 0) {
    std::size_t before = rssOf();
    std::size_t after = 0;
    {
      IdleClients clients(selium_plain, o.idle);
      after = rssOf();
    }
    std::size_t nginx_before = rssOf(nginx.pid());
    std::size_t nginx_after = 0;
    {
      IdleClients clients(nginx_plain, o.idle);
      nginx_after = rssOf(nginx.pid());
    }
    auto per = [&](std::size_t a, std::size_t b) {
      return b > a ? static_cast<double>(b - a) / o.idle : 0.0;
    };
    std::printf(
        "\nIdle HTTP/1.1 connections held open: %d. Resident memory above the process's "
        "baseline, per connection (kernel socket buffers not included):\n\n",
        o.idle);
    std::printf("| server | per connection | target |\n|---|---|---|\n");
    std::printf("| Selium (whole runtime process) | %.0f bytes | <= 10 KiB |\n",
                per(before, after));
    std::printf("| nginx | %.0f bytes | reference |\n", per(nginx_before, nginx_after));
  }
  engine.shutdown(10s);
  fs::remove_all(dir);
  return 0;
}
