// Every running process of a host, as process_list, process_attach and lifetimes see it: who
// started it, what it runs, since when, and its life (a ChildState that ends when it does).
// Thread-safe: processes on every worker look it up.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kernel/capability.h"
#include "kernel/launcher.h"

namespace selium::kernel {

class ProcessDirectory {
 public:
  // How many ancestors an entry remembers (nearest first): a process deeper than this below
  // another is not its descendant for process_list / process_attach.
  static constexpr std::size_t kMaxLineage = 64;

  struct Entry {
    ProcessId pid = 0;
    ProcessId parent = 0;              // 0: started by the runtime
    std::vector<ProcessId> ancestors;  // parent first, at most kMaxLineage
    std::string module;
    std::string entrypoint;
    CapabilitySet capabilities;
    std::optional<std::string> log_uri;
    std::chrono::system_clock::time_point started_wall;
    std::chrono::steady_clock::time_point started;
    bool stopping = false;
    std::shared_ptr<ChildState> life;  // started(pid) already; ended when the process ends
  };

  ProcessDirectory() = default;
  ProcessDirectory(const ProcessDirectory&) = delete;
  ProcessDirectory& operator=(const ProcessDirectory&) = delete;

  // A process was spawned (`entry.life` and `entry.ancestors` are filled in here).
  void add(Entry entry);
  // A stop was asked for.
  void markStopping(ProcessId pid);
  // The process ended: its entry goes and its life ends with `exit`.
  void remove(ProcessId pid, ChildExit exit);

  // The life of a running process, or nullptr.
  std::shared_ptr<ChildState> life(ProcessId pid) const;
  // True if `pid` runs and `ancestor` started it, or started a process that did (up to
  // kMaxLineage levels).
  bool isDescendant(ProcessId pid, ProcessId ancestor) const;
  // Copies of the running entries `visible` accepts, ascending pid. `visible` runs under the
  // directory's lock: it must not call the directory.
  std::vector<Entry> list(const std::function<bool(const Entry&)>& visible) const;
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::map<ProcessId, Entry> entries_;
};

}  // namespace selium::kernel
