// The running server: owns the event loop, starts the configured modules, and shuts down
// gracefully on SIGINT/SIGTERM within a bounded time.
#pragma once

#include <chrono>
#include <filesystem>
#include <vector>

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
};

class Server {
 public:
  Server(WorkDir work_dir, std::vector<ModuleToStart> modules, ServerOptions options);

  // Runs until a signal asks it to stop. Returns the process exit code: 0 after a graceful
  // shutdown, 1 if shutdown overran its bound. A second signal during shutdown exits the
  // process at once with 128 + signal number.
  int run();

 private:
  WorkDir work_dir_;
  std::vector<ModuleToStart> modules_;
  ServerOptions options_;
};

}  // namespace selium::runtime
