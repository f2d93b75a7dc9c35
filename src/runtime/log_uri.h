// log_uri: a process started with one has its log stream published in Atlas under that URI, when
// Atlas runs (a no-op otherwise). The host does it, so every guest gets it without a capability:
// the entry names a shared reader of the process's log stream (each attach gives a new weak
// reader, never a writer) and carries the process's lifetime, so Atlas removes it when the
// process ends. A process that starts before Atlas has registered is published when it does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kernel/process.h"
#include "kernel/registry.h"

namespace selium::runtime {

class LogUriPublisher {
 public:
  // Publications kept while Atlas is not running; past it those of processes that have ended
  // are dropped, then the oldest (logged).
  static constexpr std::size_t kMaxPending = 4096;

  explicit LogUriPublisher(std::size_t max_pending = kMaxPending) : max_pending_(max_pending) {}

  // EngineOptions::on_start: publishes `process`'s log stream if it has a log_uri. Never fails
  // the process: a URI Atlas would refuse, or an Atlas too busy to take it, is logged.
  void publish(kernel::Process& process);
  // Registry::onSingleton: when Atlas registers, the publications waiting for it go out.
  void registered(const kernel::Registry::SingletonId& id,
                  const std::shared_ptr<kernel::Shareable>& object);

 private:
  struct Publication {
    kernel::ProcessId pid = 0;
    std::string uri;
    std::vector<uint8_t> frame;                 // the Insert request
    std::weak_ptr<kernel::Shareable> lifetime;  // expired: the process ended, nothing to do
  };
  void send(const std::shared_ptr<kernel::Shareable>& atlas, const Publication& publication);

  const std::size_t max_pending_;
  std::mutex mutex_;
  std::deque<Publication> pending_;
};

}  // namespace selium::runtime
