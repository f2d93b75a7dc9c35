// Structured logging for the host and guest records: level, target, message, fields. Output is
// one line per record on stdout, queued in memory bounded in bytes and written by one thread, so
// no caller ever blocks on the terminal; when the sink falls behind, records are dropped by policy.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
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

// `2026-11-25T21:30:06.123456Z  INFO selium.runtime: message key=value key2="two words"`.
// Always one line: control characters (C0, DEL, C1, U+2028, U+2029) in the target, message, keys
// and values are escaped (`\x0a`, `\u0085`); key bytes outside [A-Za-z0-9_.-] are escaped too.
std::string formatText(const Record& record);

// {"timestamp":…,"level":"INFO","target":…,"message":…,"fields":{…}}; invalid UTF-8 is replaced.
// A key that repeats never overwrites: the first one wins, a repeat becomes `key#2`, `key#3`, ….
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

  // The targets of the `target=level` directives, in order.
  std::vector<std::string_view> directiveTargets() const;

 private:
  Level default_ = Level::Info;
  std::vector<std::pair<std::string, Level>> directives_;
};

// Target for the runtime's own events, and the one under which guest records are printed.
inline constexpr std::string_view kRuntimeTarget = "selium.runtime";
inline constexpr std::string_view kGuestTarget = "selium.guest";

// True for `selium.guest` and targets under it: records that guests control.
bool isGuestTarget(std::string_view target);

// Whether a directive for `directive_target` can ever select one of this runtime's records:
// `selium`, `selium.runtime`, `selium.guest` and anything under `selium.guest` (guests name
// their own targets) can; anything else is a typo or a target that does not exist.
bool couldMatchRuntimeTarget(std::string_view directive_target);

// Byte budgets of an Output's queue. A queued line is charged its length plus kLineOverheadBytes,
// so a flood of tiny lines is bounded in memory too.
struct OutputLimits {
  std::size_t guest_bytes = 6 << 20;    // guest lines (isGuestTarget)
  std::size_t runtime_bytes = 2 << 20;  // the runtime's own lines: a reserve guests cannot use
  std::size_t source_bytes = 1 << 20;   // guest lines of one source (process) at a time
};
inline constexpr std::size_t kLineOverheadBytes = 64;

struct DropCounts {
  uint64_t guest_records = 0;
  uint64_t runtime_records = 0;
  uint64_t bytes = 0;  // text bytes of the dropped lines
  bool any() const { return guest_records + runtime_records > 0; }
};

// Lines queued in memory, bounded in bytes, written to a file descriptor by one thread that owns
// every write to it. push() never blocks on the sink: when a line does not fit, the oldest guest
// lines go first, then the runtime's own lines below Error; a line that still does not fit is
// dropped. Every drop is counted, and the next successful write is followed by one WARN record
// (target selium.runtime) giving the counts.
class Output {
 public:
  enum class Origin { Guest, Runtime };

  // `format` is that of the drop report; `report_drops` false leaves it out (filtered off).
  Output(int fd, Format format, bool report_drops, OutputLimits limits = {});
  // Closes with no wait; a writer stuck in write(2) is left behind, detached (it owns its state).
  ~Output();
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  // Queues one line (without its newline). `source` (a process id; 0 for none) is held to
  // limits.source_bytes of guest lines: past it, that source's new lines are dropped, so one
  // flooding process cannot push out everyone else's. False once closed.
  bool push(std::string line, Origin origin, Level level, uint64_t source = 0);

  struct CloseResult {
    bool drained = true;  // everything queued was written and the writer has ended
    uint64_t unwritten_records = 0;
    uint64_t unwritten_bytes = 0;
    DropCounts unreported;  // drops no report line was written for
  };
  // Waits until everything queued so far is written, or until `deadline`; true if it was.
  bool flush(std::chrono::steady_clock::time_point deadline);

  // Stops taking lines and lets the writer drain until `deadline`, never longer. A writer that
  // has not finished by then is detached; what it still held is counted as unwritten.
  CloseResult close(std::chrono::steady_clock::time_point deadline);

  // Drops so far (reported or not), and lines written.
  DropCounts dropped() const;
  uint64_t written() const;

 private:
  struct Core;
  std::shared_ptr<Core> core_;  // shared with the writer thread, which may outlive this object
};

// Receives each formatted line (without the newline), synchronously, on the logging thread.
using LineWriter = std::function<void(std::string_view line)>;

// Sets the process-wide format and filter. With no writer, lines go to `fd` (default stdout;
// `selium-runtime run` passes stderr, keeping stdout for its guest) through an Output with the
// default limits. Call before other threads log.
void configure(Format format, Filter filter, LineWriter writer = nullptr, int fd = 1);

bool enabled(std::string_view target, Level level);

void write(Level level, std::string_view target, std::string_view message,
           std::span<const Field> fields = {});

inline void write(Level level, std::string_view target, std::string_view message,
                  std::initializer_list<Field> fields) {
  write(level, target, message, std::span<const Field>(fields.begin(), fields.size()));
}

// write() for a record on behalf of `source` (a process id), held to its share of the output
// queue (OutputLimits::source_bytes).
void writeFrom(uint64_t source, Level level, std::string_view target, std::string_view message,
               std::span<const Field> fields);

// Waits until what is queued is written to stdout, or until `deadline`; true if it was. Other
// threads may keep logging meanwhile.
bool flush(std::chrono::steady_clock::time_point deadline);

// Writes what is queued on stdout until `deadline`, never longer, then stops the output. If the
// sink did not drain, says on stderr (without blocking) how many records were not written. Later
// records are written directly, each only if stdout can take it at once. Idempotent.
void shutdown(std::chrono::steady_clock::time_point deadline);

// shutdown() with kDefaultFlushBound.
inline constexpr std::chrono::milliseconds kDefaultFlushBound{2000};
void shutdown();

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
