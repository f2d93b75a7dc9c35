// Capabilities a process holds: the C++ view of include/selium/abi/capabilities.h.
#pragma once

#include <selium/abi/capabilities.h>

#include <array>
#include <bitset>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace selium::kernel {

enum class Capability : selium_capability_t {
#define SELIUM_CAPABILITY_CXX_(name, id) name = id,
  SELIUM_CAPABILITIES(SELIUM_CAPABILITY_CXX_)
#undef SELIUM_CAPABILITY_CXX_
};

inline constexpr std::size_t kCapabilityCount = SELIUM_CAPABILITY_COUNT;

// Canonical CamelCase name, e.g. "NetQuicBind".
std::string_view capabilityName(Capability capability);

// All capabilities in id order.
const std::array<Capability, kCapabilityCount>& allCapabilities();

// Accepts the CamelCase name in any letter case, snake_case and kebab-case
// ("NetQuicBind", "NETQUICBIND", "net_quic_bind", "net-quic-bind").
std::optional<Capability> parseCapability(std::string_view text);

// The closest capability name to an unknown `text`, if one is near enough to be a likely typo.
std::optional<std::string_view> suggestCapability(std::string_view text);

// A set of capabilities that remembers the order they were first added in (for messages).
class CapabilitySet {
 public:
  // Adds `capability`; returns false if it was already present.
  bool add(Capability capability);
  bool contains(Capability capability) const { return bits_.test(index(capability)); }
  bool empty() const { return order_.empty(); }
  std::size_t size() const { return order_.size(); }
  const std::vector<Capability>& inOrder() const { return order_; }
  // True when every capability of this set is also in `other`.
  bool isSubsetOf(const CapabilitySet& other) const { return (bits_ & ~other.bits_).none(); }

  friend bool operator==(const CapabilitySet& a, const CapabilitySet& b) {
    return a.bits_ == b.bits_;
  }

 private:
  static std::size_t index(Capability c) { return static_cast<std::size_t>(c); }
  std::bitset<kCapabilityCount> bits_;
  std::vector<Capability> order_;
};

}  // namespace selium::kernel
