// ChildState: one child's life as its process handles see it.
#include "kernel/launcher.h"

#include <utility>

namespace selium::kernel {

ChildState::ChildState(std::shared_ptr<std::atomic<std::size_t>> live) : live_(std::move(live)) {
  if (live_) live_->fetch_add(1, std::memory_order_relaxed);
}

ChildState::~ChildState() {
  if (live_) live_->fetch_sub(1, std::memory_order_relaxed);
}

bool ChildState::started(ProcessId pid) {
  std::lock_guard lock(mutex_);
  pid_ = pid;
  return !stop_requested_;
}

void ChildState::ended(ChildExit exit) {
  std::map<const void*, Waker> waiters;
  {
    std::lock_guard lock(mutex_);
    if (exit_) return;
    exit_ = std::move(exit);
    waiters.swap(waiters_);
    if (live_) live_->fetch_sub(1, std::memory_order_relaxed);
    live_.reset();
  }
  for (const auto& [waiter, waker] : waiters) waker.fire();
}

std::optional<ProcessId> ChildState::pid() const {
  std::lock_guard lock(mutex_);
  return pid_;
}

std::optional<ChildExit> ChildState::exit() const {
  std::lock_guard lock(mutex_);
  return exit_;
}

ChildState::Wait ChildState::poll(const void* waiter, const Waker& waker, ChildExit& exit) {
  std::lock_guard lock(mutex_);
  if (exit_) {
    exit = *exit_;
    return Wait::Ended;
  }
  auto [it, inserted] = waiters_.try_emplace(waiter, waker);
  if (!inserted) {
    const Waker& held = it->second;
    if (held.target != waker.target || held.pid != waker.pid || held.token != waker.token) {
      return Wait::Busy;
    }
  }
  return Wait::Waiting;
}

void ChildState::forget(const void* waiter) {
  std::lock_guard lock(mutex_);
  waiters_.erase(waiter);
}

void ChildState::requestStop() {
  std::lock_guard lock(mutex_);
  stop_requested_ = true;
}

}  // namespace selium::kernel
