// Lazy coroutine tasks and the guest's single-threaded executor. A guest never blocks: a task
// that waits for the host registers a waker token, passes it to the hostcall and suspends; the
// host later calls the exported selium_poll(token), which resumes it. Destroying a Task destroys
// its whole chain of awaited tasks and withdraws their waker tokens (cancellation).
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "selium/result.hpp"
#include "selium/selium.h"

namespace selium {

template <typename T = void>
class Task;

namespace detail {

// Who may fire a waker token: the host (through selium_poll) or only the guest itself.
enum class WakeSource : uint8_t { Local, Host };

// A suspended coroutine waiting for its token. Lives inside the waiting coroutine's frame (in an
// awaiter); destroying it withdraws the token, so a destroyed coroutine is never resumed.
struct WaitNode {
  WaitNode() = default;
  WaitNode(const WaitNode&) = delete;
  WaitNode& operator=(const WaitNode&) = delete;
  ~WaitNode();

  std::coroutine_handle<> handle;
  int32_t token = -1;  // -1: not registered
};

// Registers `node` (its handle set) and returns its token: (generation << 16) | slot, >= 0.
int32_t enlist(WaitNode& node, WakeSource source) noexcept;
// Withdraws `node`'s token, if it has one: a later wake-up with it is ignored.
void withdraw(WaitNode& node) noexcept;
// Queues the waiter of `token` to run; ignored when the token is stale or already queued.
void wakeLocal(int32_t token) noexcept;
// Resumes queued waiters until none is left.
void runReady() noexcept;

// handle.resume(), out of line. Coroutines resume other coroutines only through this: clang 14
// turns an inline resume right before a suspension into a `musttail` call, which wasm32 cannot
// compile without the tail-call feature (not enabled in the host's V8 by default). Always true.
[[gnu::noinline]] bool resume(std::coroutine_handle<> handle) noexcept;

// Runs an entrypoint's root task until it first suspends. When it finishes, a non-zero status
// ends the process with process_exit(status); with 0 the next selium_poll returns done.
void runEntry(Task<int32_t> body) noexcept;

// Awaits one call of `poll(waker)`: does not suspend unless it returns -WouldBlock, in which case
// the task resumes when the host fires the waker. Result: the call's result, or -WouldBlock after
// a wake-up (poll again: a wake-up means "may be ready", as with any future).
template <typename Poll>
class PollOnce {
 public:
  explicit PollOnce(Poll poll) noexcept : poll_(std::move(poll)) {}
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> caller) noexcept {
    node_.handle = caller;
    int32_t token = enlist(node_, WakeSource::Host);
    result_ = poll_(token);
    if (result_ != -SELIUM_ERR_WouldBlock) {
      withdraw(node_);
      return false;
    }
    return true;
  }
  int32_t await_resume() const noexcept { return result_; }

 private:
  Poll poll_;
  int32_t result_ = 0;
  WaitNode node_;
};

// PollOnce for a hostcall that records its waker on a handle (channel reads and writes): a task
// destroyed while it waits tells the host (handle_cancel_wait), so another task may wait on the
// handle next; without that the host would refuse the second waiter.
template <typename Poll>
class PollHandle {
 public:
  PollHandle(selium_handle_t handle, Poll poll) noexcept
      : handle_(handle), poll_(std::move(poll)) {}
  PollHandle(const PollHandle&) = delete;
  PollHandle& operator=(const PollHandle&) = delete;
  ~PollHandle() {
    if (node_.token >= 0) (void)selium_handle_cancel_wait(handle_);
  }
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> caller) noexcept {
    node_.handle = caller;
    int32_t token = enlist(node_, WakeSource::Host);
    result_ = poll_(token);
    if (result_ != -SELIUM_ERR_WouldBlock) {
      withdraw(node_);
      return false;
    }
    return true;
  }
  int32_t await_resume() const noexcept { return result_; }

 private:
  selium_handle_t handle_;
  Poll poll_;
  int32_t result_ = 0;
  WaitNode node_;
};

// Shared promise machinery. `inline_` is true while the awaiting task is inside resume() of this
// one: completing then returns to it instead of resuming it, so chains of tasks that finish
// without suspending use no stack per step (wasm32 has no tail calls for symmetric transfer).
struct PromiseBase {
  std::coroutine_handle<> continuation;
  bool inline_ = false;

  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <typename Promise>
    void await_suspend(std::coroutine_handle<Promise> self) const noexcept {
      PromiseBase& promise = self.promise();
      // Nothing may touch this frame after the resume: the continuation may destroy it.
      if (!promise.inline_ && promise.continuation) (void)resume(promise.continuation);
    }
    void await_resume() const noexcept {}
  };

  std::suspend_always initial_suspend() const noexcept { return {}; }
  FinalAwaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() const noexcept { fatal("exception in a selium::Task"); }
};

template <typename T>
struct TaskPromise : PromiseBase {
  Task<T> get_return_object() noexcept;
  template <typename U = T>
  requires std::is_convertible_v<U&&, T>
  void return_value(U&& value) noexcept { value_.emplace(std::forward<U>(value)); }
  T take() noexcept { return std::move(*value_); }

  std::optional<T> value_;
};

template <>
struct TaskPromise<void> : PromiseBase {
  Task<void> get_return_object() noexcept;
  void return_void() const noexcept {}
  void take() const noexcept {}
};

template <typename T>
class TaskAwaiter {
 public:
  explicit TaskAwaiter(std::coroutine_handle<TaskPromise<T>> handle) noexcept : handle_(handle) {}
  bool await_ready() const noexcept { return handle_.done(); }
  bool await_suspend(std::coroutine_handle<> caller) noexcept {
    TaskPromise<T>& promise = handle_.promise();
    promise.continuation = caller;
    promise.inline_ = true;
    (void)resume(handle_);
    if (handle_.done()) return false;  // finished without suspending: the caller goes on
    promise.inline_ = false;           // it will resume the caller when it finishes
    return true;
  }
  T await_resume() noexcept { return handle_.promise().take(); }

 private:
  std::coroutine_handle<TaskPromise<T>> handle_;
};

}  // namespace detail

// A lazy coroutine producing T: it starts when first awaited (or when spawned / run as an
// entrypoint) and owns its frame. Move-only; destroying it cancels the work it awaits.
template <typename T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::TaskPromise<T>;

  Task() noexcept = default;
  explicit Task(std::coroutine_handle<promise_type> handle) noexcept : handle_(handle) {}
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  ~Task() { reset(); }

  // True once the body has returned.
  bool done() const noexcept { return handle_ && handle_.done(); }
  explicit operator bool() const noexcept { return static_cast<bool>(handle_); }

  // Runs the task to completion (suspending the awaiting task as needed); yields its value.
  detail::TaskAwaiter<T> operator co_await() & noexcept { return awaiter(); }
  detail::TaskAwaiter<T> operator co_await() && noexcept { return awaiter(); }

 private:
  detail::TaskAwaiter<T> awaiter() const noexcept {
    if (!handle_) detail::fatal("co_await on an empty selium::Task");
    return detail::TaskAwaiter<T>(handle_);
  }
  void reset() noexcept {
    if (handle_) std::exchange(handle_, {}).destroy();
  }

  std::coroutine_handle<promise_type> handle_;
};

namespace detail {
template <typename T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}
}  // namespace detail

// Runs `task` concurrently with the caller; the executor owns it until it finishes. A process
// ends when its entrypoint's task finishes, whether or not spawned tasks are still running.
void spawn(Task<void> task) noexcept;

// Runs the tasks concurrently and finishes when all have. Destroying the returned task cancels
// (destroys) those still running.
Task<void> whenAll(std::vector<Task<void>> tasks);

// Runs the tasks concurrently until the first finishes, then cancels (destroys) the others and
// returns the index of the first; returns 0 at once when given none. With a sleep as one of the
// tasks this is a timeout.
Task<size_t> race(std::vector<Task<void>> tasks);

// Awaitable: lets the host run other work (other processes, other ready tasks here) first.
class Yield {
 public:
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> caller) noexcept {
    return inner_.await_suspend(caller);
  }
  void await_resume() const noexcept {}

 private:
  struct Call {
    int32_t operator()(int32_t waker) const noexcept { return selium_yield_now(waker); }
  };
  detail::PollOnce<Call> inner_{Call{}};
};

// `co_await selium::yield();` gives up the worker until the host polls this task again.
inline Yield yield() noexcept { return {}; }

// A one-shot flag tasks can wait for within this guest; set() resumes every waiter (through the
// ready queue, after the caller of set() suspends or returns). Must outlive its waiters.
class Event {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  void set() noexcept;
  void reset() noexcept { set_ = false; }
  bool isSet() const noexcept { return set_; }

  class Awaiter {
   public:
    explicit Awaiter(Event& event) noexcept : event_(event) {}
    bool await_ready() const noexcept { return event_.set_; }
    bool await_suspend(std::coroutine_handle<> caller) noexcept {
      node_.handle = caller;
      event_.waiters_.push_back(detail::enlist(node_, detail::WakeSource::Local));
      return true;
    }
    void await_resume() const noexcept {}

   private:
    Event& event_;
    detail::WaitNode node_;
  };
  // `co_await event.wait();` returns at once when set, else after the next set().
  Awaiter wait() noexcept { return Awaiter(*this); }

 private:
  bool set_ = false;
  std::vector<int32_t> waiters_;  // tokens; stale ones (destroyed waiters) are ignored on set()
};

}  // namespace selium
