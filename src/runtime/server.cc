// Server lifecycle on a Boost.Asio event loop: start-up, signal handling, bounded shutdown.
#include "runtime/server.h"

#include <signal.h>
#include <unistd.h>

#include <string.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdlib>

#include "runtime/cli.h"
#include "util/log.h"

namespace selium::runtime {

namespace asio = boost::asio;

Server::Server(WorkDir work_dir, std::vector<ModuleToStart> modules, ServerOptions options)
    : work_dir_(std::move(work_dir)), modules_(std::move(modules)), options_(options) {}

int Server::run() {
  asio::io_context io;
  // Signals are caught before anything starts, so a signal during start-up is not lost.
  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::steady_timer shutdown_deadline(io);
  int exit_code = kExitOk;
  bool shutting_down = false;

  auto finishShutdown = [&] {
    shutdown_deadline.cancel();
    signals.cancel();
    io.stop();
  };

  std::function<void(const boost::system::error_code&, int)> onSignal =
      [&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        if (shutting_down) {
          log::warn("second signal during shutdown; exiting now",
                    {{"signal", sigabbrev_np(signo) ? sigabbrev_np(signo) : "?"}});
          log::shutdown();
          std::_Exit(128 + signo);
        }
        shutting_down = true;
        log::info(
            "shutdown requested; stopping processes",
            {{"signal", std::string("SIG") + (sigabbrev_np(signo) ? sigabbrev_np(signo) : "?")},
             {"timeout_ms", static_cast<int64_t>(options_.shutdown_timeout.count())}});
        signals.async_wait(onSignal);
        shutdown_deadline.expires_after(options_.shutdown_timeout);
        shutdown_deadline.async_wait([&](const boost::system::error_code& timer_ec) {
          if (timer_ec) return;
          log::error("graceful shutdown did not finish in time; exiting",
                     {{"timeout_ms", static_cast<int64_t>(options_.shutdown_timeout.count())}});
          exit_code = kExitRuntimeError;
          io.stop();
        });
        // No process can be running yet: guest execution arrives with the engine. When it does,
        // shutdown stops every process and calls finishShutdown once the last one has ended.
        finishShutdown();
      };
  signals.async_wait(onSignal);

  for (const ModuleToStart& module : modules_) {
    log::warn("module validated but not started: this build has no guest engine yet",
              {{"module", module.spec.path}, {"spec", static_cast<uint64_t>(module.spec.number)}});
  }
  log::info("runtime ready", {{"work_dir", work_dir_.root.string()},
                              {"modules", static_cast<uint64_t>(modules_.size())},
                              {"pid", static_cast<int64_t>(::getpid())}});
  io.run();
  if (exit_code == kExitOk) log::info("runtime stopped");
  return exit_code;
}

}  // namespace selium::runtime
