// The processes clients manage, through the runtime's process directory: each client name has a
// session (schemas/process.fbs, docs/processes.md "Sessions") made from its SessionRights, so
// what a client may start, see, follow and stop is what the kernel's session covers. The module
// also remembers who started each process it started ("started by") and opens its log stream
// at once, so `logs` has its records from (nearly) its start.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <selium/selium.hpp>
#include <selium/session.hpp>

#include "control/protocol.h"
#include "policy.h"

namespace selium::remote {

// At most this many running processes per client name, and sessions (client names) at once.
inline constexpr std::size_t kMaxProcessesPerClient = 256;
inline constexpr std::size_t kMaxSessions = 1024;

// A process a client started through this module.
struct ProcessEntry {
  explicit ProcessEntry(ChildProcess c) : child(std::move(c)) {}
  ChildProcess child;
  std::optional<Reader> log_keepalive;  // opened at start so the log stream exists from then
  uint64_t pid = 0;
  std::string started_by;
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

// A process a session covers, attached for stop / logs.
struct Attached {
  ChildProcess process;
  std::shared_ptr<ProcessEntry> entry;  // when a client started it through this module
};

class ProcessTable {
 public:
  // Learns which capabilities this module holds (sessions can entitle only those). False
  // without SessionLifecycle (error() says so).
  bool init(std::string& error);

  // Starts req's module for the client (its rights checked by the caller) within its session and
  // waits until it runs (its pid) or has failed to start; with req.attach, also opens a reader
  // of its logs.
  Task<Outcome<Started>> start(const SessionRights& rights, const control::StartRequest& req);
  // Process `pid` if the client's session covers it.
  Outcome<Attached> attach(uint64_t pid, const SessionRights& rights);
  // The running processes the client's session covers.
  Outcome<std::vector<control::ProcessInfo>> list(const SessionRights& rights);

 private:
  Outcome<Session*> sessionFor(const SessionRights& rights);
  Task<void> watch(std::shared_ptr<ProcessEntry> entry);

  std::vector<uint32_t> held_;                                 // capabilities this module holds
  std::map<std::string, Session> sessions_;                    // by client name
  std::map<uint64_t, std::shared_ptr<ProcessEntry>> started_;  // running, by pid
};

}  // namespace selium::remote
