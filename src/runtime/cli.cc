// Command-line parsing with CLI11. Usage errors exit 2 with a message on stderr.
#include "runtime/cli.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "engine/v8_platform.h"
#include "kernel/capability.h"
#include "runtime/module_spec.h"
#include "util/strings.h"

#ifndef SELIUM_VERSION
#define SELIUM_VERSION "0.0.0"
#endif

namespace selium::runtime {
namespace {

std::string capabilityList() {
  std::string out = " ";
  std::size_t column = 1;
  for (kernel::Capability c : kernel::allCapabilities()) {
    std::string_view name = kernel::capabilityName(c);
    if (column + name.size() + 1 > 98) {
      out += "\n ";
      column = 1;
    }
    out += ' ';
    out += name;
    column += name.size() + 1;
  }
  return out;
}

std::string footer() {
  return "Module spec (--module, repeatable): `;`-separated key=value pairs.\n"
         "  path=FILE          required; relative to <work-dir>/modules/, no `..`, not absolute\n"
         "  capabilities=LIST  required; comma list, may be empty (no capabilities)\n"
         "  entrypoint=NAME    export to call (default: start)\n"
         "  params=KINDS       comma list of i8 u8 i16 u16 i32 u32 i64 u64 f32 f64 utf8 buffer\n"
         "                     hex resource\n"
         "  args=VALUES        comma list; without params each value is typed KIND:VALUE\n"
         "  log_uri=URI        where the process's log channel is published (sel://...)\n"
         "  max_memory=SIZE    this module's memory cap, e.g. 64MiB (overrides --max-memory)\n"
         "  max_table_elements=N  this module's table budget (overrides --max-table-elements)\n"
         "  env=LIST           WASI environment: comma list of NAME=value\n"
         "  Example: --module 'path=echo.wasm;capabilities=TimeRead;args=utf8:hi,u16:7000'\n\n"
         "Capabilities (any letter case, or snake_case / kebab-case):\n" +
         capabilityList() +
         "\n\n"
         "Exit codes: 0 clean exit, 1 runtime or configuration error, 2 usage error,\n"
         "  130/143 forced exit on a second SIGINT/SIGTERM during shutdown.\n"
         "  `run` exits with its guest's status instead: see `selium-runtime run --help`.\n";
}

}  // namespace

std::string versionText() {
  return std::string("selium-runtime ") + SELIUM_VERSION + " (V8 " + engine::v8Version() + ")";
}

CliOutcome parseCommandLine(int argc, const char* const* argv) {
  CLI::App app{
      "Selium runtime: runs WebAssembly modules as sandboxed, capability-checked "
      "processes.",
      "selium-runtime"};
  app.footer(footer());
  app.get_formatter()->column_width(34);
  app.set_version_flag("--version", versionText(), "Print the version and exit");

  RuntimeOptions options;
  std::string work_dir = ".";
  std::string log_format = "text";
  std::string log_level = "info";
  double shutdown_seconds = 10;

  app.add_option("-w,--work-dir", work_dir,
                 "Work directory holding modules/ and certs/ (default: .)")
      ->type_name("DIR")
      ->envname("SELIUM_WORK_DIR");
  app.add_option("--module", options.module_specs, "Module to start (repeatable); see below")
      ->type_name("SPEC")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--log-format", log_format, "Log output format: text (default) or json")
      ->type_name("FORMAT")
      ->envname("SELIUM_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}, CLI::ignore_case));
  app.add_option("--log-level", log_level,
                 "Log filter: a default level and TARGET=LEVEL directives, e.g. "
                 "info,selium.guest.myguest=debug (targets: selium.runtime, selium.guest, "
                 "selium.guest.<guest target>; levels: trace debug info warn error off; "
                 "default: info)")
      ->type_name("FILTER")
      ->envname("SELIUM_LOG");
  app.add_flag("--dry-run", options.dry_run,
               "Check the work dir and every module spec, report all problems, and exit (0 if "
               "all is well, 1 otherwise) without starting anything");
  app.add_option("--shutdown-timeout", shutdown_seconds,
                 "Seconds a graceful shutdown may take before the runtime gives up and exits 1 "
                 "(default: 10)")
      ->type_name("SECONDS")
      ->check(CLI::Range(0.0, 3600.0));

  app.add_option("--workers", options.workers,
                 "Worker threads running processes, each with its own V8 isolate (default: one "
                 "per hardware thread)")
      ->type_name("N")
      ->check(CLI::Range(1, 1024));

  std::string max_memory = "256MiB";
  app.add_option("--max-memory", max_memory,
                 "Cap on each process's linear memory, e.g. 64MiB or 1GiB; memory.grow past it "
                 "fails in the guest (default: 256MiB; a spec's max_memory overrides it)")
      ->type_name("SIZE");
  app.add_option("--max-table-elements", options.max_table_elements,
                 "Cap on the elements of all of a process's wasm tables together (about 32 "
                 "bytes of engine memory each); table.grow past it fails in the guest "
                 "(default: 1000000; a spec's max_table_elements overrides it)")
      ->type_name("N")
      ->check(CLI::Range(uint32_t{0}, kMaxTableElements));
  int64_t max_slice_ms = 0;
  app.add_option("--max-slice", max_slice_ms,
                 "Terminate a process whose guest code runs this many milliseconds without "
                 "yielding (default: 0 = never; a call holding its worker over 100 ms is logged "
                 "while it runs either way)")
      ->type_name("MS")
      ->check(CLI::Range(int64_t{0}, int64_t{3'600'000}));
  bool no_compile_cache = false;
  app.add_flag("--no-compile-cache", no_compile_cache,
               "Compile every module at start-up instead of loading its compiled code from "
               "<work-dir>/cache, and write nothing there");

  app.add_option("--max-processes", options.max_processes,
                 "Most processes alive at once; further spawns fail with an error (default: "
                 "derived from the kernel's vm.max_map_count, about 19,000 on a stock kernel)")
      ->type_name("N")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}));

  CertOptions certs;
  std::string output_dir = certs.output_dir.string();
  CLI::App* gen = app.add_subcommand(
      "generate-certs",
      "Write a local CA and server + client certificates (ca.crt ca.key server.crt server.key "
      "client.crt client.key; PEM, ECDSA P-256) for mutual TLS, then exit");
  gen->footer(
      "Files are PEM; keys are PKCS#8 with mode 0600. Existing files are never overwritten "
      "without --force.");
  gen->add_option("--output-dir", output_dir,
                  "Directory to write into, relative to the current directory; created if "
                  "missing (default: certs)")
      ->type_name("DIR");
  gen->add_option("--ca-common-name", certs.ca_common_name,
                  "Common name of the CA (default: Selium Local CA)")
      ->type_name("NAME");
  gen->add_option("--server-name", certs.server_name,
                  "DNS name (or IP) of the server certificate; localhost also covers 127.0.0.1 "
                  "and ::1 (default: localhost)")
      ->type_name("NAME");
  gen->add_option("--client-name", certs.client_name,
                  "Name of the client certificate (default: client.localhost)")
      ->type_name("NAME");
  gen->add_flag("--force", certs.force, "Overwrite existing files");

  RunOptions run_options;
  CLI::App* run = app.add_subcommand(
      "run",
      "Run one module to completion and exit with its status; its stdout and stderr are the "
      "runtime's, byte for byte");
  run->fallthrough();  // --max-memory, --max-slice, --log-level ... may follow `run`
  run->add_option("FILE", run_options.file,
                  "The module: any path; everything after it (even what looks like a flag) "
                  "is ARGS, for the guest")
      ->required();
  run->add_option("--cap", run_options.capabilities,
                  "Grant a capability (repeatable, or a comma list; default: none)")
      ->type_name("NAME")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  run->add_option("--env", run_options.env,
                  "Set a WASI environment variable (repeatable); VALUE is taken as given: any "
                  "UTF-8 text, with `=`, commas or spaces")
      ->type_name("NAME=VALUE")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  run->add_option("--entrypoint", run_options.entrypoint,
                  "Export to call (default: start, or _start for a WASI command); for a WASI "
                  "command ARGS are its argv, otherwise typed args KIND:VALUE, e.g. u32:7 "
                  "utf8:hi")
      ->type_name("NAME");
  run->add_option("--params", run_options.params,
                  "Comma list of the entrypoint's param kinds, as a spec's params; ARGS may "
                  "then leave out KIND:")
      ->type_name("KINDS");
  run->footer(
      "Usage: selium-runtime [OPTIONS] run [RUN OPTIONS] FILE [ARGS...]\n"
      "ARGS: everything after FILE belongs to the guest (use `--` before a FILE that starts "
      "with -).\n"
      "Also taken, before or after `run` (see selium-runtime --help): --max-memory SIZE, "
      "--max-slice MS, --max-table-elements N, --log-level FILTER, --log-format FORMAT.\n"
      "The guest's stdout/stderr go to the runtime's stdout/stderr unchanged; the runtime's "
      "own log records (default level warn) and SDK guest log records go to stderr.\n"
      "Exit codes: the guest's status (process_exit/exit n: n & 255; 0 when its entrypoint "
      "returns), 125 the module could not be loaded or started, 134 trap or --max-slice, "
      "130/143 stopped by SIGINT/SIGTERM, 2 usage error.");

  // Split off the guest's ARGS before CLI11 sees them: CLI11 would parse a `--cap` or `--help`
  // after FILE as ours. The first positional after `run` (skipping option values, found by
  // asking CLI11 which options take one) is FILE; `--` makes the next word FILE.
  int parse_argc = argc;
  {
    auto takesValue = [&](CLI::App* scope, const std::string& arg) {
      if (arg.find('=') != std::string::npos) return false;
      for (CLI::App* a : {scope, &app}) {
        if (const CLI::Option* o = a->get_option_no_throw(arg)) return o->get_expected_min() > 0;
      }
      return false;
    };
    CLI::App* scope = &app;
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg == "--") {
        if (scope == run && i + 1 < argc) parse_argc = i + 2;
        break;
      }
      if (arg.size() > 1 && arg[0] == '-') {
        if (takesValue(scope, arg)) ++i;
        continue;
      }
      if (scope == &app && arg == "run") {
        scope = run;
        continue;
      }
      if (scope == run) parse_argc = i + 1;
      break;
    }
    for (int i = parse_argc; scope == run && i < argc; ++i) run_options.args.emplace_back(argv[i]);
  }

  try {
    app.parse(parse_argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return {std::nullopt, app.exit(e)};
  } catch (const CLI::CallForAllHelp& e) {
    return {std::nullopt, app.exit(e)};
  } catch (const CLI::CallForVersion& e) {
    return {std::nullopt, app.exit(e)};
  } catch (const CLI::ParseError& e) {
    std::cerr << "selium-runtime: error: " << e.what() << "\n"
              << "Run `selium-runtime --help` for usage.\n";
    return {std::nullopt, kExitUsage};
  }

  // A clean `run` prints nothing but the guest's output.
  // SDK guests' own log records (selium.guest) still print at info, as in the server.
  if (run->parsed() && app.get_option("--log-level")->count() == 0) {
    log_level = "warn,selium.guest=info";
  }
  auto filter = log::Filter::parse(log_level);
  if (!filter) {
    std::cerr << "selium-runtime: error: --log-level/SELIUM_LOG: " << filter.error().message
              << "\n";
    return {std::nullopt, kExitUsage};
  }
  options.log_filter = *filter;
  auto memory = util::parseByteSize(max_memory);
  if (!memory || *memory < kMinMaxMemory || *memory > (uint64_t{4} << 30)) {
    std::cerr << "selium-runtime: error: --max-memory " << util::quote(max_memory)
              << ": expected a size from 64KiB to 4GiB, e.g. 64MiB\n";
    return {std::nullopt, kExitUsage};
  }
  options.max_memory = *memory;
  options.max_slice = std::chrono::milliseconds(max_slice_ms);
  options.compile_cache = !no_compile_cache;
  options.log_format = *log::parseFormat(log_format);
  options.work_dir = work_dir;
  options.shutdown_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(shutdown_seconds * 1000));
  if (gen->parsed()) {
    if (!options.module_specs.empty() || options.dry_run) {
      std::cerr << "selium-runtime: error: generate-certs does not take --module or --dry-run\n";
      return {std::nullopt, kExitUsage};
    }
    certs.output_dir = output_dir;
    options.generate_certs = certs;
  }
  if (run->parsed()) {
    if (!options.module_specs.empty() || options.dry_run) {
      std::cerr << "selium-runtime: error: run does not take --module or --dry-run\n";
      return {std::nullopt, kExitUsage};
    }
    options.run = std::move(run_options);
  }
  return {std::move(options), kExitOk};
}

}  // namespace selium::runtime
