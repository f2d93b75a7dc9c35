// One worker's run queue: which processes have wakers to poll, in what order. Wakes come from the
// worker's own thread (timers, yield_now, channels whose other end is here) and from other threads
// (channels whose other end is on another worker). Wakes from other threads go to an inbox under
// a mutex; the first one into an empty inbox posts one drain to the loop, so a busy channel pays
// one cross-thread post per batch of wakes, not one per frame (a cross-vCPU wake costs ~40 us).
//
// Wakes are coalesced per process: a waker already pending is not queued again, and a process
// with pending wakers is in the ready queue once. runReady() polls ready processes in the order
// they became ready. It is a plain function of the queue, so it can be called from anywhere the
// worker may run guest code: today from the loop; later from a V8 interrupt taken while one guest
// overruns its slice, to serve the other processes of the worker (it must then not poll the
// process that is running).
//
// Owned through a std::shared_ptr (waker() hands out references to it): wakers held by channels
// may outlive the worker, which is why close() exists.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "kernel/waker.h"

namespace selium::kernel {

class Scheduler final : public WakeTarget, public std::enable_shared_from_this<Scheduler> {
 public:
  // Polls `pid` with each of `wakers`, in order. Called by runReady on the scheduler's thread; it
  // may wake (the process polled is then queued again, behind the others), add and remove.
  using PollFn = std::function<void(ProcessId pid, std::vector<int32_t>& wakers)>;

  // `loop` is the worker's loop, run by the thread that calls bindThread(). Make it with
  // std::make_shared (waker() and the loop's handlers share it).
  Scheduler(boost::asio::io_context& loop, PollFn poll);
  ~Scheduler() override;

  // The thread that owns the queue (wake(), add(), remove(), runReady()); set by it before any
  // wake (again if another thread takes the loop over, with no wake in flight).
  void bindThread();
  bool onThread() const { return std::this_thread::get_id() == thread_; }

  // Owner thread: a process joins / leaves the queue. Wakes for pids not added are ignored.
  void add(ProcessId pid);
  void remove(ProcessId pid);

  enum class Limit { None, Pending };
  // Owner thread: queue `waker` for `pid` (coalesced) and make sure a run is posted to the loop.
  // With Limit::Pending, refused (false) when the process already has kMaxPending distinct
  // wakers pending (yield_now). A wake for an unknown pid, or after close(), is dropped (true).
  bool wake(ProcessId pid, int32_t waker, Limit limit = Limit::None);

  // WakeTarget: any thread. On the owner thread this is wake(); elsewhere it goes through the
  // inbox (batched: one post to the loop per non-empty inbox).
  void wakeFromAnyThread(ProcessId pid, int32_t token) override;

  // A waker for `pid` that any thread may fire.
  Waker waker(ProcessId pid, int32_t token) { return Waker{shared_from_this(), pid, token}; }

  // Owner thread: polls ready processes (after moving the inbox into the queue) until none is
  // ready or `budget` processes have been polled; a process woken while it is polled is queued
  // again behind the others. Returns the number polled. The loop's own runs poll one round (the
  // processes ready when the run starts) and post another run if any is left, so a process that
  // keeps yielding lets the loop's other handlers (timers, sockets) in between rounds.
  std::size_t runReady(std::size_t budget = SIZE_MAX);

  // Any thread: no more posts to the loop; later wakes are ignored. Called before the loop is
  // destroyed (wakers held by channels may outlive the worker).
  void close();
  bool closed() const { return closed_.load(std::memory_order_acquire); }

  std::size_t pendingWakes(ProcessId pid) const;            // owner thread (tests)
  std::size_t readyCount() const { return ready_.size(); }  // owner thread (tests)
  // Handlers posted to the loop so far, from any thread (tests: wakes are batched).
  uint64_t loopPosts() const { return loop_posts_.load(std::memory_order_relaxed); }
  static constexpr std::size_t kMaxPending = 4096;

 private:
  struct Entry {
    std::vector<int32_t> wakes;  // in the order they fired, each once
    std::unordered_set<int32_t> pending;
    bool ready = false;  // in ready_
  };
  bool enqueue(ProcessId pid, int32_t waker, Limit limit);  // owner thread; no post
  void post();  // posts a run to the loop unless one is posted already (owner thread)
  void drainInbox();
  void runFromLoop();  // a posted run: one round, and another post if any is left

  boost::asio::io_context& loop_;
  PollFn poll_;
  std::thread::id thread_;
  std::unordered_map<ProcessId, Entry> entries_;
  std::deque<ProcessId> ready_;  // may hold pids since removed, or no longer ready: skipped
  bool run_posted_ = false;

  std::mutex inbox_mutex_;
  std::vector<std::pair<ProcessId, int32_t>> inbox_;  // guarded by inbox_mutex_
  bool inbox_posted_ = false;                         // guarded by inbox_mutex_
  std::atomic<bool> closed_{false};  // set under inbox_mutex_, so no post follows close()
  std::atomic<uint64_t> loop_posts_{0};
};

}  // namespace selium::kernel
