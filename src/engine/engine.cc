// Engine: module validation and compile cache, placement of processes on workers, stop and
// shutdown.
#include "engine/engine.h"

#include <libplatform/libplatform.h>
#include <openssl/evp.h>
#include <selium/abi/entrypoints.h>
#include <selium/abi/hostcalls.h>
#include <selium/abi/wasi.h>
#include <v8.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "engine/cached_compile.h"
#include "engine/hostcall_shim.h"
#include "engine/memory_limit.h"
#include "engine/v8_platform.h"
#include "engine/worker.h"
#include "kernel/hostcall.h"
#include "util/strings.h"

namespace selium::engine {
namespace {

std::string sha256Hex(std::span<const uint8_t> bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xF];
  }
  return out;
}

// Every import must be a hostcall of this runtime with the right signature.
std::vector<std::string> checkImports(const WasmModuleInfo& info) {
  std::vector<std::string> problems;
  for (const Import& import : info.imports) {
    std::string name = import.module + "." + import.name;
    if (kernel::hostcallTable(import.module).empty()) {
      std::string hint = import.module == "wasi_unstable"
                             ? " (WASI is offered as preview 1, \"" SELIUM_WASI_IMPORT_MODULE "\")"
                             : "";
      problems.push_back("imports " + util::quote(name) +
                         ", which is in no hostcall table: the modules provided are "
                         "\"" SELIUM_IMPORT_MODULE "\" and \"" SELIUM_WASI_IMPORT_MODULE "\"" +
                         hint);
      continue;
    }
    const kernel::HostcallSpec* spec = kernel::findHostcall(import.module, import.name);
    if (spec == nullptr) {
      problems.push_back("imports " + util::quote(name) +
                         ", which is not a hostcall of this runtime");
    } else if (import.kind != ExternKind::Func) {
      problems.push_back("imports " + util::quote(name) + " as a " +
                         std::string(externKindName(import.kind)) + "; it is a function");
    } else if (info.types[import.type_index] != hostcallType(*spec)) {
      problems.push_back("imports " + util::quote(name) + " with signature " +
                         info.types[import.type_index].toString() + "; the hostcall's is " +
                         hostcallType(*spec).toString());
    }
  }
  return problems;
}

// Guest exports the host calls for its own purposes (the SDK's allocator and poll loop, a
// reactor's initialiser, toolchain symbols such as __wasm_call_ctors): never entrypoints, so
// neither suggested nor listed as one.
bool isAbiExport(std::string_view name) {
  return name == SELIUM_EXPORT_ALLOC || name == SELIUM_EXPORT_POLL ||
         name == SELIUM_WASI_EXPORT_INITIALIZE || name.starts_with("__");
}

std::vector<std::string_view> entrypointCandidates(const WasmModuleInfo& info) {
  std::vector<std::string_view> names;
  for (const Export& e : info.exports) {
    if (e.kind == ExternKind::Func && !isAbiExport(e.name)) names.push_back(e.name);
  }
  return names;
}

// True when a spec's params can give every parameter: there is one, and each is a number type.
bool spellableParams(const FuncType& type) {
  return !type.params.empty() && std::all_of(type.params.begin(), type.params.end(), [](ValType t) {
    return t == ValType::I32 || t == ValType::I64 || t == ValType::F32 || t == ValType::F64;
  });
}

// The params= a signature's wasm types spell, e.g. "i32,i32" for (i32, i32).
std::string paramsFor(const FuncType& type) {
  std::string out;
  for (ValType t : type.params) out += (out.empty() ? "" : ",") + std::string(valTypeName(t));
  return out;
}

// The section's kind numbers are kernel::ParamKind's values, so a declared kind converts by cast.
static_assert(static_cast<int>(kernel::ParamKind::I8) == SELIUM_PARAM_KIND_i8);
static_assert(static_cast<int>(kernel::ParamKind::U8) == SELIUM_PARAM_KIND_u8);
static_assert(static_cast<int>(kernel::ParamKind::I16) == SELIUM_PARAM_KIND_i16);
static_assert(static_cast<int>(kernel::ParamKind::U16) == SELIUM_PARAM_KIND_u16);
static_assert(static_cast<int>(kernel::ParamKind::I32) == SELIUM_PARAM_KIND_i32);
static_assert(static_cast<int>(kernel::ParamKind::U32) == SELIUM_PARAM_KIND_u32);
static_assert(static_cast<int>(kernel::ParamKind::I64) == SELIUM_PARAM_KIND_i64);
static_assert(static_cast<int>(kernel::ParamKind::U64) == SELIUM_PARAM_KIND_u64);
static_assert(static_cast<int>(kernel::ParamKind::F32) == SELIUM_PARAM_KIND_f32);
static_assert(static_cast<int>(kernel::ParamKind::F64) == SELIUM_PARAM_KIND_f64);
static_assert(static_cast<int>(kernel::ParamKind::Utf8) == SELIUM_PARAM_KIND_utf8);
static_assert(static_cast<int>(kernel::ParamKind::Buffer) == SELIUM_PARAM_KIND_buffer);
static_assert(static_cast<int>(kernel::ParamKind::Hex) == SELIUM_PARAM_KIND_hex);
static_assert(static_cast<int>(kernel::ParamKind::Resource) == SELIUM_PARAM_KIND_resource);
static_assert(SELIUM_PARAM_KIND_COUNT == 14, "a new kind needs a kernel::ParamKind");

kernel::ParamKind declaredKind(const DeclaredParam& param) {
  return static_cast<kernel::ParamKind>(param.kind);
}

// Whether a spec's arg of kind `given` fills a declared param of kind `declared`: the same kind,
// or bytes for bytes (a `hex:` value may fill a `buffer` param, and the other way round).
bool kindFits(kernel::ParamKind given, kernel::ParamKind declared) {
  return given == declared || (kernel::isBytesKind(given) && kernel::isBytesKind(declared));
}

}  // namespace

std::string declaredParamsText(const DeclaredEntrypoint& entry) {
  std::string out = "(";
  for (std::size_t i = 0; i < entry.params.size(); ++i) {
    out += (i ? ", " : "") + std::string(kernel::paramKindName(declaredKind(entry.params[i])));
    if (!entry.params[i].name.empty()) out += " " + entry.params[i].name;
  }
  return out + ")";
}

std::optional<std::string> declaredEntrypointsText(const WasmModuleInfo& module) {
  if (!module.declared_entrypoints) return std::nullopt;
  std::string out;
  for (const DeclaredEntrypoint& entry : *module.declared_entrypoints) {
    out += (out.empty() ? "" : ", ") + entry.name + declaredParamsText(entry);
  }
  return out;
}

Module::Module(std::string label, std::string hash, WasmModuleInfo info,
               std::shared_ptr<v8::CompiledWasmModule> compiled)
    : label_(std::move(label)),
      hash_(std::move(hash)),
      info_(std::move(info)),
      compiled_(std::move(compiled)) {}

std::string_view exitReasonName(ExitReason reason) {
  switch (reason) {
    case ExitReason::Normal:
      return "normal";
    case ExitReason::Error:
      return "error";
    case ExitReason::Trap:
      return "trap";
    case ExitReason::Terminated:
      return "terminated";
    case ExitReason::Failed:
      return "failed";
  }
  return "?";
}

int32_t abiExitReason(ExitReason reason) {
  switch (reason) {
    case ExitReason::Normal:
      return SELIUM_EXIT_NORMAL;
    case ExitReason::Error:
      return SELIUM_EXIT_ERROR;
    case ExitReason::Trap:
      return SELIUM_EXIT_TRAP;
    case ExitReason::Terminated:
      return SELIUM_EXIT_TERMINATED;
    case ExitReason::Failed:
      return SELIUM_EXIT_FAILED;
  }
  return SELIUM_EXIT_FAILED;
}

std::vector<ValType> flattenedParams(std::span<const kernel::EntrypointArg> args) {
  std::vector<ValType> out;
  for (const auto& arg : args) {
    using kernel::ParamKind;
    switch (arg.kind) {
      case ParamKind::I64:
      case ParamKind::U64:
      case ParamKind::Resource:
        out.push_back(ValType::I64);
        break;
      case ParamKind::F32:
        out.push_back(ValType::F32);
        break;
      case ParamKind::F64:
        out.push_back(ValType::F64);
        break;
      case ParamKind::Utf8:
      case ParamKind::Buffer:
      case ParamKind::Hex:
        out.push_back(ValType::I32);
        out.push_back(ValType::I32);
        break;
      default:
        out.push_back(ValType::I32);
        break;
    }
  }
  return out;
}

// An isolate used only to compile; its compiled modules are shared with every worker.
struct Engine::CompileIsolate {
  CompileIsolate() {
    allocator.reset(v8::ArrayBuffer::Allocator::NewDefaultAllocator());
    v8::Isolate::CreateParams params;
    params.array_buffer_allocator = allocator.get();
    isolate = v8::Isolate::New(params);
    v8::Locker locker(isolate);
    v8::Isolate::Scope scope(isolate);
    v8::HandleScope handles(isolate);
    CachedCompiler::enableStreaming(isolate);  // before the context: see enableStreaming
    context.Reset(isolate, v8::Context::New(isolate));
  }
  ~CompileIsolate() {
    {
      v8::Locker locker(isolate);
      context.Reset();
    }
    isolate->Dispose();
  }
  std::unique_ptr<v8::ArrayBuffer::Allocator> allocator;
  v8::Isolate* isolate = nullptr;
  v8::Global<v8::Context> context;
};

std::size_t defaultMaxProcesses(std::size_t max_map_count) {
  constexpr std::size_t kHostReserve = 8192;
  return max_map_count > kHostReserve + 3 ? (max_map_count - kHostReserve) / 3 : 1;
}

namespace {

std::size_t kernelMaxMapCount() {
  std::ifstream in("/proc/sys/vm/max_map_count");
  std::size_t value = 0;
  if (in >> value && value > 0) return value;
  return 65530;  // Linux's default
}

}  // namespace

Engine::Engine(EngineOptions options) : options_(std::move(options)), network_(options_.network) {
  max_processes_ = options_.max_processes != 0 ? options_.max_processes
                                               : defaultMaxProcesses(kernelMaxMapCount());
  v8Platform();
  std::size_t count =
      options_.workers != 0 ? options_.workers : std::max(1u, std::thread::hardware_concurrency());
  compiler_ = std::make_unique<CompileIsolate>();
  if (options_.compile_cache_dir) {
    disk_cache_ = std::make_unique<CachedCompiler>(*options_.compile_cache_dir,
                                                   options_.compile_cache_prune_delay);
  }
  // Each worker builds its isolate and hostcall shim on its own thread, all at once: start-up
  // does not grow with the number of cores as much.
  for (std::size_t i = 0; i < count; ++i) workers_.push_back(std::make_unique<Worker>(*this, i));
  for (auto& worker : workers_) worker->awaitReady();
  watchdog_ = std::thread([this] {
    // glibc gives a thread its malloc arena (a 64 MiB address-space reservation) at its first
    // allocation. The watchdog's first may be a warning long after start-up, which would look
    // like growth to whoever watches the runtime's size (the hostile-guest baseline test): take
    // it now.
    void* volatile first = std::malloc(1);
    std::free(first);
    // Checking four times per slice bounds the overrun to a quarter of it; every 50 ms at most
    // so a call holding its worker is reported soon after 100 ms.
    auto period = std::chrono::milliseconds(50);
    if (options_.max_slice.count() > 0) {
      period = std::clamp(options_.max_slice / 4, std::chrono::milliseconds(1), period);
    }
    std::unique_lock lock(watchdog_mutex_);
    while (!watchdog_wake_.wait_for(lock, period, [this] { return watchdog_stop_; })) {
      for (auto& worker : workers_) worker->watch(options_.max_slice);
    }
  });
}

Engine::~Engine() {
  shutdown(std::chrono::seconds(10));
  if (watchdog_.joinable()) {
    {
      std::lock_guard lock(watchdog_mutex_);
      watchdog_stop_ = true;
    }
    watchdog_wake_.notify_all();
    watchdog_.join();
  }
  workers_.clear();
  compiler_.reset();
}

Result<std::shared_ptr<const Module>> Engine::load(std::span<const uint8_t> original,
                                                   std::string label,
                                                   std::optional<uint32_t> max_memory_pages,
                                                   std::optional<uint32_t> max_table_elements) {
  auto parsed = parseWasmModule(original);
  if (!parsed) return Error{label + ": " + parsed.error().message};
  std::vector<std::string> problems = checkImports(*parsed);
  if (!problems.empty()) {
    std::string message = label + ": ";
    for (std::size_t i = 0; i < problems.size(); ++i) message += (i ? "; " : "") + problems[i];
    return Error{message};
  }
  // The limits become part of the module, so the same file under two limits is two modules.
  ModuleLimits limits{max_memory_pages.value_or(options_.max_memory_pages),
                      max_table_elements.value_or(options_.max_table_elements)};
  auto limited = limitModule(original, *parsed, limits);
  if (!limited) return Error{label + ": " + limited.error().message};
  const std::vector<uint8_t>& final_bytes = *limited;
  std::span<const uint8_t> bytes(final_bytes);
  std::string hash = sha256Hex(bytes);
  {
    std::lock_guard lock(mutex_);
    if (auto it = cache_.find(hash); it != cache_.end()) {
      if (auto module = it->second.lock()) {
        if (module->label() == label) return std::shared_ptr<const Module>(module);
        // Same bytes under another name: the compiled code is shared, but processes of this
        // spec are named by its own label in logs and argv[0].
        return std::shared_ptr<const Module>(std::make_shared<const Module>(
            std::move(label), hash, module->info(), module->compiled_));
      }
    }
  }
  auto info = parseWasmModule(bytes);
  if (!info) return Error{label + ": " + info.error().message};

  std::shared_ptr<v8::CompiledWasmModule> compiled;
  {
    std::lock_guard compile_lock(compile_mutex_);
    v8::Isolate* isolate = compiler_->isolate;
    v8::Locker locker(isolate);
    v8::Isolate::Scope isolate_scope(isolate);
    v8::HandleScope handles(isolate);
    v8::Local<v8::Context> context = compiler_->context.Get(isolate);
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(isolate);
    v8::Local<v8::WasmModuleObject> module;
    if (!(disk_cache_ ? disk_cache_->compile(isolate, context, bytes, label)
                      : v8::WasmModuleObject::Compile(
                            isolate, v8::MemorySpan<const uint8_t>(bytes.data(), bytes.size())))
             .ToLocal(&module)) {
      v8::String::Utf8Value why(isolate, try_catch.Exception());
      return Error{label + ": does not compile: " + (*why ? std::string(*why) : "unknown error")};
    }
    compiled = std::make_shared<v8::CompiledWasmModule>(module->GetCompiledModule());
  }
  auto module = std::make_shared<const Module>(std::move(label), hash, std::move(*info), compiled);
  std::lock_guard lock(mutex_);
  cache_[hash] = module;
  return std::shared_ptr<const Module>(module);
}

std::string resolveEntrypoint(const WasmModuleInfo& module, std::string_view requested) {
  if (requested == "start" && module.findExport("start") == nullptr &&
      module.findExport(SELIUM_WASI_EXPORT_START) != nullptr) {
    return SELIUM_WASI_EXPORT_START;
  }
  return std::string(requested);
}

Status Engine::check(const SpawnRequest& request) const {
  const Module& module = *request.module;
  const WasmModuleInfo& info = module.info();
  const std::string entrypoint = resolveEntrypoint(info, request.entrypoint);
  // A WASI command takes no wasm parameters: the spec's args become its argv.
  const bool command = entrypoint == SELIUM_WASI_EXPORT_START;
  std::vector<ValType> wanted = command ? std::vector<ValType>{} : flattenedParams(request.args);
  FuncType wanted_type{wanted, {}};
  const Export* entry = info.findExport(entrypoint);
  if (entry == nullptr) {
    std::vector<std::string_view> candidates = entrypointCandidates(info);
    std::string message = module.label() + " has no export " + util::quote(entrypoint);
    auto hint = util::closestMatch(entrypoint, candidates);
    if (hint) message += "; did you mean " + util::quote(*hint) + "?";
    if (candidates.empty()) return Error{message + "; it exports no function to start"};
    message += hint ? " The functions it exports to start are: "
                    : "; the functions it exports to start are: ";
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      message += (i ? ", " : "") + std::string(candidates[i]);
    }
    return Error{message};
  }
  if (entry->kind != ExternKind::Func) {
    return Error{module.label() + ": export " + util::quote(entrypoint) + " is a " +
                 std::string(externKindName(entry->kind)) + ", not a function"};
  }
  FuncType actual = *info.exportedFunctionType(entrypoint);
  if (command && actual != wanted_type) {
    return Error{module.label() +
                 ": WASI command entrypoint \"" SELIUM_WASI_EXPORT_START "\" has signature " +
                 actual.toString() + "; it must be () -> () (the spec's args become its argv)"};
  }
  if (actual != wanted_type && request.args.empty() && spellableParams(actual) &&
      actual.results.empty()) {
    // The usual newcomer mistake: the entrypoint takes parameters and the spec passes nothing.
    return Error{module.label() + ": entrypoint " + util::quote(request.entrypoint) +
                 " has signature " + actual.toString() +
                 ", but the spec gives no args; add params=" + paramsFor(actual) +
                 " and args= with one value each (a utf8, buffer or hex param takes two i32s, "
                 "pointer and length)"};
  }
  if (actual != wanted_type) {
    std::string kinds;
    for (const auto& arg : request.args) {
      kinds += (kinds.empty() ? "" : ", ") + std::string(kernel::paramKindName(arg.kind));
    }
    return Error{module.label() + ": entrypoint " + util::quote(request.entrypoint) +
                 " has signature " + actual.toString() + ", but the spec's params (" + kinds +
                 ") need " + wanted_type.toString() + " (an entrypoint returns nothing)"};
  }
  // The wasm types match, but they cannot tell (utf8, u32) from (u32, utf8); the kinds the
  // module declares can.
  if (const DeclaredEntrypoint* declared = info.findDeclaredEntrypoint(entrypoint);
      declared != nullptr && !command) {
    bool fits = declared->params.size() == request.args.size();
    for (std::size_t i = 0; fits && i < request.args.size(); ++i) {
      fits = kindFits(request.args[i].kind, declaredKind(declared->params[i]));
    }
    if (!fits) {
      std::string kinds;
      for (const auto& arg : request.args) {
        kinds += (kinds.empty() ? "" : ", ") + std::string(kernel::paramKindName(arg.kind));
      }
      return Error{module.label() + ": entrypoint " + util::quote(request.entrypoint) + " takes " +
                   declaredParamsText(*declared) + ", but the spec's params are (" + kinds + ")"};
    }
  }
  bool needs_alloc = false;
  for (const auto& arg : request.args) {
    if (!command && (kernel::isBytesKind(arg.kind) || arg.kind == kernel::ParamKind::Utf8)) {
      bool empty = std::visit(
          [](const auto& v) {
            if constexpr (requires { v.empty(); }) return v.empty();
            return false;
          },
          arg.value);
      needs_alloc = needs_alloc || !empty;
    }
  }
  std::size_t resource_args = 0;
  for (const auto& arg : request.args) {
    if (arg.kind != kernel::ParamKind::Resource) continue;
    if (command) {
      return Error{module.label() +
                   ": a WASI command (\"" SELIUM_WASI_EXPORT_START
                   "\") takes its args as argv text, so it cannot be given a resource; "
                   "export an entrypoint with a resource parameter"};
    }
    if (!request.resources.empty()) {
      ++resource_args;
      continue;
    }
    // A dry run: the spawn would look the id up in the registry.
    auto id = static_cast<int64_t>(std::get<uint64_t>(arg.value));
    if (registry_.lookup(id, std::nullopt).object == nullptr) {
      return Error{module.label() + ": argument resource:" + std::to_string(id) +
                   " does not exist: no resource has been shared under that id"};
    }
  }
  if (!request.resources.empty() && resource_args != request.resources.size()) {
    return Error{module.label() + ": " + std::to_string(resource_args) +
                 " resource arguments but " + std::to_string(request.resources.size()) +
                 " resources to give"};
  }
  if (needs_alloc) {
    auto alloc = info.exportedFunctionType(SELIUM_EXPORT_ALLOC);
    FuncType expected{{ValType::I32, ValType::I32}, {ValType::I32}};
    if (!alloc) {
      return Error{module.label() +
                   ": byte and string arguments need an exported allocator, which it lacks; "
                   "link the guest SDK (selium_add_guest in sdk/cmake/SeliumGuest.cmake) or "
                   "export one with the signature "
                   "`" SELIUM_EXPORT_ALLOC "(size: i32, align: i32) -> i32`"};
    }
    if (*alloc != expected) {
      return Error{module.label() + ": " SELIUM_EXPORT_ALLOC " has signature " + alloc->toString() +
                   "; expected " + expected.toString()};
    }
    if (!info.memoryLimits())
      return Error{module.label() + ": arguments need a memory; it has none"};
  }
  if (auto poll = info.exportedFunctionType(SELIUM_EXPORT_POLL)) {
    FuncType expected{{ValType::I32}, {ValType::I32}};
    if (*poll != expected) {
      return Error{module.label() + ": " SELIUM_EXPORT_POLL " has signature " + poll->toString() +
                   "; expected " + expected.toString()};
    }
  }
  if (auto init = info.exportedFunctionType(SELIUM_WASI_EXPORT_INITIALIZE); init && !command) {
    if (*init != FuncType{}) {
      return Error{module.label() + ": " SELIUM_WASI_EXPORT_INITIALIZE " has signature " +
                   init->toString() + "; expected () -> ()"};
    }
  }
  return Ok{};
}

Status Engine::resolveResources(SpawnRequest& request) {
  if (!request.resources.empty()) return Ok{};
  std::vector<std::shared_ptr<kernel::Shareable>> objects;
  for (const auto& arg : request.args) {
    if (arg.kind != kernel::ParamKind::Resource) continue;
    auto id = static_cast<int64_t>(std::get<uint64_t>(arg.value));
    kernel::Registry::Found found = registry_.lookup(id, std::nullopt);
    if (found.object == nullptr) {
      return Error{request.module->label() + ": argument resource:" + std::to_string(id) +
                   " does not exist: no resource has been shared under that id"};
    }
    objects.push_back(std::move(found.object));
  }
  request.resources = std::move(objects);
  return Ok{};
}

Result<Spawned> Engine::spawn(SpawnRequest request) {
  if (!request.module) return Error{"spawn without a module"};
  if (auto resolved = resolveResources(request); !resolved) return resolved.error();
  if (auto ok = check(request); !ok) return ok.error();
  request.entrypoint = resolveEntrypoint(request.module->info(), request.entrypoint);
  if (request.entrypoint == SELIUM_WASI_EXPORT_START) {
    for (const kernel::EntrypointArg& arg : request.args)
      request.argv.push_back(kernel::argText(arg));
    request.args.clear();  // a command's args are its argv, not wasm parameters
  }
  Worker* target = nullptr;
  std::shared_ptr<kernel::LogStream> log_stream;
  kernel::ProcessId pid = next_pid_.fetch_add(1);
  {
    std::lock_guard lock(mutex_);
    if (shut_down_) return Error{"the engine is shutting down"};
    if (owners_.size() >= max_processes_) {
      return Error{"cannot start " + request.module->label() + ": " +
                   std::to_string(owners_.size()) + " processes are running, the limit (" +
                   std::to_string(max_processes_) + ", see --max-processes)"};
    }
    for (auto& worker : workers_) {
      if (target == nullptr || worker->load() < target->load()) target = worker.get();
    }
    owners_[pid] = target;
    // Made here, not on the worker, so logChannel finds it as soon as spawn has returned.
    log_stream = std::make_shared<kernel::LogStream>();
    if (request.follow_logs) (void)log_stream->channel();
    log_streams_[pid] = log_stream;
  }
  kernel::ProcessDirectory::Entry entry;
  entry.pid = pid;
  entry.parent = request.parent;
  entry.module = request.module->label();
  entry.entrypoint = request.entrypoint;
  entry.capabilities = request.capabilities;
  entry.log_uri = request.log_uri;
  entry.started_wall = std::chrono::system_clock::now();
  entry.started = std::chrono::steady_clock::now();
  directory_.add(std::move(entry));
  return Spawned{pid, target->spawn(pid, std::move(request), std::move(log_stream))};
}

bool Engine::stop(kernel::ProcessId pid) {
  Worker* worker;
  {
    std::lock_guard lock(mutex_);
    auto it = owners_.find(pid);
    if (it == owners_.end()) return false;
    worker = it->second;
  }
  directory_.markStopping(pid);
  worker->stop(pid);
  return true;
}

bool Engine::shutdown(std::chrono::milliseconds bound) {
  {
    std::lock_guard lock(mutex_);
    if (shut_down_) return true;
    shut_down_ = true;
  }
  auto deadline = std::chrono::steady_clock::now() + bound;
  for (auto& worker : workers_) worker->stopAll();
  bool all = true;
  for (auto& worker : workers_) all = worker->join(deadline) && all;
  if (disk_cache_) disk_cache_->flush(deadline);
  return all;
}

bool Engine::collectGarbage(std::chrono::milliseconds bound) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  std::vector<std::future<void>> collected;
  for (auto& worker : workers_) collected.push_back(worker->collectGarbage());
  bool all = true;
  for (auto& done : collected) {
    all = done.wait_until(deadline) == std::future_status::ready && all;
  }
  return all;
}

EngineStats Engine::stats() const {
  EngineStats stats;
  if (disk_cache_) {
    CompileCacheStats s = disk_cache_->stats();
    stats.cache_hits = s.hits;
    stats.cache_misses = s.misses;
    stats.cache_rejected = s.rejected;
    stats.cache_writes = s.writes;
    stats.cache_write_failures = s.write_failures;
  }
  for (const auto& worker : workers_) {
    stats.slow_hostcalls += worker->slowHostcalls();
    stats.guest_memory_moves += worker->memoryMoves();
  }
  return stats;
}

std::size_t Engine::liveProcesses() const {
  std::lock_guard lock(mutex_);
  return owners_.size();
}

bool Engine::isRunning(kernel::ProcessId pid) const {
  std::lock_guard lock(mutex_);
  return owners_.count(pid) > 0;
}

std::shared_ptr<kernel::Channel> Engine::logChannel(kernel::ProcessId pid) {
  std::shared_ptr<kernel::LogStream> stream;
  {
    std::lock_guard lock(mutex_);
    auto it = log_streams_.find(pid);
    if (it == log_streams_.end()) return nullptr;
    stream = it->second;
  }
  return stream->channel();  // nullptr if the process ended meanwhile
}

void Engine::processEnded(const ProcessExit& exit) {
  {
    std::lock_guard lock(mutex_);
    owners_.erase(exit.pid);
    log_streams_.erase(exit.pid);
  }
  directory_.remove(exit.pid, {abiExitReason(exit.reason), exit.status, exit.message});
  if (options_.on_exit) options_.on_exit(exit);
}

}  // namespace selium::engine
