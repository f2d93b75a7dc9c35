// Sessions: entitlements checked along the chain of sessions they come from.
#include "kernel/session.h"

#include <algorithm>
#include <utility>

namespace selium::kernel {

Session::Session(CapabilitySet authority) : authority_(std::move(authority)) {}

Session::Session(std::shared_ptr<Session> parent) : parent_(std::move(parent)) {}

bool Session::above(Capability capability, std::optional<uint64_t> resource) const {
  if (parent_ != nullptr) return parent_->covers(capability, resource);
  return authority_->contains(capability);
}

bool Session::coversHere(Capability capability, std::optional<uint64_t> resource) const {
  auto it = entitlements_.find(capability);
  if (it != entitlements_.end()) {
    if (it->second.any) return true;
    if (resource && it->second.resources.count(*resource) != 0) return true;
  }
  if (capability == Capability::ProcessLifecycle && resource) {
    for (const auto& weak : started_) {
      auto child = weak.lock();
      if (child != nullptr && child->pid() == resource) return true;
    }
  }
  return false;
}

bool Session::covers(Capability capability, std::optional<uint64_t> resource) const {
  // addStarted put each child started through a session into every session above it too, so a
  // chain that started a process covers it at every level.
  return coversHere(capability, resource) && above(capability, resource);
}

bool Session::entitles(Capability capability) const {
  if (entitlements_.count(capability) == 0) return false;
  if (parent_ == nullptr) return authority_->contains(capability);
  return parent_->entitles(capability);
}

std::optional<std::string> Session::grant(Capability capability, std::optional<uint64_t> resource) {
  std::string what = std::string(capabilityName(capability)) +
                     (resource ? " on resource " + std::to_string(*resource) : " on any resource");
  if (!above(capability, resource)) return what + " is not covered by " + source();
  Scope& scope = entitlements_[capability];
  if (!resource) {
    scope.any = true;
    resources_ -= scope.resources.size();
    scope.resources.clear();
    return std::nullopt;
  }
  if (scope.any || scope.resources.count(*resource) != 0) return std::nullopt;
  if (resources_ >= kMaxResources) {
    return what + ": the session already holds " + std::to_string(kMaxResources) +
           " resources, the limit";
  }
  scope.resources.insert(*resource);
  ++resources_;
  return std::nullopt;
}

std::string Session::source() const {
  return (parent_ != nullptr ? "the session this one was made from"
                             : "this process's capabilities") +
         std::string(": a session can only narrow");
}

std::optional<std::string> Session::admit(Capability capability) {
  bool held = parent_ != nullptr ? parent_->entitles(capability) : authority_->contains(capability);
  if (!held) return std::string(capabilityName(capability)) + " is not held by " + source();
  entitlements_.try_emplace(capability);
  return std::nullopt;
}

std::optional<std::string> Session::revoke(Capability capability,
                                           std::optional<uint64_t> resource) {
  if (!resource) {
    if (auto it = entitlements_.find(capability); it != entitlements_.end()) {
      resources_ -= it->second.resources.size();
      entitlements_.erase(it);
    }
    if (capability == Capability::ProcessLifecycle) started_.clear();
    return std::nullopt;
  }
  auto it = entitlements_.find(capability);
  if (it != entitlements_.end()) {
    if (it->second.any) {
      return std::string(capabilityName(capability)) +
             " is entitled on any resource here: revoke the capability, then grant the "
             "resources to keep";
    }
    resources_ -= it->second.resources.erase(*resource);
  }
  if (capability == Capability::ProcessLifecycle) {
    std::erase_if(started_, [&](const std::weak_ptr<ChildState>& weak) {
      auto child = weak.lock();
      return child == nullptr || child->pid() == resource;
    });
  }
  return std::nullopt;
}

void Session::addStarted(const std::shared_ptr<ChildState>& child) {
  for (Session* session = this; session != nullptr; session = session->parent_.get()) {
    std::erase_if(session->started_, [](const std::weak_ptr<ChildState>& weak) {
      auto state = weak.lock();
      return state == nullptr || state->exit().has_value();
    });
    session->started_.push_back(child);
  }
}

}  // namespace selium::kernel
