// Worker threads: the thread with its isolate and event loop, spawns, stops and shutdown, the
// scheduling of polls, process ends, and the isolate's module objects. The hostcall path is in
// worker_shim.cc, running guest code in worker_guest.cc.
#include "engine/worker.h"

#include <selium/abi/hostcalls.h>

#include <pthread.h>

#include <boost/asio/post.hpp>
#include <functional>

#include "engine/engine.h"
#include "engine/worker_internal.h"
#include "util/log.h"

namespace selium::engine {
namespace {

using kernel::ProcessId;

// Exits between sweeps of module objects whose Module is gone (Worker::sweepModuleObjects).
constexpr std::size_t kSweepEvery = 64;

}  // namespace

Worker::Worker(Engine& engine, std::size_t index)
    : engine_(engine), index_(index), finished_future_(finished_.get_future().share()) {
  guard_.emplace(io_.get_executor());
  scheduler_ = std::make_shared<kernel::Scheduler>(
      io_, [this](ProcessId pid, std::vector<int32_t>& wakers) { pollProcess(pid, wakers); });
  ready_future_ = ready_.get_future();
  thread_ = std::thread([this] {
    // Named so `top -H`, gdb and perf show which worker is busy.
    std::string name = "selium-w" + std::to_string(index_);
    pthread_setname_np(pthread_self(), name.c_str());
    pthread_getcpuclockid(pthread_self(), &cpu_clock_);  // the watchdog reads it after awaitReady()
    t_worker = this;
    scheduler_->bindThread();
    v8_ = std::make_unique<V8State>();
    v8_->allocator.reset(v8::ArrayBuffer::Allocator::NewDefaultAllocator());
    v8::Isolate::CreateParams params;
    params.array_buffer_allocator = v8_->allocator.get();
    if (engine_.options_.max_heap_bytes != 0) {
      params.constraints.set_max_old_generation_size_in_bytes(engine_.options_.max_heap_bytes);
    }
    v8_->isolate = v8::Isolate::New(params);
    // Without this, a guest whose tables (or other engine objects) fill the heap makes V8 abort
    // the whole runtime. The limit goes back to its first value once the heap has shrunk to half
    // of it (the terminated process's objects collected).
    v8_->isolate->AddNearHeapLimitCallback(&Worker::nearHeapLimit, this);
    v8_->isolate->AutomaticallyRestoreInitialHeapLimit(0.5);
    try {
      v8::Isolate::Scope isolate_scope(v8_->isolate);
      v8::HandleScope handles(v8_->isolate);
      v8::Local<v8::Context> context = v8::Context::New(v8_->isolate);
      v8::Context::Scope context_scope(context);
      v8_->context.Reset(v8_->isolate, context);
      auto wasm = context->Global()
                      ->Get(context, v8String(v8_->isolate, "WebAssembly"))
                      .ToLocalChecked()
                      .As<v8::Object>();
      v8_->instance_ctor.Reset(v8_->isolate, wasm->Get(context, v8String(v8_->isolate, "Instance"))
                                                 .ToLocalChecked()
                                                 .As<v8::Function>());
      instantiateShim(context, wasm);
    } catch (...) {
      // E.g. V8 could not map the shim's memory (address space or vm.max_map_count exhausted):
      // this worker cannot run guests, and the engine that wanted it fails to start.
      ready_.set_exception(std::current_exception());
      tearDown();
      return;
    }
    ready_.set_value();
    run();
  });
}

void Worker::awaitReady() {
  try {
    ready_future_.get();
  } catch (...) {
    thread_.join();
    throw;
  }
}

Worker::~Worker() {
  stopAll();
  if (thread_.joinable()) thread_.join();
}

void Worker::run() {
  {
    v8::Isolate::Scope isolate_scope(v8_->isolate);
    io_.run();
  }
  tearDown();
}

void Worker::tearDown() {
  scheduler_->close();  // wakers that channels still hold now fire into nothing
  // Everything has ended: release V8 objects on this thread, then the isolate.
  {
    v8::Isolate::Scope isolate_scope(v8_->isolate);
    processes_.clear();
    module_objects_.clear();
    v8_->instance_ctor.Reset();
    v8_->imports.Reset();
    v8_->shim.Reset();
    v8_->context.Reset();
  }
  v8_->isolate->Dispose();
  v8_.reset();
  finished_.set_value();
}

std::shared_future<Status> Worker::spawn(ProcessId pid, SpawnRequest request,
                                         std::shared_ptr<kernel::LogStream> log_stream) {
  auto promise = std::make_shared<std::promise<Status>>();
  std::shared_future<Status> future = promise->get_future().share();
  live_.fetch_add(1, std::memory_order_relaxed);
  boost::asio::post(io_, [this, pid, promise, request = std::move(request),
                          log_stream = std::move(log_stream)]() mutable {
    // The promise is kept once the process is instantiated (or failed to be); the entrypoint
    // runs after that.
    bool kept = false;
    auto keep = [&](Status status) {
      if (!kept) promise->set_value(std::move(status));
      kept = true;
    };
    std::function<void(const ProcessExit&)> on_exit = request.on_exit;
    std::string label = request.module->label();
    try {
      startProcess(pid, std::move(request), std::move(log_stream), keep);
    } catch (const std::exception& e) {
      std::string message = std::string("internal error starting the process: ") + e.what();
      keep(Error{message});
      ProcessExit exit{pid, label, ExitReason::Failed, 0, message};
      if (processes_.count(pid) > 0) {
        endProcess(pid, std::move(exit));
      } else {
        reportExit(std::move(exit), on_exit);
      }
    }
    keep(Ok{});
  });
  return future;
}

void Worker::stop(ProcessId pid) {
  {
    std::lock_guard lock(running_mutex_);
    stop_requested_.insert(pid);
    if (running_ == pid) v8_->isolate->TerminateExecution();
  }
  boost::asio::post(io_, [this, pid] {
    if (processes_.count(pid)) endProcess(pid, {pid, {}, ExitReason::Terminated, 0, "stopped"});
    std::lock_guard lock(running_mutex_);
    stop_requested_.erase(pid);
  });
}

void Worker::stopAll() {
  {
    std::lock_guard lock(running_mutex_);
    if (stopping_) return;
    stopping_ = true;
    if (running_ != 0) v8_->isolate->TerminateExecution();
  }
  boost::asio::post(io_, [this] { terminateAllOnThread(); });
}

std::size_t Worker::nearHeapLimit(void* data, std::size_t current, std::size_t initial) {
  // Called on the worker thread by an allocation that found the heap full after collecting:
  // the guest running now made it, so it is the one terminated (at its next interrupt check,
  // once this allocation has finished). The limit grows to let that happen; twice the first
  // limit at most, so a heap that stays full still fails rather than growing without end.
  auto* worker = static_cast<Worker*>(data);
  {
    std::lock_guard lock(worker->running_mutex_);
    if (worker->running_ != 0 && worker->heap_exhausted_ == 0) {
      worker->heap_exhausted_ = worker->running_;
      worker->heap_limit_bytes_ = initial;
      worker->v8_->isolate->TerminateExecution();
    }
  }
  std::size_t room = std::max<std::size_t>(initial / 4, std::size_t{64} << 20);
  return std::max(current, std::min(current + room, 2 * initial + room));
}

void Worker::watch(std::chrono::milliseconds slice) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  std::lock_guard lock(running_mutex_);
  if (running_ == 0) return;
  auto held = std::chrono::steady_clock::now() - call_started_;
  if (held >= next_warning_) {
    log::write(log::Level::Warn, log::kRuntimeTarget,
               "guest call is holding its worker; the worker's other processes wait",
               {{"pid", running_},
                {"module", *running_module_},
                {"ms", duration_cast<milliseconds>(held).count()},
                {"worker", static_cast<uint64_t>(index_)}});
    auto since = duration_cast<std::chrono::nanoseconds>(held);
    next_warning_ =
        since < std::chrono::seconds(1)
            ? std::chrono::nanoseconds(std::chrono::seconds(1))
            : since + std::min<std::chrono::nanoseconds>(since, std::chrono::minutes(1));
  }
  if (slice.count() == 0 || slice_exceeded_ != 0) return;
  std::chrono::nanoseconds now = cpuTime(cpu_clock_);
  if (sampled_call_ != calls_) {  // a call this check has not seen yet: its baseline
    sampled_call_ = calls_;
    sampled_cpu_ = now;
    return;
  }
  if (now - sampled_cpu_ > slice) {
    slice_exceeded_ = running_;
    slice_cpu_used_ = now - sampled_cpu_;
    v8_->isolate->TerminateExecution();
  }
}

bool Worker::join(std::chrono::steady_clock::time_point deadline) {
  if (finished_future_.wait_until(deadline) != std::future_status::ready) return false;
  if (thread_.joinable()) thread_.join();
  return true;
}

void Worker::terminateAllOnThread() {
  std::vector<ProcessId> pids;
  for (const auto& [pid, process] : processes_) pids.push_back(pid);
  for (ProcessId pid : pids)
    endProcess(pid, {pid, {}, ExitReason::Terminated, 0, "runtime shutting down"});
  scheduler_->close();
  guard_.reset();  // io_.run() returns once the cancelled timers' handlers have run
}

void Worker::wake(ProcessId pid, int32_t waker) { scheduler_->wake(pid, waker); }

bool Worker::wakeYield(ProcessId pid, int32_t waker) {
  return scheduler_->wake(pid, waker, kernel::Scheduler::Limit::Pending);
}

kernel::Waker Worker::crossWaker(ProcessId pid, int32_t token) {
  return scheduler_->waker(pid, token);
}

kernel::Registry& Worker::registry() { return engine_.registry(); }

kernel::Launcher* Worker::launcher() { return engine_.options_.launcher; }

kernel::NetContext& Worker::network() { return engine_.network(); }

kernel::ProcessDirectory* Worker::directory() { return &engine_.directory(); }

void Worker::pollProcess(ProcessId pid, std::vector<int32_t>& wakes) {
  auto it = processes_.find(pid);
  if (it == processes_.end()) return;
  GuestProcess& process = *it->second;
  if (process.poll.IsEmpty()) return;
  v8::Isolate* isolate = v8_->isolate;
  v8::HandleScope handles(isolate);
  v8::Local<v8::Context> context = v8_->context.Get(isolate);
  v8::Context::Scope context_scope(context);
  for (int32_t waker : wakes) {
    v8::Local<v8::Value> args[] = {v8::Integer::New(isolate, waker)};
    auto result = callGuest(process, process.poll.Get(isolate), 1, args);
    if (!result) return;  // ended
    if (result.value()->Int32Value(context).FromMaybe(0) == SELIUM_POLL_DONE) {
      endProcess(pid, {pid, {}, ExitReason::Normal, 0, "root task completed"});
      return;
    }
  }
}

v8::MaybeLocal<v8::WasmModuleObject> Worker::moduleObject(
    const std::shared_ptr<const Module>& module) {
  v8::Isolate* isolate = v8_->isolate;
  // The weak pointer tells a live entry from one whose Module died and whose address a new
  // Module now has.
  if (auto it = module_objects_.find(module.get());
      it != module_objects_.end() && it->second.module.lock() == module) {
    return it->second.object.Get(isolate);
  }
  v8::Local<v8::WasmModuleObject> object;
  {
    v8::TryCatch try_catch(isolate);
    if (!v8::WasmModuleObject::FromCompiledModule(isolate, module->compiled()).ToLocal(&object)) {
      return {};
    }
  }
  ModuleObject& entry = module_objects_[module.get()];
  entry.module = module;
  entry.object.Reset(isolate, object);
  return object;
}

void Worker::sweepModuleObjects() {
  std::erase_if(module_objects_, [](const auto& entry) { return entry.second.module.expired(); });
}

void Worker::endProcess(ProcessId pid, ProcessExit exit) {
  auto it = processes_.find(pid);
  if (it == processes_.end()) return;
  std::unique_ptr<GuestProcess> process = std::move(it->second);
  processes_.erase(it);
  scheduler_->remove(pid);
  exit.module = process->kernel.module();
  std::function<void(const ProcessExit&)> on_exit = std::move(process->on_exit);
  process->kernel.releaseResources();
  process.reset();
  if (++exits_since_sweep_ >= kSweepEvery) {
    exits_since_sweep_ = 0;
    sweepModuleObjects();
  }
  reportExit(std::move(exit), on_exit);
}

void Worker::reportExit(ProcessExit exit, const std::function<void(const ProcessExit&)>& on_exit) {
  live_.fetch_sub(1, std::memory_order_relaxed);
  engine_.processEnded(exit);
  if (on_exit) on_exit(exit);
}

std::future<void> Worker::collectGarbage() {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> future = done->get_future();
  // Posted under the lock that stopAll() sets stopping_ under: either this sees a stopping
  // worker, or stopAll() posts its shutdown behind this handler, which therefore runs before
  // io_.run() returns. Either way the future becomes ready.
  std::lock_guard lock(running_mutex_);
  if (stopping_) {
    done->set_value();
    return future;
  }
  boost::asio::post(io_, [this, done] {
    // Full collections until nothing more is freed, then array buffers (wasm memories among
    // them) are swept and unmapped before it returns.
    sweepModuleObjects();  // so the modules nobody uses any more can go too
    v8_->isolate->LowMemoryNotification();
    done->set_value();
  });
  return future;
}

}  // namespace selium::engine
