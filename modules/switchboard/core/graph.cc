// Registry and wiring rules of the Switchboard (graph.h).
#include "graph.h"

#include <algorithm>
#include <charconv>

namespace selium::switchboard {
namespace {

std::string number(uint64_t v) {
  char buf[24];
  auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  return std::string(buf, end);
}

bool producer(EndpointKind kind) {
  return kind == EndpointKind::Publisher || kind == EndpointKind::Fanout;
}

}  // namespace

FlowKind Graph::flowKind(EndpointKind producer_kind) {
  switch (producer_kind) {
    case EndpointKind::Fanout:
      return FlowKind::Share;
    case EndpointKind::Client:
      return FlowKind::Rpc;
    default:
      return FlowKind::Broadcast;
  }
}

std::string Graph::describe(EndpointId id) const {
  const EndpointSpec* spec = find(id);
  if (spec == nullptr) return "endpoint " + number(id);
  std::string out = "endpoint " + number(id) + " (" + std::string(kindName(spec->kind));
  if (!spec->name.empty()) out += " '" + spec->name + "'";
  return out + ")";
}

std::string Graph::conflictWithName(const EndpointSpec& spec) const {
  auto group = by_name_.find(spec.name);
  if (group == by_name_.end()) return {};
  for (EndpointId id : group->second) {
    const EndpointSpec& other = endpoints_.at(id).spec;
    if (rpc(other.kind) != rpc(spec.kind)) {
      return "name '" + spec.name + "' is used by " + describe(id) + ", " +
             (rpc(other.kind) ? "an RPC endpoint" : "a publish/subscribe endpoint") + "; a " +
             std::string(kindName(spec.kind)) + " cannot share it";
    }
    if (other.schema != spec.schema) {
      return "schema mismatch under name '" + spec.name + "': " + describe(id) + " has " +
             (rpc(spec.kind) ? "request schema " : "schema ") + schemaHex(other.schema) +
             ", this " + std::string(kindName(spec.kind)) + " has " + schemaHex(spec.schema);
    }
    if (rpc(spec.kind) && other.reply_schema != spec.reply_schema) {
      return "schema mismatch under name '" + spec.name + "': " + describe(id) +
             " has reply schema " + schemaHex(other.reply_schema) + ", this " +
             std::string(kindName(spec.kind)) + " has " + schemaHex(spec.reply_schema);
    }
    if (spec.kind == EndpointKind::Server && other.kind == EndpointKind::Server) {
      return "name '" + spec.name + "' already has a server: " + describe(id) +
             "; a name has at most one server";
    }
  }
  return {};
}

std::string Graph::overLimit(const std::set<EndpointId>& ids) const {
  for (EndpointId id : ids) {
    if (find(id) == nullptr) continue;
    Wires wires = wiresOf(id);
    std::size_t most = std::max(wires.inbound.size(), wires.outbound.size());
    if (most > limits_.max_links) {
      return describe(id) + " would have " + number(most) + " peers; an endpoint takes at most " +
             number(limits_.max_links);
    }
  }
  return {};
}

EndpointId Graph::add(const EndpointSpec& spec, std::string& error) {
  error.clear();
  if (endpoints_.size() >= limits_.max_endpoints) {
    error = "the switchboard holds " + number(endpoints_.size()) +
            " endpoints, the most it takes; unregister some first";
    return 0;
  }
  if (spec.name.size() > kMaxNameBytes) {
    error = "endpoint name is " + number(spec.name.size()) + " bytes; at most " +
            number(kMaxNameBytes) + " are allowed";
    return 0;
  }
  if (!spec.name.empty()) {
    error = conflictWithName(spec);
    if (!error.empty()) return 0;
  }
  EndpointId id = next_id_++;
  endpoints_.emplace(id, Entry{spec});
  if (!spec.name.empty()) by_name_[spec.name].insert(id);
  error = overLimit(neighbourhood(id));
  if (!error.empty()) {
    remove(id);
    return 0;
  }
  return id;
}

bool Graph::remove(EndpointId id) {
  auto it = endpoints_.find(id);
  if (it == endpoints_.end()) return false;
  if (!it->second.spec.name.empty()) {
    auto group = by_name_.find(it->second.spec.name);
    group->second.erase(id);
    if (group->second.empty()) by_name_.erase(group);
  }
  auto unlink = [this](std::map<EndpointId, std::set<EndpointId>>& near,
                       std::map<EndpointId, std::set<EndpointId>>& far, EndpointId id) {
    auto mine = near.find(id);
    if (mine == near.end()) return;
    for (EndpointId peer : mine->second) {
      auto theirs = far.find(peer);
      theirs->second.erase(id);
      if (theirs->second.empty()) far.erase(theirs);
      --intents_;
    }
    near.erase(mine);
  };
  unlink(intents_from_, intents_to_, id);
  unlink(intents_to_, intents_from_, id);
  endpoints_.erase(it);
  return true;
}

std::string Graph::connect(EndpointId from, EndpointId to) {
  const EndpointSpec* a = find(from);
  const EndpointSpec* b = find(to);
  if (a == nullptr || b == nullptr) {
    return "connect " + number(from) + " -> " + number(to) + ": no endpoint " +
           number(a == nullptr ? from : to);
  }
  // A Client and a Server connect in either order; store them as client -> server.
  if (a->kind == EndpointKind::Server && b->kind == EndpointKind::Client) {
    std::swap(from, to);
    std::swap(a, b);
  }
  bool pubsub = producer(a->kind) && b->kind == EndpointKind::Subscriber;
  bool rpc_pair = a->kind == EndpointKind::Client && b->kind == EndpointKind::Server;
  if (!pubsub && !rpc_pair) {
    return "cannot connect " + describe(from) + " to " + describe(to) +
           ": only a publisher or fanout to a subscriber, or a client and a server";
  }
  if (a->schema != b->schema || (rpc_pair && a->reply_schema != b->reply_schema)) {
    bool request = a->schema != b->schema;
    return "cannot connect " + describe(from) + " to " + describe(to) + ": " +
           (rpc_pair ? (request ? "request schema " : "reply schema ") : "schema ") +
           schemaHex(request ? a->schema : a->reply_schema) + " does not match " +
           schemaHex(request ? b->schema : b->reply_schema);
  }
  auto existing = intents_from_.find(from);
  if (existing != intents_from_.end() && existing->second.count(to) != 0) return {};
  if (rpc_pair && existing != intents_from_.end() && !existing->second.empty()) {
    return "cannot connect " + describe(from) + " to " + describe(to) + ": it is connected to " +
           describe(*existing->second.begin()) + " already (a client has one server)";
  }
  if (intents_ >= limits_.max_intents) {
    return "the switchboard holds " + number(intents_) + " explicit connects, the most it takes";
  }
  intents_from_[from].insert(to);
  intents_to_[to].insert(from);
  ++intents_;
  std::set<EndpointId> touched = neighbourhood(from);
  touched.merge(neighbourhood(to));
  std::string error = overLimit(touched);
  if (!error.empty()) {
    intents_from_[from].erase(to);
    if (intents_from_[from].empty()) intents_from_.erase(from);
    intents_to_[to].erase(from);
    if (intents_to_[to].empty()) intents_to_.erase(to);
    --intents_;
  }
  return error;
}

const EndpointSpec* Graph::find(EndpointId id) const {
  auto it = endpoints_.find(id);
  return it == endpoints_.end() ? nullptr : &it->second.spec;
}

std::vector<EndpointId> Graph::ids() const {
  std::vector<EndpointId> out;
  out.reserve(endpoints_.size());
  for (const auto& [id, entry] : endpoints_) out.push_back(id);
  return out;
}

std::set<EndpointId> Graph::neighbourhood(EndpointId id) const {
  std::set<EndpointId> out{id};
  const EndpointSpec* spec = find(id);
  if (spec != nullptr && !spec->name.empty()) {
    auto group = by_name_.find(spec->name);
    if (group != by_name_.end()) out.insert(group->second.begin(), group->second.end());
  }
  for (const auto* index : {&intents_from_, &intents_to_}) {
    auto peers = index->find(id);
    if (peers != index->end()) out.insert(peers->second.begin(), peers->second.end());
  }
  // A Client named like a Server is wired to it through the name: already in the name group.
  return out;
}

EndpointId Graph::serverOf(EndpointId client) const {
  const EndpointSpec* spec = find(client);
  if (spec == nullptr || spec->kind != EndpointKind::Client) return 0;
  auto explicit_server = intents_from_.find(client);
  if (explicit_server != intents_from_.end() && !explicit_server->second.empty()) {
    return *explicit_server->second.begin();
  }
  if (spec->name.empty()) return 0;
  auto group = by_name_.find(spec->name);
  if (group == by_name_.end()) return 0;
  for (EndpointId id : group->second) {
    if (endpoints_.at(id).spec.kind == EndpointKind::Server) return id;
  }
  return 0;
}

Wires Graph::wiresOf(EndpointId id) const {
  Wires wires;
  const EndpointSpec* spec = find(id);
  if (spec == nullptr) return wires;
  std::set<EndpointId> peers;
  auto named = [&](auto&& pick) {
    if (spec->name.empty()) return;
    auto group = by_name_.find(spec->name);
    if (group == by_name_.end()) return;
    for (EndpointId other : group->second) {
      if (other != id && pick(endpoints_.at(other).spec)) peers.insert(other);
    }
  };
  auto explicit_peers = [&](const std::map<EndpointId, std::set<EndpointId>>& index) {
    auto found = index.find(id);
    if (found != index.end()) peers.insert(found->second.begin(), found->second.end());
  };
  switch (spec->kind) {
    case EndpointKind::Publisher:
    case EndpointKind::Fanout:
      named([](const EndpointSpec& s) { return s.kind == EndpointKind::Subscriber; });
      explicit_peers(intents_from_);
      wires.outbound.assign(peers.begin(), peers.end());
      break;
    case EndpointKind::Subscriber:
      named([](const EndpointSpec& s) { return producer(s.kind); });
      explicit_peers(intents_to_);
      wires.inbound.assign(peers.begin(), peers.end());
      break;
    case EndpointKind::Client:
      if (EndpointId server = serverOf(id); server != 0) wires.outbound.push_back(server);
      break;
    case EndpointKind::Server: {
      // Clients of this name without an explicit server elsewhere, and clients connected here.
      named([&](const EndpointSpec& s) { return s.kind == EndpointKind::Client; });
      std::erase_if(peers, [&](EndpointId client) { return serverOf(client) != id; });
      explicit_peers(intents_to_);
      wires.outbound.assign(peers.begin(), peers.end());
      break;
    }
  }
  return wires;
}

}  // namespace selium::switchboard
