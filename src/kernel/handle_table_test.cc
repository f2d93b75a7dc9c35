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

TEST(HandleTable, GenerationWrapsWithoutProducingZeroOrNegative) {
  int destroyed = 0;
  HandleTable table(1);
  for (uint32_t i = 0; i < HandleTable::kMaxGeneration + 5; ++i) {
    int32_t h = insertOk(table, std::make_unique<Probe>(&destroyed));
    ASSERT_GT(h, 0);
    ASSERT_TRUE(table.remove(h));
  }
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
