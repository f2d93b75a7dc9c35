// Compile cache entries: encoding, parsing, checks, and reading and writing them atomically.
#include "engine/compile_cache.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace selium::engine {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t kFixedHeaderSize = 8 + 4 + 4;  // magic, version, tag length
constexpr std::size_t kHashesSize = 32 + 8 + 32;     // wire hash, payload length, hash
constexpr std::size_t kMaxHeaderSize = kFixedHeaderSize + kMaxEngineTagSize + kHashesSize;

void putU32(std::vector<uint8_t>& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

void putU64(std::vector<uint8_t>& out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

uint64_t getLittleEndian(std::span<const uint8_t> bytes) {
  uint64_t value = 0;
  for (std::size_t i = bytes.size(); i-- > 0;) value = (value << 8) | bytes[i];
  return value;
}

std::string errnoText(int error) { return std::strerror(error); }

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now, reporting the error close() returned.
  int release() {
    int result = ::close(fd_);
    fd_ = -1;
    return result;
  }

 private:
  int fd_;
};

// Why a file or directory of the cache must not be trusted with code the runtime will run, or
// nothing if it is owned by the runtime's user and writable by nobody else. Whoever could write
// to it could run their code inside the runtime.
std::optional<std::string> untrustedReason(const struct stat& st) {
  uid_t euid = ::geteuid();
  if (st.st_uid != euid) {
    return "owned by uid " + std::to_string(st.st_uid) + ", not by the runtime's uid " +
           std::to_string(euid);
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    std::string who = (st.st_mode & S_IWGRP) != 0 && (st.st_mode & S_IWOTH) != 0
                          ? "group and others"
                          : ((st.st_mode & S_IWGRP) != 0 ? "its group" : "others");
    return std::string("writable by ") + who + " (mode " + mode + ")";
  }
  return std::nullopt;
}

}  // namespace

Sha256 sha256(std::span<const uint8_t> bytes) {
  Sha256 digest{};
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, EVP_sha256(), nullptr);
  return digest;
}

std::string hexString(std::span<const uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 0xF];
  }
  return out;
}

std::vector<uint8_t> encodeCacheEntry(std::string_view engine, const Sha256& wire_sha256,
                                      std::span<const uint8_t> payload) {
  std::vector<uint8_t> out;
  out.reserve(kFixedHeaderSize + engine.size() + kHashesSize + payload.size());
  out.insert(out.end(), kCacheMagic.begin(), kCacheMagic.end());
  putU32(out, kCacheFormatVersion);
  putU32(out, static_cast<uint32_t>(engine.size()));
  out.insert(out.end(), engine.begin(), engine.end());
  out.insert(out.end(), wire_sha256.begin(), wire_sha256.end());
  putU64(out, payload.size());
  Sha256 payload_sha256 = sha256(payload);
  out.insert(out.end(), payload_sha256.begin(), payload_sha256.end());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

Result<CacheEntryView> parseCacheEntry(std::span<const uint8_t> file) {
  CacheEntryView entry;
  if (file.size() < kFixedHeaderSize) {
    return Error{"truncated header: " + std::to_string(file.size()) + " bytes"};
  }
  if (!std::equal(kCacheMagic.begin(), kCacheMagic.end(), file.begin())) {
    return Error{"not a compile cache entry (bad magic)"};
  }
  entry.format_version = static_cast<uint32_t>(getLittleEndian(file.subspan(8, 4)));
  if (entry.format_version != kCacheFormatVersion) {
    return Error{"format version " + std::to_string(entry.format_version) + "; this build reads " +
                 std::to_string(kCacheFormatVersion)};
  }
  uint64_t tag_size = getLittleEndian(file.subspan(12, 4));
  if (tag_size == 0 || tag_size > kMaxEngineTagSize) {
    return Error{"engine tag length " + std::to_string(tag_size) + " out of range"};
  }
  std::size_t header_size = kFixedHeaderSize + tag_size + kHashesSize;
  if (file.size() < header_size) {
    return Error{"truncated header: " + std::to_string(file.size()) + " of " +
                 std::to_string(header_size) + " bytes"};
  }
  std::span<const uint8_t> tag = file.subspan(kFixedHeaderSize, tag_size);
  entry.engine = std::string_view(reinterpret_cast<const char*>(tag.data()), tag.size());
  std::size_t at = kFixedHeaderSize + tag_size;
  std::copy_n(file.begin() + at, 32, entry.wire_sha256.begin());
  uint64_t payload_size = getLittleEndian(file.subspan(at + 32, 8));
  std::copy_n(file.begin() + at + 40, 32, entry.payload_sha256.begin());
  if (payload_size == 0 || payload_size > kMaxCachePayloadSize) {
    return Error{"payload length " + std::to_string(payload_size) + " out of range"};
  }
  uint64_t actual = file.size() - header_size;
  if (actual != payload_size) {
    return Error{std::string(actual < payload_size ? "truncated" : "trailing bytes after") +
                 " payload: header says " + std::to_string(payload_size) + " bytes, file holds " +
                 std::to_string(actual)};
  }
  entry.payload = file.subspan(header_size);
  return entry;
}

Status checkCacheEntry(const CacheEntryView& entry, std::string_view engine,
                       const Sha256& wire_sha256) {
  if (entry.engine != engine) {
    return Error{"written by another engine build (\"" + std::string(entry.engine) +
                 "\"; this is \"" + std::string(engine) + "\")"};
  }
  if (entry.wire_sha256 != wire_sha256) {
    return Error{"compiled from other module bytes (SHA-256 " + hexString(entry.wire_sha256) + ")"};
  }
  if (sha256(entry.payload) != entry.payload_sha256) {
    return Error{"payload does not match its SHA-256 (corrupt)"};
  }
  return Ok{};
}

CompileCache::CompileCache(fs::path dir, std::string engine)
    : dir_(std::move(dir)), engine_(std::move(engine)) {
  Sha256 tag_hash =
      sha256(std::span(reinterpret_cast<const uint8_t*>(engine_.data()), engine_.size()));
  engine_suffix_ = "-" + hexString(std::span(tag_hash).first(8)) + ".wcache";
}

fs::path CompileCache::entryPath(const Sha256& wire_sha256) const {
  return dir_ / (hexString(wire_sha256) + engine_suffix_);
}

Status CompileCache::prepare() const {
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) {
    // Created one level at a time so each new directory gets 0700: entries hold native code.
    fs::path partial;
    for (const fs::path& part : dir_) {
      partial /= part;
      if (fs::is_directory(partial, ec)) continue;
      if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
        return Error{"cannot create compile cache directory " + partial.string() + ": " +
                     errnoText(errno)};
      }
    }
  }
  if (!fs::is_directory(dir_, ec)) {
    return Error{"compile cache path " + dir_.string() + " is not a directory"};
  }
  // Checked where the path leads (a symlinked cache/ is allowed; its target is what is checked).
  Fd fd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0) {
    return Error{"cannot open compile cache directory " + dir_.string() + ": " + errnoText(errno)};
  }
  if (auto reason = untrustedReason(st)) {
    std::string euid = std::to_string(::geteuid());
    return Error{"refusing compile cache directory " + dir_.string() + ": it is " + *reason +
                 "; its entries are native code the runtime runs, so it must belong to uid " +
                 euid + " and be writable by it alone (fix: chown " + euid + " " + dir_.string() +
                 " && chmod 700 " + dir_.string() + ", or remove it to have it recreated)"};
  }
  return Ok{};
}

Result<std::optional<CompileCache::Entry>> CompileCache::load(const Sha256& wire_sha256) const {
  fs::path path = entryPath(wire_sha256);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::optional<Entry>();
    if (errno == ELOOP) return Error{path.string() + ": refused: a symbolic link"};
    return Error{path.string() + ": cannot open: " + errnoText(errno)};
  }
  // Checked on the descriptor that is then read, so the file checked is the file used.
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error{path.string() + ": " + errnoText(errno)};
  if (!S_ISREG(st.st_mode)) return Error{path.string() + ": not a regular file"};
  if (auto reason = untrustedReason(st)) {
    return Error{path.string() + ": refused: " + *reason +
                 "; an entry must belong to the runtime's user and be writable by it alone"};
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxHeaderSize + kMaxCachePayloadSize) {
    return Error{path.string() + ": too large for an entry (" + std::to_string(st.st_size) +
                 " bytes)"};
  }
  Entry entry;
  // One byte more than the size: a file that grew since fstat shows up as trailing bytes.
  entry.file.resize(static_cast<std::size_t>(st.st_size) + 1);
  std::size_t filled = 0;
  while (filled < entry.file.size()) {
    ssize_t n = ::read(fd.get(), entry.file.data() + filled, entry.file.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{path.string() + ": read failed: " + errnoText(errno)};
    if (n == 0) break;
    filled += static_cast<std::size_t>(n);
  }
  entry.file.resize(filled);
  auto parsed = parseCacheEntry(entry.file);
  if (!parsed) return Error{path.string() + ": " + parsed.error().message};
  if (auto ok = checkCacheEntry(*parsed, engine_, wire_sha256); !ok) {
    return Error{path.string() + ": " + ok.error().message};
  }
  // Used now: prune() keeps entries by the time since their last use. Best effort (a read-only
  // cache directory still serves hits).
  ::futimens(fd.get(), nullptr);
  entry.payload_offset = static_cast<std::size_t>(parsed->payload.data() - entry.file.data());
  return std::optional<Entry>(std::move(entry));
}

Status CompileCache::store(const Sha256& wire_sha256, std::span<const uint8_t> payload) const {
  if (payload.empty() || payload.size() > kMaxCachePayloadSize) {
    return Error{"payload of " + std::to_string(payload.size()) + " bytes cannot be cached"};
  }
  std::vector<uint8_t> bytes = encodeCacheEntry(engine_, wire_sha256, payload);
  fs::path path = entryPath(wire_sha256);
  static std::atomic<uint64_t> counter{0};
  fs::path temp = path;
  temp += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
  // No fsync: after a crash the rename may survive while the data did not, but such an entry
  // fails its payload hash on the next load and is rebuilt.
  Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) return Error{"cannot create " + temp.string() + ": " + errnoText(errno)};
  auto fail = [&](const std::string& what, int error) -> Status {
    ::unlink(temp.c_str());
    return Error{what + " " + temp.string() + ": " + errnoText(error)};
  };
  std::size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd.get(), bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("cannot write", n < 0 ? errno : ENOSPC);
    written += static_cast<std::size_t>(n);
  }
  if (fd.release() != 0) return fail("cannot close", errno);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int error = errno;
    ::unlink(temp.c_str());
    return Error{"cannot rename " + temp.string() + " to " + path.string() + ": " +
                 errnoText(error)};
  }
  return Ok{};
}

namespace {

bool isHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// "<64 hex>-<16 hex>.wcache": an entry of some engine build.
bool isEntryName(std::string_view name) {
  constexpr std::string_view kExtension = ".wcache";
  return name.size() == 64 + 1 + 16 + kExtension.size() && isHex(name.substr(0, 64)) &&
         name[64] == '-' && isHex(name.substr(65, 16)) && name.substr(81) == kExtension;
}

}  // namespace

CompileCache::PruneResult CompileCache::prune(fs::file_time_type now, const Retention& retention,
                                              const std::function<bool()>& stop) const {
  PruneResult result;
  std::error_code ec;
  fs::directory_iterator it(dir_, ec);
  if (ec) {
    if (ec != std::errc::no_such_file_or_directory) {
      result.errors.push_back(dir_.string() + ": cannot list: " + ec.message());
    }
    return result;
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (stop && stop()) break;
    if (ec) {
      result.errors.push_back(dir_.string() + ": cannot list: " + ec.message());
      break;
    }
    const fs::path& path = it->path();
    std::string name = path.filename().string();
    std::chrono::hours keep;
    if (isEntryName(name)) {
      keep = name.ends_with(engine_suffix_) ? retention.own : retention.foreign;
    } else if (auto at = name.find(".wcache.tmp-");
               at != std::string::npos && isEntryName(name.substr(0, at + 7))) {
      keep = retention.temporary;
    } else {
      continue;  // not ours
    }
    std::error_code file_ec;
    if (!it->is_regular_file(file_ec) || it->is_symlink(file_ec)) continue;
    fs::file_time_type modified = fs::last_write_time(path, file_ec);
    if (file_ec) {
      result.errors.push_back(path.string() + ": " + file_ec.message());
      continue;
    }
    if (now - modified <= keep) continue;
    uint64_t size = fs::file_size(path, file_ec);
    if (file_ec) size = 0;
    // Looked at again just before removing: a hit (load refreshes the time) or a new entry
    // renamed into place since the first look keeps the file. (The window left is only the
    // time between these two calls.)
    if (fs::last_write_time(path, file_ec) != modified || file_ec) continue;
    if (!fs::remove(path, file_ec) || file_ec) {
      if (file_ec) result.errors.push_back(path.string() + ": cannot remove: " + file_ec.message());
      continue;
    }
    ++result.removed;
    result.bytes += size;
  }
  return result;
}

}  // namespace selium::engine
