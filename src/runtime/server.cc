// Server lifecycle on a Boost.Asio event loop: start-up, signal handling, bounded shutdown.
#include "runtime/server.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <thread>
#include <tuple>

#include "engine/memory_limit.h"
#include "kernel/drivers/log/log_driver.h"
#include "runtime/cli.h"
#include "runtime/launcher.h"
#include "runtime/log_uri.h"
#include "util/log.h"

namespace selium::runtime {

namespace asio = boost::asio;

namespace {

// How long an exit that cannot wait (a second signal, a shutdown past its timeout) still lets the
// log output drain; also the least a graceful shutdown leaves it.
constexpr std::chrono::milliseconds kExitFlushBound{500};

std::string signalName(int signo) {
  const char* abbrev = sigabbrev_np(signo);
  return abbrev ? std::string("SIG") + abbrev : std::to_string(signo);
}

// The runtime's fields come first; the log driver has already renamed a guest's own field of the
// same name (kernel::kRuntimeFieldKeys), so none of them can be shadowed.
void printGuestRecord(const kernel::Process& process, const kernel::GuestLogRecord& record) {
  std::string target = kernel::guestPrintTarget(record.target);
  if (!log::enabled(target, record.level)) return;
  std::vector<log::Field> fields;
  fields.reserve(record.fields.size() + 3);
  fields.emplace_back("pid", process.id());
  fields.emplace_back("module", process.module());
  if (!record.target.empty()) fields.emplace_back("guest_target", record.target);
  fields.insert(fields.end(), record.fields.begin(), record.fields.end());
  // Attributed to the process, which is held to its own share of the log output queue.
  log::writeFrom(process.id(), record.level, target, record.message, fields);
}

void logExit(const engine::ProcessExit& exit) {
  using engine::ExitReason;
  log::Level level = log::Level::Info;
  if (exit.reason == ExitReason::Error) level = log::Level::Warn;
  if (exit.reason == ExitReason::Trap || exit.reason == ExitReason::Failed)
    level = log::Level::Error;
  log::write(level, log::kRuntimeTarget, "process exited",
             {{"pid", exit.pid},
              {"module", exit.module},
              {"reason", engine::exitReasonName(exit.reason)},
              {"status", exit.status},
              {"detail", exit.message}});
}

std::optional<std::vector<uint8_t>> readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), {});
}

}  // namespace

engine::EngineOptions runtimeEngineOptions(const ServerOptions& server) {
  engine::EngineOptions options;
  options.workers = server.workers;
  options.max_memory_pages = static_cast<uint32_t>(server.max_memory / engine::kWasmPageBytes);
  options.max_table_elements = server.max_table_elements;
  options.max_slice = server.max_slice;
  options.max_processes = server.max_processes;
  options.compile_cache_dir = server.compile_cache_dir;
  options.log_sink = printGuestRecord;
  options.on_exit = logExit;
  // Logged on the worker, before the process runs any code that could log.
  options.on_start = [](kernel::Process& process) {
    log::info("process started", {{"pid", process.id()},
                                  {"module", process.module()},
                                  {"entrypoint", process.entrypoint()}});
  };
  return options;
}

std::optional<std::vector<uint8_t>> readModuleFile(const std::filesystem::path& file) {
  return readFile(file);
}

std::optional<std::vector<engine::SpawnRequest>> prepareModules(
    engine::Engine& engine, const std::vector<ModuleToStart>& modules,
    const ModuleFileReader& read) {
  // Thousands of specs may name one module: each distinct file is read once, and each distinct
  // (file, label, memory and table limits) loaded once; its specs share the Module. The bytes of
  // every distinct file are held until all are loaded.
  using Bytes = std::optional<std::vector<uint8_t>>;
  using Loaded = Result<std::shared_ptr<const engine::Module>>;
  using LoadKey = std::tuple<std::filesystem::path, std::string, std::optional<uint32_t>,
                             std::optional<uint32_t>>;
  std::map<std::filesystem::path, Bytes> files;
  std::map<LoadKey, Loaded> loaded;

  std::vector<engine::SpawnRequest> requests;
  requests.reserve(modules.size());
  std::size_t problems = 0;
  for (const ModuleToStart& m : modules) {
    auto report = [&](const std::string& message) {
      ++problems;
      log::error("module cannot start", {{"spec", static_cast<uint64_t>(m.spec.number)},
                                         {"module", m.spec.path},
                                         {"error", message}});
    };
    std::optional<uint32_t> pages;
    if (m.spec.max_memory)
      pages = static_cast<uint32_t>(*m.spec.max_memory / engine::kWasmPageBytes);
    LoadKey key{m.file, m.spec.path, pages, m.spec.max_table_elements};
    auto found = loaded.find(key);
    if (found == loaded.end()) {
      auto file = files.find(m.file);
      if (file == files.end()) file = files.emplace(m.file, read(m.file)).first;
      Loaded module =
          file->second ? engine.load(*file->second, m.spec.path, pages, m.spec.max_table_elements)
                       : Loaded(Error{"cannot read " + m.file.string()});
      found = loaded.emplace(std::move(key), std::move(module)).first;
    }
    if (!found->second) {
      report(found->second.error().message);
      continue;
    }
    engine::SpawnRequest request;
    request.module = *found->second;
    request.entrypoint = m.spec.entrypoint;
    request.args = m.spec.args;
    request.capabilities = m.spec.capabilities;
    request.log_uri = m.spec.log_uri;
    request.env = m.spec.env;
    if (auto ok = engine.check(request); !ok) {
      report(ok.error().message);
      continue;
    }
    requests.push_back(std::move(request));
  }
  if (problems > 0) return std::nullopt;
  return requests;
}

Server::Server(WorkDir work_dir, std::vector<ModuleToStart> modules, ServerOptions options)
    : work_dir_(std::move(work_dir)), modules_(std::move(modules)), options_(options) {}

int Server::run() {
  asio::io_context io;
  // Signals are caught before anything starts, so a signal during start-up is not lost.
  asio::signal_set signals(io, SIGINT, SIGTERM);
  // Guests start children through the launcher; it outlives the engine, and is closed before
  // the engine shuts down so no start races the shutdown.
  ChildLauncher launcher({work_dir_.modules});
  engine::EngineOptions engine_options = runtimeEngineOptions(options_);
  engine_options.launcher = &launcher;
  engine_options.network.certs_dir = work_dir_.certs;
  // log_uri: published in Atlas as each process starts, or once Atlas registers. Outlives the
  // engine, whose registry calls it.
  LogUriPublisher publisher;
  engine_options.on_start = [&publisher, logged = engine_options.on_start](kernel::Process& p) {
    if (logged) logged(p);
    publisher.publish(p);
  };
  engine::Engine engine(std::move(engine_options));
  engine.registry().onSingleton([&publisher](const kernel::Registry::SingletonId& id,
                                             const std::shared_ptr<kernel::Shareable>& object) {
    publisher.registered(id, object);
  });
  launcher.setEngine(&engine);
  int exit_code = kExitOk;
  bool shutting_down = false;
  // --shutdown-timeout bounds stopping the processes and writing out the log together.
  auto stop_deadline = std::chrono::steady_clock::now() + options_.shutdown_timeout;
  std::thread stopper;
  std::thread starter;

  // Stopping blocks until the workers finish: it runs off the loop so a second signal is heard.
  // Nothing on this path waits on the log output: log::write only queues.
  auto beginShutdown = [&](int code) {
    shutting_down = true;
    exit_code = code;
    stop_deadline = std::chrono::steady_clock::now() + options_.shutdown_timeout;
    stopper = std::thread([&] {
      launcher.close();
      bool clean = engine.shutdown(options_.shutdown_timeout);
      if (clean) {
        if (exit_code == kExitOk) log::info("runtime stopped");
        // The log drains while the loop still runs, so a second signal cuts the wait short.
        log::flush(std::max(stop_deadline, std::chrono::steady_clock::now() + kExitFlushBound));
      }
      asio::post(io, [&, clean] {
        if (!clean) {
          // A worker did not finish: joining it could hang, so leave without unwinding.
          log::error("graceful shutdown did not finish in time; exiting",
                     {{"timeout_ms", static_cast<int64_t>(options_.shutdown_timeout.count())}});
          log::shutdown(std::chrono::steady_clock::now() + kExitFlushBound);
          std::_Exit(kExitRuntimeError);
        }
        signals.cancel();
        io.stop();
      });
    });
  };

  std::function<void(const boost::system::error_code&, int)> onSignal =
      [&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        if (shutting_down) {
          log::warn("second signal during shutdown; exiting now", {{"signal", signalName(signo)}});
          // What is queued gets a short bound; whatever is left is counted on stderr.
          log::shutdown(std::chrono::steady_clock::now() + kExitFlushBound);
          std::_Exit(128 + signo);
        }
        log::info("shutdown requested; stopping processes",
                  {{"signal", signalName(signo)},
                   {"processes", static_cast<uint64_t>(engine.liveProcesses())},
                   {"timeout_ms", static_cast<int64_t>(options_.shutdown_timeout.count())}});
        signals.async_wait(onSignal);
        beginShutdown(exit_code);
      };
  signals.async_wait(onSignal);

  // Modules start in spec order on their own thread: waiting for one to instantiate must not
  // keep the loop from hearing signals. Every process is placed first and their starts awaited
  // afterwards, in spec order, so the workers instantiate side by side instead of one
  // cross-thread round trip per spec. The first failure in spec order stops start-up as before;
  // processes of later specs, already placed, are stopped by the shutdown that follows.
  starter = std::thread([&] {
    auto requests = prepareModules(engine, modules_);
    bool ok = requests.has_value();
    std::vector<engine::Spawned> placed;
    if (ok) {
      placed.reserve(requests->size());
      for (const engine::SpawnRequest& request : *requests) {
        auto spawned = engine.spawn(request);
        // Refused (the process limit, say): the rest are spawned one at a time below, each after
        // every earlier one has started, as all were before processes were placed ahead.
        if (!spawned) break;
        placed.push_back(std::move(*spawned));
      }
    }
    for (std::size_t i = 0; ok && i < requests->size(); ++i) {
      const ModuleSpec& spec = modules_[i].spec;
      Result<engine::Spawned> spawned = i < placed.size()
                                            ? Result<engine::Spawned>(std::move(placed[i]))
                                            : engine.spawn((*requests)[i]);
      Status started = spawned ? spawned->started.get() : Status(spawned.error());
      if (!started) {
        log::error("module failed to start; stopping",
                   {{"spec", static_cast<uint64_t>(spec.number)},
                    {"module", spec.path},
                    {"error", started.error().message}});
        ok = false;
        break;
      }
    }
    asio::post(io, [&, ok] {
      if (shutting_down) return;
      if (!ok) {
        log::error("start-up failed; stopping");
        beginShutdown(kExitRuntimeError);
        return;
      }
      log::info("runtime ready", {{"work_dir", work_dir_.root.string()},
                                  {"modules", static_cast<uint64_t>(modules_.size())},
                                  {"workers", static_cast<uint64_t>(engine.workerCount())},
                                  {"max_processes", static_cast<uint64_t>(engine.maxProcesses())},
                                  {"pid", static_cast<int64_t>(::getpid())}});
    });
  });

  io.run();
  if (starter.joinable()) starter.join();
  if (stopper.joinable()) stopper.join();
  // Already flushed above, within the same bound: this only stops the output.
  log::shutdown(std::max(stop_deadline, std::chrono::steady_clock::now() + kExitFlushBound));
  return exit_code;
}

}  // namespace selium::runtime
