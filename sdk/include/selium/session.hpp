// Sessions (capability SessionLifecycle): sets of entitlements — a capability on any resource, or
// on some resource ids (process ids for ProcessLifecycle) — that only ever narrow what they are
// made from. A control plane gives each client a session and starts, stops and lists processes
// through it (docs/processes.md, "Sessions").
//
//   auto session = selium::SessionBuilder()
//                      .entitle(SELIUM_CAP_ProcessLifecycle)        // start; manage what it starts
//                      .entitleAny(SELIUM_CAP_ChannelReader)        // may grant ChannelReader
//                      .create();                                   // within this process's own
//   auto child = session->start(selium::ProcessBuilder("worker.wasm"));
#pragma once

#include <cstdint>
#include <vector>

#include "selium/channel.hpp"
#include "selium/child.hpp"
#include "selium/result.hpp"

namespace selium {

class Session {
 public:
  // Whether the session (and every one it was made from) entitles `capability` on `resource`
  // (nullopt: on any resource).
  bool covers(selium_capability_t capability, std::optional<uint64_t> resource = {}) const;
  // Adds an entitlement the session it was made from covers (nullopt: any resource).
  Result<void> grant(selium_capability_t capability, std::optional<uint64_t> resource = {});
  // Removes one resource, or (nullopt) the whole capability.
  Result<void> revoke(selium_capability_t capability, std::optional<uint64_t> resource = {});
  // Starts a process within the session: it must entitle ProcessLifecycle, and every capability
  // granted to the child on any resource. The child joins the session's processes.
  Result<ChildProcess> start(const ProcessBuilder& builder) const;
  // A handle on process `pid`, if the session's ProcessLifecycle covers it.
  Result<ChildProcess> attach(int64_t pid) const;
  // The running processes the session's ProcessLifecycle covers.
  Result<std::vector<ProcessInfo>> list() const;
  const Handle& handle() const noexcept { return handle_; }

 private:
  friend class SessionBuilder;
  explicit Session(Handle handle) noexcept : handle_(std::move(handle)) {}
  Handle handle_;
};

class SessionBuilder {
 public:
  // `capability` on no resource yet (grant resources later; for ProcessLifecycle: the session
  // may start processes and manage those it started).
  SessionBuilder& entitle(selium_capability_t capability);
  // `capability` on any resource.
  SessionBuilder& entitleAny(selium_capability_t capability);
  // `capability` on these resources.
  SessionBuilder& entitle(selium_capability_t capability, std::vector<uint64_t> resources);
  // The FlatBuffers SessionRequest this builder describes (schemas/process.fbs).
  std::vector<uint8_t> request() const;
  // A session within this process's own capabilities (parent nullptr) or within `parent`.
  // PermissionDenied if it would widen them (lastError() names the entitlement).
  Result<Session> create(const Session* parent = nullptr) const;

 private:
  struct Entry {
    selium_capability_t capability;
    bool any;
    std::vector<uint64_t> resources;
  };
  std::vector<Entry> entries_;
};

}  // namespace selium
