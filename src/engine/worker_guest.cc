// Running guest code: instantiating a process and calling its entrypoint with its arguments,
// and every guest call with the traps, exits and terminations that end it.
#include <selium/abi/hostcalls.h>
#include <selium/abi/wasi.h>

#include <cstring>
#include <variant>

#include "engine/engine.h"
#include "engine/worker.h"
#include "engine/worker_internal.h"
#include "util/log.h"
#include "util/strings.h"

namespace selium::engine {
namespace {

using kernel::ProcessId;

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
      running_module_ = &process.kernel.module();
      call_started_ = std::chrono::steady_clock::now();
      next_warning_ = std::chrono::milliseconds(100);
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
                          std::shared_ptr<kernel::LogStream> log_stream,
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
  config.log_stream = std::move(log_stream);
  auto owned = std::make_unique<GuestProcess>(std::move(config), *this, engine_.options_.log_sink,
                                              request.module);
  GuestProcess& process = *owned;
  process.on_exit = std::move(request.on_exit);
  processes_.emplace(pid, std::move(owned));
  scheduler_->add(pid);

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

}  // namespace selium::engine
