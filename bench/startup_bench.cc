// Start-up: wall time from starting the selium-runtime process to its first guest log line
// (hello.wasm's "hello from Selium"), with the compile cache cold (emptied before each run), warm
// (kept from a first run) and off (--no-compile-cache). References, measured in the same run:
// `selium-runtime --version` (process start and exit: exec and dynamic linking, no V8 isolate)
// and Node.js compiling and instantiating the same hello.wasm (stub imports) and printing a line.
// Runs are interleaved round by round, so drift in the machine's load hits every column alike.
//
//   startup_bench [--runs 15] [--runtime PATH] [--node PATH]
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>
#include <thread>

#include "bench_util.h"

extern char** environ;

namespace selium::bench {
namespace {

namespace fs = std::filesystem;

struct Options {
  int runs = 15;
  std::string runtime = SELIUM_RUNTIME_BIN;
  std::string node = "node";
};

Options parseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--runs" && i + 1 < argc) {
      options.runs = std::atoi(argv[++i]);
    } else if (arg == "--runtime" && i + 1 < argc) {
      options.runtime = argv[++i];
    } else if (arg == "--node" && i + 1 < argc) {
      options.node = argv[++i];
    } else {
      die("usage: startup_bench [--runs N] [--runtime PATH] [--node PATH]");
    }
  }
  if (options.runs < 1) die("--runs must be positive");
  return options;
}

// A child process with its stdout (and stderr) on a pipe.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) die("pipe: " + std::string(std::strerror(errno)));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    started_ = Clock::now();
    int error = ::posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    out_ = fds[0];
    if (error != 0) die("cannot start " + argv[0] + ": " + std::strerror(error));
  }
  ~Child() {
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      wait(std::chrono::seconds(10));
    }
    ::close(out_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Milliseconds from the start to the first output line containing `needle`; dies after
  // `bound` or if the output ends first.
  double millisToLine(std::string_view needle,
                      std::chrono::seconds bound = std::chrono::seconds(30)) {
    Clock::time_point deadline = Clock::now() + bound;
    std::size_t scanned = 0;
    for (;;) {
      for (std::size_t nl; (nl = text_.find('\n', scanned)) != std::string::npos;
           scanned = nl + 1) {
        if (std::string_view(text_).substr(scanned, nl - scanned).find(needle) !=
            std::string_view::npos) {
          return nanosBetween(started_, Clock::now()) / 1e6;
        }
      }
      if (!read(deadline)) die("no line with \"" + std::string(needle) + "\" in:\n" + text_);
    }
  }

  // Milliseconds from the start to the exit, which must be status 0.
  double millisToExit() {
    while (read(Clock::now() + std::chrono::seconds(30))) {
    }
    int status = wait(std::chrono::seconds(30));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("child failed:\n" + text_);
    return nanosBetween(started_, exited_) / 1e6;
  }

  // Asks the child to stop and waits for it; a runtime writes pending cache entries first.
  void stop() {
    ::kill(pid_, SIGTERM);
    while (read(Clock::now() + std::chrono::seconds(30))) {
    }
    wait(std::chrono::seconds(30));
  }

  const std::string& output() const { return text_; }

  // CPU time (user + system) the child used, all its threads; valid once it was waited for.
  double cpuMillis() const {
    auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
    return ms(usage_.ru_utime) + ms(usage_.ru_stime);
  }

 private:
  // Appends what the pipe has; false at end of output or at the deadline.
  bool read(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{out_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buffer[4096];
    ssize_t n = ::read(out_, buffer, sizeof buffer);
    if (n <= 0) return false;
    text_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }

  int wait(std::chrono::seconds bound) {
    Clock::time_point deadline = Clock::now() + bound;
    int status = 0;
    while (::wait4(pid_, &status, WNOHANG, &usage_) == 0) {
      if (Clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::wait4(pid_, &status, 0, &usage_);
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    exited_ = Clock::now();
    reaped_ = true;
    return status;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  std::string text_;
  Clock::time_point started_;
  Clock::time_point exited_;
  bool reaped_ = false;
  rusage usage_{};
};

// A work dir with modules/hello.wasm, removed at exit.
struct WorkDir {
  explicit WorkDir(const fs::path& root) : root(root) {
    fs::create_directories(root / "modules");
    fs::copy_file(fs::path(SELIUM_GUEST_DIR) / "hello.wasm", root / "modules" / "hello.wasm",
                  fs::copy_options::overwrite_existing);
  }
  ~WorkDir() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  fs::path root;
};

std::vector<std::string> runtimeArgs(const Options& options, const WorkDir& dir,
                                     std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {options.runtime, "-w", dir.root.string(), "--module",
                                   "path=hello.wasm;capabilities="};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

constexpr std::string_view kGuestLine = " selium.guest: ";

struct Sample {
  double ms = 0;      // start to the line
  double cpu_ms = 0;  // CPU time of the whole process, to its exit
};

// The runtime is stopped (SIGTERM) at once after the line; a cold one then still waits for its
// cache entry, so its CPU time includes the TurboFan compile that the entry saves.
Sample runtimeToGuestLine(const std::vector<std::string>& argv) {
  Child child(argv);
  double ms = child.millisToLine(kGuestLine);
  child.stop();
  return {ms, child.cpuMillis()};
}

// Engine::load's own time for hello.wasm, from the debug record the runtime logs for it.
double loadMillis(const std::string& output, std::string_view message) {
  std::size_t at = output.find(message);
  if (at == std::string::npos) die("no \"" + std::string(message) + "\" in:\n" + output);
  std::size_t ms = output.find(" ms=", at);
  std::size_t end = output.find('\n', at);
  if (ms == std::string::npos || ms > end) die("no ms= in: " + output.substr(at, end - at));
  return std::atof(output.c_str() + ms + 4);
}

std::string countEntries(const fs::path& cache) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(cache, ec)) n += e.path().extension() == ".wcache";
  return std::to_string(n);
}

// Whether `program` names an executable, directly or through PATH.
bool onPath(const std::string& program) {
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "";
  while (!dirs.empty()) {
    std::size_t colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    if (!dir.empty() && ::access((fs::path(dir) / program).c_str(), X_OK) == 0) return true;
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return false;
}

int run(const Options& options) {
  std::string pattern = (fs::temp_directory_path() / "selium-startup-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) die("mkdtemp failed");
  fs::path tmp = pattern;
  WorkDir cold(tmp / "cold");
  WorkDir warm(tmp / "warm");
  WorkDir off(tmp / "off");

  // Warm up the page cache (binary, libnode) and write the warm dir's entry; check it is used.
  runtimeToGuestLine(runtimeArgs(options, warm));
  {
    Child check(runtimeArgs(options, warm, {"--dry-run", "--log-level", "debug"}));
    check.millisToExit();
    loadMillis(check.output(), "module loaded from the compile cache");
  }

  std::string node_script =
      "const m = new WebAssembly.Module(require('fs').readFileSync(process.argv[1]));"
      "const imports = {};"
      "for (const i of WebAssembly.Module.imports(m))"
      "  (imports[i.module] = imports[i.module] || {})[i.name] = () => 0;"
      "new WebAssembly.Instance(m, imports);"
      "console.log('instantiated');";
  std::string hello = (cold.root / "modules" / "hello.wasm").string();
  bool have_node = onPath(options.node);
  if (have_node) {
    Child probe({options.node, "-e", node_script, hello});
    probe.millisToExit();
    if (probe.output().find("instantiated") == std::string::npos) {
      die("node did not instantiate hello.wasm:\n" + probe.output());
    }
  }

  struct Column {
    std::string name;
    std::function<Sample()> measure;
    std::vector<double> ms = {};
    std::vector<double> cpu_ms = {};
  };
  std::vector<Column> columns;
  columns.push_back({"runtime, compile cache cold", [&] {
                       fs::remove_all(cold.root / "cache");
                       return runtimeToGuestLine(runtimeArgs(options, cold));
                     }});
  columns.push_back({"runtime, compile cache warm",
                     [&] { return runtimeToGuestLine(runtimeArgs(options, warm)); }});
  columns.push_back({"runtime, --no-compile-cache", [&] {
                       return runtimeToGuestLine(runtimeArgs(options, off, {"--no-compile-cache"}));
                     }});
  columns.push_back({"ref: selium-runtime --version (to exit)", [&] {
                       Child child({options.runtime, "--version"});
                       double ms = child.millisToExit();
                       return Sample{ms, child.cpuMillis()};
                     }});
  if (have_node) {
    columns.push_back({"ref: node, compile + instantiate hello.wasm", [&] {
                         Child child({options.node, "-e", node_script, hello});
                         double ms = child.millisToLine("instantiated");
                         child.millisToExit();
                         return Sample{ms, child.cpuMillis()};
                       }});
  }
  // Engine::load alone, as the runtime times it (debug log of a dry run).
  std::vector<double> load_cold, load_warm;
  for (int round = 0; round < options.runs; ++round) {
    for (Column& c : columns) {
      Sample sample = c.measure();
      c.ms.push_back(sample.ms);
      c.cpu_ms.push_back(sample.cpu_ms);
    }
    fs::remove_all(cold.root / "cache");
    Child cold_load(runtimeArgs(options, cold, {"--dry-run", "--log-level", "debug"}));
    cold_load.millisToExit();
    load_cold.push_back(loadMillis(cold_load.output(), "module compiled"));
    Child warm_load(runtimeArgs(options, warm, {"--dry-run", "--log-level", "debug"}));
    warm_load.millisToExit();
    load_warm.push_back(loadMillis(warm_load.output(), "module loaded from the compile cache"));
  }

  std::printf(
      "hello.wasm (%ju bytes), %d runs each, interleaved; start = posix_spawn, end = the\n"
      "first `selium.guest` line on the runtime's stdout (node: its output line).\n\n",
      static_cast<uintmax_t>(fs::file_size(hello)), options.runs);
  Table table({"start-up to first guest log line", "median ms", "min ms", "p90 ms",
               "process CPU ms (median)"});
  for (const Column& c : columns) {
    table.row({c.name, format("%.1f", median(c.ms)), format("%.1f", percentile(c.ms, 0)),
               format("%.1f", percentile(c.ms, 90)), format("%.1f", median(c.cpu_ms))});
  }
  table.print();
  std::printf("\nEngine::load of hello.wasm inside the runtime (its debug log, --dry-run):\n\n");
  Table loads({"load", "median ms", "min ms", "p90 ms"});
  loads.row({"cold: compile (Liftoff; TurboFan follows in the background)",
             format("%.2f", median(load_cold)), format("%.2f", percentile(load_cold, 0)),
             format("%.2f", percentile(load_cold, 90))});
  loads.row({"warm: check the entry, deserialize TurboFan code", format("%.2f", median(load_warm)),
             format("%.2f", percentile(load_warm, 0)), format("%.2f", percentile(load_warm, 90))});
  loads.print();
  double cold_ms = median(columns[0].ms);
  double warm_ms = median(columns[1].ms);
  std::printf("\nwarm vs cold: %.1f ms less (%.0f%%); cache entries: warm dir %s, cold dir %s%s\n",
              cold_ms - warm_ms, 100.0 * (cold_ms - warm_ms) / cold_ms,
              countEntries(warm.root / "cache").c_str(), countEntries(cold.root / "cache").c_str(),
              have_node ? "" : "; node not found, its reference is left out");
  std::error_code ec;
  fs::remove_all(tmp, ec);
  return 0;
}

}  // namespace
}  // namespace selium::bench

int main(int argc, char** argv) {
  return selium::bench::run(selium::bench::parseOptions(argc, argv));
}
