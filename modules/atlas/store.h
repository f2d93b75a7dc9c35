// The Atlas directory's state and rules, without I/O: entries (sel:// URI -> u64) with their
// owners, and how each request changes them. The guest (server.cc) feeds it decoded requests;
// native tests drive it directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>

#include "selium/atlas_protocol.hpp"
#include "selium/uri.hpp"

namespace selium::atlas {

struct StoreLimits {
  std::size_t max_entries = 65536;             // entries in all
  std::size_t max_entries_per_owner = 4096;    // entries one process may own
  std::size_t max_lookup_ids = kMaxLookupIds;  // distinct ids one lookup may return
  // Processes owning entries at once: the service keeps a lifetime handle and a waiting task
  // for each, within its own handle and waiter limits (65,536 each).
  std::size_t max_owners = 8192;
};

// Entries keyed by their canonical URI text (so iteration is in URI text order). Each entry is
// owned by the process (pid) that inserted it: only the owner may replace or remove it, and
// removeOwner() drops them all when that process ends.
class Store {
 public:
  explicit Store(StoreLimits limits = {}) : limits_(limits) {}

  // The reply to a decoded request: `requester` is the pid behind the request's lifetime
  // (Insert, Remove; ignored otherwise). Every request gets one (ErrorResponse included).
  Message handle(const Message& request, uint64_t requester);

  // Drops every entry `owner` registered; returns how many.
  std::size_t removeOwner(uint64_t owner);

  std::size_t size() const noexcept { return entries_.size(); }
  std::size_t countOf(uint64_t owner) const noexcept;
  std::size_t owners() const noexcept { return owned_.size(); }

 private:
  struct Entry {
    Uri uri;
    uint64_t id;
    uint64_t owner;
  };

  Message insert(const Message& request, uint64_t requester);
  Message get(const Message& request) const;
  Message remove(const Message& request, uint64_t requester);
  Message lookup(const Message& request) const;

  StoreLimits limits_;
  std::map<std::string, Entry> entries_;
  std::unordered_map<uint64_t, std::size_t> owned_;  // pid -> entries it owns (> 0)
};

}  // namespace selium::atlas
