// Log driver: guest log records (FlatBuffers, verified) onto the process's log stream. Needs no
// capability.
#pragma once

#include <span>

#include "kernel/hostcall.h"
#include "util/result.h"

namespace selium::kernel {

// Verifies and decodes a selium.abi.LogRecord from untrusted bytes.
Result<GuestLogRecord> decodeLogRecord(std::span<const uint8_t> bytes);

namespace hostcalls {
int32_t log_write(CallContext& ctx, GuestIn record);
int32_t log_enabled(CallContext& ctx, int32_t level, GuestIn target);
int32_t log_uri(CallContext& ctx, GuestOut buffer);
}  // namespace hostcalls

// Target under which the runtime prints guest records.
inline constexpr std::string_view kGuestTarget = "selium.guest";

}  // namespace selium::kernel
