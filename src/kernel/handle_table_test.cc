#include "kernel/handle_table.h"

#include <gtest/gtest.h>

#include <set>

namespace selium::kernel {
namespace {

class Probe final : public Resource {
 public:
  explicit Probe(int* destroyed, HandleKind kind = HandleKind::Timer)
      : destroyed_(destroyed), kind_(kind) {}
  ~Probe() override { ++*destroyed_; }
  HandleKind kind() const override { return kind_; }

 private:
  int* destroyed_;
  HandleKind kind_;
};

int32_t insertOk(HandleTable& table, std::unique_ptr<Resource> r) {
  auto result = table.insert(std::move(r));
  EXPECT_TRUE(std::holds_alternative<int32_t>(result));
  return std::holds_alternative<int32_t>(result) ? std::get<int32_t>(result) : 0;
}

TEST(HandleTable, HandlesArePositiveAndDistinct) {
  int destroyed = 0;
  HandleTable table;
  std::set<int32_t> seen;
  for (int i = 0; i < 100; ++i) {
    int32_t h = insertOk(table, std::make_unique<Probe>(&destroyed));
    EXPECT_GT(h, 0);
    EXPECT_TRUE(seen.insert(h).second);
  }
  EXPECT_EQ(table.size(), 100u);
}

TEST(HandleTable, RejectsHandleOfWrongKind) {
  int destroyed = 0;
  HandleTable table;
  int32_t h = insertOk(table, std::make_unique<Probe>(&destroyed, HandleKind::Test));
  EXPECT_EQ(table.get(h, HandleKind::Timer), nullptr);
  EXPECT_NE(table.get(h, HandleKind::Test), nullptr);
}

TEST(HandleTable, GetWithoutAKindFindsOnlyLiveHandles) {
  int destroyed = 0;
  HandleTable table;
  int32_t h = insertOk(table, std::make_unique<Probe>(&destroyed, HandleKind::Channel));
  ASSERT_NE(table.get(h), nullptr);
  EXPECT_EQ(table.get(h)->kind(), HandleKind::Channel);
  for (int32_t bad : {0, -1, h + 1, h ^ (1 << HandleTable::kIndexBits)}) {
    EXPECT_EQ(table.get(bad), nullptr) << bad;
  }
  ASSERT_TRUE(table.remove(h));
  EXPECT_EQ(table.get(h), nullptr);
}

TEST(HandleTable, KindNamesAndGuestKinds) {
  EXPECT_EQ(kindName(HandleKind::Timer), "timer");
  EXPECT_EQ(kindName(HandleKind::Channel), "channel");
  EXPECT_EQ(kindName(HandleKind::Reader), "reader");
  EXPECT_EQ(kindName(HandleKind::Writer), "writer");
  EXPECT_EQ(kindName(HandleKind::Process), "process");
  EXPECT_EQ(kindName(HandleKind::TlsConfig), "TLS configuration");
  EXPECT_EQ(kindName(HandleKind::HttpListener), "HTTP listener");
  EXPECT_EQ(kindName(HandleKind::HttpRequest), "HTTP request");
  using Parsed = std::variant<std::optional<HandleKind>, ErrorCode>;
  EXPECT_EQ(guestKind(SELIUM_KIND_ANY), Parsed(std::optional<HandleKind>()));
  EXPECT_EQ(guestKind(SELIUM_KIND_READER), Parsed(std::optional(HandleKind::Reader)));
  EXPECT_EQ(guestKind(SELIUM_KIND_PROCESS), Parsed(std::optional(HandleKind::Process)));
  // The tests' own kind is not one a guest can name.
  for (int32_t bad : {-1, 64, static_cast<int32_t>(HandleKind::Test), 1 << 20}) {
    EXPECT_EQ(guestKind(bad), Parsed(ErrorCode::InvalidArgument)) << bad;
  }
}

TEST(HandleTable, StaleHandleIsNeverMistakenForItsSlotsNewResource) {
  int destroyed = 0;
  HandleTable table;
  int32_t old_handle = insertOk(table, std::make_unique<Probe>(&destroyed));
  EXPECT_TRUE(table.remove(old_handle));
  EXPECT_EQ(destroyed, 1);
  int32_t new_handle = insertOk(table, std::make_unique<Probe>(&destroyed));
  EXPECT_NE(new_handle, old_handle);  // same slot, new generation
  EXPECT_EQ(table.get(old_handle, HandleKind::Timer), nullptr);
  EXPECT_FALSE(table.remove(old_handle));
  EXPECT_NE(table.get(new_handle, HandleKind::Timer), nullptr);
}

TEST(HandleTable, RejectsNeverIssuedZeroAndNegativeHandles) {
  int destroyed = 0;
  HandleTable table;
  int32_t h = insertOk(table, std::make_unique<Probe>(&destroyed));
  for (int32_t bogus : {0, -1, INT32_MIN, INT32_MAX, h + 1, h ^ (1 << 20), 12345}) {
    EXPECT_EQ(table.get(bogus, HandleKind::Timer), nullptr) << bogus;
    EXPECT_FALSE(table.remove(bogus)) << bogus;
  }
  EXPECT_EQ(table.size(), 1u);
}

TEST(HandleTable, DoubleCloseFailsTheSecondTime) {
  int destroyed = 0;
  HandleTable table;
  int32_t h = insertOk(table, std::make_unique<Probe>(&destroyed));
  EXPECT_TRUE(table.remove(h));
  EXPECT_FALSE(table.remove(h));
  EXPECT_EQ(destroyed, 1);
}

TEST(HandleTable, LimitIsEnforcedAndFreedSlotsAreReused) {
  int destroyed = 0;
  HandleTable table(3);
  int32_t a = insertOk(table, std::make_unique<Probe>(&destroyed));
  insertOk(table, std::make_unique<Probe>(&destroyed));
  insertOk(table, std::make_unique<Probe>(&destroyed));
  auto full = table.insert(std::make_unique<Probe>(&destroyed));
  ASSERT_TRUE(std::holds_alternative<ErrorCode>(full));
  EXPECT_EQ(std::get<ErrorCode>(full), ErrorCode::LimitExceeded);
  EXPECT_EQ(destroyed, 1);  // the rejected resource was released, not leaked
  EXPECT_TRUE(table.remove(a));
  insertOk(table, std::make_unique<Probe>(&destroyed));
  EXPECT_EQ(table.size(), 3u);
}

TEST(HandleTable, StaleHandleIsRejectedAfterItsSlotRunsOutOfGenerations) {
  int destroyed = 0;
  HandleTable table(2);
  int32_t first = insertOk(table, std::make_unique<Probe>(&destroyed));
  ASSERT_TRUE(table.remove(first));
  std::set<int32_t> issued{first};
  // Open and close one handle past the point where an 11-bit generation would wrap: the freed
  // slot is reused until its generations run out, then the other one takes over.
  for (uint32_t i = 0; i < HandleTable::kMaxGeneration + 10; ++i) {
    int32_t h = insertOk(table, std::make_unique<Probe>(&destroyed));
    ASSERT_GT(h, 0);
    ASSERT_TRUE(issued.insert(h).second) << "handle " << h << " issued twice, at reuse " << i;
    ASSERT_EQ(table.get(first, HandleKind::Timer), nullptr) << "at reuse " << i;
    ASSERT_FALSE(table.remove(first));
    ASSERT_TRUE(table.remove(h));
  }
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(destroyed, static_cast<int>(HandleTable::kMaxGeneration) + 11);
}

TEST(HandleTable, TableWhoseSlotsAreAllRetiredIsFull) {
  int destroyed = 0;
  HandleTable table(2);
  int32_t held = insertOk(table, std::make_unique<Probe>(&destroyed));
  // Burn every generation of the other slot while `held` stays open.
  std::set<int32_t> issued{held};
  for (uint32_t i = 0; i < HandleTable::kMaxGeneration; ++i) {
    int32_t h = insertOk(table, std::make_unique<Probe>(&destroyed));
    ASSERT_TRUE(issued.insert(h).second);
    ASSERT_TRUE(table.remove(h));
  }
  auto full = table.insert(std::make_unique<Probe>(&destroyed));
  ASSERT_TRUE(std::holds_alternative<ErrorCode>(full));
  EXPECT_EQ(std::get<ErrorCode>(full), ErrorCode::LimitExceeded);
  EXPECT_EQ(destroyed, static_cast<int>(HandleTable::kMaxGeneration) + 1);  // the rejected one
  EXPECT_NE(table.get(held, HandleKind::Timer), nullptr);
  EXPECT_EQ(table.size(), 1u);

  // Closing the held handle gives its slot back, with its remaining generations.
  ASSERT_TRUE(table.remove(held));
  int32_t next = insertOk(table, std::make_unique<Probe>(&destroyed));
  EXPECT_TRUE(issued.insert(next).second);
  EXPECT_EQ(next & ((1 << HandleTable::kIndexBits) - 1),
            held & ((1 << HandleTable::kIndexBits) - 1));

  // Once both slots are used up, nothing is issued again and no old handle comes back to life.
  ASSERT_TRUE(table.remove(next));
  for (;;) {
    auto result = table.insert(std::make_unique<Probe>(&destroyed));
    if (std::holds_alternative<ErrorCode>(result)) {
      EXPECT_EQ(std::get<ErrorCode>(result), ErrorCode::LimitExceeded);
      break;
    }
    int32_t h = std::get<int32_t>(result);
    ASSERT_TRUE(issued.insert(h).second);
    ASSERT_TRUE(table.remove(h));
  }
  EXPECT_EQ(issued.size(), 2u * HandleTable::kMaxGeneration);  // every (slot, generation) once
  for (int32_t h : issued) ASSERT_EQ(table.get(h, HandleKind::Timer), nullptr) << h;
  EXPECT_EQ(table.size(), 0u);
  EXPECT_TRUE(std::holds_alternative<ErrorCode>(table.insert(std::make_unique<Probe>(&destroyed))));
}

TEST(HandleTable, ClearReleasesEverything) {
  int destroyed = 0;
  {
    HandleTable table;
    for (int i = 0; i < 10; ++i) insertOk(table, std::make_unique<Probe>(&destroyed));
    table.clear();
    EXPECT_EQ(destroyed, 10);
    EXPECT_EQ(table.size(), 0u);
    insertOk(table, std::make_unique<Probe>(&destroyed));
  }
  EXPECT_EQ(destroyed, 11);  // the destructor releases what is left
}

}  // namespace
}  // namespace selium::kernel
