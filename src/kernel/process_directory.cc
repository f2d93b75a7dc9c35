// The directory of running processes.
#include "kernel/process_directory.h"

#include <algorithm>
#include <utility>

namespace selium::kernel {

void ProcessDirectory::add(Entry entry) {
  entry.life = std::make_shared<ChildState>();
  entry.life->started(entry.pid);
  std::lock_guard lock(mutex_);
  entry.ancestors.clear();
  if (entry.parent != 0) {
    entry.ancestors.push_back(entry.parent);
    if (auto it = entries_.find(entry.parent); it != entries_.end()) {
      const std::vector<ProcessId>& above = it->second.ancestors;
      std::size_t room = kMaxLineage - 1;
      entry.ancestors.insert(
          entry.ancestors.end(), above.begin(),
          above.begin() + static_cast<std::ptrdiff_t>(std::min(room, above.size())));
    }
  }
  entries_[entry.pid] = std::move(entry);
}

void ProcessDirectory::markStopping(ProcessId pid) {
  std::lock_guard lock(mutex_);
  if (auto it = entries_.find(pid); it != entries_.end()) it->second.stopping = true;
}

void ProcessDirectory::remove(ProcessId pid, ChildExit exit) {
  std::shared_ptr<ChildState> life;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(pid);
    if (it == entries_.end()) return;
    life = std::move(it->second.life);
    entries_.erase(it);
  }
  life->ended(std::move(exit));  // fires waiters: outside the lock
}

std::shared_ptr<ChildState> ProcessDirectory::life(ProcessId pid) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(pid);
  return it == entries_.end() ? nullptr : it->second.life;
}

bool ProcessDirectory::isDescendant(ProcessId pid, ProcessId ancestor) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(pid);
  if (it == entries_.end()) return false;
  const std::vector<ProcessId>& above = it->second.ancestors;
  return std::find(above.begin(), above.end(), ancestor) != above.end();
}

std::vector<ProcessDirectory::Entry> ProcessDirectory::list(
    const std::function<bool(const Entry&)>& visible) const {
  std::vector<Entry> out;
  std::lock_guard lock(mutex_);
  for (const auto& [pid, entry] : entries_) {
    if (visible(entry)) out.push_back(entry);
  }
  return out;
}

std::size_t ProcessDirectory::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace selium::kernel
