// Cost of one no-op hostcall round trip (wasm -> host -> wasm) against a wasm-to-wasm call of the
// same shape, both measured in this run on one worker. See bench/README.md.
//
//   hostcall_bench [--sizes 1000000,10000000] [--reps 7]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.h"

namespace selium::bench {
namespace {

struct Workload {
  const char* entry;  // export of bench.wasm taking (n: i32)
  const char* what;
};

// The reference comes last in the table; the first is the headline hostcall.
constexpr Workload kWorkloads[] = {
    {"hostcall_loop", "hostcall `process_id` (i64 result)"},
    {"hostcall_i32_loop", "hostcall `last_error(0,0)` (i32 result)"},
    {"local_loop", "wasm-to-wasm call (reference)"},
};
constexpr std::size_t kReference = 2;
constexpr std::size_t kCount = std::size(kWorkloads);

struct Options {
  std::vector<int32_t> sizes = {1'000'000, 10'000'000};
  int reps = 7;
};

Options parseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--sizes" && i + 1 < argc) {
      options.sizes.clear();
      for (char* p = argv[++i]; *p != '\0';) {
        char* end = nullptr;
        long n = std::strtol(p, &end, 10);
        if (end == p || n <= 0 || n > INT32_MAX) die("--sizes: positive i32 values, e.g. 1000000");
        options.sizes.push_back(static_cast<int32_t>(n));
        p = *end == ',' ? end + 1 : end;
      }
    } else if (arg == "--reps" && i + 1 < argc) {
      options.reps = std::atoi(argv[++i]);
      if (options.reps < 1) die("--reps: at least 1");
    } else {
      die("usage: hostcall_bench [--sizes N,N,...] [--reps R]");
    }
  }
  if (options.sizes.empty()) die("--sizes: at least one size");
  return options;
}

int run(const Options& options) {
  // Runs of 10^7 calls hold the worker for longer than the engine's 100 ms warning threshold;
  // that is the point here, so those warnings are counted rather than printed.
  std::atomic<uint64_t> long_calls{0};
  quietLog("held its worker without yielding", &long_calls);
  ExitRecorder exits;
  engine::EngineOptions engine_options;
  engine_options.workers = 1;
  engine_options.on_exit = [&](const engine::ProcessExit& e) { exits.record(e); };
  engine::Engine engine(std::move(engine_options));
  auto loaded = engine.load(readGuest("bench.wasm"), "bench.wasm");
  if (!loaded) die(loaded.error().message);
  std::shared_ptr<const engine::Module> module = *loaded;

  // Wall time from spawn to the exit report of one process running `entry(n)`.
  auto timeOne = [&](std::size_t w, int32_t n) {
    Clock::time_point start = Clock::now();
    kernel::ProcessId pid = spawnOrDie(engine, module, kWorkloads[w].entry, {n});
    return nanosBetween(start, exits.wait(pid));
  };

  // Warm-up: one run of each loop at the first size (code pages, tier-up, allocator pools).
  for (std::size_t w = 0; w < kCount; ++w) (void)timeOne(w, options.sizes.front());

  // Spawn overhead: the same processes with n = 0, subtracted from every timed run.
  std::vector<double> zero[kCount];
  for (int r = 0; r < options.reps * 3; ++r) {
    for (std::size_t w = 0; w < kCount; ++w) zero[w].push_back(timeOne(w, 0));
  }
  double overhead[kCount];
  for (std::size_t w = 0; w < kCount; ++w) overhead[w] = median(zero[w]);

  std::printf(
      "Hostcall round trip vs wasm-to-wasm call: 1 worker, %d runs per cell (median; "
      "min-max in brackets), spawn overhead (n = 0 run) subtracted.\n\n",
      options.reps);
  Table table({"n", "call", "ns/call median", "[min - max]", "x reference"});
  for (int32_t n : options.sizes) {
    // Interleaved so drift on a noisy machine hits every workload alike.
    std::vector<double> per_call[kCount];
    for (int r = 0; r < options.reps; ++r) {
      for (std::size_t w = 0; w < kCount; ++w) {
        per_call[w].push_back((timeOne(w, n) - overhead[w]) / n);
      }
    }
    double reference = median(per_call[kReference]);
    for (std::size_t w = 0; w < kCount; ++w) {
      double m = median(per_call[w]);
      auto [lo, hi] = std::minmax_element(per_call[w].begin(), per_call[w].end());
      table.row({format("%d", n), kWorkloads[w].what, format("%.1f", m),
                 format("[%.1f - %.1f]", *lo, *hi),
                 w == kReference ? "1" : format("%.1f", m / reference)});
    }
  }
  table.print();

  std::printf("\nSpawn overhead subtracted above (spawn -> exit report with n = 0, median):");
  for (std::size_t w = 0; w < kCount; ++w) {
    std::printf(" %s %.1f us%s", kWorkloads[w].entry, overhead[w] / 1000.0,
                w + 1 < kCount ? "," : ".\n");
  }

  if (long_calls > 0) {
    std::printf(
        "\n(%llu runs held the worker over the engine's 100 ms warning threshold; "
        "expected for long loops, not printed.)\n",
        static_cast<unsigned long long>(long_calls.load()));
  }
  if (!engine.shutdown(std::chrono::seconds(10))) die("engine did not shut down");
  log::shutdown();
  return 0;
}

}  // namespace
}  // namespace selium::bench

int main(int argc, char** argv) {
  return selium::bench::run(selium::bench::parseOptions(argc, argv));
}
