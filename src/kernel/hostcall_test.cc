// Hostcall dispatch without an engine: a real Process, a real event loop, a byte vector as the
// guest's memory.
#include "kernel/hostcall.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <selium/abi/hostcalls.h>
#include <selium/abi/wasi.h>
#include <cctype>

#include <boost/asio/io_context.hpp>
#include <cstring>

#include "kernel/drivers/log/log_driver.h"
#include "selium/schemas/log_generated.h"

namespace selium::kernel {
namespace {

using ::testing::HasSubstr;

class RecordingHost : public ProcessHost {
 public:
  void wake(ProcessId pid, int32_t waker) override { wakes.emplace_back(pid, waker); }
  bool wakeYield(ProcessId pid, int32_t waker) override {
    if (refuse_yields) return false;
    yields.emplace_back(pid, waker);
    return true;
  }
  std::vector<std::pair<ProcessId, int32_t>> wakes;
  std::vector<std::pair<ProcessId, int32_t>> yields;
  bool refuse_yields = false;
};

class HostcallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::string> lines;
    log::configure(log::Format::Text, log::Filter{},
                   [this](std::string_view line) { runtime_log.emplace_back(line); });
  }
  void TearDown() override {
    log::configure(log::Format::Text, log::Filter{}, [](std::string_view) {});
  }

  std::unique_ptr<Process> makeProcess(std::initializer_list<Capability> caps,
                                       std::optional<std::string> log_uri = std::nullopt) {
    ProcessConfig config;
    config.id = 42;
    config.module = "test.wasm";
    for (Capability c : caps) config.capabilities.add(c);
    config.log_uri = std::move(log_uri);
    return std::make_unique<Process>(
        std::move(config), loop, host,
        [this](const Process&, const GuestLogRecord& r) { records.push_back(r); });
  }

  int64_t call(Process& process, std::string_view name, std::vector<WasmValue> args,
               std::string_view module = SELIUM_IMPORT_MODULE) {
    const HostcallSpec* spec = findHostcall(module, name);
    EXPECT_NE(spec, nullptr) << name;
    EXPECT_EQ(spec->params.size(), args.size()) << name;
    CallContext ctx{process, memory};
    return dispatchHostcall(*spec, ctx, args.data());
  }

  static WasmValue i32(int32_t v) {
    WasmValue w;
    w.i32 = v;
    return w;
  }
  static WasmValue i64(int64_t v) {
    WasmValue w;
    w.i64 = v;
    return w;
  }

  // Writes bytes into guest memory at `address`.
  void put(uint32_t address, std::span<const uint8_t> bytes) {
    std::memcpy(memory.data() + address, bytes.data(), bytes.size());
  }

  boost::asio::io_context loop;
  RecordingHost host;
  std::vector<uint8_t> memory = std::vector<uint8_t>(65536);
  std::vector<GuestLogRecord> records;
  std::vector<std::string> runtime_log;
};

TEST_F(HostcallTest, TableMatchesAbiHeaderOrderAndCapabilities) {
  std::vector<std::pair<std::string_view, uint32_t>> expected = {
#define SELIUM_EXPECTED_(name, cap, ret, decl) {#name, cap},
      SELIUM_HOSTCALLS(SELIUM_EXPECTED_)
#undef SELIUM_EXPECTED_
  };
  auto table = hostcallTable(SELIUM_IMPORT_MODULE);
  ASSERT_EQ(table.size(), expected.size());
  for (std::size_t i = 0; i < table.size(); ++i) {
    EXPECT_EQ(table[i].index, i);
    EXPECT_EQ(table[i].name, expected[i].first);
    EXPECT_EQ(table[i].capability, expected[i].second) << table[i].name;
    EXPECT_EQ(findHostcall(SELIUM_IMPORT_MODULE, table[i].name), &table[i]);
  }
  EXPECT_EQ(findHostcall(SELIUM_IMPORT_MODULE, "no_such_call"), nullptr);
  const HostcallSpec* now = findHostcall(SELIUM_IMPORT_MODULE, "time_now");
  ASSERT_NE(now, nullptr);
  EXPECT_EQ(now->capability, static_cast<uint32_t>(Capability::TimeRead));
  EXPECT_EQ(now->result, WasmType::I64);
  ASSERT_EQ(now->params.size(), 1u);
  EXPECT_EQ(now->params[0], WasmType::I32);
}

TEST_F(HostcallTest, EveryGatedHostcallIsDeniedWithoutItsCapabilityAndLoggedOnce) {
  auto process = makeProcess({});
  for (const HostcallSpec& spec : hostcallTable(SELIUM_IMPORT_MODULE)) {
    if (spec.capability == SELIUM_CAP_NONE) continue;
    std::vector<WasmValue> args(spec.params.size(), i64(0));
    for (int attempt = 0; attempt < 3; ++attempt) {
      EXPECT_EQ(call(*process, spec.name, args), -SELIUM_ERR_PermissionDenied) << spec.name;
    }
    EXPECT_THAT(process->lastError(),
                HasSubstr(std::string(spec.name) + " needs capability " +
                          std::string(capabilityName(static_cast<Capability>(spec.capability)))));
    int logged = 0;
    for (const auto& line : runtime_log) {
      // Whole names only: "hostcall=channel_read" must not count channel_read_batch's lines.
      std::string key = "hostcall=" + std::string(spec.name);
      std::size_t at = line.find(key);
      if (at == std::string::npos) continue;
      std::size_t end = at + key.size();
      if (end == line.size() ||
          !(std::isalnum(static_cast<unsigned char>(line[end])) || line[end] == '_')) {
        ++logged;
      }
    }
    EXPECT_EQ(logged, 1) << spec.name;
  }
  EXPECT_EQ(process->handles().size(), 0u);  // nothing was created behind the denial
}

TEST_F(HostcallTest, DenialWarningSaysWhichCapabilityToGrantAndHow) {
  auto process = makeProcess({Capability::ChannelLifecycle});
  EXPECT_EQ(call(*process, "time_now", {i32(SELIUM_CLOCK_MONOTONIC)}),
            -SELIUM_ERR_PermissionDenied);
  EXPECT_EQ(call(*process, "clock_time_get", {i32(1), i64(1), i32(0)}, SELIUM_WASI_IMPORT_MODULE),
            SELIUM_WASI_ERRNO_NOTCAPABLE);
  ASSERT_EQ(runtime_log.size(), 2u);
  EXPECT_THAT(runtime_log[0],
              ::testing::MatchesRegex(
                  "[0-9T:.-]+Z  WARN selium\\.runtime: hostcall denied: time_now needs capability "
                  "TimeRead; grant it in the module's spec with capabilities=TimeRead "
                  "\\(comma-separated with any others\\) pid=42 module=test\\.wasm "
                  "hostcall=time_now import_module=selium capability=TimeRead"));
  EXPECT_THAT(runtime_log[1],
              ::testing::MatchesRegex(
                  "[0-9T:.-]+Z  WARN selium\\.runtime: hostcall denied: clock_time_get needs "
                  "capability TimeRead; grant it in the module's spec with capabilities=TimeRead "
                  "\\(comma-separated with any others\\) pid=42 module=test\\.wasm "
                  "hostcall=clock_time_get import_module=wasi_snapshot_preview1 "
                  "capability=TimeRead"));
}

TEST_F(HostcallTest, GrantedCapabilityLetsTheCallThrough) {
  auto process = makeProcess({Capability::TimeRead});
  int64_t before = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count();
  int64_t mono = call(*process, "time_now", {i32(SELIUM_CLOCK_MONOTONIC)});
  EXPECT_GE(mono, before);
  int64_t wall = call(*process, "time_now", {i32(SELIUM_CLOCK_WALL)});
  EXPECT_GT(wall, int64_t{1'700'000'000} * 1'000'000'000);  // after 2023
  EXPECT_EQ(call(*process, "time_now", {i32(7)}), -SELIUM_ERR_InvalidArgument);
  EXPECT_THAT(process->lastError(), HasSubstr("unknown clock 7"));
}

TEST_F(HostcallTest, OutOfBoundsAndWrappingRangesAreRejected) {
  auto process = makeProcess({});
  uint32_t size = static_cast<uint32_t>(memory.size());
  EXPECT_EQ(call(*process, "log_write", {i32(size - 2), i32(100)}), -SELIUM_ERR_OutOfBounds);
  EXPECT_THAT(process->lastError(), HasSubstr("outside the process's memory of 65536 bytes"));
  EXPECT_EQ(call(*process, "log_write", {i32(int32_t(0xFFFFFFF0)), i32(0x20)}),
            -SELIUM_ERR_OutOfBounds);
  EXPECT_EQ(call(*process, "last_error", {i32(-1), i32(10)}), -SELIUM_ERR_OutOfBounds);
  EXPECT_EQ(call(*process, "log_write", {i32(size), i32(0)}), -SELIUM_ERR_InvalidArgument);
  EXPECT_TRUE(records.empty());
}

TEST_F(HostcallTest, LogWriteVerifiesAndEmitsRecords) {
  auto process = makeProcess({});
  flatbuffers::FlatBufferBuilder fb;
  std::vector<flatbuffers::Offset<abi::LogField>> fields = {
      abi::CreateLogField(fb, fb.CreateString("name"), abi::FieldKind::Str, fb.CreateString("é")),
      abi::CreateLogField(fb, fb.CreateString("n"), abi::FieldKind::Int, 0, -5),
      abi::CreateLogField(fb, fb.CreateString("u"), abi::FieldKind::Uint, 0, 0, UINT64_MAX),
      abi::CreateLogField(fb, fb.CreateString("ok"), abi::FieldKind::Bool, 0, 0, 0, 0, true),
  };
  fb.Finish(abi::CreateLogRecord(fb, abi::LogLevel::Warn, fb.CreateString("echo"),
                                 fb.CreateString("hello"), fb.CreateVector(fields)));
  put(64, {fb.GetBufferPointer(), fb.GetSize()});
  EXPECT_EQ(call(*process, "log_write", {i32(64), i32(int32_t(fb.GetSize()))}), 0);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].level, log::Level::Warn);
  EXPECT_EQ(records[0].target, "echo");
  EXPECT_EQ(records[0].message, "hello");
  ASSERT_EQ(records[0].fields.size(), 4u);
  EXPECT_EQ(std::get<std::string>(records[0].fields[0].value), "é");
  EXPECT_EQ(std::get<int64_t>(records[0].fields[1].value), -5);
  EXPECT_EQ(std::get<uint64_t>(records[0].fields[2].value), UINT64_MAX);
  EXPECT_EQ(std::get<bool>(records[0].fields[3].value), true);

  // Garbage and truncated buffers are refused, never read past their end.
  std::vector<uint8_t> garbage(16, 0xAB);
  put(1024, garbage);
  EXPECT_EQ(call(*process, "log_write", {i32(1024), i32(16)}), -SELIUM_ERR_InvalidArgument);
  EXPECT_THAT(process->lastError(), HasSubstr("not a valid selium.abi.LogRecord"));
  EXPECT_EQ(call(*process, "log_write", {i32(64), i32(int32_t(fb.GetSize() / 2))}),
            -SELIUM_ERR_InvalidArgument);
  EXPECT_EQ(records.size(), 1u);
}

// log_enabled answers for the target the record would be printed under, so a guest skips
// building records that `--log-level selium.guest.<target>=...` would hide.
TEST_F(HostcallTest, LogEnabledFiltersByTheGuestsOwnTarget) {
  auto filter = log::Filter::parse("info,selium.guest.chatty=debug,selium.guest.quiet=error");
  ASSERT_TRUE(filter.ok());
  log::configure(log::Format::Text, *filter, [](std::string_view) {});
  auto process = makeProcess({});
  auto enabled = [&](int32_t level, std::string_view target) {
    put(200, {reinterpret_cast<const uint8_t*>(target.data()), target.size()});
    return call(*process, "log_enabled",
                {i32(level), i32(200), i32(static_cast<int32_t>(target.size()))});
  };
  EXPECT_EQ(enabled(SELIUM_LOG_DEBUG, "chatty"), 1);
  EXPECT_EQ(enabled(SELIUM_LOG_DEBUG, "chatty.sub"), 1);
  EXPECT_EQ(enabled(SELIUM_LOG_DEBUG, ""), 0);
  EXPECT_EQ(enabled(SELIUM_LOG_INFO, ""), 1);
  EXPECT_EQ(enabled(SELIUM_LOG_WARN, "quiet"), 0);
  EXPECT_EQ(enabled(SELIUM_LOG_ERROR, "quiet"), 1);
  EXPECT_EQ(guestPrintTarget(""), "selium.guest");
  EXPECT_EQ(guestPrintTarget("chatty"), "selium.guest.chatty");
}

TEST_F(HostcallTest, LastErrorCopiesAndReportsFullLength) {
  auto process = makeProcess({});
  EXPECT_EQ(call(*process, "last_error", {i32(0), i32(0)}), 0);
  call(*process, "handle_close", {i32(99)});
  std::string expected = "handle 99 is not open in this process";
  EXPECT_EQ(call(*process, "last_error", {i32(100), i32(5)}), int64_t(expected.size()));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(memory.data() + 100), 5), "handl");
  EXPECT_EQ(memory[105], 0);  // nothing written past cap
}

TEST_F(HostcallTest, LogUriIsCopiedOrNotFound) {
  auto without = makeProcess({});
  EXPECT_EQ(call(*without, "log_uri", {i32(0), i32(64)}), -SELIUM_ERR_NotFound);
  auto with = makeProcess({}, "sel://miner/logs");
  EXPECT_EQ(call(*with, "log_uri", {i32(10), i32(64)}), 16);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(memory.data() + 10), 16), "sel://miner/logs");
}

TEST_F(HostcallTest, TimerWakesItsWakerOnceExpired) {
  auto process = makeProcess({Capability::TimeRead});
  int32_t timer = static_cast<int32_t>(call(*process, "timer_create", {i64(1'000'000)}));
  ASSERT_GT(timer, 0);
  EXPECT_EQ(call(*process, "timer_poll", {i32(timer), i32(7)}), -SELIUM_ERR_WouldBlock);
  loop.run_for(std::chrono::seconds(5));  // returns once the timer has fired
  ASSERT_EQ(host.wakes.size(), 1u);
  EXPECT_EQ(host.wakes[0], (std::pair<ProcessId, int32_t>{42, 7}));
  EXPECT_EQ(call(*process, "timer_poll", {i32(timer), i32(8)}), 0);
  EXPECT_EQ(call(*process, "handle_close", {i32(timer)}), 0);
  EXPECT_EQ(call(*process, "timer_poll", {i32(timer), i32(8)}), -SELIUM_ERR_InvalidHandle);
  EXPECT_EQ(call(*process, "timer_create", {i64(-1)}), -SELIUM_ERR_InvalidArgument);
}

TEST_F(HostcallTest, ClosedTimerNeverWakes) {
  auto process = makeProcess({Capability::TimeRead});
  int32_t timer = static_cast<int32_t>(call(*process, "timer_create", {i64(1'000)}));
  EXPECT_EQ(call(*process, "timer_poll", {i32(timer), i32(3)}), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(call(*process, "handle_close", {i32(timer)}), 0);
  loop.run_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(host.wakes.empty());
}

TEST_F(HostcallTest, ProcessEndReleasesTimersWithoutWaking) {
  auto process = makeProcess({Capability::TimeRead});
  for (int i = 0; i < 10; ++i) {
    int32_t t = static_cast<int32_t>(call(*process, "timer_create", {i64(1'000)}));
    call(*process, "timer_poll", {i32(t), i32(i)});
  }
  EXPECT_EQ(process->handles().size(), 10u);
  process.reset();
  loop.run_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(host.wakes.empty());
}

TEST_F(HostcallTest, TimerPollRejectsHandleOfWrongKind) {
  struct Other final : Resource {
    HandleKind kind() const override { return HandleKind::Test; }
  };
  auto process = makeProcess({Capability::TimeRead});
  int32_t other = std::get<int32_t>(process->handles().insert(std::make_unique<Other>()));
  EXPECT_EQ(call(*process, "timer_poll", {i32(other), i32(1)}), -SELIUM_ERR_InvalidHandle);
  EXPECT_THAT(process->lastError(), HasSubstr("is not an open timer"));
}

TEST_F(HostcallTest, YieldAsksTheHostForAWakeAndBlocks) {
  auto process = makeProcess({});
  EXPECT_EQ(call(*process, "yield_now", {i32(5)}), -SELIUM_ERR_WouldBlock);
  ASSERT_EQ(host.yields.size(), 1u);
  EXPECT_EQ(host.yields[0], std::make_pair(ProcessId{42}, 5));
  EXPECT_TRUE(host.wakes.empty());  // a yield, which the host may refuse, not a driver's wake
}

TEST_F(HostcallTest, YieldRefusedByTheHostIsLimitExceeded) {
  auto process = makeProcess({});
  host.refuse_yields = true;
  EXPECT_EQ(call(*process, "yield_now", {i32(5)}), -SELIUM_ERR_LimitExceeded);
  EXPECT_THAT(process->lastError(), HasSubstr("4096 distinct wakers are already pending"));
}

TEST_F(HostcallTest, ExitRecordsStatusAndProcessIdIsReported) {
  auto process = makeProcess({});
  EXPECT_EQ(call(*process, "process_id", {}), 42);
  EXPECT_FALSE(process->exitRequested().has_value());
  EXPECT_EQ(call(*process, "process_exit", {i32(7)}), 0);
  EXPECT_EQ(process->exitRequested(), 7);
}

}  // namespace
}  // namespace selium::kernel
