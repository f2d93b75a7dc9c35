// Channels between real guests (tests/guests/channels) in an in-process engine with two workers:
// readers and writers on one worker and across workers, batches, weak readers, Drop, drain,
// sharing, singletons and hostile use. Handle and resource counts return to their baseline.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "support/engine_fixture.h"

namespace selium::engine {
namespace {

using kernel::Capability;
using kernel::EntrypointArg;
using namespace std::chrono_literals;

class ChannelsTest : public EngineFixture {
 protected:
  void SetUp() override {
    startEngine();
    module_ = loadGuest("channels.wasm");
    ASSERT_TRUE(module_);
  }

  SpawnRequest request(std::string entry, std::vector<EntrypointArg> args,
                       bool singletons = false) {
    SpawnRequest r;
    r.module = module_;
    r.entrypoint = std::move(entry);
    r.args = std::move(args);
    r.capabilities.add(Capability::ChannelLifecycle);
    r.capabilities.add(Capability::ChannelReader);
    r.capabilities.add(Capability::ChannelWriter);
    if (singletons) {
      r.capabilities.add(Capability::SingletonRegistry);
      r.capabilities.add(Capability::SingletonLookup);
    }
    return r;
  }

  // Runs to its exit; expects status 0 and returns the record `message` it logged.
  kernel::GuestLogRecord runFor(SpawnRequest r, const std::string& message,
                                std::chrono::milliseconds timeout = 60s) {
    kernel::ProcessId pid = spawnOk(*engine_, std::move(r));
    auto exit = recorder_.waitExit(pid, timeout);
    EXPECT_TRUE(exit.has_value()) << "process did not end";
    if (exit) {
      EXPECT_EQ(exit->reason, ExitReason::Normal) << exit->message << dump(pid);
      EXPECT_EQ(exit->status, 0) << dump(pid);
    }
    return recordOf(pid, message);
  }

  // Starts `writers` processes that each write `frames` frames into `channel`.
  std::vector<kernel::ProcessId> produce(int64_t channel, uint32_t writers, uint32_t frames) {
    std::vector<kernel::ProcessId> pids;
    for (uint32_t w = 0; w < writers; ++w) {
      pids.push_back(spawnOk(*engine_, request("produce", {i64(channel), u32(w), u32(frames)})));
    }
    return pids;
  }

  // Waits for `pid` to end; a fatal failure unless it does, a failure unless with status 0.
  void expectEndsWithZero(kernel::ProcessId pid, std::chrono::milliseconds timeout) {
    auto exit = recorder_.waitExit(pid, timeout);
    ASSERT_TRUE(exit.has_value());
    EXPECT_EQ(exit->status, 0) << dump(pid);
  }

  kernel::GuestLogRecord recordOf(kernel::ProcessId pid, const std::string& message) {
    return engine::recordOf(recorder_, pid, message);
  }

  std::shared_ptr<const Module> module_;
};

TEST_F(ChannelsTest, OneProcessPipesFramesInOrder) {
  auto done = runFor(request("pipe", {u32(20000), u32(4096)}), "pipe done");
  EXPECT_EQ(uintField(done, "frames"), 20000u);
}

TEST_F(ChannelsTest, BatchesCarryManyFramesPerCall) {
  auto done = runFor(request("batch", {u32(50000), u32(64 * 1024)}), "batch done");
  EXPECT_EQ(uintField(done, "frames"), 50000u);
  // Far fewer reads than frames: each read takes every frame that is there.
  EXPECT_LT(uintField(done, "calls"), 50000u / 10);
}

// Eight writer processes (placed on both workers) into one strong reader: nothing lost,
// duplicated or reordered per writer.
TEST_F(ChannelsTest, ManyWritersOnBothWorkersIntoOneReader) {
  constexpr uint32_t kWriters = 8;
  constexpr uint32_t kFrames = 20000;
  kernel::ProcessId consumer =
      spawnOk(*engine_, request("consume", {u32(8192), u32(kWriters), u32(kFrames)}));
  ASSERT_TRUE(recorder_.waitLogCount(consumer, "ready", 1));
  auto channel = static_cast<int64_t>(uintField(recordOf(consumer, "ready"), "channel"));
  EXPECT_GT(channel, 0);
  for (kernel::ProcessId pid : produce(channel, kWriters, kFrames)) {
    ASSERT_NO_FATAL_FAILURE(expectEndsWithZero(pid, 60s));
  }
  ASSERT_NO_FATAL_FAILURE(expectEndsWithZero(consumer, 60s));
  EXPECT_EQ(uintField(recordOf(consumer, "consumed"), "frames"), uint64_t{kWriters} * kFrames);
}

// Two strong readers in two processes see the same frames in the same order.
TEST_F(ChannelsTest, EveryReaderSeesTheSameOrder) {
  constexpr uint32_t kWriters = 4;
  constexpr uint32_t kFrames = 10000;
  kernel::ProcessId first =
      spawnOk(*engine_, request("consume", {u32(4096), u32(kWriters), u32(kFrames)}));
  ASSERT_TRUE(recorder_.waitLogCount(first, "ready", 1));
  auto channel = static_cast<int64_t>(uintField(recordOf(first, "ready"), "channel"));
  kernel::ProcessId second =
      spawnOk(*engine_, request("watch", {i64(channel), u32(kWriters), u32(kFrames)}));
  ASSERT_TRUE(recorder_.waitLogCount(second, "watching", 1));
  produce(channel, kWriters, kFrames);
  ASSERT_TRUE(recorder_.waitExit(first, 60s).has_value());
  ASSERT_TRUE(recorder_.waitExit(second, 60s).has_value());
  EXPECT_EQ(uintField(recordOf(first, "consumed"), "order"),
            uintField(recordOf(second, "consumed"), "order"));
}

// The stress case: eight writer processes of a million frames each into two strong readers in
// two more processes, all spread over both workers. Nothing is lost, duplicated or reordered
// (each reader checks every writer's sequence) and both readers see the same order. Under the
// sanitizers, which run guests several times slower, a tenth of the frames.
TEST_F(ChannelsTest, EightWritersOfAMillionFramesIntoTwoStrongReaders) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  constexpr uint32_t kFrames = 100'000;
#else
  constexpr uint32_t kFrames = 1'000'000;
#endif
  constexpr uint32_t kWriters = 8;
  kernel::ProcessId first =
      spawnOk(*engine_, request("consume", {u32(64 * 1024), u32(kWriters), u32(kFrames)}));
  ASSERT_TRUE(recorder_.waitLogCount(first, "ready", 1));
  auto channel = static_cast<int64_t>(uintField(recordOf(first, "ready"), "channel"));
  kernel::ProcessId second =
      spawnOk(*engine_, request("watch", {i64(channel), u32(kWriters), u32(kFrames)}));
  ASSERT_TRUE(recorder_.waitLogCount(second, "watching", 1));
  for (kernel::ProcessId pid : produce(channel, kWriters, kFrames)) {
    ASSERT_NO_FATAL_FAILURE(expectEndsWithZero(pid, 300s));
  }
  for (kernel::ProcessId pid : {first, second}) {
    ASSERT_NO_FATAL_FAILURE(expectEndsWithZero(pid, 300s));
    EXPECT_EQ(uintField(recordOf(pid, "consumed"), "frames"), uint64_t{kWriters} * kFrames);
  }
  EXPECT_EQ(uintField(recordOf(first, "consumed"), "order"),
            uintField(recordOf(second, "consumed"), "order"));
}

TEST_F(ChannelsTest, WeakReaderLearnsExactlyHowManyFramesItLost) {
  // 1024 bytes hold 64 frames of 8 bytes (16 bytes of ring each); 100 written: 36 lost.
  auto lagged = runFor(request("weak", {u32(1024), u32(100)}), "lagged");
  EXPECT_EQ(uintField(lagged, "lost"), 36u);
  EXPECT_EQ(uintField(lagged, "first"), 36u);
}

TEST_F(ChannelsTest, DropChannelDiscardsWhatDoesNotFitAndSaysSo) {
  auto dropped = runFor(request("drop", {u32(1024), u32(100)}), "dropped");
  EXPECT_EQ(uintField(dropped, "written"), 64u);
  EXPECT_EQ(uintField(dropped, "dropped"), 36u);
}

TEST_F(ChannelsTest, DrainLetsReadersFinishThenEndsTheStream) {
  auto drained = runFor(request("drain", {u32(50)}), "drained");
  EXPECT_EQ(uintField(drained, "frames"), 50u);
  EXPECT_EQ(textField(drained, "end"), "EndOfStream");
  EXPECT_EQ(textField(drained, "write_after_drain"), "Closed");
}

TEST_F(ChannelsTest, ASecondTaskReadingOneReaderGetsAnErrorNotACrash) {
  auto result = runFor(request("two_readers", {}), "two readers");
  EXPECT_EQ(textField(result, "first"), "frame");
  EXPECT_EQ(textField(result, "second"), "InvalidArgument");
}

TEST_F(ChannelsTest, SingletonIsFoundByNameAndGoesWithItsRegistrant) {
  kernel::ProcessId owner =
      spawnOk(*engine_, request("singleton_register", {utf8("test.inbox")}, true));
  ASSERT_TRUE(recorder_.waitLogCount(owner, "registered", 1));
  runFor(request("singleton_send", {utf8("test.inbox"), utf8("hello")}, true), "sent");
  auto exit = recorder_.waitExit(owner, 20s);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(textField(recordOf(owner, "got"), "frame"), "hello");
  // The registrant has ended: the name is free and lookups fail.
  kernel::ProcessId late =
      spawnOk(*engine_, request("singleton_send", {utf8("test.inbox"), utf8("late")}, true));
  auto late_exit = recorder_.waitExit(late, 20s);
  ASSERT_TRUE(late_exit.has_value());
  EXPECT_EQ(late_exit->status, 3);
  EXPECT_EQ(textField(recordOf(late, "lookup failed"), "error"), "NotFound");
}

TEST_F(ChannelsTest, HostileUseIsRefusedAndDestroysNothing) {
  auto r = runFor(request("hostile", {}), "hostile");
  EXPECT_EQ(textField(r, "read_writer"), "InvalidHandle");
  EXPECT_EQ(textField(r, "write_reader"), "InvalidHandle");
  EXPECT_EQ(textField(r, "delete_reader"), "InvalidHandle");
  EXPECT_EQ(textField(r, "attach_guess"), "NotFound");
  EXPECT_EQ(textField(r, "attach_zero"), "NotFound");
  EXPECT_EQ(textField(r, "attach_wrong_kind"), "InvalidHandle");
  EXPECT_EQ(textField(r, "bad_capacity"), "InvalidArgument");
  EXPECT_EQ(textField(r, "bad_backpressure"), "InvalidArgument");
  EXPECT_EQ(textField(r, "bad_strength"), "InvalidArgument");
  EXPECT_EQ(textField(r, "out_of_bounds"), "OutOfBounds");
  EXPECT_EQ(textField(r, "still_works"), "yes");
}

TEST_F(ChannelsTest, WithoutCapabilitiesEveryChannelCallIsDenied) {
  SpawnRequest r = request("pipe", {u32(10), u32(1024)});
  r.capabilities = {};
  kernel::ProcessId pid = spawnOk(*engine_, std::move(r));
  auto exit = recorder_.waitExit(pid, 20s);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->status, 1);
  EXPECT_EQ(textField(recordOf(pid, "create failed"), "error"), "PermissionDenied");
}

}  // namespace
}  // namespace selium::engine
