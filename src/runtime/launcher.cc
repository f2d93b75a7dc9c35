// Child process starts, off the workers.
#include "runtime/launcher.h"

#include <selium/abi/hostcalls.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <utility>

#include "util/log.h"

namespace selium::runtime {

namespace fs = std::filesystem;

ChildLauncher::ChildLauncher(Options options) : options_(std::move(options)) {
  thread_ = std::thread([this] { run(); });
}

ChildLauncher::~ChildLauncher() { close(); }

void ChildLauncher::setEngine(engine::Engine* engine) {
  std::lock_guard lock(mutex_);
  engine_ = engine;
}

void ChildLauncher::close() {
  std::deque<Job> dropped;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    dropped.swap(queue_);
  }
  wake_.notify_all();
  for (Job& job : dropped) fail(job, "the runtime is stopping");
  // A start in progress finishes (or fails at the engine) first: after this the engine is never
  // used again, so it may be destroyed.
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  std::lock_guard lock(mutex_);
  engine_ = nullptr;
}

int32_t ChildLauncher::abiReason(engine::ExitReason reason) {
  return engine::abiExitReason(reason);
}

void ChildLauncher::launch(kernel::ProcessId parent, kernel::StartRequest request,
                           std::vector<std::shared_ptr<kernel::Shareable>> resources,
                           std::shared_ptr<kernel::ChildState> state) {
  Job job{parent, std::move(request), std::move(resources), std::move(state)};
  bool closed;
  {
    std::lock_guard lock(mutex_);
    closed = closed_;
    if (!closed && queue_.size() < options_.max_pending) {
      queue_.push_back(std::move(job));
      wake_.notify_one();
      return;
    }
  }
  fail(job, closed ? "the runtime is stopping"
                   : "too many process starts are pending (" +
                         std::to_string(options_.max_pending) + "); try again later");
}

bool ChildLauncher::stop(kernel::ProcessId pid) {
  engine::Engine* engine;
  {
    std::lock_guard lock(mutex_);
    engine = engine_;
  }
  return engine != nullptr && engine->stop(pid);
}

std::shared_ptr<kernel::Channel> ChildLauncher::logChannel(kernel::ProcessId pid) {
  engine::Engine* engine;
  {
    std::lock_guard lock(mutex_);
    engine = engine_;
  }
  return engine != nullptr ? engine->logChannel(pid) : nullptr;
}

void ChildLauncher::fail(Job& job, std::string message) {
  log::warn("child process could not start",
            {{"parent", job.parent}, {"module", job.request.module}, {"error", message}});
  job.state->ended({SELIUM_EXIT_FAILED, 0, std::move(message)});
}

void ChildLauncher::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return closed_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closed
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    start(job);
  }
}

void ChildLauncher::start(Job& job) {
  engine::Engine* engine;
  {
    std::lock_guard lock(mutex_);
    engine = engine_;
  }
  if (engine == nullptr) return fail(job, "the runtime has no engine yet");
  const std::string& path = job.request.module;
  std::string shown = "modules/" + path;  // the guest never learns the host's directories
  // Resolve under modules/: a regular file that stays inside once symlinks are followed.
  std::error_code ec;
  fs::path file = options_.modules_dir / path;
  auto status = fs::status(file, ec);
  if (!fs::exists(status)) return fail(job, "module file not found: " + shown);
  if (!fs::is_regular_file(status)) return fail(job, "not a regular file: " + shown);
  fs::path canonical = fs::canonical(file, ec);
  if (ec) return fail(job, shown + ": " + ec.message());
  auto [mismatch, unused] = std::mismatch(options_.modules_dir.begin(), options_.modules_dir.end(),
                                          canonical.begin(), canonical.end());
  if (mismatch != options_.modules_dir.end()) {
    return fail(job, shown + " resolves outside modules/");
  }
  std::ifstream in(canonical, std::ios::binary);
  if (!in) return fail(job, "cannot read " + shown);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
  auto module = engine->load(bytes, path);
  if (!module) return fail(job, module.error().message);

  engine::SpawnRequest request;
  request.module = *module;
  request.entrypoint = job.request.entrypoint;
  request.args = std::move(job.request.args);
  request.capabilities = job.request.capabilities;
  request.log_uri = job.request.log_uri;
  request.follow_logs = job.request.follow_logs;
  request.env = std::move(job.request.env);
  request.resources = std::move(job.resources);
  request.parent = job.parent;
  // The handle hears the exit however soon it comes (even before spawn returns), and learns the
  // pid first: a parent that sees the exit always sees the pid too.
  request.on_exit = [state = job.state](const engine::ProcessExit& exit) {
    (void)state->started(exit.pid);
    state->ended({abiReason(exit.reason), exit.status, exit.message});
  };
  if (auto checked = engine->check(request); !checked) return fail(job, checked.error().message);
  auto spawned = engine->spawn(std::move(request));
  if (!spawned) return fail(job, spawned.error().message);
  log::info("child process spawned",
            {{"parent", job.parent}, {"pid", spawned->pid}, {"module", path}});
  if (!job.state->started(spawned->pid)) engine->stop(spawned->pid);  // stopped while starting
}

}  // namespace selium::runtime
