// One process's timer deadlines on a single asio timer. Closing a timer erases its entry at once,
// and at most one wait (plus at most one cancelled wait) is ever queued on the loop, however many
// timers the guest makes and closes inside one call. Owned by, and only touched on, the process's
// worker thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <utility>

namespace selium::kernel {

class TimerQueue {
 public:
  using Clock = std::chrono::steady_clock;

  // What an entry calls when its deadline passes.
  class Client {
   public:
    virtual void expired() = 0;

   protected:
    ~Client() = default;
  };

  // Names an entry; valid until it fires or is cancelled.
  using Key = std::pair<Clock::time_point, uint64_t>;

  explicit TimerQueue(boost::asio::io_context& loop);
  ~TimerQueue();
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  // Calls `client->expired()` once `after` has passed (from the loop, never from inside add).
  // A duration too large for the clock saturates at its end of time.
  Key add(std::chrono::nanoseconds after, Client* client);
  // Forgets an entry that has not fired; its memory is freed now.
  void cancel(const Key& key);

  std::size_t size() const { return entries_.size(); }

 private:
  void schedule();
  void arm(Clock::time_point deadline);
  void onWait();

  boost::asio::steady_timer timer_;
  std::map<Key, Client*> entries_;
  uint64_t next_sequence_ = 0;
  bool waiting_ = false;     // a wait is queued on the timer
  bool cancelling_ = false;  // ... and has been cancelled, to re-arm for an earlier deadline
  Clock::time_point armed_for_;
  // Handlers hold a weak reference: one that runs after the queue is gone does nothing.
  std::shared_ptr<TimerQueue*> alive_;
};

}  // namespace selium::kernel
