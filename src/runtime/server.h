// The running server: owns the engine and the main event loop, starts the configured modules
// in order, and shuts down gracefully on SIGINT/SIGTERM within a bounded time.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <vector>

#include "engine/engine.h"
#include "runtime/module_spec.h"
#include "runtime/work_dir.h"

namespace selium::runtime {

// A module that passed every check before start: its spec and its resolved file.
struct ModuleToStart {
  ModuleSpec spec;
  std::filesystem::path file;
};

struct ServerOptions {
  std::chrono::milliseconds shutdown_timeout{10'000};
  std::size_t workers = 0;           // 0: one per hardware thread
  uint64_t max_memory = 256u << 20;  // bytes per process
  std::chrono::milliseconds max_slice{0};
  // The compile cache directory (created if missing); nothing: compile every module each start.
  std::optional<std::filesystem::path> compile_cache_dir;
  std::size_t max_processes = 0;            // 0: derived from vm.max_map_count
  uint32_t max_table_elements = 1'000'000;  // all of a process's tables together
};

// Engine options that print guest records (target selium.guest) and process exits.
engine::EngineOptions runtimeEngineOptions(const ServerOptions& options);

// Reads a module file whole; nothing if it cannot be read.
std::optional<std::vector<uint8_t>> readModuleFile(const std::filesystem::path& file);
using ModuleFileReader =
    std::function<std::optional<std::vector<uint8_t>>(const std::filesystem::path& file)>;

// Loads every module and checks its spawn request (entrypoint signature, allocator, ...).
// Returns the requests in spec order, or logs every problem and returns nothing. Reads each
// distinct file once (through `read`) and loads it once per label and memory limit, so specs
// naming the same module share one Module.
std::optional<std::vector<engine::SpawnRequest>> prepareModules(
    engine::Engine& engine, const std::vector<ModuleToStart>& modules,
    const ModuleFileReader& read = readModuleFile);

class Server {
 public:
  Server(WorkDir work_dir, std::vector<ModuleToStart> modules, ServerOptions options);

  // Runs until a signal asks it to stop. Returns the process exit code: 0 after a graceful
  // shutdown, 1 if start-up failed or shutdown overran its bound. A second signal during
  // shutdown exits the process at once with 128 + signal number.
  int run();

 private:
  WorkDir work_dir_;
  std::vector<ModuleToStart> modules_;
  ServerOptions options_;
};

}  // namespace selium::runtime
