// Clocks and timers for guests.
#include "kernel/drivers/time/time_driver.h"

#include <selium/abi/hostcalls.h>

#include <chrono>
#include <memory>
#include <optional>
#include <utility>

namespace selium::kernel {
namespace {

// A guest timer: an entry in its process's TimerQueue until it fires or is closed. Closing it
// (or the process ending) erases the entry at once, so nothing of it outlives the handle.
class TimerResource final : public Resource, TimerQueue::Client {
 public:
  static constexpr HandleKind kKind = HandleKind::Timer;

  TimerResource(Process& process, std::chrono::nanoseconds duration) : process_(process) {
    key_ = process.timers().add(duration, this);
  }
  ~TimerResource() override {
    if (!fired_) process_.timers().cancel(key_);
  }
  HandleKind kind() const override { return kKind; }

  void expired() override {
    fired_ = true;
    if (waker_) process_.wake(*std::exchange(waker_, std::nullopt));
  }

  // 0 once fired; else records `waker` (replacing an earlier one) and returns false.
  bool poll(int32_t waker) {
    if (fired_) return true;
    waker_ = waker;
    return false;
  }

 private:
  Process& process_;  // owns the handle table that owns this
  TimerQueue::Key key_;
  bool fired_ = false;
  std::optional<int32_t> waker_;
};

// Clocks a guest reads; steady_clock's epoch is arbitrary but fixed for the host's lifetime.
int64_t nanosSince(auto now) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
}

}  // namespace

namespace hostcalls {

int64_t time_now(CallContext& ctx, int32_t clock) {
  switch (clock) {
    case SELIUM_CLOCK_WALL:
      return nanosSince(std::chrono::system_clock::now());
    case SELIUM_CLOCK_MONOTONIC:
      return nanosSince(std::chrono::steady_clock::now());
    default:
      return fail(ctx, ErrorCode::InvalidArgument,
                  "unknown clock " + std::to_string(clock) + " (0 = wall, 1 = monotonic)");
  }
}

int32_t timer_create(CallContext& ctx, int64_t duration_ns) {
  if (duration_ns < 0) {
    return fail(ctx, ErrorCode::InvalidArgument,
                "timer duration must not be negative (got " + std::to_string(duration_ns) + " ns)");
  }
  auto inserted = ctx.process.handles().insert(
      std::make_unique<TimerResource>(ctx.process, std::chrono::nanoseconds(duration_ns)));
  if (auto* code = std::get_if<ErrorCode>(&inserted)) {
    return fail(ctx, *code, "too many open handles");
  }
  return std::get<int32_t>(inserted);
}

int32_t timer_poll(CallContext& ctx, int32_t timer, int32_t waker) {
  auto* resource = ctx.process.handles().get<TimerResource>(timer);
  if (resource == nullptr) {
    return fail(ctx, ErrorCode::InvalidHandle,
                "handle " + std::to_string(timer) + " is not an open timer of this process");
  }
  if (resource->poll(waker)) return 0;
  return errorResult(ErrorCode::WouldBlock);
}

}  // namespace hostcalls
}  // namespace selium::kernel
