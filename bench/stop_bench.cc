// How fast the engine ends guests that never yield (bench.wasm `spin`: an endless loop, no
// hostcall): Engine::stop of one such guest, and Engine::shutdown of an engine running one per
// worker among idle processes, against killing fork()ed children in a busy loop (SIGKILL +
// waitpid), all measured in this run. The target: both within 100 ms. See bench/README.md.
//
//   stop_bench [--stop-n 200] [--rounds 10] [--shutdown-n 10] [--idle 1000]
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bench_util.h"

namespace selium::bench {
namespace {

struct Options {
  int stop_n = 200;     // stop samples per subject
  int rounds = 10;      // stop samples are taken in this many interleaved blocks
  int shutdown_n = 10;  // shutdowns per subject, each of a fresh engine (or set of children)
  long idle = 1000;     // idle processes (paused children) besides the spinning ones
};

Options parseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--stop-n" && i + 1 < argc) {
      options.stop_n = std::atoi(argv[++i]);
    } else if (arg == "--rounds" && i + 1 < argc) {
      options.rounds = std::atoi(argv[++i]);
    } else if (arg == "--shutdown-n" && i + 1 < argc) {
      options.shutdown_n = std::atoi(argv[++i]);
    } else if (arg == "--idle" && i + 1 < argc) {
      options.idle = std::atol(argv[++i]);
    } else {
      die("usage: stop_bench [--stop-n N] [--rounds R] [--shutdown-n N] [--idle N]");
    }
  }
  if (options.stop_n < 1 || options.rounds < 1 || options.shutdown_n < 1 || options.idle < 0) {
    die("counts must be positive (--idle may be 0)");
  }
  options.rounds = std::min(options.rounds, options.stop_n);
  return options;
}

// The bound: stop and shutdown end even a guest in an infinite loop within this.
constexpr double kTargetMs = 100;

// How long a guest (or child) is left spinning before it is ended. `started` becomes ready on
// the worker just before it calls the entrypoint, so the loop is microseconds away unless the
// scheduler preempts the worker right there; 10 ms is a few scheduler ticks (4 ms at HZ=250)
// and thousands of times the cost of the call, yet short enough for a few hundred samples per
// subject in seconds. It is not trusted alone: see kSpunAtLeast.
constexpr auto kPause = std::chrono::milliseconds(10);

// Proof that the guest is in its loop: after the pause, its worker thread must have used this
// much CPU time since the engine's on_start, which runs on that thread right before the
// entrypoint is called (nothing else runs there in between, and the call itself costs
// microseconds). A child must likewise have used this much CPU since it said it was running. If
// the pause was not enough (a busy machine), the benchmark waits until it is, and counts that.
constexpr auto kSpunAtLeast = std::chrono::milliseconds(2);

// Warm-up samples of each stop subject, not kept.
constexpr int kWarmup = 5;

// Counted rather than printed: a guest call over 100 ms logs it (the background spins of the
// row with both workers busy do).
constexpr const char* kHeldWarning = "held its worker without yielding";

double cpuNanos(clockid_t clock) {
  timespec ts{};
  if (clock_gettime(clock, &ts) != 0) die("clock_gettime on a CPU-time clock failed");
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// Samples for which the fixed pause was not enough for the spinner to use kSpunAtLeast of CPU.
std::atomic<long> g_pause_short{0};
std::atomic<long> g_pause_checked{0};

// Waits the fixed pause, then until `clock` has advanced by kSpunAtLeast past `since_ns`.
void waitUntilSpun(clockid_t clock, double since_ns) {
  std::this_thread::sleep_for(kPause);
  ++g_pause_checked;
  double wanted = since_ns + std::chrono::duration<double, std::nano>(kSpunAtLeast).count();
  if (cpuNanos(clock) >= wanted) return;
  ++g_pause_short;
  Clock::time_point give_up = Clock::now() + std::chrono::seconds(30);
  while (cpuNanos(clock) < wanted) {
    if (Clock::now() > give_up) die("a spinning guest or child got no CPU for 30 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

struct Summary {
  double p50, p99, max;  // nanoseconds
};

Summary summarise(const std::vector<double>& samples) {
  return {percentile(samples, 50), percentile(samples, 99),
          *std::max_element(samples.begin(), samples.end())};
}

// Stop -> exit report (the figure), and stop -> the waiting thread woken (for comparison with
// the references, which time their waiting thread); nanoseconds.
struct StopSample {
  double report = 0;
  double woken = 0;
};

// ---- the engine --------------------------------------------------------------------------

// Every exit report, stamped on the worker thread as it arrives, as ExitRecorder does (which
// ends the benchmark on anything but a normal exit: here the processes are terminated). Also
// the CPU-time clock of the worker each process runs on, read in on_start.
class Exits {
 public:
  struct Report {
    int count = 0;  // reports for this pid: must be exactly one
    Clock::time_point at{};
    engine::ExitReason reason = engine::ExitReason::Normal;
    std::string message;
  };
  struct Start {
    clockid_t clock{};
    double cpu_ns = 0;  // the thread's CPU time as the process started
  };

  // Engine on_exit (worker thread).
  void record(const engine::ProcessExit& exit) {
    Clock::time_point now = Clock::now();
    std::lock_guard lock(mutex_);
    Report& r = reports_[exit.pid];
    ++r.count;
    r.at = now;
    r.reason = exit.reason;
    r.message = exit.message;
    last_ = std::max(last_, now);
    changed_.notify_all();
  }

  // Engine on_start (worker thread, right before the entrypoint is called).
  void started(const kernel::Process& process) {
    Start s;
    if (pthread_getcpuclockid(pthread_self(), &s.clock) != 0) die("pthread_getcpuclockid failed");
    s.cpu_ns = cpuNanos(s.clock);
    std::lock_guard lock(mutex_);
    starts_[process.id()] = s;
    changed_.notify_all();
  }

  // The report of `pid`, once there is one; dies if none comes within `bound`.
  Report wait(kernel::ProcessId pid, std::chrono::seconds bound = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, bound, [&] { return reports_.count(pid) > 0; })) {
      die("process " + std::to_string(pid) + " was not reported ended within the bound");
    }
    Report r = reports_[pid];
    reports_.erase(pid);
    return r;
  }

  // The start of `pid`. The engine keeps `started` before it calls on_start, so this waits for
  // on_start too; dies if it does not come within `bound`.
  Start start(kernel::ProcessId pid, std::chrono::seconds bound = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, bound, [&] { return starts_.count(pid) > 0; })) {
      die("process " + std::to_string(pid) + " started but on_start did not run");
    }
    Start s = starts_[pid];
    starts_.erase(pid);
    return s;
  }

  // Every report not yet waited for, and the time of the latest one.
  std::pair<std::unordered_map<kernel::ProcessId, Report>, Clock::time_point> all() {
    std::lock_guard lock(mutex_);
    return {reports_, last_};
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::unordered_map<kernel::ProcessId, Report> reports_;
  std::unordered_map<kernel::ProcessId, Start> starts_;
  Clock::time_point last_{};
};

void checkTerminated(kernel::ProcessId pid, const Exits::Report& r) {
  if (r.reason != engine::ExitReason::Terminated) {
    die("process " + std::to_string(pid) + " ended " +
        std::string(engine::exitReasonName(r.reason)) + ": " + r.message);
  }
}

// An engine with bench.wasm and idle.wasm loaded. Not movable: the engine refers to `exits`.
struct EngineUnderTest {
  explicit EngineUnderTest(std::size_t workers) {
    engine::EngineOptions options;
    options.workers = workers;
    options.on_exit = [this](const engine::ProcessExit& e) { exits.record(e); };
    options.on_start = [this](kernel::Process& p) { exits.started(p); };
    engine = std::make_unique<engine::Engine>(std::move(options));
    auto loaded = engine->load(readGuest("bench.wasm"), "bench.wasm");
    if (!loaded) die(loaded.error().message);
    bench = *loaded;
    loaded = engine->load(readGuest("idle.wasm"), "idle.wasm");
    if (!loaded) die(loaded.error().message);
    idle = *loaded;
  }
  ~EngineUnderTest() {
    if (!engine->shutdown(std::chrono::seconds(10))) die("engine did not shut down");
  }
  EngineUnderTest(const EngineUnderTest&) = delete;
  EngineUnderTest& operator=(const EngineUnderTest&) = delete;

  struct Spinning {
    kernel::ProcessId pid = 0;
    clockid_t clock{};  // CPU-time clock of its worker thread
  };

  // Spawns `spin` and returns once it certainly runs its loop: started, then paused until its
  // worker has used kSpunAtLeast of CPU. (A spin placed on a worker that another spin holds
  // would never start: the bound on `started` catches that.)
  Spinning spawnSpin() {
    engine::SpawnRequest request;
    request.module = bench;
    request.entrypoint = "spin";
    auto spawned = engine->spawn(std::move(request));
    if (!spawned) die("spawn spin: " + spawned.error().message);
    if (spawned->started.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      die("spin did not start within 10 s (its worker held by another spin?)");
    }
    Status status = spawned->started.get();
    if (!status) die("spin did not start: " + status.error().message);
    Exits::Start start = exits.start(spawned->pid);
    waitUntilSpun(start.clock, start.cpu_ns);
    return {spawned->pid, start.clock};
  }

  // Engine::stop of a running spin -> its exit report (and -> this thread woken by it).
  StopSample stopOnce(const Spinning& spin) {
    Clock::time_point start = Clock::now();
    if (!engine->stop(spin.pid)) die("stop: spin " + std::to_string(spin.pid) + " not running");
    Exits::Report r = exits.wait(spin.pid);
    Clock::time_point woken = Clock::now();
    checkTerminated(spin.pid, r);
    return {nanosBetween(start, r.at), nanosBetween(start, woken)};
  }

  Exits exits;  // declared first: outlives the engine that reports to it
  std::unique_ptr<engine::Engine> engine;
  std::shared_ptr<const engine::Module> bench;
  std::shared_ptr<const engine::Module> idle;
};

// ---- the OS reference --------------------------------------------------------------------

// fork()ed children that say they run (one byte each on a shared pipe), then spin in a busy
// loop or block in pause(). Only async-signal-safe calls in the child (the parent may have
// threads), and each dies with its parent, so nothing is left spinning if the benchmark dies.
class Children {
 public:
  Children() {
    if (::pipe(fds_) != 0) die("pipe failed");
  }
  ~Children() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  Children(const Children&) = delete;
  Children& operator=(const Children&) = delete;

  pid_t fork(bool spin) {
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid == 0) {
      if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) _exit(1);
      char byte = 1;
      if (::write(fds_[1], &byte, 1) != 1) _exit(1);
      if (spin) {
        volatile unsigned long counter = 0;
        for (;;) counter = counter + 1;
      }
      for (;;) ::pause();
    }
    if (pid < 0) die(std::string("fork: ") + std::strerror(errno));
    return pid;
  }

  // Returns once `n` more children have said they run.
  void awaitRunning(std::size_t n) {
    for (std::size_t got = 0; got < n;) {
      char buffer[256];
      ssize_t r = ::read(fds_[0], buffer, std::min(sizeof buffer, n - got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) die("a child did not report");
      got += static_cast<std::size_t>(r);
    }
  }

 private:
  int fds_[2] = {-1, -1};
};

// A child that runs, spinning; returns once it certainly spins (as spawnSpin).
pid_t spinningChild(Children& children) {
  pid_t pid = children.fork(true);
  children.awaitRunning(1);
  clockid_t clock{};
  if (clock_getcpuclockid(pid, &clock) != 0) die("clock_getcpuclockid failed");
  waitUntilSpun(clock, cpuNanos(clock));
  return pid;
}

void reapKilled(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) die(std::string("waitpid: ") + std::strerror(errno));
  }
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) die("a child did not die of SIGKILL");
}

void killAndReap(pid_t pid) {
  if (::kill(pid, SIGKILL) != 0) die("kill failed");
  reapKilled(pid);
}

// kill(SIGKILL) of a spinning child -> waitpid returns.
double killOnce(Children& children) {
  pid_t pid = spinningChild(children);
  Clock::time_point start = Clock::now();
  killAndReap(pid);
  return nanosBetween(start, Clock::now());
}

// `spinning` children in a busy loop and `idle` blocked in pause(), all killed with SIGKILL at
// once -> all reaped.
double killAllOnce(int spinning, long idle) {
  Children children;
  std::vector<pid_t> pids;
  for (long i = 0; i < idle; ++i) pids.push_back(children.fork(false));
  children.awaitRunning(static_cast<std::size_t>(idle));
  for (int i = 0; i < spinning; ++i) pids.push_back(spinningChild(children));
  Clock::time_point start = Clock::now();
  // The spinning ones first, as the engine terminates running guests first.
  for (auto it = pids.rbegin(); it != pids.rend(); ++it) {
    if (::kill(*it, SIGKILL) != 0) die("kill failed");
  }
  for (pid_t pid : pids) reapKilled(pid);
  return nanosBetween(start, Clock::now());
}

// Runs the references in a helper process forked first thing, while the benchmark is small and
// single-threaded: a child's exit unmaps its copy of the parent's address space, so it costs
// more the bigger the parent, and the benchmark grows by V8's heaps and two engines (the
// diagnostic row shows that case). The helper has libnode and the other libraries mapped but
// nothing else. It times each kill itself (kill -> its own waitpid returns) and sends the
// figure back.
class ReferenceHelper {
 public:
  enum class Op : int { Quit, KillOne, BackgroundStart, BackgroundStop, KillAll };

  ReferenceHelper() {
    int to[2], from[2];
    if (::pipe(to) != 0 || ::pipe(from) != 0) die("pipe failed");
    pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) die(std::string("fork: ") + std::strerror(errno));
    if (pid_ == 0) {
      if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) _exit(1);
      ::close(to[1]);
      ::close(from[0]);
      serve(to[0], from[1]);
      _exit(0);
    }
    ::close(to[0]);
    ::close(from[1]);
    out_ = to[1];
    in_ = from[0];
  }
  ~ReferenceHelper() {
    (void)call(Op::Quit);
    ::close(out_);
    ::close(in_);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  ReferenceHelper(const ReferenceHelper&) = delete;
  ReferenceHelper& operator=(const ReferenceHelper&) = delete;

  // Nanoseconds for KillOne and KillAll.
  double call(Op op, int spinning = 0, long idle = 0) {
    Request request{op, spinning, idle};
    if (::write(out_, &request, sizeof request) != sizeof request) die("reference helper gone");
    Reply reply{};
    if (!readAll(in_, &reply, sizeof reply)) die("the reference helper died");
    // Its pause counts, added to this process's.
    g_pause_checked += reply.pause_checked - pause_checked_;
    g_pause_short += reply.pause_short - pause_short_;
    pause_checked_ = reply.pause_checked;
    pause_short_ = reply.pause_short;
    return reply.ns;
  }

 private:
  struct Request {
    Op op;
    int spinning;
    long idle;
  };
  struct Reply {
    double ns;
    long pause_checked;  // cumulative, in the helper
    long pause_short;
  };

  static bool readAll(int fd, void* into, std::size_t size) {
    auto* at = static_cast<char*>(into);
    while (size > 0) {
      ssize_t r = ::read(fd, at, size);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      at += r;
      size -= static_cast<std::size_t>(r);
    }
    return true;
  }

  [[noreturn]] static void serve(int in, int out) {
    Children children;
    pid_t background = 0;
    for (;;) {
      Request request{};
      if (!readAll(in, &request, sizeof request)) _exit(0);
      Reply reply{};
      switch (request.op) {
        case Op::Quit:
          break;
        case Op::KillOne:
          reply.ns = killOnce(children);
          break;
        case Op::BackgroundStart:
          background = spinningChild(children);
          break;
        case Op::BackgroundStop:
          killAndReap(background);
          break;
        case Op::KillAll:
          reply.ns = killAllOnce(request.spinning, request.idle);
          break;
      }
      reply.pause_checked = g_pause_checked;
      reply.pause_short = g_pause_short;
      if (::write(out, &reply, sizeof reply) != sizeof reply) _exit(1);
      if (request.op == Op::Quit) _exit(0);
    }
  }

  pid_t pid_ = -1;
  int out_ = -1;
  int in_ = -1;
  long pause_checked_ = 0;
  long pause_short_ = 0;
};

// ---- stop --------------------------------------------------------------------------------

struct StopSubject {
  std::string what;
  bool engine = false;
  std::size_t reference = 0;    // index of the reference row it is compared with
  std::function<void()> begin;  // before each block (a background spinner), may be empty
  std::function<StopSample()> once;
  std::function<void()> end;  // after each block, may be empty
  std::vector<StopSample> samples;
};

std::vector<StopSubject> measureStop(const Options& options, ReferenceHelper& helper) {
  EngineUnderTest one(1);
  EngineUnderTest two(2);
  Children children;  // the diagnostic row's: children of this (large) process
  std::vector<StopSubject> subjects;
  EngineUnderTest::Spinning background{};  // the busy row's, alive during its blocks
  auto engineOnce = [](EngineUnderTest& e) { return [&e] { return e.stopOnce(e.spawnSpin()); }; };
  auto helperOnce = [&] {
    double ns = helper.call(ReferenceHelper::Op::KillOne);
    return StopSample{ns, ns};
  };
  auto add = [&](std::string what, bool engine, std::size_t reference,
                 std::function<StopSample()> once, std::function<void()> begin = nullptr,
                 std::function<void()> end = nullptr) {
    StopSubject& s = subjects.emplace_back();
    s.what = std::move(what);
    s.engine = engine;
    s.reference = reference;
    s.begin = std::move(begin);
    s.once = std::move(once);
    s.end = std::move(end);
  };
  using Op = ReferenceHelper::Op;
  add("selium, 1 worker", true, 3, engineOnce(one));
  add("selium, 2 workers (the other idle)", true, 3, engineOnce(two));
  // The least-loaded worker takes each spawn: the background spin takes one worker, every
  // measured spin the other.
  add(
      "selium, 2 workers (the other running `spin` too)", true, 4,
      [&] {
        EngineUnderTest::Spinning spin = two.spawnSpin();
        if (spin.clock == background.clock) die("both spins on one worker");
        return two.stopOnce(spin);
      },
      [&] { background = two.spawnSpin(); }, [&] { (void)two.stopOnce(background); });
  add("reference: kill(SIGKILL) a spinning child -> waitpid", false, 3, helperOnce);
  add(
      "reference: the same, another child spinning meanwhile", false, 4, helperOnce,
      [&] { (void)helper.call(Op::BackgroundStart); },
      [&] { (void)helper.call(Op::BackgroundStop); });
  add("diagnostic: the first reference, but a child of this benchmark (V8 running)", false, 3, [&] {
    double ns = killOnce(children);
    return StopSample{ns, ns};
  });

  // Every subject in turn, in blocks, so drift on a noisy machine hits them all alike.
  for (int r = 0; r < options.rounds; ++r) {
    int block = options.stop_n / options.rounds + (r < options.stop_n % options.rounds);
    for (StopSubject& s : subjects) {
      if (s.begin) s.begin();
      if (r == 0) {
        for (int i = 0; i < kWarmup; ++i) (void)s.once();
      }
      for (int i = 0; i < block; ++i) s.samples.push_back(s.once());
      if (s.end) s.end();
    }
  }
  for (StopSubject& s : subjects) {  // they refer to this function's locals
    s.begin = s.end = nullptr;
    s.once = nullptr;
  }
  return subjects;
}

// ---- shutdown ----------------------------------------------------------------------------

struct ShutdownSample {
  double call_ns = 0;         // shutdown() call -> return
  double last_report_ns = 0;  // shutdown() call -> the last exit report
};

// A fresh engine with `workers` workers, `idle` idle processes (spread over the workers) and one
// `spin` per worker; times its shutdown and checks that every process was reported terminated
// exactly once.
ShutdownSample shutdownOnce(std::size_t workers, long idle) {
  EngineUnderTest e(workers);
  std::vector<kernel::ProcessId> pids;
  std::vector<std::shared_future<Status>> started;
  for (long i = 0; i < idle; ++i) {
    engine::SpawnRequest request;
    request.module = e.idle;
    auto spawned = e.engine->spawn(std::move(request));
    if (!spawned) die("spawn idle: " + spawned.error().message);
    pids.push_back(spawned->pid);
    started.push_back(spawned->started);
  }
  for (auto& future : started) {
    if (future.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
      die("an idle process did not start within 60 s");
    }
    if (Status status = future.get(); !status) die("idle: " + status.error().message);
  }
  // The idle ones are spread evenly, so each spin goes to a different worker (and could not
  // start on one that another spin holds).
  std::vector<clockid_t> clocks;
  for (std::size_t w = 0; w < workers; ++w) {
    EngineUnderTest::Spinning spin = e.spawnSpin();
    if (std::find(clocks.begin(), clocks.end(), spin.clock) != clocks.end()) {
      die("two spins on one worker");
    }
    clocks.push_back(spin.clock);
    pids.push_back(spin.pid);
  }
  if (e.engine->liveProcesses() != pids.size()) die("not every process is alive");

  Clock::time_point start = Clock::now();
  if (!e.engine->shutdown(std::chrono::seconds(10))) die("shutdown did not end within 10 s");
  Clock::time_point returned = Clock::now();

  auto [reports, last] = e.exits.all();
  if (reports.size() != pids.size()) {
    die(format("%zu processes, %zu exit reports", pids.size(), reports.size()));
  }
  for (kernel::ProcessId pid : pids) {
    auto it = reports.find(pid);
    if (it == reports.end()) die("process " + std::to_string(pid) + " was not reported");
    if (it->second.count != 1) {
      die(format("process %llu reported %d times", static_cast<unsigned long long>(pid),
                 it->second.count));
    }
    checkTerminated(pid, it->second);
  }
  return {nanosBetween(start, returned), nanosBetween(start, last)};
}

// ---- the report --------------------------------------------------------------------------

std::string us(double ns) { return format("%.1f", ns / 1e3); }
std::string ms(double ns) { return format("%.2f", ns / 1e6); }

int run(const Options& options) {
  // First, while this process is small and single-threaded (see ReferenceHelper).
  ReferenceHelper helper;
  std::atomic<uint64_t> held_warnings{0};
  quietLog(kHeldWarning, &held_warnings);

  // ---- stop
  std::vector<StopSubject> stop = measureStop(options, helper);
  std::printf(
      "Stop: bench.wasm `spin` (an endless loop, no hostcall) spawned, left spinning %lld ms "
      "(and until its worker had used %lld ms of CPU since on_start), then Engine::stop(pid) -> "
      "exit report (stamped on the worker in on_exit). Reference: a fork()ed child of a small "
      "helper process, in a busy loop, left spinning alike, kill(SIGKILL) -> waitpid returns. "
      "N = %d each (after %d warm-up), in %d interleaved blocks.\n\n",
      static_cast<long long>(kPause.count()), static_cast<long long>(kSpunAtLeast.count()),
      options.stop_n, kWarmup, options.rounds);
  Table stop_table({"what", "p50 (us)", "p99 (us)", "max (us)", "p50 / reference",
                    "max / reference max", "to the waiting thread: p50 / max (us)"});
  auto reports = [](const StopSubject& s) {
    std::vector<double> v;
    for (const StopSample& x : s.samples) v.push_back(x.report);
    return v;
  };
  double stop_max = 0;
  for (std::size_t i = 0; i < stop.size(); ++i) {
    Summary s = summarise(reports(stop[i]));
    Summary ref = summarise(reports(stop[stop[i].reference]));
    bool reference = stop[i].reference == i;
    std::string woken = "(the same)";
    if (stop[i].engine) {
      stop_max = std::max(stop_max, s.max);
      std::vector<double> w;
      for (const StopSample& x : stop[i].samples) w.push_back(x.woken);
      Summary ws = summarise(w);
      woken = us(ws.p50) + " / " + us(ws.max);
    }
    stop_table.row({stop[i].what, us(s.p50), us(s.p99), us(s.max),
                    reference ? "1" : format("%.2f", s.p50 / ref.p50),
                    reference ? "1" : format("%.2f", s.max / ref.max), woken});
  }
  stop_table.print();

  // ---- shutdown
  const std::vector<int> worker_counts = {1, 2};
  std::vector<std::vector<ShutdownSample>> engine_samples(worker_counts.size());
  std::vector<std::vector<double>> reference_samples(worker_counts.size());
  for (int r = 0; r < options.shutdown_n; ++r) {
    // Interleaved as above: each subject once per round.
    for (std::size_t i = 0; i < worker_counts.size(); ++i) {
      engine_samples[i].push_back(
          shutdownOnce(static_cast<std::size_t>(worker_counts[i]), options.idle));
    }
    for (std::size_t i = 0; i < worker_counts.size(); ++i) {
      reference_samples[i].push_back(
          helper.call(ReferenceHelper::Op::KillAll, worker_counts[i], options.idle));
    }
  }
  std::printf(
      "\nShutdown: a fresh engine per run, %ld idle.wasm processes (root task pending) spread "
      "over its workers, then one `spin` per worker (left spinning as above); "
      "Engine::shutdown(10 s) call -> return, which includes the workers' V8 teardown; every "
      "process checked reported terminated exactly once. Reference: as many children of the "
      "helper (%ld in pause(), the others in a busy loop), SIGKILL to all -> all reaped. "
      "N = %d each, interleaved.\n\n",
      options.idle, options.idle, options.shutdown_n);
  Table shutdown_table({"what", "p50 (ms)", "p99 (ms)", "max (ms)", "last exit report p50 (ms)",
                        "p50 / reference", "max / reference max"});
  double shutdown_max = 0;
  std::vector<Summary> refs;
  for (const auto& samples : reference_samples) refs.push_back(summarise(samples));
  for (std::size_t i = 0; i < worker_counts.size(); ++i) {
    std::vector<double> calls, lasts;
    for (const ShutdownSample& s : engine_samples[i]) {
      calls.push_back(s.call_ns);
      lasts.push_back(s.last_report_ns);
    }
    Summary s = summarise(calls);
    shutdown_max = std::max(shutdown_max, s.max);
    int w = worker_counts[i];
    shutdown_table.row(
        {format("selium, %d worker%s: %d spin + %ld idle", w, w == 1 ? "" : "s", w, options.idle),
         ms(s.p50), ms(s.p99), ms(s.max), ms(median(lasts)), format("%.2f", s.p50 / refs[i].p50),
         format("%.2f", s.max / refs[i].max)});
  }
  for (std::size_t i = 0; i < worker_counts.size(); ++i) {
    shutdown_table.row({format("reference: kill %d spinning + %ld paused children -> all reaped",
                               worker_counts[i], options.idle),
                        ms(refs[i].p50), ms(refs[i].p99), ms(refs[i].max), "-", "1", "1"});
  }
  shutdown_table.print();

  auto verdict = [](double ns) { return ns / 1e6 <= kTargetMs ? "met" : "MISSED"; };
  std::printf(
      "\nTarget: stop and shutdown end a guest in an infinite loop within %.0f ms, judged on "
      "the max observed (engine rows): stop max %.2f ms (%s); shutdown max %.2f ms (%s).\n",
      kTargetMs, stop_max / 1e6, verdict(stop_max), shutdown_max / 1e6, verdict(shutdown_max));
  std::printf(
      "The %lld ms pause was not enough for the spinner to use %lld ms of CPU in %ld of %ld "
      "samples (waited longer for those).\n",
      static_cast<long long>(kPause.count()), static_cast<long long>(kSpunAtLeast.count()),
      g_pause_short.load(), g_pause_checked.load());
  if (held_warnings > 0) {
    std::printf("(%llu \"%s\" warnings, from the background spins of the busy row; not printed.)\n",
                static_cast<unsigned long long>(held_warnings.load()), kHeldWarning);
  }
  log::shutdown();
  return 0;
}

}  // namespace
}  // namespace selium::bench

int main(int argc, char** argv) {
  return selium::bench::run(selium::bench::parseOptions(argc, argv));
}
