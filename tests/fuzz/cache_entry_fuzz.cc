// Fuzz target for the compile cache entry parser, which reads files any process with access to
// the work dir could have written. Beyond "no crash", it checks the parser's contract: a parsed
// entry spans the input exactly and encodes back to the same bytes when its payload hash holds,
// and the checks refuse any entry whose payload does not match its hash.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "engine/compile_cache.h"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace selium::engine;
  std::span<const uint8_t> file(data, size);
  selium::Result<CacheEntryView> parsed = parseCacheEntry(file);
  if (!parsed) {
    check(!parsed.error().message.empty());
    for (char c : parsed.error().message) check(static_cast<unsigned char>(c) >= 0x20);
    return 0;
  }
  const CacheEntryView& entry = *parsed;
  check(entry.format_version == kCacheFormatVersion);
  check(!entry.engine.empty() && entry.engine.size() <= kMaxEngineTagSize);
  check(!entry.payload.empty() && entry.payload.size() <= kMaxCachePayloadSize);
  // The views lie inside the input, and the payload ends where the input does.
  check(entry.payload.data() >= data && entry.payload.data() + entry.payload.size() == data + size);
  const auto* tag = reinterpret_cast<const uint8_t*>(entry.engine.data());
  check(tag >= data && tag + entry.engine.size() <= entry.payload.data());

  bool intact = sha256(entry.payload) == entry.payload_sha256;
  selium::Status accepted = checkCacheEntry(entry, entry.engine, entry.wire_sha256);
  check(accepted.ok() == intact);
  // Another engine tag or module hash is always refused, intact or not.
  check(!checkCacheEntry(entry, std::string(entry.engine) + "x", entry.wire_sha256).ok());
  Sha256 other = entry.wire_sha256;
  other[0] ^= 1;
  check(!checkCacheEntry(entry, entry.engine, other).ok());

  if (intact) {
    std::vector<uint8_t> again = encodeCacheEntry(entry.engine, entry.wire_sha256, entry.payload);
    check(again.size() == size && std::equal(again.begin(), again.end(), data));
  }
  return 0;
}
