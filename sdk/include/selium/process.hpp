// This process: its id, its log URI, exiting, and the host's message for the last failure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace selium {

// This process's id (> 0), unique within the runtime.
int64_t processId() noexcept;

// Ends the process with `status` (0 = success) at once, whatever tasks are pending.
[[noreturn]] void exit(int32_t status) noexcept;

// The log_uri the process was started with, if any.
std::optional<std::string> logUri();

// The host's message for this process's most recent failed hostcall ("" if none).
std::string lastError();

}  // namespace selium
