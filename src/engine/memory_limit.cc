// Rewrites the memory section of an already-validated module with a lower maximum.
#include "engine/memory_limit.h"

#include <string>

namespace selium::engine {
namespace {

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

}  // namespace

Result<std::vector<uint8_t>> limitMemory(std::span<const uint8_t> bytes, const WasmModuleInfo& info,
                                         uint32_t max_pages) {
  for (const Import& import : info.imports) {
    if (import.kind == ExternKind::Memory) {
      return Error{"imports a memory (" + import.module + "." + import.name +
                   "); guests must define their own"};
    }
  }
  for (const Limits& limits : info.memories) {
    if (limits.min > max_pages) {
      return Error{"declares a memory of at least " + std::to_string(limits.min) + " pages (" +
                   mib(limits.min) + "), over the limit of " + std::to_string(max_pages) +
                   " pages (" + mib(max_pages) + "); raise --max-memory or the spec's max_memory"};
    }
  }
  std::vector<uint8_t> out;
  out.reserve(bytes.size() + 8);
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
    if (id != 5) {
      out.insert(out.end(), bytes.begin() + section_start, bytes.begin() + pos);
      continue;
    }
    // Memory section: count, then (flags, min[, max]) per memory.
    std::vector<uint8_t> section;
    std::size_t p = body;
    uint32_t count;
    if (!readU32(bytes, p, count)) return Error{"malformed memory section"};
    writeU32(section, count);
    for (uint32_t i = 0; i < count; ++i) {
      if (p >= pos) return Error{"malformed memory section"};
      uint8_t flags = bytes[p++];
      uint32_t min, max = 0;
      if (!readU32(bytes, p, min)) return Error{"malformed memory section"};
      bool has_max = flags & 1;
      if (has_max && !readU32(bytes, p, max)) return Error{"malformed memory section"};
      uint32_t limited = has_max ? std::min(max, max_pages) : max_pages;
      section.push_back(static_cast<uint8_t>(flags | 1));  // keeps the shared bit
      writeU32(section, min);
      writeU32(section, limited);
    }
    out.push_back(5);
    writeU32(out, static_cast<uint32_t>(section.size()));
    out.insert(out.end(), section.begin(), section.end());
  }
  return out;
}

}  // namespace selium::engine
