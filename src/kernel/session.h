// Sessions: sets of entitlements — a capability on any resource, or on a set of resource ids —
// that can only narrow what they come from. A session made from a process's own authority may
// hold only capabilities the process holds; one made from another session only what that session
// covers; and every check walks up the chain, so narrowing a session narrows every session made
// from it. The control plane gives each client one (docs/processes.md, "Sessions").
// Not thread-safe: a session belongs to the process that made it (its handles are not shareable).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kernel/capability.h"
#include "kernel/launcher.h"

namespace selium::kernel {

class Session {
 public:
  // Resource ids one session may hold, all capabilities together.
  static constexpr std::size_t kMaxResources = 65536;

  // A session within a process's own authority: each capability of `authority`, any resource.
  explicit Session(CapabilitySet authority);
  // A session within `parent`.
  explicit Session(std::shared_ptr<Session> parent);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // True if this session and every one above it entitle `capability` on `resource` (nullopt:
  // on every resource, which needs "any" all the way up).
  bool covers(Capability capability, std::optional<uint64_t> resource) const;
  // True if this session and every one above it hold some entitlement for `capability` (any
  // resource or a set, even an empty one).
  bool entitles(Capability capability) const;
  // Adds an entitlement if what this session comes from covers it; otherwise the reason.
  std::optional<std::string> grant(Capability capability, std::optional<uint64_t> resource);
  // Adds an entitlement to `capability` on no resource yet (a set to grant into) if what this
  // session comes from holds any entitlement to it; otherwise the reason.
  std::optional<std::string> admit(Capability capability);
  // Removes one resource, or (nullopt) the capability; the reason if it cannot (one resource of
  // an "any" entitlement).
  std::optional<std::string> revoke(Capability capability, std::optional<uint64_t> resource);
  // A process started through this session: covered for ProcessLifecycle here and in every
  // session above (as long as it runs, and until revoked).
  void addStarted(const std::shared_ptr<ChildState>& child);

 private:
  struct Scope {
    bool any = false;
    std::set<uint64_t> resources;
  };
  bool coversHere(Capability capability, std::optional<uint64_t> resource) const;
  bool above(Capability capability, std::optional<uint64_t> resource) const;
  std::string source() const;

  std::shared_ptr<Session> parent_;
  std::optional<CapabilitySet> authority_;  // root sessions: the process's capabilities
  std::map<Capability, Scope> entitlements_;
  std::vector<std::weak_ptr<ChildState>> started_;
  std::size_t resources_ = 0;  // in entitlements_, all capabilities together
};

}  // namespace selium::kernel
