// EngineFixture: a GoogleTest fixture for integration tests that run real guests in an in-process
// engine. Its guest records and exits go to `recorder_`; when the test ends the engine is shut
// down and every kernel resource the test made must be gone. Also typed entrypoint arguments.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "kernel/entry_args.h"
#include "kernel/handle_table.h"
#include "support/engine_recorder.h"
#include "util/certs.h"

namespace selium::engine {

inline kernel::EntrypointArg u32(uint32_t v) {
  return {kernel::ParamKind::U32, kernel::ArgValue{uint64_t{v}}};
}
inline kernel::EntrypointArg u64(uint64_t v) {
  return {kernel::ParamKind::U64, kernel::ArgValue{v}};
}
inline kernel::EntrypointArg i64(int64_t v) {
  return {kernel::ParamKind::I64, kernel::ArgValue{v}};
}
inline kernel::EntrypointArg utf8(std::string v) {
  return {kernel::ParamKind::Utf8, kernel::ArgValue{std::move(v)}};
}

class EngineFixture : public ::testing::Test {
 protected:
  // The baseline is taken before anything of the test (a launcher, the engine) exists.
  EngineFixture() : baseline_resources_(kernel::Resource::liveCount()) {}

  // Shuts the engine down, then expects the resource count back at its baseline. A subclass
  // that owns more (a launcher) closes it, calls stopEngine(), frees it, then calls this.
  void TearDown() override {
    stopEngine();
    EXPECT_EQ(kernel::Resource::liveCount(), baseline_resources_);
  }

  // Starts engine_ with `options` (two workers unless they say otherwise); its log sink and exit
  // hook are set to feed recorder_.
  void startEngine(EngineOptions options = {}) {
    if (options.workers == 0) options.workers = 2;
    options.log_sink = [this](const kernel::Process& p, const kernel::GuestLogRecord& r) {
      recorder_.record(p, r);
    };
    options.on_exit = [this](const ProcessExit& e) { recorder_.exited(e); };
    engine_ = std::make_unique<Engine>(std::move(options));
  }

  // Options whose network's default certificates are a fresh CA with server and client
  // certificates written to `dir` (util::generateCerts; link selium_certs). A test failure if
  // they cannot be written.
  static EngineOptions optionsWithCerts(const std::filesystem::path& dir) {
    util::CertOptions certs;
    certs.output_dir = dir;
    auto written = util::generateCerts(certs);
    EXPECT_TRUE(written.ok()) << written.error().message;
    EngineOptions options;
    options.network.certs_dir = dir;
    return options;
  }

  // Shuts the engine down (10 s) and frees it; nothing if it is not running.
  void stopEngine() {
    if (!engine_) return;
    engine_->shutdown(std::chrono::seconds(10));
    engine_.reset();
  }

  // Loads the guest `file` built into SELIUM_GUEST_DIR under `label` (default: the file name);
  // null and a test failure if the engine refuses it.
  std::shared_ptr<const Module> loadGuest(const std::string& file, std::string label = {}) {
    auto module = engine_->load(readModule(file), label.empty() ? file : std::move(label));
    if (!module.ok()) {
      ADD_FAILURE() << "cannot load " << file << ": " << module.error().message;
      return nullptr;
    }
    return *module;
  }

  // A request to start `module` at `entry` with `args` and exactly `caps`.
  static SpawnRequest request(std::shared_ptr<const Module> module, std::string entry,
                              std::vector<kernel::EntrypointArg> args,
                              const std::vector<kernel::Capability>& caps) {
    SpawnRequest r;
    r.module = std::move(module);
    r.entrypoint = std::move(entry);
    r.args = std::move(args);
    for (kernel::Capability c : caps) r.capabilities.add(c);
    return r;
  }

  // Waits (up to `timeout`) for `pid` to end with `status`, a test failure otherwise; returns the
  // record `message` it logged.
  kernel::GuestLogRecord exitRecord(kernel::ProcessId pid, const std::string& message,
                                    int32_t status = 0,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    auto exit = recorder_.waitExit(pid, timeout);
    EXPECT_TRUE(exit.has_value()) << "process did not end" << dump(pid);
    if (exit) {
      EXPECT_EQ(exit->status, status) << exit->message << dump(pid);
    }
    return recordOf(recorder_, pid, message);
  }

  // Every record of `pid`, for failure messages.
  std::string dump(kernel::ProcessId pid) { return dumpLogs(recorder_, pid); }

  Recorder recorder_;
  std::unique_ptr<Engine> engine_;
  const std::size_t baseline_resources_;  // kernel resources alive before the test
};

}  // namespace selium::engine
