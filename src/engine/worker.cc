// Worker threads: V8 isolate set-up, hostcall trampolines, instantiation, entrypoint calls,
// polling, traps and termination.
#include "engine/worker.h"

#include <selium/abi/hostcalls.h>
#include <selium/abi/wasi.h>

#include <pthread.h>

#include <boost/asio/post.hpp>
#include <cstring>
#include <deque>

#include "kernel/hostcall.h"
#include "util/log.h"
#include "util/strings.h"

namespace selium::engine {
namespace {

using kernel::ProcessId;

v8::Local<v8::String> v8String(v8::Isolate* isolate, std::string_view text) {
  return v8::String::NewFromUtf8(isolate, text.data(), v8::NewStringType::kNormal,
                                 static_cast<int>(text.size()))
      .ToLocalChecked();
}

std::string toStdString(v8::Isolate* isolate, v8::Local<v8::Value> value) {
  v8::String::Utf8Value utf8(isolate, value);
  return *utf8 == nullptr ? std::string("(unprintable)") : std::string(*utf8, utf8.length());
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
  v8::Global<v8::Function> poll;
  std::deque<int32_t> wakes;
  bool poll_posted = false;
};

// Every hostcall import is this function with the HostcallSpec as data. noexcept: nothing may
// unwind into V8.
void hostcallTrampoline(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  auto* spec = static_cast<const kernel::HostcallSpec*>(info.Data().As<v8::External>()->Value());
  auto* worker = static_cast<Worker*>(isolate->GetData(0));
  GuestProcess* process = worker->current_;
  int64_t result;
  try {
    if (process == nullptr) {
      // A hostcall outside any guest call we made (cannot happen with wasm-only guests).
      isolate->ThrowException(v8String(isolate, "selium: hostcall outside a process"));
      return;
    }
    // Wasm passes i32 as Int32 (or a heap number), i64 as BigInt: the fast paths need no
    // context; only the fallbacks do.
    kernel::WasmValue args[16];
    std::size_t n = std::min<std::size_t>(spec->params.size(), 16);
    for (std::size_t i = 0; i < n; ++i) {
      v8::Local<v8::Value> arg = info[static_cast<int>(i)];
      switch (spec->params[i]) {
        case kernel::WasmType::I32:
          args[i].i32 = arg->IsInt32() ? arg.As<v8::Int32>()->Value()
                                       : arg->Int32Value(isolate->GetCurrentContext()).FromMaybe(0);
          break;
        case kernel::WasmType::I64:
          args[i].i64 = arg->IsBigInt() ? arg.As<v8::BigInt>()->Int64Value() : 0;
          break;
        case kernel::WasmType::F32:
          args[i].f32 = static_cast<float>(arg->IsNumber() ? arg.As<v8::Number>()->Value() : 0);
          break;
        case kernel::WasmType::F64:
          args[i].f64 = arg->IsNumber() ? arg.As<v8::Number>()->Value() : 0;
          break;
      }
    }
    // Guest memory is looked up only by hostcalls that take guest pointers (it moves when the
    // guest grows it, so it cannot be cached across calls).
    kernel::CallContext ctx{process->kernel, {}};
    ctx.fetch_state = process;
    ctx.fetch_memory = [](void* state) -> std::span<uint8_t> {
      auto* guest = static_cast<GuestProcess*>(state);
      if (guest->memory.IsEmpty()) return {};
      v8::Local<v8::ArrayBuffer> buffer = guest->memory.Get(v8::Isolate::GetCurrent())->Buffer();
      return {static_cast<uint8_t*>(buffer->Data()), buffer->ByteLength()};
    };
    result = kernel::dispatchHostcall(*spec, ctx, args);
  } catch (const std::exception& e) {
    process->kernel.setLastError(std::string("internal error in ") + std::string(spec->name) +
                                 ": " + e.what());
    result = kernel::errorResult(kernel::ErrorCode::Internal);
  } catch (...) {
    result = kernel::errorResult(kernel::ErrorCode::Internal);
  }
  if (process->kernel.exitRequested()) {
    // process_exit does not return: unwind the guest now. If a wasm exception handler caught
    // the exception, the termination request still ends it at its next check.
    isolate->ThrowException(v8String(isolate, "selium: process_exit"));
    std::lock_guard lock(worker->running_mutex_);
    isolate->TerminateExecution();
    return;
  }
  if (spec->result == kernel::WasmType::I64) {
    info.GetReturnValue().Set(v8::BigInt::New(isolate, result));
  } else if (spec->result) {  // nothing for a hostcall without a result
    info.GetReturnValue().Set(static_cast<int32_t>(result));
  }
}

Worker::Worker(Engine& engine, std::size_t index)
    : engine_(engine), index_(index), finished_future_(finished_.get_future().share()) {
  guard_.emplace(io_.get_executor());
  std::promise<void> ready;
  auto ready_future = ready.get_future();
  thread_ = std::thread([this, &ready] {
    // Named so `top -H`, gdb and perf show which worker is busy.
    std::string name = "selium-w" + std::to_string(index_);
    pthread_setname_np(pthread_self(), name.c_str());
    v8_ = std::make_unique<V8State>();
    v8_->allocator.reset(v8::ArrayBuffer::Allocator::NewDefaultAllocator());
    v8::Isolate::CreateParams params;
    params.array_buffer_allocator = v8_->allocator.get();
    v8_->isolate = v8::Isolate::New(params);
    v8_->isolate->SetData(0, this);
    {
      v8::Isolate::Scope isolate_scope(v8_->isolate);
      v8::HandleScope handles(v8_->isolate);
      v8::Local<v8::Context> context = v8::Context::New(v8_->isolate);
      v8::Context::Scope context_scope(context);
      v8_->context.Reset(v8_->isolate, context);
      // One imports object per worker, shared by every instance, with one namespace per import
      // module: {selium: {name: fn, ...}, wasi_snapshot_preview1: {...}}.
      v8::Local<v8::Object> imports = v8::Object::New(v8_->isolate);
      for (const kernel::HostcallSpec& spec : kernel::hostcallTable()) {
        v8::Local<v8::String> module_name = v8String(v8_->isolate, spec.module);
        v8::Local<v8::Object> functions;
        if (imports->HasOwnProperty(context, module_name).FromJust()) {
          functions = imports->Get(context, module_name).ToLocalChecked().As<v8::Object>();
        } else {
          functions = v8::Object::New(v8_->isolate);
          imports->Set(context, module_name, functions).Check();
        }
        auto tmpl = v8::FunctionTemplate::New(
            v8_->isolate, hostcallTrampoline,
            v8::External::New(v8_->isolate, const_cast<kernel::HostcallSpec*>(&spec)));
        functions
            ->Set(context, v8String(v8_->isolate, spec.name),
                  tmpl->GetFunction(context).ToLocalChecked())
            .Check();
      }
      v8_->imports.Reset(v8_->isolate, imports);
      auto wasm = context->Global()
                      ->Get(context, v8String(v8_->isolate, "WebAssembly"))
                      .ToLocalChecked()
                      .As<v8::Object>();
      v8_->instance_ctor.Reset(v8_->isolate, wasm->Get(context, v8String(v8_->isolate, "Instance"))
                                                 .ToLocalChecked()
                                                 .As<v8::Function>());
    }
    ready.set_value();
    run();
  });
  ready_future.wait();
}

Worker::~Worker() {
  stopAll();
  if (thread_.joinable()) thread_.join();
}

void Worker::run() {
  {
    v8::Isolate::Scope isolate_scope(v8_->isolate);
    io_.run();
    // Everything has ended: release V8 objects on this thread, then the isolate.
    processes_.clear();
    v8_->instance_ctor.Reset();
    v8_->imports.Reset();
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
    try {
      startProcess(pid, std::move(request), keep);
    } catch (const std::exception& e) {
      std::string message = std::string("internal error starting the process: ") + e.what();
      keep(Error{message});
      endProcess(pid, {pid, {}, ExitReason::Failed, 0, message});
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

void Worker::checkSlice(std::chrono::steady_clock::time_point now,
                        std::chrono::milliseconds slice) {
  std::lock_guard lock(running_mutex_);
  if (running_ != 0 && slice_exceeded_ == 0 && now - running_since_ > slice) {
    slice_exceeded_ = running_;
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
  guard_.reset();  // io_.run() returns once the cancelled timers' handlers have run
}

std::optional<v8::Local<v8::Value>> Worker::callGuest(GuestProcess& process,
                                                      v8::Local<v8::Function> fn, int argc,
                                                      v8::Local<v8::Value>* argv) {
  v8::Isolate* isolate = v8_->isolate;
  ProcessId pid = process.kernel.id();
  bool refused;
  auto call_start = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(running_mutex_);
    refused = stopping_ || stop_requested_.count(pid) > 0;
    if (!refused) {
      running_ = pid;
      running_since_ = call_start;
    }
  }
  if (refused) {
    endProcess(pid, {pid, {}, ExitReason::Terminated, 0, "stopped"});
    return std::nullopt;
  }
  v8::TryCatch try_catch(isolate);
  current_ = &process;
  v8::MaybeLocal<v8::Value> result =
      fn->Call(isolate->GetCurrentContext(), v8::Undefined(isolate), argc, argv);
  current_ = nullptr;
  bool terminated;
  bool over_slice;
  {
    std::lock_guard lock(running_mutex_);
    running_ = 0;
    terminated = try_catch.HasTerminated() || isolate->IsExecutionTerminating();
    // Also clears a termination that arrived just as the call returned.
    isolate->CancelTerminateExecution();
    over_slice = slice_exceeded_ == pid;
    slice_exceeded_ = 0;
  }
  auto held = std::chrono::steady_clock::now() - call_start;
  if (held > std::chrono::milliseconds(100)) {
    // Every other process on this worker waited that long.
    log::warn("guest call held its worker without yielding",
              {{"pid", pid},
               {"module", process.kernel.module()},
               {"ms", std::chrono::duration_cast<std::chrono::milliseconds>(held).count()},
               {"worker", static_cast<uint64_t>(index_)}});
  }
  if (!result.IsEmpty() && !process.kernel.exitRequested()) return result.ToLocalChecked();

  ProcessExit exit{pid, {}, ExitReason::Normal, 0, {}};
  if (auto status = process.kernel.exitRequested()) {
    exit.status = *status;
    exit.reason = *status == 0 ? ExitReason::Normal : ExitReason::Error;
    exit.message = "process_exit(" + std::to_string(*status) + ")";
  } else if (terminated && over_slice) {
    exit.reason = ExitReason::Terminated;
    exit.message =
        "ran " +
        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(held).count()) +
        " ms without yielding, over the CPU slice of " +
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
  endProcess(pid, std::move(exit));
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
    live_.fetch_sub(1, std::memory_order_relaxed);
    engine_.processEnded({pid, module.label(), ExitReason::Terminated, 0, "runtime shutting down"});
    return;
  }

  kernel::ProcessConfig config;
  config.id = pid;
  config.module = module.label();
  config.capabilities = request.capabilities;
  config.log_uri = request.log_uri;
  config.argv.push_back(module.label());
  config.argv.insert(config.argv.end(), request.argv.begin(), request.argv.end());
  config.env = request.env;
  auto owned = std::make_unique<GuestProcess>(std::move(config), *this, engine_.options_.log_sink,
                                              request.module);
  GuestProcess& process = *owned;
  processes_.emplace(pid, std::move(owned));

  auto fail = [&](std::string message) {
    message = "cannot start " + module.label() + ": " + message;
    started(Error{message});
    endProcess(pid, {pid, {}, ExitReason::Failed, 0, std::move(message)});
  };

  v8::Local<v8::WasmModuleObject> module_object;
  {
    v8::TryCatch try_catch(isolate);
    if (!v8::WasmModuleObject::FromCompiledModule(isolate, module.compiled())
             .ToLocal(&module_object)) {
      return fail("V8 could not use the compiled module");
    }
  }

  // Instantiation runs the module's start function, which may call hostcalls or trap: it is a
  // guest call like any other.
  v8::Local<v8::Value> ctor_args[] = {module_object, v8_->imports.Get(isolate)};
  v8::Local<v8::Object> instance;
  {
    v8::TryCatch try_catch(isolate);
    current_ = &process;
    v8::MaybeLocal<v8::Object> made =
        v8_->instance_ctor.Get(isolate)->NewInstance(context, 2, ctor_args);
    current_ = nullptr;
    // A trapping start function can leave an exception pending even with an object returned.
    if (!made.ToLocal(&instance) || try_catch.HasCaught()) {
      std::string why = try_catch.HasCaught() ? oneLine(toStdString(isolate, try_catch.Exception()))
                                              : "instantiation failed";
      if (try_catch.HasTerminated()) isolate->CancelTerminateExecution();
      return fail(why);
    }
  }
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

  if (engine_.options_.on_start) engine_.options_.on_start(process.kernel);
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

void Worker::wake(ProcessId pid, int32_t waker) {
  auto it = processes_.find(pid);
  if (it == processes_.end()) return;  // ended meanwhile
  GuestProcess& process = *it->second;
  process.wakes.push_back(waker);
  if (!process.poll_posted) {
    process.poll_posted = true;
    boost::asio::post(io_, [this, pid] { pollProcess(pid); });
  }
}

void Worker::pollProcess(ProcessId pid) {
  auto it = processes_.find(pid);
  if (it == processes_.end()) return;
  GuestProcess& process = *it->second;
  process.poll_posted = false;
  if (process.poll.IsEmpty()) {
    process.wakes.clear();
    return;
  }
  v8::Isolate* isolate = v8_->isolate;
  v8::HandleScope handles(isolate);
  v8::Local<v8::Context> context = v8_->context.Get(isolate);
  v8::Context::Scope context_scope(context);
  std::deque<int32_t> wakes = std::move(process.wakes);
  process.wakes.clear();
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

void Worker::endProcess(ProcessId pid, ProcessExit exit) {
  auto it = processes_.find(pid);
  if (it == processes_.end()) return;
  std::unique_ptr<GuestProcess> process = std::move(it->second);
  processes_.erase(it);
  exit.module = process->kernel.module();
  process->kernel.releaseResources();
  process.reset();
  live_.fetch_sub(1, std::memory_order_relaxed);
  engine_.processEnded(exit);
}

}  // namespace selium::engine
