// Rewrites the memory and table sections of an already-validated module with lower maxima.
#include "engine/memory_limit.h"

#include <algorithm>
#include <string>

namespace selium::engine {
namespace {

constexpr uint8_t kTableSection = 4;
constexpr uint8_t kMemorySection = 5;

// LEB128 u32 reader over validated bytes (parseWasmModule accepted them, so no overlong forms).
bool readU32(std::span<const uint8_t> bytes, std::size_t& pos, uint32_t& out) {
  out = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (pos >= bytes.size()) return false;
    uint8_t b = bytes[pos++];
    out |= uint32_t(b & 0x7F) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

void writeU32(std::vector<uint8_t>& out, uint32_t value) {
  do {
    uint8_t b = value & 0x7F;
    value >>= 7;
    if (value != 0) b |= 0x80;
    out.push_back(b);
  } while (value != 0);
}

std::string mib(uint64_t pages) {
  return std::to_string(pages * kWasmPageBytes / (1024 * 1024)) + " MiB";
}

// The maximum each defined table gets (see limitModule), or an error.
Result<std::vector<uint32_t>> tableCaps(const WasmModuleInfo& info, uint32_t budget) {
  uint64_t minimums = 0;
  std::size_t growable = 0;
  for (const Limits& table : info.tables) {
    minimums += table.min;
    if (!table.max || *table.max > table.min) ++growable;
  }
  if (minimums > budget) {
    return Error{"declares tables of " + std::to_string(minimums) +
                 " elements in all, over the limit of " + std::to_string(budget) +
                 "; raise --max-table-elements or the spec's max_table_elements"};
  }
  uint64_t share = growable == 0 ? 0 : (budget - minimums) / growable;
  std::vector<uint32_t> caps;
  for (const Limits& table : info.tables) {
    uint64_t cap = table.min + share;
    if (table.max) cap = std::min<uint64_t>(cap, *table.max);
    caps.push_back(static_cast<uint32_t>(cap));
  }
  return caps;
}

// One section's entries rewritten: `count` entries of (prefix bytes, flags, min[, max]), where
// the prefix is the table element type (tables) or nothing (memories).
Result<std::vector<uint8_t>> rewriteLimits(std::span<const uint8_t> bytes, std::size_t body,
                                           std::size_t end, bool has_element_type,
                                           const std::vector<uint32_t>& caps, const char* what) {
  std::vector<uint8_t> section;
  std::size_t p = body;
  uint32_t count;
  auto malformed = [&] { return Error{std::string("malformed ") + what + " section"}; };
  if (!readU32(bytes, p, count) || count != caps.size()) return malformed();
  writeU32(section, count);
  for (uint32_t i = 0; i < count; ++i) {
    if (has_element_type) {
      if (p >= end) return malformed();
      section.push_back(bytes[p++]);
    }
    if (p >= end) return malformed();
    uint8_t flags = bytes[p++];
    uint32_t min, max = 0;
    if (!readU32(bytes, p, min)) return malformed();
    bool has_max = flags & 1;
    if (has_max && !readU32(bytes, p, max)) return malformed();
    section.push_back(static_cast<uint8_t>(flags | 1));  // keeps a memory's shared bit
    writeU32(section, min);
    writeU32(section, has_max ? std::min(max, caps[i]) : caps[i]);
  }
  return section;
}

}  // namespace

Result<std::vector<uint8_t>> limitModule(std::span<const uint8_t> bytes, const WasmModuleInfo& info,
                                         const ModuleLimits& limits) {
  for (const Import& import : info.imports) {
    if (import.kind == ExternKind::Memory) {
      return Error{"imports a memory (" + import.module + "." + import.name +
                   "); guests must define their own"};
    }
  }
  const uint32_t max_pages = limits.max_memory_pages;
  for (const Limits& memory : info.memories) {
    if (memory.min > max_pages) {
      return Error{"declares a memory of at least " + std::to_string(memory.min) + " pages (" +
                   mib(memory.min) + "), over the limit of " + std::to_string(max_pages) +
                   " pages (" + mib(max_pages) + "); raise --max-memory or the spec's max_memory"};
    }
  }
  if (info.tables.size() > kMaxTables) {
    return Error{"declares " + std::to_string(info.tables.size()) + " tables; at most " +
                 std::to_string(kMaxTables) + " are allowed"};
  }
  if (info.globals > kMaxGlobals) {
    return Error{"declares " + std::to_string(info.globals) + " globals; at most " +
                 std::to_string(kMaxGlobals) + " are allowed"};
  }
  auto table_caps = tableCaps(info, limits.max_table_elements);
  if (!table_caps) return table_caps.error();
  const std::vector<uint32_t> memory_caps(info.memories.size(), max_pages);

  std::vector<uint8_t> out;
  out.reserve(bytes.size() + 16);
  out.insert(out.end(), bytes.begin(), bytes.begin() + 8);  // magic + version
  std::size_t pos = 8;
  while (pos < bytes.size()) {
    std::size_t section_start = pos;
    uint8_t id = bytes[pos++];
    uint32_t size;
    if (!readU32(bytes, pos, size) || pos + size > bytes.size()) {
      return Error{"malformed section at offset " + std::to_string(section_start)};
    }
    std::size_t body = pos;
    pos += size;
    if (id != kTableSection && id != kMemorySection) {
      out.insert(out.end(), bytes.begin() + section_start, bytes.begin() + pos);
      continue;
    }
    auto section = id == kTableSection
                       ? rewriteLimits(bytes, body, pos, true, *table_caps, "table")
                       : rewriteLimits(bytes, body, pos, false, memory_caps, "memory");
    if (!section) return section.error();
    out.push_back(id);
    writeU32(out, static_cast<uint32_t>(section->size()));
    out.insert(out.end(), section->begin(), section->end());
  }
  return out;
}

}  // namespace selium::engine
