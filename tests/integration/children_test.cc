// Child processes between real guests (tests/guests/children) in an in-process engine with two
// workers and the runtime's launcher: the capability rule for every capability, handles given to
// children, stop, exit reasons and statuses, log streams, hostile start requests, and release of
// everything a process held however it ends.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <selium/abi/capabilities.h>
#include <selium/abi/hostcalls.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "runtime/launcher.h"
#include "support/engine_fixture.h"
#include "support/temp_dir.h"

namespace selium::engine {
namespace {

using kernel::Capability;
using kernel::EntrypointArg;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

class ChildrenTest : public EngineFixture {
 protected:
  void SetUp() override {
    // A modules/ of its own: children.wasm, and a symlink that leads out of it.
    std::filesystem::create_directory(work_.path() / "modules");
    std::filesystem::copy_file(std::filesystem::path(SELIUM_GUEST_DIR) / "children.wasm",
                               work_.path() / "modules" / "children.wasm");
    std::filesystem::create_symlink(std::filesystem::path(SELIUM_GUEST_DIR) / "children.wasm",
                                    work_.path() / "modules" / "escape.wasm");
    launcher_ = std::make_unique<runtime::ChildLauncher>(
        runtime::ChildLauncher::Options{std::filesystem::canonical(work_.path() / "modules")});
    EngineOptions options;
    options.launcher = launcher_.get();
    startEngine(std::move(options));
    launcher_->setEngine(engine_.get());
    module_ = loadGuest("children.wasm");
    ASSERT_TRUE(module_);
  }
  void TearDown() override {
    launcher_->close();
    stopEngine();
    launcher_.reset();
    EngineFixture::TearDown();
  }

  SpawnRequest request(std::string entry, std::vector<EntrypointArg> args = {},
                       std::vector<Capability> extra = {}) {
    SpawnRequest r;
    r.module = module_;
    r.entrypoint = std::move(entry);
    r.args = std::move(args);
    r.capabilities.add(Capability::ProcessLifecycle);
    for (Capability c : extra) r.capabilities.add(c);
    return r;
  }
  static std::vector<Capability> channelCaps() {
    return {Capability::ChannelLifecycle, Capability::ChannelReader, Capability::ChannelWriter};
  }

  // Runs to its exit; expects `status` and returns the record `message` it logged.
  kernel::GuestLogRecord runFor(SpawnRequest r, const std::string& message, int32_t status = 0) {
    return exitRecord(spawnOk(*engine_, std::move(r)), message, status);
  }

  // The process that logged `message` (0 and a test failure if none did).
  kernel::ProcessId whoLogged(const std::string& message) {
    for (const auto& [pid, exit] : recorder_.exits()) {
      for (const auto& r : recorder_.logsOf(pid)) {
        if (r.message == message) return pid;
      }
    }
    ADD_FAILURE() << "no process logged \"" << message << "\"";
    return 0;
  }

  selium::testing::TempDir work_{"children"};
  std::unique_ptr<runtime::ChildLauncher> launcher_;
  std::shared_ptr<const Module> module_;
};

// A parent holding only ProcessLifecycle can grant that and nothing else; holding a capability,
// it can grant it.
TEST_F(ChildrenTest, AParentGrantsOnlyCapabilitiesItHolds) {
  for (uint32_t cap = 0; cap < SELIUM_CAPABILITY_COUNT; ++cap) {
    SCOPED_TRACE("capability " + std::to_string(cap));
    auto c = static_cast<Capability>(cap);
    bool held = c == Capability::ProcessLifecycle;
    kernel::ProcessId pid = spawnOk(*engine_, request("grant", {u32(cap)}));
    auto exit = recorder_.waitExit(pid, 60s);
    ASSERT_TRUE(exit.has_value());
    EXPECT_EQ(exit->status, held ? 0 : 10) << dump(pid);
    if (!held) {
      auto denied = recordOf(recorder_, pid, "denied");
      EXPECT_THAT(textField(denied, "message"), HasSubstr(std::string(kernel::capabilityName(c))));
      // With the capability the same start succeeds.
      kernel::ProcessId granted = spawnOk(*engine_, request("grant", {u32(cap)}, {c}));
      auto granted_exit = recorder_.waitExit(granted, 60s);
      ASSERT_TRUE(granted_exit.has_value());
      EXPECT_EQ(granted_exit->status, 0) << dump(granted);
    }
  }
}

// The child reads, through its own handle, the reader its parent gave it, while the parent
// writes (on either worker).
TEST_F(ChildrenTest, AChildGetsItsOwnHandleToAReaderItsParentGave) {
  auto exited = runFor(request("pass_reader", {u32(2000)}, channelCaps()), "child exited");
  EXPECT_EQ(intField(exited, "reason"), SELIUM_EXIT_NORMAL);
  EXPECT_EQ(intField(exited, "status"), 0);
  auto summed = recordOf(recorder_, whoLogged("summed"), "summed");
  EXPECT_EQ(uintField(summed, "sum"), 2000u * 2001u / 2);
  EXPECT_GT(uintField(summed, "handle"), 0u);
}

TEST_F(ChildrenTest, EveryArgumentKindReachesTheChild) {
  kernel::ProcessId pid = spawnOk(*engine_, request("typed"));
  auto exit = recorder_.waitExit(pid, 60s);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->status, 0) << dump(pid);
  auto typed = recordOf(recorder_, whoLogged("typed"), "typed");
  EXPECT_EQ(intField(typed, "a"), -5);
  EXPECT_EQ(uintField(typed, "b"), 200u);
  EXPECT_EQ(intField(typed, "c"), -300);
  EXPECT_EQ(uintField(typed, "d"), 60000u);
  const log::FieldValue* e = field(typed, "e");
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(std::holds_alternative<double>(*e));
  EXPECT_EQ(std::get<double>(*e), 1.5);
  EXPECT_EQ(textField(typed, "f"), "beef");
}

TEST_F(ChildrenTest, StoppingAChildEndsItAsTerminated) {
  auto stopped = runFor(request("stopper"), "stopped");
  EXPECT_EQ(intField(stopped, "reason"), SELIUM_EXIT_TERMINATED);
  EXPECT_EQ(textField(stopped, "message"), "stopped");
}

TEST_F(ChildrenTest, ATrapReachesTheParentWithItsMessage) {
  auto trapped = runFor(request("trapper"), "trapped");
  EXPECT_EQ(intField(trapped, "reason"), SELIUM_EXIT_TRAP);
  EXPECT_THAT(textField(trapped, "message"), HasSubstr("unreachable"));
}

TEST_F(ChildrenTest, ExitStatusesReachTheParent) {
  auto error = runFor(request("exit_code", {u32(42)}), "exit");
  EXPECT_EQ(intField(error, "reason"), SELIUM_EXIT_ERROR);
  EXPECT_EQ(intField(error, "status"), 42);
  auto normal = runFor(request("exit_code", {u32(0)}), "exit");
  EXPECT_EQ(intField(normal, "reason"), SELIUM_EXIT_NORMAL);
  EXPECT_EQ(intField(normal, "status"), 0);
}

TEST_F(ChildrenTest, AModuleThatCannotBeStartedFailsWithAClearMessage) {
  auto missing = runFor(request("missing", {utf8("nope.wasm")}), "missing");
  EXPECT_EQ(intField(missing, "reason"), SELIUM_EXIT_FAILED);
  EXPECT_EQ(textField(missing, "message"), "module file not found: modules/nope.wasm");
  // A module, but outside modules/ once the symlink is followed.
  auto outside = runFor(request("missing", {utf8("escape.wasm")}), "missing");
  EXPECT_EQ(intField(outside, "reason"), SELIUM_EXIT_FAILED);
  EXPECT_EQ(textField(outside, "message"), "modules/escape.wasm resolves outside modules/");
  // A path that climbs out is refused by process_start itself.
  auto climbing = runFor(request("missing", {utf8("../modules/children.wasm")}), "child failed", 1);
  EXPECT_EQ(textField(climbing, "error"), "InvalidArgument");
  EXPECT_THAT(textField(climbing, "message"), HasSubstr("must not contain \"..\" segments"));
  // Not a module.
  auto directory = runFor(request("missing", {utf8(".")}), "missing");
  EXPECT_EQ(intField(directory, "reason"), SELIUM_EXIT_FAILED);
  EXPECT_THAT(textField(directory, "message"), HasSubstr("not a regular file"));
}

TEST_F(ChildrenTest, AParentFollowsAChildsLogStreamToItsEnd) {
  auto followed = runFor(request("follow", {u32(50)}, channelCaps()), "followed");
  EXPECT_EQ(uintField(followed, "received"), 50u);
  EXPECT_EQ(uintField(followed, "lost"), 0u);
  EXPECT_EQ(uintField(followed, "bad"), 0u);
  EXPECT_EQ(uintField(followed, "last"), 49u);
  EXPECT_EQ(textField(followed, "end"), "EndOfStream");
}

// A child that logs far more than the 256 KiB stream holds never waits for its follower; the
// follower learns exactly how many records it lost.
TEST_F(ChildrenTest, AFollowerThatFallsBehindCountsExactlyWhatItLost) {
  constexpr uint32_t kRecords = 30000;
  auto followed = runFor(request("follow", {u32(kRecords)}, channelCaps()), "followed");
  EXPECT_EQ(uintField(followed, "received") + uintField(followed, "lost"), kRecords);
  EXPECT_EQ(uintField(followed, "bad"), 0u);
  EXPECT_EQ(uintField(followed, "last"), kRecords - 1);
  EXPECT_EQ(textField(followed, "end"), "EndOfStream");
}

TEST_F(ChildrenTest, HostileStartRequestsAreErrorsNotCrashes) {
  auto garbage = runFor(request("raw_start", {u32(0)}), "raw");
  EXPECT_EQ(intField(garbage, "result"), -SELIUM_ERR_InvalidArgument);
  EXPECT_THAT(textField(garbage, "message"), HasSubstr("start request"));
  auto huge = runFor(request("raw_start", {u32(1)}), "raw");
  EXPECT_EQ(intField(huge, "result"), -SELIUM_ERR_TooLarge);
  EXPECT_THAT(textField(huge, "message"),
              HasSubstr(std::to_string(SELIUM_START_REQUEST_MAX_BYTES)));
  auto outside = runFor(request("raw_start", {u32(2)}), "raw");
  EXPECT_EQ(intField(outside, "result"), -SELIUM_ERR_OutOfBounds);
  auto empty = runFor(request("raw_start", {u32(3)}), "raw");
  EXPECT_EQ(intField(empty, "result"), -SELIUM_ERR_InvalidArgument);
  EXPECT_EQ(engine_->liveProcesses(), 0u);  // nothing was started by any of them
}

TEST_F(ChildrenTest, ATimerCannotBeGivenToAChild) {
  auto given = runFor(request("give_timer", {}, {Capability::TimeRead}), "give timer");
  EXPECT_EQ(textField(given, "result"), "InvalidArgument");
  EXPECT_THAT(textField(given, "message"), HasSubstr("timer"));
}

// A process that exits holding a timer, a channel (shared and registered as a singleton), a
// reader, a writer and a process handle releases every one; its child runs on until stopped.
TEST_F(ChildrenTest, ExitingWhileHoldingEveryKindOfHandleReleasesThem) {
  std::vector<Capability> caps = channelCaps();
  caps.push_back(Capability::TimeRead);
  caps.push_back(Capability::SingletonRegistry);
  kernel::ProcessId pid = spawnOk(*engine_, request("hold_everything", {}, caps));
  auto exit = recorder_.waitExit(pid, 60s);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->reason, ExitReason::Error);
  EXPECT_EQ(exit->status, 7) << dump(pid);
  auto child =
      static_cast<kernel::ProcessId>(intField(recordOf(recorder_, pid, "holding"), "child"));
  ASSERT_GT(child, 0u);
  EXPECT_EQ(engine_->registry().singletonCount(), 0u);
  EXPECT_EQ(engine_->registry().sharedCount(), 0u);
  EXPECT_TRUE(engine_->isRunning(child));
  ASSERT_TRUE(engine_->stop(child));
  auto child_exit = recorder_.waitExit(child, 60s);
  ASSERT_TRUE(child_exit.has_value());
  EXPECT_EQ(child_exit->reason, ExitReason::Terminated);
  EXPECT_EQ(kernel::Resource::liveCount(), baseline_resources_);
}

// A process hands out its lifetime; whoever attaches it learns the pid it names and, once the
// process ends, that it ended.
TEST_F(ChildrenTest, ALifetimeTellsWhenItsProcessEnds) {
  auto watched = runFor(request("lifetime_watch", {}, channelCaps()), "lifetime");
  EXPECT_GT(intField(watched, "child"), 0);
  EXPECT_EQ(intField(watched, "named"), intField(watched, "child"));
  EXPECT_EQ(intField(watched, "ended"), intField(watched, "child"));
}

TEST_F(ChildrenTest, AParentListsAndAttachesItsChildren) {
  auto listed = runFor(request("list_children", {u32(3)}), "listed");
  EXPECT_EQ(uintField(listed, "count"), 3u);  // its children only: not itself, not others
  EXPECT_EQ(uintField(listed, "found"), 3u);
  EXPECT_TRUE(std::get<bool>(*field(listed, "parent_ok")));
  EXPECT_EQ(textField(listed, "path"), "children.wasm");
  EXPECT_EQ(intField(listed, "stopped_reason"), SELIUM_EXIT_TERMINATED);
}

// Only a descendant can be attached, unless the caller holds SessionLifecycle.
TEST_F(ChildrenTest, AttachingAProcessItDidNotStartNeedsSessionLifecycle) {
  kernel::ProcessId other = spawnOk(*engine_, request("spin"));
  auto denied = runFor(request("attach_pid", {u64(other)}), "attach");
  EXPECT_EQ(textField(denied, "result"), "PermissionDenied");
  EXPECT_THAT(textField(denied, "message"), HasSubstr("SessionLifecycle"));
  auto allowed =
      runFor(request("attach_pid", {u64(other)}, {Capability::SessionLifecycle}), "attach");
  EXPECT_EQ(textField(allowed, "result"), "ok");
  auto missing =
      runFor(request("attach_pid", {u64(999999)}, {Capability::SessionLifecycle}), "attach");
  EXPECT_EQ(textField(missing, "result"), "NotFound");
  ASSERT_TRUE(engine_->stop(other));
  ASSERT_TRUE(recorder_.waitExit(other, 60s).has_value());
  // The directory forgets processes that ended.
  EXPECT_EQ(engine_->directory().size(), 0u);
}

// Every attempt to widen a session is refused; narrowing a session narrows those made from it.
TEST_F(ChildrenTest, SessionsOnlyNarrow) {
  kernel::ProcessId pid = spawnOk(
      *engine_, request("sessions", {}, {Capability::SessionLifecycle, Capability::ChannelReader}));
  auto exit = recorder_.waitExit(pid, 60s);
  ASSERT_TRUE(exit.has_value());
  std::map<std::string, std::pair<std::string, std::string>> steps;
  for (const auto& r : recorder_.logsOf(pid)) {
    if (r.message == "step")
      steps[textField(r, "name")] = {textField(r, "result"), textField(r, "message")};
  }
  EXPECT_EQ(exit->status, 0) << dump(pid);
  EXPECT_GE(steps.size(), 30u);
  EXPECT_EQ(steps["root widens"].first, "PermissionDenied");
  EXPECT_THAT(steps["root widens"].second, HasSubstr("ChannelWriter"));
  EXPECT_THAT(steps["child resource outside the set"].second,
              HasSubstr("ChannelReader on resource 4"));
  EXPECT_THAT(steps["start granting a set capability"].second,
              HasSubstr("not entitled to grant ChannelReader"));
  EXPECT_EQ(steps["attach the started"].first, "ok");
  EXPECT_EQ(steps["attach an outsider"].first, "PermissionDenied");
  EXPECT_EQ(steps["child attach after the parent's revoke"].first, "PermissionDenied");
  EXPECT_EQ(steps["share a session"].first, "Unsupported");
}

}  // namespace
}  // namespace selium::engine
