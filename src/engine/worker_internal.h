// What the worker's source files (worker.cc, worker_shim.cc, worker_guest.cc) share: the
// worker's V8 state, a process's V8 objects, and small V8 helpers. Internal to the engine.
#pragma once

#include <v8.h>

#include <time.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string_view>

#include "engine/types.h"
#include "engine/worker.h"
#include "kernel/process.h"

namespace selium::engine {

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

// The worker whose thread this is (hostcalls find their worker through it).
inline constinit thread_local Worker* t_worker = nullptr;

inline v8::Local<v8::String> v8String(v8::Isolate* isolate, std::string_view text) {
  return v8::String::NewFromUtf8(isolate, text.data(), v8::NewStringType::kNormal,
                                 static_cast<int>(text.size()))
      .ToLocalChecked();
}

// CPU time `clock` has used (a thread's clock from pthread_getcpuclockid).
inline std::chrono::nanoseconds cpuTime(clockid_t clock) {
  timespec now{};
  clock_gettime(clock, &now);
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

}  // namespace selium::engine
