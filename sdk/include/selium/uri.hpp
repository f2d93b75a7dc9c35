// `sel://` URIs: the names of the Atlas directory (docs/atlas.md). Pure C++ without hostcalls,
// built into the guest SDK and natively (host tests, fuzz targets, the CLI).
//
//   sel://tenant/team/payments/orders.app/runner:rpc
//         tenant path........  application service:endpoint
//
//   auto uri = selium::Uri::parse("sel://acme/orders.app/runner:rpc");
//   if (!uri) log(uri.error().text());  // "URI path segments invalid: ..."
//   uri->application();                 // "orders.app"
//   pattern.contains(*uri);             // scope containment, as Atlas lookups use it
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace selium {

// Why a text is not a sel:// URI. The kinds and their texts are those of the Rust Atlas.
enum class UriErrorKind : uint8_t {
  InvalidScheme,  // "URI must use Selium scheme: \"sel://\""
  MissingTenant,  // "URI did not contain a tenant"
  BadUri,         // "Unable to parse string into URI"
  InvalidPath,    // "URI path segments invalid"
};

class UriError {
 public:
  UriError(UriErrorKind kind, std::string detail) noexcept
      : kind_(kind), detail_(std::move(detail)) {}

  UriErrorKind kind() const noexcept { return kind_; }
  // The kind's fixed text (as upstream prints it).
  std::string_view summary() const noexcept;
  // What exactly was wrong, naming the input (may be empty).
  const std::string& detail() const noexcept { return detail_; }
  // summary() + ": " + detail(): what to show a user.
  std::string text() const;

 private:
  UriErrorKind kind_;
  std::string detail_;
};

class UriResult;

// The components of a URI, for building one without text (Uri::fromParts).
struct UriParts {
  std::string tenant;
  std::vector<std::string> path;  // empty: no path
  std::string application;        // "" or a segment ending ".app"
  std::string service;            // "" or a segment
  std::string endpoint;           // "" or what follows the first ':' (needs a service)
};

// A parsed sel:// URI: always canonical, so equal URIs print the same text and equal texts parse
// to equal URIs. An absent component is empty (an empty path is no path).
class Uri {
 public:
  // Longest text parse() accepts, and most path segments (empty ones not counted).
  static constexpr std::size_t kMaxBytes = 4096;
  static constexpr std::size_t kMaxSegments = 64;

  // Parses `text` (see docs/atlas.md for the grammar).
  static UriResult parse(std::string_view text);
  // A Uri from components, if they are what parse() would give for their text (no '/', no
  // control characters, an application ending ".app", ...): InvalidPath or MissingTenant else.
  static UriResult fromParts(UriParts parts);

  const std::string& tenant() const noexcept { return parts_.tenant; }
  const std::vector<std::string>& path() const noexcept { return parts_.path; }
  const std::string& application() const noexcept { return parts_.application; }
  const std::string& service() const noexcept { return parts_.service; }
  const std::string& endpoint() const noexcept { return parts_.endpoint; }
  const UriParts& parts() const noexcept { return parts_; }

  // sel://tenant[/segment...][/application][/service[:endpoint]]
  std::string toString() const;

  // Whether this URI, read as a pattern, covers `entry`: the same tenant; this path (if any) a
  // whole-segment prefix of entry's (no path: any path); and each of application, service and
  // endpoint either absent here or equal in entry.
  bool contains(const Uri& entry) const noexcept;

  friend bool operator==(const Uri& a, const Uri& b) noexcept;

 private:
  Uri() = default;
  friend class UriResult;
  UriParts parts_;
};

// A Uri or the UriError that says why there is none. Reading the wrong side traps.
class UriResult {
 public:
  UriResult(Uri uri) noexcept;
  UriResult(UriError error) noexcept : value_(std::move(error)) {}

  bool ok() const noexcept { return value_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  const Uri& value() const& noexcept;
  Uri&& value() && noexcept;
  const Uri& operator*() const& noexcept { return value(); }
  const Uri* operator->() const noexcept { return &value(); }
  const UriError& error() const noexcept;

 private:
  std::variant<Uri, UriError> value_;
};

bool operator==(const Uri& a, const Uri& b) noexcept;

}  // namespace selium
