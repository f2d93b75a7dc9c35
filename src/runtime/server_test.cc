// Start-up preparation of module specs: many specs of one module cost one read and one load.
#include "runtime/server.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace selium::runtime {
namespace {

namespace fs = std::filesystem;

ModuleToStart specOf(std::size_t number, const std::string& path,
                     std::optional<uint64_t> max_memory = std::nullopt) {
  ModuleToStart m;
  m.spec.number = number;
  m.spec.path = path;
  m.spec.max_memory = max_memory;
  m.file = fs::path(SELIUM_GUEST_DIR) / path;
  return m;
}

class PrepareModules : public ::testing::Test {
 protected:
  // Reads through readModuleFile, counting the reads of each file.
  ModuleFileReader countingReader() {
    return [this](const fs::path& file) {
      ++reads_[file.filename().string()];
      return readModuleFile(file);
    };
  }

  engine::Engine engine_{[] {
    engine::EngineOptions options;
    options.workers = 1;
    return options;
  }()};
  std::map<std::string, int> reads_;
};

TEST_F(PrepareModules, SpecsOfOneFileShareOneReadAndOneModule) {
  std::vector<ModuleToStart> modules;
  for (std::size_t i = 1; i <= 200; ++i) modules.push_back(specOf(i, "dev_null.wasm"));
  auto requests = prepareModules(engine_, modules, countingReader());
  ASSERT_TRUE(requests.has_value());
  ASSERT_EQ(requests->size(), 200u);
  EXPECT_EQ(reads_, (std::map<std::string, int>{{"dev_null.wasm", 1}}));
  for (const auto& r : *requests) {
    ASSERT_EQ(r.module.get(), requests->front().module.get());
    EXPECT_EQ(r.entrypoint, "start");
  }
  EXPECT_EQ(requests->front().module->label(), "dev_null.wasm");
}

TEST_F(PrepareModules, EachFileAndMemoryLimitIsItsOwnModuleInSpecOrder) {
  std::vector<ModuleToStart> modules = {
      specOf(1, "dev_null.wasm"), specOf(2, "hello.wasm"), specOf(3, "dev_null.wasm", 1u << 20),
      specOf(4, "dev_null.wasm"), specOf(5, "hello.wasm"), specOf(6, "dev_null.wasm", 1u << 20),
  };
  auto requests = prepareModules(engine_, modules, countingReader());
  ASSERT_TRUE(requests.has_value());
  ASSERT_EQ(requests->size(), 6u);
  // One read per file, whatever the limits.
  EXPECT_EQ(reads_, (std::map<std::string, int>{{"dev_null.wasm", 1}, {"hello.wasm", 1}}));
  auto module = [&](std::size_t i) { return (*requests)[i].module.get(); };
  EXPECT_EQ(module(0), module(3));
  EXPECT_EQ(module(1), module(4));
  EXPECT_EQ(module(2), module(5));
  EXPECT_EQ((std::set<const engine::Module*>{module(0), module(1), module(2)}).size(), 3u);
  EXPECT_EQ(module(1)->label(), "hello.wasm");
  EXPECT_EQ(module(2)->label(), "dev_null.wasm");
}

TEST_F(PrepareModules, AnUnreadableFileIsReadOnceAndFailsEverySpecNamingIt) {
  std::vector<ModuleToStart> modules = {specOf(1, "missing.wasm"), specOf(2, "dev_null.wasm"),
                                        specOf(3, "missing.wasm"), specOf(4, "missing.wasm")};
  auto requests = prepareModules(engine_, modules, countingReader());
  EXPECT_FALSE(requests.has_value());
  EXPECT_EQ(reads_, (std::map<std::string, int>{{"missing.wasm", 1}, {"dev_null.wasm", 1}}));
}

}  // namespace
}  // namespace selium::runtime
