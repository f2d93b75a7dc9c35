// The guest's executor: waker-token slots, the ready queue, root and spawned tasks, and the
// exported selium_poll. Single-threaded (a wasm instance runs on one host thread), so nothing
// here locks. Linked into a guest as soon as it uses tasks or entrypoints.
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "selium/process.hpp"
#include "selium/selium.h"
#include "selium/task.hpp"

namespace selium::detail {
namespace {

// Tokens are (generation << 16) | slot: slot < 65536 waiters at once, generation 1..32767, so a
// token is never negative (SELIUM_WAKER_START is -1) and a stale one is recognised until its slot
// has been reused 32767 times.
constexpr uint32_t kSlotBits = 16;
constexpr uint32_t kMaxSlots = 1u << kSlotBits;
constexpr uint32_t kMaxGeneration = 0x7FFF;

struct Slot {
  WaitNode* node = nullptr;  // null: free
  uint16_t generation = 1;
  WakeSource source = WakeSource::Local;
  bool queued = false;  // in the ready queue
};

// A coroutine the executor owns outright: a spawned task or an entrypoint's root. Its frame frees
// itself when the body returns.
struct Detached {
  struct promise_type {
    WaitNode start;  // schedules the first resume

    Detached get_return_object() noexcept {
      return Detached{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { fatal("exception in a spawned selium::Task"); }
  };
  std::coroutine_handle<promise_type> handle;
};

class Executor {
 public:
  int32_t enlist(WaitNode& node, WakeSource source) noexcept {
    if (node.token >= 0) fatal("selium: a waiter registered twice");
    uint32_t index;
    if (!free_.empty()) {
      index = free_.back();
      free_.pop_back();
    } else {
      if (slots_.size() >= kMaxSlots) fatal("selium: more than 65536 tasks waiting at once");
      index = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    Slot& slot = slots_[index];
    slot.node = &node;
    slot.source = source;
    slot.queued = false;
    node.token = static_cast<int32_t>((uint32_t{slot.generation} << kSlotBits) | index);
    return node.token;
  }

  void withdraw(WaitNode& node) noexcept {
    if (node.token < 0) return;
    if (Slot* slot = find(node.token); slot != nullptr) release(*slot, node.token);
    node.token = -1;
  }

  // A waker fired: queue its waiter unless the token is stale, already queued, or (from the
  // host) one the guest never gave the host.
  bool wake(int32_t token, WakeSource from) noexcept {
    Slot* slot = find(token);
    if (slot == nullptr || slot->queued) return false;
    if (from == WakeSource::Host && slot->source != WakeSource::Host) return false;
    slot->queued = true;
    ready_.push_back(token);
    return true;
  }

  void runReady() noexcept {
    while (!ready_.empty()) {
      int32_t token = ready_.front();
      ready_.pop_front();
      Slot* slot = find(token);
      if (slot == nullptr || !slot->queued) continue;  // withdrawn since it was queued
      WaitNode* node = slot->node;
      release(*slot, token);
      node->token = -1;
      resume(node->handle);
    }
  }

  void schedule(Detached task) noexcept {
    WaitNode& start = task.handle.promise().start;
    start.handle = task.handle;
    wake(enlist(start, WakeSource::Local), WakeSource::Local);
  }

  // Done when every entrypoint's root has finished, or, for a guest that only spawns tasks from
  // its own exports, when none is left.
  bool done() const noexcept {
    return rootsRunning_ == 0 && (rootsStarted_ > 0 || spawnedRunning_ == 0);
  }

  void rootStarted() noexcept {
    ++rootsStarted_;
    ++rootsRunning_;
  }
  void rootFinished(int32_t status) noexcept {
    if (status != 0) selium::exit(status);
    --rootsRunning_;
  }
  void spawnedStarted() noexcept { ++spawnedRunning_; }
  void spawnedFinished() noexcept { --spawnedRunning_; }

 private:
  Slot* find(int32_t token) noexcept {
    if (token < 0) return nullptr;
    uint32_t index = static_cast<uint32_t>(token) & (kMaxSlots - 1);
    uint32_t generation = static_cast<uint32_t>(token) >> kSlotBits;
    if (index >= slots_.size()) return nullptr;
    Slot& slot = slots_[index];
    if (slot.node == nullptr || slot.generation != generation) return nullptr;
    return &slot;
  }

  void release(Slot& slot, int32_t token) noexcept {
    slot.node = nullptr;
    slot.queued = false;
    slot.generation = slot.generation == kMaxGeneration ? 1 : slot.generation + 1;
    free_.push_back(static_cast<uint32_t>(token) & (kMaxSlots - 1));
  }

  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  std::deque<int32_t> ready_;
  uint32_t rootsStarted_ = 0;
  uint32_t rootsRunning_ = 0;
  uint32_t spawnedRunning_ = 0;
};

// Constructed on first use, so the executor works before (and without) static constructors;
// never destroyed (a process ends by the host dropping its instance).
Executor& executor() noexcept {
  static Executor* instance = new Executor();
  return *instance;
}

Detached runRoot(Task<int32_t> body) {
  int32_t status;
  {
    Task<int32_t> task = std::move(body);
    status = co_await task;
  }  // the body's frame is gone before the process may end
  executor().rootFinished(status);
}

Detached runSpawned(Task<void> task) {
  co_await task;
  executor().spawnedFinished();
}

// A coroutine the executor starts but a parent frame owns (whenAll, race): destroying it cancels
// the task it runs.
class Child {
 public:
  struct promise_type {
    WaitNode start;  // schedules the first resume

    Child get_return_object() noexcept {
      return Child(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    std::suspend_always final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { fatal("exception in a selium::Task"); }
  };

  explicit Child(std::coroutine_handle<promise_type> handle) noexcept : handle_(handle) {}
  Child(Child&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Child& operator=(Child&&) = delete;
  ~Child() {
    if (handle_) handle_.destroy();
  }

  void start() noexcept {
    WaitNode& node = handle_.promise().start;
    node.handle = handle_;
    wakeLocal(enlist(node, WakeSource::Local));
  }

 private:
  std::coroutine_handle<promise_type> handle_;
};

// What the children of one whenAll or race report to their parent.
struct Group {
  size_t remaining = 0;
  size_t first = SIZE_MAX;  // index of the first child to finish
  Event changed;            // set whenever a child finishes
};

Child runChild(Task<void> task, Group& group, size_t index) {
  if (task) co_await task;
  if (group.first == SIZE_MAX) group.first = index;
  --group.remaining;
  group.changed.set();
}

// Starts every task as a child of `group`; they begin running once the caller suspends.
std::vector<Child> startChildren(std::vector<Task<void>>& tasks, Group& group) {
  std::vector<Child> children;
  children.reserve(tasks.size());
  group.remaining = tasks.size();
  for (size_t i = 0; i < tasks.size(); ++i) {
    children.push_back(runChild(std::move(tasks[i]), group, i));
    children.back().start();
  }
  tasks.clear();
  return children;
}

}  // namespace

WaitNode::~WaitNode() { executor().withdraw(*this); }

bool resume(std::coroutine_handle<> handle) noexcept {
  handle.resume();
  return true;
}

int32_t enlist(WaitNode& node, WakeSource source) noexcept {
  return executor().enlist(node, source);
}
void withdraw(WaitNode& node) noexcept { executor().withdraw(node); }
void wakeLocal(int32_t token) noexcept { executor().wake(token, WakeSource::Local); }
void runReady() noexcept { executor().runReady(); }

void runEntry(Task<int32_t> body) noexcept {
  Executor& ex = executor();
  ex.rootStarted();
  ex.schedule(runRoot(std::move(body)));
  ex.runReady();
}

}  // namespace selium::detail

namespace selium {

void spawn(Task<void> task) noexcept {
  if (!task) return;
  detail::executor().spawnedStarted();
  detail::executor().schedule(detail::runSpawned(std::move(task)));
}

Task<void> whenAll(std::vector<Task<void>> tasks) {
  detail::Group group;  // declared before the children, so it outlives them
  std::vector<detail::Child> children = detail::startChildren(tasks, group);
  while (group.remaining > 0) {
    co_await group.changed.wait();
    group.changed.reset();
  }
}

Task<size_t> race(std::vector<Task<void>> tasks) {
  if (tasks.empty()) co_return 0;
  detail::Group group;
  std::vector<detail::Child> children = detail::startChildren(tasks, group);
  co_await group.changed.wait();
  size_t winner = group.first;
  children.clear();  // cancels the others
  co_return winner;
}

void Event::set() noexcept {
  set_ = true;
  std::vector<int32_t> waiters = std::move(waiters_);
  waiters_.clear();
  for (int32_t token : waiters) detail::wakeLocal(token);
}

}  // namespace selium

// The host calls this after the entrypoint returns (waker SELIUM_WAKER_START) and whenever a
// waker token fires. Stale, repeated and unknown tokens are ignored.
extern "C" __attribute__((export_name(SELIUM_EXPORT_POLL))) int32_t selium_poll(int32_t waker) {
  selium_init();
  selium::detail::Executor& ex = selium::detail::executor();
  if (waker != SELIUM_WAKER_START) ex.wake(waker, selium::detail::WakeSource::Host);
  ex.runReady();
  return ex.done() ? SELIUM_POLL_DONE : SELIUM_POLL_PENDING;
}
