// Capability names and their accepted spellings.
#include "kernel/capability.h"

#include "util/strings.h"

namespace selium::kernel {
namespace {

struct Spellings {
  Capability capability;
  std::string_view camel;
  std::string lower;  // camel, lower-cased
  std::string snake;  // net_quic_bind
  std::string kebab;  // net-quic-bind
};

std::vector<Spellings> buildSpellings() {
  std::vector<Spellings> out;
#define SELIUM_CAPABILITY_SPELLING_(name, id) out.push_back({Capability::name, #name, {}, {}, {}});
  SELIUM_CAPABILITIES(SELIUM_CAPABILITY_SPELLING_)
#undef SELIUM_CAPABILITY_SPELLING_
  for (auto& s : out) {
    s.lower = util::toLower(s.camel);
    for (std::size_t i = 0; i < s.camel.size(); ++i) {
      char c = s.camel[i];
      bool upper = c >= 'A' && c <= 'Z';
      if (upper && i > 0) {
        s.snake += '_';
        s.kebab += '-';
      }
      char l = upper ? static_cast<char>(c - 'A' + 'a') : c;
      s.snake += l;
      s.kebab += l;
    }
  }
  return out;
}

const std::vector<Spellings>& spellings() {
  static const std::vector<Spellings> table = buildSpellings();
  return table;
}

}  // namespace

std::string_view capabilityName(Capability capability) {
  return spellings()[static_cast<std::size_t>(capability)].camel;
}

const std::array<Capability, kCapabilityCount>& allCapabilities() {
  static const auto all = [] {
    std::array<Capability, kCapabilityCount> a{};
    for (std::size_t i = 0; i < kCapabilityCount; ++i) a[i] = static_cast<Capability>(i);
    return a;
  }();
  return all;
}

std::optional<Capability> parseCapability(std::string_view text) {
  std::string lowered = util::toLower(text);
  for (const auto& s : spellings()) {
    if (lowered == s.lower || lowered == s.snake || lowered == s.kebab) return s.capability;
  }
  return std::nullopt;
}

std::optional<std::string_view> suggestCapability(std::string_view text) {
  // Names are at most 18 characters: a much longer text is no typo, and skipping it keeps the
  // quadratic distance off long inputs.
  if (text.size() > 40) return std::nullopt;
  std::string squashed;
  for (char c : text) {
    if (c != '_' && c != '-') squashed += c;
  }
  std::optional<std::string_view> best;
  std::size_t best_distance = 4;  // more than 3 edits away is not a typo
  for (const auto& s : spellings()) {
    std::size_t d = util::editDistance(squashed, s.camel);
    if (d < best_distance) best_distance = d, best = s.camel;
  }
  return best;
}

bool CapabilitySet::add(Capability capability) {
  if (contains(capability)) return false;
  bits_.set(index(capability));
  order_.push_back(capability);
  return true;
}

}  // namespace selium::kernel
