// Runs example guests in the real selium-runtime (JSON log records) until the example's
// orchestrating process has exited, and reads what happened from the records: exits, children,
// the guest's own records. Shared by the end-to-end tests of the examples.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace selium::testing {

// Every record one runtime run printed, and which process was the orchestrator.
struct ExampleRun {
  int exit_code = -1;         // the runtime's, after it was told to shut down
  int64_t orchestrator = -1;  // its pid (the first, when several were awaited)
  std::vector<int64_t> orchestrators;
  std::vector<nlohmann::json> records;

  std::vector<nlohmann::json> withMessage(std::string_view message) const;
  // The fields of the one record with `message` and this pid (null if there is not exactly one).
  nlohmann::json fieldsOf(std::string_view message, int64_t pid) const;
  std::vector<int64_t> childrenOf(int64_t parent) const;
  std::string entrypointOf(int64_t pid) const;
  // The fields of the guest records of `message` (target selium.guest.*).
  std::vector<nlohmann::json> guest(std::string_view message) const;
  // The runtime had nothing left to stop when it was told to shut down but `expected` processes
  // (servers such as a system module), and it then exited 0.
  void expectNothingLeftRunning(int expected = 0) const;
};

struct ExampleRunOptions {
  std::string runtime;  // the selium-runtime binary
  std::filesystem::path work_dir;
  std::filesystem::path cwd;
  std::vector<std::string> specs;  // one --module each, in order
  // Which "process started" records (their fields) are the orchestrators': the first
  // `orchestrators` that match.
  std::function<bool(const nlohmann::json&)> is_orchestrator;
  std::size_t orchestrators = 1;
  // Generous: a loaded machine may be slow to start processes. Nothing here measures time.
  std::chrono::milliseconds timeout = std::chrono::seconds(90);
};

// Runs the runtime until every orchestrator has exited, then stops it (a server never exits by
// itself) and returns every record it printed. Fails the test (non-fatally) if an orchestrator
// never exited or a line was not JSON.
ExampleRun runExample(const ExampleRunOptions& options);

}  // namespace selium::testing
