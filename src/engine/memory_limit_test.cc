#include "engine/memory_limit.h"

#include <gtest/gtest.h>

namespace selium::engine {
namespace {

// A module of `tables` (min, optional max) tables and `memories` memories, parsed back.
std::vector<uint8_t> moduleWith(const std::vector<Limits>& tables,
                                const std::vector<Limits>& memories) {
  std::vector<uint8_t> out = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
  auto leb = [](std::vector<uint8_t>& to, uint32_t v) {
    do {
      uint8_t b = v & 0x7F;
      v >>= 7;
      to.push_back(v ? b | 0x80 : b);
    } while (v);
  };
  auto section = [&](uint8_t id, const std::vector<Limits>& entries, bool table) {
    if (entries.empty()) return;
    std::vector<uint8_t> body;
    leb(body, static_cast<uint32_t>(entries.size()));
    for (const Limits& l : entries) {
      if (table) body.push_back(0x70);
      body.push_back(l.max ? 1 : 0);
      leb(body, l.min);
      if (l.max) leb(body, *l.max);
    }
    out.push_back(id);
    leb(out, static_cast<uint32_t>(body.size()));
    out.insert(out.end(), body.begin(), body.end());
  };
  section(4, tables, true);
  section(5, memories, false);
  return out;
}

WasmModuleInfo limited(const std::vector<Limits>& tables, const std::vector<Limits>& memories,
                       ModuleLimits limits) {
  std::vector<uint8_t> bytes = moduleWith(tables, memories);
  auto info = parseWasmModule(bytes);
  EXPECT_TRUE(info.ok());
  auto out = limitModule(bytes, *info, limits);
  EXPECT_TRUE(out.ok()) << out.error().message;
  auto again = parseWasmModule(*out);
  EXPECT_TRUE(again.ok()) << again.error().message;
  return *again;
}

TEST(ModuleLimits, MemoriesGetTheLimitAsTheirMaximum) {
  WasmModuleInfo info = limited({}, {{1, std::nullopt}, {2, 5000}}, {100, 10});
  EXPECT_EQ(info.memories, (std::vector<Limits>{{1, 100}, {2, 100}}));
  info = limited({}, {{1, 50}}, {100, 10});
  EXPECT_EQ(info.memories, (std::vector<Limits>{{1, 50}}));
}

TEST(ModuleLimits, TablesShareTheBudgetAndKeepTheirMinimums) {
  // 1000 elements: minimums 10 + 20 + 30, the rest (940) split between the two that can grow.
  WasmModuleInfo info = limited({{10, std::nullopt}, {20, 20}, {30, 1'000'000}}, {}, {100, 1000});
  EXPECT_EQ(info.tables, (std::vector<Limits>{{10, 480}, {20, 20}, {30, 500}}));
  // A declared maximum below its share is kept.
  info = limited({{0, 5}, {0, std::nullopt}}, {}, {100, 1000});
  EXPECT_EQ(info.tables, (std::vector<Limits>{{0, 5}, {0, 500}}));
  uint64_t total = 0;
  for (const Limits& t :
       limited({{1, std::nullopt}, {2, std::nullopt}, {3, std::nullopt}}, {}, {100, 1000}).tables) {
    total += *t.max;
  }
  EXPECT_LE(total, 1000u);
}

TEST(ModuleLimits, RefusesWhatCannotFit) {
  auto refuse = [](const std::vector<uint8_t>& bytes, const WasmModuleInfo& info,
                   ModuleLimits limits) {
    auto out = limitModule(bytes, info, limits);
    EXPECT_FALSE(out.ok());
    return out.ok() ? std::string() : out.error().message;
  };
  std::vector<uint8_t> tables = moduleWith({{600, std::nullopt}, {600, std::nullopt}}, {});
  EXPECT_EQ(refuse(tables, *parseWasmModule(tables), {100, 1000}),
            "declares tables of 1200 elements in all, over the limit of 1000; raise "
            "--max-table-elements or the spec's max_table_elements");
  std::vector<uint8_t> memory = moduleWith({}, {{200, std::nullopt}});
  EXPECT_EQ(refuse(memory, *parseWasmModule(memory), {100, 1000}),
            "declares a memory of at least 200 pages (12 MiB), over the limit of 100 pages (6 "
            "MiB); raise --max-memory or the spec's max_memory");
  WasmModuleInfo globals = *parseWasmModule(memory);
  globals.memories.clear();
  globals.globals = kMaxGlobals + 1;
  EXPECT_EQ(refuse(memory, globals, {100, 1000}),
            "declares 100001 globals; at most 100000 are allowed");
  WasmModuleInfo imported;
  Import mem;
  mem.module = "env";
  mem.name = "mem";
  mem.kind = ExternKind::Memory;
  imported.imports.push_back(mem);
  EXPECT_EQ(refuse(memory, imported, {100, 1000}),
            "imports a memory (env.mem); guests must define their own");
}

}  // namespace
}  // namespace selium::engine
