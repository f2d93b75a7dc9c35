// The selium-runtime command line: flags, environment variables, help text and exit codes.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "util/certs.h"
#include "util/log.h"

namespace selium::runtime {

using util::CertOptions;

// Documented in the README and in --help.
enum ExitCode : int {
  kExitOk = 0,
  kExitRuntimeError = 1,  // configuration or runtime failure
  kExitUsage = 2,         // bad flags or flag values
  // `run` only (the guest's own status otherwise; see the README):
  kExitRunNotStarted = 125,  // the module could not be loaded, checked or started
  kExitRunTrap = 134,        // the guest trapped (or was terminated for --max-slice)
};

// `selium-runtime run [options] FILE [ARGS...]`: one module, run to completion.
struct RunOptions {
  std::string file;               // any path, as given (also the guest's argv[0])
  std::vector<std::string> args;  // everything after FILE: argv, or typed entrypoint args
  std::string entrypoint = "start";
  std::optional<std::string> params;
  std::vector<std::string> capabilities;  // --cap values (each a comma list)
  std::vector<std::string> env;           // --env NAME=VALUE, as given
};

struct RuntimeOptions {
  std::filesystem::path work_dir = ".";
  std::vector<std::string> module_specs;
  log::Format log_format = log::Format::Text;
  log::Filter log_filter;
  bool dry_run = false;
  std::chrono::milliseconds shutdown_timeout{10'000};
  std::size_t workers = 0;                    // 0: one per hardware thread
  uint64_t max_memory = 256u << 20;           // bytes per process, unless a spec says otherwise
  std::chrono::milliseconds max_slice{0};     // 0: off
  std::size_t max_processes = 0;              // 0: derived from vm.max_map_count
  uint32_t max_table_elements = 1'000'000;    // per process, unless a spec says otherwise
  bool compile_cache = true;                  // <work-dir>/cache; --no-compile-cache: off
  std::optional<CertOptions> generate_certs;  // set when the generate-certs subcommand was given
  std::optional<RunOptions> run;              // set when the run subcommand was given
};

// Either options to run with, or an exit code after --help/--version or a usage error (already
// printed: help and version to stdout, usage errors to stderr).
struct CliOutcome {
  std::optional<RuntimeOptions> options;
  int exit_code = kExitOk;
};

CliOutcome parseCommandLine(int argc, const char* const* argv);

// "selium-runtime 0.1.0 (V8 10.2.…)"
std::string versionText();

}  // namespace selium::runtime
