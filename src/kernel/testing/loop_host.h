// A ProcessHost for kernel tests without V8: an asio loop, a real Scheduler and a Registry, on
// which tests make Processes and drive drivers (channels, timers) through real wakes, including
// wakes fired from other threads. "Polling" a process records (pid, waker) and calls an optional
// callback that plays the guest.
//
// Threading: the loop runs on the thread that made the LoopHost (the test's thread), inside
// poll() / runUntil(); nothing runs it in the background. A host whose loop another thread runs
// calls bindThread() on that thread first. Everything but Waker::fire()/crossWaker(...).fire()
// belongs to that thread.
#pragma once

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "kernel/process.h"
#include "kernel/registry.h"
#include "kernel/scheduler.h"

namespace selium::kernel::testing {

class LoopHost final : public ProcessHost {
 public:
  // Plays the guest's poll export: called for each waker a poll delivers, after it is recorded.
  using OnPoll = std::function<void(Process& process, int32_t waker)>;

  // `shared`: a registry common to several hosts (two "workers" sharing channels); by default the
  // host has its own.
  explicit LoopHost(Registry* shared = nullptr)
      : guard_(loop_.get_executor()),
        registry_(shared != nullptr ? shared : &own_registry_),
        scheduler_(std::make_shared<Scheduler>(
            loop_, [this](ProcessId pid, std::vector<int32_t>& wakers) { poll(pid, wakers); })) {
    scheduler_->bindThread();
  }

  ~LoopHost() override {
    processes_.clear();  // their handles may wake while released: the scheduler is still open
    scheduler_->close();
  }

  LoopHost(const LoopHost&) = delete;
  LoopHost& operator=(const LoopHost&) = delete;

  // Makes the calling thread the one that runs the loop (and owns the scheduler).
  void bindThread() { scheduler_->bindThread(); }

  // A new process on this host (config.id 0: the next free id, from 1). Its log records are kept
  // (logs()).
  Process& makeProcess(ProcessConfig config = {}) {
    if (config.id == 0) config.id = next_id_++;
    if (config.module.empty()) config.module = "test-" + std::to_string(config.id);
    ProcessId pid = config.id;
    auto process = std::make_unique<Process>(
        std::move(config), loop_, *this, [this](const Process& p, const GuestLogRecord& record) {
          logs_.emplace_back(p.id(), record);
        });
    Process& ref = *process;
    if (!processes_.emplace(pid, std::move(process)).second) {
      throw std::invalid_argument("LoopHost::makeProcess: pid " + std::to_string(pid) + " in use");
    }
    scheduler_->add(pid);
    return ref;
  }

  // Ends a process: it leaves the scheduler (later wakes for it are ignored), then its resources
  // are released.
  void endProcess(ProcessId pid) {
    scheduler_->remove(pid);
    processes_.erase(pid);
  }

  Process* process(ProcessId pid) {
    auto it = processes_.find(pid);
    return it == processes_.end() ? nullptr : it->second.get();
  }

  void onPoll(OnPoll callback) { on_poll_ = std::move(callback); }

  // The Launcher process_start uses (nullptr, the default: the host starts no children). Not
  // owned; it must outlive the host's processes.
  void setLauncher(Launcher* launcher) { launcher_ = launcher; }

  // Runs the handlers that are ready now (none blocking); returns how many ran.
  std::size_t poll() { return loop_.poll(); }

  // Runs the loop until `done()` holds (checked before each handler) or `bound` has passed;
  // returns done().
  bool runUntil(const std::function<bool()>& done,
                std::chrono::milliseconds bound = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + bound;
    while (!done()) {
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return done();
      loop_.run_one_for(deadline - now);
    }
    return true;
  }

  // Runs the loop for `duration` (timers that fall due in it fire).
  void runFor(std::chrono::milliseconds duration) {
    auto deadline = std::chrono::steady_clock::now() + duration;
    while (std::chrono::steady_clock::now() < deadline) {
      loop_.run_one_until(deadline);
    }
  }

  // Every (pid, waker) delivered so far, in order.
  const std::vector<std::pair<ProcessId, int32_t>>& polled() const { return polled_; }
  void clearPolled() { polled_.clear(); }
  // Runs what is ready now; returns the polls delivered since the last clear, and clears them.
  std::vector<std::pair<ProcessId, int32_t>> takePolls() {
    poll();
    return std::exchange(polled_, {});
  }
  // Runs the loop until `pid` has been polled with `waker` (bounded); clears the record.
  bool wokeWith(ProcessId pid, int32_t waker) {
    std::pair<ProcessId, int32_t> wanted{pid, waker};
    bool woke = runUntil(
        [&] { return std::find(polled_.begin(), polled_.end(), wanted) != polled_.end(); });
    polled_.clear();
    return woke;
  }
  const std::vector<std::pair<ProcessId, GuestLogRecord>>& logs() const { return logs_; }

  boost::asio::io_context& loop() { return loop_; }
  Scheduler& scheduler() { return *scheduler_; }

  // ProcessHost
  void wake(ProcessId pid, int32_t waker) override { scheduler_->wake(pid, waker); }
  bool wakeYield(ProcessId pid, int32_t waker) override {
    return scheduler_->wake(pid, waker, Scheduler::Limit::Pending);
  }
  Waker crossWaker(ProcessId pid, int32_t token) override { return scheduler_->waker(pid, token); }
  Registry& registry() override { return *registry_; }
  Launcher* launcher() override { return launcher_; }

 private:
  void poll(ProcessId pid, const std::vector<int32_t>& wakers) {
    for (int32_t waker : wakers) {
      polled_.emplace_back(pid, waker);
      if (!on_poll_) continue;
      Process* p = process(pid);
      if (p == nullptr) return;  // the callback ended it
      on_poll_(*p, waker);
    }
  }

  boost::asio::io_context loop_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  Registry own_registry_;
  Registry* registry_;
  std::shared_ptr<Scheduler> scheduler_;
  std::map<ProcessId, std::unique_ptr<Process>> processes_;
  ProcessId next_id_ = 1;
  OnPoll on_poll_;
  Launcher* launcher_ = nullptr;
  std::vector<std::pair<ProcessId, int32_t>> polled_;
  std::vector<std::pair<ProcessId, GuestLogRecord>> logs_;
};

}  // namespace selium::kernel::testing
