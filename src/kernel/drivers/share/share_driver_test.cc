// Sharing between processes through the hostcalls, without an engine: real Processes on one
// Registry, a byte vector as guest memory, and a shareable test object standing in for channels.
#include "kernel/drivers/share/share_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <selium/abi/errors.h>
#include <selium/abi/hostcalls.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <set>

#include "kernel/registry.h"

namespace selium::kernel {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// The object several handles name, like a channel. `value` shows two handles reach one object.
class TestObject final : public Shareable {
 public:
  explicit TestObject(HandleKind kind) : kind_(kind) {}
  HandleKind kind() const override { return kind_; }
  std::unique_ptr<Resource> attach(Process& process) override;
  bool alive() const override { return alive_; }

  int value = 0;
  int cancels = 0;
  bool alive_ = true;
  std::vector<ProcessId> attached_by;

 private:
  HandleKind kind_;
};

// One handle's resource: a reference to the object.
class TestHandle final : public Resource {
 public:
  explicit TestHandle(std::shared_ptr<TestObject> object) : object_(std::move(object)) {}
  HandleKind kind() const override { return object_->kind(); }
  std::shared_ptr<Shareable> shareable() override { return object_; }
  bool cancelWait() override {
    ++object_->cancels;
    return true;
  }
  TestObject& object() { return *object_; }

 private:
  std::shared_ptr<TestObject> object_;
};

std::unique_ptr<Resource> TestObject::attach(Process& process) {
  attached_by.push_back(process.id());
  return std::make_unique<TestHandle>(std::static_pointer_cast<TestObject>(shared_from_this()));
}

// Processes of one host share its registry (as the workers of one engine do).
class SharedHost : public ProcessHost {
 public:
  explicit SharedHost(Registry& registry) : registry_(registry) {}
  void wake(ProcessId, int32_t) override {}
  Registry& registry() override { return registry_; }

 private:
  Registry& registry_;
};

WasmValue i32(int32_t v) {
  WasmValue w;
  w.i32 = v;
  return w;
}
WasmValue i64(int64_t v) {
  WasmValue w;
  w.i64 = v;
  return w;
}

std::string hex(int64_t id) {
  char text[32];
  std::snprintf(text, sizeof(text), "0x%" PRIx64, static_cast<uint64_t>(id));
  return text;
}

class ShareDriverTest : public ::testing::Test {
 protected:
  std::unique_ptr<Process> makeProcess(ProcessId id, std::size_t max_handles = 1u << 16) {
    ProcessConfig config;
    config.id = id;
    config.module = "share.wasm";
    config.max_handles = max_handles;
    config.capabilities.add(Capability::TimeRead);
    config.capabilities.add(Capability::SingletonRegistry);
    config.capabilities.add(Capability::SingletonLookup);
    return std::make_unique<Process>(std::move(config), loop, host, nullptr);
  }

  int64_t call(Process& process, std::string_view name, std::vector<WasmValue> args) {
    const HostcallSpec* spec = findHostcall(SELIUM_IMPORT_MODULE, name);
    EXPECT_NE(spec, nullptr) << name;
    if (spec == nullptr) return 0;
    EXPECT_EQ(spec->params.size(), args.size()) << name;
    CallContext ctx{process, memory};
    return dispatchHostcall(*spec, ctx, args.data());
  }

  // A new test object and a handle of `process` for it.
  int32_t newObject(Process& process, HandleKind kind = HandleKind::Channel,
                    std::shared_ptr<TestObject>* out = nullptr) {
    auto object = std::make_shared<TestObject>(kind);
    if (out != nullptr) *out = object;
    auto inserted = process.handles().insert(std::make_unique<TestHandle>(object));
    EXPECT_TRUE(std::holds_alternative<int32_t>(inserted));
    return std::get<int32_t>(inserted);
  }

  TestHandle* handle(Process& process, int64_t h) {
    return dynamic_cast<TestHandle*>(process.handles().get(static_cast<int32_t>(h)));
  }

  int64_t share(Process& process, int32_t h) { return call(process, "handle_share", {i32(h)}); }
  int64_t attach(Process& process, int64_t id, int32_t kind = SELIUM_KIND_ANY) {
    return call(process, "handle_attach", {i64(id), i32(kind)});
  }

  // Writes a singleton id into guest memory at `address` and returns the address.
  uint32_t putId(uint32_t address, uint8_t seed) {
    for (uint32_t i = 0; i < SELIUM_SINGLETON_ID_BYTES; ++i) memory[address + i] = seed + i;
    return address;
  }
  int64_t registerAt(Process& process, uint32_t id, int32_t h) {
    return call(process, "singleton_register", {i32(static_cast<int32_t>(id)), i32(h)});
  }
  int64_t lookupAt(Process& process, uint32_t id, int32_t kind = SELIUM_KIND_ANY) {
    return call(process, "singleton_lookup", {i32(static_cast<int32_t>(id)), i32(kind)});
  }

  boost::asio::io_context loop;
  Registry registry;  // before the host and the processes: outlives them
  SharedHost host{registry};
  std::vector<uint8_t> memory = std::vector<uint8_t>(65536);
};

TEST_F(ShareDriverTest, HandleKindNamesTheKindOfAnOpenHandle) {
  auto p = makeProcess(1);
  int32_t channel = newObject(*p, HandleKind::Channel);
  int32_t reader = newObject(*p, HandleKind::Reader);
  int32_t writer = newObject(*p, HandleKind::Writer);
  auto timer = static_cast<int32_t>(call(*p, "timer_create", {i64(1'000'000'000)}));
  ASSERT_GT(timer, 0);
  EXPECT_EQ(call(*p, "handle_kind", {i32(channel)}), SELIUM_KIND_CHANNEL);
  EXPECT_EQ(call(*p, "handle_kind", {i32(reader)}), SELIUM_KIND_READER);
  EXPECT_EQ(call(*p, "handle_kind", {i32(writer)}), SELIUM_KIND_WRITER);
  EXPECT_EQ(call(*p, "handle_kind", {i32(timer)}), SELIUM_KIND_TIMER);
}

TEST_F(ShareDriverTest, HandleKindOfAnythingButAnOpenHandleIsInvalidHandle) {
  auto p = makeProcess(1);
  int32_t closed = newObject(*p);
  ASSERT_EQ(call(*p, "handle_close", {i32(closed)}), 0);
  for (int32_t bad : {0, -1, 7, closed, std::numeric_limits<int32_t>::max(),
                      std::numeric_limits<int32_t>::min()}) {
    EXPECT_EQ(call(*p, "handle_kind", {i32(bad)}), -SELIUM_ERR_InvalidHandle) << bad;
    EXPECT_THAT(p->lastError(), HasSubstr("handle " + std::to_string(bad) + " is not an open"));
  }
}

TEST_F(ShareDriverTest, HandleOfAnotherProcessIsNotOpenHere) {
  auto a = makeProcess(1);
  auto b = makeProcess(2);
  int32_t h = newObject(*a);
  EXPECT_EQ(call(*b, "handle_kind", {i32(h)}), -SELIUM_ERR_InvalidHandle);
  EXPECT_EQ(share(*b, h), -SELIUM_ERR_InvalidHandle);
  EXPECT_EQ(call(*b, "handle_cancel_wait", {i32(h)}), -SELIUM_ERR_InvalidHandle);
  EXPECT_EQ(registry.sharedCount(), 0u);
}

TEST_F(ShareDriverTest, CancelWaitReachesTheResourceAndIsZeroForKindsThatNeverWait) {
  auto p = makeProcess(1);
  std::shared_ptr<TestObject> object;
  int32_t h = newObject(*p, HandleKind::Reader, &object);
  EXPECT_EQ(call(*p, "handle_cancel_wait", {i32(h)}), 0);
  EXPECT_EQ(object->cancels, 1);
  auto timer = static_cast<int32_t>(call(*p, "timer_create", {i64(1'000'000'000)}));
  EXPECT_EQ(call(*p, "handle_cancel_wait", {i32(timer)}), 0);
  EXPECT_EQ(call(*p, "handle_cancel_wait", {i32(0)}), -SELIUM_ERR_InvalidHandle);
  EXPECT_THAT(p->lastError(), HasSubstr("handle 0"));
  EXPECT_EQ(object->cancels, 1);
}

TEST_F(ShareDriverTest, ShareThenAttachGivesAnotherProcessAWorkingHandle) {
  auto a = makeProcess(1);
  auto b = makeProcess(2);
  std::shared_ptr<TestObject> object;
  int32_t ha = newObject(*a, HandleKind::Channel, &object);
  int64_t id = share(*a, ha);
  ASSERT_GT(id, 0);
  int64_t hb = attach(*b, id, SELIUM_KIND_CHANNEL);
  ASSERT_GT(hb, 0) << b->lastError();
  ASSERT_NE(handle(*b, hb), nullptr);
  EXPECT_EQ(&handle(*b, hb)->object(), object.get());
  EXPECT_EQ(object->attached_by, std::vector<ProcessId>{2});
  EXPECT_EQ(call(*b, "handle_kind", {i32(static_cast<int32_t>(hb))}), SELIUM_KIND_CHANNEL);
  handle(*a, ha)->object().value = 41;
  EXPECT_EQ(handle(*b, hb)->object().value, 41);
  // The new handle is B's own: A cannot use it, and closing it leaves A's handle alone.
  EXPECT_EQ(a->handles().size(), 1u);
  EXPECT_EQ(b->handles().size(), 1u);
  EXPECT_EQ(call(*b, "handle_close", {i32(static_cast<int32_t>(hb))}), 0);
  EXPECT_EQ(call(*a, "handle_kind", {i32(ha)}), SELIUM_KIND_CHANNEL);
  // Attaching again in A gives A a second, distinct handle for the same object.
  int64_t ha2 = attach(*a, id);
  ASSERT_GT(ha2, 0);
  EXPECT_NE(ha2, ha);
  EXPECT_EQ(&handle(*a, ha2)->object(), object.get());
}

TEST_F(ShareDriverTest, SharingTwiceGivesTheSameIdFromAnyHandleOfTheObject) {
  auto a = makeProcess(1);
  auto b = makeProcess(2);
  int32_t ha = newObject(*a);
  int64_t id = share(*a, ha);
  ASSERT_GT(id, 0);
  EXPECT_EQ(share(*a, ha), id);
  auto hb = static_cast<int32_t>(attach(*b, id));
  ASSERT_GT(hb, 0);
  EXPECT_EQ(share(*b, hb), id);
  EXPECT_EQ(registry.sharedCount(), 1u);
  // Another object gets another id.
  int64_t other = share(*a, newObject(*a));
  EXPECT_GT(other, 0);
  EXPECT_NE(other, id);
}

TEST_F(ShareDriverTest, SharedIdsArePositiveDistinctNotSequentialAndSpreadOver63Bits) {
  auto p = makeProcess(1);
  std::vector<int64_t> ids;
  for (int i = 0; i < 1000; ++i) {
    int64_t id = share(*p, newObject(*p));
    ASSERT_GT(id, 0) << p->lastError();
    ids.push_back(id);
  }
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), ids.size());
  int consecutive = 0;
  for (std::size_t i = 1; i < ids.size(); ++i) {
    int64_t step = ids[i] - ids[i - 1];
    consecutive += (step >= -16 && step <= 16) ? 1 : 0;
  }
  EXPECT_EQ(consecutive, 0);
  // Uniform over [1, 2^63): about half have bit 62 set, and the ids reach both ends.
  int high = 0;
  for (int64_t id : ids) high += (id >> 62) & 1;
  EXPECT_GT(high, 400);
  EXPECT_LT(high, 600);
  EXPECT_GT(*std::max_element(ids.begin(), ids.end()), int64_t{1} << 62);
  EXPECT_LT(*std::min_element(ids.begin(), ids.end()), int64_t{1} << 56);
}

TEST_F(ShareDriverTest, GuessedIdsAreNotFound) {
  auto a = makeProcess(1);
  auto b = makeProcess(2);
  int64_t real = share(*a, newObject(*a));
  ASSERT_GT(real, 0);
  std::mt19937_64 rng(12345);
  std::vector<int64_t> guesses = {0,
                                  1,
                                  2,
                                  -1,
                                  real + 1,
                                  real - 1,
                                  -real,
                                  std::numeric_limits<int64_t>::max(),
                                  std::numeric_limits<int64_t>::min()};
  for (int i = 0; i < 1000; ++i) guesses.push_back(static_cast<int64_t>(rng() >> 1));
  for (int64_t guess : guesses) {
    if (guess == real) continue;
    EXPECT_EQ(attach(*b, guess), -SELIUM_ERR_NotFound) << guess;
  }
  EXPECT_THAT(b->lastError(), HasSubstr("no shared resource has id"));
  EXPECT_EQ(attach(*b, 1), -SELIUM_ERR_NotFound);
  EXPECT_THAT(b->lastError(), HasSubstr("id 0x1 "));
  EXPECT_EQ(b->handles().size(), 0u);
}

TEST_F(ShareDriverTest, AttachAfterTheObjectDiedIsNotFoundAndItsEntryIsGone) {
  auto a = makeProcess(1);
  auto b = makeProcess(2);
  std::size_t baseline = registry.sharedCount();
  std::weak_ptr<TestObject> weak;
  int64_t id;
  {
    std::shared_ptr<TestObject> object;
    int32_t ha = newObject(*a, HandleKind::Channel, &object);
    weak = object;
    id = share(*a, ha);
    ASSERT_GT(id, 0);
    EXPECT_EQ(registry.sharedCount(), baseline + 1);
    // While B holds a handle the object lives on after A closes its own.
    auto hb = static_cast<int32_t>(attach(*b, id));
    ASSERT_GT(hb, 0);
    ASSERT_EQ(call(*a, "handle_close", {i32(ha)}), 0);
    object.reset();
    EXPECT_GT(attach(*a, id), 0);
    a->handles().clear();
    ASSERT_EQ(call(*b, "handle_close", {i32(hb)}), 0);
  }
  EXPECT_TRUE(weak.expired());
  EXPECT_EQ(registry.sharedCount(), baseline);
  EXPECT_EQ(attach(*b, id), -SELIUM_ERR_NotFound);
  EXPECT_THAT(b->lastError(), HasSubstr(hex(id)));
  EXPECT_EQ(b->handles().size(), 0u);
}

TEST_F(ShareDriverTest, ProcessEndDropsItsHandlesAndWithThemTheIdOfAnObjectNoOneElseHolds) {
  std::size_t live = Resource::liveCount();
  auto a = makeProcess(1);
  auto b = makeProcess(2);
  int64_t id = share(*a, newObject(*a));
  a.reset();
  EXPECT_EQ(registry.sharedCount(), 0u);
  EXPECT_EQ(attach(*b, id), -SELIUM_ERR_NotFound);
  EXPECT_EQ(Resource::liveCount(), live);
}

TEST_F(ShareDriverTest, AnObjectDeadForSharingIsNotFoundAndCannotBeShared) {
  auto a = makeProcess(1);
  auto b = makeProcess(2);
  std::shared_ptr<TestObject> object;
  int32_t ha = newObject(*a, HandleKind::Channel, &object);
  int64_t id = share(*a, ha);
  object->alive_ = false;  // a deleted channel that handles still name
  EXPECT_EQ(attach(*b, id), -SELIUM_ERR_NotFound);
  EXPECT_EQ(share(*a, ha), -SELIUM_ERR_Closed);
  EXPECT_THAT(a->lastError(), HasSubstr("handle " + std::to_string(ha)));
  EXPECT_EQ(b->handles().size(), 0u);
}

TEST_F(ShareDriverTest, WrongKindIsInvalidHandleAndDestroysNothing) {
  auto a = makeProcess(1);
  auto b = makeProcess(2);
  std::shared_ptr<TestObject> object;
  int32_t ha = newObject(*a, HandleKind::Channel, &object);
  int64_t id = share(*a, ha);
  std::size_t live = Resource::liveCount();
  long uses = object.use_count();
  for (int32_t kind :
       {SELIUM_KIND_READER, SELIUM_KIND_WRITER, SELIUM_KIND_TIMER, SELIUM_KIND_PROCESS}) {
    EXPECT_EQ(attach(*b, id, kind), -SELIUM_ERR_InvalidHandle) << kind;
  }
  EXPECT_THAT(b->lastError(),
              AllOf(HasSubstr(hex(id)), HasSubstr("channel"), HasSubstr("process")));
  EXPECT_EQ(attach(*b, id, SELIUM_KIND_READER), -SELIUM_ERR_InvalidHandle);
  EXPECT_THAT(b->lastError(), AllOf(HasSubstr("names a channel"), HasSubstr("not a reader")));
  // Nothing was destroyed or created: the original handle, the object and its id still work.
  EXPECT_EQ(Resource::liveCount(), live);
  EXPECT_EQ(object.use_count(), uses);
  EXPECT_TRUE(object->attached_by.empty());
  EXPECT_EQ(b->handles().size(), 0u);
  EXPECT_EQ(call(*a, "handle_kind", {i32(ha)}), SELIUM_KIND_CHANNEL);
  EXPECT_EQ(share(*a, ha), id);
  int64_t hb = attach(*b, id, SELIUM_KIND_CHANNEL);
  ASSERT_GT(hb, 0);
  EXPECT_EQ(&handle(*b, hb)->object(), object.get());
}

TEST_F(ShareDriverTest, UnknownKindNumberIsInvalidArgument) {
  auto a = makeProcess(1);
  int64_t id = share(*a, newObject(*a));
  for (int32_t kind : {64, -1, 255, 1000, std::numeric_limits<int32_t>::min()}) {
    EXPECT_EQ(attach(*a, id, kind), -SELIUM_ERR_InvalidArgument) << kind;
    EXPECT_THAT(a->lastError(), HasSubstr("unknown handle kind " + std::to_string(kind)));
    EXPECT_EQ(lookupAt(*a, putId(0, 1), kind), -SELIUM_ERR_InvalidArgument) << kind;
  }
  EXPECT_EQ(a->handles().size(), 1u);
}

TEST_F(ShareDriverTest, AttachIntoAFullHandleTableIsLimitExceededAndLeaksNothing) {
  auto a = makeProcess(1);
  auto b = makeProcess(2, /*max_handles=*/2);
  std::shared_ptr<TestObject> object;
  int32_t ha = newObject(*a, HandleKind::Channel, &object);
  int64_t id = share(*a, ha);
  ASSERT_GT(attach(*b, id), 0);
  ASSERT_GT(attach(*b, id), 0);
  std::size_t live = Resource::liveCount();
  long uses = object.use_count();
  EXPECT_EQ(attach(*b, id), -SELIUM_ERR_LimitExceeded);
  EXPECT_THAT(b->lastError(), HasSubstr("too many open handles"));
  EXPECT_EQ(Resource::liveCount(), live);
  EXPECT_EQ(object.use_count(), uses);
  EXPECT_EQ(b->handles().size(), 2u);
  // The same through a singleton.
  uint32_t key = putId(64, 9);
  ASSERT_EQ(registerAt(*a, key, ha), 0) << a->lastError();
  EXPECT_EQ(lookupAt(*b, key), -SELIUM_ERR_LimitExceeded);
  EXPECT_EQ(Resource::liveCount(), live);
  EXPECT_EQ(object.use_count(), uses);
}

TEST_F(ShareDriverTest, TimersCannotBeSharedOrRegistered) {
  auto p = makeProcess(1);
  auto timer = static_cast<int32_t>(call(*p, "timer_create", {i64(1'000'000'000)}));
  ASSERT_GT(timer, 0);
  EXPECT_EQ(share(*p, timer), -SELIUM_ERR_Unsupported);
  EXPECT_THAT(p->lastError(),
              AllOf(HasSubstr("handle " + std::to_string(timer)), HasSubstr("timer")));
  EXPECT_EQ(registerAt(*p, putId(0, 1), timer), -SELIUM_ERR_Unsupported);
  EXPECT_THAT(p->lastError(), HasSubstr("timer"));
  EXPECT_EQ(registry.sharedCount(), 0u);
  EXPECT_EQ(registry.singletonCount(), 0u);
  EXPECT_EQ(call(*p, "timer_poll", {i32(timer), i32(1)}), -SELIUM_ERR_WouldBlock);
}

TEST_F(ShareDriverTest, SharingABadHandleIsInvalidHandle) {
  auto p = makeProcess(1);
  for (int32_t bad : {0, -5, 12345}) {
    EXPECT_EQ(share(*p, bad), -SELIUM_ERR_InvalidHandle);
    EXPECT_THAT(p->lastError(), HasSubstr("handle " + std::to_string(bad)));
    EXPECT_EQ(registerAt(*p, putId(0, 1), bad), -SELIUM_ERR_InvalidHandle);
  }
  EXPECT_EQ(registry.sharedCount(), 0u);
  EXPECT_EQ(registry.singletonCount(), 0u);
}

TEST_F(ShareDriverTest, SingletonRoundTripGivesTheCallerItsOwnHandle) {
  auto a = makeProcess(1);
  auto b = makeProcess(2);
  std::shared_ptr<TestObject> object;
  int32_t ha = newObject(*a, HandleKind::Writer, &object);
  uint32_t key = putId(100, 0xa0);
  ASSERT_EQ(registerAt(*a, key, ha), 0) << a->lastError();
  EXPECT_EQ(registry.singletonCount(), 1u);
  int64_t hb = lookupAt(*b, key, SELIUM_KIND_WRITER);
  ASSERT_GT(hb, 0) << b->lastError();
  EXPECT_EQ(&handle(*b, hb)->object(), object.get());
  EXPECT_EQ(object->attached_by, std::vector<ProcessId>{2});
  EXPECT_EQ(a->handles().size(), 1u);
  // The registrant's own lookup gives it a second handle, not the one it registered.
  int64_t ha2 = lookupAt(*a, key);
  ASSERT_GT(ha2, 0);
  EXPECT_NE(ha2, ha);
  EXPECT_EQ(&handle(*a, ha2)->object(), object.get());
  // Registering shares nothing: no shared id was made.
  EXPECT_EQ(registry.sharedCount(), 0u);
}

TEST_F(ShareDriverTest, ASecondRegisterOfTheSameIdIsAlreadyExists) {
  auto a = makeProcess(1);
  auto b = makeProcess(2);
  std::shared_ptr<TestObject> first;
  int32_t ha = newObject(*a, HandleKind::Channel, &first);
  uint32_t key = putId(0, 0x10);
  ASSERT_EQ(registerAt(*a, key, ha), 0);
  EXPECT_EQ(registerAt(*a, key, ha), -SELIUM_ERR_AlreadyExists);
  EXPECT_EQ(registerAt(*a, key, newObject(*a)), -SELIUM_ERR_AlreadyExists);
  EXPECT_EQ(registerAt(*b, key, newObject(*b)), -SELIUM_ERR_AlreadyExists);
  EXPECT_THAT(b->lastError(), AllOf(HasSubstr("101112131415161718191a1b1c1d1e1f"),
                                    HasSubstr("registered already")));
  // The entry still names the first object.
  int64_t hb = lookupAt(*b, key);
  ASSERT_GT(hb, 0);
  EXPECT_EQ(&handle(*b, hb)->object(), first.get());
  // The same object may be registered under another id too.
  EXPECT_EQ(registerAt(*a, putId(32, 0x77), ha), 0);
  EXPECT_EQ(registry.singletonCount(), 2u);
}

TEST_F(ShareDriverTest, RegistrantsEndReleasesItsSingletons) {
  for (bool destroy : {false, true}) {
    auto a = makeProcess(1);
    auto b = makeProcess(2);
    std::shared_ptr<TestObject> object;
    uint32_t key = putId(0, 0x20);
    ASSERT_EQ(registerAt(*a, key, newObject(*a, HandleKind::Channel, &object)), 0);
    // B keeps the object alive: the entry still goes with its registrant.
    int64_t hb = lookupAt(*b, key);
    ASSERT_GT(hb, 0);
    if (destroy) {
      a.reset();
    } else {
      a->releaseResources();
    }
    EXPECT_EQ(registry.singletonCount(), 0u);
    EXPECT_EQ(lookupAt(*b, key), -SELIUM_ERR_NotFound) << destroy;
    EXPECT_THAT(b->lastError(), HasSubstr("no singleton is registered under id 2021"));
    // The id is free: B registers its handle for the same object, and C finds it.
    ASSERT_EQ(registerAt(*b, key, static_cast<int32_t>(hb)), 0) << b->lastError();
    auto c = makeProcess(3);
    int64_t hc = lookupAt(*c, key);
    ASSERT_GT(hc, 0);
    EXPECT_EQ(&handle(*c, hc)->object(), object.get());
    b.reset();
    c.reset();
    EXPECT_EQ(registry.singletonCount(), 0u);
  }
}

TEST_F(ShareDriverTest, AnotherProcessEndingLeavesTheSingletonAlone) {
  auto a = makeProcess(1);
  auto b = makeProcess(2);
  uint32_t key = putId(0, 0x30);
  ASSERT_EQ(registerAt(*a, key, newObject(*a)), 0);
  ASSERT_GT(lookupAt(*b, key), 0);
  b.reset();
  auto c = makeProcess(3);
  EXPECT_GT(lookupAt(*c, key), 0);
  EXPECT_EQ(registry.singletonCount(), 1u);
}

TEST_F(ShareDriverTest, AnIdWhoseObjectDiedIsFreeAgain) {
  auto a = makeProcess(1);
  auto b = makeProcess(2);
  std::size_t live = Resource::liveCount();
  uint32_t key = putId(0, 0x40);
  int32_t ha = newObject(*a);
  ASSERT_EQ(registerAt(*a, key, ha), 0);
  ASSERT_EQ(call(*a, "handle_close", {i32(ha)}), 0);  // the only handle: the object dies
  EXPECT_EQ(registry.singletonCount(), 0u);
  EXPECT_EQ(lookupAt(*b, key), -SELIUM_ERR_NotFound);
  // The registrant still runs, yet anyone may take the id now.
  std::shared_ptr<TestObject> second;
  ASSERT_EQ(registerAt(*b, key, newObject(*b, HandleKind::Reader, &second)), 0) << b->lastError();
  int64_t h = lookupAt(*a, key, SELIUM_KIND_READER);
  ASSERT_GT(h, 0);
  EXPECT_EQ(&handle(*a, h)->object(), second.get());
  // A ending does not take B's entry with it.
  a.reset();
  EXPECT_EQ(registry.singletonCount(), 1u);
  b.reset();
  EXPECT_EQ(Resource::liveCount(), live);
}

TEST_F(ShareDriverTest, ASingletonDeadForSharingIsNotFoundAndItsIdCanBeTaken) {
  auto a = makeProcess(1);
  auto b = makeProcess(2);
  std::shared_ptr<TestObject> object;
  uint32_t key = putId(0, 0x50);
  ASSERT_EQ(registerAt(*a, key, newObject(*a, HandleKind::Channel, &object)), 0);
  object->alive_ = false;
  EXPECT_EQ(lookupAt(*b, key), -SELIUM_ERR_NotFound);
  std::shared_ptr<TestObject> second;
  ASSERT_EQ(registerAt(*b, key, newObject(*b, HandleKind::Channel, &second)), 0);
  // The first object's end must not remove the entry that now names the second.
  a.reset();
  object.reset();
  int64_t h = lookupAt(*b, key);
  ASSERT_GT(h, 0) << b->lastError();
  EXPECT_EQ(&handle(*b, h)->object(), second.get());
}

TEST_F(ShareDriverTest, SingletonLookupOfTheWrongKindIsInvalidHandleAndRevealsNoSharedId) {
  auto a = makeProcess(1);
  auto b = makeProcess(2);
  std::shared_ptr<TestObject> object;
  int32_t ha = newObject(*a, HandleKind::Channel, &object);
  int64_t id = share(*a, ha);  // the object also has a shared id, which B must not learn
  uint32_t key = putId(0, 0x60);
  ASSERT_EQ(registerAt(*a, key, ha), 0);
  std::size_t live = Resource::liveCount();
  EXPECT_EQ(lookupAt(*b, key, SELIUM_KIND_READER), -SELIUM_ERR_InvalidHandle);
  EXPECT_THAT(b->lastError(), AllOf(HasSubstr("is a channel, not a reader"),
                                    HasSubstr("606162636465666768696a6b6c6d6e6f"),
                                    Not(HasSubstr(hex(id).substr(2)))));
  EXPECT_EQ(Resource::liveCount(), live);
  EXPECT_EQ(b->handles().size(), 0u);
  EXPECT_EQ(registerAt(*b, key, newObject(*b)), -SELIUM_ERR_AlreadyExists);
  EXPECT_THAT(b->lastError(), Not(HasSubstr(hex(id).substr(2))));
  EXPECT_EQ(call(*a, "handle_kind", {i32(ha)}), SELIUM_KIND_CHANNEL);
  EXPECT_GT(lookupAt(*b, key, SELIUM_KIND_CHANNEL), 0);
}

TEST_F(ShareDriverTest, SingletonIdOutsideGuestMemoryIsOutOfBounds) {
  auto p = makeProcess(1);
  int32_t h = newObject(*p);
  auto size = static_cast<uint32_t>(memory.size());
  for (uint32_t address : {size - 15, size, size + 100, 0xFFFFFFF8u, 0xFFFFFFFFu}) {
    EXPECT_EQ(registerAt(*p, address, h), -SELIUM_ERR_OutOfBounds) << address;
    EXPECT_THAT(p->lastError(),
                AllOf(HasSubstr("singleton id"), HasSubstr(std::to_string(address))));
    EXPECT_EQ(lookupAt(*p, address), -SELIUM_ERR_OutOfBounds) << address;
  }
  EXPECT_EQ(registry.singletonCount(), 0u);
  // The last 16 bytes of memory are in bounds.
  EXPECT_EQ(registerAt(*p, putId(size - 16, 1), h), 0) << p->lastError();
  EXPECT_GT(lookupAt(*p, size - 16), 0);
  // A process without memory has no valid address at all.
  std::vector<uint8_t> saved = std::move(memory);
  memory.clear();
  EXPECT_EQ(registerAt(*p, 0, h), -SELIUM_ERR_OutOfBounds);
  memory = std::move(saved);
}

TEST_F(ShareDriverTest, SingletonLookupOfAnUnknownIdIsNotFound) {
  auto p = makeProcess(1);
  EXPECT_EQ(lookupAt(*p, putId(0, 0)), -SELIUM_ERR_NotFound);
  EXPECT_THAT(p->lastError(), HasSubstr("000102030405060708090a0b0c0d0e0f"));
  EXPECT_EQ(p->handles().size(), 0u);
}

TEST_F(ShareDriverTest, SingletonsNeedTheirCapabilities) {
  ProcessConfig config;
  config.id = 9;
  Process p(std::move(config), loop, host, nullptr);
  int32_t h = newObject(p);
  EXPECT_EQ(registerAt(p, putId(0, 1), h), -SELIUM_ERR_PermissionDenied);
  EXPECT_EQ(lookupAt(p, 0), -SELIUM_ERR_PermissionDenied);
  EXPECT_EQ(registry.singletonCount(), 0u);
  // Sharing needs none.
  EXPECT_GT(share(p, h), 0);
}

}  // namespace
}  // namespace selium::kernel
