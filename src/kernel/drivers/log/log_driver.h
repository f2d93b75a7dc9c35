// Log driver: guest log records (FlatBuffers, verified) onto the process's log stream. Needs no
// capability.
#pragma once

#include <array>
#include <span>
#include <string>
#include <string_view>

#include <selium/abi/hostcalls.h>

#include "kernel/hostcall.h"
#include "util/result.h"

namespace selium::kernel {

// Limits on one guest record (README "Logging"). The decoded budget counts what the record
// becomes, not what it takes in memory: FlatBuffers lets every field point at one shared string.
inline constexpr std::size_t kMaxRecordBytes = SELIUM_LOG_MAX_RECORD_BYTES;      // encoded
inline constexpr std::size_t kMaxDecodedLogBytes = SELIUM_LOG_MAX_STRING_BYTES;  // all strings
inline constexpr std::size_t kMaxLogFields = SELIUM_LOG_MAX_FIELDS;
inline constexpr std::size_t kMaxLogKeyBytes = SELIUM_LOG_MAX_KEY_BYTES;

// Fields the runtime adds to every guest record; a guest field of the same name is renamed with
// kGuestFieldPrefix, so the runtime's values can never be shadowed.
inline constexpr std::array<std::string_view, 4> kRuntimeFieldKeys = {"pid", "module",
                                                                      "guest_target", "stream"};
inline constexpr std::string_view kGuestFieldPrefix = "guest.";

// A field key is 1 to kMaxLogKeyBytes bytes of [A-Za-z0-9_.-]; the error names the key, escaped.
Status checkLogKey(std::string_view key);

// `key`, or kGuestFieldPrefix + key for one of kRuntimeFieldKeys.
std::string guestFieldKey(std::string_view key);

// Verifies and decodes a selium.abi.LogRecord from untrusted bytes at any address: checks the
// decoded budget, the keys (renaming reserved ones) and that no key repeats.
Result<GuestLogRecord> decodeLogRecord(std::span<const uint8_t> bytes);

namespace hostcalls {
int32_t log_write(CallContext& ctx, GuestIn record);
int32_t log_enabled(CallContext& ctx, int32_t level, GuestIn target);
int32_t log_uri(CallContext& ctx, GuestOut buffer);
}  // namespace hostcalls

// Target under which the runtime prints guest records.
inline constexpr std::string_view kGuestTarget = log::kGuestTarget;

// The target a guest record with the guest's own `target` is printed (and filtered) under:
// `selium.guest`, or `selium.guest.<target>` when the guest named one, so
// `--log-level selium.guest.<target>=debug` selects that guest's records.
std::string guestPrintTarget(std::string_view target);

}  // namespace selium::kernel
