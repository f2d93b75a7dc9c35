// selium-runtime: parse the command line, set up logging, then generate certificates, check the
// configuration (--dry-run), serve, or run one module to completion (`run`).
#include <errno.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <future>
#include <iostream>

#include "runtime/cli.h"
#include "runtime/module_spec.h"
#include "runtime/server.h"
#include "runtime/work_dir.h"
#include "util/certs.h"
#include "util/log.h"
#include "util/strings.h"

namespace selium::runtime {
namespace {

int generateCertificates(const CertOptions& certs) {
  auto written = util::generateCerts(certs);
  if (!written) {
    log::error("generate-certs failed", {{"error", written.error().message}});
    return kExitRuntimeError;
  }
  for (const auto& path : *written) log::info("wrote certificate file", {{"path", path.string()}});
  log::info("certificates ready", {{"dir", certs.output_dir.string()},
                                   {"server_name", certs.server_name},
                                   {"client_name", certs.client_name}});
  return kExitOk;
}

// Parses and checks every spec; logs every problem. Returns the modules if all are valid.
std::optional<std::vector<ModuleToStart>> checkModules(const RuntimeOptions& options,
                                                       const WorkDir* work_dir) {
  std::vector<ModuleToStart> modules;
  std::size_t problems = 0;
  // Named in the hint for a path that leads out of modules/, so it says where to copy the file.
  std::string modules_dir = work_dir != nullptr ? (work_dir->root / "modules").string() + "/"
                                                : std::string("<work-dir>/modules/");
  for (std::size_t i = 0; i < options.module_specs.size(); ++i) {
    ModuleSpecParse parsed = parseModuleSpec(options.module_specs[i], i + 1, modules_dir);
    for (const SpecError& e : parsed.errors) {
      ++problems;
      log::error("invalid module spec", {{"spec", static_cast<uint64_t>(e.number)},
                                         {"key", e.key},
                                         {"value", e.value},
                                         {"error", e.toString()}});
    }
    if (!parsed.spec || work_dir == nullptr) continue;
    auto file = resolveModulePath(*work_dir, *parsed.spec);
    if (!file) {
      ++problems;
      log::error("invalid module spec", {{"spec", static_cast<uint64_t>(i + 1)},
                                         {"key", "path"},
                                         {"value", parsed.spec->path},
                                         {"error", file.error().message}});
      continue;
    }
    modules.push_back({std::move(*parsed.spec), std::move(*file)});
  }
  if (problems > 0) {
    log::error("configuration has problems; nothing was started",
               {{"problems", static_cast<uint64_t>(problems)}});
    return std::nullopt;
  }
  return modules;
}

int runRuntime(const RuntimeOptions& options) {
  auto work_dir = openWorkDir(options.work_dir);
  if (!work_dir) log::error("invalid work dir", {{"error", work_dir.error().message}});
  auto modules = checkModules(options, work_dir ? &*work_dir : nullptr);
  if (!work_dir || !modules) return kExitRuntimeError;
  if (options.dry_run) {
    // Compile every module and check its entrypoint, without starting anything.
    ServerOptions check_options;
    check_options.workers = 1;
    check_options.max_memory = options.max_memory;
    check_options.max_table_elements = options.max_table_elements;
    // A dry run compiles every module, so it also fills the compile cache.
    if (options.compile_cache) check_options.compile_cache_dir = work_dir->cache;
    engine::Engine engine(runtimeEngineOptions(check_options));
    auto requests = prepareModules(engine, *modules);
    if (!requests) {
      log::error("dry run: configuration has problems");
      return kExitRuntimeError;
    }
    for (std::size_t i = 0; i < modules->size(); ++i) {
      const ModuleToStart& m = (*modules)[i];
      log::info("module spec ok",
                {{"spec", static_cast<uint64_t>(m.spec.number)},
                 {"module", m.spec.path},
                 {"entrypoint", m.spec.entrypoint},
                 {"capabilities", static_cast<uint64_t>(m.spec.capabilities.size())},
                 {"args", static_cast<uint64_t>(m.spec.args.size())}});
      // What the module says its entrypoints take (SDK guests say it; others may not), so the
      // right params can be written without reading its source.
      if (i >= requests->size()) continue;
      if (auto declared = engine::declaredEntrypointsText((*requests)[i].module->info())) {
        log::info("module entrypoints", {{"spec", static_cast<uint64_t>(m.spec.number)},
                                         {"module", m.spec.path},
                                         {"entrypoints", *declared}});
      }
    }
    log::info("dry run: configuration is valid",
              {{"work_dir", work_dir->root.string()},
               {"modules", static_cast<uint64_t>(modules->size())}});
    return kExitOk;
  }
  ServerOptions server_options{options.shutdown_timeout, options.workers, options.max_memory,
                               options.max_slice, std::nullopt};
  if (options.compile_cache) server_options.compile_cache_dir = work_dir->cache;
  server_options.max_processes = options.max_processes;
  server_options.max_table_elements = options.max_table_elements;
  Server server(std::move(*work_dir), std::move(*modules), server_options);
  return server.run();
}

// `run`: the signal that asked the guest to stop (0: none). Set by the handler, read by main.
volatile std::sig_atomic_t g_run_signal = 0;
void onRunSignal(int signo) { g_run_signal = signo; }

// All of `bytes` to `fd`, as the guest wrote them. Blocks the worker while the reader is slow
// (acceptable for a one-shot run whose only process is this guest); a reader that went away
// (EPIPE) costs the guest its output, not its run.
void writeGuestBytes(int fd, std::span<const uint8_t> bytes) {
  const uint8_t* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n > 0) {
      p += n;
      left -= static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd wait{fd, POLLOUT, 0};  // a non-blocking descriptor we inherited: wait for room
      (void)::poll(&wait, 1, -1);
    } else {
      return;
    }
  }
}

void runError(const std::string& message) {
  std::cerr << "selium-runtime run: error: " << message << "\n";
}

// The flag a parseRunParts error came from, for its message.
std::string runFlagName(const std::string& key) {
  if (key == "capabilities") return "--cap";
  if (key == "env") return "--env";
  if (key == "params") return "--params";
  return "ARGS";
}

bool reportRunErrors(const std::vector<SpecError>& errors) {
  for (const SpecError& e : errors) {
    runError(runFlagName(e.key) + (e.value.empty() ? "" : " " + util::quote(e.value)) + ": " +
             e.message);
  }
  return !errors.empty();
}

// The exit code of `run` for how the guest ended (README, "Exit codes and signals").
int runExitCode(const engine::ProcessExit& exit, int signo) {
  if (signo != 0) return 128 + signo;
  switch (exit.reason) {
    case engine::ExitReason::Normal:
    case engine::ExitReason::Error:
      return exit.status & 0xFF;  // what a POSIX parent sees of a larger status
    case engine::ExitReason::Trap:
    case engine::ExitReason::Terminated:  // --max-slice: the guest ran away
      return kExitRunTrap;
    case engine::ExitReason::Failed:
      return kExitRunNotStarted;
  }
  return kExitRunNotStarted;
}

int runModule(const RuntimeOptions& options) {
  const RunOptions& run = *options.run;
  ModuleSpec spec;
  if (reportRunErrors(parseRunParts({run.capabilities, std::nullopt, {}, run.env}, spec))) {
    return kExitUsage;
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(run.file, ec)) {
    runError("cannot read module " + util::quote(run.file) + ": " +
             (std::filesystem::exists(run.file, ec) ? "not a regular file" : "no such file"));
    return kExitUsage;
  }
  auto bytes = readModuleFile(run.file);
  if (!bytes) {
    runError("cannot read module " + util::quote(run.file) + ": " + std::strerror(errno));
    return kExitUsage;
  }

  ServerOptions server_options;
  server_options.workers = 1;  // one guest
  server_options.max_memory = options.max_memory;
  server_options.max_slice = options.max_slice;
  server_options.max_table_elements = options.max_table_elements;
  engine::EngineOptions engine_options = runtimeEngineOptions(server_options);
  std::promise<engine::ProcessExit> ended;
  engine_options.on_exit = [&ended](const engine::ProcessExit& exit) {
    // Why the guest did not finish is worth a line (a trap, a failed start, --max-slice); any
    // other ending is told by the exit code.
    bool abnormal = exit.reason == engine::ExitReason::Trap ||
                    exit.reason == engine::ExitReason::Failed ||
                    (exit.reason == engine::ExitReason::Terminated && g_run_signal == 0);
    log::Level level = abnormal ? log::Level::Error : log::Level::Debug;
    log::write(level, log::kRuntimeTarget, "process exited",
               {{"module", exit.module},
                {"reason", engine::exitReasonName(exit.reason)},
                {"status", exit.status},
                {"detail", exit.message}});
    ended.set_value(exit);
  };
  engine_options.on_start = [](kernel::Process& process) {
    process.setStdWriter([](kernel::StdStream stream, std::span<const uint8_t> data) {
      writeGuestBytes(stream == kernel::StdStream::Stdout ? STDOUT_FILENO : STDERR_FILENO, data);
    });
    log::debug("process started",
               {{"module", process.module()}, {"entrypoint", process.entrypoint()}});
  };
  engine::Engine engine(std::move(engine_options));

  auto module = engine.load(*bytes, run.file);
  if (!module) {
    runError("cannot load module " + util::quote(run.file) + ": " + module.error().message);
    return kExitRunNotStarted;
  }
  engine::SpawnRequest request;
  request.module = *module;
  request.entrypoint = run.entrypoint;
  request.capabilities = spec.capabilities;
  request.env = spec.env;
  if (engine::resolveEntrypoint((*module)->info(), run.entrypoint) == "_start") {
    if (run.params) {
      runError("--params: " + run.file + " is a WASI command; its ARGS are its argv, untyped");
      return kExitUsage;
    }
    request.argv = run.args;
  } else {
    if (reportRunErrors(parseRunParts({{}, run.params, run.args, {}}, spec))) return kExitUsage;
    request.args = spec.args;
  }
  if (auto checked = engine.check(request); !checked) {
    runError("cannot start " + util::quote(run.file) + ": " + checked.error().message);
    return kExitRunNotStarted;
  }

  std::signal(SIGINT, onRunSignal);
  std::signal(SIGTERM, onRunSignal);
  auto spawned = engine.spawn(std::move(request));
  if (!spawned) {
    runError("cannot start " + util::quote(run.file) + ": " + spawned.error().message);
    return kExitRunNotStarted;
  }
  std::future<engine::ProcessExit> exit = ended.get_future();
  int signo = 0;
  // Polled, so a signal (whose handler may run on any thread) is noticed within 50 ms.
  while (exit.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (signo == 0 && g_run_signal != 0) {
      signo = g_run_signal;
      engine.stop(spawned->pid);
    }
  }
  engine::ProcessExit result = exit.get();
  engine.shutdown(options.shutdown_timeout);
  return runExitCode(result, signo);
}

}  // namespace
}  // namespace selium::runtime

namespace {
// Sockets are what a busy runtime runs out of first: take the hard limit on descriptors (each
// process's own share is bounded by its max_sockets and its listeners' max_connections).
void raiseDescriptorLimit() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
  }
}
}  // namespace

int main(int argc, char** argv) {
  using namespace selium;
  runtime::CliOutcome cli = runtime::parseCommandLine(argc, argv);
  if (!cli.options) return cli.exit_code;
  const runtime::RuntimeOptions& options = *cli.options;
  // A reader that closes our stdout (or, later, a peer that closes a socket) must cost a write
  // its EPIPE, not the whole runtime its life: the log writer then drops what it cannot write.
  std::signal(SIGPIPE, SIG_IGN);
  raiseDescriptorLimit();
  // `run`: stdout carries the guest's bytes only; every log record goes to stderr.
  log::configure(options.log_format, options.log_filter, nullptr,
                 options.run ? STDERR_FILENO : STDOUT_FILENO);
  for (std::string_view target : options.log_filter.directiveTargets()) {
    if (!log::couldMatchRuntimeTarget(target)) {
      log::warn("log directive matches no target; it has no effect",
                {{"directive_target", target},
                 {"targets", "selium.runtime, selium.guest, selium.guest.<guest target>"}});
    }
  }
  int code;
  try {
    if (options.generate_certs) {
      code = runtime::generateCertificates(*options.generate_certs);
    } else if (options.run) {
      code = runtime::runModule(options);
    } else {
      code = runtime::runRuntime(options);
    }
  } catch (const std::exception& e) {
    log::error("fatal error", {{"error", e.what()}});
    code = runtime::kExitRuntimeError;
  }
  // A no-op after a served run (Server::run flushed within --shutdown-timeout).
  log::shutdown(std::chrono::steady_clock::now() + options.shutdown_timeout);
  return code;
}
