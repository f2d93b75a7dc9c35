// A worker: one OS thread owning one V8 isolate, one context and one event loop. Every process
// placed on a worker stays there; its kernel state and its V8 objects are touched only on this
// thread. Internal to the engine (it includes V8).
#pragma once

#include <v8.h>

#include <time.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include "engine/types.h"
#include "kernel/process.h"
#include "kernel/scheduler.h"

namespace selium::engine {

class Engine;
class GuestProcess;

class Worker final : public kernel::ProcessHost {
 public:
  // Starts the worker's thread, which sets up its isolate and hostcall shim; awaitReady() waits
  // for that (so an engine sets up all its workers at once).
  Worker(Engine& engine, std::size_t index);
  ~Worker() override;
  // Returns once the worker can run guests; throws what stopped it from getting there (the
  // thread has then ended). Call once.
  void awaitReady();

  // Posts the spawn to this worker's thread; the future resolves once the process is
  // instantiated (or failed to be), before its entrypoint runs.
  // `log_stream` becomes the process's log stream (the engine hands its channel out by pid).
  std::shared_future<Status> spawn(kernel::ProcessId pid, SpawnRequest request,
                                   std::shared_ptr<kernel::LogStream> log_stream);

  // Any thread: terminates `pid` (interrupting it if it is running right now).
  void stop(kernel::ProcessId pid);
  // Any thread: terminates every process, then lets the thread finish.
  void stopAll();
  // Waits for the thread to finish, at most until `deadline`; true if it did.
  bool join(std::chrono::steady_clock::time_point deadline);

  std::size_t load() const { return live_.load(std::memory_order_relaxed); }
  uint64_t slowHostcalls() const { return slow_hostcalls_.load(std::memory_order_relaxed); }
  uint64_t memoryMoves() const { return memory_moves_.load(std::memory_order_relaxed); }

  // Watchdog thread, every check period. A guest call that has held the worker for 100 ms, 1 s,
  // then twice as long each time (at most a minute apart) is logged while it runs, naming the
  // process, so an operator sees why the worker's other processes wait. With a `slice` (non-zero)
  // the call is terminated once it has used more than `slice` of this worker thread's CPU time
  // since the watchdog first saw it (so it may compute up to one check period more). CPU, not
  // wall time: a call blocked in the host (a slow log sink, page faults served from disk) is not
  // the guest computing.
  void watch(std::chrono::milliseconds slice);

  // Any thread: runs a full garbage collection of this worker's isolate on its thread, which
  // frees what ended processes left on the V8 heap (instances and their wasm memories). The
  // future is ready once it has run (after the guest call running now, if any), or at once if
  // the worker is stopping: its V8 objects are released when its thread finishes.
  std::future<void> collectGarbage();

  // kernel::ProcessHost (worker thread, but crossWaker's wakers fire from any thread)
  void wake(kernel::ProcessId pid, int32_t waker) override;
  bool wakeYield(kernel::ProcessId pid, int32_t waker) override;
  kernel::Waker crossWaker(kernel::ProcessId pid, int32_t token) override;
  kernel::Registry& registry() override;
  kernel::Launcher* launcher() override;
  kernel::NetContext& network() override;
  kernel::ProcessDirectory* directory() override;

 private:
  friend class GuestProcess;
  void run();
  void tearDown();  // worker thread: releases every V8 object and the isolate, then finishes
  // Instantiates and starts a process; `started` hears the outcome of instantiation (before the
  // entrypoint runs).
  void startProcess(kernel::ProcessId pid, SpawnRequest request,
                    std::shared_ptr<kernel::LogStream> log_stream,
                    const std::function<void(Status)>& started);
  // The module's WasmModuleObject on this isolate, made once per module (instantiating from it
  // skips FromCompiledModule, about a tenth of a spawn); empty if V8 cannot use the module.
  v8::MaybeLocal<v8::WasmModuleObject> moduleObject(const std::shared_ptr<const Module>& module);
  void sweepModuleObjects();
  // The scheduler's poll: calls the process's poll export once per waker, in order.
  void pollProcess(kernel::ProcessId pid, std::vector<int32_t>& wakers);
  void endProcess(kernel::ProcessId pid, ProcessExit exit);
  // Counts the process out and reports its exit: to the engine, then to the spawn's on_exit.
  // endProcess ends with it; a spawn refused before its GuestProcess was made calls it directly.
  void reportExit(ProcessExit exit, const std::function<void(const ProcessExit&)>& on_exit);
  void terminateAllOnThread();

  // Runs guest code of `process`: `call` makes the V8 call (a function, or instantiation with
  // its start function). While it runs, stop, shutdown and the watchdog can terminate it. Returns
  // the call's value, or how the process ended (exit, termination, trap) - which the caller
  // must then end it with.
  std::variant<v8::Local<v8::Value>, ProcessExit> runGuest(
      GuestProcess& process, const std::function<v8::MaybeLocal<v8::Value>()>& call);
  // Calls a guest function for `process`. Returns the result, or nothing if the call did not
  // return normally - in which case the process has been ended (trap, exit, termination) and
  // `process` is gone.
  std::optional<v8::Local<v8::Value>> callGuest(GuestProcess& process, v8::Local<v8::Function> fn,
                                                int argc, v8::Local<v8::Value>* argv);
  // Hostcalls (see hostcall_shim.h): the shim's import, as a fast API function and as the
  // regular callback V8 falls back to.
  void instantiateShim(v8::Local<v8::Context> context, v8::Local<v8::Object> wasm);
  int32_t hostcall(int32_t index) noexcept;
  // V8's NearHeapLimitCallback: terminates the guest whose allocation exhausted the heap.
  static std::size_t nearHeapLimit(void* data, std::size_t current, std::size_t initial);
  static int32_t hostcallFast(v8::Local<v8::Value> receiver, int32_t index);
  static void hostcallSlow(const v8::FunctionCallbackInfo<v8::Value>& info);

  Engine& engine_;
  std::size_t index_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  // The run queue: which processes have wakers to poll. Channels on other workers hold wakers
  // that reach it, so it is shared and closed when the worker stops.
  std::shared_ptr<kernel::Scheduler> scheduler_;
  std::thread thread_;
  std::promise<void> ready_;
  std::future<void> ready_future_;
  std::promise<void> finished_;
  std::shared_future<void> finished_future_;

  struct V8State;
  std::unique_ptr<V8State> v8_;  // created and destroyed on the worker thread

  std::unordered_map<kernel::ProcessId, std::unique_ptr<GuestProcess>> processes_;

  // See moduleObject(). An entry whose Module has been freed is swept every so many exits: it
  // would keep the module's compiled code alive in V8.
  struct ModuleObject {
    std::weak_ptr<const Module> module;
    v8::Global<v8::WasmModuleObject> object;
  };
  std::unordered_map<const Module*, ModuleObject> module_objects_;
  std::size_t exits_since_sweep_ = 0;
  std::atomic<std::size_t> live_{0};

  // Which process is executing guest code right now; guarded so a stop from another thread
  // terminates the right one.
  std::mutex running_mutex_;
  kernel::ProcessId running_ = 0;
  const std::string* running_module_ = nullptr;  // its module label, while running_ != 0
  std::chrono::steady_clock::time_point call_started_;
  std::chrono::nanoseconds next_warning_{0};  // how long the call may hold the worker unlogged
  // Guest calls made so far, and the CPU time this thread had when the watchdog first saw call
  // number sampled_call_ running: reading a thread's CPU clock is a system call (no vDSO), too
  // dear for every guest call, so the watchdog takes the baseline (checkSlice).
  uint64_t calls_ = 0;
  uint64_t sampled_call_ = 0;
  std::chrono::nanoseconds sampled_cpu_{0};
  std::chrono::nanoseconds slice_cpu_used_{0};  // what the call it terminated had computed
  clockid_t cpu_clock_{};                       // this worker thread's CPU-time clock
  kernel::ProcessId slice_exceeded_ = 0;        // terminated by the watchdog
  kernel::ProcessId heap_exhausted_ = 0;        // terminated by nearHeapLimit
  std::size_t heap_limit_bytes_ = 0;            // the heap limit it exhausted
  bool stopping_ = false;
  std::unordered_set<kernel::ProcessId> stop_requested_;

  GuestProcess* current_ = nullptr;  // the process whose guest code is on the stack (hostcalls)
  uint8_t* shim_memory_ = nullptr;   // the hostcall shim's memory: arguments and result
  std::atomic<uint64_t> slow_hostcalls_{0};
  std::atomic<uint64_t> memory_moves_{0};
};

}  // namespace selium::engine
