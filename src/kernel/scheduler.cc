// The worker's run queue (see scheduler.h).
#include "kernel/scheduler.h"

#include <boost/asio/post.hpp>
#include <utility>

namespace selium::kernel {

Scheduler::Scheduler(boost::asio::io_context& loop, PollFn poll)
    : loop_(loop), poll_(std::move(poll)) {}

Scheduler::~Scheduler() = default;

void Scheduler::bindThread() { thread_ = std::this_thread::get_id(); }

void Scheduler::add(ProcessId pid) { entries_.try_emplace(pid); }

void Scheduler::remove(ProcessId pid) {
  // Its place in ready_, if any, is skipped when reached.
  entries_.erase(pid);
}

bool Scheduler::enqueue(ProcessId pid, int32_t waker, Limit limit) {
  if (closed()) return true;
  auto it = entries_.find(pid);
  if (it == entries_.end()) return true;  // not (or no longer) on this worker
  Entry& entry = it->second;
  if (entry.pending.count(waker) > 0) return true;  // coalesced
  if (limit == Limit::Pending && entry.pending.size() >= kMaxPending) return false;
  entry.pending.insert(waker);
  entry.wakes.push_back(waker);
  if (!entry.ready) {
    entry.ready = true;
    ready_.push_back(pid);
  }
  return true;
}

bool Scheduler::wake(ProcessId pid, int32_t waker, Limit limit) {
  if (!enqueue(pid, waker, limit)) return false;
  if (!ready_.empty()) post();
  return true;
}

void Scheduler::wakeFromAnyThread(ProcessId pid, int32_t token) {
  if (onThread()) {
    wake(pid, token);
    return;
  }
  std::lock_guard lock(inbox_mutex_);
  if (closed_.load(std::memory_order_relaxed)) return;  // the loop may be gone
  inbox_.emplace_back(pid, token);
  if (inbox_posted_) return;  // the drain already posted takes this one too
  inbox_posted_ = true;
  loop_posts_.fetch_add(1, std::memory_order_relaxed);
  // Posted under the mutex: close() cannot slip in between the check and the post.
  boost::asio::post(loop_, [self = shared_from_this()] { self->runFromLoop(); });
}

void Scheduler::post() {
  if (run_posted_ || closed()) return;
  run_posted_ = true;
  loop_posts_.fetch_add(1, std::memory_order_relaxed);
  boost::asio::post(loop_, [self = shared_from_this()] {
    self->run_posted_ = false;
    self->runFromLoop();
  });
}

void Scheduler::drainInbox() {
  std::vector<std::pair<ProcessId, int32_t>> wakes;
  {
    std::lock_guard lock(inbox_mutex_);
    if (inbox_.empty()) {
      inbox_posted_ = false;
      return;
    }
    wakes.swap(inbox_);
    // The next wake from another thread posts again; these are served by whoever drained them
    // (runReady, or the drain already in the loop's queue).
    inbox_posted_ = false;
  }
  for (const auto& [pid, token] : wakes) enqueue(pid, token, Limit::None);
}

std::size_t Scheduler::runReady(std::size_t budget) {
  drainInbox();
  std::size_t polled = 0;
  while (!ready_.empty()) {
    ProcessId pid = ready_.front();
    auto it = entries_.find(pid);
    if (it == entries_.end() || !it->second.ready) {  // removed, or a stale place: dropped
      ready_.pop_front();
      continue;
    }
    if (polled == budget) break;  // with stale places gone, ready_ is empty or its front ready
    ready_.pop_front();
    Entry& entry = it->second;
    entry.ready = false;
    std::vector<int32_t> wakes = std::move(entry.wakes);
    entry.wakes.clear();
    entry.pending.clear();  // a waker that fires again while we poll is queued anew
    ++polled;
    // `entry` may be gone after this (the process ended, or the map rehashed on an add).
    poll_(pid, wakes);
  }
  return polled;
}

void Scheduler::runFromLoop() {
  if (closed()) return;
  drainInbox();
  // One round: the processes ready now. Those woken meanwhile wait behind the loop's other
  // handlers for the next run.
  std::size_t round = 0;
  for (ProcessId pid : ready_) {
    auto it = entries_.find(pid);
    if (it != entries_.end() && it->second.ready) ++round;
  }
  runReady(round);
  if (!ready_.empty()) post();
}

void Scheduler::close() {
  std::lock_guard lock(inbox_mutex_);
  closed_.store(true, std::memory_order_release);
  inbox_.clear();
}

std::size_t Scheduler::pendingWakes(ProcessId pid) const {
  auto it = entries_.find(pid);
  return it == entries_.end() ? 0 : it->second.pending.size();
}

}  // namespace selium::kernel
