#include "engine/compile_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "support/temp_dir.h"

namespace selium::engine {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr std::string_view kEngine = "V8 10.2.154.26-node.37 x86_64 --no-wasm-dynamic-tiering";

std::span<const uint8_t> bytesOf(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

const Sha256 kWire = sha256(bytesOf("module bytes"));
const std::vector<uint8_t> kPayload = [] {
  std::vector<uint8_t> p(300);
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(i * 7 + 3);
  return p;
}();

// Offset of the payload in an entry for kEngine.
constexpr std::size_t kPayloadOffset = 16 + kEngine.size() + 32 + 8 + 32;

std::string parseError(std::span<const uint8_t> file) {
  auto parsed = parseCacheEntry(file);
  return parsed ? "" : parsed.error().message;
}

std::string checkError(std::span<const uint8_t> file, std::string_view engine = kEngine,
                       const Sha256& wire = kWire) {
  auto parsed = parseCacheEntry(file);
  if (!parsed) return "parse: " + parsed.error().message;
  auto ok = checkCacheEntry(*parsed, engine, wire);
  return ok ? "" : ok.error().message;
}

TEST(Sha256, MatchesTheStandardTestVector) {
  EXPECT_EQ(hexString(sha256(bytesOf("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(CacheEntry, RoundTripsEveryField) {
  std::vector<uint8_t> file = encodeCacheEntry(kEngine, kWire, kPayload);
  ASSERT_EQ(file.size(), kPayloadOffset + kPayload.size());
  auto parsed = parseCacheEntry(file);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->format_version, kCacheFormatVersion);
  EXPECT_EQ(parsed->engine, kEngine);
  EXPECT_EQ(parsed->wire_sha256, kWire);
  EXPECT_EQ(parsed->payload_sha256, sha256(kPayload));
  EXPECT_EQ(std::vector<uint8_t>(parsed->payload.begin(), parsed->payload.end()), kPayload);
  EXPECT_EQ(checkError(file), "");
}

TEST(CacheEntry, RejectsEveryTruncation) {
  std::vector<uint8_t> file = encodeCacheEntry(kEngine, kWire, kPayload);
  for (std::size_t size = 0; size < file.size(); ++size) {
    std::string error = parseError(std::span(file).first(size));
    EXPECT_THAT(error, HasSubstr("truncated")) << "size " << size;
  }
}

TEST(CacheEntry, RejectsTrailingBytes) {
  std::vector<uint8_t> file = encodeCacheEntry(kEngine, kWire, kPayload);
  file.push_back(0);
  EXPECT_THAT(parseError(file), HasSubstr("trailing bytes after payload"));
}

TEST(CacheEntry, RejectsBadMagic) {
  std::vector<uint8_t> file = encodeCacheEntry(kEngine, kWire, kPayload);
  for (std::size_t i = 0; i < kCacheMagic.size(); ++i) {
    std::vector<uint8_t> bad = file;
    bad[i] ^= 0x20;
    EXPECT_THAT(parseError(bad), HasSubstr("bad magic")) << "byte " << i;
  }
  // A wasm module is not an entry.
  const std::vector<uint8_t> wasm = {0x00, 'a', 's', 'm', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_THAT(parseError(wasm), HasSubstr("bad magic"));
}

TEST(CacheEntry, RejectsOtherFormatVersions) {
  std::vector<uint8_t> file = encodeCacheEntry(kEngine, kWire, kPayload);
  file[8] = kCacheFormatVersion + 1;
  EXPECT_THAT(parseError(file), HasSubstr("format version 2; this build reads 1"));
  file[8] = 0;
  EXPECT_THAT(parseError(file), HasSubstr("format version 0"));
}

TEST(CacheEntry, RejectsEngineTagLengthOutOfRange) {
  std::vector<uint8_t> file = encodeCacheEntry(kEngine, kWire, kPayload);
  for (uint32_t length : {0u, static_cast<uint32_t>(kMaxEngineTagSize + 1), 0xFFFFFFFFu}) {
    std::vector<uint8_t> bad = file;
    for (int i = 0; i < 4; ++i) bad[12 + i] = static_cast<uint8_t>(length >> (8 * i));
    EXPECT_THAT(parseError(bad), HasSubstr("engine tag length")) << length;
  }
}

TEST(CacheEntry, RejectsPayloadLengthOutOfRange) {
  std::vector<uint8_t> file = encodeCacheEntry(kEngine, kWire, kPayload);
  std::size_t at = 16 + kEngine.size() + 32;
  for (int i = 0; i < 8; ++i) file[at + i] = 0;
  EXPECT_THAT(parseError(file), HasSubstr("payload length 0 out of range"));
  for (int i = 0; i < 8; ++i) file[at + i] = 0xFF;
  EXPECT_THAT(parseError(file), HasSubstr("out of range"));
}

TEST(CacheEntry, RejectsAnotherEngineBuild) {
  std::vector<uint8_t> file =
      encodeCacheEntry("V8 10.2.154.26-node.36 x86_64 --no-wasm-dynamic-tiering", kWire, kPayload);
  EXPECT_THAT(checkError(file), HasSubstr("written by another engine build"));
  std::vector<uint8_t> other_flags =
      encodeCacheEntry("V8 10.2.154.26-node.37 x86_64", kWire, kPayload);
  EXPECT_THAT(checkError(other_flags), HasSubstr("written by another engine build"));
}

TEST(CacheEntry, RejectsAnEntryForOtherModuleBytes) {
  std::vector<uint8_t> file = encodeCacheEntry(kEngine, sha256(bytesOf("other module")), kPayload);
  EXPECT_THAT(checkError(file), HasSubstr("compiled from other module bytes"));
}

TEST(CacheEntry, DetectsAnyFlippedPayloadByte) {
  std::vector<uint8_t> file = encodeCacheEntry(kEngine, kWire, kPayload);
  for (std::size_t i = kPayloadOffset; i < file.size(); i += 17) {
    std::vector<uint8_t> bad = file;
    bad[i] ^= 0x01;
    EXPECT_THAT(checkError(bad), HasSubstr("payload does not match its SHA-256")) << "byte " << i;
  }
  // A flipped bit in the stored payload hash is caught the same way.
  std::vector<uint8_t> bad_hash = file;
  bad_hash[kPayloadOffset - 1] ^= 0x80;
  EXPECT_THAT(checkError(bad_hash), HasSubstr("payload does not match its SHA-256"));
}

void writeFile(const fs::path& path, std::span<const uint8_t> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::string> filesIn(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  return names;
}

TEST(CompileCache, NamesEntriesByModuleAndEngineBuild) {
  CompileCache cache("/c", std::string(kEngine));
  std::string name = cache.entryPath(kWire).filename().string();
  EXPECT_EQ(name.rfind(hexString(kWire) + "-", 0), 0u) << name;
  EXPECT_THAT(name, ::testing::EndsWith(".wcache"));
  EXPECT_EQ(name.size(), 64 + 1 + 16 + 7);
  CompileCache other("/c", "V8 11.3 x86_64");
  EXPECT_NE(other.entryPath(kWire), cache.entryPath(kWire));
  EXPECT_NE(cache.entryPath(sha256(bytesOf("x"))), cache.entryPath(kWire));
}

TEST(CompileCache, StoresAndLoadsAnEntry) {
  selium::testing::TempDir dir("cache-test");
  CompileCache cache(dir.path() / "a" / "cache", std::string(kEngine));
  ASSERT_TRUE(cache.prepare());
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() / "a" / "cache").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  auto nothing = cache.load(kWire);
  ASSERT_TRUE(nothing) << nothing.error().message;
  EXPECT_FALSE(nothing->has_value());

  ASSERT_TRUE(cache.store(kWire, kPayload));
  auto loaded = cache.load(kWire);
  ASSERT_TRUE(loaded) << loaded.error().message;
  ASSERT_TRUE(loaded->has_value());
  auto payload = (*loaded)->payload();
  EXPECT_EQ(std::vector<uint8_t>(payload.begin(), payload.end()), kPayload);
  // Only the entry is left: the temporary file was renamed into place.
  EXPECT_THAT(filesIn(cache.dir()),
              ::testing::ElementsAre(cache.entryPath(kWire).filename().string()));
  ASSERT_EQ(::stat(cache.entryPath(kWire).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// Ages a file: sets its modification time to `age` before `now`.
void age(const fs::path& path, fs::file_time_type now, std::chrono::hours age) {
  fs::last_write_time(path, now - age);
}

TEST(CompileCache, PrunesEntriesByTheTimeSinceTheirLastUse) {
  using std::chrono::hours;
  selium::testing::TempDir dir("cache-test");
  CompileCache cache(dir.path(), std::string(kEngine));
  CompileCache other(dir.path(), "V8 9.9 x86_64 --other-flags");
  const Sha256 kOld = sha256(bytesOf("old module"));
  const Sha256 kUsed = sha256(bytesOf("used module"));
  auto now = fs::file_time_type::clock::now();
  CompileCache::Retention retention;  // 30 days own, 7 days foreign, 1 hour temporary

  ASSERT_TRUE(cache.store(kWire, kPayload));  // fresh
  ASSERT_TRUE(cache.store(kOld, kPayload));
  age(cache.entryPath(kOld), now, hours(24 * 31));
  ASSERT_TRUE(cache.store(kUsed, kPayload));  // old, but loaded (used) just now
  age(cache.entryPath(kUsed), now, hours(24 * 31));
  ASSERT_TRUE(cache.load(kUsed) && cache.load(kUsed)->has_value());
  ASSERT_TRUE(other.store(kWire, kPayload));  // another build's, 6 days unused: kept
  age(other.entryPath(kWire), now, hours(24 * 6));
  ASSERT_TRUE(other.store(kOld, kPayload));  // another build's, 8 days unused: removed
  age(other.entryPath(kOld), now, hours(24 * 8));
  fs::path stale_temp = cache.entryPath(kWire);
  stale_temp += ".tmp-123-4";
  writeFile(stale_temp, kPayload);
  age(stale_temp, now, hours(2));
  fs::path fresh_temp = cache.entryPath(kOld);
  fresh_temp += ".tmp-123-5";  // a write that may still be under way
  writeFile(fresh_temp, kPayload);
  // Not ours, however old: left alone.
  writeFile(dir.path() / "notes.txt", kPayload);
  age(dir.path() / "notes.txt", now, hours(24 * 365));
  fs::path lookalike_dir = dir.path() / cache.entryPath(sha256(bytesOf("dir"))).filename();
  fs::create_directory(lookalike_dir);
  age(lookalike_dir, now, hours(24 * 365));

  uint64_t doomed_bytes = fs::file_size(cache.entryPath(kOld)) +
                          fs::file_size(other.entryPath(kOld)) + fs::file_size(stale_temp);

  CompileCache::PruneResult result = cache.prune(now, retention);
  EXPECT_TRUE(result.errors.empty()) << result.errors.front();
  EXPECT_EQ(result.removed, 3u);  // own old, foreign old, stale temporary
  EXPECT_EQ(result.bytes, doomed_bytes);
  EXPECT_THAT(filesIn(dir.path()),
              ::testing::UnorderedElementsAre(cache.entryPath(kWire).filename().string(),
                                              cache.entryPath(kUsed).filename().string(),
                                              other.entryPath(kWire).filename().string(),
                                              fresh_temp.filename().string(), "notes.txt",
                                              lookalike_dir.filename().string()));
  // Nothing is left to prune at the same time.
  EXPECT_EQ(cache.prune(now, retention).removed, 0u);
}

TEST(CompileCache, PruningStopsWhenAsked) {
  selium::testing::TempDir dir("cache-test");
  CompileCache cache(dir.path(), std::string(kEngine));
  ASSERT_TRUE(cache.store(kWire, kPayload));
  auto now = fs::file_time_type::clock::now();
  age(cache.entryPath(kWire), now, std::chrono::hours(24 * 365));
  auto result = cache.prune(now, {}, [] { return true; });
  EXPECT_EQ(result.removed, 0u);
  EXPECT_TRUE(fs::exists(cache.entryPath(kWire)));
  EXPECT_EQ(cache.prune(now, {}, [] { return false; }).removed, 1u);
}

TEST(CompileCache, PruningAMissingDirectoryIsNotAnError) {
  selium::testing::TempDir dir("cache-test");
  CompileCache cache(dir.path() / "never-made", std::string(kEngine));
  auto result = cache.prune(fs::file_time_type::clock::now(), {});
  EXPECT_EQ(result.removed, 0u);
  EXPECT_TRUE(result.errors.empty());
}

TEST(CompileCache, ReplacesAnEntryWhole) {
  selium::testing::TempDir dir("cache-test");
  CompileCache cache(dir.path(), std::string(kEngine));
  ASSERT_TRUE(cache.store(kWire, kPayload));
  std::vector<uint8_t> second(1000, 0xAB);
  ASSERT_TRUE(cache.store(kWire, second));
  auto loaded = cache.load(kWire);
  ASSERT_TRUE(loaded && loaded->has_value());
  auto payload = (*loaded)->payload();
  EXPECT_EQ(std::vector<uint8_t>(payload.begin(), payload.end()), second);
  EXPECT_EQ(filesIn(dir.path()).size(), 1u);
}

TEST(CompileCache, RejectsCorruptTruncatedAndForeignFiles) {
  selium::testing::TempDir dir("cache-test");
  CompileCache cache(dir.path(), std::string(kEngine));
  fs::path path = cache.entryPath(kWire);
  std::vector<uint8_t> good = encodeCacheEntry(kEngine, kWire, kPayload);

  auto errorOf = [&](std::span<const uint8_t> contents) -> std::string {
    writeFile(path, contents);
    auto loaded = cache.load(kWire);
    if (!loaded) return loaded.error().message;
    return loaded->has_value() ? "loaded" : "missing";
  };
  EXPECT_EQ(errorOf(good), "loaded");

  std::vector<uint8_t> corrupt = good;
  corrupt[good.size() - 10] ^= 0xFF;
  EXPECT_THAT(errorOf(corrupt), HasSubstr("corrupt"));
  EXPECT_THAT(errorOf(corrupt), HasSubstr(path.string()));

  EXPECT_THAT(errorOf(std::span(good).first(good.size() - 1)), HasSubstr("truncated payload"));
  EXPECT_THAT(errorOf(std::span(good).first(20)), HasSubstr("truncated header"));
  EXPECT_THAT(errorOf({}), HasSubstr("truncated header"));

  std::vector<uint8_t> foreign = encodeCacheEntry("V8 9.4.146.26 x86_64", kWire, kPayload);
  EXPECT_THAT(errorOf(foreign), HasSubstr("another engine build"));

  std::vector<uint8_t> swapped = encodeCacheEntry(kEngine, sha256(bytesOf("b")), kPayload);
  EXPECT_THAT(errorOf(swapped), HasSubstr("other module bytes"));

  EXPECT_THAT(errorOf(bytesOf("garbage that is long enough to hold a header")),
              HasSubstr("bad magic"));
}

TEST(CompileCache, RejectsADirectoryInPlaceOfAnEntry) {
  selium::testing::TempDir dir("cache-test");
  CompileCache cache(dir.path(), std::string(kEngine));
  fs::create_directory(cache.entryPath(kWire));
  auto loaded = cache.load(kWire);
  ASSERT_FALSE(loaded);
  EXPECT_THAT(loaded.error().message, HasSubstr(cache.entryPath(kWire).string()));
}

TEST(CompileCache, ReportsAnUnusableDirectory) {
  selium::testing::TempDir dir("cache-test");
  fs::path file = dir.path() / "not-a-dir";
  writeFile(file, bytesOf("x"));
  CompileCache cache(file, std::string(kEngine));
  auto prepared = cache.prepare();
  ASSERT_FALSE(prepared);
  EXPECT_THAT(prepared.error().message, HasSubstr(file.string()));
  auto stored = cache.store(kWire, kPayload);
  ASSERT_FALSE(stored);
  EXPECT_THAT(stored.error().message, HasSubstr("cannot create"));
  // A load through the unusable directory finds nothing to use, but does not throw either.
  EXPECT_FALSE(cache.load(kWire) && cache.load(kWire)->has_value());
  EXPECT_EQ(filesIn(dir.path()).size(), 1u);
}

TEST(CompileCache, RefusesAnEmptyPayload) {
  selium::testing::TempDir dir("cache-test");
  CompileCache cache(dir.path(), std::string(kEngine));
  EXPECT_FALSE(cache.store(kWire, {}));
  EXPECT_TRUE(filesIn(dir.path()).empty());
}

// A uid that owns nothing here, for entries and directories of "another user" (needs root).
constexpr uid_t kOtherUid = 54321;

TEST(CompileCache, RefusesADirectoryOthersCanWrite) {
  selium::testing::TempDir dir("cache-test");
  fs::path path = dir.path() / "cache";
  CompileCache cache(path, std::string(kEngine));
  ASSERT_TRUE(cache.prepare());
  for (mode_t mode : {0770, 0707, 0777, 01777}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    auto prepared = cache.prepare();
    ASSERT_FALSE(prepared) << std::oct << mode;
    EXPECT_THAT(prepared.error().message, HasSubstr(path.string()));
    EXPECT_THAT(prepared.error().message, HasSubstr("writable by"));
    EXPECT_THAT(prepared.error().message, HasSubstr("chmod 700 " + path.string()));
  }
  ASSERT_EQ(::chmod(path.c_str(), 0777), 0);
  EXPECT_THAT(cache.prepare().error().message, HasSubstr("mode 0777"));
  EXPECT_THAT(cache.prepare().error().message, HasSubstr("group and others"));
  // Readable by others is fine: only writing lets someone else put code there.
  ASSERT_EQ(::chmod(path.c_str(), 0755), 0);
  EXPECT_TRUE(cache.prepare());
}

TEST(CompileCache, RefusesADirectoryOfAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a directory away";
  selium::testing::TempDir dir("cache-test");
  fs::path path = dir.path() / "cache";
  CompileCache cache(path, std::string(kEngine));
  ASSERT_TRUE(cache.prepare());
  ASSERT_EQ(::chown(path.c_str(), kOtherUid, static_cast<gid_t>(-1)), 0);
  auto prepared = cache.prepare();
  ASSERT_FALSE(prepared);
  EXPECT_THAT(prepared.error().message, HasSubstr("owned by uid 54321"));
  EXPECT_THAT(prepared.error().message, HasSubstr("chown 0 " + path.string()));
}

TEST(CompileCache, RefusesEntriesOthersCanWriteAndReplacesThem) {
  selium::testing::TempDir dir("cache-test");
  CompileCache cache(dir.path(), std::string(kEngine));
  ASSERT_TRUE(cache.store(kWire, kPayload));
  fs::path entry = cache.entryPath(kWire);
  for (mode_t mode : {0620, 0602, 0666}) {
    ASSERT_EQ(::chmod(entry.c_str(), mode), 0);
    auto loaded = cache.load(kWire);
    ASSERT_FALSE(loaded) << std::oct << mode;
    EXPECT_THAT(loaded.error().message, HasSubstr(entry.string() + ": refused: writable by"));
  }
  // A fresh entry takes the refused one's place, with the owner-only mode.
  ASSERT_TRUE(cache.store(kWire, kPayload));
  struct stat st {};
  ASSERT_EQ(::stat(entry.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = cache.load(kWire);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_TRUE(loaded->has_value());
}

TEST(CompileCache, RefusesEntriesOfAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a file away";
  selium::testing::TempDir dir("cache-test");
  CompileCache cache(dir.path(), std::string(kEngine));
  ASSERT_TRUE(cache.store(kWire, kPayload));
  ASSERT_EQ(::chown(cache.entryPath(kWire).c_str(), kOtherUid, static_cast<gid_t>(-1)), 0);
  auto loaded = cache.load(kWire);
  ASSERT_FALSE(loaded);
  EXPECT_THAT(loaded.error().message, HasSubstr("owned by uid 54321"));
}

TEST(CompileCache, RefusesASymlinkedEntry) {
  selium::testing::TempDir dir("cache-test");
  CompileCache cache(dir.path() / "cache", std::string(kEngine));
  ASSERT_TRUE(cache.prepare());
  // A well-formed entry elsewhere, linked in under the entry's name.
  fs::path elsewhere = dir.path() / "elsewhere.wcache";
  writeFile(elsewhere, encodeCacheEntry(kEngine, kWire, kPayload));
  fs::create_symlink(elsewhere, cache.entryPath(kWire));
  auto loaded = cache.load(kWire);
  ASSERT_FALSE(loaded);
  EXPECT_THAT(loaded.error().message, HasSubstr("refused: a symbolic link"));
}

}  // namespace
}  // namespace selium::engine
