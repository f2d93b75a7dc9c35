// selium-runtime: parse the command line, set up logging, then generate certificates, check the
// configuration (--dry-run) or serve.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>

#include "runtime/certs.h"
#include "runtime/cli.h"
#include "runtime/module_spec.h"
#include "runtime/server.h"
#include "runtime/work_dir.h"
#include "util/log.h"

namespace selium::runtime {
namespace {

int generateCertificates(const CertOptions& certs) {
  auto written = generateCerts(certs);
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

}  // namespace
}  // namespace selium::runtime

int main(int argc, char** argv) {
  using namespace selium;
  runtime::CliOutcome cli = runtime::parseCommandLine(argc, argv);
  if (!cli.options) return cli.exit_code;
  const runtime::RuntimeOptions& options = *cli.options;
  // A reader that closes our stdout (or, later, a peer that closes a socket) must cost a write
  // its EPIPE, not the whole runtime its life: the log writer then drops what it cannot write.
  std::signal(SIGPIPE, SIG_IGN);
  log::configure(options.log_format, options.log_filter);
  for (std::string_view target : options.log_filter.directiveTargets()) {
    if (!log::couldMatchRuntimeTarget(target)) {
      log::warn("log directive matches no target; it has no effect",
                {{"directive_target", target},
                 {"targets", "selium.runtime, selium.guest, selium.guest.<guest target>"}});
    }
  }
  int code;
  try {
    code = options.generate_certs ? runtime::generateCertificates(*options.generate_certs)
                                  : runtime::runRuntime(options);
  } catch (const std::exception& e) {
    log::error("fatal error", {{"error", e.what()}});
    code = runtime::kExitRuntimeError;
  }
  // A no-op after a served run (Server::run flushed within --shutdown-timeout).
  log::shutdown(std::chrono::steady_clock::now() + options.shutdown_timeout);
  return code;
}
