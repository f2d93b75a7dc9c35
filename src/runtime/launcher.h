// Starts child processes for guests (process_start): resolves the module under the work dir's
// modules/, loads it (compiled modules are shared by content), spawns it, and reports its life to
// the parent's process handle. Loading takes milliseconds, so it runs on a thread of its own,
// fed by a bounded queue; a hostcall never waits for it.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "kernel/launcher.h"

namespace selium::runtime {

class ChildLauncher final : public kernel::Launcher {
 public:
  struct Options {
    std::filesystem::path modules_dir;  // absolute and canonical
    std::size_t max_pending = 256;      // starts queued at once; more end Failed at once
  };

  explicit ChildLauncher(Options options);
  ~ChildLauncher() override;  // pending starts end Failed ("the runtime is stopping")
  ChildLauncher(const ChildLauncher&) = delete;
  ChildLauncher& operator=(const ChildLauncher&) = delete;

  // Set once, before any guest can call process_start (the engine is built with this launcher
  // in its options, so it exists after it).
  void setEngine(engine::Engine* engine);
  // Stops taking starts, ends the queued ones, and waits for one in progress: afterwards the
  // engine is not used again. Call before the engine shuts down.
  void close();

  // kernel::Launcher
  void launch(kernel::ProcessId parent, kernel::StartRequest request,
              std::vector<std::shared_ptr<kernel::Shareable>> resources,
              std::shared_ptr<kernel::ChildState> state) override;
  bool stop(kernel::ProcessId pid) override;
  std::shared_ptr<kernel::Channel> logChannel(kernel::ProcessId pid) override;

  // The SELIUM_EXIT_* reason of an engine exit reason.
  static int32_t abiReason(engine::ExitReason reason);

 private:
  struct Job {
    kernel::ProcessId parent = 0;
    kernel::StartRequest request;
    std::vector<std::shared_ptr<kernel::Shareable>> resources;
    std::shared_ptr<kernel::ChildState> state;
  };
  void run();
  void start(Job& job);
  void fail(Job& job, std::string message);

  Options options_;
  engine::Engine* engine_ = nullptr;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool closed_ = false;
  std::thread thread_;
};

}  // namespace selium::runtime
