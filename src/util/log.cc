// Log formatting, filtering and the process-wide output.
#include "util/log.h"

#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "util/strings.h"

namespace selium::log {
namespace {

struct State {
  Format format = Format::Text;
  Filter filter;
  LineWriter writer;                        // tests: receives lines directly
  std::shared_ptr<spdlog::logger> stdout_;  // default: async logger writing "%v" to stdout
};

std::mutex& stateMutex() {
  static std::mutex m;
  return m;
}

// Read without a lock on the hot path: configure() runs before other threads log.
State& state() {
  static State s;
  return s;
}

bool needsQuotes(std::string_view value) {
  if (value.empty()) return true;
  for (unsigned char c : value) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) return true;
  }
  return false;
}

void appendTextValue(std::string& out, const FieldValue& value) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          out += needsQuotes(v) ? util::quote(v) : v;
        } else if constexpr (std::is_same_v<T, bool>) {
          out += v ? "true" : "false";
        } else {
          out += fmt::to_string(v);
        }
      },
      value);
}

}  // namespace

std::string_view levelName(Level level) {
  switch (level) {
    case Level::Trace:
      return "TRACE";
    case Level::Debug:
      return "DEBUG";
    case Level::Info:
      return "INFO";
    case Level::Warn:
      return "WARN";
    case Level::Error:
      return "ERROR";
    case Level::Off:
      return "OFF";
  }
  return "?";
}

std::optional<Level> parseLevel(std::string_view text) {
  static constexpr std::pair<std::string_view, Level> kNames[] = {
      {"trace", Level::Trace}, {"debug", Level::Debug},  {"info", Level::Info},
      {"warn", Level::Warn},   {"warning", Level::Warn}, {"error", Level::Error},
      {"off", Level::Off}};
  for (const auto& [name, level] : kNames) {
    if (util::equalsIgnoreCase(text, name)) return level;
  }
  return std::nullopt;
}

std::optional<Format> parseFormat(std::string_view text) {
  if (util::equalsIgnoreCase(text, "text")) return Format::Text;
  if (util::equalsIgnoreCase(text, "json")) return Format::Json;
  return std::nullopt;
}

std::string formatTimestamp(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  auto micros = duration_cast<microseconds>(time.time_since_epoch()).count();
  auto seconds = static_cast<std::time_t>(micros / 1'000'000);
  auto fraction = micros % 1'000'000;
  if (fraction < 0) fraction += 1'000'000, seconds -= 1;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, fraction);
}

std::string formatText(const Record& record) {
  std::string out = formatTimestamp(record.time);
  out += fmt::format(" {:>5} ", levelName(record.level));
  out += record.target;
  out += ": ";
  // The message is free text, but a record must stay on one line.
  for (char c : record.message) out += (c == '\n' || c == '\r') ? ' ' : c;
  for (const Field& field : record.fields) {
    out += ' ';
    out += field.key;
    out += '=';
    appendTextValue(out, field.value);
  }
  return out;
}

std::string formatJson(const Record& record) {
  nlohmann::ordered_json fields = nlohmann::ordered_json::object();
  for (const Field& field : record.fields) {
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, double>) {
            // JSON has no NaN or infinity: spell them as strings.
            if (!std::isfinite(v)) {
              fields[field.key] = fmt::to_string(v);
              return;
            }
          }
          fields[field.key] = v;
        },
        field.value);
  }
  nlohmann::ordered_json line = {{"timestamp", formatTimestamp(record.time)},
                                 {"level", levelName(record.level)},
                                 {"target", record.target},
                                 {"message", record.message},
                                 {"fields", std::move(fields)}};
  return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Result<Filter> Filter::parse(std::string_view text) {
  Filter filter;
  bool have_default = false;
  for (std::string_view raw : util::split(text, ",")) {
    std::string_view directive = util::trim(raw);
    if (directive.empty()) continue;
    std::size_t eq = directive.find('=');
    std::string_view target =
        eq == std::string_view::npos ? "" : util::trim(directive.substr(0, eq));
    std::string_view level_text =
        eq == std::string_view::npos ? directive : util::trim(directive.substr(eq + 1));
    auto level = parseLevel(level_text);
    if (!level) {
      return Error{"invalid log directive " + util::quote(directive) + ": unknown level " +
                   util::quote(level_text) + " (expected trace, debug, info, warn, error or off)"};
    }
    if (eq == std::string_view::npos) {
      if (have_default) {
        return Error{"invalid log directive " + util::quote(directive) +
                     ": a default level was already given"};
      }
      filter.default_ = *level;
      have_default = true;
    } else if (target.empty()) {
      return Error{"invalid log directive " + util::quote(directive) + ": empty target before '='"};
    } else {
      filter.directives_.emplace_back(std::string(target), *level);
    }
  }
  return filter;
}

bool Filter::enabled(std::string_view target, Level level) const {
  Level threshold = default_;
  std::size_t best = 0;
  for (const auto& [prefix, directive_level] : directives_) {
    bool matches = target.starts_with(prefix) &&
                   (target.size() == prefix.size() || target[prefix.size()] == '.');
    if (matches && prefix.size() >= best) {
      best = prefix.size();
      threshold = directive_level;
    }
  }
  return level != Level::Off && threshold != Level::Off && level >= threshold;
}

void configure(Format format, Filter filter, LineWriter writer) {
  std::lock_guard lock(stateMutex());
  State& s = state();
  s.format = format;
  s.filter = std::move(filter);
  s.writer = std::move(writer);
  if (!s.writer && !s.stdout_) {
    // Blocking overflow: a full queue slows the logger down rather than dropping records.
    spdlog::init_thread_pool(8192, 1);
    auto sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
    s.stdout_ = std::make_shared<spdlog::async_logger>("selium", sink, spdlog::thread_pool(),
                                                       spdlog::async_overflow_policy::block);
    s.stdout_->set_pattern("%v");
    s.stdout_->set_level(spdlog::level::trace);
    s.stdout_->flush_on(spdlog::level::trace);  // each line reaches the pipe promptly
  }
}

bool enabled(std::string_view target, Level level) { return state().filter.enabled(target, level); }

void write(Level level, std::string_view target, std::string_view message,
           std::span<const Field> fields) {
  State& s = state();
  if (!s.filter.enabled(target, level)) return;
  Record record{std::chrono::system_clock::now(), level, target, message, fields};
  std::string line = s.format == Format::Json ? formatJson(record) : formatText(record);
  if (s.writer) {
    s.writer(line);
  } else if (s.stdout_) {
    s.stdout_->info(line);
  } else {
    // Not configured (or shut down): write directly, unbuffered by a thread.
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
}

// The background thread writes every queued record before it exits, so nothing is lost.
void shutdown() {
  std::lock_guard lock(stateMutex());
  State& s = state();
  if (s.stdout_) {
    s.stdout_->flush();
    s.stdout_.reset();
    spdlog::shutdown();
  }
  std::fflush(stdout);
}

}  // namespace selium::log
