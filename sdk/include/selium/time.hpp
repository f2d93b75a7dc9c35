// Clocks and timers (capability TimeRead).
#pragma once

#include <chrono>
#include <cstdint>

#include "selium/result.hpp"
#include "selium/selium.h"
#include "selium/task.hpp"

namespace selium {

enum class Clock : int32_t {
  Wall = SELIUM_CLOCK_WALL,            // since the Unix epoch
  Monotonic = SELIUM_CLOCK_MONOTONIC,  // since an arbitrary start; never goes back
};

// The time of `clock` in nanoseconds; PermissionDenied without TimeRead.
Result<std::chrono::nanoseconds> now(Clock clock = Clock::Monotonic) noexcept;

// Finishes after at least `duration` (a negative one counts as zero). Errors: PermissionDenied
// without TimeRead, LimitExceeded when the process holds too many handles. The timer handle is
// closed when the task finishes or is destroyed.
Task<Result<void>> sleep(std::chrono::nanoseconds duration);

}  // namespace selium
