// End-to-end tests of the examples built on the system modules: examples/atlas_service (a
// service found through Atlas) and examples/sb_load_balancer (HTTP requests fed to workers
// through a Switchboard fanout). The real selium-runtime runs the real Atlas or Switchboard
// module next to the example, from module specs as the READMEs give them; HTTP requests are
// real requests over loopback sockets.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "subprocess.h"
#include "support/temp_dir.h"

namespace selium::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

// Generous: a loaded machine may be slow to start processes. Nothing here measures time.
constexpr auto kTimeout = 60s;

constexpr std::string_view kAtlasSpec =
    "path=selium_atlas_server.wasm;capabilities=ChannelLifecycle,ChannelReader,ChannelWriter,"
    "SingletonRegistry";
constexpr std::string_view kSwitchboardSpec =
    "path=selium_switchboard_server.wasm;capabilities=ChannelLifecycle,ChannelReader,"
    "ChannelWriter,SingletonRegistry,TimeRead";
constexpr std::string_view kGreeterCaps =
    "capabilities=SingletonLookup,ChannelLifecycle,ChannelReader,ChannelWriter,TimeRead";
constexpr std::string_view kBalancerCaps =
    "capabilities=NetHttpBind,NetHttpAccept,NetHttpRead,NetHttpWrite,ChannelLifecycle,"
    "ChannelReader,ChannelWriter,SingletonLookup,ProcessLifecycle,TimeRead";

// The runtime with the given module specs, logging JSON records.
class Runtime {
 public:
  Runtime(const fs::path& work, const fs::path& cwd, const std::vector<std::string>& specs) {
    std::vector<std::string> argv = {
        SELIUM_RUNTIME_BIN, "-w", work.string(), "--log-format", "json", "--workers", "4"};
    for (const std::string& spec : specs) argv.insert(argv.end(), {"--module", spec});
    process_ = std::make_unique<Subprocess>(SubprocessOptions{argv, {}, cwd});
  }
  ~Runtime() {
    if (!stopped_) (void)stop();
  }

  // The records with `message` that `match` accepts, from the start of the output, once there
  // are `count` of them (fewer at the deadline).
  std::vector<json> records(std::string_view message, std::size_t count,
                            const std::function<bool(const json&)>& match = {},
                            std::chrono::milliseconds timeout = kTimeout) {
    std::vector<json> found;
    process_->rewind();
    process_->waitForLine(
        [&](std::string_view line) {
          json record = json::parse(line, nullptr, /*allow_exceptions=*/false);
          if (record.is_discarded() || record.value("message", "") != message) return false;
          json fields = record.contains("fields") ? record["fields"] : json::object();
          if (match && !match(fields)) return false;
          found.push_back(std::move(fields));
          return found.size() >= count;
        },
        timeout);
    return found;
  }

  // The first such record (null json at the deadline).
  json record(std::string_view message, const std::function<bool(const json&)>& match = {},
              std::chrono::milliseconds timeout = kTimeout) {
    auto found = records(message, 1, match, timeout);
    return found.empty() ? json() : found.front();
  }

  // How `module`'s process started with `entrypoint` exited (null json at the deadline).
  json exitOf(std::string_view entrypoint) {
    json started = record("process started",
                          [&](const json& f) { return f.value("entrypoint", "") == entrypoint; });
    if (started.is_null()) return json();
    const int64_t pid = started["pid"].get<int64_t>();
    return record("process exited",
                  [&](const json& f) { return f.value("pid", int64_t{-1}) == pid; });
  }

  // Stops the runtime (SIGTERM) and returns what it printed.
  SubprocessResult stop() {
    stopped_ = true;
    process_->signal(SIGTERM);
    SubprocessResult result = process_->wait(30s);
    EXPECT_FALSE(result.timed_out);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result;
  }

 private:
  std::unique_ptr<Subprocess> process_;
  bool stopped_ = false;
};

class ModuleExamplesE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    work_ = temp_.path() / "work";
    fs::create_directories(work_ / "modules");
  }
  void addModules(std::initializer_list<std::string_view> guests) {
    for (std::string_view guest : guests) {
      fs::copy_file(fs::path(SELIUM_GUEST_DIR) / guest, work_ / "modules" / guest);
    }
  }
  std::unique_ptr<Runtime> start(const std::vector<std::string>& specs) {
    return std::make_unique<Runtime>(work_, temp_.path(), specs);
  }

  TempDir temp_{"e2e-module-examples"};
  fs::path work_;
};

// ---- atlas_service ----

constexpr std::string_view kGreeterUri = "sel://examples/greeter";

std::string greeterSpec(std::string_view entrypoint, std::string_view args) {
  return "path=atlas_service.wasm;entrypoint=" + std::string(entrypoint) + ";" +
         std::string(kGreeterCaps) + ";args=" + std::string(args);
}

class AtlasServiceE2E : public ModuleExamplesE2E {
 protected:
  void SetUp() override {
    ModuleExamplesE2E::SetUp();
    addModules({"selium_atlas_server.wasm", "atlas_service.wasm"});
  }
};

TEST_F(AtlasServiceE2E, DemoClientsFindTheServiceAndItsEntryGoesWithIt) {
  auto runtime = start(
      {std::string(kAtlasSpec),
       "path=atlas_service.wasm;entrypoint=demo;capabilities=ProcessLifecycle,SingletonLookup,"
       "ChannelLifecycle,ChannelReader,ChannelWriter,TimeRead;args=u32:3,u32:20"});
  json done = runtime->record("demo done");
  ASSERT_FALSE(done.is_null()) << "the demo never finished:\n" << runtime->stop().out;
  EXPECT_EQ(done["clients"], 3);
  EXPECT_EQ(done["succeeded"], 3);
  EXPECT_EQ(done["service"], "stopped");
  EXPECT_EQ(done["entry_removed"], true);

  json serving = runtime->record("serving");
  ASSERT_FALSE(serving.is_null());
  EXPECT_EQ(serving["uri"], kGreeterUri);
  const uint64_t writer = serving["writer"].get<uint64_t>();
  EXPECT_NE(writer, 0u);

  // Each client found the service's value by URI, and in the tenant's pattern lookup.
  std::vector<json> found = runtime->records("found", 3);
  ASSERT_EQ(found.size(), 3u);
  for (const json& f : found) {
    EXPECT_EQ(f["uri"], kGreeterUri);
    EXPECT_EQ(f["writer"].get<uint64_t>(), writer);
    EXPECT_EQ(f["pattern"], "sel://examples");
    EXPECT_EQ(f["matches"], 1);
    EXPECT_EQ(f["listed"], true);
  }
  std::vector<json> clients = runtime->records("client done", 3);
  ASSERT_EQ(clients.size(), 3u);
  for (const json& c : clients) EXPECT_EQ(c["requests"], 20);

  // Atlas itself says the service's entry went when the service's process ended.
  json cleaned = runtime->record("owner ended: its entries removed");
  ASSERT_FALSE(cleaned.is_null());
  json serve = runtime->record("process started",
                               [](const json& f) { return f.value("entrypoint", "") == "serve"; });
  ASSERT_FALSE(serve.is_null());
  EXPECT_EQ(cleaned["owner"], serve["pid"]);
  EXPECT_EQ(cleaned["entries"], 1);

  json exited = runtime->exitOf("demo");
  ASSERT_FALSE(exited.is_null());
  EXPECT_EQ(exited["reason"], "normal");
  EXPECT_EQ(exited["status"], 0);
}

TEST_F(AtlasServiceE2E, ClientsStartedFromModuleSpecsFindAndUseTheService) {
  // The clients come first: they wait for the Atlas and then for the entry.
  const std::string client = greeterSpec("client", "utf8:" + std::string(kGreeterUri) + ",u32:10");
  auto runtime = start({client, client, std::string(kAtlasSpec),
                        greeterSpec("serve", "utf8:" + std::string(kGreeterUri))});
  std::vector<json> done = runtime->records("client done", 2);
  ASSERT_EQ(done.size(), 2u) << runtime->stop().out;
  for (const json& d : done) EXPECT_EQ(d["requests"], 10);
  std::vector<json> exits = runtime->records(
      "process exited", 2, [](const json& f) { return f.value("reason", "") == "normal"; });
  ASSERT_EQ(exits.size(), 2u);
  for (const json& e : exits) EXPECT_EQ(e["status"], 0);
  // The service runs on, registered.
  EXPECT_TRUE(runtime->record("owner ended: its entries removed", {}, 0ms).is_null());
}

TEST_F(AtlasServiceE2E, AClientOfAnUnregisteredUriFails) {
  auto runtime =
      start({std::string(kAtlasSpec), greeterSpec("client", "utf8:sel://examples/nobody,u32:1")});
  json missing = runtime->record("no service registered");
  ASSERT_FALSE(missing.is_null()) << runtime->stop().out;
  EXPECT_EQ(missing["uri"], "sel://examples/nobody");
  json exited = runtime->exitOf("client");
  ASSERT_FALSE(exited.is_null());
  EXPECT_EQ(exited["status"], 1);
}

TEST_F(AtlasServiceE2E, TheServiceRefusesWhatIsNotASelUri) {
  auto runtime = start({std::string(kAtlasSpec), greeterSpec("serve", "utf8:http://x/greeter")});
  json refused = runtime->record("not a sel:// URI");
  ASSERT_FALSE(refused.is_null()) << runtime->stop().out;
  EXPECT_THAT(refused.value("error", ""), ::testing::HasSubstr("URI must use Selium scheme"));
  json exited = runtime->exitOf("serve");
  ASSERT_FALSE(exited.is_null());
  EXPECT_EQ(exited["status"], 1);
}

// The entry belongs to the process that inserted it: a second service of the same URI is
// refused while the first runs, and the first keeps serving.
TEST_F(AtlasServiceE2E, ASecondServiceCannotTakeARegisteredUri) {
  const std::string serve = greeterSpec("serve", "utf8:" + std::string(kGreeterUri));
  auto runtime = start({std::string(kAtlasSpec), serve, serve,
                        greeterSpec("client", "utf8:" + std::string(kGreeterUri) + ",u32:5")});
  json refused = runtime->record("cannot register the service");
  ASSERT_FALSE(refused.is_null()) << runtime->stop().out;
  EXPECT_EQ(refused["error"], "PermissionDenied");
  EXPECT_THAT(refused.value("detail", ""), ::testing::HasSubstr("is registered by process"));
  json serving = runtime->record("serving");
  ASSERT_FALSE(serving.is_null());
  EXPECT_EQ(runtime->records("serving", 2, {}, 0ms).size(), 1u);
  json done = runtime->record("client done");
  ASSERT_FALSE(done.is_null());
  EXPECT_EQ(done["requests"], 5);
  json found = runtime->record("found");
  EXPECT_EQ(found["writer"], serving["writer"]);
}

// ---- sb_load_balancer ----

// One HTTP/1.1 exchange over a fresh loopback connection.
struct HttpAnswer {
  int status = 0;  // 0: no answer
  std::string head;
  std::string body;
  std::string error;

  std::optional<std::string> header(std::string_view name) const {
    std::string lower_head = head;
    for (char& c : lower_head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::size_t at = lower_head.find("\r\n" + std::string(name) + ":");
    if (at == std::string::npos) return std::nullopt;
    std::size_t start = head.find_first_not_of(' ', at + 3 + name.size());
    std::size_t end = head.find("\r\n", start);
    return head.substr(start, end - start);
  }
};

std::ostream& operator<<(std::ostream& os, const HttpAnswer& a) {
  return os << "status " << a.status << ", body \"" << a.body.substr(0, 200) << "\", error \""
            << a.error << "\"";
}

HttpAnswer http(uint16_t port, std::string_view method, std::string_view path,
                std::string_view body = {}) {
  HttpAnswer answer;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return answer.error = "socket failed", answer;
  timeval tv{30, 0};  // every read and write bounded
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return answer.error = "connect failed", answer;
  }
  std::string request = std::string(method) + " " + std::string(path) +
                        " HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n";
  if (method != "GET") request += "content-length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n";
  request += body;
  for (std::size_t sent = 0; sent < request.size();) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may answer (413) before reading everything
    sent += static_cast<std::size_t>(n);
  }
  std::string in;
  char buffer[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    in.append(buffer, static_cast<std::size_t>(n));
    std::size_t end = in.find("\r\n\r\n");
    if (end == std::string::npos) continue;
    answer.head = in.substr(0, end);
    auto length = answer.header("content-length");
    if (length && in.size() >= end + 4 + std::stoul(*length)) break;
  }
  ::close(fd);
  std::size_t end = in.find("\r\n\r\n");
  if (end == std::string::npos || in.compare(0, 9, "HTTP/1.1 ") != 0) {
    answer.error = "no HTTP answer: " + in.substr(0, 100);
    return answer;
  }
  answer.head = in.substr(0, end);
  answer.status = std::atoi(in.c_str() + 9);
  answer.body = in.substr(end + 4);
  return answer;
}

std::string balancerSpec(std::string_view entrypoint, uint32_t workers) {
  return "path=sb_load_balancer.wasm;entrypoint=" + std::string(entrypoint) + ";" +
         std::string(kBalancerCaps) + ";args=utf8:127.0.0.1,u16:0,u32:" + std::to_string(workers);
}

// "worker {index}: {method} {path}\n" at the start of `body`: the index, or -1.
int workerOf(const std::string& body, std::string_view method, std::string_view path) {
  static const std::regex kLine("^worker ([0-9]+): ([A-Z]+) ([^\n]*)\n");
  std::smatch m;
  if (!std::regex_search(body, m, kLine) || m[2] != std::string(method) ||
      m[3] != std::string(path)) {
    return -1;
  }
  return std::stoi(m[1]);
}

class SbLoadBalancerE2E : public ModuleExamplesE2E {
 protected:
  void SetUp() override {
    ModuleExamplesE2E::SetUp();
    addModules({"selium_switchboard_server.wasm", "sb_load_balancer.wasm"});
  }

  // Starts the Switchboard and the balancer; the port once it listens and every worker is
  // wired (0 and a failure otherwise).
  uint16_t startBalancer(std::string_view entrypoint, uint32_t workers) {
    runtime_ = start({std::string(kSwitchboardSpec), balancerSpec(entrypoint, workers)});
    json listening = runtime_->record("listening");
    std::vector<json> ready = runtime_->records("worker ready", workers);
    if (listening.is_null() || ready.size() != workers) {
      ADD_FAILURE() << "the balancer never served with " << workers << " workers:\n"
                    << runtime_->stop().out;
      return 0;
    }
    EXPECT_EQ(listening["workers"], workers);
    return listening["port"].get<uint16_t>();
  }

  std::unique_ptr<Runtime> runtime_;
};

TEST_F(SbLoadBalancerE2E, AnswersEveryRequestThroughTheFanoutSpreadOverWorkers) {
  uint16_t port = startBalancer("balance", 3);
  ASSERT_NE(port, 0);

  std::set<int> workers_seen;
  int answered = 0;
  for (int round = 0; round < 3; ++round) {
    std::vector<std::future<HttpAnswer>> runs;
    for (int i = 0; i < 10; ++i) {
      runs.push_back(std::async(std::launch::async, http, port, "GET",
                                "/r" + std::to_string(round * 10 + i), ""));
    }
    for (int i = 0; i < 10; ++i) {
      HttpAnswer a = runs[static_cast<std::size_t>(i)].get();
      const std::string path = "/r" + std::to_string(round * 10 + i);
      EXPECT_EQ(a.status, 200) << path << ": " << a;
      int worker = workerOf(a.body, "GET", path);
      EXPECT_GE(worker, 0) << "unexpected answer to " << path << ": " << a;
      EXPECT_LT(worker, 3) << a;
      EXPECT_EQ(a.body, "worker " + std::to_string(worker) + ": GET " + path + "\n");
      EXPECT_EQ(a.header("content-type"), "application/octet-stream");
      if (a.status == 200 && worker >= 0) {
        ++answered;
        workers_seen.insert(worker);
      }
    }
  }
  EXPECT_EQ(answered, 30);
  EXPECT_GT(workers_seen.size(), 1u) << "every request went to one worker";

  // Bodies travel in the Job and back in the Answer, byte for byte, up to 16 KiB.
  std::mt19937 rng(7);
  std::string body(16 * 1024, '\0');
  for (char& c : body) c = static_cast<char>(rng());
  HttpAnswer echo = http(port, "POST", "/echo", body);
  EXPECT_EQ(echo.status, 200) << echo;
  int worker = workerOf(echo.body, "POST", "/echo");
  ASSERT_GE(worker, 0) << echo;
  EXPECT_TRUE(echo.body == "worker " + std::to_string(worker) + ": POST /echo\n" + body);

  HttpAnswer query = http(port, "GET", "/a/b?c=d");
  EXPECT_EQ(query.status, 200) << query;
  EXPECT_GE(workerOf(query.body, "GET", "/a/b"), 0) << query;

  HttpAnswer large = http(port, "POST", "/large", body + "x");
  EXPECT_EQ(large.status, 413) << large;
  EXPECT_EQ(large.body, "the body is larger than 16384 bytes\n");

  EXPECT_TRUE(runtime_->record("worker ended", {}, 0ms).is_null());
  EXPECT_TRUE(runtime_->record("no answer in time", {}, 0ms).is_null());
}

TEST_F(SbLoadBalancerE2E, TheOtherWorkersCarryOnWhenOneDies) {
  uint16_t port = startBalancer("balance_crashing", 3);
  ASSERT_NE(port, 0);

  // The worker that takes /crash traps before answering: nothing tells the balancer which
  // request it held, so that one is answered 504 at its deadline.
  HttpAnswer crash = http(port, "GET", "/crash");
  EXPECT_EQ(crash.status, 504) << crash;
  EXPECT_EQ(crash.body, "no worker answered within 10 s\n");
  json crashed = runtime_->record("crashing as asked");
  ASSERT_FALSE(crashed.is_null());
  const int dead = crashed["index"].get<int>();
  json ended = runtime_->record("worker ended");
  ASSERT_FALSE(ended.is_null());
  EXPECT_EQ(ended["index"], dead);
  EXPECT_EQ(ended["reason"], "trap");

  for (int i = 0; i < 20; ++i) {
    const std::string path = "/after" + std::to_string(i);
    HttpAnswer a = http(port, "GET", path);
    EXPECT_EQ(a.status, 200) << a;
    int worker = workerOf(a.body, "GET", path);
    EXPECT_GE(worker, 0) << a;
    EXPECT_NE(worker, dead) << a;
  }
  EXPECT_TRUE(
      runtime_->record("every worker has ended; answering 503 from now on", {}, 0ms).is_null());
}

TEST_F(SbLoadBalancerE2E, Answers503OnceEveryWorkerIsGone) {
  uint16_t port = startBalancer("balance_crashing", 1);
  ASSERT_NE(port, 0);

  // The last worker dies holding the request: it is answered 503 with everything waiting.
  HttpAnswer crash = http(port, "GET", "/crash");
  EXPECT_EQ(crash.status, 503) << crash;
  json gone = runtime_->record("every worker has ended; answering 503 from now on");
  ASSERT_FALSE(gone.is_null());
  EXPECT_EQ(gone["waiting"], 1);

  for (int i = 0; i < 3; ++i) {
    HttpAnswer a = http(port, "GET", "/later");
    EXPECT_EQ(a.status, 503) << a;
    EXPECT_EQ(a.body, "no worker is available\n");
    EXPECT_EQ(a.header("retry-after"), "1");
  }
}

TEST_F(SbLoadBalancerE2E, RefusesToStartWithoutTheSwitchboard) {
  runtime_ = start({balancerSpec("balance", 2)});
  json refused = runtime_->record("the Switchboard is not running");
  ASSERT_FALSE(refused.is_null()) << runtime_->stop().out;
  EXPECT_EQ(refused["error"], "NotFound");
  json exited = runtime_->exitOf("balance");
  ASSERT_FALSE(exited.is_null());
  EXPECT_EQ(exited["status"], 1);
  EXPECT_TRUE(runtime_->record("listening", {}, 0ms).is_null());
}

}  // namespace
}  // namespace selium::testing
