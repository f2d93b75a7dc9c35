// The child-process hostcalls through the real dispatch path, on a LoopHost with a fake Launcher
// (the runtime's side, tested on its own): what process_start hands the launcher, the
// capability subset rule, resource arguments, malformed requests, waiting for and stopping a
// child, and a child's log stream as a reader of LogRecord frames.
#include "kernel/drivers/process/child_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <selium/abi/errors.h>
#include <selium/abi/hostcalls.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernel/channel.h"
#include "kernel/launcher.h"
#include "kernel/registry.h"
#include "kernel/testing/guest.h"
#include "kernel/testing/loop_host.h"
#include "selium/schemas/log_generated.h"
#include "selium/schemas/process_generated.h"

namespace selium::kernel {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using testing::Guest;
using ::testing::HasSubstr;
using testing::i32;
using testing::i64;
using ::testing::IsEmpty;
using testing::kIn;
using testing::kMemory;
using testing::kOut;
using testing::u32;
using ::testing::UnorderedElementsAre;
using Polled = std::pair<ProcessId, int32_t>;
namespace fb = ::selium::abi;

// Records what process_start hands over; children "run" as processes of the test's host.
class FakeLauncher final : public Launcher {
 public:
  struct Launch {
    ProcessId parent = 0;
    StartRequest request;
    std::vector<std::shared_ptr<Shareable>> resources;
    std::shared_ptr<ChildState> state;
  };

  void launch(ProcessId parent, StartRequest request,
              std::vector<std::shared_ptr<Shareable>> resources,
              std::shared_ptr<ChildState> state) override {
    launches.push_back({parent, std::move(request), std::move(resources), std::move(state)});
  }
  bool stop(ProcessId pid) override {
    stops.push_back(pid);
    return host->process(pid) != nullptr;
  }
  std::shared_ptr<Channel> logChannel(ProcessId pid) override {
    Process* process = host->process(pid);
    return process == nullptr ? nullptr : process->logStream()->channel();
  }

  testing::LoopHost* host = nullptr;
  std::deque<Launch> launches;
  std::vector<ProcessId> stops;
};

// One entrypoint argument of a request.
struct Arg {
  fb::ArgKind kind = fb::ArgKind::U32;
  int64_t int_value = 0;
  uint64_t uint_value = 0;
  std::string bytes;
  int32_t handle = 0;
};
Arg resourceArg(int32_t handle) { return {fb::ArgKind::Resource, 0, 0, "", handle}; }
Arg u32Arg(uint32_t value) { return {fb::ArgKind::U32, 0, value, "", 0}; }

// A StartRequest for `path` granting `caps` with `args`. The path is the first object built, so
// it ends the buffer: cutting any byte off the end breaks the request.
std::vector<uint8_t> request(const std::string& path, const std::vector<uint32_t>& caps = {},
                             const std::vector<Arg>& args = {}) {
  flatbuffers::FlatBufferBuilder b;
  auto p = b.CreateString(path);
  auto c = b.CreateVector(caps);
  std::vector<flatbuffers::Offset<fb::Arg>> offsets;
  for (const Arg& arg : args) {
    flatbuffers::Offset<flatbuffers::Vector<uint8_t>> bytes;
    if (!arg.bytes.empty()) {
      bytes = b.CreateVector(reinterpret_cast<const uint8_t*>(arg.bytes.data()), arg.bytes.size());
    }
    offsets.push_back(
        fb::CreateArg(b, arg.kind, arg.int_value, arg.uint_value, 0, 0, bytes, arg.handle));
  }
  auto a = b.CreateVector(offsets);
  b.Finish(fb::CreateStartRequest(b, p, 0, c, a));
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

uint32_t capId(Capability capability) { return static_cast<uint32_t>(capability); }

CapabilitySet parentCapabilities() {
  CapabilitySet caps;
  for (Capability c :
       {Capability::ProcessLifecycle, Capability::ChannelLifecycle, Capability::ChannelReader,
        Capability::ChannelWriter, Capability::TimeRead}) {
    caps.add(c);
  }
  return caps;
}

// A LogRecord frame, decoded (level, target, message, "key=value" fields); a frame that is not
// a valid record fails the test.
struct Record {
  fb::LogLevel level = fb::LogLevel::Info;
  std::string target;
  std::string message;
  std::vector<std::string> fields;
};
Record decodeFrame(const std::string& frame) {
  Record out;
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(frame.data()), frame.size());
  if (!fb::VerifyLogRecordBuffer(verifier)) {
    ADD_FAILURE() << "not a LogRecord frame (" << frame.size() << " bytes)";
    return out;
  }
  const fb::LogRecord* record = fb::GetLogRecord(frame.data());
  out.level = record->level();
  if (record->target() != nullptr) out.target = record->target()->str();
  if (record->message() != nullptr) out.message = record->message()->str();
  if (record->fields() != nullptr) {
    for (const fb::LogField* field : *record->fields()) {
      std::string value;
      switch (field->kind()) {
        case fb::FieldKind::Str:
          value = field->str() != nullptr ? field->str()->str() : "";
          break;
        case fb::FieldKind::Int:
          value = std::to_string(field->int_());
          break;
        case fb::FieldKind::Uint:
          value = std::to_string(field->uint());
          break;
        case fb::FieldKind::Float:
          value = std::to_string(field->float_());
          break;
        case fb::FieldKind::Bool:
          value = field->bool_() ? "true" : "false";
          break;
      }
      out.fields.push_back(field->key()->str() + "=" + value);
    }
  }
  return out;
}

GuestLogRecord logRecord(std::string message, log::Level level = log::Level::Info) {
  GuestLogRecord record;
  record.level = level;
  record.target = "child.target";
  record.message = std::move(message);
  return record;
}

class ChildDriverTest : public ::testing::Test {
 protected:
  ChildDriverTest() {
    launcher_.host = host_.get();
    host_->setLauncher(&launcher_);
  }

  void TearDown() override {
    guests_.clear();
    launcher_.launches.clear();  // what the launcher held of the parents' resources
    host_.reset();               // ends every process
    EXPECT_EQ(Resource::liveCount(), live_);
    EXPECT_EQ(registry_.sharedCount(), 0u);
    EXPECT_EQ(registry_.singletonCount(), 0u);
  }

  Guest& guest(CapabilitySet caps = parentCapabilities(), std::size_t memory = kMemory) {
    ProcessConfig config;
    config.capabilities = std::move(caps);
    return guests_.emplace_back(host_->makeProcess(std::move(config)), memory);
  }

  int32_t start(Guest& g, const std::vector<uint8_t>& bytes) {
    g.put(kIn, bytes);
    return g.call32("process_start", {u32(kIn), u32(static_cast<uint32_t>(bytes.size()))});
  }
  int64_t wait(Guest& g, int32_t process, int32_t waker) {
    return g.call("process_wait", {i32(process), i32(waker)});
  }
  int32_t stop(Guest& g, int32_t process) { return g.call32("process_stop", {i32(process)}); }
  int64_t pid(Guest& g, int32_t process) { return g.call("process_pid", {i32(process)}); }
  int32_t logOpen(Guest& g, int32_t process) {
    return g.call32("process_log_open", {i32(process)});
  }
  // process_exit_message into a buffer of `cap` bytes: the result, the bytes copied in *text.
  int32_t exitMessage(Guest& g, int32_t process, uint32_t cap, std::string* text = nullptr) {
    int32_t n = g.call32("process_exit_message", {i32(process), u32(kOut), u32(cap)});
    if (text != nullptr && n >= 0) {
      text->assign(reinterpret_cast<const char*>(g.memory().data() + kOut),
                   std::min<uint32_t>(static_cast<uint32_t>(n), cap));
    }
    return n;
  }

  // Runs a launched child as a process of the host, with the capabilities it was granted.
  Process& run(FakeLauncher::Launch& launch) {
    ProcessConfig config;
    config.capabilities = launch.request.capabilities;
    config.module = launch.request.module;
    Process& child = host_->makeProcess(std::move(config));
    EXPECT_TRUE(launch.state->started(child.id()));
    return child;
  }

  std::vector<Polled> polls() { return host_->takePolls(); }
  bool wokeWith(ProcessId pid, int32_t waker) { return host_->wokeWith(pid, waker); }

  std::size_t live_ = Resource::liveCount();
  Registry registry_;
  FakeLauncher launcher_;  // outlives the host's processes
  std::unique_ptr<testing::LoopHost> host_ = std::make_unique<testing::LoopHost>(&registry_);
  std::deque<Guest> guests_;
};

TEST_F(ChildDriverTest, StartHandsTheLauncherTheDecodedRequestAndReturnsAProcessHandle) {
  Guest& g = guest();
  flatbuffers::FlatBufferBuilder b;
  auto path = b.CreateString("dir/child.wasm");
  auto entry = b.CreateString("work");
  auto caps = b.CreateVector(std::vector<uint32_t>{SELIUM_CAP_TimeRead, SELIUM_CAP_ChannelReader});
  std::vector<uint8_t> text{'h', 'i'};
  std::vector<flatbuffers::Offset<fb::Arg>> args{
      fb::CreateArg(b, fb::ArgKind::U32, 0, 7),
      fb::CreateArg(b, fb::ArgKind::Utf8, 0, 0, 0, 0, b.CreateVector(text))};
  auto arg_vector = b.CreateVector(args);
  auto uri = b.CreateString("sel://logs");
  auto env = b.CreateVector(std::vector<flatbuffers::Offset<flatbuffers::String>>{
      b.CreateString("A=1"), b.CreateString("B=two")});
  b.Finish(fb::CreateStartRequest(b, path, entry, caps, arg_vector, uri, env));
  int32_t h = start(g, {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()});
  ASSERT_GT(h, 0) << g.lastError();
  EXPECT_EQ(g.kind(h), SELIUM_KIND_PROCESS);
  ASSERT_EQ(launcher_.launches.size(), 1u);
  FakeLauncher::Launch& launch = launcher_.launches[0];
  EXPECT_EQ(launch.parent, g.pid());
  EXPECT_EQ(launch.request.module, "dir/child.wasm");
  EXPECT_EQ(launch.request.entrypoint, "work");
  EXPECT_THAT(launch.request.capabilities.inOrder(),
              ElementsAre(Capability::TimeRead, Capability::ChannelReader));
  EXPECT_THAT(launch.request.args, ElementsAre(EntrypointArg{ParamKind::U32, uint64_t{7}},
                                               EntrypointArg{ParamKind::Utf8, std::string("hi")}));
  EXPECT_EQ(launch.request.log_uri, "sel://logs");
  EXPECT_THAT(launch.request.env, ElementsAre("A=1", "B=two"));
  EXPECT_THAT(launch.resources, IsEmpty());
  ASSERT_NE(launch.state, nullptr);
  EXPECT_FALSE(launch.state->pid().has_value());
  EXPECT_FALSE(launch.state->exit().has_value());
  // The handle names the state the launcher reports to.
  EXPECT_EQ(pid(g, h), -SELIUM_ERR_NotFound);
  EXPECT_TRUE(launch.state->started(77));
  EXPECT_EQ(pid(g, h), 77);
  // Each start is a new child with a new handle.
  int32_t h2 = start(g, request("child.wasm"));
  ASSERT_GT(h2, 0);
  EXPECT_NE(h2, h);
  ASSERT_EQ(launcher_.launches.size(), 2u);
  EXPECT_NE(launcher_.launches[1].state, launch.state);
  EXPECT_EQ(launcher_.launches[1].request.entrypoint, "start");
  EXPECT_EQ(pid(g, h2), -SELIUM_ERR_NotFound);
}

TEST_F(ChildDriverTest, WithoutALauncherProcessStartIsUnsupported) {
  host_->setLauncher(nullptr);
  Guest& g = guest();
  EXPECT_EQ(start(g, request("child.wasm")), -SELIUM_ERR_Unsupported);
  EXPECT_THAT(g.lastError(), HasSubstr("cannot start child processes"));
  EXPECT_EQ(g.process().handles().size(), 0u);
  EXPECT_THAT(launcher_.launches, IsEmpty());
}

TEST_F(ChildDriverTest, GrantingAnyCapabilityTheParentLacksIsPermissionDeniedAndLaunchesNothing) {
  for (Capability missing : allCapabilities()) {
    std::string name(capabilityName(missing));
    SCOPED_TRACE(name);
    CapabilitySet held;
    std::vector<uint32_t> held_ids;
    for (Capability c : allCapabilities()) {
      if (c == missing) continue;
      held.add(c);
      held_ids.push_back(capId(c));
    }
    Guest& g = guest(held);
    std::size_t live = Resource::liveCount();
    // Alone, and among capabilities the parent holds.
    std::vector<uint32_t> among = {held_ids.front(), capId(missing), held_ids.back()};
    for (const auto& caps : {std::vector<uint32_t>{capId(missing)}, among}) {
      std::vector<uint8_t> bytes = request("child.wasm", caps);
      if (missing == Capability::ProcessLifecycle) {
        // A parent without it cannot call process_start at all ...
        EXPECT_EQ(start(g, bytes), -SELIUM_ERR_PermissionDenied);
        EXPECT_THAT(g.lastError(), HasSubstr("process_start needs capability ProcessLifecycle"));
        // ... and the handler's own rule refuses the grant too.
        CallContext ctx{g.process(), g.memory()};
        EXPECT_EQ(hostcalls::process_start(ctx, GuestIn{bytes}), -SELIUM_ERR_PermissionDenied);
      } else {
        EXPECT_EQ(start(g, bytes), -SELIUM_ERR_PermissionDenied);
      }
      EXPECT_THAT(g.lastError(), AllOf(HasSubstr("capability " + name + " is not held"),
                                       HasSubstr("only capabilities it holds")));
    }
    EXPECT_THAT(launcher_.launches, IsEmpty());
    EXPECT_EQ(g.process().handles().size(), 0u);
    EXPECT_EQ(Resource::liveCount(), live);
    // Everything it does hold it may grant.
    if (missing != Capability::ProcessLifecycle) {
      ASSERT_GT(start(g, request("child.wasm", held_ids)), 0) << g.lastError();
      ASSERT_EQ(launcher_.launches.size(), 1u);
      EXPECT_EQ(launcher_.launches[0].request.capabilities, held);
      EXPECT_FALSE(launcher_.launches[0].request.capabilities.contains(missing));
      launcher_.launches.clear();
    }
  }
}

TEST_F(ChildDriverTest, AChildMayBeGrantedAnySubsetOfItsParentsCapabilities) {
  CapabilitySet all;
  std::vector<uint32_t> all_ids;
  for (Capability c : allCapabilities()) {
    all.add(c);
    all_ids.push_back(capId(c));
  }
  Guest& g = guest(all);
  ASSERT_GT(start(g, request("a.wasm", all_ids)), 0);
  ASSERT_GT(start(g, request("b.wasm", {})), 0);
  ASSERT_GT(start(g, request("c.wasm", {SELIUM_CAP_TimeRead, SELIUM_CAP_TimeRead})), 0);
  ASSERT_EQ(launcher_.launches.size(), 3u);
  EXPECT_EQ(launcher_.launches[0].request.capabilities, all);
  EXPECT_TRUE(launcher_.launches[1].request.capabilities.empty());
  EXPECT_THAT(launcher_.launches[2].request.capabilities.inOrder(),
              ElementsAre(Capability::TimeRead));
}

TEST_F(ChildDriverTest, ResourceArgsHandTheLauncherTheParentsObjectsInOrder) {
  Guest& g = guest();
  int32_t channel = g.create(1024);
  int32_t reader = g.openReader(channel);
  int32_t writer = g.openWriter(channel);
  ASSERT_GT(writer, 0);
  int32_t h = start(g, request("child.wasm", {SELIUM_CAP_ChannelWriter},
                               {resourceArg(writer), u32Arg(7), resourceArg(channel),
                                resourceArg(reader), resourceArg(writer)}));
  ASSERT_GT(h, 0) << g.lastError();
  ASSERT_EQ(launcher_.launches.size(), 1u);
  FakeLauncher::Launch& launch = launcher_.launches[0];
  ASSERT_EQ(launch.resources.size(), 4u);
  EXPECT_EQ(launch.resources[0]->kind(), HandleKind::Writer);
  EXPECT_EQ(launch.resources[1]->kind(), HandleKind::Channel);
  EXPECT_EQ(launch.resources[2]->kind(), HandleKind::Reader);
  EXPECT_EQ(launch.resources[3], launch.resources[0]);
  // They are the very objects the parent's handles name: sharing gives the same ids.
  EXPECT_EQ(registry_.share(launch.resources[0]), g.share(writer));
  EXPECT_EQ(registry_.share(launch.resources[1]), g.share(channel));
  EXPECT_EQ(registry_.share(launch.resources[2]), g.share(reader));
  // The request keeps every argument in its place; resources as the parent's handle numbers.
  EXPECT_THAT(launch.request.args,
              ElementsAre(EntrypointArg{ParamKind::Resource, static_cast<uint64_t>(writer)},
                          EntrypointArg{ParamKind::U32, uint64_t{7}},
                          EntrypointArg{ParamKind::Resource, static_cast<uint64_t>(channel)},
                          EntrypointArg{ParamKind::Resource, static_cast<uint64_t>(reader)},
                          EntrypointArg{ParamKind::Resource, static_cast<uint64_t>(writer)}));
  // The child gets its own handle to the parent's writer: what it writes, the parent reads.
  Guest& child = guests_.emplace_back(run(launch));
  auto inserted = child.process().handles().insert(launch.resources[0]->attach(child.process()));
  ASSERT_TRUE(std::holds_alternative<int32_t>(inserted));
  EXPECT_EQ(child.write(std::get<int32_t>(inserted), "from the child"), 0) << child.lastError();
  EXPECT_EQ(g.next(reader), "from the child");
  // The parent closing its handles leaves the child's working.
  EXPECT_EQ(g.close(writer), 0);
  EXPECT_EQ(child.write(std::get<int32_t>(inserted), "still"), 0);
  EXPECT_EQ(g.next(reader), "still");
}

TEST_F(ChildDriverTest, ResourceArgsThatNameNoShareableHandleAreRefusedAndLaunchNothing) {
  Guest& g = guest();
  int32_t channel = g.create(1024);
  auto timer = static_cast<int32_t>(g.call("timer_create", {i64(1'000'000'000)}));
  ASSERT_GT(timer, 0);
  int32_t closed = g.openReader(channel);
  ASSERT_EQ(g.close(closed), 0);
  std::size_t live = Resource::liveCount();
  struct Case {
    std::vector<Arg> args;
    int32_t error;
    std::string message;
  };
  std::vector<Case> cases = {
      {{u32Arg(1), resourceArg(timer)},
       -SELIUM_ERR_InvalidArgument,
       "args[1]: handle " + std::to_string(timer) +
           " is a timer, which cannot be given to another process"},
      {{resourceArg(999999)},
       -SELIUM_ERR_InvalidHandle,
       "args[0]: handle 999999 is not an open handle of this process"},
      {{resourceArg(channel), resourceArg(closed)},
       -SELIUM_ERR_InvalidHandle,
       "args[1]: handle " + std::to_string(closed) + " is not an open handle"},
      {{resourceArg(0)}, -SELIUM_ERR_InvalidArgument, "args[0]: resource handle 0 is not a handle"},
      {{resourceArg(-5)}, -SELIUM_ERR_InvalidArgument, "resource handle -5 is not a handle"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    EXPECT_EQ(start(g, request("child.wasm", {}, c.args)), c.error);
    EXPECT_THAT(g.lastError(), HasSubstr(c.message));
  }
  EXPECT_THAT(launcher_.launches, IsEmpty());
  EXPECT_EQ(g.process().handles().size(), 2u);
  EXPECT_EQ(Resource::liveCount(), live);
  // A deleted channel (or its reader) is closed for good: it cannot be handed on, as it cannot
  // be shared.
  int32_t reader = g.openReader(channel);
  ASSERT_EQ(g.remove(channel), 0);
  EXPECT_EQ(start(g, request("child.wasm", {}, {resourceArg(channel)})), -SELIUM_ERR_Closed);
  EXPECT_THAT(g.lastError(), AllOf(HasSubstr("args[0]"), HasSubstr("closed for good")));
  EXPECT_EQ(start(g, request("child.wasm", {}, {resourceArg(reader)})), -SELIUM_ERR_Closed);
  EXPECT_THAT(launcher_.launches, IsEmpty());
  // A process handle can be handed on: the child may wait for or stop its sibling.
  int32_t sibling = start(g, request("sibling.wasm"));
  ASSERT_GT(sibling, 0);
  ASSERT_GT(start(g, request("child.wasm", {}, {resourceArg(sibling)})), 0) << g.lastError();
  ASSERT_EQ(launcher_.launches.size(), 2u);
  ASSERT_EQ(launcher_.launches[1].resources.size(), 1u);
  EXPECT_EQ(launcher_.launches[1].resources[0]->kind(), HandleKind::Process);
}

TEST_F(ChildDriverTest, MalformedRequestsAreRefusedNeverACrash) {
  Guest& g = guest(parentCapabilities(), SELIUM_START_REQUEST_MAX_BYTES + 4096);
  std::size_t accepted = 0;
  // Over the size limit, however valid its start: TooLarge.
  std::vector<uint8_t> huge = request("child.wasm");
  huge.resize(SELIUM_START_REQUEST_MAX_BYTES + 1);
  EXPECT_EQ(start(g, huge), -SELIUM_ERR_TooLarge);
  EXPECT_THAT(g.lastError(), HasSubstr("over the limit of 1048576"));
  // At the limit it is read.
  huge.resize(SELIUM_START_REQUEST_MAX_BYTES);
  EXPECT_GT(start(g, huge), 0) << g.lastError();
  ++accepted;
  // Nothing at all, and garbage.
  EXPECT_EQ(start(g, {}), -SELIUM_ERR_InvalidArgument);
  EXPECT_THAT(g.lastError(), HasSubstr("not a valid selium.abi.StartRequest"));
  std::mt19937 rng(20261204);
  for (int i = 0; i < 300; ++i) {
    std::vector<uint8_t> garbage(rng() % 600);
    for (uint8_t& byte : garbage) byte = static_cast<uint8_t>(rng());
    ASSERT_EQ(start(g, garbage), -SELIUM_ERR_InvalidArgument) << i;
  }
  // Every truncation of a valid request.
  std::vector<uint8_t> valid =
      request("ab.wasm", {SELIUM_CAP_TimeRead}, {u32Arg(3), {fb::ArgKind::Utf8, 0, 0, "text", 0}});
  for (std::size_t n = 0; n < valid.size(); ++n) {
    std::vector<uint8_t> cut(valid.begin(), valid.begin() + n);
    EXPECT_EQ(start(g, cut), -SELIUM_ERR_InvalidArgument) << n << " of " << valid.size();
  }
  // Every single-byte corruption: refused, or a request that still checks out.
  for (std::size_t at = 0; at < valid.size(); ++at) {
    for (uint8_t flip : {0x01, 0x80, 0xff}) {
      std::vector<uint8_t> bad = valid;
      bad[at] ^= flip;
      int32_t result = start(g, bad);
      if (result > 0) {
        ++accepted;
      } else {
        EXPECT_THAT(result,
                    ::testing::AnyOf(-SELIUM_ERR_InvalidArgument, -SELIUM_ERR_PermissionDenied))
            << at;
      }
    }
  }
  // Well-formed, but asking for something no child may have.
  for (const std::string& path : {std::string("../up.wasm"), std::string("/abs.wasm"),
                                  std::string("a/../../b.wasm"), std::string("")}) {
    EXPECT_EQ(start(g, request(path)), -SELIUM_ERR_InvalidArgument) << path;
    EXPECT_THAT(g.lastError(), HasSubstr("process_start: module"));
  }
  EXPECT_EQ(start(g, request("child.wasm", {SELIUM_CAPABILITY_COUNT})),
            -SELIUM_ERR_InvalidArgument);
  EXPECT_THAT(g.lastError(), HasSubstr("is not a capability id"));
  // A request that does not lie in guest memory.
  auto size = static_cast<uint32_t>(g.memory().size());
  EXPECT_EQ(g.call("process_start", {u32(size - 4), u32(8)}), -SELIUM_ERR_OutOfBounds);
  EXPECT_EQ(g.call("process_start", {u32(0xFFFFFFF0u), u32(0x20)}), -SELIUM_ERR_OutOfBounds);
  EXPECT_EQ(launcher_.launches.size(), accepted);
  EXPECT_EQ(g.process().handles().size(), accepted);
}

TEST_F(ChildDriverTest, WaitWouldBlockUntilTheChildEndsOnAnotherThread) {
  Guest& g = guest();
  int32_t h = start(g, request("child.wasm"));
  ASSERT_GT(h, 0);
  std::shared_ptr<ChildState> state = launcher_.launches[0].state;
  EXPECT_EQ(wait(g, h, 5), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(wait(g, h, 5), -SELIUM_ERR_WouldBlock);  // the same wait, again
  EXPECT_EQ(exitMessage(g, h, 64), -SELIUM_ERR_NotFound);
  EXPECT_THAT(g.lastError(), HasSubstr("has not ended"));
  EXPECT_THAT(polls(), IsEmpty());
  std::thread launcher_thread([state] {
    EXPECT_TRUE(state->started(42));
    state->ended({SELIUM_EXIT_ERROR, -3, "exited with status -3"});
    state->ended({SELIUM_EXIT_NORMAL, 0, "too late"});  // only the first end counts
  });
  EXPECT_TRUE(wokeWith(g.pid(), 5));
  launcher_thread.join();
  int64_t result = wait(g, h, 6);
  EXPECT_EQ(result, (int64_t{SELIUM_EXIT_ERROR} << 32) | 0xFFFFFFFDll);
  EXPECT_EQ(result >> 32, SELIUM_EXIT_ERROR);
  EXPECT_EQ(static_cast<int32_t>(static_cast<uint32_t>(result)), -3);
  EXPECT_EQ(pid(g, h), 42);
  std::string message;
  EXPECT_EQ(exitMessage(g, h, 64, &message), 21);
  EXPECT_EQ(message, "exited with status -3");
  EXPECT_EQ(exitMessage(g, h, 4, &message), 21);  // the full length; only 4 bytes copied
  EXPECT_EQ(message, "exit");
  EXPECT_THAT(polls(), IsEmpty());  // a wait that found the end recorded nothing
}

TEST_F(ChildDriverTest, EveryExitReasonAndStatusReadsBackAsEnded) {
  Guest& g = guest();
  struct End {
    int32_t reason;
    int32_t status;
    std::string message;
  };
  for (const End& end :
       {End{SELIUM_EXIT_NORMAL, 0, "exited normally"},
        End{SELIUM_EXIT_ERROR, 7, "exited with status 7"},
        End{SELIUM_EXIT_ERROR, std::numeric_limits<int32_t>::min(), "min"},
        End{SELIUM_EXIT_TRAP, 0, "trapped: unreachable"}, End{SELIUM_EXIT_TERMINATED, 0, "stopped"},
        End{SELIUM_EXIT_FAILED, 0, "module not found: x.wasm"}, End{SELIUM_EXIT_NORMAL, 0, ""}}) {
    SCOPED_TRACE(end.message);
    int32_t h = start(g, request("child.wasm"));
    ASSERT_GT(h, 0);
    launcher_.launches.back().state->ended({end.reason, end.status, end.message});
    int64_t result = wait(g, h, 1);
    ASSERT_GE(result, 0);
    EXPECT_EQ(result >> 32, end.reason);
    EXPECT_EQ(static_cast<int32_t>(static_cast<uint32_t>(result)), end.status);
    std::string message = "unchanged";
    EXPECT_EQ(exitMessage(g, h, 0), static_cast<int32_t>(end.message.size()));
    EXPECT_EQ(exitMessage(g, h, 256, &message), static_cast<int32_t>(end.message.size()));
    EXPECT_EQ(message, end.message);
  }
}

TEST_F(ChildDriverTest, ASecondTaskWaitingOnOneProcessHandleIsInvalidArgumentNotALostWake) {
  Guest& g = guest();
  int32_t h = start(g, request("child.wasm"));
  ASSERT_GT(h, 0);
  EXPECT_EQ(wait(g, h, 1), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(wait(g, h, 2), -SELIUM_ERR_InvalidArgument);
  EXPECT_THAT(g.lastError(), AllOf(HasSubstr("another task is already waiting on process handle " +
                                             std::to_string(h)),
                                   HasSubstr("handle_cancel_wait")));
  EXPECT_EQ(wait(g, h, 1), -SELIUM_ERR_WouldBlock);
  // The first task's wait is intact: the end wakes it.
  launcher_.launches[0].state->ended({SELIUM_EXIT_NORMAL, 0, "done"});
  EXPECT_TRUE(host_->runUntil([&] { return !host_->polled().empty(); }));
  EXPECT_THAT(polls(), ElementsAre(Polled{g.pid(), 1}));
  EXPECT_EQ(wait(g, h, 2), 0);  // once ended, any task reads the end

  // After handle_cancel_wait another task may wait, and only it is woken.
  int32_t h2 = start(g, request("child.wasm"));
  EXPECT_EQ(wait(g, h2, 3), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(g.cancelWait(h2), 0);
  EXPECT_EQ(wait(g, h2, 4), -SELIUM_ERR_WouldBlock);
  launcher_.launches[1].state->ended({SELIUM_EXIT_NORMAL, 0, "done"});
  EXPECT_TRUE(host_->runUntil([&] { return !host_->polled().empty(); }));
  EXPECT_THAT(polls(), ElementsAre(Polled{g.pid(), 4}));
}

TEST_F(ChildDriverTest, CancelWaitForgetsTheWaiterAndClosingTheHandleToo) {
  Guest& g = guest();
  int32_t h = start(g, request("child.wasm"));
  int32_t h2 = start(g, request("child.wasm"));
  ASSERT_GT(h2, 0);
  EXPECT_EQ(wait(g, h, 1), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(g.cancelWait(h), 0);
  EXPECT_EQ(wait(g, h2, 2), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(g.close(h2), 0);
  launcher_.launches[0].state->ended({SELIUM_EXIT_NORMAL, 0, ""});
  launcher_.launches[1].state->ended({SELIUM_EXIT_NORMAL, 0, ""});
  EXPECT_THAT(polls(), IsEmpty());
  EXPECT_EQ(wait(g, h, 1), 0);
}

TEST_F(ChildDriverTest, AnotherProcessHoldingTheSharedHandleWaitsForAndStopsTheSameChild) {
  Guest& g = guest();
  Guest& other = guest();
  int32_t h = start(g, request("child.wasm"));
  ASSERT_GT(h, 0);
  int64_t id = g.share(h);
  ASSERT_GT(id, 0);
  EXPECT_EQ(other.attach(id, SELIUM_KIND_CHANNEL), -SELIUM_ERR_InvalidHandle);
  int32_t oh = other.attach(id, SELIUM_KIND_PROCESS);
  ASSERT_GT(oh, 0) << other.lastError();
  EXPECT_EQ(other.kind(oh), SELIUM_KIND_PROCESS);
  std::shared_ptr<ChildState> state = launcher_.launches[0].state;
  ASSERT_TRUE(state->started(50));
  EXPECT_EQ(pid(other, oh), 50);
  // Each handle waits with its own waiter.
  EXPECT_EQ(wait(g, h, 3), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(wait(other, oh, 4), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(stop(other, oh), 0);
  EXPECT_THAT(launcher_.stops, ElementsAre(50));
  std::thread([state] { state->ended({SELIUM_EXIT_TERMINATED, 0, "stopped"}); }).join();
  EXPECT_TRUE(host_->runUntil([&] { return host_->polled().size() == 2; }));
  EXPECT_THAT(polls(), UnorderedElementsAre(Polled{g.pid(), 3}, Polled{other.pid(), 4}));
  EXPECT_EQ(wait(g, h, 3) >> 32, SELIUM_EXIT_TERMINATED);
  EXPECT_EQ(wait(other, oh, 4) >> 32, SELIUM_EXIT_TERMINATED);
}

TEST_F(ChildDriverTest, StopBeforeStartIsSeenAtStartAndAfterStartAsksTheLauncher) {
  Guest& g = guest();
  int32_t early = start(g, request("child.wasm"));
  ASSERT_GT(early, 0);
  EXPECT_EQ(stop(g, early), 0);
  EXPECT_THAT(launcher_.stops, IsEmpty());                 // no pid yet: nothing to stop
  EXPECT_FALSE(launcher_.launches[0].state->started(60));  // the launcher must stop it now
  int32_t running = start(g, request("child.wasm"));
  ASSERT_GT(running, 0);
  Process& child = run(launcher_.launches[1]);
  EXPECT_EQ(stop(g, running), 0);
  EXPECT_THAT(launcher_.stops, ElementsAre(child.id()));
  launcher_.launches[1].state->ended({SELIUM_EXIT_TERMINATED, 0, "stopped"});
  EXPECT_EQ(stop(g, running), 0);  // ended: nothing more to do
  EXPECT_THAT(launcher_.stops, ElementsAre(child.id()));
  EXPECT_EQ(wait(g, running, 1) >> 32, SELIUM_EXIT_TERMINATED);
}

TEST_F(ChildDriverTest, PidIsNotFoundUntilTheChildStartsAndSaysSoForOneThatNeverDid) {
  Guest& g = guest();
  int32_t h = start(g, request("child.wasm"));
  ASSERT_GT(h, 0);
  EXPECT_EQ(pid(g, h), -SELIUM_ERR_NotFound);
  EXPECT_THAT(g.lastError(), HasSubstr("has not started yet"));
  ASSERT_TRUE(launcher_.launches[0].state->started(70));
  EXPECT_EQ(pid(g, h), 70);
  launcher_.launches[0].state->ended({SELIUM_EXIT_NORMAL, 0, ""});
  EXPECT_EQ(pid(g, h), 70);  // the pid it ran as, after it ended
  int32_t failed = start(g, request("missing.wasm"));
  launcher_.launches[1].state->ended({SELIUM_EXIT_FAILED, 0, "module not found"});
  EXPECT_EQ(pid(g, failed), -SELIUM_ERR_NotFound);
  EXPECT_THAT(g.lastError(), HasSubstr("ended without starting"));
}

TEST_F(ChildDriverTest, LogOpenGivesAReaderOfTheChildsLogRecords) {
  Guest& g = guest();
  int32_t h = start(g, request("child.wasm"));
  ASSERT_GT(h, 0);
  EXPECT_EQ(logOpen(g, h), -SELIUM_ERR_NotFound);
  EXPECT_THAT(g.lastError(), HasSubstr("has not started yet"));
  Process& child = run(launcher_.launches[0]);
  int32_t logs = logOpen(g, h);
  ASSERT_GT(logs, 0) << g.lastError();
  EXPECT_EQ(g.kind(logs), SELIUM_KIND_READER);
  GuestLogRecord first = logRecord("hello", log::Level::Warn);
  first.fields.emplace_back("n", -5);
  first.fields.emplace_back("ok", true);
  first.fields.emplace_back("s", "v");
  child.emitLog(first);
  Record record = decodeFrame(g.next(logs));
  EXPECT_EQ(record.level, fb::LogLevel::Warn);
  EXPECT_EQ(record.target, "child.target");
  EXPECT_EQ(record.message, "hello");
  EXPECT_THAT(record.fields, ElementsAre("n=-5", "ok=true", "s=v"));
  // WASI stdout lines are records too.
  std::string line = "a line\nrest";
  child.writeStdStream(StdStream::Stdout,
                       {reinterpret_cast<const uint8_t*>(line.data()), line.size()});
  record = decodeFrame(g.next(logs));
  EXPECT_EQ(record.message, "a line");
  EXPECT_EQ(record.level, fb::LogLevel::Info);
  EXPECT_THAT(record.fields, ElementsAre("stream=stdout"));
  // A read that waits is woken, with its token, when the child logs.
  EXPECT_EQ(g.read(logs, nullptr, 4096, 9), -SELIUM_ERR_WouldBlock);
  EXPECT_THAT(polls(), IsEmpty());
  child.emitLog(logRecord("later"));
  EXPECT_TRUE(wokeWith(g.pid(), 9));
  EXPECT_EQ(decodeFrame(g.next(logs)).message, "later");
  // Another subscriber replays what the stream holds; each reader has its own cursor.
  int32_t replay = logOpen(g, h);
  ASSERT_GT(replay, 0);
  EXPECT_NE(replay, logs);
  EXPECT_EQ(decodeFrame(g.next(replay)).message, "hello");
  EXPECT_EQ(decodeFrame(g.next(replay)).message, "a line");
  EXPECT_EQ(decodeFrame(g.next(replay)).message, "later");
  EXPECT_EQ(g.read(logs), -SELIUM_ERR_WouldBlock);
  // The records were printed as well.
  ASSERT_EQ(host_->logs().size(), 3u);
  EXPECT_EQ(host_->logs()[0].first, child.id());
}

TEST_F(ChildDriverTest, ALaggingLogReaderLosesRecordsAndLearnsExactlyHowMany) {
  Guest& g = guest();
  int32_t h = start(g, request("child.wasm"));
  Process& child = run(launcher_.launches[0]);
  int32_t logs = logOpen(g, h);
  ASSERT_GT(logs, 0);
  // Records of one size: the ring holds exactly capacity / frame size of them.
  auto numbered = [](int i) {
    char text[16];
    std::snprintf(text, sizeof text, "%06d", i);
    return logRecord(std::string(text) + std::string(1000, '.'));
  };
  std::size_t frame = Channel::frameSize(encodeLogRecord(numbered(0)).size());
  ASSERT_EQ(frame, Channel::frameSize(encodeLogRecord(numbered(999999)).size()));
  const int held = static_cast<int>(LogStream::kCapacity / frame);
  const int total = 2 * held + 7;
  child.emitLog(numbered(0));
  EXPECT_EQ(decodeFrame(g.next(logs)).message.substr(0, 6), "000000");
  for (int i = 1; i < total; ++i) child.emitLog(numbered(i));
  EXPECT_EQ(child.logStream()->written(), static_cast<uint64_t>(total));  // the child never waits
  EXPECT_EQ(launcher_.logChannel(child.id())->framesHeld(), static_cast<uint64_t>(held));
  EXPECT_EQ(g.read(logs), -SELIUM_ERR_Lagged);
  EXPECT_EQ(g.lost(logs), total - held - 1);
  EXPECT_EQ(g.lost(logs), 0);
  char expected[16];
  std::snprintf(expected, sizeof expected, "%06d", total - held);
  EXPECT_EQ(decodeFrame(g.next(logs)).message.substr(0, 6), expected);
  // A batch read takes as many of the rest as fit, in order, with nothing lost in between.
  std::size_t length = encodeLogRecord(numbered(0)).size();
  std::vector<std::string> frames;
  int32_t bytes = g.readBatch(logs, &frames, 120 * 1024);
  const int fit = std::min<int>(held - 1, 120 * 1024 / static_cast<int>(4 + length));
  EXPECT_EQ(bytes, fit * static_cast<int>(4 + length));
  ASSERT_EQ(static_cast<int>(frames.size()), fit);
  std::snprintf(expected, sizeof expected, "%06d", total - held + fit);
  EXPECT_EQ(decodeFrame(frames.back()).message.substr(0, 6), expected);
  EXPECT_EQ(g.lost(logs), 0);
}

TEST_F(ChildDriverTest, TheLogStreamEndsWithTheChild) {
  Guest& g = guest();
  int32_t h = start(g, request("child.wasm"));
  Process& child = run(launcher_.launches[0]);
  ProcessId child_pid = child.id();
  int32_t logs = logOpen(g, h);
  int32_t waiting = logOpen(g, h);
  ASSERT_GT(waiting, 0);
  child.emitLog(logRecord("a"));
  child.emitLog(logRecord("b"));
  std::string line = "unfinished line";  // flushed when the child ends
  child.writeStdStream(StdStream::Stderr,
                       {reinterpret_cast<const uint8_t*>(line.data()), line.size()});
  EXPECT_EQ(decodeFrame(g.next(logs)).message, "a");
  for (int i = 0; i < 2; ++i) ASSERT_GE(g.read(waiting), 0);
  EXPECT_EQ(g.read(waiting, nullptr, 4096, 12), -SELIUM_ERR_WouldBlock);
  host_->endProcess(child_pid);
  launcher_.launches[0].state->ended({SELIUM_EXIT_NORMAL, 0, "exited normally"});
  EXPECT_TRUE(wokeWith(g.pid(), 12));
  Record flushed = decodeFrame(g.next(waiting));
  EXPECT_EQ(flushed.message, "unfinished line");
  EXPECT_EQ(flushed.level, fb::LogLevel::Warn);
  EXPECT_EQ(g.read(waiting), -SELIUM_ERR_EndOfStream);
  EXPECT_EQ(decodeFrame(g.next(logs)).message, "b");
  EXPECT_EQ(decodeFrame(g.next(logs)).message, "unfinished line");
  EXPECT_EQ(g.read(logs), -SELIUM_ERR_EndOfStream);
  EXPECT_EQ(g.readBatch(logs), -SELIUM_ERR_EndOfStream);
  // Subscribing after the end: the stream is gone.
  EXPECT_EQ(logOpen(g, h), -SELIUM_ERR_Closed);
  EXPECT_THAT(g.lastError(), HasSubstr("has ended"));
  // A child that never started has no stream either, and never will.
  int32_t failed = start(g, request("missing.wasm"));
  launcher_.launches[1].state->ended({SELIUM_EXIT_FAILED, 0, "module not found"});
  EXPECT_EQ(logOpen(g, failed), -SELIUM_ERR_Closed);
  EXPECT_THAT(g.lastError(), HasSubstr("ended without starting"));
}

TEST_F(ChildDriverTest, AFullHandleTableIsLimitExceededAndStartsOrOpensNothing) {
  ProcessConfig config;
  config.capabilities = parentCapabilities();
  config.max_handles = 2;
  Guest& g = guests_.emplace_back(host_->makeProcess(std::move(config)));
  int32_t channel = g.create(1024);
  ASSERT_GT(channel, 0);
  int32_t h = start(g, request("child.wasm", {}, {resourceArg(channel)}));
  ASSERT_GT(h, 0);
  Process& child = run(launcher_.launches[0]);
  std::size_t live = Resource::liveCount();
  EXPECT_EQ(start(g, request("child.wasm", {}, {resourceArg(channel)})), -SELIUM_ERR_LimitExceeded);
  EXPECT_THAT(g.lastError(), HasSubstr("too many open handles"));
  EXPECT_EQ(launcher_.launches.size(), 1u);
  EXPECT_EQ(logOpen(g, h), -SELIUM_ERR_LimitExceeded);
  EXPECT_EQ(Resource::liveCount(), live);
  EXPECT_EQ(g.process().handles().size(), 2u);
  // With a handle closed, both work.
  ASSERT_EQ(g.close(channel), 0);
  int32_t logs = logOpen(g, h);
  ASSERT_GT(logs, 0);
  child.emitLog(logRecord("fits"));
  EXPECT_EQ(decodeFrame(g.next(logs)).message, "fits");
}

// A process has at most max_children children that have not ended, starting ones included; an
// ended child, or one whose start was refused, no longer counts.
TEST_F(ChildDriverTest, LiveChildrenAreLimitedPerProcess) {
  ProcessConfig config;
  config.capabilities = parentCapabilities();
  config.max_children = 2;
  Guest& g = guests_.emplace_back(host_->makeProcess(std::move(config)));
  int32_t first = start(g, request("child.wasm"));
  int32_t second = start(g, request("child.wasm"));
  ASSERT_GT(first, 0);
  ASSERT_GT(second, 0);
  EXPECT_EQ(g.process().liveChildren()->load(), 2u);
  EXPECT_EQ(start(g, request("child.wasm")), -SELIUM_ERR_LimitExceeded);
  EXPECT_THAT(g.lastError(), HasSubstr("already has 2 children that have not ended"));
  EXPECT_EQ(launcher_.launches.size(), 2u);
  // Closing a handle does not end its child: it still counts.
  ASSERT_EQ(g.close(first), 0);
  EXPECT_EQ(start(g, request("child.wasm")), -SELIUM_ERR_LimitExceeded);
  // Once one ends, another may start.
  launcher_.launches[0].state->ended({SELIUM_EXIT_NORMAL, 0, "entrypoint returned"});
  EXPECT_EQ(g.process().liveChildren()->load(), 1u);
  EXPECT_GT(start(g, request("child.wasm")), 0);
  EXPECT_EQ(g.process().liveChildren()->load(), 2u);
}

TEST_F(ChildDriverTest, ProcessHostcallsRefuseHandlesOfOtherKindsAndTheHandleStillWorks) {
  Guest& g = guest();
  int32_t channel = g.create(1024);
  int32_t h = start(g, request("child.wasm"));
  ASSERT_GT(h, 0);
  int32_t closed = start(g, request("child.wasm"));
  ASSERT_EQ(g.close(closed), 0);
  for (int32_t wrong : {channel, closed, 0, -1, 777777}) {
    SCOPED_TRACE(wrong);
    std::string message = "handle " + std::to_string(wrong) + " is not an open process";
    EXPECT_EQ(wait(g, wrong, 1), -SELIUM_ERR_InvalidHandle);
    EXPECT_THAT(g.lastError(), HasSubstr(message));
    EXPECT_EQ(stop(g, wrong), -SELIUM_ERR_InvalidHandle);
    EXPECT_EQ(pid(g, wrong), -SELIUM_ERR_InvalidHandle);
    EXPECT_EQ(exitMessage(g, wrong, 16), -SELIUM_ERR_InvalidHandle);
    EXPECT_EQ(logOpen(g, wrong), -SELIUM_ERR_InvalidHandle);
  }
  EXPECT_EQ(g.read(h), -SELIUM_ERR_InvalidHandle);
  EXPECT_EQ(g.write(h, "x"), -SELIUM_ERR_InvalidHandle);
  EXPECT_EQ(g.drain(h), -SELIUM_ERR_InvalidHandle);
  EXPECT_THAT(launcher_.stops, IsEmpty());
  ASSERT_TRUE(launcher_.launches[0].state->started(80));
  EXPECT_EQ(pid(g, h), 80);
  EXPECT_EQ(wait(g, h, 1), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(g.kind(channel), SELIUM_KIND_CHANNEL);
}

TEST_F(ChildDriverTest, ProcessHostcallsNeedProcessLifecycle) {
  Guest& g = guest();
  int32_t h = start(g, request("child.wasm"));
  ASSERT_GT(h, 0);
  ASSERT_TRUE(launcher_.launches[0].state->started(90));
  CapabilitySet none;
  none.add(Capability::ChannelReader);
  Guest& other = guest(none);
  int32_t oh = other.attach(g.share(h), SELIUM_KIND_PROCESS);
  ASSERT_GT(oh, 0);
  EXPECT_EQ(start(other, request("child.wasm")), -SELIUM_ERR_PermissionDenied);
  EXPECT_EQ(stop(other, oh), -SELIUM_ERR_PermissionDenied);
  EXPECT_EQ(wait(other, oh, 1), -SELIUM_ERR_PermissionDenied);
  EXPECT_EQ(exitMessage(other, oh, 16), -SELIUM_ERR_PermissionDenied);
  EXPECT_EQ(pid(other, oh), -SELIUM_ERR_PermissionDenied);
  EXPECT_EQ(logOpen(other, oh), -SELIUM_ERR_PermissionDenied);
  EXPECT_THAT(other.lastError(), HasSubstr("ProcessLifecycle"));
  EXPECT_EQ(launcher_.launches.size(), 1u);
  EXPECT_THAT(launcher_.stops, IsEmpty());
  EXPECT_EQ(other.process().handles().size(), 1u);
}

}  // namespace
}  // namespace selium::kernel
