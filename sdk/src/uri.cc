// The sel:// parser: the subset of the WHATWG URL rules (a non-special scheme with an opaque
// host) that the Rust Atlas gets from the url crate, then Selium's segment rules on top.
// Where the url crate would silently drop something (port, userinfo, query, fragment) or accept
// text a directory name should never hold (control characters, whitespace), this refuses it.
#include "selium/uri.hpp"

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace selium {
namespace {

constexpr std::size_t kQuoteBytes = 120;  // how much of a bad input an error message repeats

bool endsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

char hexDigit(unsigned v) { return "0123456789ABCDEF"[v & 0xF]; }

// The input, quoted for an error message: cut to kQuoteBytes, unprintable bytes as \xNN.
std::string quote(std::string_view text) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < kQuoteBytes; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c >= 0x7F || c == '"' || c == '\\') {
      out += "\\x";
      out += hexDigit(c >> 4);
      out += hexDigit(c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += text.size() > kQuoteBytes ? "\"..." : "\"";
  return out;
}

std::string byteName(unsigned char c) {
  std::string out = "byte 0x";
  out += hexDigit(c >> 4);
  out += hexDigit(c);
  return out;
}

// Length of the valid UTF-8 sequence starting at text[i], or 0 when it is not one.
std::size_t utf8Length(std::string_view text, std::size_t i) {
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char c = at(i);
  if (c < 0x80) return 1;
  std::size_t length;
  uint32_t min;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    length = 2, min = 0x80, cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    length = 3, min = 0x800, cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    length = 4, min = 0x10000, cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    if ((at(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (at(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return length;
}

UriError badUri(std::string why, std::string_view text) {
  return UriError(UriErrorKind::BadUri, std::move(why) + " in " + quote(text));
}

// Which bytes the WHATWG rules percent-encode in an opaque host (the C0 control set: anything
// outside printable ASCII; controls never get here) and in a path segment (that, plus a few
// printable ones).
enum class Component : uint8_t { Host, Path };

std::string percentEncode(std::string_view text, Component component) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    bool encode = c >= 0x7F;
    if (component == Component::Path) {
      encode = encode || c == '"' || c == '<' || c == '>' || c == '`' || c == '{' || c == '}';
    }
    if (encode) {
      out += '%';
      out += hexDigit(c >> 4);
      out += hexDigit(c);
    } else {
      out += ch;
    }
  }
  return out;
}

bool asciiEqualNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (x != b[i]) return false;
  }
  return true;
}

bool isSingleDot(std::string_view s) { return s == "." || asciiEqualNoCase(s, "%2e"); }
bool isDoubleDot(std::string_view s) {
  return s == ".." || asciiEqualNoCase(s, ".%2e") || asciiEqualNoCase(s, "%2e.") ||
         asciiEqualNoCase(s, "%2e%2e");
}

// The WHATWG path state for a path that starts with '/': segments percent-encoded, dot segments
// resolved (a trailing "." or ".." leaves an empty last segment, i.e. a trailing slash).
std::vector<std::string> pathSegments(std::string_view path) {
  std::vector<std::string> segments;
  if (path.empty()) return segments;
  std::string_view rest = path.substr(1);
  for (;;) {
    std::size_t slash = rest.find('/');
    bool last = slash == std::string_view::npos;
    std::string piece = percentEncode(rest.substr(0, slash), Component::Path);
    if (isDoubleDot(piece)) {
      if (!segments.empty()) segments.pop_back();
      if (last) segments.emplace_back();
    } else if (isSingleDot(piece)) {
      if (last) segments.emplace_back();
    } else {
      segments.push_back(std::move(piece));
    }
    if (last) break;
    rest = rest.substr(slash + 1);
  }
  return segments;
}

// The characters the WHATWG rules forbid in an opaque host besides the delimiters (/ ? # : @)
// and the IP-literal bracket, which the parser handles before this.
bool forbiddenInHost(char c) {
  return c == '<' || c == '>' || c == '\\' || c == ']' || c == '^' || c == '|';
}

// Whether the segments (after the path) need a trailing '/' to keep the last one from being read
// as a service: printing them without it would parse back differently.
bool needsTrailingSlash(const UriParts& parts) {
  if (!parts.service.empty()) return false;
  std::vector<const std::string*> segments;
  for (const std::string& s : parts.path) segments.push_back(&s);
  if (!parts.application.empty()) segments.push_back(&parts.application);
  return segments.size() >= 2 && endsWith(*segments[segments.size() - 2], ".app");
}

}  // namespace

std::string_view UriError::summary() const noexcept {
  switch (kind_) {
    case UriErrorKind::InvalidScheme:
      return "URI must use Selium scheme: \"sel://\"";
    case UriErrorKind::MissingTenant:
      return "URI did not contain a tenant";
    case UriErrorKind::BadUri:
      return "Unable to parse string into URI";
    case UriErrorKind::InvalidPath:
      return "URI path segments invalid";
  }
  return "URI error";
}

std::string UriError::text() const {
  std::string out(summary());
  if (!detail_.empty()) {
    out += ": ";
    out += detail_;
  }
  return out;
}

UriResult::UriResult(Uri uri) noexcept : value_(std::move(uri)) {}

const Uri& UriResult::value() const& noexcept {
  if (!ok()) __builtin_trap();
  return std::get<0>(value_);
}

Uri&& UriResult::value() && noexcept {
  if (!ok()) __builtin_trap();
  return std::move(std::get<0>(value_));
}

const UriError& UriResult::error() const noexcept {
  if (ok()) __builtin_trap();
  return std::get<1>(value_);
}

UriResult Uri::parse(std::string_view text) {
  if (text.size() > kMaxBytes) {
    return UriError(UriErrorKind::BadUri, "the URI is " + std::to_string(text.size()) +
                                              " bytes, more than the " + std::to_string(kMaxBytes) +
                                              " allowed: " + quote(text));
  }
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c <= 0x20 || c == 0x7F) {
      return badUri(c == ' '
                        ? "a space at byte " + std::to_string(i)
                        : "a control character (" + byteName(c) + ") at byte " + std::to_string(i),
                    text);
    }
    std::size_t length = utf8Length(text, i);
    if (length == 0) return badUri("invalid UTF-8 at byte " + std::to_string(i), text);
    i += length;
  }

  // Scheme: ALPHA *(ALPHA / DIGIT / "+" / "-" / "."), then ':'; compared without case.
  std::size_t colon = text.find(':');
  auto schemeChar = [](char c, bool first) {
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    return alpha || (!first && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
  };
  bool scheme_ok = colon != std::string_view::npos && colon > 0;
  for (std::size_t i = 0; scheme_ok && i < colon; ++i) scheme_ok = schemeChar(text[i], i == 0);
  if (!scheme_ok) return badUri("no scheme (expected \"sel://\")", text);
  if (!asciiEqualNoCase(text.substr(0, colon), "sel")) {
    return UriError(UriErrorKind::InvalidScheme,
                    "the scheme is " + quote(text.substr(0, colon)) + " in " + quote(text));
  }
  std::string_view rest = text.substr(colon + 1);
  if (rest.substr(0, 2) != "//") {
    return UriError(UriErrorKind::MissingTenant,
                    "no \"//tenant\" after \"sel:\" in " + quote(text));
  }
  rest = rest.substr(2);

  // Authority: up to the path, query or fragment. Only a host (the tenant) is allowed.
  std::size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view after =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return badUri("user information (\"user@\") is not allowed", text);
  }
  if (!authority.empty() && authority.front() == '[') {
    return UriError(UriErrorKind::MissingTenant,
                    "an IP address literal is not a tenant in " + quote(text));
  }
  if (authority.find(':') != std::string_view::npos) {
    return badUri("a port is not allowed", text);
  }
  if (authority.empty()) {
    return UriError(UriErrorKind::MissingTenant, "the tenant is empty in " + quote(text));
  }
  for (char c : authority) {
    if (forbiddenInHost(c)) {
      return badUri(std::string("the character '") + c + "' is not allowed in the tenant", text);
    }
  }
  std::size_t query = after.find_first_of("?#");
  if (query != std::string_view::npos) {
    return badUri(after[query] == '?' ? "a query (\"?\") is not allowed"
                                      : "a fragment (\"#\") is not allowed",
                  text);
  }

  Uri uri;
  uri.parts_.tenant = percentEncode(authority, Component::Host);
  std::vector<std::string> raw = pathSegments(after);
  bool trailing_slash = !raw.empty() && raw.back().empty();
  std::vector<std::string> segments;
  for (std::string& s : raw) {
    if (!s.empty()) segments.push_back(std::move(s));
  }
  if (segments.size() > kMaxSegments) {
    return UriError(UriErrorKind::InvalidPath,
                    std::to_string(segments.size()) + " segments, more than the " +
                        std::to_string(kMaxSegments) + " allowed, in " + quote(text));
  }

  // Selium's rules: [path...][/name.app][/service[:endpoint]]; the service only right after an
  // application and only without a trailing slash.
  std::size_t cut = segments.size();
  if (!trailing_slash && cut >= 2 && endsWith(segments[cut - 2], ".app")) {
    const std::string& last = segments[cut - 1];
    std::size_t split = last.find(':');
    uri.parts_.service = last.substr(0, split);
    if (split != std::string::npos) uri.parts_.endpoint = last.substr(split + 1);
    if (uri.parts_.service.empty() || (split != std::string::npos && uri.parts_.endpoint.empty())) {
      return UriError(
          UriErrorKind::InvalidPath,
          (uri.parts_.service.empty() ? "empty service in " : "empty endpoint in ") + quote(text));
    }
    --cut;
  }
  if (cut > 0 && endsWith(segments[cut - 1], ".app")) {
    uri.parts_.application = std::move(segments[cut - 1]);
    --cut;
  }
  segments.resize(cut);
  uri.parts_.path = std::move(segments);
  return uri;
}

UriResult Uri::fromParts(UriParts parts) {
  Uri wanted;
  wanted.parts_ = std::move(parts);
  if (wanted.parts_.tenant.empty()) {
    return UriError(UriErrorKind::MissingTenant, "the tenant is empty");
  }
  if (wanted.parts_.service.empty() && !wanted.parts_.endpoint.empty()) {
    return UriError(UriErrorKind::InvalidPath,
                    "an endpoint (" + quote(wanted.parts_.endpoint) + ") without a service");
  }
  if (!wanted.parts_.service.empty() && wanted.parts_.application.empty()) {
    return UriError(UriErrorKind::InvalidPath,
                    "a service (" + quote(wanted.parts_.service) + ") without an application");
  }
  // Canonical means: printing and parsing again gives the same components.
  std::string text = wanted.toString();
  UriResult reparsed = parse(text);
  if (!reparsed) return reparsed;
  if (!(*reparsed == wanted)) {
    return UriError(UriErrorKind::InvalidPath,
                    "the components print as " + quote(text) + ", which reads back differently");
  }
  return reparsed;
}

std::string Uri::toString() const {
  std::string out = "sel://" + parts_.tenant;
  for (const std::string& segment : parts_.path) out += "/" + segment;
  if (!parts_.application.empty()) out += "/" + parts_.application;
  if (!parts_.service.empty()) out += "/" + parts_.service;
  if (!parts_.endpoint.empty()) out += ":" + parts_.endpoint;
  if (needsTrailingSlash(parts_)) out += "/";
  return out;
}

bool Uri::contains(const Uri& entry) const noexcept {
  const UriParts& e = entry.parts_;
  if (parts_.tenant != e.tenant) return false;
  if (!parts_.path.empty()) {
    if (e.path.size() < parts_.path.size()) return false;
    if (!std::equal(parts_.path.begin(), parts_.path.end(), e.path.begin())) return false;
  }
  auto matches = [](const std::string& pattern, const std::string& value) {
    return pattern.empty() || pattern == value;
  };
  return matches(parts_.application, e.application) && matches(parts_.service, e.service) &&
         matches(parts_.endpoint, e.endpoint);
}

bool operator==(const Uri& a, const Uri& b) noexcept {
  return a.parts_.tenant == b.parts_.tenant && a.parts_.path == b.parts_.path &&
         a.parts_.application == b.parts_.application && a.parts_.service == b.parts_.service &&
         a.parts_.endpoint == b.parts_.endpoint;
}

}  // namespace selium
