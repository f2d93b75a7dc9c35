// The types the engine and its workers share: compiled modules, spawn requests and exits.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/wasm_binary.h"
#include "kernel/capability.h"
#include "kernel/entry_args.h"
#include "kernel/process.h"
#include "kernel/registry.h"

namespace v8 {
class CompiledWasmModule;
}

namespace selium::engine {

class Engine;

// A compiled module, shareable by every worker.
class Module {
 public:
  Module(std::string label, std::string hash, WasmModuleInfo info,
         std::shared_ptr<v8::CompiledWasmModule> compiled);
  const std::string& label() const { return label_; }
  const std::string& hash() const { return hash_; }  // SHA-256 of the bytes, hex
  const WasmModuleInfo& info() const { return info_; }
  const v8::CompiledWasmModule& compiled() const { return *compiled_; }

 private:
  friend class Engine;  // shares compiled_ between Modules of the same bytes
  std::string label_;
  std::string hash_;
  WasmModuleInfo info_;
  std::shared_ptr<v8::CompiledWasmModule> compiled_;
};

// How a process ended.
enum class ExitReason {
  Normal,      // entrypoint returned / root task done / process_exit(0)
  Error,       // process_exit with a non-zero status
  Trap,        // the guest trapped (message holds the trap and the wasm stack)
  Terminated,  // stopped by the host (stop, shutdown)
  Failed,      // could not start (instantiation, allocator, ...) - message says why
};
std::string_view exitReasonName(ExitReason reason);
// Its SELIUM_EXIT_* number (include/selium/abi/hostcalls.h).
int32_t abiExitReason(ExitReason reason);

struct ProcessExit {
  kernel::ProcessId pid = 0;
  std::string module;
  ExitReason reason = ExitReason::Normal;
  int32_t status = 0;
  std::string message;
};

struct SpawnRequest {
  std::shared_ptr<const Module> module;
  // The export to run. The default "start" means the WASI command entry "_start" for a module
  // that exports "_start" and no "start" (see resolveEntrypoint).
  std::string entrypoint = "start";
  // Wasm parameters of the entrypoint; for a WASI command (`_start`) they become its argv
  // instead (Engine::spawn appends their text to `argv`).
  std::vector<kernel::EntrypointArg> args;
  kernel::CapabilitySet capabilities;
  std::optional<std::string> log_uri;
  std::vector<std::string> env;   // WASI environment, "NAME=value" strings
  std::vector<std::string> argv;  // WASI argv after argv[0], which is always the module label
  // The objects of the Resource args, one per Resource arg in order: the process gets its own
  // handle to each, and that handle number is the value its entrypoint receives. Left empty,
  // Engine::spawn looks each Resource arg's value up as a shared id in the engine's registry
  // (`resource:ID` in a --module spec).
  std::vector<std::shared_ptr<kernel::Shareable>> resources;
  // Start the log stream at spawn, so a follower reads from the first record.
  bool follow_logs = false;
  // The process that started it (process_start), or 0: the runtime.
  kernel::ProcessId parent = 0;
  // Called once when this process ends, however it ends (after EngineOptions::on_exit), on a
  // worker thread; e.g. a parent's process handle hearing its child's exit.
  std::function<void(const ProcessExit&)> on_exit;
};

}  // namespace selium::engine
