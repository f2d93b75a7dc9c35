// WASI preview 1 for wasi-libc programs. Every guest pointer is checked before anything is
// written or emitted, so a call with a bad pointer returns EFAULT and has no effect.
#include "kernel/drivers/wasi/wasi_driver.h"

#include <selium/abi/wasi.h>
#include <sys/random.h>

#include <bit>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>
#include <variant>
#include <vector>

#include "kernel/capability.h"

namespace selium::kernel::wasi {
namespace {

static_assert(std::endian::native == std::endian::little,
              "WASI structures are little-endian; stores below copy host integers as they are");

constexpr int32_t kSuccess = SELIUM_WASI_ERRNO_SUCCESS;
constexpr int32_t kBadFd = SELIUM_WASI_ERRNO_BADF;
constexpr int32_t kFault = SELIUM_WASI_ERRNO_FAULT;
constexpr int32_t kInvalid = SELIUM_WASI_ERRNO_INVAL;

constexpr int32_t kStdin = 0;
constexpr int32_t kStdout = 1;
constexpr int32_t kStderr = 2;

bool isStdFd(int32_t fd) { return fd >= kStdin && fd <= kStderr; }

// Returns `errno_value` with `message` as the process's last error (for the runtime's logs and
// tests; WASI guests only see the errno).
int32_t wasiFail(CallContext& ctx, int32_t errno_value, std::string message) {
  ctx.process.setLastError(std::move(message));
  return errno_value;
}

int32_t badFd(CallContext& ctx, int32_t fd, std::string_view what) {
  return wasiFail(ctx, kBadFd,
                  std::string(ctx.hostcall ? ctx.hostcall->name : "WASI call") + ": fd " +
                      std::to_string(fd) + " " + std::string(what));
}

// A call this host does not offer: `errno_value`, and a warning the first time this process
// makes it.
int32_t unsupported(CallContext& ctx, int32_t errno_value, std::string_view why) {
  std::string_view name = ctx.hostcall ? ctx.hostcall->name : std::string_view("?");
  if (ctx.hostcall != nullptr && ctx.process.firstUnsupported(ctx.hostcall->index)) {
    log::warn("WASI call not supported", {{"pid", ctx.process.id()},
                                          {"module", ctx.process.module()},
                                          {"call", name},
                                          {"errno", errno_value},
                                          {"why", why}});
  }
  return wasiFail(ctx, errno_value, std::string(name) + ": " + std::string(why));
}

int32_t notImplemented(CallContext& ctx) {
  return unsupported(ctx, SELIUM_WASI_ERRNO_NOSYS, "not implemented by this runtime (ENOSYS)");
}

// A guest range of `length` bytes at `address`; nullopt (last error set) when any of it lies
// outside memory. `length` is 64-bit so products like count * 8 cannot wrap before the check.
std::optional<std::span<uint8_t>> guestRange(CallContext& ctx, uint32_t address, uint64_t length) {
  if (length > UINT32_MAX) {
    ctx.process.setLastError("guest range of " + std::to_string(length) +
                             " bytes is larger than any wasm32 memory");
    return std::nullopt;
  }
  return detail::guestSpan(ctx, address, static_cast<uint32_t>(length));
}

template <typename T>
void store(std::span<uint8_t> out, std::size_t offset, T value) {
  std::memcpy(out.data() + offset, &value, sizeof value);
}

uint32_t loadU32(std::span<const uint8_t> in, std::size_t offset) {
  uint32_t value;
  std::memcpy(&value, in.data() + offset, sizeof value);
  return value;
}

// Writes one little-endian integer to guest memory; EFAULT if it does not fit.
template <typename T>
int32_t storeResult(CallContext& ctx, uint32_t address, T value) {
  auto out = guestRange(ctx, address, sizeof(T));
  if (!out) return kFault;
  store(*out, 0, value);
  return kSuccess;
}

// The buffers of an iovec array, each checked to lie inside memory.
std::variant<std::vector<std::span<uint8_t>>, int32_t> ioVecs(CallContext& ctx, uint32_t address,
                                                              uint32_t count) {
  if (count > kMaxIovecs) {
    return wasiFail(
        ctx, kInvalid,
        std::to_string(count) + " iovecs is more than the limit of " + std::to_string(kMaxIovecs));
  }
  auto array = guestRange(ctx, address, uint64_t{count} * SELIUM_WASI_IOVEC_SIZE);
  if (!array) return kFault;
  std::vector<std::span<uint8_t>> buffers;
  buffers.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t buf = loadU32(*array, i * SELIUM_WASI_IOVEC_SIZE);
    uint32_t len = loadU32(*array, i * SELIUM_WASI_IOVEC_SIZE + 4);
    auto span = guestRange(ctx, buf, len);
    if (!span) return kFault;
    buffers.push_back(*span);
  }
  return buffers;
}

// args_sizes_get / environ_sizes_get: the count and the bytes of the NUL-terminated strings.
int32_t listSizes(CallContext& ctx, const std::vector<std::string>& list, uint32_t count_out,
                  uint32_t size_out) {
  uint64_t bytes = 0;
  for (const std::string& item : list) bytes += item.size() + 1;
  auto count = guestRange(ctx, count_out, 4);
  auto size = guestRange(ctx, size_out, 4);
  if (!count || !size) return kFault;
  if (bytes > UINT32_MAX || list.size() > UINT32_MAX / 4) {
    return wasiFail(ctx, SELIUM_WASI_ERRNO_IO, "argument or environment list too large");
  }
  store(*count, 0, static_cast<uint32_t>(list.size()));
  store(*size, 0, static_cast<uint32_t>(bytes));
  return kSuccess;
}

// args_get / environ_get: an array of pointers at `pointers` into the strings at `buffer`.
int32_t listGet(CallContext& ctx, const std::vector<std::string>& list, uint32_t pointers,
                uint32_t buffer) {
  uint64_t bytes = 0;
  for (const std::string& item : list) bytes += item.size() + 1;
  auto array = guestRange(ctx, pointers, uint64_t{list.size()} * 4);
  auto strings = guestRange(ctx, buffer, bytes);
  if (!array || !strings) return kFault;
  uint32_t offset = 0;
  for (std::size_t i = 0; i < list.size(); ++i) {
    store(*array, i * 4, buffer + offset);  // inside memory, so it cannot wrap
    std::memcpy(strings->data() + offset, list[i].data(), list[i].size());
    (*strings)[offset + list[i].size()] = 0;
    offset += static_cast<uint32_t>(list[i].size() + 1);
  }
  return kSuccess;
}

std::optional<uint64_t> clockNow(int32_t clock_id) {
  auto since = [](auto now) {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count());
  };
  switch (clock_id) {
    case SELIUM_WASI_CLOCK_REALTIME:
      return since(std::chrono::system_clock::now());
    case SELIUM_WASI_CLOCK_MONOTONIC:
      return since(std::chrono::steady_clock::now());
    default:
      return std::nullopt;  // CPU-time clocks mean nothing for a guest sharing a worker
  }
}

int32_t unknownClock(CallContext& ctx, int32_t clock_id) {
  return wasiFail(
      ctx, kInvalid,
      "clock " + std::to_string(clock_id) + " is not offered (0 = realtime, 1 = monotonic)");
}

uint64_t loadU64(std::span<const uint8_t> in, std::size_t offset) {
  uint64_t value;
  std::memcpy(&value, in.data() + offset, sizeof value);
  return value;
}

uint16_t loadU16(std::span<const uint8_t> in, std::size_t offset) {
  uint16_t value;
  std::memcpy(&value, in.data() + offset, sizeof value);
  return value;
}

// One poll_oneoff subscription, copied out of guest memory (which the guest may overlap with the
// events it asks for).
struct Subscription {
  uint64_t userdata;
  uint8_t tag;
  uint32_t clock_or_fd;  // clock id, or the fd of fd_read/fd_write
  uint64_t timeout;
  uint16_t clock_flags;
};

Subscription loadSubscription(std::span<const uint8_t> in, std::size_t offset) {
  Subscription s;
  s.userdata = loadU64(in, offset);
  s.tag = in[offset + 8];
  s.clock_or_fd = loadU32(in, offset + 16);
  s.timeout = loadU64(in, offset + 24);
  s.clock_flags = loadU16(in, offset + 40);
  return s;
}

struct PollEvent {
  uint16_t error = 0;
  uint8_t type = 0;
  uint64_t nbytes = 0;
  uint16_t flags = 0;
};

// The event `s` has now, or nullopt while it is not ready (a clock still in the future).
// Nothing here waits: stdin is always at end of file and stdout/stderr always take a write.
std::optional<PollEvent> readyEvent(const Subscription& s, bool time_read) {
  if (s.tag == SELIUM_WASI_EVENTTYPE_CLOCK) {
    // Ids above INT32_MAX become negative, which no clock is.
    auto now = clockNow(static_cast<int32_t>(s.clock_or_fd));
    if (!now) return PollEvent{.error = kInvalid, .type = s.tag};
    if ((s.clock_flags & SELIUM_WASI_SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME) == 0) {
      // A relative timeout is due now exactly when it is 0, whatever the clock says, so it
      // reads no time and needs no TimeRead. (An ENOTCAPABLE event here would end libc's
      // poll(fds, n, timeout) at once without an error: a guest polling in a loop would spin.)
      if (s.timeout != 0) return std::nullopt;
      return PollEvent{.type = s.tag};
    }
    // An absolute time is compared with the clock: like clock_time_get, that needs TimeRead.
    if (!time_read) return PollEvent{.error = SELIUM_WASI_ERRNO_NOTCAPABLE, .type = s.tag};
    if (s.timeout > *now) return std::nullopt;
    return PollEvent{.type = s.tag};
  }
  auto fd = static_cast<int32_t>(s.clock_or_fd);
  if (s.tag == SELIUM_WASI_EVENTTYPE_FD_READ && fd == kStdin) {
    return PollEvent{.type = s.tag,
                     .nbytes = 0,
                     .flags = SELIUM_WASI_EVENTRWFLAGS_FD_READWRITE_HANGUP};  // end of file
  }
  if (s.tag == SELIUM_WASI_EVENTTYPE_FD_WRITE && (fd == kStdout || fd == kStderr)) {
    return PollEvent{.type = s.tag, .nbytes = kMaxWriteBytes};  // what one fd_write takes
  }
  // Not open, or not open that way (fd_read/fd_write would say EBADF too).
  return PollEvent{.error = SELIUM_WASI_ERRNO_BADF, .type = s.tag};
}

}  // namespace

// ---- args and environment -------------------------------------------------------------------

int32_t args_get(CallContext& ctx, uint32_t argv, uint32_t argv_buf) {
  return listGet(ctx, ctx.process.argv(), argv, argv_buf);
}

int32_t args_sizes_get(CallContext& ctx, uint32_t argc_out, uint32_t argv_buf_size_out) {
  return listSizes(ctx, ctx.process.argv(), argc_out, argv_buf_size_out);
}

int32_t environ_get(CallContext& ctx, uint32_t environ_ptrs, uint32_t environ_buf) {
  return listGet(ctx, ctx.process.env(), environ_ptrs, environ_buf);
}

int32_t environ_sizes_get(CallContext& ctx, uint32_t environ_count_out,
                          uint32_t environ_buf_size_out) {
  return listSizes(ctx, ctx.process.env(), environ_count_out, environ_buf_size_out);
}

// ---- clocks (TimeRead, checked by the dispatcher) ------------------------------------------

int32_t clock_res_get(CallContext& ctx, int32_t clock_id, uint32_t resolution_out) {
  if (!clockNow(clock_id)) return unknownClock(ctx, clock_id);
  return storeResult<uint64_t>(ctx, resolution_out, 1);  // nanosecond clocks
}

int32_t clock_time_get(CallContext& ctx, int32_t clock_id, int64_t /*precision*/,
                       uint32_t time_out) {
  auto now = clockNow(clock_id);
  if (!now) return unknownClock(ctx, clock_id);
  return storeResult<uint64_t>(ctx, time_out, *now);
}

// ---- standard streams --------------------------------------------------------------------------

int32_t fd_write(CallContext& ctx, int32_t fd, uint32_t iovs, uint32_t iovs_len,
                 uint32_t nwritten_out) {
  if (fd != kStdout && fd != kStderr) {
    return badFd(ctx, fd, "is not open for writing (only stdout 1 and stderr 2 are)");
  }
  auto buffers = ioVecs(ctx, iovs, iovs_len);
  if (auto* error = std::get_if<int32_t>(&buffers)) return *error;
  auto nwritten = guestRange(ctx, nwritten_out, 4);
  if (!nwritten) return kFault;
  StdStream stream = fd == kStdout ? StdStream::Stdout : StdStream::Stderr;
  uint32_t written = 0;
  for (std::span<uint8_t> buffer : std::get<0>(buffers)) {
    std::size_t n = std::min<std::size_t>(buffer.size(), kMaxWriteBytes - written);
    ctx.process.writeStdStream(stream, buffer.first(n));
    written += static_cast<uint32_t>(n);
    if (written == kMaxWriteBytes) break;  // a short write; libc writes the rest again
  }
  store(*nwritten, 0, written);
  return kSuccess;
}

int32_t fd_read(CallContext& ctx, int32_t fd, uint32_t iovs, uint32_t iovs_len,
                uint32_t nread_out) {
  if (fd != kStdin) return badFd(ctx, fd, "is not open for reading (only stdin 0 is)");
  auto buffers = ioVecs(ctx, iovs, iovs_len);
  if (auto* error = std::get_if<int32_t>(&buffers)) return *error;
  return storeResult<uint32_t>(ctx, nread_out, 0);  // stdin is always at end of file
}

int32_t fd_fdstat_get(CallContext& ctx, int32_t fd, uint32_t fdstat_out) {
  if (!isStdFd(fd)) return badFd(ctx, fd, "is not open (only 0, 1 and 2 are)");
  auto out = guestRange(ctx, fdstat_out, SELIUM_WASI_FDSTAT_SIZE);
  if (!out) return kFault;
  // A character device without seek/tell rights: libc's isatty() says yes, so stdout is
  // line-buffered by libc as well.
  uint64_t rights = SELIUM_WASI_RIGHT_FD_FILESTAT_GET |
                    (fd == kStdin ? SELIUM_WASI_RIGHT_FD_READ : SELIUM_WASI_RIGHT_FD_WRITE);
  std::memset(out->data(), 0, out->size());
  store<uint8_t>(*out, 0, SELIUM_WASI_FILETYPE_CHARACTER_DEVICE);
  store<uint16_t>(*out, 2, 0);  // fs_flags
  store<uint64_t>(*out, 8, rights);
  store<uint64_t>(*out, 16, 0);  // rights_inheriting
  return kSuccess;
}

int32_t fd_filestat_get(CallContext& ctx, int32_t fd, uint32_t filestat_out) {
  if (!isStdFd(fd)) return badFd(ctx, fd, "is not open (only 0, 1 and 2 are)");
  auto out = guestRange(ctx, filestat_out, SELIUM_WASI_FILESTAT_SIZE);
  if (!out) return kFault;
  std::memset(out->data(), 0, out->size());  // dev, ino, size and times are 0
  store<uint8_t>(*out, 16, SELIUM_WASI_FILETYPE_CHARACTER_DEVICE);
  store<uint64_t>(*out, 24, 1);  // nlink
  return kSuccess;
}

int32_t fd_prestat_get(CallContext& ctx, int32_t fd, uint32_t /*prestat_out*/) {
  // No preopened directories: libc's start-up scan stops at the first EBADF.
  return badFd(ctx, fd, "is not a preopened directory (this runtime preopens none)");
}

int32_t fd_prestat_dir_name(CallContext& ctx, int32_t fd, uint32_t /*path*/,
                            uint32_t /*path_len*/) {
  return badFd(ctx, fd, "is not a preopened directory (this runtime preopens none)");
}

int32_t fd_close(CallContext& ctx, int32_t fd) {
  if (isStdFd(fd)) {
    return wasiFail(ctx, SELIUM_WASI_ERRNO_NOTSUP,
                    "fd_close: the standard streams stay open for the process's life");
  }
  return badFd(ctx, fd, "is not open");
}

int32_t fd_seek(CallContext& ctx, int32_t fd, int64_t /*offset*/, int32_t /*whence*/,
                uint32_t /*newoffset_out*/) {
  if (isStdFd(fd)) return wasiFail(ctx, SELIUM_WASI_ERRNO_SPIPE, "fd_seek: a stream cannot seek");
  return badFd(ctx, fd, "is not open");
}

int32_t fd_tell(CallContext& ctx, int32_t fd, uint32_t /*offset_out*/) {
  if (isStdFd(fd)) return wasiFail(ctx, SELIUM_WASI_ERRNO_SPIPE, "fd_tell: a stream cannot seek");
  return badFd(ctx, fd, "is not open");
}

// ---- process --------------------------------------------------------------------------------

void proc_exit(CallContext& ctx, int32_t code) {
  // The engine sees the request when this returns and unwinds the guest (as process_exit).
  ctx.process.requestExit(code);
}

int32_t sched_yield(CallContext&) {
  return kSuccess;  // one guest per worker call: there is nobody to yield to within it
}

int32_t random_get(CallContext& ctx, uint32_t buf, uint32_t buf_len) {
  if (buf_len > kMaxRandomBytes) {
    return wasiFail(ctx, kInvalid,
                    "random_get of " + std::to_string(buf_len) + " bytes is over the limit of " +
                        std::to_string(kMaxRandomBytes));
  }
  auto out = guestRange(ctx, buf, buf_len);
  if (!out) return kFault;
  std::size_t filled = 0;
  while (filled < out->size()) {
    ssize_t n = ::getrandom(out->data() + filled, out->size() - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return wasiFail(ctx, SELIUM_WASI_ERRNO_IO,
                      std::string("random_get: getrandom failed: ") + std::strerror(errno));
    }
    filled += static_cast<std::size_t>(n);
  }
  return kSuccess;
}

// ---- sockets: none are open -------------------------------------------------------------------

int32_t sock_shutdown(CallContext& ctx, int32_t fd, int32_t /*how*/) {
  // An answer, not a gap (so not logged): libc's shutdown() on a stream gets ENOTSOCK.
  if (isStdFd(fd)) {
    return wasiFail(
        ctx, SELIUM_WASI_ERRNO_NOTSOCK,
        "sock_shutdown: fd " + std::to_string(fd) + " is a character device, not a socket");
  }
  return badFd(ctx, fd, "is not open");
}

// ---- poll_oneoff: what is ready now, never a wait -------------------------------------------

int32_t poll_oneoff(CallContext& ctx, uint32_t in, uint32_t out, uint32_t nsubscriptions,
                    uint32_t nevents_out) {
  if (nsubscriptions == 0) {
    return wasiFail(ctx, kInvalid, "poll_oneoff: no subscriptions (it would wait forever)");
  }
  if (nsubscriptions > kMaxSubscriptions) {
    return wasiFail(ctx, kInvalid,
                    "poll_oneoff: " + std::to_string(nsubscriptions) +
                        " subscriptions is more than the limit of " +
                        std::to_string(kMaxSubscriptions));
  }
  // 64-bit products, so no range can wrap before it is checked (whatever the limit above).
  auto subscriptions =
      guestRange(ctx, in, uint64_t{nsubscriptions} * SELIUM_WASI_SUBSCRIPTION_SIZE);
  auto events = guestRange(ctx, out, uint64_t{nsubscriptions} * SELIUM_WASI_EVENT_SIZE);
  auto nevents = guestRange(ctx, nevents_out, 4);
  if (!subscriptions || !events || !nevents) return kFault;

  // Every subscription is read and judged before anything is written, so a bad one leaves
  // memory as it was and `out` overlapping `in` reads nothing already overwritten.
  bool time_read = ctx.process.capabilities().contains(Capability::TimeRead);
  bool clock_denied = false;
  std::vector<std::pair<uint64_t, PollEvent>> ready;
  for (uint32_t i = 0; i < nsubscriptions; ++i) {
    Subscription s =
        loadSubscription(*subscriptions, std::size_t{i} * SELIUM_WASI_SUBSCRIPTION_SIZE);
    if (s.tag > SELIUM_WASI_EVENTTYPE_FD_WRITE) {
      // The whole call: an event of an unknown type is something libc could not read back.
      return wasiFail(ctx, kInvalid,
                      "poll_oneoff: subscription " + std::to_string(i) + " has unknown type " +
                          std::to_string(s.tag) + " (0 = clock, 1 = fd_read, 2 = fd_write)");
    }
    if (auto event = readyEvent(s, time_read)) {
      clock_denied |= event->error == SELIUM_WASI_ERRNO_NOTCAPABLE;
      ready.emplace_back(s.userdata, *event);
    }
  }
  if (ready.empty()) {
    // Only future clocks: sleeping would hold the worker; guests wait with selium timers.
    return unsupported(ctx, SELIUM_WASI_ERRNO_NOTSUP,
                       "nothing is ready and waiting would block the worker (sleep); "
                       "returns ENOTSUP");
  }
  if (clock_denied) {
    if (ctx.hostcall != nullptr && ctx.process.firstDenial(ctx.hostcall->index)) {
      log::warn("hostcall denied: capability not granted", {{"pid", ctx.process.id()},
                                                            {"module", ctx.process.module()},
                                                            {"hostcall", ctx.hostcall->name},
                                                            {"import_module", ctx.hostcall->module},
                                                            {"capability", "TimeRead"}});
    }
    ctx.process.setLastError(
        "poll_oneoff: an absolute clock subscription needs capability TimeRead, which this "
        "process was not granted (its event has error ENOTCAPABLE)");
  }
  for (std::size_t i = 0; i < ready.size(); ++i) {
    std::span<uint8_t> event = events->subspan(i * SELIUM_WASI_EVENT_SIZE, SELIUM_WASI_EVENT_SIZE);
    const PollEvent& e = ready[i].second;
    std::memset(event.data(), 0, event.size());  // padding and clock events' fd_readwrite
    store<uint64_t>(event, 0, ready[i].first);
    store<uint16_t>(event, 8, e.error);
    store<uint8_t>(event, 10, e.type);
    store<uint64_t>(event, 16, e.nbytes);
    store<uint16_t>(event, 24, e.flags);
  }
  store(*nevents, 0, static_cast<uint32_t>(ready.size()));
  return kSuccess;
}

// ---- not implemented: ENOSYS, logged once per process and call ------------------------------

int32_t fd_advise(CallContext& ctx, int32_t, int64_t, int64_t, int32_t) {
  return notImplemented(ctx);
}
int32_t fd_allocate(CallContext& ctx, int32_t, int64_t, int64_t) { return notImplemented(ctx); }
int32_t fd_datasync(CallContext& ctx, int32_t) { return notImplemented(ctx); }
int32_t fd_fdstat_set_flags(CallContext& ctx, int32_t, int32_t) { return notImplemented(ctx); }
int32_t fd_fdstat_set_rights(CallContext& ctx, int32_t, int64_t, int64_t) {
  return notImplemented(ctx);
}
int32_t fd_filestat_set_size(CallContext& ctx, int32_t, int64_t) { return notImplemented(ctx); }
int32_t fd_filestat_set_times(CallContext& ctx, int32_t, int64_t, int64_t, int32_t) {
  return notImplemented(ctx);
}
int32_t fd_pread(CallContext& ctx, int32_t, uint32_t, uint32_t, int64_t, uint32_t) {
  return notImplemented(ctx);
}
int32_t fd_pwrite(CallContext& ctx, int32_t, uint32_t, uint32_t, int64_t, uint32_t) {
  return notImplemented(ctx);
}
int32_t fd_readdir(CallContext& ctx, int32_t, uint32_t, uint32_t, int64_t, uint32_t) {
  return notImplemented(ctx);
}
int32_t fd_renumber(CallContext& ctx, int32_t, int32_t) { return notImplemented(ctx); }
int32_t fd_sync(CallContext& ctx, int32_t) { return notImplemented(ctx); }
int32_t path_create_directory(CallContext& ctx, int32_t, uint32_t, uint32_t) {
  return notImplemented(ctx);
}
int32_t path_filestat_get(CallContext& ctx, int32_t, int32_t, uint32_t, uint32_t, uint32_t) {
  return notImplemented(ctx);
}
int32_t path_filestat_set_times(CallContext& ctx, int32_t, int32_t, uint32_t, uint32_t, int64_t,
                                int64_t, int32_t) {
  return notImplemented(ctx);
}
int32_t path_link(CallContext& ctx, int32_t, int32_t, uint32_t, uint32_t, int32_t, uint32_t,
                  uint32_t) {
  return notImplemented(ctx);
}
int32_t path_open(CallContext& ctx, int32_t, int32_t, uint32_t, uint32_t, int32_t, int64_t, int64_t,
                  int32_t, uint32_t) {
  return notImplemented(ctx);
}
int32_t path_readlink(CallContext& ctx, int32_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t) {
  return notImplemented(ctx);
}
int32_t path_remove_directory(CallContext& ctx, int32_t, uint32_t, uint32_t) {
  return notImplemented(ctx);
}
int32_t path_rename(CallContext& ctx, int32_t, uint32_t, uint32_t, int32_t, uint32_t, uint32_t) {
  return notImplemented(ctx);
}
int32_t path_symlink(CallContext& ctx, uint32_t, uint32_t, int32_t, uint32_t, uint32_t) {
  return notImplemented(ctx);
}
int32_t path_unlink_file(CallContext& ctx, int32_t, uint32_t, uint32_t) {
  return notImplemented(ctx);
}
int32_t proc_raise(CallContext& ctx, int32_t) { return notImplemented(ctx); }
int32_t sock_accept(CallContext& ctx, int32_t, int32_t, uint32_t) { return notImplemented(ctx); }
int32_t sock_recv(CallContext& ctx, int32_t, uint32_t, uint32_t, int32_t, uint32_t, uint32_t) {
  return notImplemented(ctx);
}
int32_t sock_send(CallContext& ctx, int32_t, uint32_t, uint32_t, int32_t, uint32_t) {
  return notImplemented(ctx);
}

}  // namespace selium::kernel::wasi
