// Hostile guests that try to make the runtime hold memory or time on their behalf beyond their
// own limits: wake storms, timer churn, CPU-slice accounting, null buffers. Real guests in an
// in-process engine.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "engine/engine.h"
#include "support/engine_recorder.h"
#include "support/memory_usage.h"

namespace selium::engine {
namespace {

using kernel::Capability;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

class Containment : public ::testing::Test {
 protected:
  void SetUp() override {
    log::configure(log::Format::Text, log::Filter{}, [](std::string_view) {});
  }
  void TearDown() override {
    if (engine_) engine_->shutdown(10s);
    engine_.reset();
  }

  // An engine whose guest records go to `sink` (default: the recorder).
  void start(EngineOptions options = {}, kernel::LogSink sink = nullptr) {
    if (options.workers == 0) options.workers = 2;
    options.log_sink =
        sink ? std::move(sink) : [this](const kernel::Process& p, const kernel::GuestLogRecord& r) {
          recorder_.record(p, r);
        };
    options.on_exit = [this](const ProcessExit& e) { recorder_.exited(e); };
    engine_ = std::make_unique<Engine>(std::move(options));
  }

  SpawnRequest request(const std::string& name, std::string entry,
                       std::initializer_list<Capability> caps = {}) {
    SpawnRequest r;
    auto module = engine_->load(readModule(name), name);
    EXPECT_TRUE(module.ok()) << (module.ok() ? "" : module.error().message);
    if (module.ok()) r.module = *module;
    r.entrypoint = std::move(entry);
    for (Capability c : caps) r.capabilities.add(c);
    return r;
  }

  kernel::ProcessId spawnOk(SpawnRequest r) { return engine::spawnOk(*engine_, std::move(r)); }

  ProcessExit runToExit(SpawnRequest r) {
    kernel::ProcessId pid = spawnOk(std::move(r));
    auto exit = recorder_.waitExit(pid, 60s);
    EXPECT_TRUE(exit.has_value()) << "process " << pid << " did not end";
    return exit.value_or(ProcessExit{});
  }

  Recorder recorder_;
  std::unique_ptr<Engine> engine_;
};

uint64_t residentKib() {
  testing::releaseFreedMemory();
  return testing::memoryUsage().vm_rss_kib;
}

// Before wakes were coalesced, each yield_now queued a poll of its own: 1000 polls of waker 7.
TEST_F(Containment, YieldsOfOneWakerArePolledOnce) {
  start();
  ProcessExit exit = runToExit(request("yield_storm.wasm", "coalesce"));
  EXPECT_EQ(exit.reason, ExitReason::Error) << exit.message;
  EXPECT_EQ(exit.status, 1) << "waker 7 was polled this many times";
}

TEST_F(Containment, YieldNowIsRefusedPastThePendingLimit) {
  start();
  ProcessExit exit = runToExit(request("yield_storm.wasm", "limit"));
  EXPECT_EQ(exit.status, static_cast<int32_t>(kernel::ProcessHost::kMaxPendingWakes))
      << exit.message;
}

// A guest that yields ten thousand times per poll, forever, runs in flat memory while every
// other process is still served; it was 4 GB in 26 s when each yield queued a handler.
TEST_F(Containment, AnEndlessYieldStormKeepsMemoryFlatAndOthersRun) {
  start();
  kernel::ProcessId storm = spawnOk(request("yield_storm.wasm", "storm"));
  ASSERT_TRUE(recorder_.waitLogCount(storm, "tick", 2, 60s));  // 200 polls: warmed up
  uint64_t before = residentKib();
  for (int i = 0; i < 8; ++i) {
    ProcessExit other = runToExit(request("dev_null.wasm", "start"));
    EXPECT_EQ(other.reason, ExitReason::Normal) << other.message;
  }
  ASSERT_TRUE(recorder_.waitLogCount(storm, "tick", 22, 120s));  // 2000 more polls, 20 M yields
  uint64_t after = residentKib();
  EXPECT_LT(after, before + 64 * 1024) << "RSS grew from " << before << " to " << after << " KiB";
  EXPECT_TRUE(engine_->stop(storm));
  auto exit = recorder_.waitExit(storm, 20s);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->reason, ExitReason::Terminated);
}

// Closing a timer frees it at once: a million timers made and closed inside one call cost
// nothing by the end of that call (the host's memory is read from the log sink, which the guest
// calls before it returns). It was about 250 MB when each closed timer's cancelled wait stayed
// queued until the guest returned.
TEST_F(Containment, ClosedTimersAreFreedWithinTheCall) {
  std::atomic<uint64_t> during{0};
  start({}, [&](const kernel::Process&, const kernel::GuestLogRecord& r) {
    if (r.message == "measure") during = residentKib();
  });
  SpawnRequest churn = request("timer_churn.wasm", "churn", {Capability::TimeRead});
  uint64_t before = residentKib();
  ProcessExit exit = runToExit(std::move(churn));
  EXPECT_EQ(exit.reason, ExitReason::Normal) << exit.message;
  ASSERT_GT(during.load(), 0u) << "the guest never wrote \"measure\"";
  EXPECT_LT(during.load(), before + 64 * 1024)
      << "RSS grew from " << before << " to " << during.load() << " KiB within the call";
}

// --max-slice charges the guest's CPU time only: ten records into a sink taking 50 ms each
// keep the call in the host for 500 ms, five slices of wall time, but the guest computed for
// next to none of it.
TEST_F(Containment, TimeBlockedInTheHostIsNotChargedToTheSlice) {
  EngineOptions options;
  options.max_slice = 100ms;
  std::atomic<int> records{0};
  start(options, [&](const kernel::Process&, const kernel::GuestLogRecord&) {
    std::this_thread::sleep_for(50ms);  // a slow log sink, not a wait for something to happen
    ++records;
  });
  ProcessExit exit = runToExit(request("stdout_burst.wasm", "start"));
  EXPECT_EQ(exit.reason, ExitReason::Normal) << exit.message;
  EXPECT_EQ(records.load(), 10);
  // A guest that computes is still held to its slice.
  ProcessExit spinner = runToExit(request("traps.wasm", "loop_forever"));
  EXPECT_EQ(spinner.reason, ExitReason::Terminated);
  EXPECT_THAT(spinner.message, HasSubstr("ms of CPU time without yielding, over the CPU slice of "
                                         "100 ms (--max-slice)"));
}

// A module without memory gets the message's length from last_error(0, 0); the host copies
// nothing (UBSan aborted the runtime on the null memcpy).
TEST_F(Containment, LastErrorIntoNoMemoryReturnsTheLength) {
  start();
  ProcessExit exit = runToExit(request("last_error_no_memory.wasm", "start"));
  EXPECT_EQ(exit.reason, ExitReason::Error) << exit.message;
  EXPECT_EQ(exit.status, static_cast<int32_t>(
                             std::string_view("handle 12345 is not open in this process").size()));
}

// Tables are capped like memories: growth stops at the process's table budget with -1 in the
// guest (V8's own cap, 10 M elements per table, let 32 tables reach 2.5 GB and abort the runtime).
TEST_F(Containment, TableGrowthStopsAtTheBudget) {
  EngineOptions options;
  options.max_table_elements = 3'000'000;
  start(options);
  SpawnRequest one = request("tables.wasm", "grow");
  one.args = {{kernel::ParamKind::U32, uint64_t{1'000'000}}};
  ProcessExit exit = runToExit(std::move(one));
  EXPECT_EQ(exit.status, 3'000'000) << exit.message;
  // 32 growable tables of one element share the budget evenly: each may hold
  // 1 + (3,000,000 - 32) / 32 = 93,750, so 1,000 at a time it grows to 93,001.
  SpawnRequest many = request("tables32.wasm", "grow");
  many.args = {{kernel::ParamKind::U32, uint64_t{1'000}}};
  exit = runToExit(std::move(many));
  EXPECT_EQ(exit.status, 32 * 93'001) << exit.message;
}

TEST_F(Containment, ModulesOverTheTableLimitsDoNotLoad) {
  EngineOptions options;
  options.max_table_elements = 16;
  start(options);
  auto too_many = engine_->load(readModule("too_many_tables.wasm"), "too_many_tables.wasm");
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.error().message,
            "too_many_tables.wasm: declares 101 tables; at most 100 are allowed");
  auto too_big = engine_->load(readModule("tables32.wasm"), "tables32.wasm");
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.error().message,
            "tables32.wasm: declares tables of 32 elements in all, over the limit of 16; raise "
            "--max-table-elements or the spec's max_table_elements");
  // A spec's own limit overrides the default.
  EXPECT_TRUE(engine_->load(readModule("tables32.wasm"), "tables32.wasm", {}, 32).ok());
}

// A guest whose tables fill its worker's V8 heap is terminated, and the worker serves on: V8 used
// to abort the whole runtime ("Fatal javascript OOM in Reached heap limit").
TEST_F(Containment, AGuestThatExhaustsTheHeapIsTerminatedAndTheWorkerServesOn) {
  EngineOptions options;
  options.workers = 1;
  options.max_heap_bytes = 64u << 20;
  options.max_table_elements = 100'000'000;
  start(options);
  for (int round = 0; round < 2; ++round) {  // the limit is back for the second
    ProcessExit hog = runToExit(request("tables.wasm", "hog"));
    EXPECT_EQ(hog.reason, ExitReason::Terminated) << hog.message;
    EXPECT_THAT(hog.message, HasSubstr("exhausted its worker's V8 heap"));
    ProcessExit other = runToExit(request("dev_null.wasm", "start"));
    EXPECT_EQ(other.reason, ExitReason::Normal) << other.message;
  }
}

}  // namespace
}  // namespace selium::engine
