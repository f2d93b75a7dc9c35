// Child processes, as the kernel sees them: a guest's process handle names a ChildState, and the
// host's Launcher (the runtime: it knows the work dir and the engine) starts, stops and reports
// children. Thread-safe: a child runs on any worker.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kernel/registry.h"
#include "kernel/start_request.h"
#include "kernel/waker.h"

namespace selium::kernel {

class Channel;

// How a process ended: reason SELIUM_EXIT_*, its status, and the runtime's message for it.
struct ChildExit {
  int32_t reason = 0;
  int32_t status = 0;
  std::string message;
};

// One child's life: started (its pid), then ended. Waiters are keyed by the handle that waits,
// one task per handle as for channel handles: polling again with the same waker keeps the wait,
// and another task's poll is refused (Busy) rather than silently taking the first task's wake.
class ChildState {
 public:
  // `live`: the parent's count of children not yet ended; this child counts in it until it
  // ends (or, never started, until the state is destroyed).
  explicit ChildState(std::shared_ptr<std::atomic<std::size_t>> live = nullptr);
  ~ChildState();
  ChildState(const ChildState&) = delete;
  ChildState& operator=(const ChildState&) = delete;

  // The launcher: the child runs as `pid` (false: a stop was requested before it started, and
  // the launcher should stop it now).
  bool started(ProcessId pid);
  // The launcher: the child ended (or could not start). Fires every waiter. Only the first call
  // counts.
  void ended(ChildExit exit);

  std::optional<ProcessId> pid() const;
  std::optional<ChildExit> exit() const;
  enum class Wait { Ended, Waiting, Busy };
  // Ended: the child ended, and *exit says how. Waiting: `waker` is recorded for `waiter` (the
  // same waker again keeps the wait). Busy: `waiter` already waits with another waker, which is
  // kept (forget() frees the waiter).
  Wait poll(const void* waiter, const Waker& waker, ChildExit& exit);
  void forget(const void* waiter);
  // A stop before the child has a pid: remembered for started().
  void requestStop();

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<std::atomic<std::size_t>> live_;  // null once this child no longer counts
  std::optional<ProcessId> pid_;
  std::optional<ChildExit> exit_;
  bool stop_requested_ = false;
  std::map<const void*, Waker> waiters_;
};

class Launcher {
 public:
  virtual ~Launcher() = default;
  // Starts `request` in the background (loading a module may take milliseconds; a hostcall must
  // not wait for it) for process `parent`. `resources` hold one object per Resource arg, in
  // order: the child gets its own handles to them. Reports to `state`.
  virtual void launch(ProcessId parent, StartRequest request,
                      std::vector<std::shared_ptr<Shareable>> resources,
                      std::shared_ptr<ChildState> state) = 0;
  // Stops a running process (any worker). False if it is not running.
  virtual bool stop(ProcessId pid) = 0;
  // The log channel of a running process, or nullptr if it has ended.
  virtual std::shared_ptr<Channel> logChannel(ProcessId pid) = 0;
};

}  // namespace selium::kernel
