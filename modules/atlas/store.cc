// The Atlas rules: upsert by the owner only, exact get and remove, lookup by containment in
// URI text order with each id once. Limits bound the whole table, each owner and each reply.
#include "store.h"

#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "selium/abi/errors.h"

namespace selium::atlas {
namespace {

Message reply(const Message& request, MessageKind kind) {
  Message m;
  m.requestId = request.requestId;
  m.kind = kind;
  return m;
}

std::string pid(uint64_t owner) { return "process " + std::to_string(owner); }

}  // namespace

Message Store::handle(const Message& request, uint64_t requester) {
  switch (request.kind) {
    case MessageKind::Insert:
      return insert(request, requester);
    case MessageKind::Get:
      return get(request);
    case MessageKind::Remove:
      return remove(request, requester);
    case MessageKind::Lookup:
      return lookup(request);
    default:
      return errorReply(request.requestId, SELIUM_ERR_InvalidArgument,
                        std::string(kindName(request.kind)) + " is not a request");
  }
}

Message Store::insert(const Message& request, uint64_t requester) {
  std::string key = request.uri->toString();
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    if (it->second.owner != requester) {
      return errorReply(request.requestId, SELIUM_ERR_PermissionDenied,
                        key + " is registered by " + pid(it->second.owner) +
                            ": only that process may replace it while it runs");
    }
    it->second.id = request.id;
    return reply(request, MessageKind::Ok);
  }
  if (entries_.size() >= limits_.max_entries) {
    return errorReply(request.requestId, SELIUM_ERR_LimitExceeded,
                      "the Atlas holds " + std::to_string(entries_.size()) +
                          " entries, its limit: " + key + " not inserted");
  }
  if (!owned_.contains(requester) && owned_.size() >= limits_.max_owners) {
    return errorReply(request.requestId, SELIUM_ERR_LimitExceeded,
                      "the Atlas holds entries of " + std::to_string(owned_.size()) +
                          " processes, its limit: " + key + " not inserted");
  }
  std::size_t& owned = owned_[requester];
  if (owned >= limits_.max_entries_per_owner) {
    return errorReply(request.requestId, SELIUM_ERR_LimitExceeded,
                      pid(requester) + " owns " + std::to_string(owned) +
                          " entries, the most one process may: " + key + " not inserted");
  }
  entries_.emplace(std::move(key), Entry{*request.uri, request.id, requester});
  ++owned;
  return reply(request, MessageKind::Ok);
}

Message Store::get(const Message& request) const {
  Message m = reply(request, MessageKind::GetResponse);
  auto it = entries_.find(request.uri->toString());
  if (it != entries_.end()) {
    m.found = true;
    m.id = it->second.id;
  }
  return m;
}

Message Store::remove(const Message& request, uint64_t requester) {
  Message m = reply(request, MessageKind::RemoveResponse);
  std::string key = request.uri->toString();
  auto it = entries_.find(key);
  if (it == entries_.end()) return m;
  if (it->second.owner != requester) {
    return errorReply(request.requestId, SELIUM_ERR_PermissionDenied,
                      key + " is registered by " + pid(it->second.owner) +
                          ": only that process may remove it while it runs");
  }
  m.found = true;
  m.id = it->second.id;
  auto owned = owned_.find(requester);
  if (owned != owned_.end() && --owned->second == 0) owned_.erase(owned);
  entries_.erase(it);
  return m;
}

Message Store::lookup(const Message& request) const {
  UriResult pattern = Uri::parse(request.pattern);
  if (!pattern) {
    return errorReply(request.requestId, SELIUM_ERR_InvalidArgument,
                      "uri error: " + pattern.error().text());
  }
  Message m = reply(request, MessageKind::LookupResponse);
  // Every entry of the tenant has a key starting "sel://<tenant>": scan only those.
  std::string prefix = "sel://" + pattern->tenant();
  std::unordered_set<uint64_t> seen;
  for (auto it = entries_.lower_bound(prefix);
       it != entries_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    if (!pattern->contains(it->second.uri)) continue;
    if (!seen.insert(it->second.id).second) continue;
    if (m.ids.size() == limits_.max_lookup_ids) {
      return errorReply(request.requestId, SELIUM_ERR_TooLarge,
                        pattern->toString() + " matches more than " +
                            std::to_string(limits_.max_lookup_ids) +
                            " distinct ids, the most one lookup returns: narrow the pattern");
    }
    m.ids.push_back(it->second.id);
  }
  return m;
}

std::size_t Store::removeOwner(uint64_t owner) {
  std::size_t removed =
      std::erase_if(entries_, [owner](const auto& entry) { return entry.second.owner == owner; });
  owned_.erase(owner);
  return removed;
}

std::size_t Store::countOf(uint64_t owner) const noexcept {
  auto it = owned_.find(owner);
  return it == owned_.end() ? 0 : it->second;
}

}  // namespace selium::atlas
