// The engine: compiles modules once (cached by content hash) and runs processes on N worker
// threads, each owning one V8 isolate and one event loop. Thread-safe; the runtime and tests
// drive it from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "engine/types.h"
#include "engine/wasm_binary.h"
#include "kernel/capability.h"
#include "kernel/drivers/net/net_context.h"
#include "kernel/entry_args.h"
#include "kernel/process.h"
#include "kernel/process_directory.h"
#include "util/result.h"

namespace selium::engine {

class CachedCompiler;
class Worker;

// A spawned process. `started` becomes ready once it is instantiated (its start function has
// run and its exports are found) - or with the error that stopped it. A WASI reactor's
// `_initialize`, the allocator calls for entrypoint arguments, EngineOptions::on_start and the
// entrypoint follow after that, on the worker; a failure there ends the process (on_exit).
struct Spawned {
  kernel::ProcessId pid = 0;
  std::shared_future<Status> started;
};

struct EngineOptions {
  std::size_t workers = 0;  // 0: one per hardware thread
  // Default cap on each process's linear memory, in 64 KiB pages (4096 pages = 256 MiB).
  uint32_t max_memory_pages = 4096;
  // Default cap on the elements of all of a process's tables together (memory_limit.h); each
  // costs about kTableElementBytes of V8 heap.
  uint32_t max_table_elements = 1'000'000;
  // Each worker's V8 heap limit in bytes (0: V8's default, about 2 GiB here). The processes of a
  // worker share its heap; one whose allocation finds it exhausted is terminated, never the
  // runtime (Worker::nearHeapLimit).
  std::size_t max_heap_bytes = 0;
  // A guest call that runs longer than this without returning is terminated (0: never). Either
  // way a call holding its worker is logged while it runs (at 100 ms, 1 s, then at doubling
  // intervals up to a minute) and once more when it returns.
  std::chrono::milliseconds max_slice{0};
  // Live processes at most; spawn refuses more with a clear error. 0: derived from the
  // kernel's vm.max_map_count (each process maps about two regions; running out of mappings
  // makes V8 abort the whole host instead of failing one spawn).
  std::size_t max_processes = 0;
  kernel::LogSink log_sink;
  std::function<void(const ProcessExit&)> on_exit;  // called on a worker thread
  // Called on the worker thread once a process is instantiated, before any more of its code runs
  // (a reactor's _initialize, the allocator for arguments, the entrypoint) and before
  // Spawned::started is ready (embedders and tests: e.g. to hand the process a resource, or to
  // log that it started ahead of anything it logs).
  std::function<void(kernel::Process&)> on_start;
  // Directory of the compile cache on disk (created if missing), so a restart loads compiled
  // code instead of compiling; nothing: no disk cache. Entries are checked before use and
  // rebuilt when corrupt or foreign. An unwritable directory is logged once, never fatal.
  std::optional<std::filesystem::path> compile_cache_dir;
  // When entries unused for too long are removed from it (once, in the background): late
  // enough that the modules loaded at start-up have marked their entries used.
  std::chrono::milliseconds compile_cache_prune_delay{std::chrono::minutes(10)};
  // Starts child processes for guests (process_start); nullptr: process_start answers
  // Unsupported. Must outlive the engine's workers (the runtime closes it before shutdown).
  kernel::Launcher* launcher = nullptr;
  // The work dir's certs/ for listeners and clients given no TLS configuration.
  kernel::NetOptions network;
};

// Counters of the disk compile cache (all zero without EngineOptions::compile_cache_dir), and of
// hostcalls.
struct EngineStats {
  uint64_t cache_hits = 0;            // modules loaded from an entry instead of being compiled
  uint64_t cache_misses = 0;          // modules compiled: no entry, or one that was rejected
  uint64_t cache_rejected = 0;        // entries ignored: corrupt, truncated, foreign, V8 refused
  uint64_t cache_writes = 0;          // entries written (after TurboFan tier-up)
  uint64_t cache_write_failures = 0;  // entries that could not be written
  // Hostcalls V8 made through the regular API callback instead of the fast C call: 0 unless V8
  // refused the fast path (a flag or signature problem costing about 30 ns per hostcall).
  uint64_t slow_hostcalls = 0;
  // Hostcalls that found the guest's memory moved since their last look (V8 copies memory on
  // memory.grow only when its address-space reservation was too small) and looked it up again.
  uint64_t guest_memory_moves = 0;
};

class Engine {
 public:
  explicit Engine(EngineOptions options);
  ~Engine();  // shuts down (terminating every process) if shutdown() was not called
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates and compiles `bytes` (or returns the cached module with the same content), with
  // its memory limited to `max_memory_pages` and its tables to `max_table_elements` (defaults:
  // EngineOptions). `label` names the module in messages.
  Result<std::shared_ptr<const Module>> load(std::span<const uint8_t> bytes, std::string label,
                                             std::optional<uint32_t> max_memory_pages = {},
                                             std::optional<uint32_t> max_table_elements = {});

  // Checks a spawn against the module without running anything: imports all known, entrypoint
  // exported with the signature the args need (none for a WASI command's `_start`, whose args
  // become its argv), allocator present when needed, `_initialize` of the right type.
  Status check(const SpawnRequest& request) const;

  // Places a process on the least-loaded worker and returns at once (a worker busy with a
  // guest that does not yield must not hold up its caller). An error means the request was
  // refused (see check()). Every process that spawn returns ends with exactly one on_exit,
  // including one that fails to instantiate (ExitReason::Failed).
  Result<Spawned> spawn(SpawnRequest request);

  // Terminates a process, even one stuck in a loop. False if no such process is running.
  bool stop(kernel::ProcessId pid);

  // Terminates every process and stops the workers; true if all ended within `bound`. With a
  // compile cache it then waits, within the same bound, for the entries of modules still tiering
  // up (it reports nothing about those: a missing entry only costs a compile next time).
  bool shutdown(std::chrono::milliseconds bound);

  // Runs a full garbage collection on every worker and waits, at most `bound`, until each has
  // run it; true if all did. V8 frees what an ended process left on its heap - the instance,
  // and with it the wasm memory - only when it collects it, so memory measurements (tests)
  // call this first. A worker busy in a guest call collects when the call returns; a stopping
  // worker has nothing to collect (its V8 objects go with its thread).
  bool collectGarbage(std::chrono::milliseconds bound = std::chrono::seconds(10));

  EngineStats stats() const;

  std::size_t workerCount() const { return workers_.size(); }
  std::size_t maxProcesses() const { return max_processes_; }
  std::size_t liveProcesses() const;
  bool isRunning(kernel::ProcessId pid) const;

  // Shared ids and singletons, common to every process of this engine.
  kernel::Registry& registry() { return registry_; }
  // HTTP sockets shared between processes, default TLS material.
  kernel::NetContext& network() { return network_; }
  // The running processes (process_list, process_attach, lifetimes).
  kernel::ProcessDirectory& directory() { return directory_; }
  // The log channel of a running process (created on first call; subscribers attach weak
  // readers to it), or nullptr if no such process is running.
  std::shared_ptr<kernel::Channel> logChannel(kernel::ProcessId pid);

 private:
  friend class Worker;
  void processEnded(const ProcessExit& exit);
  // Resolves the request's Resource args through the registry when it names no objects.
  Status resolveResources(SpawnRequest& request);

  EngineOptions options_;
  kernel::Registry registry_;   // outlives the workers, whose processes use it until they end
  kernel::NetContext network_;  // the same
  kernel::ProcessDirectory directory_;  // the same
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<kernel::ProcessId> next_pid_{1};
  std::size_t max_processes_ = 0;

  mutable std::mutex mutex_;  // guards cache_, owners_ and log_streams_
  std::map<std::string, std::weak_ptr<const Module>> cache_;
  std::map<kernel::ProcessId, Worker*> owners_;
  std::map<kernel::ProcessId, std::shared_ptr<kernel::LogStream>> log_streams_;

  // Reports guest calls that hold their worker while they run, and terminates those that
  // overrun EngineOptions::max_slice (when it is set): Worker::watch.
  std::thread watchdog_;
  std::mutex watchdog_mutex_;
  std::condition_variable watchdog_wake_;
  bool watchdog_stop_ = false;

  std::mutex compile_mutex_;  // the compile isolate is used by one thread at a time
  struct CompileIsolate;
  std::unique_ptr<CompileIsolate> compiler_;
  std::unique_ptr<CachedCompiler> disk_cache_;  // with EngineOptions::compile_cache_dir only
  bool shut_down_ = false;
};

// The default process limit for a kernel allowing `max_map_count` mappings per process: a third
// of what is left after a reserve for the host itself (V8, libraries, sockets).
std::size_t defaultMaxProcesses(std::size_t max_map_count);

// The wasm parameter list an entrypoint must have for `args`.
std::vector<ValType> flattenedParams(std::span<const kernel::EntrypointArg> args);

// The export a spawn of `module` with `requested` as entrypoint runs: `requested`, except that
// the default "start" becomes "_start" (a WASI command) when the module exports "_start" and
// no "start".
std::string resolveEntrypoint(const WasmModuleInfo& module, std::string_view requested);

// A declared entrypoint's parameters as in messages: "(utf8 name, u32 times)", "()".
std::string declaredParamsText(const DeclaredEntrypoint& entry);

// Every entrypoint the module's `selium.entrypoints` section declares, with its parameters:
// "start(), ints(i8 a, u8 b)"; nullopt when the module has no such section.
std::optional<std::string> declaredEntrypointsText(const WasmModuleInfo& module);

}  // namespace selium::engine
