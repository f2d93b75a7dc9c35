// An engine for benchmarks whose guests report through log records: loads guests from the
// build's modules dir, spawns them with arguments and capabilities, keeps the records the
// benchmark waits for, every exit (stamped on the worker) and the worker thread of every
// process (to check placement). Header-only; benchmarks only.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "bench_util.h"

namespace selium::bench {

class GuestHarness {
 public:
  // `workers` workers, V8 code cached in `cache`; records whose message is in `kept` are kept
  // for waitRecord(). Guest warnings and errors go to stderr.
  GuestHarness(std::size_t workers, const std::filesystem::path& cache, std::set<std::string> kept)
      : kept_(std::move(kept)) {
    engine::EngineOptions options;
    options.workers = workers;
    options.compile_cache_dir = cache;
    options.on_exit = [this](const engine::ProcessExit& e) { exits.record(e); };
    options.on_start = [this](kernel::Process& p) {
      std::lock_guard lock(mutex_);
      threads_[p.id()] = std::this_thread::get_id();
    };
    options.log_sink = [this](const kernel::Process& p, const kernel::GuestLogRecord& r) {
      if (r.level >= log::Level::Warn) {
        std::fprintf(stderr, "guest %llu: %s\n", static_cast<unsigned long long>(p.id()),
                     r.message.c_str());
      }
      if (kept_.count(r.message) == 0) return;
      std::lock_guard lock(mutex_);
      records_[{p.id(), r.message}] = r;
      changed_.notify_all();
    };
    engine_ = std::make_unique<engine::Engine>(std::move(options));
  }
  ~GuestHarness() {
    if (!engine_->shutdown(std::chrono::seconds(10))) die("engine did not shut down");
  }
  GuestHarness(const GuestHarness&) = delete;
  GuestHarness& operator=(const GuestHarness&) = delete;

  // A guest of the build's modules dir, compiled.
  std::shared_ptr<const engine::Module> load(const char* name) {
    auto loaded = engine_->load(readGuest(name), name);
    if (!loaded) die(loaded.error().message);
    ++loaded_;
    return *loaded;
  }

  // Waits until V8 has tiered every loaded module up to TurboFan (the compile cache entry is
  // written then), unless the code came from the cache already.
  void awaitTurbofan() {
    Clock::time_point deadline = Clock::now() + std::chrono::minutes(5);
    for (;;) {
      engine::EngineStats s = engine_->stats();
      if (s.cache_hits + s.cache_writes + s.cache_write_failures >= loaded_) return;
      if (Clock::now() > deadline) die("TurboFan tier-up did not finish within 5 minutes");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  kernel::ProcessId spawn(const std::shared_ptr<const engine::Module>& module,
                          const std::string& entry, std::vector<kernel::EntrypointArg> args,
                          std::initializer_list<kernel::Capability> caps) {
    engine::SpawnRequest request;
    request.module = module;
    request.entrypoint = entry;
    request.args = std::move(args);
    for (kernel::Capability c : caps) request.capabilities.add(c);
    auto spawned = engine_->spawn(std::move(request));
    if (!spawned) die("spawn " + entry + ": " + spawned.error().message);
    return spawned->pid;
  }

  // The record `message` of `pid` (taken: a later one with that message waits anew); dies if it
  // does not come within a minute.
  kernel::GuestLogRecord waitRecord(kernel::ProcessId pid, const std::string& message) {
    std::unique_lock lock(mutex_);
    auto key = std::make_pair(pid, message);
    if (!changed_.wait_for(lock, std::chrono::minutes(1),
                           [&] { return records_.count(key) > 0; })) {
      die("process " + std::to_string(pid) + " never logged \"" + message + "\"");
    }
    kernel::GuestLogRecord r = records_[key];
    records_.erase(key);
    return r;
  }

  std::thread::id threadOf(kernel::ProcessId pid) {
    std::lock_guard lock(mutex_);
    return threads_.at(pid);
  }

  engine::Engine& engine() { return *engine_; }

  ExitRecorder exits;

 private:
  std::set<std::string> kept_;
  std::unique_ptr<engine::Engine> engine_;
  uint64_t loaded_ = 0;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::pair<kernel::ProcessId, std::string>, kernel::GuestLogRecord> records_;
  std::map<kernel::ProcessId, std::thread::id> threads_;
};

// The integer field `key` of a record; dies if it has none.
inline uint64_t uintField(const kernel::GuestLogRecord& r, std::string_view key) {
  for (const log::Field& f : r.fields) {
    if (f.key != key) continue;
    if (const auto* u = std::get_if<uint64_t>(&f.value)) return *u;
    if (const auto* i = std::get_if<int64_t>(&f.value)) return static_cast<uint64_t>(*i);
  }
  die("record \"" + r.message + "\" has no integer field " + std::string(key));
}

inline kernel::EntrypointArg u32Arg(uint64_t v) {
  return {kernel::ParamKind::U32, kernel::ArgValue{v}};
}
inline kernel::EntrypointArg resourceArg(uint64_t shared_id) {
  return {kernel::ParamKind::Resource, kernel::ArgValue{shared_id}};
}
inline kernel::EntrypointArg utf8Arg(std::string v) {
  return {kernel::ParamKind::Utf8, kernel::ArgValue{std::move(v)}};
}

}  // namespace selium::bench
