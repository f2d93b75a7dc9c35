// ChildState: one child's life as its process handles see it.
#include "kernel/launcher.h"

#include <utility>

namespace selium::kernel {

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

std::optional<ChildExit> ChildState::poll(const void* waiter, const Waker& waker) {
  std::lock_guard lock(mutex_);
  if (exit_) return exit_;
  waiters_[waiter] = waker;
  return std::nullopt;
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
