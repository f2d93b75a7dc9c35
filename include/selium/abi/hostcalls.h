/* The hostcall table: the single source of truth for every function the host offers guests.
 * Everything is expanded from it: the SDK's import declarations, the host's linker and
 * capability checks (src/kernel/hostcalls.cc checks each handler's wasm signature against the
 * entry here at compile time), and the coverage test.
 *
 * Conventions (see README "Guest ABI"):
 *  - import module "selium", import name = the entry's name;
 *  - scalars only: uint32_t guest addresses and lengths, int32_t/int64_t values;
 *  - result >= 0 is success; < 0 is -SELIUM_ERR_* (include/selium/abi/errors.h);
 *  - a hostcall whose capability the process lacks returns -SELIUM_ERR_PermissionDenied;
 *  - `waker` is a guest-chosen token: when a hostcall returns -SELIUM_ERR_WouldBlock the host
 *    calls the guest's `selium_poll(waker)` export once it may succeed.
 * Freestanding C. */
#ifndef SELIUM_ABI_HOSTCALLS_H_
#define SELIUM_ABI_HOSTCALLS_H_

#include <stdint.h>

#include "selium/abi/capabilities.h"

#define SELIUM_IMPORT_MODULE "selium"

/* Capability "none": the hostcall is available to every process. */
#define SELIUM_CAP_NONE 0xFFFFFFFFu

/* Handles are small positive per-process integers; 0 is never a valid handle. */
typedef int32_t selium_handle_t;

/* Log levels of log_write / log_enabled. */
enum {
  SELIUM_LOG_TRACE = 0,
  SELIUM_LOG_DEBUG = 1,
  SELIUM_LOG_INFO = 2,
  SELIUM_LOG_WARN = 3,
  SELIUM_LOG_ERROR = 4
};

/* Limits on one log_write record (the host refuses a record past any with -InvalidArgument; the
 * SDK truncates instead): its encoded size, the bytes of its target, message, keys and string
 * values together, its number of fields, and the length of one key (of [A-Za-z0-9_.-]). */
#define SELIUM_LOG_MAX_RECORD_BYTES 65536
#define SELIUM_LOG_MAX_STRING_BYTES 65536
#define SELIUM_LOG_MAX_FIELDS 128
#define SELIUM_LOG_MAX_KEY_BYTES 64

/* Clocks of time_now. */
enum { SELIUM_CLOCK_WALL = 0, SELIUM_CLOCK_MONOTONIC = 1 };

/* Guest exports the host looks for, besides the entrypoint:
 *   selium_alloc(size, align) -> address   needed for utf8/buffer/hex entrypoint arguments;
 *   selium_poll(waker) -> 0 pending, 1 done  called when a waker fires; a module without it
 *                                             ends when its entrypoint returns. */
#define SELIUM_EXPORT_ALLOC "selium_alloc"
#define SELIUM_EXPORT_POLL "selium_poll"
#define SELIUM_POLL_PENDING 0
#define SELIUM_POLL_DONE 1
/* The waker passed to selium_poll right after the entrypoint returns. */
#define SELIUM_WAKER_START (-1)

/* X(name, capability, result type, parameter list) */
#define SELIUM_HOSTCALLS(X)                                                                       \
  /* Copies the message of this process's most recent failed hostcall into buf (at most cap       \
   * bytes, no terminator); returns the message's full length (0: none). */                       \
  X(last_error, SELIUM_CAP_NONE, int32_t, (uint32_t buf, uint32_t cap))                           \
  /* Writes a log record: a FlatBuffers selium.abi.LogRecord (schemas/log.fbs). */                \
  X(log_write, SELIUM_CAP_NONE, int32_t, (uint32_t record, uint32_t record_len))                  \
  /* 1 if a record of this level and target would be printed, else 0. */                          \
  X(log_enabled, SELIUM_CAP_NONE, int32_t, (int32_t level, uint32_t target, uint32_t target_len)) \
  /* Copies the process's log_uri into buf (at most cap bytes); returns its full length, or       \
   * -NotFound when the spec gave none. */                                                        \
  X(log_uri, SELIUM_CAP_NONE, int32_t, (uint32_t buf, uint32_t cap))                              \
  /* This process's id (> 0). */                                                                  \
  X(process_id, SELIUM_CAP_NONE, int64_t, (void))                                                 \
  /* Ends this process with `status` (0 = success); does not return. */                           \
  X(process_exit, SELIUM_CAP_NONE, int32_t, (int32_t status))                                     \
  /* Asks to be polled again (waker) after other ready work has run; returns -WouldBlock. */      \
  X(yield_now, SELIUM_CAP_NONE, int32_t, (int32_t waker))                                         \
  /* Closes a handle of any kind. */                                                              \
  X(handle_close, SELIUM_CAP_NONE, int32_t, (selium_handle_t handle))                             \
  /* Nanoseconds: since the Unix epoch (SELIUM_CLOCK_WALL) or since an arbitrary start that       \
   * never goes back (SELIUM_CLOCK_MONOTONIC). */                                                 \
  X(time_now, SELIUM_CAP_TimeRead, int64_t, (int32_t clock))                                      \
  /* A timer handle that becomes ready `duration_ns` from now (negative: invalid). */             \
  X(timer_create, SELIUM_CAP_TimeRead, int32_t, (int64_t duration_ns))                            \
  /* 0 if the timer is ready; else records waker and returns -WouldBlock. */                      \
  X(timer_poll, SELIUM_CAP_TimeRead, int32_t, (selium_handle_t timer, int32_t waker))

#endif /* SELIUM_ABI_HOSTCALLS_H_ */
