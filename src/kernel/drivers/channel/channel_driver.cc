// TEMPORARY (issue 10 in progress): every entry answers Unsupported until its driver lands.
#include "kernel/drivers/channel/channel_driver.h"

namespace selium::kernel::hostcalls {

int32_t channel_create(CallContext& ctx, uint32_t, int32_t) {
  return fail(ctx, ErrorCode::Unsupported, "channel_create: not yet implemented");
}
int32_t channel_drain(CallContext& ctx, int32_t) {
  return fail(ctx, ErrorCode::Unsupported, "channel_drain: not yet implemented");
}
int32_t channel_delete(CallContext& ctx, int32_t) {
  return fail(ctx, ErrorCode::Unsupported, "channel_delete: not yet implemented");
}
int32_t channel_reader_open(CallContext& ctx, int32_t, int32_t) {
  return fail(ctx, ErrorCode::Unsupported, "channel_reader_open: not yet implemented");
}
int32_t channel_read(CallContext& ctx, int32_t, GuestOut, int32_t) {
  return fail(ctx, ErrorCode::Unsupported, "channel_read: not yet implemented");
}
int32_t channel_read_batch(CallContext& ctx, int32_t, GuestOut, int32_t) {
  return fail(ctx, ErrorCode::Unsupported, "channel_read_batch: not yet implemented");
}
int64_t channel_reader_lost(CallContext& ctx, int32_t) {
  return fail(ctx, ErrorCode::Unsupported, "channel_reader_lost: not yet implemented");
}
int32_t channel_writer_open(CallContext& ctx, int32_t, int32_t) {
  return fail(ctx, ErrorCode::Unsupported, "channel_writer_open: not yet implemented");
}
int32_t channel_writer_downgrade(CallContext& ctx, int32_t) {
  return fail(ctx, ErrorCode::Unsupported, "channel_writer_downgrade: not yet implemented");
}
int32_t channel_write(CallContext& ctx, int32_t, GuestIn, int32_t) {
  return fail(ctx, ErrorCode::Unsupported, "channel_write: not yet implemented");
}
int32_t channel_write_batch(CallContext& ctx, int32_t, GuestIn, int32_t) {
  return fail(ctx, ErrorCode::Unsupported, "channel_write_batch: not yet implemented");
}

}  // namespace selium::kernel::hostcalls
