// Density: resident memory per idle process, with N idle processes alive at once, against an idle
// OS thread and an idle OS process (fork) at the same N, all measured in this run. Each
// measurement runs in a fresh copy of this program (so memory freed by an earlier one cannot be
// reused by a later one and hide its cost); see bench/README.md.
//
//   density_bench [--counts 1000,10000] [--max-memory-pages P] [--trap-handler]
//   density_bench --measure idle|sleeper|thread|fork N [--max-memory-pages P] [--trap-handler]
//                 (internal: one measurement, printed as one line of key=value fields)
// --trap-handler is a diagnostic: it enables V8's trap handler, which the runtime does not.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <v8.h>

#include "bench_util.h"

namespace selium::bench {
namespace {

// The SDK guest sleeps this long: far longer than any run.
constexpr uint32_t kSleepMs = 3'600'000;
// Processes spawned before the baseline is read, and kept alive (first instantiations, code pages).
constexpr int kWarmup = 100;

struct Options {
  std::vector<long> counts = {1000, 10000};
  uint32_t max_memory_pages = 0;  // 0: the engine's default (--max-memory)
  // Diagnostic: V8's trap handler on (guard regions instead of bounds checks), which the runtime
  // does not do; shows what it would cost in address space.
  bool trap_handler = false;
  std::string measure;  // set: run one measurement of this kind
  long n = 0;
};

std::vector<long> parseCounts(const char* text) {
  std::vector<long> counts;
  for (const char* p = text; *p != '\0';) {
    char* end = nullptr;
    long n = std::strtol(p, &end, 10);
    if (end == p || n <= 0 || (*end != ',' && *end != '\0')) {
      die("--counts: positive numbers, e.g. 1000,10000");
    }
    counts.push_back(n);
    p = *end == ',' ? end + 1 : end;
  }
  if (counts.empty()) die("--counts: at least one count");
  return counts;
}

Options parseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--counts" && i + 1 < argc) {
      options.counts = parseCounts(argv[++i]);
    } else if (arg == "--max-memory-pages" && i + 1 < argc) {
      options.max_memory_pages = static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 10));
    } else if (arg == "--trap-handler") {
      options.trap_handler = true;
    } else if (arg == "--measure" && i + 2 < argc) {
      options.measure = argv[++i];
      options.n = std::atol(argv[++i]);
    } else {
      die("usage: density_bench [--counts N,N,...] [--max-memory-pages P] [--trap-handler]");
    }
  }
  return options;
}

// ---- memory readings ---------------------------------------------------------------------

// "Key:   123 kB" fields of a /proc file, in kB (or plain counts); -1 when missing.
std::map<std::string, long> procFields(const std::string& path) {
  std::map<std::string, long> fields;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    fields[line.substr(0, colon)] = std::atol(line.c_str() + colon + 1);
  }
  return fields;
}

long field(const std::map<std::string, long>& fields, const std::string& key) {
  auto it = fields.find(key);
  return it == fields.end() ? -1 : it->second;
}

long countLines(const std::string& path) {
  std::ifstream in(path);
  long n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

// Each thread's kernel stack (x86-64 THREAD_SIZE), which no RSS or /proc figure of the process
// shows.
constexpr long kKernelStackKb = 16;

// A process's memory, plus the kernel memory that grows with it and that RSS leaves out: its page
// tables and one kernel stack per thread.
struct Snapshot {
  long rss_kb = 0;     // VmRSS
  long anon_kb = 0;    // RssAnon
  long file_kb = 0;    // RssFile
  long vm_kb = 0;      // VmSize: address space reserved
  long maps = 0;       // mappings (VMAs) in /proc/<pid>/maps
  long kernel_kb = 0;  // VmPTE + kKernelStackKb * Threads
};

Snapshot snapshot(const std::string& proc = "/proc/self") {
  auto status = procFields(proc + "/status");
  Snapshot s;
  s.rss_kb = field(status, "VmRSS");
  s.anon_kb = field(status, "RssAnon");
  s.file_kb = field(status, "RssFile");
  s.vm_kb = field(status, "VmSize");
  s.maps = countLines(proc + "/maps");
  s.kernel_kb = field(status, "VmPTE") + kKernelStackKb * field(status, "Threads");
  return s;
}

// Resident pages of the guests' linear memories, found in /proc/self/smaps as V8 lays a memory
// out without guard regions: an anonymous read-write mapping (its current size) directly followed
// by an inaccessible one (the rest of its reservation), together `reservation_bytes` (the memory
// limit). Returns {kB, memories found}.
std::pair<long, long> linearMemoryRss(uint64_t reservation_bytes) {
  struct Mapping {
    uint64_t start = 0, end = 0;
    std::string perms;
    bool anonymous = false;
    long rss_kb = 0;
  };
  std::vector<Mapping> maps;
  std::ifstream in("/proc/self/smaps");
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
        line.find('-') < line.find(' ')) {
      std::istringstream header(line);
      std::string range, perms, offset, device, inode, path;
      header >> range >> perms >> offset >> device >> inode >> path;
      Mapping m;
      m.start = std::stoull(range.substr(0, range.find('-')), nullptr, 16);
      m.end = std::stoull(range.substr(range.find('-') + 1), nullptr, 16);
      m.perms = perms;
      m.anonymous = path.empty();
      maps.push_back(m);
    } else if (line.rfind("Rss:", 0) == 0 && !maps.empty()) {
      maps.back().rss_kb = std::atol(line.c_str() + 4);
    }
  }
  long kb = 0, found = 0;
  for (std::size_t i = 0; i + 1 < maps.size(); ++i) {
    const Mapping& rw = maps[i];
    const Mapping& rest = maps[i + 1];
    if (rw.perms == "rw-p" && rw.anonymous && rest.perms == "---p" && rest.anonymous &&
        rest.start == rw.end && rest.end - rw.start == reservation_bytes) {
      kb += rw.rss_kb;
      ++found;
    }
  }
  return {kb, found};
}

// ---- one measurement, in a fresh process -------------------------------------------------

struct Measurement {
  std::string kind;
  long n = 0;        // asked for
  long running = 0;  // alive and idle when measured
  long failed = 0;   // refused or failed to start
  long first_failed = -1;
  Snapshot before, after;
  double start_ms = 0;  // first spawn until all have started
  // Engine kinds: shutdown with every process alive.
  double shutdown_ms = 0;
  bool shutdown_ok = true;
  long exits = 0;  // exit reports, warm-up included (every process spawned must report one)
  // Fork: each child's own pages (Private_Clean + Private_Dirty), whole RSS and kernel memory
  // (page tables and kernel stack), means over the children.
  double child_private_kb = 0;
  double child_rss_kb = 0;
  double child_kernel_kb = 0;
  // Engine kinds: resident pages of the guests' linear memories, and how many were found.
  long linear_kb = 0;
  long linear_found = 0;
  std::string failure;  // the first failure's message
};

void print(const Measurement& m) {
  auto snap = [](const char* prefix, const Snapshot& s) {
    return format(" %s_rss=%ld %s_anon=%ld %s_file=%ld %s_vm=%ld %s_maps=%ld %s_kernel=%ld", prefix,
                  s.rss_kb, prefix, s.anon_kb, prefix, s.file_kb, prefix, s.vm_kb, prefix, s.maps,
                  prefix, s.kernel_kb);
  };
  std::string line = format("kind=%s n=%ld running=%ld failed=%ld first_failed=%ld", m.kind.c_str(),
                            m.n, m.running, m.failed, m.first_failed);
  line += snap("before", m.before) + snap("after", m.after);
  line += format(" start_ms=%.1f shutdown_ms=%.1f shutdown_ok=%d exits=%ld", m.start_ms,
                 m.shutdown_ms, m.shutdown_ok ? 1 : 0, m.exits);
  line += format(" child_private=%.2f child_rss=%.2f child_kernel=%.2f", m.child_private_kb,
                 m.child_rss_kb, m.child_kernel_kb);
  line += format(" linear_kb=%ld linear_found=%ld", m.linear_kb, m.linear_found);
  // Last: the message runs to the end of the line.
  std::string failure = m.failure;
  for (char& c : failure) c = c == '\n' ? ' ' : c;
  line += " failure=" + failure;
  std::puts(line.c_str());
  std::fflush(stdout);
}

// Lets memory settle (the last entrypoints run, freed memory goes back) before a reading.
void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(500)); }

// N processes of idle.wasm (`start`, then a root task that stays pending) or sleeper.wasm
// (`start(1 h)`: an SDK guest waiting on a timer), all on one engine with its default workers.
Measurement measureEngine(const std::string& kind, long n, uint32_t max_memory_pages) {
  Measurement m;
  m.kind = kind;
  m.n = n;
  std::mutex mutex;
  std::string unexpected;  // an exit that is not a termination by the benchmark
  std::atomic<long> exits{0};
  std::atomic<long> sleeping{0};
  engine::EngineOptions options;  // one worker per hardware thread
  options.on_exit = [&](const engine::ProcessExit& e) {
    if (e.reason != engine::ExitReason::Terminated && e.reason != engine::ExitReason::Failed) {
      std::lock_guard lock(mutex);
      if (unexpected.empty()) {
        unexpected = "process " + std::to_string(e.pid) + " ended " +
                     std::string(engine::exitReasonName(e.reason)) + ": " + e.message;
      }
    }
    ++exits;
  };
  options.log_sink = [&](const kernel::Process&, const kernel::GuestLogRecord& record) {
    if (record.message == "sleeping") ++sleeping;
  };
  auto engine = std::make_unique<engine::Engine>(std::move(options));
  std::string file = kind == "idle" ? "idle.wasm" : "sleeper.wasm";
  std::optional<uint32_t> pages;
  if (max_memory_pages != 0) pages = max_memory_pages;
  auto loaded = engine->load(readGuest(file), file, pages);
  if (!loaded) die(loaded.error().message);
  std::shared_ptr<const engine::Module> module = *loaded;
  auto request = [&] {
    engine::SpawnRequest r;
    r.module = module;
    r.entrypoint = "start";
    if (kind == "sleeper") {
      r.args.resize(1);
      r.args[0].kind = kernel::ParamKind::U32;
      r.args[0].value = uint64_t{kSleepMs};
      r.capabilities.add(kernel::Capability::TimeRead);
    }
    return r;
  };

  // Warm-up: the first processes pay one-time costs (first instantiation on each worker, code
  // and allocator pages). They stay alive, so the baseline includes them and nothing they leave
  // behind can be reclaimed (or reused) during the measurement.
  for (int i = 0; i < kWarmup; ++i) {
    auto spawned = engine->spawn(request());
    if (!spawned) die("warm-up spawn: " + spawned.error().message);
    Status started = spawned->started.get();
    if (!started) die("warm-up process did not start: " + started.error().message);
  }
  settle();
  m.before = snapshot();

  // Spawn all, then wait until each has started (or failed to).
  Clock::time_point start = Clock::now();
  std::vector<std::shared_future<Status>> started;
  started.reserve(static_cast<std::size_t>(n));
  long accepted = 0;
  for (long i = 0; i < n; ++i) {
    auto spawned = engine->spawn(request());
    if (!spawned) {
      if (m.failed++ == 0) {
        m.first_failed = i;
        m.failure = "spawn refused: " + spawned.error().message;
      }
      continue;
    }
    ++accepted;
    started.push_back(spawned->started);
  }
  long index = 0;
  for (auto& future : started) {
    if (future.wait_for(std::chrono::minutes(30)) != std::future_status::ready) {
      die("a process did not start within 30 minutes");
    }
    Status status = future.get();
    if (!status && m.failed++ == 0) {
      m.first_failed = index;
      m.failure = status.error().message;
    }
    ++index;
  }
  m.start_ms = nanosBetween(start, Clock::now()) / 1e6;
  settle();
  m.running = static_cast<long>(engine->liveProcesses()) - kWarmup;
  if (kind == "sleeper" && sleeping.load() != m.running + kWarmup) {
    die(format("%ld processes alive but %ld said they were sleeping", m.running + kWarmup,
               sleeping.load()));
  }
  m.after = snapshot();
  uint32_t limit_pages =
      max_memory_pages != 0 ? max_memory_pages : engine::EngineOptions{}.max_memory_pages;
  std::tie(m.linear_kb, m.linear_found) = linearMemoryRss(uint64_t{limit_pages} * 64 * 1024);
  {
    std::lock_guard lock(mutex);
    if (!unexpected.empty()) die(unexpected);
  }

  // Shut down with every process alive: each must be terminated and reported.
  Clock::time_point stop = Clock::now();
  m.shutdown_ok = engine->shutdown(std::chrono::seconds(60));
  m.shutdown_ms = nanosBetween(stop, Clock::now()) / 1e6;
  engine.reset();
  m.exits = exits.load();
  if (m.exits != accepted + kWarmup) {
    m.shutdown_ok = false;
    m.failure += format(" [%ld exit reports for %ld processes]", m.exits, accepted + kWarmup);
  }
  return m;
}

// N std::threads blocked on one condition variable.
Measurement measureThreads(long n) {
  Measurement m;
  m.kind = "thread";
  m.n = n;
  std::mutex mutex;
  std::condition_variable go;
  std::condition_variable ready;
  long waiting = 0;
  bool release = false;
  m.before = snapshot();
  Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i) {
    try {
      threads.emplace_back([&] {
        std::unique_lock lock(mutex);
        ++waiting;
        ready.notify_one();
        go.wait(lock, [&] { return release; });
      });
    } catch (const std::exception& e) {
      if (m.failed++ == 0) {
        m.first_failed = i;
        m.failure = e.what();
      }
    }
  }
  {
    std::unique_lock lock(mutex);
    ready.wait(lock, [&] { return waiting == static_cast<long>(threads.size()); });
  }
  m.start_ms = nanosBetween(start, Clock::now()) / 1e6;
  m.running = static_cast<long>(threads.size());
  settle();
  m.after = snapshot();
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  go.notify_all();
  for (std::thread& t : threads) t.join();
  return m;
}

// N forked children, each blocked in pause() after telling the parent it runs.
Measurement measureForks(long n) {
  Measurement m;
  m.kind = "fork";
  m.n = n;
  int fds[2];
  if (::pipe(fds) != 0) die("pipe failed");
  m.before = snapshot();
  Clock::time_point start = Clock::now();
  std::vector<pid_t> children;
  children.reserve(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      char byte = 1;
      if (::write(fds[1], &byte, 1) != 1) _exit(1);
      for (;;) ::pause();
    }
    if (pid < 0) {
      if (m.failed++ == 0) {
        m.first_failed = i;
        m.failure = std::string("fork: ") + std::strerror(errno);
      }
      continue;
    }
    children.push_back(pid);
  }
  ::close(fds[1]);
  for (std::size_t got = 0; got < children.size();) {
    char buffer[256];
    ssize_t r = ::read(fds[0], buffer, std::min<std::size_t>(sizeof buffer, children.size() - got));
    if (r <= 0) die("a child did not report");
    got += static_cast<std::size_t>(r);
  }
  ::close(fds[0]);
  m.start_ms = nanosBetween(start, Clock::now()) / 1e6;
  m.running = static_cast<long>(children.size());
  settle();
  m.after = snapshot();
  double private_kb = 0;
  double rss_kb = 0;
  double kernel_kb = 0;
  for (pid_t pid : children) {
    std::string proc = "/proc/" + std::to_string(pid);
    auto rollup = procFields(proc + "/smaps_rollup");
    private_kb +=
        static_cast<double>(field(rollup, "Private_Clean") + field(rollup, "Private_Dirty"));
    rss_kb += static_cast<double>(field(rollup, "Rss"));
    kernel_kb += static_cast<double>(snapshot(proc).kernel_kb);
  }
  if (!children.empty()) {
    double count = static_cast<double>(children.size());
    m.child_private_kb = private_kb / count;
    m.child_rss_kb = rss_kb / count;
    m.child_kernel_kb = kernel_kb / count;
  }
  for (pid_t pid : children) ::kill(pid, SIGKILL);
  for (pid_t pid : children) ::waitpid(pid, nullptr, 0);
  return m;
}

int measureOne(const Options& options) {
  if (options.n < 1) die("--measure: N must be positive");
  if (options.trap_handler && !v8::V8::EnableWebAssemblyTrapHandler(true)) {
    die("V8 could not enable its trap handler");
  }
  quietLog();
  Measurement m;
  if (options.measure == "idle" || options.measure == "sleeper") {
    m = measureEngine(options.measure, options.n, options.max_memory_pages);
  } else if (options.measure == "thread") {
    m = measureThreads(options.n);
  } else if (options.measure == "fork") {
    m = measureForks(options.n);
  } else {
    die("--measure: idle, sleeper, thread or fork");
  }
  print(m);
  log::shutdown();
  return 0;
}

// ---- the report --------------------------------------------------------------------------

// A measurement line back into fields (failure= takes the rest of the line).
std::map<std::string, std::string> parseLine(const std::string& line) {
  std::map<std::string, std::string> fields;
  std::size_t at = 0;
  while (at < line.size()) {
    std::size_t eq = line.find('=', at);
    if (eq == std::string::npos) break;
    std::string key = line.substr(at, eq - at);
    if (key == "failure") {
      fields[key] = line.substr(eq + 1);
      break;
    }
    std::size_t space = line.find(' ', eq);
    if (space == std::string::npos) space = line.size();
    fields[key] = line.substr(eq + 1, space - eq - 1);
    at = space + 1;
  }
  return fields;
}

struct Row {
  std::map<std::string, std::string> f;
  long num(const std::string& key) const {
    auto it = f.find(key);
    return it == f.end() ? 0 : std::atol(it->second.c_str());
  }
  double real(const std::string& key) const {
    auto it = f.find(key);
    return it == f.end() ? 0 : std::atof(it->second.c_str());
  }
  // Growth of `what` (before_/after_ field) per running process.
  double per(const std::string& what) const {
    long running = num("running");
    if (running == 0) return 0;
    return static_cast<double>(num("after_" + what) - num("before_" + what)) /
           static_cast<double>(running);
  }
};

Row runMeasurement(const std::string& kind, long n, const Options& options) {
  std::vector<std::string> argv = {"/proc/self/exe", "--measure", kind, std::to_string(n)};
  bool engine = kind == "idle" || kind == "sleeper";
  if (engine && options.max_memory_pages != 0) {
    argv.push_back("--max-memory-pages");
    argv.push_back(std::to_string(options.max_memory_pages));
  }
  if (engine && options.trap_handler) argv.push_back("--trap-handler");
  ChildOutput child = runChild(argv);
  if (!child.exitedZero()) die(kind + " x " + std::to_string(n) + " failed:\n" + child.out);
  std::size_t at = child.out.find("kind=");
  if (at == std::string::npos) die("no measurement in:\n" + child.out);
  std::string line = child.out.substr(at, child.out.find('\n', at) - at);
  return Row{parseLine(line)};
}

std::string kb(double v) { return format("%.1f", v); }

long readLong(const std::string& path) {
  std::ifstream in(path);
  long v = -1;
  in >> v;
  return v;
}

int report(const Options& options) {
  struct Subject {
    std::string kind;
    std::string what;
    bool engine;
  };
  const std::vector<Subject> subjects = {
      {"idle", "selium: idle.wasm (WAT, 1 page, root task pending)", true},
      {"sleeper", "selium: sleeper.wasm (SDK C++, start(1 h) awaits a timer)", true},
      {"thread", "ref: std::thread blocked on a condvar", false},
      {"fork", "ref: fork()ed process blocked in pause()", false},
  };
  std::vector<std::pair<long, std::vector<Row>>> results;
  for (long n : options.counts) {
    std::vector<Row> rows;
    for (const Subject& s : subjects) {
      rows.push_back(runMeasurement(s.kind, n, options));
    }
    results.emplace_back(n, std::move(rows));
  }

  std::string engine_config = "default workers (one per hardware thread)";
  engine_config += options.max_memory_pages == 0
                       ? ", default memory limit"
                       : format(", memory limit %u pages", options.max_memory_pages);
  if (options.trap_handler) {
    engine_config += ", DIAGNOSTIC: V8's trap handler enabled (not the runtime's configuration)";
  }
  std::printf(
      "N idle processes alive at once; each measurement runs in a fresh copy of this program. "
      "Engine: %s; %d processes spawned first (warm-up) and kept alive. Per process = growth of "
      "the measuring process from before the first spawn to 0.5 s after the last one started, "
      "divided by the processes running. Kernel = page tables (VmPTE) + %ld KiB kernel stack "
      "per thread, which RSS leaves out. Fork: each child's private pages, page tables and "
      "kernel stack (pages it shares with the parent are not counted), plus the parent's "
      "growth.\n\n",
      engine_config.c_str(), kWarmup, kKernelStackKb);
  Table table({"N", "what", "running", "RSS / process (KiB)", "anon (KiB)",
               "guest linear memory (KiB)", "kernel (KiB)", "address space (MiB)", "mappings",
               "all started in (ms)"});
  for (const auto& [n, rows] : results) {
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::string rss = kb(r.per("rss"));
      std::string anon = kb(r.per("anon"));
      std::string kernel = kb(r.per("kernel"));
      std::string linear = "-";
      if (subjects[i].engine && r.num("linear_found") > 0) {
        linear = kb(r.real("linear_kb") / r.real("linear_found"));
      }
      if (subjects[i].kind == "fork") {
        rss = format("%.1f private (+%.1f parent; child RSS %.0f)", r.real("child_private"),
                     r.per("rss"), r.real("child_rss"));
        anon = "-";
        kernel = kb(r.real("child_kernel") + r.per("kernel"));
      }
      table.row({std::to_string(n), subjects[i].what, std::to_string(r.num("running")), rss, anon,
                 linear, kernel, format("%.1f", r.per("vm") / 1024.0),
                 format("%.2f", r.per("maps")), format("%.0f", r.real("start_ms"))});
    }
  }
  table.print();

  std::printf("\nEngine runs: failures, then shutdown with every process alive.\n\n");
  Table ends({"N", "guest", "failed to start", "first failure", "shutdown (ms)",
              "all terminated and reported"});
  for (const auto& [n, rows] : results) {
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (!subjects[i].engine) continue;
      const Row& r = rows[i];
      std::string failure =
          r.num("failed") == 0 ? "-" : format("#%ld: ", r.num("first_failed")) + r.f.at("failure");
      ends.row({std::to_string(n), subjects[i].kind, std::to_string(r.num("failed")), failure,
                format("%.0f", r.real("shutdown_ms")), r.num("shutdown_ok") ? "yes" : "NO"});
    }
  }
  ends.print();

  // Targets, from the largest N; and what bounds the count, from that run's own figures.
  const auto& [largest, rows] = results.back();
  std::printf("\nTarget <= 150 KB (146.5 KiB) RSS per idle process, N = %ld:", largest);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (!subjects[i].engine) continue;
    double per = rows[i].per("rss");
    std::printf(" %s %.1f KiB (%s);", subjects[i].kind.c_str(), per,
                per <= 150'000.0 / 1024 ? "met" : "MISSED");
  }
  bool all_fit = true;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (subjects[i].engine && rows[i].num("running") != largest) all_fit = false;
  }
  std::printf(" %ld idle processes %s.\n", largest, all_fit ? "fit" : "did NOT all fit");
  long max_maps = readLong("/proc/sys/vm/max_map_count");
  const Row& idle = rows[0];
  double maps_per = idle.per("maps");
  if (max_maps > 0 && maps_per > 0) {
    double ceiling = static_cast<double>(max_maps - idle.num("before_maps")) / maps_per;
    std::printf(
        "Projected bound (idle.wasm): %.2f mappings per process against vm.max_map_count = %ld "
        "-> about %.0f processes before mmap fails; %.0f MiB of address space reserved per "
        "process against 128 TiB of user address space -> about %.0f.\n",
        maps_per, max_maps, ceiling, idle.per("vm") / 1024.0,
        128.0 * 1024 * 1024 / (idle.per("vm") / 1024.0));
  }
  return 0;
}

}  // namespace
}  // namespace selium::bench

int main(int argc, char** argv) {
  selium::bench::Options options = selium::bench::parseOptions(argc, argv);
  if (!options.measure.empty()) return selium::bench::measureOne(options);
  return selium::bench::report(options);
}
