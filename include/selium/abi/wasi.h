/* WASI preview 1: the second import module the host provides, "wasi_snapshot_preview1", so that
 * a C/C++ program built with wasi-libc runs unchanged. This table is the single source of truth
 * for it, exactly as hostcalls.h is for module "selium": the host's linker and capability checks
 * are expanded from it, and src/kernel/hostcall.cc checks each handler's wasm signature against
 * the entry here at compile time. README "WASI support" says what each call does on this host.
 *
 * Conventions (the preview-1 ABI as wasi-libc imports it):
 *  - import module "wasi_snapshot_preview1", import name = the entry's name;
 *  - scalars only: uint32_t guest addresses and sizes, int32_t/int64_t values;
 *  - result: a WASI errno (0 = success, SELIUM_WASI_ERRNO_* otherwise); proc_exit returns nothing;
 *  - a call whose capability the process lacks returns SELIUM_WASI_ERRNO_NOTCAPABLE (not a
 *    -SELIUM_ERR_* code: WASI callers expect errnos).
 * Freestanding C. */
#ifndef SELIUM_ABI_WASI_H_
#define SELIUM_ABI_WASI_H_

#include <stdint.h>

#include "selium/abi/hostcalls.h"

#define SELIUM_WASI_IMPORT_MODULE "wasi_snapshot_preview1"

/* Exports of WASI modules the host knows. A command (wasi-libc's crt1: main) exports _start,
 * `() -> ()`, which the host runs with the spec's args as argv; a reactor may export
 * _initialize, `() -> ()`, which the host calls once before the entrypoint. */
#define SELIUM_WASI_EXPORT_START "_start"
#define SELIUM_WASI_EXPORT_INITIALIZE "_initialize"

/* WASI errnos this host returns (numbers from the preview-1 witx; never renumbered). */
enum {
  SELIUM_WASI_ERRNO_SUCCESS = 0,
  SELIUM_WASI_ERRNO_BADF = 8,
  SELIUM_WASI_ERRNO_FAULT = 21,
  SELIUM_WASI_ERRNO_INVAL = 28,
  SELIUM_WASI_ERRNO_IO = 29,
  SELIUM_WASI_ERRNO_NOSYS = 52,
  SELIUM_WASI_ERRNO_NOTSOCK = 57,
  SELIUM_WASI_ERRNO_NOTSUP = 58,
  SELIUM_WASI_ERRNO_SPIPE = 70,
  SELIUM_WASI_ERRNO_NOTCAPABLE = 76
};

/* Clock ids of clock_res_get / clock_time_get. */
enum {
  SELIUM_WASI_CLOCK_REALTIME = 0,
  SELIUM_WASI_CLOCK_MONOTONIC = 1,
  SELIUM_WASI_CLOCK_PROCESS_CPUTIME = 2,
  SELIUM_WASI_CLOCK_THREAD_CPUTIME = 3
};

/* File types (fdstat.fs_filetype, filestat.filetype) and the rights bits the host reports. */
enum { SELIUM_WASI_FILETYPE_CHARACTER_DEVICE = 2 };
#define SELIUM_WASI_RIGHT_FD_READ (UINT64_C(1) << 1)
#define SELIUM_WASI_RIGHT_FD_SEEK (UINT64_C(1) << 2)
#define SELIUM_WASI_RIGHT_FD_TELL (UINT64_C(1) << 5)
#define SELIUM_WASI_RIGHT_FD_WRITE (UINT64_C(1) << 6)
#define SELIUM_WASI_RIGHT_FD_FILESTAT_GET (UINT64_C(1) << 21)

/* Sizes of the structures the host reads or writes (little-endian, as the witx lays them out):
 * ciovec/iovec {u32 buf; u32 buf_len}, fdstat {u8 filetype @0; u16 flags @2; u64 rights_base @8;
 * u64 rights_inheriting @16}, filestat {u64 dev @0, ino @8; u8 filetype @16; u64 nlink @24,
 * size @32, atim @40, mtim @48, ctim @56}. */
#define SELIUM_WASI_IOVEC_SIZE 8u
#define SELIUM_WASI_FDSTAT_SIZE 24u
#define SELIUM_WASI_FILESTAT_SIZE 64u

/* poll_oneoff (values and layouts as wasi-libc's <wasi/api.h>): subscription {u64 userdata @0;
 * u8 tag @8 (an event type); clock {u32 id @16; u64 timeout @24; u64 precision @32; u16 flags
 * @40} or fd_read/fd_write {u32 fd @16}}; event {u64 userdata @0; u16 error @8; u8 type @10;
 * fd_readwrite {u64 nbytes @16; u16 flags @24}}. */
enum {
  SELIUM_WASI_EVENTTYPE_CLOCK = 0,
  SELIUM_WASI_EVENTTYPE_FD_READ = 1,
  SELIUM_WASI_EVENTTYPE_FD_WRITE = 2
};
#define SELIUM_WASI_SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME 1u
#define SELIUM_WASI_EVENTRWFLAGS_FD_READWRITE_HANGUP 1u
#define SELIUM_WASI_SUBSCRIPTION_SIZE 48u
#define SELIUM_WASI_EVENT_SIZE 32u

/* X(name, capability, result type, parameter list): every preview-1 function, in the witx's
 * order. Pointer parameters are uint32_t guest addresses; `*_len` are byte or element counts. */
#define SELIUM_WASI_CALLS(X)                                                                       \
  X(args_get, SELIUM_CAP_NONE, int32_t, (uint32_t argv, uint32_t argv_buf))                        \
  X(args_sizes_get, SELIUM_CAP_NONE, int32_t, (uint32_t argc_out, uint32_t argv_buf_size_out))     \
  X(environ_get, SELIUM_CAP_NONE, int32_t, (uint32_t environ_ptrs, uint32_t environ_buf))          \
  X(environ_sizes_get, SELIUM_CAP_NONE, int32_t,                                                   \
    (uint32_t environ_count_out, uint32_t environ_buf_size_out))                                   \
  X(clock_res_get, SELIUM_CAP_TimeRead, int32_t, (int32_t clock_id, uint32_t resolution_out))      \
  X(clock_time_get, SELIUM_CAP_TimeRead, int32_t,                                                  \
    (int32_t clock_id, int64_t precision, uint32_t time_out))                                      \
  X(fd_advise, SELIUM_CAP_NONE, int32_t,                                                           \
    (int32_t fd, int64_t offset, int64_t len, int32_t advice))                                     \
  X(fd_allocate, SELIUM_CAP_NONE, int32_t, (int32_t fd, int64_t offset, int64_t len))              \
  X(fd_close, SELIUM_CAP_NONE, int32_t, (int32_t fd))                                              \
  X(fd_datasync, SELIUM_CAP_NONE, int32_t, (int32_t fd))                                           \
  X(fd_fdstat_get, SELIUM_CAP_NONE, int32_t, (int32_t fd, uint32_t fdstat_out))                    \
  X(fd_fdstat_set_flags, SELIUM_CAP_NONE, int32_t, (int32_t fd, int32_t flags))                    \
  X(fd_fdstat_set_rights, SELIUM_CAP_NONE, int32_t,                                                \
    (int32_t fd, int64_t rights_base, int64_t rights_inheriting))                                  \
  X(fd_filestat_get, SELIUM_CAP_NONE, int32_t, (int32_t fd, uint32_t filestat_out))                \
  X(fd_filestat_set_size, SELIUM_CAP_NONE, int32_t, (int32_t fd, int64_t size))                    \
  X(fd_filestat_set_times, SELIUM_CAP_NONE, int32_t,                                               \
    (int32_t fd, int64_t atim, int64_t mtim, int32_t fst_flags))                                   \
  X(fd_pread, SELIUM_CAP_NONE, int32_t,                                                            \
    (int32_t fd, uint32_t iovs, uint32_t iovs_len, int64_t offset, uint32_t nread_out))            \
  X(fd_prestat_get, SELIUM_CAP_NONE, int32_t, (int32_t fd, uint32_t prestat_out))                  \
  X(fd_prestat_dir_name, SELIUM_CAP_NONE, int32_t, (int32_t fd, uint32_t path, uint32_t path_len)) \
  X(fd_pwrite, SELIUM_CAP_NONE, int32_t,                                                           \
    (int32_t fd, uint32_t iovs, uint32_t iovs_len, int64_t offset, uint32_t nwritten_out))         \
  X(fd_read, SELIUM_CAP_NONE, int32_t,                                                             \
    (int32_t fd, uint32_t iovs, uint32_t iovs_len, uint32_t nread_out))                            \
  X(fd_readdir, SELIUM_CAP_NONE, int32_t,                                                          \
    (int32_t fd, uint32_t buf, uint32_t buf_len, int64_t cookie, uint32_t bufused_out))            \
  X(fd_renumber, SELIUM_CAP_NONE, int32_t, (int32_t fd, int32_t to))                               \
  X(fd_seek, SELIUM_CAP_NONE, int32_t,                                                             \
    (int32_t fd, int64_t offset, int32_t whence, uint32_t newoffset_out))                          \
  X(fd_sync, SELIUM_CAP_NONE, int32_t, (int32_t fd))                                               \
  X(fd_tell, SELIUM_CAP_NONE, int32_t, (int32_t fd, uint32_t offset_out))                          \
  X(fd_write, SELIUM_CAP_NONE, int32_t,                                                            \
    (int32_t fd, uint32_t iovs, uint32_t iovs_len, uint32_t nwritten_out))                         \
  X(path_create_directory, SELIUM_CAP_NONE, int32_t,                                               \
    (int32_t fd, uint32_t path, uint32_t path_len))                                                \
  X(path_filestat_get, SELIUM_CAP_NONE, int32_t,                                                   \
    (int32_t fd, int32_t flags, uint32_t path, uint32_t path_len, uint32_t filestat_out))          \
  X(path_filestat_set_times, SELIUM_CAP_NONE, int32_t,                                             \
    (int32_t fd, int32_t flags, uint32_t path, uint32_t path_len, int64_t atim, int64_t mtim,      \
     int32_t fst_flags))                                                                           \
  X(path_link, SELIUM_CAP_NONE, int32_t,                                                           \
    (int32_t old_fd, int32_t old_flags, uint32_t old_path, uint32_t old_path_len, int32_t new_fd,  \
     uint32_t new_path, uint32_t new_path_len))                                                    \
  X(path_open, SELIUM_CAP_NONE, int32_t,                                                           \
    (int32_t fd, int32_t dirflags, uint32_t path, uint32_t path_len, int32_t oflags,               \
     int64_t fs_rights_base, int64_t fs_rights_inheriting, int32_t fdflags, uint32_t fd_out))      \
  X(path_readlink, SELIUM_CAP_NONE, int32_t,                                                       \
    (int32_t fd, uint32_t path, uint32_t path_len, uint32_t buf, uint32_t buf_len,                 \
     uint32_t bufused_out))                                                                        \
  X(path_remove_directory, SELIUM_CAP_NONE, int32_t,                                               \
    (int32_t fd, uint32_t path, uint32_t path_len))                                                \
  X(path_rename, SELIUM_CAP_NONE, int32_t,                                                         \
    (int32_t fd, uint32_t old_path, uint32_t old_path_len, int32_t new_fd, uint32_t new_path,      \
     uint32_t new_path_len))                                                                       \
  X(path_symlink, SELIUM_CAP_NONE, int32_t,                                                        \
    (uint32_t old_path, uint32_t old_path_len, int32_t fd, uint32_t new_path,                      \
     uint32_t new_path_len))                                                                       \
  X(path_unlink_file, SELIUM_CAP_NONE, int32_t, (int32_t fd, uint32_t path, uint32_t path_len))    \
  X(poll_oneoff, SELIUM_CAP_NONE, int32_t,                                                         \
    (uint32_t in, uint32_t out, uint32_t nsubscriptions, uint32_t nevents_out))                    \
  X(proc_exit, SELIUM_CAP_NONE, void, (int32_t code))                                              \
  X(proc_raise, SELIUM_CAP_NONE, int32_t, (int32_t sig))                                           \
  X(sched_yield, SELIUM_CAP_NONE, int32_t, (void))                                                 \
  X(random_get, SELIUM_CAP_NONE, int32_t, (uint32_t buf, uint32_t buf_len))                        \
  X(sock_accept, SELIUM_CAP_NONE, int32_t, (int32_t fd, int32_t flags, uint32_t fd_out))           \
  X(sock_recv, SELIUM_CAP_NONE, int32_t,                                                           \
    (int32_t fd, uint32_t ri_data, uint32_t ri_data_len, int32_t ri_flags,                         \
     uint32_t ro_datalen_out, uint32_t ro_flags_out))                                              \
  X(sock_send, SELIUM_CAP_NONE, int32_t,                                                           \
    (int32_t fd, uint32_t si_data, uint32_t si_data_len, int32_t si_flags,                         \
     uint32_t so_datalen_out))                                                                     \
  X(sock_shutdown, SELIUM_CAP_NONE, int32_t, (int32_t fd, int32_t how))

#endif /* SELIUM_ABI_WASI_H_ */
