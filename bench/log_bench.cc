// Log printing speed: a guest logging records as fast as it can, printed by the runtime's own
// sink and output (the server's engine options, a pipe read by this benchmark as stdout would
// be), with nobody and with another process following its log stream; against the same lines
// written through the same output by a native thread, in the same run. See bench/README.md.
//
//   log_bench [--records 200000] [--reps 5]
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "runtime/launcher.h"
#include "runtime/server.h"

namespace selium::bench {
namespace {

namespace fs = std::filesystem;
using kernel::ArgValue;
using kernel::Capability;
using kernel::EntrypointArg;
using kernel::ParamKind;

struct Options {
  uint32_t records = 200'000;
  int reps = 5;
};

Options parseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--records" && i + 1 < argc) {
      options.records = static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 10));
    } else if (arg == "--reps" && i + 1 < argc) {
      options.reps = std::atoi(argv[++i]);
    } else {
      die("usage: log_bench [--records N] [--reps R]");
    }
  }
  if (options.records < 1000 || options.reps < 1) die("--records at least 1000, --reps at least 1");
  return options;
}

// The value of `key=` in a text-format line (an unquoted integer), or nullopt.
std::optional<int64_t> intField(std::string_view line, std::string_view key) {
  std::string needle = " " + std::string(key) + "=";
  std::size_t at = line.find(needle);
  if (at == std::string_view::npos) return std::nullopt;
  return std::strtoll(std::string(line.substr(at + needle.size(), 24)).c_str(), nullptr, 10);
}

// What the runtime's output wrote for one burst, as read from its pipe.
struct Seen {
  uint64_t ticks = 0;                     // "tick" lines
  std::optional<int64_t> t0, t1;          // from "burst start" and "burst done"
  Clock::time_point last{};               // when the last line of the burst was read
  uint64_t dropped = 0;                   // guest_records of the output's drop reports
  std::optional<int64_t> received, lost;  // from the follower's "followed"
};

// Reads the output's pipe on a thread of its own, as a terminal or a log collector would, and
// tallies the lines of the burst under way. The benchmark ends a burst with a sentinel line of
// its own, written once the output is flushed.
class Drain {
 public:
  Drain() {
    int fds[2];
    if (::pipe(fds) != 0) die("pipe failed");
    read_fd_ = fds[0];
    write_fd_ = fds[1];
    thread_ = std::thread([this] { run(); });
  }
  ~Drain() {
    ::close(write_fd_);
    thread_.join();
    ::close(read_fd_);
  }
  int fd() const { return write_fd_; }
  // Warnings that a guest call held its worker: expected here, counted instead of printed.
  uint64_t held() {
    std::lock_guard lock(mutex_);
    return held_;
  }

  void reset() {
    std::lock_guard lock(mutex_);
    seen_ = {};
    sentinel_ = false;
  }

  // Writes the sentinel after everything the output has written and waits until it is read.
  Seen finish() {
    static constexpr char kLine[] = "log_bench sentinel\n";
    if (::write(write_fd_, kLine, sizeof kLine - 1) != sizeof kLine - 1) die("sentinel failed");
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, std::chrono::minutes(1), [&] { return sentinel_; })) {
      die("the output's pipe was never drained");
    }
    return seen_;
  }

 private:
  void run() {
    std::vector<char> buffer(1 << 16);
    std::string partial;
    for (;;) {
      ssize_t n = ::read(read_fd_, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      Clock::time_point now = Clock::now();
      std::string_view chunk(buffer.data(), static_cast<std::size_t>(n));
      std::lock_guard lock(mutex_);
      for (std::size_t nl; (nl = chunk.find('\n')) != std::string_view::npos;) {
        if (partial.empty()) {
          line(chunk.substr(0, nl), now);
        } else {
          partial.append(chunk.substr(0, nl));
          line(partial, now);
          partial.clear();
        }
        chunk.remove_prefix(nl + 1);
      }
      partial.append(chunk);
    }
  }

  // One line, with mutex_ held.
  void line(std::string_view text, Clock::time_point now) {
    if (text.find("selium.guest.bench: tick ") != std::string_view::npos) {
      ++seen_.ticks;
      seen_.last = now;
    } else if (text.find("selium.guest.bench: burst start ") != std::string_view::npos) {
      seen_.t0 = intField(text, "t0");
    } else if (text.find("selium.guest.bench: burst done ") != std::string_view::npos) {
      seen_.t1 = intField(text, "t1");
      seen_.last = now;
    } else if (text.find("records dropped") != std::string_view::npos) {
      seen_.dropped += static_cast<uint64_t>(intField(text, "guest_records").value_or(0));
    } else if (text.find("selium.guest.bench: followed ") != std::string_view::npos) {
      seen_.received = intField(text, "received");
      seen_.lost = intField(text, "lost");
    } else if (text == "log_bench sentinel") {
      sentinel_ = true;
      changed_.notify_all();
    } else if (text.find("its worker") != std::string_view::npos) {
      ++held_;  // a burst holds its worker for longer than the watchdog's warning threshold
    } else if (text.find(" WARN ") != std::string_view::npos ||
               text.find(" ERROR ") != std::string_view::npos) {
      std::fprintf(stderr, "%.*s\n", static_cast<int>(text.size()), text.data());
    }
  }

  int read_fd_ = -1;
  int write_fd_ = -1;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable changed_;
  Seen seen_;
  bool sentinel_ = false;
  uint64_t held_ = 0;
};

struct Burst {
  double logged_per_s = 0;   // records / (t1 - t0): how fast the writer's log calls returned
  double printed_per_s = 0;  // lines printed / (last line read - t0)
  double dropped = 0;        // records not printed
  double lost = 0;           // records the follower lost (weak reader lagging)
};

Burst summarize(const Seen& seen, uint32_t records, Clock::time_point ended) {
  if (!seen.t0) die("the burst's first record was not printed");
  // t1 is in the last record, which the output may have dropped: then the writer's end.
  int64_t t1 = seen.t1.value_or(ended.time_since_epoch().count());
  Burst b;
  b.logged_per_s = records / (static_cast<double>(t1 - *seen.t0) / 1e9);
  b.printed_per_s = static_cast<double>(seen.ticks) /
                    (static_cast<double>(seen.last.time_since_epoch().count() - *seen.t0) / 1e9);
  b.dropped = static_cast<double>(records - seen.ticks);
  b.lost = static_cast<double>(seen.lost.value_or(0));
  return b;
}

EntrypointArg u32(uint64_t v) { return {ParamKind::U32, ArgValue{v}}; }

int run(const Options& o) {
  char pattern[] = "/tmp/selium-log-bench-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) die("mkdtemp failed");
  const fs::path tmp = pattern;

  // The server's log output: text, level info, on a pipe this benchmark drains.
  auto drain = std::make_unique<Drain>();
  log::configure(log::Format::Text, log::Filter(log::Level::Info), nullptr, drain->fd());

  // The server's engine options: its sink prints guest records; plus the launcher it gives
  // guests for children, the build's modules/ as the work dir's.
  runtime::ServerOptions server;
  server.workers = 2;
  server.compile_cache_dir = tmp / "cache";
  engine::EngineOptions options = runtime::runtimeEngineOptions(server);
  ExitRecorder exits;
  options.on_exit = [&exits, print = options.on_exit](const engine::ProcessExit& e) {
    print(e);
    exits.record(e);
  };
  runtime::ChildLauncher launcher({fs::canonical(SELIUM_GUEST_DIR)});
  options.launcher = &launcher;
  engine::Engine engine(std::move(options));
  launcher.setEngine(&engine);
  auto loaded = engine.load(readGuest("bench_log.wasm"), "bench_log.wasm");
  if (!loaded) die(loaded.error().message);
  {  // TurboFan code from the first record on (the cache entry is written after the tier-up)
    Clock::time_point deadline = Clock::now() + std::chrono::minutes(5);
    while (engine.stats().cache_writes + engine.stats().cache_write_failures == 0) {
      if (Clock::now() > deadline) die("TurboFan tier-up did not finish within 5 minutes");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  auto guestBurst = [&](bool follow) {
    drain->reset();
    engine::SpawnRequest request;
    request.module = *loaded;
    request.entrypoint = follow ? "follow" : "burst";
    request.args = {u32(o.records)};
    request.capabilities.add(Capability::TimeRead);
    if (follow) {
      for (Capability c : {Capability::ProcessLifecycle, Capability::ChannelLifecycle,
                           Capability::ChannelReader, Capability::ChannelWriter}) {
        request.capabilities.add(c);
      }
    }
    auto spawned = engine.spawn(std::move(request));
    if (!spawned) die("spawn: " + spawned.error().message);
    Clock::time_point ended = exits.wait(spawned->pid);
    if (!log::flush(Clock::now() + std::chrono::minutes(1))) die("the output did not flush");
    Seen seen = drain->finish();
    if (follow && !seen.received) die("the follower's record was not printed");
    return summarize(seen, o.records, ended);
  };

  // The reference: the same lines, fields and source limit through the same output, from a
  // native thread (this one): what printing costs without a guest, a hostcall and a decode.
  auto nativeBurst = [&] {
    drain->reset();
    constexpr uint64_t kSource = 1'000'000'000;  // a process id no guest has
    constexpr std::string_view kTarget = "selium.guest.bench";
    auto t0 = Clock::now();
    std::vector<log::Field> fields = {
        {"pid", kSource}, {"module", "bench_log.wasm"}, {"guest_target", "bench"}};
    fields.emplace_back("t0", t0.time_since_epoch().count());
    log::writeFrom(kSource, log::Level::Info, kTarget, "burst start", fields);
    for (uint32_t i = 0; i < o.records; ++i) {
      std::vector<log::Field> tick = {{"pid", kSource},          {"module", "bench_log.wasm"},
                                      {"guest_target", "bench"}, {"i", i},
                                      {"name", "bench"},         {"ok", true}};
      log::writeFrom(kSource, log::Level::Info, kTarget, "tick", tick);
    }
    auto t1 = Clock::now();
    fields.back() = log::Field("t1", t1.time_since_epoch().count());
    log::writeFrom(kSource, log::Level::Info, kTarget, "burst done", fields);
    if (!log::flush(Clock::now() + std::chrono::minutes(1))) die("the output did not flush");
    return summarize(drain->finish(), o.records, t1);
  };

  struct Row {
    const char* name;
    std::vector<Burst> runs;
  };
  Row rows[] = {{"guest, nobody following its log stream", {}},
                {"guest, a process following its log stream", {}},
                {"native thread, same output (reference)", {}}};
  (void)guestBurst(false);  // warm-up: first instantiation on each worker, allocator pools
  (void)guestBurst(true);
  for (int rep = 0; rep < o.reps; ++rep) {  // interleaved, so drift hits all alike
    rows[0].runs.push_back(guestBurst(false));
    rows[1].runs.push_back(guestBurst(true));
    rows[2].runs.push_back(nativeBurst());
  }

  auto med = [](const std::vector<Burst>& runs, double Burst::*field) {
    std::vector<double> v;
    for (const Burst& b : runs) v.push_back(b.*field);
    return median(v);
  };
  double reference = med(rows[2].runs, &Burst::printed_per_s);
  Table table({"writer", "logged", "printed", "printed / reference", "not printed (dropped)",
               "lost by the follower"});
  for (std::size_t i = 0; i < std::size(rows); ++i) {
    const auto& runs = rows[i].runs;
    table.row({rows[i].name, format("%.0f k/s", med(runs, &Burst::logged_per_s) / 1e3),
               format("%.0f k/s", med(runs, &Burst::printed_per_s) / 1e3),
               format("%.2fx", med(runs, &Burst::printed_per_s) / reference),
               format("%.0f", med(runs, &Burst::dropped)),
               i == 1 ? format("%.0f", med(runs, &Burst::lost)) : "-"});
  }
  table.print();
  std::printf(
      "\n%u records per burst, medians of %d runs (interleaved). logged: records / the writer's "
      "time from before the first to after the last log call; printed: lines written by the "
      "runtime's output (read from its pipe) / the time from the first log call to reading the "
      "last line. Two workers; the follower runs on the other worker and reads the stream in "
      "batches without decoding.\n",
      o.records, o.reps);
  if (drain->held() > 0) {
    std::printf(
        "\n(%llu warnings that a burst held its worker over the engine's 100 ms threshold: "
        "expected, not printed.)\n",
        static_cast<unsigned long long>(drain->held()));
  }

  launcher.close();
  if (!engine.shutdown(std::chrono::seconds(10))) die("engine did not shut down");
  log::shutdown();
  drain.reset();
  std::error_code ec;
  fs::remove_all(tmp, ec);
  return 0;
}

}  // namespace
}  // namespace selium::bench

int main(int argc, char** argv) {
  return selium::bench::run(selium::bench::parseOptions(argc, argv));
}
