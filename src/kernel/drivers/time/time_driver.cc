// Clocks and timers for guests.
#include "kernel/drivers/time/time_driver.h"

#include <selium/abi/hostcalls.h>

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>

namespace selium::kernel {
namespace {

// State shared between the timer resource and its pending wait: the wait's completion handler
// keeps it alive, so destroying the resource (handle closed, process ended) is always safe.
struct TimerState {
  explicit TimerState(boost::asio::io_context& loop) : timer(loop) {}
  boost::asio::steady_timer timer;
  bool fired = false;
  bool closed = false;
  std::optional<int32_t> waker;
  ProcessHost* host = nullptr;
  ProcessId pid = 0;
};

class TimerResource final : public Resource {
 public:
  static constexpr HandleKind kKind = HandleKind::Timer;

  TimerResource(Process& process, std::chrono::nanoseconds duration)
      : state_(std::make_shared<TimerState>(process.loop())) {
    state_->host = &process.host();
    state_->pid = process.id();
    state_->timer.expires_after(duration);
    state_->timer.async_wait([state = state_](const boost::system::error_code& ec) {
      if (ec || state->closed) return;
      state->fired = true;
      if (state->waker) state->host->wake(state->pid, *std::exchange(state->waker, std::nullopt));
    });
  }
  ~TimerResource() override {
    state_->closed = true;
    state_->timer.cancel();
  }
  HandleKind kind() const override { return kKind; }
  TimerState& state() { return *state_; }

 private:
  std::shared_ptr<TimerState> state_;
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
  TimerState& state = resource->state();
  if (state.fired) return 0;
  state.waker = waker;  // the latest poll's waker replaces an earlier one
  return errorResult(ErrorCode::WouldBlock);
}

}  // namespace hostcalls
}  // namespace selium::kernel
