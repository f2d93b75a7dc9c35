// The compile cache on disk: one file per module and engine build, holding V8's serialized code
// behind a header that is checked before V8 sees a byte of it. V8-free (file format, names,
// checks, atomic writes); cached_compile.h is the V8 side.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace selium::engine {

using Sha256 = std::array<uint8_t, 32>;

Sha256 sha256(std::span<const uint8_t> bytes);

// Lower-case hex digits of `bytes`.
std::string hexString(std::span<const uint8_t> bytes);

// Entry file layout; integers are little-endian.
//
//   offset  size  field
//   0       8     magic "\x89SLMWCC\n"
//   8       4     format version (kCacheFormatVersion)
//   12      4     engine tag length N, 1..kMaxEngineTagSize
//   16      N     engine tag: V8 version, architecture and the V8 flags that shape code
//   16+N    32    SHA-256 of the module bytes the payload was compiled from
//   48+N    8     payload length P, at most kMaxCachePayloadSize
//   56+N    32    SHA-256 of the payload
//   88+N    P     payload: V8's serialized module (v8::CompiledWasmModule::Serialize)
//
// The file ends exactly where the payload does.
inline constexpr std::array<uint8_t, 8> kCacheMagic = {0x89, 'S', 'L', 'M', 'W', 'C', 'C', '\n'};
inline constexpr uint32_t kCacheFormatVersion = 1;
inline constexpr std::size_t kMaxEngineTagSize = 256;
inline constexpr uint64_t kMaxCachePayloadSize = uint64_t{1} << 30;

// A parsed entry. The views point into the buffer that was parsed.
struct CacheEntryView {
  uint32_t format_version = 0;
  std::string_view engine;
  Sha256 wire_sha256{};
  Sha256 payload_sha256{};
  std::span<const uint8_t> payload;
};

// The bytes of an entry file for `payload`. `engine` must be 1..kMaxEngineTagSize bytes.
std::vector<uint8_t> encodeCacheEntry(std::string_view engine, const Sha256& wire_sha256,
                                      std::span<const uint8_t> payload);

// Reads the structure of an entry without hashing anything: magic, a format version this build
// reads, lengths in range, and a payload that ends exactly at the end of `file`. Never reads
// outside `file`. The error says which field is wrong.
Result<CacheEntryView> parseCacheEntry(std::span<const uint8_t> file);

// Whether `entry` was written by this engine build for the module whose bytes hash to
// `wire_sha256`, and its payload is intact (hashes the payload).
Status checkCacheEntry(const CacheEntryView& entry, std::string_view engine,
                       const Sha256& wire_sha256);

// One cache directory for one engine build. Holds no mutable state, so any thread may use it.
// Entries are replaced atomically (temporary file + rename): a reader, in this process or in
// another runtime sharing the directory, sees a whole old entry or a whole new one.
class CompileCache {
 public:
  // `engine` is the engine tag written into and required of every entry.
  CompileCache(std::filesystem::path dir, std::string engine);

  const std::filesystem::path& dir() const { return dir_; }
  const std::string& engine() const { return engine_; }

  // <64 hex digits: SHA-256 of the module>-<16 hex digits: SHA-256 of the engine tag>.wcache
  // Entries of other engine builds have other names, so they never replace each other.
  std::filesystem::path entryPath(const Sha256& wire_sha256) const;

  // Creates the directory (and missing parents; new ones get mode 0700) if it does not exist.
  // Fails, naming the owner, the mode and the fix, if the directory is not owned by the
  // runtime's user (geteuid) or is writable by its group or others: whoever can write there can
  // run code in the runtime. Its parents are not checked.
  Status prepare() const;

  // An entry file read whole, with the offset of its checked payload.
  struct Entry {
    std::vector<uint8_t> file;
    std::size_t payload_offset = 0;
    std::span<const uint8_t> payload() const {
      return std::span<const uint8_t>(file).subspan(payload_offset);
    }
  };

  // The entry for the module whose bytes hash to `wire_sha256`, after every check of
  // parseCacheEntry and checkCacheEntry: nothing if there is no entry (or no directory), an
  // error naming the file and the failed check if there is one that must not be used. An entry
  // that is a symbolic link, is not owned by the runtime's user or is writable by its group or
  // others is refused (checked on the opened file, which is the one then read); store() replaces
  // it.
  Result<std::optional<Entry>> load(const Sha256& wire_sha256) const;

  // Writes the entry to a new temporary file in the directory, then renames it into place.
  // Leaves no temporary file behind on failure.
  Status store(const Sha256& wire_sha256, std::span<const uint8_t> payload) const;

  // How long files are kept, by the age of their modification time. load() refreshes that time
  // on every hit and store() sets it, so an entry's age is the time since it was last used.
  struct Retention {
    std::chrono::hours own{24 * 30};  // this engine build's entries (remade on next use)
    // Other builds' entries: after an upgrade they are never used again, but a runtime of the
    // old build may still share the directory for a while (a rolling restart).
    std::chrono::hours foreign{24 * 7};
    std::chrono::hours temporary{1};  // temporary files of writes that never finished
  };
  struct PruneResult {
    std::size_t removed = 0;
    uint64_t bytes = 0;
    std::vector<std::string> errors;  // one per file that could not be removed or examined
  };
  // Removes entry and temporary files older than `retention` allows, judged at `now`. Files
  // whose names are not ours (entries, temporary files) are never touched, nor is anything
  // that is not a regular file.
  // `stop`, when given, is asked between files and ends the pass early when it returns true.
  PruneResult prune(std::filesystem::file_time_type now, const Retention& retention,
                    const std::function<bool()>& stop = {}) const;

 private:
  std::filesystem::path dir_;
  std::string engine_;
  std::string engine_suffix_;  // "-<16 hex>.wcache"
};

}  // namespace selium::engine
