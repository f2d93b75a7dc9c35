// The processes remote clients started: who started each, what it was given, and its handle
// (stop, exit, logs). Until the runtime's process directory (process_list / session_start) is
// available to this module it keeps its own children; every lookup goes through the session's
// rights, so swapping the table for the runtime's directory changes this file only.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <selium/selium.hpp>

#include "control/protocol.h"
#include "policy.h"

namespace selium::remote {

// At most this many running processes per client name.
inline constexpr std::size_t kMaxProcessesPerClient = 256;

struct ProcessEntry {
  explicit ProcessEntry(ChildProcess c) : child(std::move(c)) {}
  ChildProcess child;
  std::optional<Reader> log_keepalive;  // opened at start so the log stream exists from then
  uint64_t pid = 0;
  std::string module;
  std::string entrypoint;
  std::string started_by;
  std::string log_uri;
  std::vector<uint32_t> capabilities;
  std::chrono::nanoseconds started{0};  // monotonic
  bool stopping = false;
  bool ended = false;
  std::string exit_message;
  Event ended_event;  // set once it has ended
};

// A value or an error message for the client.
template <typename T>
struct Outcome {
  std::optional<T> value;
  std::string error;
};

struct Started {
  uint64_t pid = 0;
  std::optional<Reader> logs;  // when asked for: a reader of its logs from its start
};

class ProcessTable {
 public:
  // Starts req's module for `client` (rights already checked by the caller) and waits until it
  // runs (its pid) or has failed to start; with req.attach, also opens a reader of its logs.
  Task<Outcome<Started>> start(const std::string& client, const control::StartRequest& req);
  // The process `pid` if `rights` may see it.
  std::shared_ptr<ProcessEntry> find(uint64_t pid, const SessionRights& rights) const;
  std::vector<control::ProcessInfo> list(const SessionRights& rights) const;

 private:
  static bool visible(const ProcessEntry& entry, const SessionRights& rights);
  Task<void> watch(std::shared_ptr<ProcessEntry> entry);

  std::vector<std::shared_ptr<ProcessEntry>> entries_;  // running (and stopping) processes
};

}  // namespace selium::remote
