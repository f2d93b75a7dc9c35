// Worker threads: V8 isolate set-up, the hostcall shim and dispatch, instantiation, entrypoint
// calls, polling, traps and termination.
#include "engine/worker.h"

#include <selium/abi/hostcalls.h>
#include <selium/abi/wasi.h>

#include <pthread.h>
#include <v8-fast-api-calls.h>

#include <boost/asio/post.hpp>
#include <cstring>
#include <functional>
#include <variant>

#include "engine/engine.h"
#include "engine/hostcall_shim.h"
#include "kernel/hostcall.h"
#include "util/log.h"
#include "util/strings.h"

namespace selium::engine {
namespace {

using kernel::ProcessId;

// Exits between sweeps of module objects whose Module is gone (Worker::sweepModuleObjects).
constexpr std::size_t kSweepEvery = 64;

v8::Local<v8::String> v8String(v8::Isolate* isolate, std::string_view text) {
  return v8::String::NewFromUtf8(isolate, text.data(), v8::NewStringType::kNormal,
                                 static_cast<int>(text.size()))
      .ToLocalChecked();
}

std::string toStdString(v8::Isolate* isolate, v8::Local<v8::Value> value) {
  v8::String::Utf8Value utf8(isolate, value);
  return *utf8 == nullptr ? std::string("(unprintable)") : std::string(*utf8, utf8.length());
}

// CPU time `clock` has used (a thread's clock from pthread_getcpuclockid).
std::chrono::nanoseconds cpuTime(clockid_t clock) {
  timespec now{};
  clock_gettime(clock, &now);
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

// "RuntimeError: unreachable\n    at f (wasm://...)" -> one line: "...; at f (...)".
std::string oneLine(std::string text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      out += "; ";
      while (i + 1 < text.size() && text[i + 1] == ' ') ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace

struct Worker::V8State {
  std::unique_ptr<v8::ArrayBuffer::Allocator> allocator;
  v8::Isolate* isolate = nullptr;
  v8::Global<v8::Context> context;
  v8::Global<v8::Object> imports;
  v8::Global<v8::Function> instance_ctor;
  v8::Global<v8::Object> shim;  // the hostcall shim's instance (hostcall_shim.h)
};

// A process on this worker: the kernel's state plus its V8 objects.
class GuestProcess {
 public:
  GuestProcess(kernel::ProcessConfig config, Worker& worker, kernel::LogSink sink,
               std::shared_ptr<const Module> module)
      : kernel(std::move(config), worker.io_, worker, std::move(sink)), module(std::move(module)) {}

  kernel::Process kernel;
  std::shared_ptr<const Module> module;
  v8::Global<v8::WasmMemoryObject> memory;
  std::shared_ptr<v8::BackingStore> memory_store;  // as of the last hostcall that needed it
  v8::Global<v8::Function> poll;
  std::function<void(const ProcessExit&)> on_exit;  // SpawnRequest::on_exit
};

namespace {
// The worker whose thread this is (hostcalls find their worker through it).
thread_local Worker* t_worker = nullptr;
}  // namespace

// Every hostcall goes through the shim (hostcall_shim.h), which left its arguments in the shim's
// memory. Returns 0 when the guest may continue, 1 when it must unwind. noexcept: nothing may
// unwind into V8, and no V8 call here may allocate on the JS heap (V8 calls this as a fast API
// function, where a GC must not happen).
int32_t Worker::hostcall(int32_t index) noexcept {
  std::span<const kernel::HostcallSpec> table = kernel::hostcallTable();
  GuestProcess* process = current_;
  if (process == nullptr || index < 0 || static_cast<std::size_t>(index) >= table.size()) {
    return 1;  // a call from outside any guest call we made: cannot happen with wasm guests
  }
  const kernel::HostcallSpec& spec = table[static_cast<std::size_t>(index)];
  static_assert(sizeof(kernel::WasmValue) == 8, "shim argument slots are 8 bytes");
  kernel::WasmValue args[shim::kMaxArgs];
  std::memcpy(args, shim_memory_ + shim::kArgsOffset, spec.params.size() * sizeof(args[0]));
  int64_t result;
  try {
    // Guest memory is looked up only by hostcalls that take guest pointers, through the
    // backing store kept from the last lookup. A guest's memory.grow either grows that store in
    // place (same address, ByteLength() updated) or, when its address-space reservation is too
    // small, copies into a new store and detaches the old buffer, which drops V8's reference:
    // then ours is the only one left and we look the memory up again. (A full lookup needs a
    // HandleScope and three V8 calls, about half of a hostcall's cost.)
    kernel::CallContext ctx{process->kernel, {}};
    ctx.fetch_state = process;
    ctx.fetch_memory = [](void* state) -> std::span<uint8_t> {
      auto* guest = static_cast<GuestProcess*>(state);
      if (guest->memory.IsEmpty()) return {};
      std::shared_ptr<v8::BackingStore>& store = guest->memory_store;
      if (store == nullptr || store.use_count() < 2) {
        if (store != nullptr) t_worker->memory_moves_.fetch_add(1, std::memory_order_relaxed);
        v8::Isolate* isolate = v8::Isolate::GetCurrent();
        // Our own scope: a fast API call has none, and the guest call's must not fill up.
        v8::HandleScope handles(isolate);
        store = guest->memory.Get(isolate)->Buffer()->GetBackingStore();
      }
      return {static_cast<uint8_t*>(store->Data()), store->ByteLength()};
    };
    result = kernel::dispatchHostcall(spec, ctx, args);
  } catch (const std::exception& e) {
    process->kernel.setLastError(std::string("internal error in ") + std::string(spec.name) + ": " +
                                 e.what());
    result = kernel::errorResult(kernel::ErrorCode::Internal);
  } catch (...) {
    result = kernel::errorResult(kernel::ErrorCode::Internal);
  }
  std::memcpy(shim_memory_ + shim::kResultOffset, &result, sizeof(result));
  if (process->kernel.exitRequested()) {
    // process_exit does not return: the shim traps to unwind the guest. The termination
    // request also ends it should anything catch that trap.
    std::lock_guard lock(running_mutex_);
    v8_->isolate->TerminateExecution();
    return 1;
  }
  return 0;
}

int32_t Worker::hostcallFast(v8::Local<v8::Value> /*receiver*/, int32_t index) {
  return t_worker->hostcall(index);
}

void Worker::hostcallSlow(const v8::FunctionCallbackInfo<v8::Value>& info) {
  // V8 takes this path only if it cannot make the fast call (see EngineStats::slow_hostcalls).
  t_worker->slow_hostcalls_.fetch_add(1, std::memory_order_relaxed);
  int32_t index = info[0]->IsInt32() ? info[0].As<v8::Int32>()->Value() : -1;
  info.GetReturnValue().Set(t_worker->hostcall(index));
}

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

void Worker::instantiateShim(v8::Local<v8::Context> context, v8::Local<v8::Object> wasm) {
  v8::Isolate* isolate = v8_->isolate;
  auto property = [&](v8::Local<v8::Object> object, std::string_view name) {
    return object->Get(context, v8String(isolate, name)).ToLocalChecked();
  };
  // Anything failing here is a bug in the shim generator or V8 refusing our own module: the
  // worker cannot run guests without it.
  auto check = [](bool ok, const char* what) {
    if (!ok) throw std::runtime_error(std::string("hostcall shim: ") + what);
  };
  std::vector<uint8_t> bytes = shim::build(kernel::hostcallTable());
  v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, bytes.size());
  std::memcpy(buffer->Data(), bytes.data(), bytes.size());
  v8::TryCatch try_catch(isolate);
  v8::Local<v8::Value> module_args[] = {buffer};
  v8::Local<v8::Object> module;
  check(property(wasm, "Module")
            .As<v8::Function>()
            ->NewInstance(context, 1, module_args)
            .ToLocal(&module),
        "V8 rejected the module");

  // The one import: a fast API function (hostcallFast), with hostcallSlow for V8's other path.
  static const v8::CFunction fast = v8::CFunction::Make(&Worker::hostcallFast);
  v8::Local<v8::Function> call =
      v8::FunctionTemplate::New(isolate, &Worker::hostcallSlow, {}, {}, 1,
                                v8::ConstructorBehavior::kThrow, v8::SideEffectType::kHasSideEffect,
                                &fast)
          ->GetFunction(context)
          .ToLocalChecked();
  v8::Local<v8::Object> host = v8::Object::New(isolate);
  host->Set(context, v8String(isolate, shim::kImportName), call).Check();
  v8::Local<v8::Object> host_imports = v8::Object::New(isolate);
  host_imports->Set(context, v8String(isolate, shim::kImportModule), host).Check();
  v8::Local<v8::Value> instance_args[] = {module, host_imports};
  v8::Local<v8::Object> instance;
  check(v8_->instance_ctor.Get(isolate)->NewInstance(context, 2, instance_args).ToLocal(&instance),
        "V8 could not instantiate it");
  v8_->shim.Reset(isolate, instance);
  v8::Local<v8::Object> exports = property(instance, "exports").As<v8::Object>();
  v8::Local<v8::Value> memory = property(exports, shim::kMemoryExport);
  check(memory->IsWasmMemoryObject(), "no memory export");
  // One page, never grown: its address is fixed for the life of the instance.
  shim_memory_ = static_cast<uint8_t*>(memory.As<v8::WasmMemoryObject>()->Buffer()->Data());

  // The imports object every guest is instantiated with: one namespace per import module,
  // {selium: {name: shim export, ...}, wasi_snapshot_preview1: {...}}.
  v8::Local<v8::Object> imports = v8::Object::New(isolate);
  for (const kernel::HostcallSpec& spec : kernel::hostcallTable()) {
    v8::Local<v8::String> module_name = v8String(isolate, spec.module);
    v8::Local<v8::Object> functions;
    if (imports->HasOwnProperty(context, module_name).FromJust()) {
      functions = imports->Get(context, module_name).ToLocalChecked().As<v8::Object>();
    } else {
      functions = v8::Object::New(isolate);
      imports->Set(context, module_name, functions).Check();
    }
    v8::Local<v8::Value> function = property(exports, shim::exportName(spec));
    check(function->IsFunction(), "a hostcall export is missing");
    functions->Set(context, v8String(isolate, spec.name), function).Check();
  }
  v8_->imports.Reset(isolate, imports);
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

std::shared_future<Status> Worker::spawn(ProcessId pid, SpawnRequest request) {
  auto promise = std::make_shared<std::promise<Status>>();
  std::shared_future<Status> future = promise->get_future().share();
  live_.fetch_add(1, std::memory_order_relaxed);
  boost::asio::post(io_, [this, pid, promise, request = std::move(request)]() mutable {
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
      startProcess(pid, std::move(request), keep);
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

void Worker::checkSlice(std::chrono::milliseconds slice) {
  std::lock_guard lock(running_mutex_);
  if (running_ == 0 || slice_exceeded_ != 0) return;
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

std::variant<v8::Local<v8::Value>, ProcessExit> Worker::runGuest(
    GuestProcess& process, const std::function<v8::MaybeLocal<v8::Value>()>& call) {
  v8::Isolate* isolate = v8_->isolate;
  ProcessId pid = process.kernel.id();
  bool refused;
  auto call_start = std::chrono::steady_clock::now();
  uint64_t call_number = 0;
  {
    std::lock_guard lock(running_mutex_);
    refused = stopping_ || stop_requested_.count(pid) > 0;
    if (!refused) {
      running_ = pid;
      call_number = ++calls_;
    }
  }
  if (refused) return ProcessExit{pid, {}, ExitReason::Terminated, 0, "stopped"};
  v8::TryCatch try_catch(isolate);
  current_ = &process;
  v8::MaybeLocal<v8::Value> result = call();
  current_ = nullptr;
  // A memory the guest moved by growing it is held only by us now: let it go at once rather
  // than at the next hostcall that looks at memory (it counts against nobody's limit).
  if (process.memory_store != nullptr && process.memory_store.use_count() < 2) {
    process.memory_store.reset();
  }
  bool terminated;
  bool over_slice;
  bool over_heap;
  std::optional<std::chrono::nanoseconds> cpu_baseline;  // if the watchdog saw this call
  std::chrono::nanoseconds slice_cpu{0};
  {
    std::lock_guard lock(running_mutex_);
    running_ = 0;
    terminated = try_catch.HasTerminated() || isolate->IsExecutionTerminating();
    // Also clears a termination that arrived just as the call returned.
    isolate->CancelTerminateExecution();
    over_slice = slice_exceeded_ == pid;
    slice_exceeded_ = 0;
    slice_cpu = slice_cpu_used_;
    if (sampled_call_ == call_number) cpu_baseline = sampled_cpu_;
    over_heap = heap_exhausted_ == pid;
    heap_exhausted_ = 0;
  }
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  auto held = std::chrono::steady_clock::now() - call_start;
  if (held > milliseconds(100)) {
    // Every other process on this worker waited that long. With --max-slice the watchdog has
    // sampled the call, and cpu_ms says how much of it (at least) was the call computing; the
    // rest was spent blocked in the host, or the machine was busy elsewhere.
    std::vector<log::Field> fields = {{"pid", pid},
                                      {"module", process.kernel.module()},
                                      {"ms", duration_cast<milliseconds>(held).count()},
                                      {"worker", static_cast<uint64_t>(index_)}};
    if (cpu_baseline) {
      fields.emplace_back("cpu_ms",
                          duration_cast<milliseconds>(cpuTime(cpu_clock_) - *cpu_baseline).count());
    }
    log::write(log::Level::Warn, log::kRuntimeTarget, "guest call held its worker without yielding",
               fields);
  }
  // An exception with a result: e.g. a start function that trapped during instantiation.
  if (!result.IsEmpty() && !try_catch.HasCaught() && !process.kernel.exitRequested() &&
      !over_heap) {
    return result.ToLocalChecked();
  }

  ProcessExit exit{pid, {}, ExitReason::Normal, 0, {}};
  if (auto status = process.kernel.exitRequested()) {
    exit.status = *status;
    exit.reason = *status == 0 ? ExitReason::Normal : ExitReason::Error;
    exit.message = "process_exit(" + std::to_string(*status) + ")";
  } else if (over_heap) {
    // Checked before `terminated`: the termination may have landed as the call returned.
    exit.reason = ExitReason::Terminated;
    exit.message = "exhausted its worker's V8 heap (" + std::to_string(heap_limit_bytes_ >> 20) +
                   " MiB, shared by the processes on worker " + std::to_string(index_) +
                   "): tables and other engine objects it made; lower its max_table_elements";
  } else if (terminated && over_slice) {
    exit.reason = ExitReason::Terminated;
    exit.message = "computed for " +
                   std::to_string(duration_cast<milliseconds>(slice_cpu).count()) +
                   " ms of CPU time without yielding, over the CPU slice of " +
                   std::to_string(engine_.options_.max_slice.count()) + " ms (--max-slice)";
  } else if (terminated) {
    exit.reason = ExitReason::Terminated;
    exit.message = "stopped";
  } else {
    exit.reason = ExitReason::Trap;
    v8::Local<v8::Context> context = isolate->GetCurrentContext();
    v8::Local<v8::Value> stack;
    if (try_catch.StackTrace(context).ToLocal(&stack) && stack->IsString()) {
      exit.message = oneLine(toStdString(isolate, stack));
    } else if (try_catch.HasCaught()) {
      exit.message = oneLine(toStdString(isolate, try_catch.Exception()));
    } else {
      exit.message = "guest call failed without an exception";
    }
  }
  return exit;
}

std::optional<v8::Local<v8::Value>> Worker::callGuest(GuestProcess& process,
                                                      v8::Local<v8::Function> fn, int argc,
                                                      v8::Local<v8::Value>* argv) {
  v8::Isolate* isolate = v8_->isolate;
  auto outcome = runGuest(process, [&] {
    return fn->Call(isolate->GetCurrentContext(), v8::Undefined(isolate), argc, argv);
  });
  if (auto* value = std::get_if<v8::Local<v8::Value>>(&outcome)) return *value;
  ProcessExit& exit = std::get<ProcessExit>(outcome);
  endProcess(exit.pid, std::move(exit));
  return std::nullopt;
}

void Worker::startProcess(ProcessId pid, SpawnRequest request,
                          const std::function<void(Status)>& started) {
  v8::Isolate* isolate = v8_->isolate;
  v8::HandleScope handles(isolate);
  v8::Local<v8::Context> context = v8_->context.Get(isolate);
  v8::Context::Scope context_scope(context);
  const Module& module = *request.module;
  bool stopping;
  {
    std::lock_guard lock(running_mutex_);
    stopping = stopping_;
  }
  if (stopping) {
    started(Error{"cannot start " + module.label() + ": the runtime is shutting down"});
    return reportExit({pid, module.label(), ExitReason::Terminated, 0, "runtime shutting down"},
                      request.on_exit);
  }

  kernel::ProcessConfig config;
  config.id = pid;
  config.module = module.label();
  config.entrypoint = request.entrypoint;
  config.capabilities = request.capabilities;
  config.log_uri = request.log_uri;
  config.argv.push_back(module.label());
  config.argv.insert(config.argv.end(), request.argv.begin(), request.argv.end());
  config.env = request.env;
  auto owned = std::make_unique<GuestProcess>(std::move(config), *this, engine_.options_.log_sink,
                                              request.module);
  GuestProcess& process = *owned;
  process.on_exit = std::move(request.on_exit);
  processes_.emplace(pid, std::move(owned));
  scheduler_->add(pid);
  engine_.processCreated(pid, process.kernel.logStream());

  auto fail = [&](std::string message) {
    message = "cannot start " + module.label() + ": " + message;
    started(Error{message});
    endProcess(pid, {pid, {}, ExitReason::Failed, 0, std::move(message)});
  };

  v8::Local<v8::WasmModuleObject> module_object;
  if (!moduleObject(request.module).ToLocal(&module_object)) {
    return fail("V8 could not use the compiled module");
  }

  // Instantiation runs the module's start function, which may call hostcalls or trap: it is a
  // guest call like any other.
  v8::Local<v8::Value> ctor_args[] = {module_object, v8_->imports.Get(isolate)};
  auto made = runGuest(process, [&]() -> v8::MaybeLocal<v8::Value> {
    v8::Local<v8::Object> object;
    if (!v8_->instance_ctor.Get(isolate)->NewInstance(context, 2, ctor_args).ToLocal(&object)) {
      return {};
    }
    return object;
  });
  if (auto* exit = std::get_if<ProcessExit>(&made)) {
    if (exit->reason == ExitReason::Normal || exit->reason == ExitReason::Error) {
      // process_exit in the start function: the process started, and exited like anywhere else.
      started(Ok{});
      return endProcess(pid, std::move(*exit));
    }
    if (exit->reason == ExitReason::Terminated) {
      // Stopped, shut down or over its slice before or while instantiating (a start function may
      // loop forever like any guest code): terminated like a running process.
      started(Error{"cannot start " + module.label() + ": " + exit->message});
      return endProcess(pid, std::move(*exit));
    }
    return fail(exit->message);  // a trap or link error
  }
  v8::Local<v8::Value> made_value = std::get<v8::Local<v8::Value>>(made);
  if (!made_value->IsObject()) return fail("instantiation gave no instance");
  v8::Local<v8::Object> instance = made_value.As<v8::Object>();
  v8::Local<v8::Value> exports_value;
  if (!instance->Get(context, v8String(isolate, "exports")).ToLocal(&exports_value) ||
      !exports_value->IsObject()) {
    return fail("the instance has no exports object");
  }
  v8::Local<v8::Object> exports = exports_value.As<v8::Object>();
  auto exportNamed = [&](std::string_view name) -> v8::Local<v8::Value> {
    v8::Local<v8::Value> value;
    if (!exports->Get(context, v8String(isolate, name)).ToLocal(&value)) {
      return v8::Undefined(isolate);
    }
    return value;
  };
  for (const Export& e : module.info().exports) {
    if (e.kind == ExternKind::Memory) {
      v8::Local<v8::Value> memory = exportNamed(e.name);
      if (memory->IsWasmMemoryObject()) {
        process.memory.Reset(isolate, memory.As<v8::WasmMemoryObject>());
        break;
      }
    }
  }
  if (v8::Local<v8::Value> poll = exportNamed(SELIUM_EXPORT_POLL); poll->IsFunction()) {
    process.poll.Reset(isolate, poll.As<v8::Function>());
  }
  v8::Local<v8::Value> entry = exportNamed(request.entrypoint);
  if (!entry->IsFunction()) {
    return fail("entrypoint " + util::quote(request.entrypoint) + " is not an exported function");
  }
  // Resource args: the process gets its own handle to each object, and its entrypoint that
  // handle number.
  std::size_t next_resource = 0;
  for (std::size_t i = 0; i < request.args.size(); ++i) {
    kernel::EntrypointArg& arg = request.args[i];
    if (arg.kind != kernel::ParamKind::Resource) continue;
    std::string which = "argument " + std::to_string(i) + " (resource)";
    if (next_resource >= request.resources.size()) {
      return fail(which + ": no object was given for it");
    }
    const std::shared_ptr<kernel::Shareable>& object = request.resources[next_resource++];
    std::unique_ptr<kernel::Resource> resource =
        object != nullptr ? object->attach(process.kernel) : nullptr;
    if (resource == nullptr) return fail(which + ": it was closed before the process started");
    auto handle = process.kernel.handles().insert(std::move(resource));
    if (std::holds_alternative<kernel::ErrorCode>(handle)) {
      return fail(which + ": its handle table is full");
    }
    arg.value = static_cast<uint64_t>(std::get<int32_t>(handle));
  }
  request.resources.clear();  // the process's handles hold them now

  // Before any guest code of the process other than its start function (and before `started`
  // is kept): what on_start logs comes before everything the process logs.
  if (engine_.options_.on_start) engine_.options_.on_start(process.kernel);
  started(Ok{});

  // A WASI reactor initialises itself (libc, constructors) once, before anything else runs.
  if (request.entrypoint != SELIUM_WASI_EXPORT_START) {
    v8::Local<v8::Value> init = exportNamed(SELIUM_WASI_EXPORT_INITIALIZE);
    if (init->IsFunction() && !callGuest(process, init.As<v8::Function>(), 0, nullptr)) {
      return;  // it trapped or exited: the process has ended
    }
  }

  // Arguments, flattened; bytes go into memory from the guest's allocator.
  std::vector<v8::Local<v8::Value>> argv;
  for (const kernel::EntrypointArg& arg : request.args) {
    using kernel::ParamKind;
    switch (arg.kind) {
      case ParamKind::I8:
      case ParamKind::I16:
      case ParamKind::I32:
        argv.push_back(
            v8::Integer::New(isolate, static_cast<int32_t>(std::get<int64_t>(arg.value))));
        break;
      case ParamKind::U8:
      case ParamKind::U16:
      case ParamKind::U32:
        argv.push_back(v8::Integer::NewFromUnsigned(
            isolate, static_cast<uint32_t>(std::get<uint64_t>(arg.value))));
        break;
      case ParamKind::I64:
        argv.push_back(v8::BigInt::New(isolate, std::get<int64_t>(arg.value)));
        break;
      case ParamKind::U64:
      case ParamKind::Resource:
        argv.push_back(v8::BigInt::NewFromUnsigned(isolate, std::get<uint64_t>(arg.value)));
        break;
      case ParamKind::F32:
        argv.push_back(v8::Number::New(isolate, std::get<float>(arg.value)));
        break;
      case ParamKind::F64:
        argv.push_back(v8::Number::New(isolate, std::get<double>(arg.value)));
        break;
      case ParamKind::Utf8:
      case ParamKind::Buffer:
      case ParamKind::Hex: {
        std::span<const uint8_t> bytes;
        if (auto* text = std::get_if<std::string>(&arg.value)) {
          bytes = {reinterpret_cast<const uint8_t*>(text->data()), text->size()};
        } else {
          const auto& vec = std::get<std::vector<uint8_t>>(arg.value);
          bytes = {vec.data(), vec.size()};
        }
        uint32_t address = 0;
        if (!bytes.empty()) {
          v8::Local<v8::Value> alloc = exportNamed(SELIUM_EXPORT_ALLOC);
          if (!alloc->IsFunction()) {
            return endProcess(pid, {pid,
                                    {},
                                    ExitReason::Failed,
                                    0,
                                    "the module exports no " SELIUM_EXPORT_ALLOC " allocator"});
          }
          v8::Local<v8::Value> alloc_args[] = {
              v8::Integer::NewFromUnsigned(isolate, static_cast<uint32_t>(bytes.size())),
              v8::Integer::New(isolate, 1)};
          auto got = callGuest(process, alloc.As<v8::Function>(), 2, alloc_args);
          if (!got) return;  // the allocator trapped: the process ended
          address = static_cast<uint32_t>(got.value()->Int32Value(context).FromMaybe(0));
          if (process.memory.IsEmpty()) {
            return endProcess(
                pid,
                {pid, {}, ExitReason::Failed, 0, "the module exports no memory for its arguments"});
          }
          v8::Local<v8::ArrayBuffer> buffer = process.memory.Get(isolate)->Buffer();
          if (address == 0 || uint64_t{address} + bytes.size() > buffer->ByteLength()) {
            return endProcess(pid, {pid,
                                    {},
                                    ExitReason::Failed,
                                    0,
                                    SELIUM_EXPORT_ALLOC "(" + std::to_string(bytes.size()) +
                                        ") returned " + std::to_string(address) +
                                        ", which is not a usable block of its memory of " +
                                        std::to_string(buffer->ByteLength()) + " bytes"});
          }
          std::memcpy(static_cast<uint8_t*>(buffer->Data()) + address, bytes.data(), bytes.size());
        }
        argv.push_back(v8::Integer::NewFromUnsigned(isolate, address));
        argv.push_back(v8::Integer::NewFromUnsigned(isolate, static_cast<uint32_t>(bytes.size())));
        break;
      }
    }
  }

  if (!callGuest(process, entry.As<v8::Function>(), static_cast<int>(argv.size()), argv.data())) {
    return;  // it ran and ended (trap, exit, stop); the exit is reported
  }
  if (process.poll.IsEmpty()) {
    endProcess(pid, {pid, {}, ExitReason::Normal, 0, "entrypoint returned"});
    return;
  }
  v8::Local<v8::Value> start_args[] = {v8::Integer::New(isolate, SELIUM_WAKER_START)};
  auto polled = callGuest(process, process.poll.Get(isolate), 1, start_args);
  if (polled && polled.value()->Int32Value(context).FromMaybe(0) == SELIUM_POLL_DONE) {
    endProcess(pid, {pid, {}, ExitReason::Normal, 0, "root task completed"});
  }
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
