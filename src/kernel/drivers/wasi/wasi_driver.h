// WASI preview 1 (import module "wasi_snapshot_preview1", table include/selium/abi/wasi.h): the
// subset a C/C++ program built with wasi-libc needs. stdout/stderr become log records, args and
// environment come from the spec, clocks need TimeRead, random_get, proc_exit, and the
// standard-fd queries libc makes at start-up, poll_oneoff for what is ready at once. Every other
// function returns an errno (ENOSYS, or ENOTSUP for one that would have to block the worker),
// logged once per process and call.
// Handlers return WASI errnos, never -SELIUM_ERR_* codes; they never block.
#pragma once

#include "kernel/hostcall.h"

namespace selium::kernel::wasi {

// Bounds that keep one call short: iovecs per fd_read/fd_write (as Linux's IOV_MAX), bytes one
// fd_write accepts (the rest is a short write, which libc retries), bytes of one random_get.
inline constexpr uint32_t kMaxIovecs = 1024;
inline constexpr uint32_t kMaxWriteBytes = 1024 * 1024;
inline constexpr uint32_t kMaxRandomBytes = 1024 * 1024;
// Subscriptions one poll_oneoff reads (wasi-libc's poll() makes two per fd, select() at most
// 2 * FD_SETSIZE + 1); EINVAL beyond, so one call stays short.
inline constexpr uint32_t kMaxSubscriptions = 4096;

// Handlers, one per entry of SELIUM_WASI_CALLS, with the same names and wasm signatures.
int32_t args_get(CallContext& ctx, uint32_t argv, uint32_t argv_buf);
int32_t args_sizes_get(CallContext& ctx, uint32_t argc_out, uint32_t argv_buf_size_out);
int32_t environ_get(CallContext& ctx, uint32_t environ_ptrs, uint32_t environ_buf);
int32_t environ_sizes_get(CallContext& ctx, uint32_t environ_count_out,
                          uint32_t environ_buf_size_out);
int32_t clock_res_get(CallContext& ctx, int32_t clock_id, uint32_t resolution_out);
int32_t clock_time_get(CallContext& ctx, int32_t clock_id, int64_t precision, uint32_t time_out);
int32_t fd_advise(CallContext& ctx, int32_t fd, int64_t offset, int64_t len, int32_t advice);
int32_t fd_allocate(CallContext& ctx, int32_t fd, int64_t offset, int64_t len);
int32_t fd_close(CallContext& ctx, int32_t fd);
int32_t fd_datasync(CallContext& ctx, int32_t fd);
int32_t fd_fdstat_get(CallContext& ctx, int32_t fd, uint32_t fdstat_out);
int32_t fd_fdstat_set_flags(CallContext& ctx, int32_t fd, int32_t flags);
int32_t fd_fdstat_set_rights(CallContext& ctx, int32_t fd, int64_t rights_base,
                             int64_t rights_inheriting);
int32_t fd_filestat_get(CallContext& ctx, int32_t fd, uint32_t filestat_out);
int32_t fd_filestat_set_size(CallContext& ctx, int32_t fd, int64_t size);
int32_t fd_filestat_set_times(CallContext& ctx, int32_t fd, int64_t atim, int64_t mtim,
                              int32_t fst_flags);
int32_t fd_pread(CallContext& ctx, int32_t fd, uint32_t iovs, uint32_t iovs_len, int64_t offset,
                 uint32_t nread_out);
int32_t fd_prestat_get(CallContext& ctx, int32_t fd, uint32_t prestat_out);
int32_t fd_prestat_dir_name(CallContext& ctx, int32_t fd, uint32_t path, uint32_t path_len);
int32_t fd_pwrite(CallContext& ctx, int32_t fd, uint32_t iovs, uint32_t iovs_len, int64_t offset,
                  uint32_t nwritten_out);
int32_t fd_read(CallContext& ctx, int32_t fd, uint32_t iovs, uint32_t iovs_len, uint32_t nread_out);
int32_t fd_readdir(CallContext& ctx, int32_t fd, uint32_t buf, uint32_t buf_len, int64_t cookie,
                   uint32_t bufused_out);
int32_t fd_renumber(CallContext& ctx, int32_t fd, int32_t to);
int32_t fd_seek(CallContext& ctx, int32_t fd, int64_t offset, int32_t whence,
                uint32_t newoffset_out);
int32_t fd_sync(CallContext& ctx, int32_t fd);
int32_t fd_tell(CallContext& ctx, int32_t fd, uint32_t offset_out);
int32_t fd_write(CallContext& ctx, int32_t fd, uint32_t iovs, uint32_t iovs_len,
                 uint32_t nwritten_out);
int32_t path_create_directory(CallContext& ctx, int32_t fd, uint32_t path, uint32_t path_len);
int32_t path_filestat_get(CallContext& ctx, int32_t fd, int32_t flags, uint32_t path,
                          uint32_t path_len, uint32_t filestat_out);
int32_t path_filestat_set_times(CallContext& ctx, int32_t fd, int32_t flags, uint32_t path,
                                uint32_t path_len, int64_t atim, int64_t mtim, int32_t fst_flags);
int32_t path_link(CallContext& ctx, int32_t old_fd, int32_t old_flags, uint32_t old_path,
                  uint32_t old_path_len, int32_t new_fd, uint32_t new_path, uint32_t new_path_len);
int32_t path_open(CallContext& ctx, int32_t fd, int32_t dirflags, uint32_t path, uint32_t path_len,
                  int32_t oflags, int64_t fs_rights_base, int64_t fs_rights_inheriting,
                  int32_t fdflags, uint32_t fd_out);
int32_t path_readlink(CallContext& ctx, int32_t fd, uint32_t path, uint32_t path_len, uint32_t buf,
                      uint32_t buf_len, uint32_t bufused_out);
int32_t path_remove_directory(CallContext& ctx, int32_t fd, uint32_t path, uint32_t path_len);
int32_t path_rename(CallContext& ctx, int32_t fd, uint32_t old_path, uint32_t old_path_len,
                    int32_t new_fd, uint32_t new_path, uint32_t new_path_len);
int32_t path_symlink(CallContext& ctx, uint32_t old_path, uint32_t old_path_len, int32_t fd,
                     uint32_t new_path, uint32_t new_path_len);
int32_t path_unlink_file(CallContext& ctx, int32_t fd, uint32_t path, uint32_t path_len);
int32_t poll_oneoff(CallContext& ctx, uint32_t in, uint32_t out, uint32_t nsubscriptions,
                    uint32_t nevents_out);
void proc_exit(CallContext& ctx, int32_t code);
int32_t proc_raise(CallContext& ctx, int32_t sig);
int32_t sched_yield(CallContext& ctx);
int32_t random_get(CallContext& ctx, uint32_t buf, uint32_t buf_len);
int32_t sock_accept(CallContext& ctx, int32_t fd, int32_t flags, uint32_t fd_out);
int32_t sock_recv(CallContext& ctx, int32_t fd, uint32_t ri_data, uint32_t ri_data_len,
                  int32_t ri_flags, uint32_t ro_datalen_out, uint32_t ro_flags_out);
int32_t sock_send(CallContext& ctx, int32_t fd, uint32_t si_data, uint32_t si_data_len,
                  int32_t si_flags, uint32_t so_datalen_out);
int32_t sock_shutdown(CallContext& ctx, int32_t fd, int32_t how);

}  // namespace selium::kernel::wasi
