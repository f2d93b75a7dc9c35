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
#include <type_traits>
#include <utility>
#include <variant>
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

// An integer field's value (a test failure and 0 if there is none).
inline uint64_t uintField(const kernel::GuestLogRecord& r, std::string_view key) {
  const log::FieldValue* v = field(r, key);
  if (v == nullptr) {
    ADD_FAILURE() << "no field " << key << " in \"" << r.message << "\"";
    return 0;
  }
  if (auto* u = std::get_if<uint64_t>(v)) return *u;
  if (auto* i = std::get_if<int64_t>(v)) return static_cast<uint64_t>(*i);
  ADD_FAILURE() << "field " << key << " is not an integer";
  return 0;
}
inline int64_t intField(const kernel::GuestLogRecord& r, std::string_view key) {
  return static_cast<int64_t>(uintField(r, key));
}
// A text field's value (a test failure and "" if there is none).
inline std::string textField(const kernel::GuestLogRecord& r, std::string_view key) {
  const log::FieldValue* v = field(r, key);
  if (v == nullptr || !std::holds_alternative<std::string>(*v)) {
    ADD_FAILURE() << "no text field " << key << " in \"" << r.message << "\"";
    return {};
  }
  return std::get<std::string>(*v);
}

// Every record of `pid`, one per line with its fields, for failure messages.
inline std::string dumpLogs(Recorder& recorder, kernel::ProcessId pid) {
  std::string out;
  for (const auto& r : recorder.logsOf(pid)) {
    out += "\n  " + r.message;
    for (const auto& f : r.fields) {
      out += " " + f.key + "=";
      std::visit(
          [&](const auto& v) {
            if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::string>) {
              out += v;
            } else {
              out += std::to_string(v);
            }
          },
          f.value);
    }
  }
  return out;
}

// The first record of `pid` whose message is `message` (a test failure and {} if none).
inline kernel::GuestLogRecord recordOf(Recorder& recorder, kernel::ProcessId pid,
                                       const std::string& message) {
  for (const auto& r : recorder.logsOf(pid)) {
    if (r.message == message) return r;
  }
  ADD_FAILURE() << "no record \"" << message << "\" from " << pid << dumpLogs(recorder, pid);
  return {};
}

}  // namespace selium::engine
