// The hostcall path: the shim instance every guest imports its hostcalls from, and the dispatch
// of each call to the kernel.
#include <v8-fast-api-calls.h>

#include <cstring>
#include <stdexcept>

#include "engine/hostcall_shim.h"
#include "engine/worker.h"
#include "engine/worker_internal.h"
#include "kernel/hostcall.h"

namespace selium::engine {

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

}  // namespace selium::engine
