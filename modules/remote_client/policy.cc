#include "policy.h"

#include "control/protocol.h"

namespace selium::remote {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits on any character of `seps`, trimming each piece.
std::vector<std::string_view> split(std::string_view s, std::string_view seps) {
  std::vector<std::string_view> out;
  for (;;) {
    const std::size_t at = s.find_first_of(seps);
    out.push_back(trim(s.substr(0, at)));
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return out;
}

}  // namespace

bool SessionRights::allows(uint32_t capability) const {
  if (all_capabilities) return true;
  for (uint32_t c : capabilities) {
    if (c == capability) return true;
  }
  return false;
}

std::optional<Policy> Policy::parse(std::string_view text, std::string& error) {
  Policy policy;
  if (trim(text).empty()) text = "*=*";
  for (std::string_view entry : split(text, "; \t\n")) {
    if (entry.empty()) continue;  // "a=*;" and ";;" are fine
    const std::size_t eq = entry.find('=');
    if (eq == std::string_view::npos) {
      error = "policy entry \"" + std::string(entry) +
              "\" has no '=': write CLIENT-NAME=GRANTS, e.g. client.localhost=*";
      return std::nullopt;
    }
    const std::string_view name = trim(entry.substr(0, eq));
    if (name.empty()) {
      error = "policy entry \"" + std::string(entry) + "\" names no client (use * for any other)";
      return std::nullopt;
    }
    for (const Entry& seen : policy.entries_) {
      if (seen.name == name) {
        error = "policy names client \"" + std::string(name) + "\" twice";
        return std::nullopt;
      }
    }
    Entry out;
    out.name = std::string(name);
    out.rights.name = out.name;
    for (std::string_view grant : split(entry.substr(eq + 1), ",+")) {
      if (grant.empty()) continue;  // "viewer=" grants nothing: it may only list its own
      if (grant == "*") {
        out.rights.all_capabilities = true;
        out.rights.all_processes = true;
      } else if (grant == "all-processes") {
        out.rights.all_processes = true;
      } else if (auto cap = control::parseCapability(grant)) {
        out.rights.capabilities.push_back(*cap);
      } else {
        error = "policy entry for \"" + out.name + "\": \"" + std::string(grant) +
                "\" is neither *, all-processes nor a capability name (e.g. ChannelReader)";
        return std::nullopt;
      }
    }
    policy.entries_.push_back(std::move(out));
  }
  if (policy.entries_.empty()) {
    error = "the policy names no client";
    return std::nullopt;
  }
  return policy;
}

std::optional<SessionRights> Policy::sessionFor(std::string_view client_name) const {
  if (client_name.empty()) return std::nullopt;
  const Entry* fallback = nullptr;
  for (const Entry& entry : entries_) {
    if (entry.name == client_name) return entry.rights;
    if (entry.name == "*") fallback = &entry;
  }
  if (fallback == nullptr) return std::nullopt;
  SessionRights rights = fallback->rights;
  rights.name = std::string(client_name);
  return rights;
}

std::string commonName(std::string_view subject) {
  // Attributes are separated by unescaped ',' (or '+' within one RDN).
  std::size_t i = 0;
  while (i < subject.size()) {
    std::size_t end = i;
    std::string value;
    bool escaped = false;
    for (; end < subject.size(); ++end) {
      const char c = subject[end];
      if (escaped) {
        value += c;
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == ',' || c == '+') {
        break;
      } else {
        value += c;
      }
    }
    std::string_view attribute = trim(value);
    if (attribute.size() > 3 && (attribute[0] == 'C' || attribute[0] == 'c') &&
        (attribute[1] == 'N' || attribute[1] == 'n') && attribute[2] == '=') {
      return std::string(trim(attribute.substr(3)));
    }
    i = end + 1;
  }
  return {};
}

}  // namespace selium::remote
