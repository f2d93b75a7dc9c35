// Wakers that any thread may fire. A channel written on one worker wakes a reader on another: the
// reader's worker takes the wake through its WakeTarget (its Scheduler), which batches wakes from
// other threads into one post to its loop.
#pragma once

#include <cstdint>
#include <memory>

namespace selium::kernel {

using ProcessId = uint64_t;

// Takes wakes for the processes of one worker, from any thread.
class WakeTarget {
 public:
  virtual ~WakeTarget() = default;
  // Asks for `pid`'s poll export to be called with `token` on the target's thread. Thread-safe;
  // a wake for a process that has ended, or a target that has closed, is ignored.
  virtual void wakeFromAnyThread(ProcessId pid, int32_t token) = 0;
};

// One guest waker token of one process, fireable from any thread, any number of times (a fired
// token the guest no longer waits on is ignored by the guest).
struct Waker {
  std::shared_ptr<WakeTarget> target;  // null: fire() does nothing
  ProcessId pid = 0;
  int32_t token = 0;

  explicit operator bool() const { return target != nullptr; }
  void fire() const {
    if (target) target->wakeFromAnyThread(pid, token);
  }
};

}  // namespace selium::kernel
