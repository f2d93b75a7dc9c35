// The control plane's speed: the real selium-runtime serving the Remote Client module (mutual TLS,
// policy `client.localhost=*`) next to Atlas and Switchboard, driven by the real `selium` CLI and
// by the CLI's own client library (src/cli/client.h). See bench/README.md.
//
//   (a) `selium list` wall time, against `selium --version` (process start-up and exit) and against
//       a host-only QUIC server answering the same list (same QUIC code, certificates and mutual
//       TLS; no guest), with the time split into connect (certificates, TLS set-up, handshake),
//       the list request on the open connection and the close: in a fresh process (this binary
//       run with --probe, cold as the CLI is) and in this process (warm).
//   (b) K clients at once, each on its own connection, starting and stopping a small module in a
//       loop: starts per second and per-op latency, against the same starts and stops done by an
//       engine in this process (module read from disk, loaded, spawned, stopped).
//
//   control_plane_bench [--runs 40] [--ops 40] [--clients 1,4,16] [--cli PATH] [--runtime PATH]
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <barrier>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "bench_util.h"
#include "cli/client.h"
#include "control/protocol.h"
#include "net/quic/quic.h"
#include "util/certs.h"

namespace selium::bench {
namespace {

namespace fs = std::filesystem;
namespace quic = net::quic;
using namespace std::chrono_literals;

constexpr auto kTimeout = 30s;
constexpr const char* kStartModule = "idle.wasm";  // bench/guests/idle.wat: starts, then waits

struct Options {
  int runs = 40;
  int ops = 40;
  std::vector<int> clients = {1, 4, 16};
  // The binaries run (another build's, to compare before and after a change).
  std::string cli = SELIUM_CLI_BIN;
  std::string runtime = SELIUM_RUNTIME_BIN;
};

Options parseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value for " + arg);
      return argv[++i];
    };
    if (arg == "--runs") {
      o.runs = std::atoi(value().c_str());
    } else if (arg == "--ops") {
      o.ops = std::atoi(value().c_str());
    } else if (arg == "--clients") {
      o.clients.clear();
      std::stringstream list(value());
      for (std::string item; std::getline(list, item, ',');) o.clients.push_back(std::stoi(item));
    } else if (arg == "--cli") {
      o.cli = value();
    } else if (arg == "--runtime") {
      o.runtime = value();
    } else {
      die("usage: control_plane_bench [--runs N] [--ops N] [--clients K,K,...] [--cli PATH] "
          "[--runtime PATH]");
    }
  }
  if (o.runs < 1 || o.ops < 1 || o.clients.empty()) die("counts must be positive");
  for (int k : o.clients) {
    if (k < 1 || k > 64) die("--clients: each count must be 1 to 64");
  }
  return o;
}

double msBetween(Clock::time_point from, Clock::time_point to) {
  return nanosBetween(from, to) / 1e6;
}

std::string readText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) die("cannot read " + path.string());
  return {std::istreambuf_iterator<char>(in), {}};
}

// ---- The runtime -----------------------------------------------------------------------------

// selium-runtime serving Atlas, Switchboard and the Remote Client module from `work`, its JSON log
// records written to work/runtime.log (a file, so the runtime never waits on this benchmark).
class Runtime {
 public:
  Runtime(const std::string& binary, const fs::path& work) : log_(work / "runtime.log") {
    const std::string system_caps = "capabilities=ChannelLifecycle,ChannelReader,ChannelWriter,";
    const std::vector<std::string> argv = {
        binary,
        "-w",
        work.string(),
        "--log-format",
        "json",
        "--module",
        "path=selium_atlas_server.wasm;" + system_caps + "SingletonRegistry",
        "--module",
        "path=selium_switchboard_server.wasm;" + system_caps + "SingletonRegistry,TimeRead",
        "--module",
        "path=selium_remote_client_server.wasm;entrypoint=start;" + system_caps +
            "SessionLifecycle,ProcessLifecycle,NetQuicBind,NetQuicAccept,NetQuicRead,"
            "NetQuicWrite,TimeRead;args=utf8:127.0.0.1,u16:0,utf8:client.localhost=*"};
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int log_fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) die("cannot create " + log_.string() + ": " + std::strerror(errno));
    // fork + exec rather than posix_spawn, for PR_SET_PDEATHSIG: die() ends this benchmark
    // without running destructors, and the runtime must not outlive it.
    pid_ = ::fork();
    if (pid_ < 0) die(std::string("fork: ") + std::strerror(errno));
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(log_fd);
  }

  ~Runtime() {
    ::kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + 30s;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (Clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
  }

  // The port the module logged in its "listening" record; dies after a minute or if the runtime
  // ends first.
  uint16_t waitListening() {
    const auto deadline = Clock::now() + 60s;
    while (Clock::now() < deadline) {
      std::ifstream in(log_);
      for (std::string line; std::getline(in, line);) {
        auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (record.is_discarded() || record.value("message", "") != "listening") continue;
        if (record.contains("fields") && record["fields"].contains("port")) {
          return record["fields"]["port"].get<uint16_t>();
        }
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        die("selium-runtime ended before the module listened; its output:\n" + readText(log_));
      }
      std::this_thread::sleep_for(20ms);
    }
    die("the Remote Client module did not log \"listening\" within 60 s; output:\n" +
        readText(log_));
  }

 private:
  fs::path log_;
  pid_t pid_ = -1;
};

// ---- A host-only reference server ------------------------------------------------------------

// One stream of the reference server: reads the request frame, answers a ListRequest with the
// canned list (anything else with an error), then FIN.
class ListAnswer : public net::ByteConsumer {
 public:
  ListAnswer(std::weak_ptr<quic::Stream> stream, const control::ListResponse* list)
      : stream_(std::move(stream)), list_(list) {}

  std::size_t offer(std::span<const uint8_t> bytes) override {
    frames_.push(bytes);
    if (answered_) return bytes.size();
    std::optional<std::vector<uint8_t>> request = frames_.next();
    if (!request) return bytes.size();
    answered_ = true;
    std::vector<uint8_t> reply;
    auto decoded = control::decodeRequest(*request);
    if (const auto* r = std::get_if<control::Request>(&decoded);
        r != nullptr && std::holds_alternative<control::ListRequest>(r->body)) {
      reply = control::responseFrame(control::Response{r->request_id, *list_});
    } else {
      reply = control::errorFrame(0, "the reference server answers list requests only");
    }
    if (auto s = stream_.lock()) s->setProducer(std::make_shared<net::StaticBytes>(reply));
    return bytes.size();
  }
  void end(bool) override {}

 private:
  std::weak_ptr<quic::Stream> stream_;
  const control::ListResponse* list_;
  control::FrameDecoder frames_{control::kMaxRequestBytes};
  bool answered_ = false;
};

// The host's own QUIC server (src/net/quic) on 127.0.0.1 with the work dir's certificates and
// client certificates required, as the Remote Client module listens, but answering in the host
// on its own thread: the figure without the runtime's guest path (driver, channels, the module).
class ReferenceServer {
 public:
  ReferenceServer(const fs::path& certs, control::ListResponse list) : list_(std::move(list)) {
    quic::ServerTls tls;
    tls.identities.push_back(quic::Identity{
        {"localhost"}, readText(certs / "server.crt"), readText(certs / "server.key")});
    tls.client_ca_pem = readText(certs / "ca.crt");
    tls.require_client_auth = true;
    quic::Limits limits;
    limits.max_streams_per_connection = 16;
    auto endpoint = quic::Endpoint::listen(
        loop_, {boost::asio::ip::address_v4::loopback(), 0}, std::move(tls), limits,
        [this](std::shared_ptr<quic::Connection> connection) {
          connection->onStream([this](std::shared_ptr<quic::Stream> stream) {
            stream->setConsumer(std::make_shared<ListAnswer>(stream, &list_));
          });
          auto* raw = connection.get();
          // Dropped on a later turn of the loop, not inside the connection's own callback.
          connection->onClosed([this, raw](std::string) {
            boost::asio::post(loop_, [this, raw] { connections_.erase(raw); });
          });
          connections_.emplace(raw, std::move(connection));
        });
    if (!endpoint) die("reference server: " + endpoint.error().message);
    endpoint_ = std::move(*endpoint);
    port_ = endpoint_->port();
    thread_ = std::thread([this] { loop_.run(); });
  }
  ~ReferenceServer() {
    boost::asio::post(loop_, [this] {
      endpoint_->close();
      work_.reset();
    });
    thread_.join();
  }
  uint16_t port() const { return port_; }

 private:
  control::ListResponse list_;
  boost::asio::io_context loop_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      loop_.get_executor()};
  std::shared_ptr<quic::Endpoint> endpoint_;
  std::map<quic::Connection*, std::shared_ptr<quic::Connection>> connections_;
  uint16_t port_ = 0;
  std::thread thread_;
};

// ---- (a) one list ----------------------------------------------------------------------------

std::unique_ptr<cli::Client> connectOrDie(uint16_t port, const fs::path& certs) {
  auto client = cli::Client::connect({"127.0.0.1", port, certs, kTimeout});
  if (!client) die("connect: " + client.error());
  return std::move(*client);
}

control::ListResponse listOrDie(cli::Client& client) {
  auto call = client.open({0, control::ListRequest{}}, /*keep_open=*/false);
  if (!call) die("list: " + call.error());
  auto response = client.response(**call, kTimeout);
  if (!response) die("list: " + response.error());
  auto* list = std::get_if<control::ListResponse>(&response->body);
  if (list == nullptr) die("list: the server answered with no list");
  return std::move(*list);
}

// One `selium list` as the CLI runs it (connect, one request, close), timed in three parts (ms);
// `processes` is how many the list held.
struct ListSplit {
  double connect = 0, request = 0, close = 0;
  std::size_t processes = 0;
};

ListSplit timedList(uint16_t port, const fs::path& certs) {
  ListSplit split;
  const Clock::time_point t0 = Clock::now();
  auto client = connectOrDie(port, certs);
  const Clock::time_point t1 = Clock::now();
  split.processes = listOrDie(*client).processes.size();
  const Clock::time_point t2 = Clock::now();
  client.reset();  // closes, as the CLI does on exit
  const Clock::time_point t3 = Clock::now();
  split.connect = msBetween(t0, t1);
  split.request = msBetween(t1, t2);
  split.close = msBetween(t2, t3);
  return split;
}

// --probe PORT CERTS: one timedList in this fresh process (cold: the first TLS set-up and
// handshake of the process, as the CLI's), printed as one line of key=value fields.
int probe(int argc, char** argv) {
  if (argc != 4) die("usage: control_plane_bench --probe PORT CERT-DIR");
  const ListSplit s = timedList(static_cast<uint16_t>(std::atoi(argv[2])), argv[3]);
  std::printf("connect=%.4f request=%.4f close=%.4f processes=%zu\n", s.connect, s.request, s.close,
              s.processes);
  return 0;
}

ListSplit runProbe(uint16_t port, const fs::path& certs) {
  static const std::string self = fs::read_symlink("/proc/self/exe").string();
  ChildOutput out = runChild({self, "--probe", std::to_string(port), certs.string()});
  ListSplit s;
  if (!out.exitedZero() || std::sscanf(out.out.c_str(), "connect=%lf request=%lf close=%lf",
                                       &s.connect, &s.request, &s.close) != 3) {
    die("probe failed: " + out.out);
  }
  return s;
}

double wallMs(const std::vector<std::string>& argv, std::string_view expect) {
  const Clock::time_point t0 = Clock::now();
  ChildOutput out = runChild(argv);
  const double ms = msBetween(t0, Clock::now());
  if (!out.exitedZero() || out.out.find(expect) == std::string::npos) {
    die(argv[0] + " " + argv.back() + " failed; it printed: " + out.out);
  }
  return ms;
}

struct Series {
  std::vector<double> v;
  void add(double x) { v.push_back(x); }
  std::string p50() const { return format("%.2f ms", median(v)); }
  std::string p90() const { return format("%.2f ms", percentile(v, 90)); }
};

void benchList(const Options& o, uint16_t runtime_port, const fs::path& certs) {
  // The reference answers with what the runtime lists, so both replies are the same size.
  auto warm_client = connectOrDie(runtime_port, certs);
  control::ListResponse listed = listOrDie(*warm_client);
  warm_client.reset();
  ReferenceServer reference(certs, listed);

  auto listArgv = [&](uint16_t port) {
    return std::vector<std::string>{
        o.cli,        "--server",     "127.0.0.1:" + std::to_string(port),
        "--cert-dir", certs.string(), "list"};
  };
  Series version, cli_runtime, cli_host;
  Series cold_connect[2], cold_request[2], cold_close[2];
  Series warm_connect[2], warm_request[2], warm_close[2];
  const uint16_t ports[2] = {runtime_port, reference.port()};
  // Interleaved run by run, after one warm-up of each.
  for (int run = -1; run < o.runs; ++run) {
    const double v = wallMs({o.cli, "--version"}, "selium ");
    const double r = wallMs(listArgv(runtime_port), "STARTED-BY");
    const double h = wallMs(listArgv(reference.port()), "STARTED-BY");
    ListSplit cold[2], warm[2];
    for (int i = 0; i < 2; ++i) {
      cold[i] = runProbe(ports[i], certs);
      warm[i] = timedList(ports[i], certs);
    }
    if (run < 0) continue;
    version.add(v);
    cli_runtime.add(r);
    cli_host.add(h);
    for (int i = 0; i < 2; ++i) {
      cold_connect[i].add(cold[i].connect);
      cold_request[i].add(cold[i].request);
      cold_close[i].add(cold[i].close);
      warm_connect[i].add(warm[i].connect);
      warm_request[i].add(warm[i].request);
      warm_close[i].add(warm[i].close);
    }
  }

  std::printf("### (a) `selium list`: wall time and where it goes\n\n");
  std::printf(
      "%d runs of each, interleaved; the list holds %zu processes. Fresh process: this binary "
      "run with --probe for each sample (the process's first TLS set-up and handshake, as the "
      "CLI's); warm: in this process after earlier connections.\n\n",
      o.runs, listed.processes.size());
  Table table({"measurement", "runtime p50", "runtime p90", "host-only p50", "host-only p90"});
  table.row(
      {"`selium --version` wall (process start-up + exit)", version.p50(), version.p90(), "", ""});
  table.row(
      {"`selium list` wall", cli_runtime.p50(), cli_runtime.p90(), cli_host.p50(), cli_host.p90()});
  auto rows = [&](const char* label, Series* connect, Series* request, Series* close) {
    table.row({std::string(label) + " connect (certs, TLS, handshake)", connect[0].p50(),
               connect[0].p90(), connect[1].p50(), connect[1].p90()});
    table.row({std::string(label) + " list request on the open connection", request[0].p50(),
               request[0].p90(), request[1].p50(), request[1].p90()});
    table.row({std::string(label) + " close", close[0].p50(), close[0].p90(), close[1].p50(),
               close[1].p90()});
  };
  rows("fresh process:", cold_connect, cold_request, cold_close);
  rows("warm:", warm_connect, warm_request, warm_close);
  table.print();
  const double wall = median(cli_runtime.v);
  const double start = median(version.v);
  const double parts =
      median(cold_connect[0].v) + median(cold_request[0].v) + median(cold_close[0].v);
  std::printf(
      "\nSplit of the median `selium list` (runtime): %.1f ms = start-up %.1f ms (--version) + "
      "connect %.1f + request %.1f + close %.1f (fresh process) + %.1f ms rest (argument parsing, "
      "output; medians do not add up exactly, so the rest may come out below 0). Target <= 50 ms "
      "wall: %s (%.2fx the target). `selium list` against the "
      "host-only server: %.2fx the runtime's wall time.\n\n",
      wall, start, median(cold_connect[0].v), median(cold_request[0].v), median(cold_close[0].v),
      wall - start - parts, wall <= 50.0 ? "met" : "missed", wall / 50.0,
      median(cli_host.v) / wall);
}

// ---- (b) starts and stops --------------------------------------------------------------------

// Per-op latencies of one configuration, and its rate.
struct OpStats {
  std::vector<double> start_ms, stop_ms;
  double seconds = 0;
  uint64_t ops = 0;
  double perSecond() const { return static_cast<double>(ops) / seconds; }
};

// Runs `clients` threads at once, each doing `ops` times: start() -> a process, then stop(it);
// the clock starts when every thread is ready. `start` and `stop` get the thread's index.
template <typename Start, typename Stop>
OpStats timeOps(int clients, int ops, const Start& start, const Stop& stop) {
  std::vector<OpStats> each(static_cast<std::size_t>(clients));
  std::barrier ready(clients + 1);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      OpStats& mine = each[static_cast<std::size_t>(c)];
      ready.arrive_and_wait();
      for (int i = 0; i < ops; ++i) {
        const Clock::time_point t0 = Clock::now();
        const uint64_t pid = start(c);
        const Clock::time_point t1 = Clock::now();
        stop(c, pid);
        const Clock::time_point t2 = Clock::now();
        mine.start_ms.push_back(msBetween(t0, t1));
        mine.stop_ms.push_back(msBetween(t1, t2));
      }
    });
  }
  ready.arrive_and_wait();
  const Clock::time_point began = Clock::now();
  for (auto& t : threads) t.join();
  OpStats all;
  all.seconds = nanosBetween(began, Clock::now()) / 1e9;
  for (const OpStats& s : each) {
    all.start_ms.insert(all.start_ms.end(), s.start_ms.begin(), s.start_ms.end());
    all.stop_ms.insert(all.stop_ms.end(), s.stop_ms.begin(), s.stop_ms.end());
  }
  all.ops = all.start_ms.size();
  return all;
}

// Through the control plane: one connection per client (connected before the clock starts); a
// start waits for the StartResponse (the pid), a stop for the OkResponse (the process ended).
OpStats controlPlaneOps(int clients, int ops, uint16_t port, const fs::path& certs) {
  std::vector<std::unique_ptr<cli::Client>> connections;
  for (int i = 0; i < clients; ++i) connections.push_back(connectOrDie(port, certs));
  auto start = [&](int c) -> uint64_t {
    cli::Client& client = *connections[static_cast<std::size_t>(c)];
    control::StartRequest request;
    request.module = kStartModule;
    request.entrypoint = "start";
    auto call = client.open({0, request}, false);
    if (!call) die("start: " + call.error());
    auto started = client.response(**call, kTimeout);
    if (!started) die("start: " + started.error());
    const auto* pid = std::get_if<control::StartResponse>(&started->body);
    if (pid == nullptr) die("start: the server refused or answered without a pid");
    return pid->pid;
  };
  auto stop = [&](int c, uint64_t pid) {
    cli::Client& client = *connections[static_cast<std::size_t>(c)];
    auto call = client.open({0, control::StopRequest{pid}}, false);
    if (!call) die("stop: " + call.error());
    auto stopped = client.response(**call, kTimeout);
    if (!stopped || !std::holds_alternative<control::OkResponse>(stopped->body)) {
      die("stop of process " + std::to_string(pid) + " failed");
    }
  };
  return timeOps(clients, ops, start, stop);
}

// Exits of the reference engine's processes, by pid (any reason: stopped ones end Terminated).
class Exits {
 public:
  void record(kernel::ProcessId pid) {
    std::lock_guard lock(mutex_);
    ended_.insert(pid);
    changed_.notify_all();
  }
  void wait(kernel::ProcessId pid) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, kTimeout, [&] { return ended_.count(pid) > 0; })) {
      die("reference process " + std::to_string(pid) + " did not end");
    }
    ended_.erase(pid);
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::set<kernel::ProcessId> ended_;
};

// The same starts and stops without the control plane, by an engine in this process: read the
// module from disk, load it (the engine shares compiled modules by content, as the runtime's
// launcher does), spawn it and wait until it has started; then stop it and wait for its exit.
OpStats localOps(engine::Engine& engine, Exits& exits, int clients, int ops) {
  auto start = [&](int) -> uint64_t {
    auto module = engine.load(readGuest(kStartModule), kStartModule);
    if (!module) die("load: " + module.error().message);
    engine::SpawnRequest request;
    request.module = *module;
    request.entrypoint = "start";
    auto spawned = engine.spawn(std::move(request));
    if (!spawned) die("spawn: " + spawned.error().message);
    if (Status s = spawned->started.get(); !s) die("start: " + s.error().message);
    return spawned->pid;
  };
  auto stop = [&](int, uint64_t pid) {
    if (!engine.stop(pid)) die("stop: no process " + std::to_string(pid));
    exits.wait(pid);
  };
  return timeOps(clients, ops, start, stop);
}

void benchStarts(const Options& o, uint16_t port, const fs::path& certs) {
  Exits exits;
  engine::EngineOptions options;
  options.on_exit = [&exits](const engine::ProcessExit& exit) { exits.record(exit.pid); };
  engine::Engine engine(std::move(options));
  // Warm-up: the first start of the module on each side (compile, compile cache).
  (void)controlPlaneOps(1, 2, port, certs);
  (void)localOps(engine, exits, 1, 2);

  std::printf("### (b) clients starting and stopping processes at once\n\n");
  std::printf(
      "Each client: its own connection, then %d x (start %s, stop it); latencies are per request "
      "(request sent -> response decoded). Local: the same starts and stops by an engine in this "
      "process (%zu workers; the runtime has as many), one thread per client.\n\n",
      o.ops, kStartModule, engine.workerCount());
  Table table({"clients", "control plane starts/s", "start p50", "start p90", "stop p50",
               "local starts/s", "local start p50", "local stop p50", "rate ratio",
               "start latency ratio"});
  for (int k : o.clients) {
    const OpStats cp = controlPlaneOps(k, o.ops, port, certs);
    const OpStats local = localOps(engine, exits, k, o.ops);
    table.row({std::to_string(k), format("%.0f", cp.perSecond()),
               format("%.2f ms", median(cp.start_ms)),
               format("%.2f ms", percentile(cp.start_ms, 90)),
               format("%.2f ms", median(cp.stop_ms)), format("%.0f", local.perSecond()),
               format("%.2f ms", median(local.start_ms)), format("%.2f ms", median(local.stop_ms)),
               format("%.2fx", cp.perSecond() / local.perSecond()),
               format("%.1fx", median(cp.start_ms) / median(local.start_ms))});
  }
  table.print();
  if (!engine.shutdown(30s)) die("the reference engine did not shut down");
}

int run(const Options& o) {
  quietLog();
  char pattern[] = "/tmp/selium-control-plane-bench-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) die("mkdtemp failed");
  const fs::path work = pattern;
  fs::create_directories(work / "modules");
  for (const char* module : {"selium_atlas_server.wasm", "selium_switchboard_server.wasm",
                             "selium_remote_client_server.wasm", kStartModule}) {
    fs::copy_file(fs::path(SELIUM_GUEST_DIR) / module, work / "modules" / module);
  }
  util::CertOptions cert_options;
  cert_options.output_dir = work / "certs";
  if (auto written = util::generateCerts(cert_options); !written) die(written.error().message);
  {
    Runtime runtime(o.runtime, work);
    const uint16_t port = runtime.waitListening();
    benchList(o, port, work / "certs");
    benchStarts(o, port, work / "certs");
  }
  std::error_code ignored;
  fs::remove_all(work, ignored);
  return 0;
}

}  // namespace
}  // namespace selium::bench

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "--probe") return selium::bench::probe(argc, argv);
  return selium::bench::run(selium::bench::parseOptions(argc, argv));
}
