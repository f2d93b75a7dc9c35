// The client of Atlas, the sel:// directory service (docs/atlas.md): maps URIs to u64 values
// (shared ids of channels, endpoint ids, ...) that other processes look up.
//
//   auto atlas = selium::Atlas::connect();             // SingletonLookup, ChannelLifecycle,
//   if (!atlas) ...                                    // ChannelReader, ChannelWriter
//   auto uri = selium::Uri::parse("sel://acme/orders.app/runner:rpc");
//   auto done = co_await atlas->insert(*uri, *channel.share());   // Result<void>
//   auto id = co_await atlas->get(*uri);                           // Result<optional<uint64_t>>
//   auto ids = co_await atlas->lookup("sel://acme/orders.app");    // Result<vector<uint64_t>>
//
// An entry belongs to the process that inserted it: only that process may replace or remove it,
// and it disappears when that process ends.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "selium/atlas_protocol.hpp"
#include "selium/channel.hpp"
#include "selium/result.hpp"
#include "selium/task.hpp"
#include "selium/uri.hpp"

namespace selium {

class Atlas {
 public:
  // Requests one client has in flight at once; more wait for a slot. Its reply channel holds
  // this many of the largest replies, so the service (which never waits for a client) never
  // finds it full.
  static constexpr std::size_t kMaxInFlight = 8;

  // Finds the running Atlas (NotFound if none runs) and opens this client's reply channel.
  static Result<Atlas> connect() noexcept;

  Atlas(Atlas&&) noexcept = default;
  Atlas& operator=(Atlas&&) noexcept;
  // Closes the reply channel; calls still waiting fail with Closed.
  ~Atlas();

  // Registers uri -> id for this process (replacing its own earlier value). PermissionDenied:
  // another live process owns the URI; LimitExceeded: the service's entry limits.
  Task<Result<void>> insert(Uri uri, uint64_t id);
  // The value of exactly this URI, if any.
  Task<Result<std::optional<uint64_t>>> get(Uri uri);
  // Removes this process's entry; its old value, or nullopt if there was none.
  // PermissionDenied: another live process owns it.
  Task<Result<std::optional<uint64_t>>> remove(Uri uri);
  // The values of every entry the pattern contains (Uri::contains), in URI text order, each
  // value once. InvalidArgument: the pattern is not a URI; TooLarge: more than
  // atlas::kMaxLookupIds values match.
  Task<Result<std::vector<uint64_t>>> lookup(std::string pattern);
  Task<Result<std::vector<uint64_t>>> lookup(const Uri& pattern) {
    return lookup(pattern.toString());
  }

  // What went wrong in this client's most recent failed call: the service's message ("atlas
  // error: sel://... is registered by process 12: ..."), or the client's own ("the Atlas
  // service (process 3) has ended").
  std::string lastError() const;

  struct State;  // shared by the client and its calls and tasks (atlas.cc)

 private:
  explicit Atlas(std::shared_ptr<State> state) noexcept : state_(std::move(state)) {}
  void close() noexcept;

  std::shared_ptr<State> state_;
};

}  // namespace selium
