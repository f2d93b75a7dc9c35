// Test support for integration tests that run real guests in an in-process engine: reading a
// built guest module, and a recorder of guest log records and exits with bounded waits.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "kernel/process.h"

namespace selium::engine {

// The bytes of a guest built into SELIUM_GUEST_DIR (the build's modules/ directory).
inline std::vector<uint8_t> readModule(const std::string& name) {
  std::ifstream in(std::filesystem::path(SELIUM_GUEST_DIR) / name, std::ios::binary);
  EXPECT_TRUE(in) << "missing guest " << name;
  return {std::istreambuf_iterator<char>(in), {}};
}

// Spawns, returning the pid (0, and a test failure, when the engine refuses).
inline kernel::ProcessId spawnOk(Engine& engine, SpawnRequest request) {
  auto spawned = engine.spawn(std::move(request));
  EXPECT_TRUE(spawned.ok()) << (spawned.ok() ? "" : spawned.error().message);
  return spawned.ok() ? spawned->pid : 0;
}

// Records everything the engine reports, with waits bounded by a deadline.
class Recorder {
 public:
  void record(const kernel::Process& process, const kernel::GuestLogRecord& r) {
    std::lock_guard lock(mutex_);
    logs_.push_back({process.id(), r});
    changed_.notify_all();
  }
  void exited(const ProcessExit& exit) {
    std::lock_guard lock(mutex_);
    exits_[exit.pid] = exit;
    changed_.notify_all();
  }
  std::optional<ProcessExit> waitExit(
      kernel::ProcessId pid, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return exits_.count(pid) > 0; });
    if (!exits_.count(pid)) return std::nullopt;
    return exits_[pid];
  }
  bool waitLog(kernel::ProcessId pid,
               std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
      return std::any_of(logs_.begin(), logs_.end(), [&](const auto& l) { return l.first == pid; });
    });
  }
  // Waits until `pid` has logged at least `n` records whose message is `message`.
  bool waitLogCount(kernel::ProcessId pid, std::string_view message, std::size_t n,
                    std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
      std::size_t count = 0;
      for (const auto& [p, r] : logs_) count += p == pid && r.message == message;
      return count >= n;
    });
  }
  bool waitExitCount(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return exits_.size() >= n; });
  }
  std::vector<kernel::GuestLogRecord> logsOf(kernel::ProcessId pid) {
    std::lock_guard lock(mutex_);
    std::vector<kernel::GuestLogRecord> out;
    for (const auto& [p, r] : logs_) {
      if (p == pid) out.push_back(r);
    }
    return out;
  }
  std::map<kernel::ProcessId, ProcessExit> exits() {
    std::lock_guard lock(mutex_);
    return exits_;
  }
  // Forgets everything recorded so far (a long test keeps its memory flat).
  void clear() {
    std::lock_guard lock(mutex_);
    logs_.clear();
    exits_.clear();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::pair<kernel::ProcessId, kernel::GuestLogRecord>> logs_;
  std::map<kernel::ProcessId, ProcessExit> exits_;
};

inline const log::FieldValue* field(const kernel::GuestLogRecord& r, std::string_view key) {
  for (const auto& f : r.fields) {
    if (f.key == key) return &f.value;
  }
  return nullptr;
}

}  // namespace selium::engine
