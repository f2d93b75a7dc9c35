// The registry on its own: shared ids, singletons, their lifetimes, and concurrent use from
// several threads (run under ThreadSanitizer too).
#include "kernel/registry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace selium::kernel {
namespace {

class Object final : public Shareable {
 public:
  explicit Object(HandleKind kind = HandleKind::Channel) : kind_(kind) {}
  HandleKind kind() const override { return kind_; }
  std::unique_ptr<Resource> attach(Process&) override { return nullptr; }
  bool alive() const override { return alive_.load(std::memory_order_relaxed); }
  void kill() { alive_.store(false, std::memory_order_relaxed); }

 private:
  HandleKind kind_;
  std::atomic<bool> alive_{true};
};

Registry::SingletonId idOf(uint8_t seed) {
  Registry::SingletonId id{};
  for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(seed * 31 + i);
  return id;
}

TEST(Registry, ShareGivesOnePositiveIdPerObject) {
  Registry registry;
  auto a = std::make_shared<Object>();
  auto b = std::make_shared<Object>();
  int64_t ia = registry.share(a);
  EXPECT_GT(ia, 0);
  EXPECT_EQ(registry.share(a), ia);
  int64_t ib = registry.share(b);
  EXPECT_GT(ib, 0);
  EXPECT_NE(ia, ib);
  EXPECT_EQ(registry.sharedCount(), 2u);
  EXPECT_EQ(registry.lookup(ia, std::nullopt).object, a);
  EXPECT_EQ(registry.lookup(ib, HandleKind::Channel).object, b);
}

TEST(Registry, IdDiesWithItsObject) {
  Registry registry;
  auto a = std::make_shared<Object>();
  int64_t id = registry.share(a);
  a.reset();
  EXPECT_EQ(registry.sharedCount(), 0u);
  Registry::Found found = registry.lookup(id, std::nullopt);
  EXPECT_EQ(found.object, nullptr);
  EXPECT_EQ(found.error, ErrorCode::NotFound);
}

TEST(Registry, UnknownIdsAreNotFound) {
  Registry registry;
  auto a = std::make_shared<Object>();
  int64_t id = registry.share(a);
  for (int64_t guess : {int64_t{0}, int64_t{1}, int64_t{-1}, id + 1, id - 1, -id}) {
    Registry::Found found = registry.lookup(guess, std::nullopt);
    EXPECT_EQ(found.object, nullptr) << guess;
    EXPECT_EQ(found.error, ErrorCode::NotFound) << guess;
  }
}

TEST(Registry, WrongKindIsInvalidHandleWithTheActualKindAndChangesNothing) {
  Registry registry;
  auto a = std::make_shared<Object>(HandleKind::Reader);
  int64_t id = registry.share(a);
  long uses = a.use_count();
  Registry::Found found = registry.lookup(id, HandleKind::Writer);
  EXPECT_EQ(found.object, nullptr);
  EXPECT_EQ(found.error, ErrorCode::InvalidHandle);
  EXPECT_EQ(found.actual, HandleKind::Reader);
  EXPECT_EQ(a.use_count(), uses);
  EXPECT_EQ(registry.sharedCount(), 1u);
  EXPECT_EQ(registry.lookup(id, HandleKind::Reader).object, a);
}

TEST(Registry, ObjectDeadForSharingIsNotFound) {
  Registry registry;
  auto a = std::make_shared<Object>();
  int64_t id = registry.share(a);
  auto key = idOf(1);
  ASSERT_FALSE(registry.registerSingleton(key, a, 1));
  a->kill();
  EXPECT_EQ(registry.lookup(id, std::nullopt).error, ErrorCode::NotFound);
  EXPECT_EQ(registry.lookup(id, HandleKind::Reader).error, ErrorCode::NotFound);
  EXPECT_EQ(registry.lookupSingleton(key, std::nullopt).object, nullptr);
}

TEST(Registry, AnObjectBelongsToOneRegistry) {
  Registry first;
  Registry second;
  auto a = std::make_shared<Object>();
  first.share(a);
  EXPECT_THROW(second.share(a), std::logic_error);
  EXPECT_THROW(second.registerSingleton(idOf(1), a, 1), std::logic_error);
  EXPECT_EQ(second.sharedCount(), 0u);
  EXPECT_EQ(second.singletonCount(), 0u);
}

TEST(Registry, ObjectsMayOutliveTheirRegistry) {
  auto a = std::make_shared<Object>();
  auto released = std::make_shared<Object>();  // its only entry was released before the end
  auto replaced = std::make_shared<Object>();  // its entry went to another object
  {
    Registry registry;
    registry.share(a);
    ASSERT_FALSE(registry.registerSingleton(idOf(1), a, 1));
    ASSERT_FALSE(registry.registerSingleton(idOf(2), released, 2));
    registry.releaseSingletons(2);
    ASSERT_FALSE(registry.registerSingleton(idOf(3), replaced, 3));
    replaced->kill();
    ASSERT_FALSE(registry.registerSingleton(idOf(3), a, 1));
  }
  // None of them may reach the registry that is gone (ASan: no use after free).
  a.reset();
  released.reset();
  replaced.reset();
  Registry again;
  auto b = std::make_shared<Object>();
  EXPECT_GT(again.share(b), 0);
}

TEST(Registry, SingletonIdTakenByALiveObjectIsAlreadyExists) {
  Registry registry;
  auto a = std::make_shared<Object>();
  auto b = std::make_shared<Object>();
  auto key = idOf(2);
  EXPECT_EQ(registry.registerSingleton(key, a, 1), std::nullopt);
  EXPECT_EQ(registry.registerSingleton(key, b, 2), ErrorCode::AlreadyExists);
  EXPECT_EQ(registry.registerSingleton(key, a, 1), ErrorCode::AlreadyExists);
  EXPECT_EQ(registry.lookupSingleton(key, std::nullopt).object, a);
  EXPECT_EQ(registry.singletonCount(), 1u);
  EXPECT_EQ(registry.sharedCount(), 0u);  // a singleton is not a shared id
}

TEST(Registry, ReleaseSingletonsDropsOnlyThatOwnersEntries) {
  Registry registry;
  auto a = std::make_shared<Object>();
  auto b = std::make_shared<Object>();
  ASSERT_FALSE(registry.registerSingleton(idOf(1), a, 1));
  ASSERT_FALSE(registry.registerSingleton(idOf(2), a, 1));
  ASSERT_FALSE(registry.registerSingleton(idOf(3), b, 2));
  registry.releaseSingletons(1);
  EXPECT_EQ(registry.singletonCount(), 1u);
  EXPECT_EQ(registry.lookupSingleton(idOf(1), std::nullopt).error, ErrorCode::NotFound);
  EXPECT_EQ(registry.lookupSingleton(idOf(3), std::nullopt).object, b);
  EXPECT_EQ(registry.registerSingleton(idOf(1), b, 2), std::nullopt);
}

TEST(Registry, SingletonEntryGoesWithItsObject) {
  Registry registry;
  auto a = std::make_shared<Object>();
  ASSERT_FALSE(registry.registerSingleton(idOf(1), a, 1));
  a.reset();
  EXPECT_EQ(registry.singletonCount(), 0u);
  auto b = std::make_shared<Object>();
  EXPECT_EQ(registry.registerSingleton(idOf(1), b, 2), std::nullopt);
  EXPECT_EQ(registry.lookupSingleton(idOf(1), std::nullopt).object, b);
}

TEST(Registry, AnOldObjectsEndLeavesTheEntryThatReplacedItAlone) {
  Registry registry;
  auto old_object = std::make_shared<Object>();
  auto key = idOf(4);
  ASSERT_FALSE(registry.registerSingleton(key, old_object, 1));
  old_object->kill();  // dead for sharing, still referenced
  auto replacement = std::make_shared<Object>();
  ASSERT_EQ(registry.registerSingleton(key, replacement, 2), std::nullopt);
  old_object.reset();
  EXPECT_EQ(registry.lookupSingleton(key, std::nullopt).object, replacement);
  // The same after the first owner's entries were released and the id taken by someone else.
  auto first = std::make_shared<Object>();
  ASSERT_FALSE(registry.registerSingleton(idOf(5), first, 3));
  registry.releaseSingletons(3);
  auto second = std::make_shared<Object>();
  ASSERT_FALSE(registry.registerSingleton(idOf(5), second, 4));
  first.reset();
  EXPECT_EQ(registry.lookupSingleton(idOf(5), std::nullopt).object, second);
}

TEST(Registry, SingletonLookupChecksTheKind) {
  Registry registry;
  auto a = std::make_shared<Object>(HandleKind::Writer);
  ASSERT_FALSE(registry.registerSingleton(idOf(1), a, 1));
  Registry::Found found = registry.lookupSingleton(idOf(1), HandleKind::Channel);
  EXPECT_EQ(found.error, ErrorCode::InvalidHandle);
  EXPECT_EQ(found.actual, HandleKind::Writer);
  EXPECT_EQ(registry.lookupSingleton(idOf(1), HandleKind::Writer).object, a);
}

TEST(Registry, IdsAreSpreadOverThePositiveInt64Range) {
  Registry registry;
  std::vector<std::shared_ptr<Object>> objects;
  std::set<int64_t> ids;
  int high = 0;
  for (int i = 0; i < 1000; ++i) {
    objects.push_back(std::make_shared<Object>());
    int64_t id = registry.share(objects.back());
    ASSERT_GT(id, 0);
    ids.insert(id);
    high += (id >> 62) & 1;
  }
  EXPECT_EQ(ids.size(), 1000u);
  EXPECT_GT(high, 400);
  EXPECT_LT(high, 600);
  objects.clear();
  EXPECT_EQ(registry.sharedCount(), 0u);
}

// Threads share, look up, register and drop objects at once; every id and entry must be gone at
// the end, and ThreadSanitizer must see no race.
TEST(Registry, ConcurrentShareLookupRegisterAndDropLeaveNothingBehind) {
  Registry registry;
  constexpr int kThreads = 4;
  constexpr int kRounds = 2000;
  std::mutex published_mutex;
  std::vector<int64_t> published;  // ids any thread may look up, some long dead
  std::atomic<int> found_alive{0};
  std::atomic<int> registered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t) * 7919u + 1u);
      std::vector<std::shared_ptr<Object>> held;
      auto owner = static_cast<ProcessId>(t + 1);
      for (int round = 0; round < kRounds; ++round) {
        auto object =
            std::make_shared<Object>(rng() % 2 ? HandleKind::Channel : HandleKind::Reader);
        int64_t id = registry.share(object);
        EXPECT_EQ(registry.share(object), id);
        {
          std::lock_guard lock(published_mutex);
          published.push_back(id);
        }
        held.push_back(std::move(object));
        // Look up someone's id (maybe dead, maybe of another kind): it is found or it is not.
        int64_t other;
        {
          std::lock_guard lock(published_mutex);
          other = published[rng() % published.size()];
        }
        Registry::Found found =
            registry.lookup(other, rng() % 3 ? std::nullopt : std::optional(HandleKind::Reader));
        if (found.object != nullptr) {
          found_alive.fetch_add(1, std::memory_order_relaxed);
        } else {
          EXPECT_TRUE(found.error == ErrorCode::NotFound ||
                      found.error == ErrorCode::InvalidHandle);
        }
        // Singletons on a few shared ids, so threads contend for them.
        auto key = idOf(static_cast<uint8_t>(rng() % 8));
        if (!registry.registerSingleton(key, held.back(), owner)) {
          registered.fetch_add(1, std::memory_order_relaxed);
        }
        (void)registry.lookupSingleton(key, std::nullopt);
        if (rng() % 50 == 0) registry.releaseSingletons(owner);
        if (rng() % 4 == 0) registry.lookupSingleton(key, HandleKind::Channel).object.reset();
        // Drop objects in random order, keeping a few alive for others to find.
        while (held.size() > 8) {
          held.erase(held.begin() + static_cast<long>(rng() % held.size()));
        }
        if (rng() % 3 == 0) found.object.reset();
      }
      held.clear();
      registry.releaseSingletons(owner);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_GT(found_alive.load(), 0);
  EXPECT_GT(registered.load(), 0);
  EXPECT_EQ(registry.sharedCount(), 0u);
  EXPECT_EQ(registry.singletonCount(), 0u);
}

}  // namespace
}  // namespace selium::kernel
