// Spawn latency and spawn rate of processes (bench.wasm `start`, which returns at once) against
// an OS process (fork + _exit + waitpid), a thread (std::thread + join) and a bare hand-off to an
// idle event-loop thread, all measured in this run. See bench/README.md.
//
//   spawn_bench [--latency-n 2000] [--rate-n 10000] [--rounds 10]
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace selium::bench {
namespace {

struct Options {
  int latency_n = 2000;
  int rate_n = 10000;
  int rounds = 10;  // latency samples are taken in this many interleaved blocks
};

Options parseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--latency-n" && i + 1 < argc) {
      options.latency_n = std::atoi(argv[++i]);
    } else if (arg == "--rate-n" && i + 1 < argc) {
      options.rate_n = std::atoi(argv[++i]);
    } else if (arg == "--rounds" && i + 1 < argc) {
      options.rounds = std::atoi(argv[++i]);
    } else {
      die("usage: spawn_bench [--latency-n N] [--rate-n N] [--rounds R]");
    }
  }
  if (options.latency_n < 1 || options.rate_n < 1 || options.rounds < 1) {
    die("counts must be positive");
  }
  options.rounds = std::min(options.rounds, options.latency_n);
  return options;
}

// Outstanding children or threads the rate references keep at most (an unbounded number of
// un-joined threads would reserve a stack each).
constexpr int kWindow = 256;

struct Latency {
  double p50, p99, mean;  // nanoseconds
};

Latency summarise(const std::vector<double>& samples) {
  return {percentile(samples, 50), percentile(samples, 99), mean(samples)};
}

pid_t forkChild() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  if (pid < 0) die("fork failed");
  return pid;
}

void reap(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    die("waitpid: the child did not exit cleanly");
  }
}

double forkOnce() {
  Clock::time_point start = Clock::now();
  reap(forkChild());
  return nanosBetween(start, Clock::now());
}

double threadOnce() {
  Clock::time_point start = Clock::now();
  std::thread([] {}).join();
  return nanosBetween(start, Clock::now());
}

// Per second; at most kWindow children un-reaped at any time.
double forkRate(int n) {
  std::vector<pid_t> ring(kWindow, 0);
  Clock::time_point start = Clock::now();
  for (int i = 0; i < n; ++i) {
    pid_t& slot = ring[i % kWindow];
    if (slot != 0) reap(slot);
    slot = forkChild();
  }
  for (pid_t pid : ring) {
    if (pid != 0) reap(pid);
  }
  return n / (nanosBetween(start, Clock::now()) / 1e9);
}

double threadRate(int n) {
  std::vector<std::thread> ring(kWindow);
  Clock::time_point start = Clock::now();
  for (int i = 0; i < n; ++i) {
    std::thread& slot = ring[i % kWindow];
    if (slot.joinable()) slot.join();
    slot = std::thread([] {});
  }
  for (std::thread& t : ring) {
    if (t.joinable()) t.join();
  }
  return n / (nanosBetween(start, Clock::now()) / 1e9);
}

// The hand-off alone: a handler posted to an idle event loop on another thread, as spawn posts to
// a worker, stamped when it runs. The engine's own work is roughly its latency minus this.
class HandoffLoop {
 public:
  HandoffLoop() : guard_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~HandoffLoop() {
    guard_.reset();
    thread_.join();
  }

  double once() {
    Clock::time_point start = Clock::now();
    boost::asio::post(io_, [this] {
      Clock::time_point now = Clock::now();
      std::lock_guard lock(mutex_);
      stamp_ = now;
      ran_.notify_one();
    });
    std::unique_lock lock(mutex_);
    ran_.wait(lock, [&] { return stamp_.has_value(); });
    double ns = nanosBetween(start, *stamp_);
    stamp_.reset();
    return ns;
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable ran_;
  std::optional<Clock::time_point> stamp_;
};

// An engine with bench.wasm loaded. Not movable: the engine's on_exit refers to `exits`.
struct EngineUnderTest {
  explicit EngineUnderTest(std::size_t workers) {
    engine::EngineOptions options;
    options.workers = workers;
    options.on_exit = [this](const engine::ProcessExit& e) { exits.record(e); };
    engine = std::make_unique<engine::Engine>(std::move(options));
    auto loaded = engine->load(readGuest("bench.wasm"), "bench.wasm");
    if (!loaded) die(loaded.error().message);
    module = *loaded;
    // Warm-up: first instantiations on each worker, allocator pools, code pages.
    for (int i = 0; i < 200; ++i) exits.wait(spawnOrDie(*engine, module, "start"));
  }
  ~EngineUnderTest() {
    if (!engine->shutdown(std::chrono::seconds(10))) die("engine did not shut down");
  }
  EngineUnderTest(const EngineUnderTest&) = delete;
  EngineUnderTest& operator=(const EngineUnderTest&) = delete;

  // Spawn, then the exit report of that process.
  double once() {
    Clock::time_point start = Clock::now();
    kernel::ProcessId pid = spawnOrDie(*engine, module, "start");
    return nanosBetween(start, exits.wait(pid));
  }

  // Per second, first spawn to last exit report; also the mean spawn() call time.
  std::pair<double, double> rate(int n) {
    exits.trackEach(false);
    uint64_t before = exits.ended();
    Clock::time_point start = Clock::now();
    for (int i = 0; i < n; ++i) spawnOrDie(*engine, module, "start");
    Clock::time_point submitted = Clock::now();
    Clock::time_point last = exits.waitEnded(before + n);
    exits.trackEach(true);
    return {n / (nanosBetween(start, last) / 1e9), nanosBetween(start, submitted) / n};
  }

  ExitRecorder exits;  // declared first: outlives the engine that reports to it
  std::unique_ptr<engine::Engine> engine;
  std::shared_ptr<const engine::Module> module;
};

std::string workersLabel(std::size_t workers) {
  return format("selium, %zu worker%s", workers, workers == 1 ? "" : "s");
}

int run(const Options& options) {
  quietLog();
  // fork first, while this process is small and has no V8 threads: fork's cost grows with the
  // parent's mappings, so this is the cheapest OS process spawn this machine offers.
  std::vector<double> fork_samples;
  for (int i = 0; i < options.latency_n; ++i) fork_samples.push_back(forkOnce());
  double fork_rate = forkRate(options.rate_n);

  EngineUnderTest default_engine(0);  // one worker per hardware thread
  EngineUnderTest one_worker(1);
  HandoffLoop handoff;

  // Latency: every subject in turn, in blocks, so drift on a noisy machine (and which vCPU the
  // scheduler happens to favour) hits them all alike.
  struct Subject {
    std::string what;
    std::function<double()> once;
    std::vector<double> samples;
  };
  std::vector<Subject> subjects;
  auto add = [&](std::string what, std::function<double()> once) {
    subjects.push_back({std::move(what), std::move(once), {}});
  };
  add(workersLabel(default_engine.engine->workerCount()), [&] { return default_engine.once(); });
  add(workersLabel(1), [&] { return one_worker.once(); });
  add("std::thread + join (reference)", threadOnce);
  add("post to an idle event-loop thread (hand-off only)", [&] { return handoff.once(); });
  for (int r = 0; r < options.rounds; ++r) {
    int block = options.latency_n / options.rounds + (r < options.latency_n % options.rounds);
    for (Subject& s : subjects) {
      for (int i = 0; i < block; ++i) s.samples.push_back(s.once());
    }
  }
  subjects.insert(subjects.begin() + 2,
                  Subject{"fork + _exit + waitpid (reference)", nullptr, fork_samples});

  Latency fork_latency = summarise(fork_samples);
  Latency thread_latency = summarise(subjects[3].samples);
  std::printf(
      "Spawn latency: bench.wasm `start` (returns at once), one at a time, spawn -> exit "
      "report, N = %d each (after 200 warm-up spawns), in %d interleaved blocks.\n\n",
      options.latency_n, options.rounds);
  Table latency({"what", "p50 (us)", "p99 (us)", "mean (us)", "p50 / fork", "p50 / thread"});
  for (const Subject& s : subjects) {
    Latency l = summarise(s.samples);
    latency.row({s.what, format("%.1f", l.p50 / 1e3), format("%.1f", l.p99 / 1e3),
                 format("%.1f", l.mean / 1e3), format("%.3f", l.p50 / fork_latency.p50),
                 format("%.2f", l.p50 / thread_latency.p50)});
  }
  latency.print();

  // Rate: engines and the thread reference back to back (fork was measured above).
  auto [default_rate, default_submit] = default_engine.rate(options.rate_n);
  auto [one_rate, one_submit] = one_worker.rate(options.rate_n);
  double thread_rate = threadRate(options.rate_n);

  std::printf(
      "\nSpawn rate: N = %d spawned as fast as possible, first spawn -> last exit "
      "(the references keep at most %d outstanding).\n\n",
      options.rate_n, kWindow);
  Table rate({"what", "per second", "/ fork", "/ thread", "spawn() call (us)"});
  auto rateRow = [&](const std::string& what, double r, std::string submit) {
    rate.row({what, format("%.0f", r), format("%.2f", r / fork_rate),
              format("%.2f", r / thread_rate), std::move(submit)});
  };
  rateRow(subjects[0].what, default_rate, format("%.2f", default_submit / 1e3));
  rateRow(subjects[1].what, one_rate, format("%.2f", one_submit / 1e3));
  rateRow("fork + _exit + waitpid (reference)", fork_rate, "-");
  rateRow("std::thread + join (reference)", thread_rate, "-");
  rate.print();

  log::shutdown();
  return 0;
}

}  // namespace
}  // namespace selium::bench

int main(int argc, char** argv) {
  return selium::bench::run(selium::bench::parseOptions(argc, argv));
}
