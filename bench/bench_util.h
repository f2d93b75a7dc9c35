// Helpers shared by the benchmarks: reading guests, recording process exits with their time,
// order statistics, Markdown table output, running a child program for its output.
// Header-only; benchmarks only.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <numeric>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/engine.h"
#include "util/log.h"

namespace selium::bench {

using Clock = std::chrono::steady_clock;

inline double nanosBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::nano>(to - from).count();
}

// Prints `message` and ends the benchmark: a benchmark that cannot run has no figures to show.
[[noreturn]] inline void die(const std::string& message) {
  std::fprintf(stderr, "bench: %s\n", message.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

// The bytes of a guest from the build's modules dir.
inline std::vector<uint8_t> readGuest(std::string_view name) {
  std::filesystem::path path = std::filesystem::path(SELIUM_GUEST_DIR) / name;
  std::ifstream in(path, std::ios::binary);
  if (!in) die("cannot read " + path.string() + " (build the guests first)");
  return {std::istreambuf_iterator<char>(in), {}};
}

// Warnings and errors only, on stderr: stdout carries nothing but the tables. Records whose
// message contains `expected` (a warning the benchmark provokes on purpose) are counted into
// `*expected_count` instead of printed.
inline void quietLog(std::string_view expected = {},
                     std::atomic<uint64_t>* expected_count = nullptr) {
  log::configure(log::Format::Text, log::Filter(log::Level::Warn),
                 [expected = std::string(expected), expected_count](std::string_view line) {
                   if (!expected.empty() && line.find(expected) != std::string_view::npos) {
                     if (expected_count != nullptr) ++*expected_count;
                     return;
                   }
                   std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
                 });
}

// Receives every exit on the worker threads and stamps it at once, so a measurement ends when
// the engine reports the exit, not when the benchmark thread gets round to waking up.
class ExitRecorder {
 public:
  // Engine on_exit callback (worker thread).
  void record(const engine::ProcessExit& exit) {
    Clock::time_point now = Clock::now();
    std::lock_guard lock(mutex_);
    if (exit.reason != engine::ExitReason::Normal &&
        !(exit.reason == engine::ExitReason::Terminated && stoppable_.count(exit.pid) > 0)) {
      die("process " + std::to_string(exit.pid) + " (" + exit.module + ") ended " +
          std::string(engine::exitReasonName(exit.reason)) + ": " + exit.message);
    }
    if (track_each_) pending_[exit.pid] = now;
    ++ended_;
    last_ = now;
    // In rate runs only the last exit wakes the waiter: waking it on every exit would have it
    // compete with the workers for the CPUs it is measuring.
    if (track_each_ || ended_ >= wanted_) changed_.notify_all();
  }

  // Whether record() keeps each exit's time for wait() (off for rate runs: only the count and
  // the last exit's time matter there).
  void trackEach(bool on) {
    std::lock_guard lock(mutex_);
    track_each_ = on;
    pending_.clear();
  }

  // A process the benchmark leaves running (a service): its termination by a stop or the
  // engine's shutdown is not a failure.
  void mayBeTerminated(kernel::ProcessId pid) {
    std::lock_guard lock(mutex_);
    stoppable_.insert(pid);
  }

  // When `pid` ended; dies if it does not end within `bound`.
  Clock::time_point wait(kernel::ProcessId pid,
                         std::chrono::seconds bound = std::chrono::seconds(300)) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, bound, [&] { return pending_.count(pid) > 0; })) {
      die("process " + std::to_string(pid) + " did not end within the bound");
    }
    Clock::time_point at = pending_[pid];
    pending_.erase(pid);
    return at;
  }

  // When the exit that brought the total to `count` was reported; dies after `bound`.
  Clock::time_point waitEnded(uint64_t count,
                              std::chrono::seconds bound = std::chrono::seconds(300)) {
    std::unique_lock lock(mutex_);
    wanted_ = count;
    if (!changed_.wait_for(lock, bound, [&] { return ended_ >= count; })) {
      die("only " + std::to_string(ended_) + " of " + std::to_string(count) +
          " processes ended within the bound");
    }
    return last_;
  }

  uint64_t ended() {
    std::lock_guard lock(mutex_);
    return ended_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool track_each_ = true;
  std::unordered_map<kernel::ProcessId, Clock::time_point> pending_;
  std::unordered_set<kernel::ProcessId> stoppable_;
  uint64_t ended_ = 0;
  uint64_t wanted_ = 0;  // the count waitEnded() waits for
  Clock::time_point last_{};
};

// Spawns `entry` of `module` with integer arguments (i32 each); dies if the engine refuses.
inline kernel::ProcessId spawnOrDie(engine::Engine& engine,
                                    const std::shared_ptr<const engine::Module>& module,
                                    const std::string& entry, std::vector<int32_t> args = {}) {
  engine::SpawnRequest request;
  request.module = module;
  request.entrypoint = entry;
  // Assigned in place: GCC 12 flags a false maybe-uninitialized when moving the variant in.
  request.args.resize(args.size());
  for (std::size_t i = 0; i < args.size(); ++i) {
    request.args[i].kind = kernel::ParamKind::I32;
    request.args[i].value = int64_t{args[i]};
  }
  auto spawned = engine.spawn(std::move(request));
  if (!spawned) die("spawn " + entry + ": " + spawned.error().message);
  return spawned->pid;
}

// What a child program printed on stdout, and how it ended.
struct ChildOutput {
  int status = 0;  // as waitpid reports it
  std::string out;
  bool exitedZero() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

// Runs `argv` (argv[0] looked up on PATH) with stdout on a pipe and stderr inherited; returns
// once it has exited. Dies if it cannot be started.
inline ChildOutput runChild(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) die("pipe: " + std::string(std::strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ChildOutput result;
  pid_t pid = -1;
  int error = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (error != 0) {
    ::close(fds[0]);
    die("cannot start " + argv[0] + ": " + std::strerror(error));
  }
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.out.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  while (::waitpid(pid, &result.status, 0) < 0 && errno == EINTR) {
  }
  return result;
}

// Nearest-rank percentile (p in [0, 100]) of a non-empty sample.
inline double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  std::size_t rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size()) + 0.5);
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  return v[rank - 1];
}

// The median (mean of the middle two for an even count) of a non-empty sample.
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

inline double mean(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// printf into a std::string.
template <typename... A>
std::string format(const char* fmt, A... args) {
  int n = std::snprintf(nullptr, 0, fmt, args...);
  std::string out(static_cast<std::size_t>(n), '\0');
  std::snprintf(out.data(), out.size() + 1, fmt, args...);
  return out;
}

// A Markdown table, columns padded so it also reads well as plain text.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }

  void print() const {
    std::vector<std::size_t> width(rows_[0].size(), 3);
    for (const auto& r : rows_) {
      for (std::size_t i = 0; i < r.size() && i < width.size(); ++i) {
        width[i] = std::max(width[i], r[i].size());
      }
    }
    auto line = [&](const std::vector<std::string>& r) {
      std::string out = "|";
      for (std::size_t i = 0; i < width.size(); ++i) {
        std::string cell = i < r.size() ? r[i] : "";
        out += " " + cell + std::string(width[i] - cell.size(), ' ') + " |";
      }
      std::puts(out.c_str());
    };
    line(rows_[0]);
    std::string rule = "|";
    for (std::size_t w : width) rule += std::string(w + 2, '-') + "|";
    std::puts(rule.c_str());
    for (std::size_t i = 1; i < rows_.size(); ++i) line(rows_[i]);
    std::fflush(stdout);
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace selium::bench
