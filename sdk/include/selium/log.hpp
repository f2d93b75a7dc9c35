// Structured logging: records of (level, target, message, key/value fields) written to the
// process's log channel (no capability needed). The runtime prints them with target
// selium.guest.
//
//   selium::log::info("listening", {{"port", port}, {"tls", true}});
//   selium::log::Logger log{"echo.server"};
//   log.warn("peer closed", {{"peer", name}, {"bytes", n}});
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "selium/selium.h"

namespace selium::log {

enum class Level : int32_t {
  Trace = SELIUM_LOG_TRACE,
  Debug = SELIUM_LOG_DEBUG,
  Info = SELIUM_LOG_INFO,
  Warn = SELIUM_LOG_WARN,
  Error = SELIUM_LOG_ERROR,
};

// A field's value: a string, a signed or unsigned integer, a float or a bool. Strings are
// borrowed, so a Value must not outlive the call it is passed to.
class Value {
 public:
  enum class Kind : uint8_t {
    Str = SELIUM_LOG_FIELD_STR,
    Int = SELIUM_LOG_FIELD_INT,
    Uint = SELIUM_LOG_FIELD_UINT,
    Float = SELIUM_LOG_FIELD_FLOAT,
    Bool = SELIUM_LOG_FIELD_BOOL,
  };

  constexpr Value(std::string_view v) noexcept : kind_(Kind::Str), str_(v) {}
  constexpr Value(const char* v) noexcept
      : kind_(Kind::Str), str_(v != nullptr ? std::string_view(v) : std::string_view()) {}
  Value(const std::string& v) noexcept : kind_(Kind::Str), str_(v) {}
  template <std::signed_integral T>
  constexpr Value(T v) noexcept : kind_(Kind::Int), int_(v) {}
  template <std::unsigned_integral T>
  requires(!std::same_as<T, bool>) constexpr Value(T v) noexcept : kind_(Kind::Uint), uint_(v) {}
  template <std::floating_point T>
  constexpr Value(T v) noexcept : kind_(Kind::Float), float_(static_cast<double>(v)) {}
  constexpr Value(bool v) noexcept : kind_(Kind::Bool), bool_(v) {}

  constexpr Kind kind() const noexcept { return kind_; }
  constexpr std::string_view str() const noexcept { return kind_ == Kind::Str ? str_ : ""; }
  constexpr int64_t i64() const noexcept { return kind_ == Kind::Int ? int_ : 0; }
  constexpr uint64_t u64() const noexcept { return kind_ == Kind::Uint ? uint_ : 0; }
  constexpr double f64() const noexcept { return kind_ == Kind::Float ? float_ : 0.0; }
  constexpr bool boolean() const noexcept { return kind_ == Kind::Bool && bool_; }

 private:
  Kind kind_;
  union {
    std::string_view str_;
    int64_t int_;
    uint64_t uint_;
    double float_;
    bool bool_;
  };
};

// One key/value pair of a record.
struct Field {
  std::string_view key;
  Value value;
};

using Fields = std::initializer_list<Field>;

// Writes one record; an empty target means none. Returns the log_write result (>= 0: written).
int32_t write(Level level, std::string_view target, std::string_view message,
              std::span<const Field> fields = {}) noexcept;

// True if a record of this level and target would be printed (one hostcall).
bool enabled(Level level, std::string_view target = {}) noexcept;

// Trace and debug records are built only if log_enabled says they would be printed; the other
// levels skip that check (they are almost always printed).
void trace(std::string_view message, Fields fields = {}) noexcept;
void debug(std::string_view message, Fields fields = {}) noexcept;
void info(std::string_view message, Fields fields = {}) noexcept;
void warn(std::string_view message, Fields fields = {}) noexcept;
void error(std::string_view message, Fields fields = {}) noexcept;

// The same calls with a fixed target, e.g. `Logger log{"echo.server"};`. Borrows the target.
class Logger {
 public:
  constexpr explicit Logger(std::string_view target) noexcept : target_(target) {}

  constexpr std::string_view target() const noexcept { return target_; }
  bool enabled(Level level) const noexcept { return log::enabled(level, target_); }
  void log(Level level, std::string_view message, Fields fields = {}) const noexcept;
  void trace(std::string_view message, Fields fields = {}) const noexcept {
    log(Level::Trace, message, fields);
  }
  void debug(std::string_view message, Fields fields = {}) const noexcept {
    log(Level::Debug, message, fields);
  }
  void info(std::string_view message, Fields fields = {}) const noexcept {
    log(Level::Info, message, fields);
  }
  void warn(std::string_view message, Fields fields = {}) const noexcept {
    log(Level::Warn, message, fields);
  }
  void error(std::string_view message, Fields fields = {}) const noexcept {
    log(Level::Error, message, fields);
  }

 private:
  std::string_view target_;
};

// A record as read from a log stream (ChildProcess::logs(): each frame is one record), owned.
struct Record {
  struct Field {
    std::string key;
    Value::Kind kind = Value::Kind::Str;
    std::string str;       // Str
    int64_t i64 = 0;       // Int
    uint64_t u64 = 0;      // Uint
    double f64 = 0;        // Float
    bool boolean = false;  // Bool
  };
  Level level = Level::Info;
  std::string target;
  std::string message;
  std::vector<Field> fields;
  // The field named `key`, or nullptr.
  const Field* field(std::string_view key) const noexcept;
};

// Decodes one log-stream frame (a selium.abi.LogRecord FlatBuffer, verified first); nullopt if
// it is not one.
std::optional<Record> decode(std::span<const uint8_t> frame);

}  // namespace selium::log
