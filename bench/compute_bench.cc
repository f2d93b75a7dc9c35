// Compute: one C program (bench/guests/compute.c: SHA-256 over a buffer, and the n-body
// simulation) run by the engine as a WASI command, by Node.js (node:wasi) on the same .wasm and
// natively (gcc -O2), all in this run. Times are taken inside the program (clock_gettime around
// each round, after warm-up rounds), so start-up and compilation are left out and every runner
// is measured in its steady state. See bench/README.md.
//
//   compute_bench [--runs 5] [--warmup 3] [--rounds 5] [--sha256-mib 32] [--nbody-steps 1000000]
//                 [--node PATH] [--no-diagnostics]
//   compute_bench --engine-run WORKLOAD WORK WARMUP ROUNDS --cache DIR [--trap-handler]
//                 (internal: one engine run in a fresh process; prints the program's stdout)
#include <v8.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace selium::bench {
namespace {

namespace fs = std::filesystem;

struct Options {
  int runs = 5;
  int warmup = 3;
  int rounds = 5;
  long sha256_mib = 32;
  long nbody_steps = 1'000'000;
  std::string node = "node";
  bool diagnostics = true;
  // --engine-run
  std::vector<std::string> engine_run;  // workload, work, warmup, rounds
  std::string cache;
  bool trap_handler = false;
};

Options parseOptions(int argc, char** argv) {
  Options options;
  auto positive = [](const char* text, const char* what) {
    long v = std::atol(text);
    if (v < 1) die(std::string(what) + " must be positive");
    return v;
  };
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--runs" && i + 1 < argc) {
      options.runs = static_cast<int>(positive(argv[++i], "--runs"));
    } else if (arg == "--warmup" && i + 1 < argc) {
      options.warmup = std::atoi(argv[++i]);
      if (options.warmup < 0) die("--warmup must not be negative");
    } else if (arg == "--rounds" && i + 1 < argc) {
      options.rounds = static_cast<int>(positive(argv[++i], "--rounds"));
    } else if (arg == "--sha256-mib" && i + 1 < argc) {
      options.sha256_mib = positive(argv[++i], "--sha256-mib");
    } else if (arg == "--nbody-steps" && i + 1 < argc) {
      options.nbody_steps = positive(argv[++i], "--nbody-steps");
    } else if (arg == "--node" && i + 1 < argc) {
      options.node = argv[++i];
    } else if (arg == "--no-diagnostics") {
      options.diagnostics = false;
    } else if (arg == "--engine-run" && i + 4 < argc) {
      options.engine_run.assign(argv + i + 1, argv + i + 5);
      i += 4;
    } else if (arg == "--cache" && i + 1 < argc) {
      options.cache = argv[++i];
    } else if (arg == "--trap-handler") {
      options.trap_handler = true;
    } else {
      die("usage: compute_bench [--runs N] [--warmup N] [--rounds N] [--sha256-mib N] "
          "[--nbody-steps N] [--node PATH] [--no-diagnostics]");
    }
  }
  return options;
}

// ---- one engine run, in a fresh process --------------------------------------------------

// Loads bench_compute.wasm with a compile cache in `cache`: the first run compiles it and waits
// for V8's background TurboFan tier-up (signalled by the cache entry being written), later runs
// load the TurboFan code from the entry. Either way the program runs optimised code from its
// first instruction. Then runs it once as a WASI command and prints its stdout lines.
int engineRun(const Options& options) {
  if (options.trap_handler) {
    // Diagnostic only (the runtime does not do this): V8's out-of-bounds handling by guard
    // regions and a signal handler instead of an explicit check on every memory access. Must
    // come before V8 is initialised, which the engine does.
    if (!v8::V8::EnableWebAssemblyTrapHandler(true)) die("V8 could not enable its trap handler");
  }
  // A round holds the worker far longer than the engine's 100 ms warning threshold: expected.
  quietLog("guest call held its worker without yielding");
  std::mutex out_mutex;
  ExitRecorder exits;
  engine::EngineOptions engine_options;
  engine_options.workers = 1;
  engine_options.compile_cache_dir = options.cache;
  engine_options.on_exit = [&](const engine::ProcessExit& e) { exits.record(e); };
  engine_options.log_sink = [&](const kernel::Process&, const kernel::GuestLogRecord& record) {
    std::lock_guard lock(out_mutex);
    std::printf("%s\n", record.message.c_str());
  };
  auto engine = std::make_unique<engine::Engine>(std::move(engine_options));
  Clock::time_point load_start = Clock::now();
  auto loaded = engine->load(readGuest("bench_compute.wasm"), "bench_compute.wasm");
  if (!loaded) die(loaded.error().message);
  std::string tier = "TurboFan code from the compile cache";
  if (engine->stats().cache_hits == 0) {
    Clock::time_point deadline = Clock::now() + std::chrono::minutes(5);
    for (;;) {
      engine::EngineStats stats = engine->stats();
      if (stats.cache_writes + stats.cache_write_failures > 0) break;
      if (Clock::now() > deadline) die("TurboFan tier-up did not finish within 5 minutes");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    tier = format("compiled, TurboFan tier-up waited for (%.0f ms after load started)",
                  nanosBetween(load_start, Clock::now()) / 1e6);
  }

  engine::SpawnRequest request;
  request.module = *loaded;
  request.entrypoint = "start";  // the WASI command's _start
  request.argv = options.engine_run;
  request.capabilities.add(kernel::Capability::TimeRead);
  Clock::time_point start = Clock::now();
  auto spawned = engine->spawn(std::move(request));
  if (!spawned) die("spawn: " + spawned.error().message);
  Clock::time_point ended = exits.wait(spawned->pid);
  if (!engine->shutdown(std::chrono::seconds(30))) die("engine did not shut down");
  engine.reset();
  std::printf("engine code: %s\nengine spawn to exit: %.1f ms\n", tier.c_str(),
              nanosBetween(start, ended) / 1e6);
  std::fflush(stdout);
  log::shutdown();
  return 0;
}

// ---- the report --------------------------------------------------------------------------

struct Workload {
  std::string name;
  long work;
  std::string unit;
};

struct Runner {
  std::string what;
  // The command for one run of `workload`.
  std::function<std::vector<std::string>(const Workload&)> command;
  std::map<std::string, std::vector<double>> run_medians = {};  // workload -> per-run median ns
  std::vector<std::string> notes = {};  // engine runs: how the code was obtained, per run
};

// Per-round times of the timed rounds in a run's output; dies on a failed run or a result that
// differs from `*check` (set by the first run of any runner).
std::vector<double> timedRounds(const std::string& runner, const Workload& w,
                                const ChildOutput& child, std::string* check,
                                std::vector<std::string>* notes) {
  if (!child.exitedZero()) die(runner + " " + w.name + " failed:\n" + child.out);
  std::vector<double> ns;
  std::istringstream lines(child.out);
  bool done = false;
  for (std::string line; std::getline(lines, line);) {
    if (line == "done") done = true;
    if (line.rfind("engine code: ", 0) == 0) notes->push_back(line.substr(13));
    if (line.rfind("round ", 0) != 0 || line.find(" timed ") == std::string::npos) continue;
    std::size_t at = line.find(" ns=");
    std::size_t c = line.find(" check=");
    if (at == std::string::npos || c == std::string::npos) die("bad line: " + line);
    ns.push_back(std::atof(line.c_str() + at + 4));
    std::string got = line.substr(c + 7);
    if (check->empty()) *check = got;
    if (got != *check) die(runner + " " + w.name + ": result " + got + ", expected " + *check);
  }
  if (!done || ns.empty()) die(runner + " " + w.name + ": incomplete output:\n" + child.out);
  return ns;
}

std::string loadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

int report(const Options& options) {
  std::string wasm = (fs::path(SELIUM_GUEST_DIR) / "bench_compute.wasm").string();
  if (!fs::exists(wasm)) die("missing " + wasm + " (build the guests first)");
  std::string pattern = (fs::temp_directory_path() / "selium-compute-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) die("mkdtemp failed");
  fs::path tmp = pattern;
  std::string self = fs::read_symlink("/proc/self/exe").string();

  std::vector<Workload> workloads = {
      {"sha256", options.sha256_mib, "MiB hashed"},
      {"nbody", options.nbody_steps, "steps"},
  };
  auto args = [&](const Workload& w) {
    return std::vector<std::string>{w.name, std::to_string(w.work), std::to_string(options.warmup),
                                    std::to_string(options.rounds)};
  };
  auto engineCommand = [&, self](std::string cache, bool trap_handler) {
    return [=, &args](const Workload& w) {
      std::vector<std::string> argv = {self, "--engine-run"};
      for (std::string& a : args(w)) argv.push_back(std::move(a));
      argv.insert(argv.end(), {"--cache", cache});
      if (trap_handler) argv.push_back("--trap-handler");
      return argv;
    };
  };
  auto nodeCommand = [&](std::vector<std::string> flags) {
    return [=, &args, &options](const Workload& w) {
      std::vector<std::string> argv = {options.node, "--no-warnings"};
      argv.insert(argv.end(), flags.begin(), flags.end());
      argv.push_back(SELIUM_BENCH_DIR "/compute_node.mjs");
      argv.push_back(wasm);
      for (std::string& a : args(w)) argv.push_back(std::move(a));
      return argv;
    };
  };

  std::vector<Runner> runners;
  runners.push_back({"selium engine (1 worker)", engineCommand((tmp / "cache").string(), false)});
  std::string node_version = runChild({options.node, "--version"}).out;
  while (!node_version.empty() && std::isspace(static_cast<unsigned char>(node_version.back()))) {
    node_version.pop_back();
  }
  runners.push_back({"ref: node " + node_version + " (node:wasi)", nodeCommand({})});
  auto nativeCommand = [&](std::string binary) {
    return [=, &args](const Workload& w) {
      std::vector<std::string> argv = {binary};
      for (std::string& a : args(w)) argv.push_back(std::move(a));
      return argv;
    };
  };
  runners.push_back({"ref: native, gcc -O2", nativeCommand(SELIUM_COMPUTE_NATIVE)});
  if (options.diagnostics) {
    runners.push_back(
        {"diag: node --wasm-enforce-bounds-checks", nodeCommand({"--wasm-enforce-bounds-checks"})});
    runners.push_back({"diag: selium engine + V8 trap handler",
                       engineCommand((tmp / "cache-trap-handler").string(), true)});
    runners.push_back(
        {"diag: native, gcc -O2 -fno-math-errno", nativeCommand(SELIUM_COMPUTE_NATIVE_NO_ERRNO)});
  }

  std::string load_before = loadAverage();
  std::map<std::string, std::string> checks;
  // Interleaved: every runner once per run, so drift in the machine's load hits all alike.
  for (int run = 0; run < options.runs; ++run) {
    for (const Workload& w : workloads) {
      for (Runner& r : runners) {
        ChildOutput child = runChild(r.command(w));
        std::vector<double> ns = timedRounds(r.what, w, child, &checks[w.name], &r.notes);
        r.run_medians[w.name].push_back(median(ns));
      }
    }
  }
  std::string load_after = loadAverage();

  std::printf(
      "bench/guests/compute.c, the same bench_compute.wasm (clang-14 -O2, wasm32-wasi) for the "
      "engine and Node.js, and gcc -O2 natively. Each run is a fresh process doing %d warm-up "
      "and %d timed rounds; a round is timed inside the program (clock_gettime). Cells: median "
      "over %d interleaved runs of each run's median round (range over runs). Load average "
      "(1/5/15 min) before: %s, after: %s (the machine has %u CPUs; other jobs may be running).\n",
      options.warmup, options.rounds, options.runs, load_before.c_str(), load_after.c_str(),
      std::thread::hardware_concurrency());
  for (const Workload& w : workloads) {
    std::printf("\n%s: %ld %s per round, result %s.\n\n", w.name.c_str(), w.work, w.unit.c_str(),
                checks[w.name].c_str());
    double engine_ms = median(runners[0].run_medians[w.name]) / 1e6;
    double node_ms = median(runners[1].run_medians[w.name]) / 1e6;
    double native_ms = median(runners[2].run_medians[w.name]) / 1e6;
    Table table({"runner", "ms per round", "range (ms)", "/ node", "/ native"});
    for (const Runner& r : runners) {
      const std::vector<double>& v = r.run_medians.at(w.name);
      double ms = median(v) / 1e6;
      table.row({r.what, format("%.1f", ms),
                 format("%.1f-%.1f", percentile(v, 0) / 1e6, percentile(v, 100) / 1e6),
                 format("%.2f", ms / node_ms), format("%.2f", ms / native_ms)});
    }
    table.print();
    std::printf(
        "\nengine / node = %.2f (target <= 1.25: %s); engine / native = %.2f (target <= 2: "
        "%s)\n",
        engine_ms / node_ms, engine_ms / node_ms <= 1.25 ? "met" : "MISSED", engine_ms / native_ms,
        engine_ms / native_ms <= 2 ? "met" : "MISSED");
  }
  const std::vector<std::string>& notes = runners[0].notes;
  std::printf(
      "\nEngine code: first run %s; last run %s.\nRows marked diag are not targets. Bounds "
      "checks: the engine does not enable V8's trap handler, so V8 compiles an explicit check "
      "into every memory access; Node.js enables it (guard regions instead); the two diag rows "
      "swap that. sqrt: gcc -O2 keeps errno semantics (a compare and branch before each sqrtsd), "
      "which wasm's f64.sqrt does not have; -fno-math-errno drops them.\n",
      notes.front().c_str(), notes.back().c_str());
  std::error_code ec;
  fs::remove_all(tmp, ec);
  return 0;
}

}  // namespace
}  // namespace selium::bench

int main(int argc, char** argv) {
  selium::bench::Options options = selium::bench::parseOptions(argc, argv);
  if (!options.engine_run.empty()) {
    if (options.cache.empty()) selium::bench::die("--engine-run needs --cache DIR");
    return selium::bench::engineRun(options);
  }
  return selium::bench::report(options);
}
