#include "cli/args.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>

namespace selium::cli {

namespace {

using control::Arg;
using control::ArgKind;
using control::Outcome;

std::string lowerCase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

struct KindAlias {
  std::string_view name;
  ArgKind kind;
};
// Names module specs accept besides the canonical ones (control::argKindName), by kind.
constexpr KindAlias kAliases[] = {
    {"string", ArgKind::Utf8}, {"str", ArgKind::Utf8},        {"text", ArgKind::Utf8},
    {"utf-8", ArgKind::Utf8},  {"bytes", ArgKind::Buffer},    {"byte", ArgKind::Buffer},
    {"data", ArgKind::Buffer}, {"handle", ArgKind::Resource},
};

std::optional<ArgKind> kindNamed(std::string_view name) {
  for (uint8_t i = 0; i < control::kArgKindCount; ++i) {
    if (control::argKindName(static_cast<ArgKind>(i)) == name) return static_cast<ArgKind>(i);
  }
  for (const KindAlias& alias : kAliases) {
    if (alias.name == name) return alias.kind;
  }
  return std::nullopt;
}

// "i8 u8 … resource (aliases: string str text utf-8, bytes byte data, handle)".
std::string typeList() {
  std::string out;
  for (uint8_t i = 0; i < control::kArgKindCount; ++i) {
    if (i > 0) out += ' ';
    out += control::argKindName(static_cast<ArgKind>(i));
  }
  out += " (aliases:";
  for (std::size_t i = 0; i < std::size(kAliases); ++i) {
    out += i > 0 && kAliases[i].kind != kAliases[i - 1].kind ? ", " : " ";
    out += kAliases[i].name;
  }
  return out + ")";
}

std::string argName(std::size_t index) { return "argument " + std::to_string(index); }

}  // namespace

Outcome<std::vector<uint8_t>> parseHex(std::string_view text) {
  using Out = Outcome<std::vector<uint8_t>>;
  if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    text.remove_prefix(2);
  }
  std::vector<uint8_t> out;
  int high = -1;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '_') continue;
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      return Out::failure("invalid hex digit '" + std::string(1, c) + "'");
    }
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<uint8_t>(high << 4 | v));
      high = -1;
    }
  }
  if (high >= 0) return Out::failure("hex payload must have an even number of digits");
  return out;
}

Outcome<Arg> parseArg(std::string_view text, std::size_t index) {
  using Out = Outcome<Arg>;
  const std::size_t colon = text.find(':');
  std::optional<ArgKind> kind;
  if (colon != std::string_view::npos) {
    kind = kindNamed(lowerCase(text.substr(0, colon)));
  }
  if (!kind) {
    return Out::failure(
        argName(index) + " \"" + std::string(text) +
        "\" is missing a type: prefix the value with TYPE:, e.g. utf8:" + std::string(text) +
        " or u32:" + std::string(text) + " (types: " + typeList() + ")");
  }
  const std::string_view value = text.substr(colon + 1);
  const std::string label = argName(index) + " (" + std::string(control::argKindName(*kind)) +
                            " \"" + std::string(value) + "\")";
  Arg arg;
  arg.kind = *kind;
  auto parseInteger = [&](auto& out) -> bool {
    const char* first = value.data();
    const char* last = value.data() + value.size();
    if (first != last && *first == '+') ++first;
    auto [end, ec] = std::from_chars(first, last, out);
    return ec == std::errc() && end == last && first != last;
  };
  switch (*kind) {
    case ArgKind::I8:
    case ArgKind::I16:
    case ArgKind::I32:
    case ArgKind::I64: {
      int64_t v = 0;
      const int bits = *kind == ArgKind::I8    ? 8
                       : *kind == ArgKind::I16 ? 16
                       : *kind == ArgKind::I32 ? 32
                                               : 64;
      if (!parseInteger(v) ||
          (bits < 64 && (v < -(int64_t{1} << (bits - 1)) || v >= (int64_t{1} << (bits - 1))))) {
        return Out::failure(label + ": not a " + std::to_string(bits) + "-bit signed integer");
      }
      arg.int_value = v;
      break;
    }
    case ArgKind::U8:
    case ArgKind::U16:
    case ArgKind::U32:
    case ArgKind::U64: {
      uint64_t v = 0;
      const int bits = *kind == ArgKind::U8    ? 8
                       : *kind == ArgKind::U16 ? 16
                       : *kind == ArgKind::U32 ? 32
                                               : 64;
      if (!parseInteger(v) || (bits < 64 && v >= (uint64_t{1} << bits))) {
        return Out::failure(label + ": not a " + std::to_string(bits) + "-bit unsigned integer");
      }
      arg.uint_value = v;
      break;
    }
    case ArgKind::F32:
    case ArgKind::F64: {
      const std::string copy(value);
      char* end = nullptr;
      errno = 0;
      const double v = std::strtod(copy.c_str(), &end);
      if (copy.empty() || end != copy.c_str() + copy.size() || errno == ERANGE ||
          !std::isfinite(v) ||
          (*kind == ArgKind::F32 && std::fabs(v) > std::numeric_limits<float>::max())) {
        return Out::failure(label + ": not a finite " +
                            std::string(*kind == ArgKind::F32 ? "f32" : "f64") + " number");
      }
      if (*kind == ArgKind::F32) {
        arg.f32 = static_cast<float>(v);
      } else {
        arg.f64 = v;
      }
      break;
    }
    case ArgKind::Utf8:
      if (!control::validUtf8(value)) return Out::failure(label + ": not valid UTF-8");
      arg.bytes.assign(value.begin(), value.end());
      break;
    case ArgKind::Buffer:
      if (value.starts_with("hex:")) {
        auto bytes = parseHex(value.substr(4));
        if (!bytes) return Out::failure(label + ": " + bytes.error());
        arg.bytes = std::move(*bytes);
      } else {
        arg.bytes.assign(value.begin(), value.end());
      }
      break;
    case ArgKind::Hex: {
      auto bytes = parseHex(value);
      if (!bytes) return Out::failure(label + ": " + bytes.error());
      arg.bytes = std::move(*bytes);
      break;
    }
    case ArgKind::Resource: {
      uint64_t v = 0;
      if (!parseInteger(v) || v == 0 || v > uint64_t{INT64_MAX}) {
        return Out::failure(label +
                            ": not a shared id (the number `selium channel create` prints)");
      }
      arg.shared_id = v;
      break;
    }
  }
  return arg;
}

Outcome<std::vector<uint32_t>> parseCapabilities(const std::vector<std::string>& single,
                                                 const std::vector<std::string>& lists) {
  using Out = Outcome<std::vector<uint32_t>>;
  std::vector<std::string_view> names(single.begin(), single.end());
  for (const std::string& list : lists) {
    std::string_view rest = list;
    for (;;) {
      const std::size_t comma = rest.find(',');
      std::string_view name = rest.substr(0, comma);
      while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
      while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
      if (!name.empty()) names.push_back(name);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  std::vector<uint32_t> out;
  for (std::string_view name : names) {
    auto cap = control::parseCapability(name);
    if (!cap) {
      std::string known;
      for (uint32_t id = 0; control::capabilityName(id) != "Unknown"; ++id) {
        known += (known.empty() ? "" : " ") + std::string(control::capabilityName(id));
      }
      return Out::failure("unknown capability \"" + std::string(name) + "\" (known: " + known +
                          ")");
    }
    bool seen = false;
    for (uint32_t have : out) seen = seen || have == *cap;
    if (!seen) out.push_back(*cap);
  }
  return out;
}

Outcome<ServerAddress> parseServer(std::string_view text) {
  using Out = Outcome<ServerAddress>;
  ServerAddress out;
  std::string_view port_text;
  if (text.starts_with("[")) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return Out::failure("server \"" + std::string(text) + "\": missing ']'");
    }
    out.host = std::string(text.substr(1, close - 1));
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return Out::failure("server \"" + std::string(text) + "\": expected :PORT after ']'");
      }
      port_text = rest.substr(1);
    }
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon != std::string_view::npos && text.find(':') != colon) {
      return Out::failure("server \"" + std::string(text) +
                          "\": write an IPv6 address in brackets, e.g. [::1]:7000");
    }
    out.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) port_text = text.substr(colon + 1);
  }
  if (out.host.empty()) {
    return Out::failure("server \"" + std::string(text) + "\" names no host (HOST:PORT)");
  }
  out.port = kDefaultPort;
  if (!port_text.empty() || text.ends_with(":")) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), v);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || v == 0 || v > 65535) {
      return Out::failure("server \"" + std::string(text) + "\": port \"" + std::string(port_text) +
                          "\" is not a number from 1 to 65535");
    }
    out.port = static_cast<uint16_t>(v);
  }
  return out;
}

}  // namespace selium::cli
