// Timer deadlines of one process, multiplexed onto one asio timer.
#include "kernel/timer_queue.h"

namespace selium::kernel {

TimerQueue::TimerQueue(boost::asio::io_context& loop)
    : timer_(loop), alive_(std::make_shared<TimerQueue*>(this)) {}

TimerQueue::~TimerQueue() { alive_.reset(); }  // timer_'s destructor cancels a queued wait

TimerQueue::Key TimerQueue::add(std::chrono::nanoseconds after, Client* client) {
  Clock::time_point now = Clock::now();
  auto room = Clock::time_point::max() - now;
  Clock::time_point deadline = after >= room
                                   ? Clock::time_point::max()
                                   : now + std::chrono::duration_cast<Clock::duration>(after);
  Key key{deadline, next_sequence_++};
  entries_.emplace(key, client);
  schedule();
  return key;
}

void TimerQueue::cancel(const Key& key) {
  // The queued wait stays: when it fires early it finds nothing due and re-arms (or stops).
  entries_.erase(key);
}

void TimerQueue::schedule() {
  if (entries_.empty()) return;
  Clock::time_point earliest = entries_.begin()->first.first;
  if (!waiting_) return arm(earliest);
  if (earliest >= armed_for_ || cancelling_) return;  // the queued wait re-arms when it runs
  cancelling_ = true;
  timer_.cancel();
}

void TimerQueue::arm(Clock::time_point deadline) {
  waiting_ = true;
  armed_for_ = deadline;
  timer_.expires_at(deadline);
  timer_.async_wait([alive = std::weak_ptr<TimerQueue*>(alive_)](const boost::system::error_code&) {
    if (auto queue = alive.lock()) (*queue)->onWait();
  });
}

void TimerQueue::onWait() {
  waiting_ = false;
  cancelling_ = false;
  Clock::time_point now = Clock::now();
  while (!entries_.empty() && entries_.begin()->first.first <= now) {
    Client* client = entries_.begin()->second;
    entries_.erase(entries_.begin());
    client->expired();  // may add or cancel entries
  }
  schedule();
}

}  // namespace selium::kernel
