/* The Selium guest SDK for C (C11 and C++): every hostcall as a declared wasm import, plus a few
 * helpers implemented in the SDK library (libselium_sdk.a). C++ guests usually want
 * selium/selium.hpp, which builds tasks, entrypoints and structured logging on top of this.
 *
 * Guest addresses are wasm32 pointers passed as uint32_t; SELIUM_ADDR(p) converts a pointer.
 * Every hostcall returns >= 0 on success and -SELIUM_ERR_* on failure. */
#ifndef SELIUM_SELIUM_H_
#define SELIUM_SELIUM_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "selium/abi/capabilities.h"
#include "selium/abi/errors.h"
#include "selium/abi/hostcalls.h"

#if !defined(__wasm32__)
#error "selium/selium.h is for wasm32 guests (clang --target=wasm32-wasi)"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* A pointer as the uint32_t guest address hostcalls take. */
#define SELIUM_ADDR(p) ((uint32_t)(uintptr_t)(p))

/* Exports the function that follows under `name` (e.g. an entrypoint `start`). */
#define SELIUM_EXPORT(name) __attribute__((export_name(#name)))

/* Hostcalls: `selium_<name>` for every entry of SELIUM_HOSTCALLS, imported from module "selium".
 * Their contracts are the comments of the table in selium/abi/hostcalls.h:
 *   selium_last_error(buf, cap)       message of the last failed hostcall; returns its length
 *   selium_log_write(record, len)     writes a FlatBuffers selium.abi.LogRecord
 *   selium_log_enabled(lvl, t, len)   1 if a record of that level and target would be printed
 *   selium_log_uri(buf, cap)          the process's log_uri; its length or -NotFound
 *   selium_process_id()               this process's id (> 0)
 *   selium_process_exit(status)       ends the process; does not return (see selium_exit)
 *   selium_yield_now(waker)           -WouldBlock; the host polls `waker` after other work
 *   selium_handle_close(handle)       closes a handle of any kind
 *   selium_time_now(clock)            nanoseconds of SELIUM_CLOCK_WALL or _MONOTONIC
 *   selium_timer_create(ns)           a timer handle that becomes ready in `ns` nanoseconds
 *   selium_timer_poll(timer, waker)   0 when ready, else records `waker` and -WouldBlock
 *   selium_handle_kind(handle)        SELIUM_KIND_* of an open handle
 *   selium_handle_cancel_wait(handle) forgets the waker a -WouldBlock on the handle recorded
 *   selium_handle_share(handle)       a shared id (> 0, random) another process can attach
 *   selium_handle_attach(id, kind)    a new handle of this process for a shared id
 *   selium_channel_create(cap, bp)    a channel of `cap` bytes, SELIUM_BACKPRESSURE_PARK or _DROP
 *   selium_channel_drain(channel)     no new frames; readers get -EndOfStream after the rest
 *   selium_channel_delete(channel)    closes the channel for everyone (-Closed)
 *   selium_channel_reader_open(ch, s) a SELIUM_STRONG or SELIUM_WEAK reader
 *   selium_channel_read(r, buf, cap, waker)        one frame; its length (> cap: nothing read)
 *   selium_channel_read_batch(r, buf, cap, waker)  as many whole frames as fit, as a batch
 *   selium_channel_reader_lost(reader)             frames a weak reader lost since last asked
 *   selium_channel_writer_open(ch, s) a SELIUM_STRONG or SELIUM_WEAK writer
 *   selium_channel_writer_downgrade(writer)        the writer becomes weak
 *   selium_channel_write(w, data, len, waker)      one frame: 0, -WouldBlock, -Dropped, ...
 *   selium_channel_write_batch(w, batch, len, waker)  frames of a batch; how many were written
 *   selium_singleton_register(id, handle)  registers a handle under a 16-byte id
 *   selium_singleton_lookup(id, kind)      a new handle for the singleton registered under id
 *   selium_process_start(req, len)    starts a child from a StartRequest; a process handle
 *   selium_process_stop(process)      stops the child (it ends SELIUM_EXIT_TERMINATED)
 *   selium_process_wait(process, waker)    (reason << 32) | (uint32_t)status once it has ended
 *   selium_process_exit_message(process, buf, cap)  the runtime's message for its exit
 *   selium_process_pid(process)       the child's process id once it has started
 *   selium_process_log_open(process)  a weak reader of the child's log records
 * docs/channels.md and docs/processes.md describe channels, sharing and child processes. */
#define SELIUM_DECLARE_HOSTCALL_(name, capability, result, params)         \
  __attribute__((import_module(SELIUM_IMPORT_MODULE), import_name(#name))) \
  result selium_##name params;
SELIUM_HOSTCALLS(SELIUM_DECLARE_HOSTCALL_)
#undef SELIUM_DECLARE_HOSTCALL_

/* Field kinds of a structured log record; the values are schemas/log.fbs's FieldKind. */
enum {
  SELIUM_LOG_FIELD_STR = 0,
  SELIUM_LOG_FIELD_INT = 1,
  SELIUM_LOG_FIELD_UINT = 2,
  SELIUM_LOG_FIELD_FLOAT = 3,
  SELIUM_LOG_FIELD_BOOL = 4
};

/* One key/value field of a log record. `key` and `value.str` are NUL-terminated (NULL reads as
 * ""); `kind` says which member of `value` is meaningful. */
typedef struct selium_log_field {
  const char* key;
  uint32_t kind;
  union {
    const char* str;
    int64_t i64;
    uint64_t u64;
    double f64;
    bool b;
  } value;
} selium_log_field_t;

#ifndef __cplusplus
/* Compound-literal constructors for selium_log_fields (C only). */
#define SELIUM_FIELD_STR(k, v) \
  ((selium_log_field_t){.key = (k), .kind = SELIUM_LOG_FIELD_STR, .value.str = (v)})
#define SELIUM_FIELD_INT(k, v) \
  ((selium_log_field_t){.key = (k), .kind = SELIUM_LOG_FIELD_INT, .value.i64 = (v)})
#define SELIUM_FIELD_UINT(k, v) \
  ((selium_log_field_t){.key = (k), .kind = SELIUM_LOG_FIELD_UINT, .value.u64 = (v)})
#define SELIUM_FIELD_FLOAT(k, v) \
  ((selium_log_field_t){.key = (k), .kind = SELIUM_LOG_FIELD_FLOAT, .value.f64 = (v)})
#define SELIUM_FIELD_BOOL(k, v) \
  ((selium_log_field_t){.key = (k), .kind = SELIUM_LOG_FIELD_BOOL, .value.b = (v)})
#endif

/* Writes a record with `message` at `level` (SELIUM_LOG_*); `target` may be NULL. Returns the
 * log_write result (>= 0 on success). */
int32_t selium_log(int32_t level, const char* target, const char* message);

/* As selium_log, with `count` key/value fields. */
int32_t selium_log_fields(int32_t level, const char* target, const char* message,
                          const selium_log_field_t* fields, size_t count);

/* Copies the message of the last failed hostcall into buf as a NUL-terminated string (truncated
 * to cap - 1 bytes); returns the message's full length, like snprintf (0: no failure yet). */
size_t selium_last_error_message(char* buf, size_t cap);

/* The name of an error code ("PermissionDenied"); accepts `code` or `-code`; "Ok" for 0 and
 * "Unknown" for codes outside SELIUM_ERRORS. Never NULL. */
const char* selium_error_name(int32_t code);

/* The one-line description of an error code from SELIUM_ERRORS (accepts `code` or `-code`). */
const char* selium_error_description(int32_t code);

/* Ends the process with `status` (0 = success); never returns. */
__attribute__((noreturn)) void selium_exit(int32_t status);

/* Runs the module's static constructors once (later calls do nothing). The SDK's exports and
 * C++ entrypoints call it themselves; a C entrypoint whose code has constructors calls it
 * first. */
void selium_init(void);

/* Exported as "selium_alloc": memory for entrypoint arguments the host copies in. Returns 0 when
 * `align` is not a power of two or memory is exhausted. The SDK never frees it: arguments stay
 * valid for the life of the process. */
uint32_t selium_alloc(uint32_t size, uint32_t align);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SELIUM_SELIUM_H_ */
