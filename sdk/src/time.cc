// Clocks and timers over time_now / timer_create / timer_poll.
#include "selium/time.hpp"

#include <chrono>
#include <cstdint>

#include "selium/selium.h"
#include "selium/task.hpp"

namespace selium {
namespace {

// Owns a handle and closes it when destroyed, also when the owning task is destroyed while
// suspended.
class OwnedHandle {
 public:
  explicit OwnedHandle(selium_handle_t handle) noexcept : handle_(handle) {}
  OwnedHandle(const OwnedHandle&) = delete;
  OwnedHandle& operator=(const OwnedHandle&) = delete;
  ~OwnedHandle() { (void)selium_handle_close(handle_); }
  selium_handle_t get() const noexcept { return handle_; }

 private:
  selium_handle_t handle_;
};

struct TimerPoll {
  selium_handle_t timer;
  int32_t operator()(int32_t waker) const noexcept { return selium_timer_poll(timer, waker); }
};

}  // namespace

Result<std::chrono::nanoseconds> now(Clock clock) noexcept {
  int64_t ns = selium_time_now(static_cast<int32_t>(clock));
  if (ns < 0) return Error::fromResult(ns);
  return std::chrono::nanoseconds(ns);
}

Task<Result<void>> sleep(std::chrono::nanoseconds duration) {
  int64_t ns = duration.count() < 0 ? 0 : duration.count();
  int32_t created = selium_timer_create(ns);
  if (created < 0) co_return Error::fromResult(created);
  OwnedHandle timer(created);
  int32_t result;
  while ((result = co_await detail::PollOnce(TimerPoll{timer.get()})) == -SELIUM_ERR_WouldBlock) {
  }
  if (result < 0) co_return Error::fromResult(result);
  co_return Result<void>();
}

}  // namespace selium
