// Spawn latency and spawn rate of processes (bench.wasm `start`, which returns at once) against
// an OS process (fork + _exit + waitpid) and a thread (std::thread + join) measured in this run.
// See bench/README.md.
//
//   spawn_bench [--latency-n 2000] [--rate-n 10000]
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
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
};

Options parseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--latency-n" && i + 1 < argc) {
      options.latency_n = std::atoi(argv[++i]);
    } else if (arg == "--rate-n" && i + 1 < argc) {
      options.rate_n = std::atoi(argv[++i]);
    } else {
      die("usage: spawn_bench [--latency-n N] [--rate-n N]");
    }
  }
  if (options.latency_n < 1 || options.rate_n < 1) die("counts must be positive");
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

Latency forkLatency(int n) {
  std::vector<double> samples;
  for (int i = 0; i < n; ++i) {
    Clock::time_point start = Clock::now();
    reap(forkChild());
    samples.push_back(nanosBetween(start, Clock::now()));
  }
  return summarise(samples);
}

Latency threadLatency(int n) {
  std::vector<double> samples;
  for (int i = 0; i < n; ++i) {
    Clock::time_point start = Clock::now();
    std::thread([] {}).join();
    samples.push_back(nanosBetween(start, Clock::now()));
  }
  return summarise(samples);
}

// The hand-off alone: post a handler to an idle event loop on another thread (as spawn posts to
// a worker) and stamp when it runs. The engine's own work is roughly its latency minus this.
Latency handoffLatency(int n) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread loop([&] { io.run(); });
  std::mutex mutex;
  std::condition_variable ran;
  std::optional<Clock::time_point> stamp;
  std::vector<double> samples;
  for (int i = 0; i < n; ++i) {
    // Let the loop go idle first, as a worker is between spawns in the latency run.
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    Clock::time_point start = Clock::now();
    boost::asio::post(io, [&] {
      Clock::time_point now = Clock::now();
      std::lock_guard lock(mutex);
      stamp = now;
      ran.notify_one();
    });
    std::unique_lock lock(mutex);
    ran.wait(lock, [&] { return stamp.has_value(); });
    samples.push_back(nanosBetween(start, *stamp));
    stamp.reset();
  }
  guard.reset();
  loop.join();
  return summarise(samples);
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

struct EngineFigures {
  std::size_t workers;
  Latency latency;
  double rate;       // processes per second, spawn of the first to exit of the last
  double submit_ns;  // mean time of one spawn() call during the rate run
};

EngineFigures measureEngine(std::size_t workers, const Options& options) {
  ExitRecorder exits;
  engine::EngineOptions engine_options;
  engine_options.workers = workers;
  engine_options.on_exit = [&](const engine::ProcessExit& e) { exits.record(e); };
  engine::Engine engine(std::move(engine_options));
  auto loaded = engine.load(readGuest("bench.wasm"), "bench.wasm");
  if (!loaded) die(loaded.error().message);
  std::shared_ptr<const engine::Module> module = *loaded;
  EngineFigures figures{engine.workerCount(), {}, 0, 0};

  // Warm-up: first instantiations on each worker, allocator pools, code pages.
  for (int i = 0; i < 200; ++i) exits.wait(spawnOrDie(engine, module, "start"));

  // (a) one at a time: spawn, then wait for its exit before the next.
  std::vector<double> samples;
  for (int i = 0; i < options.latency_n; ++i) {
    Clock::time_point start = Clock::now();
    kernel::ProcessId pid = spawnOrDie(engine, module, "start");
    samples.push_back(nanosBetween(start, exits.wait(pid)));
  }
  figures.latency = summarise(samples);

  // (b) as fast as possible: all spawns, then wait for every exit.
  exits.trackEach(false);
  uint64_t before = exits.ended();
  Clock::time_point start = Clock::now();
  for (int i = 0; i < options.rate_n; ++i) spawnOrDie(engine, module, "start");
  Clock::time_point submitted = Clock::now();
  Clock::time_point last = exits.waitEnded(before + options.rate_n);
  figures.rate = options.rate_n / (nanosBetween(start, last) / 1e9);
  figures.submit_ns = nanosBetween(start, submitted) / options.rate_n;

  if (!engine.shutdown(std::chrono::seconds(10))) die("engine did not shut down");
  return figures;
}

int run(const Options& options) {
  quietLog();
  // References first, while this process is small and single-threaded: fork's cost grows with
  // the parent's mappings, so this is the cheapest OS process spawn this machine offers.
  Latency fork_latency = forkLatency(options.latency_n);
  Latency thread_latency = threadLatency(options.latency_n);
  double fork_rate = forkRate(options.rate_n);
  double thread_rate = threadRate(options.rate_n);
  Latency handoff_latency = handoffLatency(options.latency_n);

  std::vector<EngineFigures> engines;
  engines.push_back(measureEngine(0, options));  // default: one worker per hardware thread
  engines.push_back(measureEngine(1, options));

  std::printf(
      "Spawn latency: bench.wasm `start` (returns at once), one at a time, spawn -> exit "
      "report, N = %d (after 200 warm-up spawns).\n\n",
      options.latency_n);
  Table latency({"what", "p50 (us)", "p99 (us)", "mean (us)", "p50 / fork", "p50 / thread"});
  auto latencyRow = [&](const std::string& what, const Latency& l) {
    latency.row({what, format("%.1f", l.p50 / 1e3), format("%.1f", l.p99 / 1e3),
                 format("%.1f", l.mean / 1e3), format("%.2f", l.p50 / fork_latency.p50),
                 format("%.2f", l.p50 / thread_latency.p50)});
  };
  for (const EngineFigures& e : engines) {
    latencyRow(format("selium, %zu worker%s", e.workers, e.workers == 1 ? "" : "s"), e.latency);
  }
  latencyRow("fork + _exit + waitpid (reference)", fork_latency);
  latencyRow("std::thread + join (reference)", thread_latency);
  latencyRow("post to an idle event-loop thread (hand-off only)", handoff_latency);
  latency.print();

  std::printf(
      "\nSpawn rate: N = %d spawned as fast as possible, first spawn -> last exit "
      "(references keep at most %d outstanding).\n\n",
      options.rate_n, kWindow);
  Table rate({"what", "per second", "/ fork", "/ thread", "spawn() call (us)"});
  auto rateRow = [&](const std::string& what, double r, std::string submit) {
    rate.row({what, format("%.0f", r), format("%.2f", r / fork_rate),
              format("%.2f", r / thread_rate), std::move(submit)});
  };
  for (const EngineFigures& e : engines) {
    rateRow(format("selium, %zu worker%s", e.workers, e.workers == 1 ? "" : "s"), e.rate,
            format("%.2f", e.submit_ns / 1e3));
  }
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
