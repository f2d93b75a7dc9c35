// The Switchboard's registry and wiring rules, as pure C++ (no SDK): which endpoints exist, which
// are wired to which, and why a registration or a connect is refused. The Switchboard guest turns
// the wires into channels (modules/switchboard/server.cc); native tests drive this directly.
//
// Wiring rules (docs/switchboard.md):
//   - a Subscriber is wired to every Publisher and Fanout of its name (Broadcast / Share flows),
//     and to those connected to it explicitly;
//   - a Client is wired to the Server of its name, or to the one it was explicitly connected to
//     (an explicit connect wins over the name);
//   - a name belongs to one family (publish/subscribe or RPC) and one schema (RPC: request and
//     reply schemas); a name has at most one Server. Anything else is refused with a message
//     naming both sides.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "selium/switchboard_protocol.hpp"

namespace selium::switchboard {

struct EndpointSpec {
  EndpointKind kind = EndpointKind::Publisher;
  std::string name;         // "" = wired only by explicit connect
  SchemaId schema{};        // the data schema; for RPC the request schema
  SchemaId reply_schema{};  // RPC only
};

enum class FlowKind : uint8_t {
  Broadcast,  // Publisher -> Subscriber: every subscriber gets every message
  Share,      // Fanout -> Subscriber: each message goes to exactly one subscriber
  Rpc,        // Client -> Server (replies go back on the client's own channel)
};

// One endpoint's peers, ascending ids.
//   Publisher, Fanout: outbound = its subscribers
//   Subscriber:        inbound = its publishers and fanouts
//   Server:            outbound = its clients
//   Client:            outbound = its server (at most one)
struct Wires {
  std::vector<EndpointId> inbound;
  std::vector<EndpointId> outbound;
  bool operator==(const Wires&) const = default;
};

struct GraphLimits {
  std::size_t max_endpoints = 4096;
  std::size_t max_intents = 16384;
  std::size_t max_links = kMaxLinks;  // peers of one endpoint in one direction
};

class Graph {
 public:
  explicit Graph(GraphLimits limits = {}) : limits_(limits) {}

  // Registers an endpoint: its id (ids count up from 1 and are never reused), or "" in `error`
  // replaced by why it was refused.
  EndpointId add(const EndpointSpec& spec, std::string& error);
  // Removes the endpoint and every explicit connect that names it; false if unknown.
  bool remove(EndpointId id);
  // Wires two endpoints whatever their names: Publisher/Fanout -> Subscriber, or a Client and a
  // Server in either order. "" on success (a repeated connect is fine), else why not.
  std::string connect(EndpointId from, EndpointId to);

  const EndpointSpec* find(EndpointId id) const;
  std::size_t size() const noexcept { return endpoints_.size(); }
  std::vector<EndpointId> ids() const;
  // Endpoints whose wiring may change when `id` is added, removed or connected: itself, the
  // endpoints of its name, and its explicit peers.
  std::set<EndpointId> neighbourhood(EndpointId id) const;

  Wires wiresOf(EndpointId id) const;
  // The kind of the flow from `producer` to `consumer` (Rpc: client to server).
  static FlowKind flowKind(EndpointKind producer);
  // The Server a Client is wired to (0: none).
  EndpointId serverOf(EndpointId client) const;

 private:
  struct Entry {
    EndpointSpec spec;
  };
  static bool rpc(EndpointKind kind) {
    return kind == EndpointKind::Server || kind == EndpointKind::Client;
  }
  std::string conflictWithName(const EndpointSpec& spec) const;
  std::string overLimit(const std::set<EndpointId>& ids) const;
  std::string describe(EndpointId id) const;

  GraphLimits limits_;
  EndpointId next_id_ = 1;
  std::map<EndpointId, Entry> endpoints_;
  std::map<std::string, std::set<EndpointId>> by_name_;
  // Explicit connects, both ways: (producer or client) -> (subscriber or server).
  std::map<EndpointId, std::set<EndpointId>> intents_from_;
  std::map<EndpointId, std::set<EndpointId>> intents_to_;
  std::size_t intents_ = 0;
};

}  // namespace selium::switchboard
