// Structured logging for the host and, later, guest records: level, target, message, fields.
// Output is one line per record on stdout, as text or JSON, written by a background thread so a
// worker never blocks on the terminal.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "util/result.h"

namespace selium::log {

enum class Level { Trace, Debug, Info, Warn, Error, Off };
enum class Format { Text, Json };

// "TRACE" … "ERROR".
std::string_view levelName(Level level);

// trace, debug, info, warn (or warning), error, off; case-insensitive.
std::optional<Level> parseLevel(std::string_view text);

// text or json; case-insensitive.
std::optional<Format> parseFormat(std::string_view text);

using FieldValue = std::variant<std::string, int64_t, uint64_t, double, bool>;

struct Field {
  template <typename T>
  Field(std::string_view k, T&& v) : key(k), value(convert(std::forward<T>(v))) {}

  std::string key;
  FieldValue value;

 private:
  template <typename T>
  static FieldValue convert(T&& v) {
    using D = std::decay_t<T>;
    if constexpr (std::is_same_v<D, bool>) {
      return v;
    } else if constexpr (std::is_integral_v<D> && std::is_signed_v<D>) {
      return static_cast<int64_t>(v);
    } else if constexpr (std::is_integral_v<D>) {
      return static_cast<uint64_t>(v);
    } else if constexpr (std::is_floating_point_v<D>) {
      return static_cast<double>(v);
    } else {
      return std::string(std::string_view(v));
    }
  }
};

struct Record {
  std::chrono::system_clock::time_point time;
  Level level;
  std::string_view target;
  std::string_view message;
  std::span<const Field> fields;
};

// RFC 3339 UTC with microseconds: 2026-11-25T21:30:06.123456Z
std::string formatTimestamp(std::chrono::system_clock::time_point time);

// `2026-11-25T21:30:06.123456Z  INFO selium.runtime: message key=value key2="two words"`
std::string formatText(const Record& record);

// {"timestamp":…,"level":"INFO","target":…,"message":…,"fields":{…}}; invalid UTF-8 is replaced.
std::string formatJson(const Record& record);

// Which records are enabled: a default level plus per-target directives. A directive for target
// `a.b` also covers `a.b.c`; the longest matching target wins.
class Filter {
 public:
  Filter() = default;
  explicit Filter(Level default_level) : default_(default_level) {}

  // "info", "warn,selium.guest=debug", "selium.runtime=trace,off". Errors name the directive.
  static Result<Filter> parse(std::string_view text);

  bool enabled(std::string_view target, Level level) const;

 private:
  Level default_ = Level::Info;
  std::vector<std::pair<std::string, Level>> directives_;
};

// Receives each formatted line (without the newline). The default writes to stdout.
using LineWriter = std::function<void(std::string_view line)>;

// Sets the process-wide format and filter. With no writer, lines go to stdout through a
// background thread. Call before other threads log.
void configure(Format format, Filter filter, LineWriter writer = nullptr);

bool enabled(std::string_view target, Level level);

void write(Level level, std::string_view target, std::string_view message,
           std::span<const Field> fields = {});

inline void write(Level level, std::string_view target, std::string_view message,
                  std::initializer_list<Field> fields) {
  write(level, target, message, std::span<const Field>(fields.begin(), fields.size()));
}

// Flushes and stops the background writer; later records are written directly.
void shutdown();

// Target for the runtime's own events.
inline constexpr std::string_view kRuntimeTarget = "selium.runtime";

inline void info(std::string_view message, std::initializer_list<Field> fields = {}) {
  write(Level::Info, kRuntimeTarget, message, fields);
}
inline void warn(std::string_view message, std::initializer_list<Field> fields = {}) {
  write(Level::Warn, kRuntimeTarget, message, fields);
}
inline void error(std::string_view message, std::initializer_list<Field> fields = {}) {
  write(Level::Error, kRuntimeTarget, message, fields);
}
inline void debug(std::string_view message, std::initializer_list<Field> fields = {}) {
  write(Level::Debug, kRuntimeTarget, message, fields);
}

}  // namespace selium::log
