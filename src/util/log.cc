// Log formatting, filtering and the process-wide output: a byte-bounded queue drained into
// stdout by one writer thread, so that no logging thread ever waits on the sink.
#include "util/log.h"

#include <fmt/format.h>
#include <limits.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>

#include "util/strings.h"

namespace selium::log {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// Length of the UTF-8 control character at text[i] that is not ASCII (C1, U+2028, U+2029), as
// {bytes, code point}; {0, 0} if there is none there.
std::pair<std::size_t, unsigned> wideControlAt(std::string_view text, std::size_t i) {
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  if (at(i) == 0xC2 && i + 1 < text.size() && at(i + 1) >= 0x80 && at(i + 1) <= 0x9F) {
    return {2, at(i + 1)};
  }
  if (at(i) == 0xE2 && i + 2 < text.size() && at(i + 1) == 0x80 &&
      (at(i + 2) == 0xA8 || at(i + 2) == 0xA9)) {
    return {3, 0x2000u + at(i + 2) - 0x80u};
  }
  return {0, 0};
}

// Appends `text` with every control character escaped, so it cannot end the line or drive the
// terminal; with `quoted`, also `"` and `\` (the value is then wrapped in quotes).
void appendEscaped(std::string& out, std::string_view text, bool quoted) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else if (quoted && (c == '"' || c == '\\')) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (auto [len, code] = wideControlAt(text, i); len > 0) {
      out += fmt::format("\\u{:04x}", code);
      i += len - 1;
    } else {
      out += static_cast<char>(c);
    }
  }
}

bool isKeyByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

// Keys are checked where they come from (the log driver); here anything else is escaped anyway,
// so a key can never carry a space, `=` or a line break into the text.
void appendKey(std::string& out, std::string_view key) {
  for (unsigned char c : key) {
    if (isKeyByte(c)) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
}

bool needsQuotes(std::string_view value) {
  if (value.empty()) return true;
  for (std::size_t i = 0; i < value.size(); ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) return true;
    if (wideControlAt(value, i).first > 0) return true;
  }
  return false;
}

void appendTextValue(std::string& out, const FieldValue& value) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          if (needsQuotes(v)) {
            out += '"';
            appendEscaped(out, v, /*quoted=*/true);
            out += '"';
          } else {
            out += v;
          }
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
  appendEscaped(out, record.target, /*quoted=*/false);
  out += ": ";
  appendEscaped(out, record.message, /*quoted=*/false);
  for (const Field& field : record.fields) {
    out += ' ';
    appendKey(out, field.key);
    out += '=';
    appendTextValue(out, field.value);
  }
  return out;
}

std::string formatJson(const Record& record) {
  nlohmann::ordered_json fields = nlohmann::ordered_json::object();
  for (const Field& field : record.fields) {
    // The first of a repeated key wins (the runtime puts its own fields first).
    std::string key = field.key;
    for (int n = 2; fields.contains(key); ++n) key = field.key + "#" + std::to_string(n);
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, double>) {
            // JSON has no NaN or infinity: spell them as strings.
            if (!std::isfinite(v)) {
              fields[key] = fmt::to_string(v);
              return;
            }
          }
          fields[key] = v;
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

std::vector<std::string_view> Filter::directiveTargets() const {
  std::vector<std::string_view> out;
  for (const auto& [target, level] : directives_) out.push_back(target);
  return out;
}

bool couldMatchRuntimeTarget(std::string_view directive_target) {
  return directive_target == "selium" || directive_target == kRuntimeTarget ||
         isGuestTarget(directive_target);
}

bool isGuestTarget(std::string_view target) {
  return target.starts_with(kGuestTarget) &&
         (target.size() == kGuestTarget.size() || target[kGuestTarget.size()] == '.');
}

namespace {

// Writes all of `data` to `fd`; false if the sink is gone (EPIPE, EBADF, ...). Blocks while the
// sink is full: only the writer thread calls it.
bool writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};  // someone made the descriptor non-blocking: wait for room
      ::poll(&p, 1, -1);
    } else {
      return false;
    }
  }
  return true;
}

// One write(2) of at most PIPE_BUF bytes, attempted only if `fd` can take it now: a pipe that
// polls writable has a free buffer slot, so this never blocks. Returns the bytes written.
std::size_t writeIfReady(int fd, std::string_view data) {
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, 0) != 1 || (p.revents & POLLOUT) == 0) return 0;
  ssize_t n;
  do {
    n = ::write(fd, data.data(), std::min<std::size_t>(data.size(), PIPE_BUF));
  } while (n < 0 && errno == EINTR);
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

std::string formatLine(Format format, const Record& record) {
  return format == Format::Json ? formatJson(record) : formatText(record);
}

}  // namespace

struct Output::Core {
  struct Line {
    uint64_t seq;
    std::string text;  // with its newline
    Level level;
    uint64_t source;
    std::size_t cost() const { return text.size() + kLineOverheadBytes; }
  };

  Core(int fd, Format format, bool report_drops, OutputLimits limits)
      : fd(fd), format(format), report_drops(report_drops), limits(limits) {}

  void countDrop(Origin origin, std::size_t text_bytes) {
    for (DropCounts* d : {&pending, &total}) {
      ++(origin == Origin::Guest ? d->guest_records : d->runtime_records);
      d->bytes += text_bytes;
    }
  }

  // A guest line leaves the queue: its source's share shrinks. Called with the lock held.
  void release(const Line& line) {
    if (line.source == 0) return;
    auto it = source_bytes.find(line.source);
    if (it != source_bytes.end() && (it->second -= line.cost()) == 0) source_bytes.erase(it);
  }

  // Takes lines in arrival order up to kBatchBytes (at least one). Called with the lock held.
  std::string takeBatch() {
    std::string batch;
    while ((!guest.empty() || !runtime.empty()) && (batch.empty() || batch.size() < kBatchBytes)) {
      bool from_guest =
          runtime.empty() || (!guest.empty() && guest.front().seq < runtime.front().seq);
      std::deque<Line>& queue = from_guest ? guest : runtime;
      (from_guest ? guest_bytes : runtime_bytes) -= queue.front().cost();
      if (from_guest) release(queue.front());
      batch += queue.front().text;
      queue.pop_front();
      ++in_flight_records;
    }
    in_flight_bytes = batch.size();
    return batch;
  }

  std::string dropReport(const DropCounts& drops) const {
    std::vector<Field> fields = {{"guest_records", drops.guest_records},
                                 {"runtime_records", drops.runtime_records},
                                 {"bytes", drops.bytes}};
    Record record{std::chrono::system_clock::now(), Level::Warn, kRuntimeTarget,
                  "log output fell behind; records dropped", fields};
    return formatLine(format, record) + '\n';
  }

  // The writer thread: the only one that writes to fd.
  void run() {
    std::unique_lock lock(mutex);
    while (true) {
      wake.wait(lock, [&] { return stopping || !guest.empty() || !runtime.empty(); });
      if (guest.empty() && runtime.empty()) break;  // stopping, and everything is written
      std::string batch = takeBatch();
      uint64_t records = in_flight_records;
      lock.unlock();
      bool ok = !broken && writeAll(fd, batch);
      lock.lock();
      in_flight_records = 0;
      in_flight_bytes = 0;
      if (!ok) {
        // The sink is gone: nothing can be written or reported any more, only counted (a batch
        // mixes both origins; its records count as guest records).
        broken = true;
        for (DropCounts* d : {&pending, &total}) {
          d->guest_records += records;
          d->bytes += batch.size();
        }
        continue;
      }
      written += records;
      done.notify_all();  // flush() waits for the queue to empty
      if (pending.any() && report_drops) {
        // The sink took a write again: say once what it missed.
        std::string report = dropReport(pending);
        pending = {};
        lock.unlock();
        bool reported = writeAll(fd, report);
        lock.lock();
        if (!reported) broken = true;
      }
    }
    finished = true;
    done.notify_all();
  }

  static constexpr std::size_t kBatchBytes = 64 * 1024;

  const int fd;
  const Format format;
  const bool report_drops;
  const OutputLimits limits;

  mutable std::mutex mutex;
  std::condition_variable wake;  // the writer: a line arrived or close() was called
  std::condition_variable done;  // flush() and close(): a batch was written, or the writer ended
  std::deque<Line> guest;        // guest lines, oldest first
  std::deque<Line> runtime;      // the runtime's own lines, oldest first
  std::size_t guest_bytes = 0;
  std::unordered_map<uint64_t, std::size_t> source_bytes;  // queued guest bytes by source
  std::size_t runtime_bytes = 0;
  uint64_t next_seq = 0;
  uint64_t in_flight_records = 0;  // taken by the writer, not yet written
  std::size_t in_flight_bytes = 0;
  uint64_t written = 0;
  DropCounts pending;  // not yet reported
  DropCounts total;
  bool stopping = false;
  bool finished = false;
  bool broken = false;
  std::thread thread;  // joined by close() or detached by it
};

Output::Output(int fd, Format format, bool report_drops, OutputLimits limits)
    : core_(std::make_shared<Core>(fd, format, report_drops, limits)) {
  // The thread holds the core too, so a detached writer never outlives its state.
  core_->thread = std::thread([core = core_] { core->run(); });
}

Output::~Output() { close(std::chrono::steady_clock::now()); }

bool Output::push(std::string line, Origin origin, Level level, uint64_t source) {
  line += '\n';
  Core& c = *core_;
  std::size_t cost = line.size() + kLineOverheadBytes;
  std::lock_guard lock(c.mutex);
  if (c.stopping) return false;
  if (origin == Origin::Guest) {
    if (cost > c.limits.guest_bytes) {
      c.countDrop(origin, line.size());  // larger than the whole budget: dropped, not cut
      return true;
    }
    if (source != 0) {
      auto share = c.source_bytes.find(source);
      if ((share == c.source_bytes.end() ? 0 : share->second) + cost > c.limits.source_bytes) {
        // Over its own share: the source loses its new line, nobody else loses anything.
        c.countDrop(origin, line.size());
        return true;
      }
    }
    while (c.guest_bytes + cost > c.limits.guest_bytes) {
      c.countDrop(origin, c.guest.front().text.size());
      c.guest_bytes -= c.guest.front().cost();
      c.release(c.guest.front());
      c.guest.pop_front();
    }
    c.guest_bytes += cost;
    if (source != 0) c.source_bytes[source] += cost;
    c.guest.push_back({c.next_seq++, std::move(line), level, source});
  } else {
    while (c.runtime_bytes + cost > c.limits.runtime_bytes) {
      auto victim = std::find_if(c.runtime.begin(), c.runtime.end(),
                                 [](const Core::Line& l) { return l.level < Level::Error; });
      if (victim == c.runtime.end()) {
        // Only errors are queued: the older errors stay (the first usually names the cause).
        c.countDrop(origin, line.size());
        return true;
      }
      c.countDrop(origin, victim->text.size());
      c.runtime_bytes -= victim->cost();
      c.runtime.erase(victim);
    }
    c.runtime_bytes += cost;
    c.runtime.push_back({c.next_seq++, std::move(line), level, 0});
  }
  c.wake.notify_one();
  return true;
}

bool Output::flush(std::chrono::steady_clock::time_point deadline) {
  Core& c = *core_;
  std::unique_lock lock(c.mutex);
  return c.done.wait_until(lock, deadline, [&] {
    return c.finished || c.broken ||
           (c.guest.empty() && c.runtime.empty() && c.in_flight_records == 0);
  });
}

Output::CloseResult Output::close(std::chrono::steady_clock::time_point deadline) {
  Core& c = *core_;
  CloseResult result;
  std::unique_lock lock(c.mutex);
  c.stopping = true;
  c.wake.notify_one();
  if (!c.thread.joinable()) return result;  // closed before
  if (c.done.wait_until(lock, deadline, [&] { return c.finished; })) {
    result.unreported = c.pending;
    lock.unlock();
    c.thread.join();
    return result;
  }
  result.drained = false;
  result.unwritten_records = c.guest.size() + c.runtime.size() + c.in_flight_records;
  result.unwritten_bytes = c.in_flight_bytes;
  for (const auto* queue : {&c.guest, &c.runtime}) {
    for (const Core::Line& line : *queue) result.unwritten_bytes += line.text.size();
  }
  result.unreported = c.pending;
  // Whatever the writer does later is no longer ours to wait for; it keeps the core alive.
  c.guest.clear();
  c.runtime.clear();
  c.guest_bytes = c.runtime_bytes = 0;
  c.source_bytes.clear();
  c.thread.detach();
  return result;
}

DropCounts Output::dropped() const {
  std::lock_guard lock(core_->mutex);
  return core_->total;
}

uint64_t Output::written() const {
  std::lock_guard lock(core_->mutex);
  return core_->written;
}

namespace {

struct State {
  Format format = Format::Text;
  Filter filter;
  LineWriter writer;                     // tests: receives lines directly
  int fd = STDOUT_FILENO;                // where lines go without a writer
  std::atomic<Output*> output{nullptr};  // default: stdout through a queue and a writer thread
  // Every output made, never freed: a write() racing shutdown() may still hold one.
  std::vector<std::unique_ptr<Output>> outputs;
};

std::mutex& stateMutex() {
  static std::mutex m;
  return m;
}

// Never destroyed: a writer thread left stuck in write(2) at exit, or a worker still logging
// during _Exit, must not find it gone. Read without a lock on the hot path: configure() runs
// before other threads log.
State& state() {
  static State* s = new State;
  return *s;
}

// Not configured, or shut down: one line at a time, and only if stdout takes it at once.
void writeDirect(std::string line) {
  static std::mutex m;
  line += '\n';
  std::lock_guard lock(m);
  std::string_view rest = line;
  while (!rest.empty()) {
    pollfd p{state().fd, POLLOUT, 0};
    // A short wait per piece: a terminal or a draining pipe keeps up; a stalled one loses it.
    if (::poll(&p, 1, 100) != 1) return;
    std::size_t written = writeIfReady(state().fd, rest);
    if (written == 0) return;
    rest.remove_prefix(written);
  }
}

}  // namespace

void configure(Format format, Filter filter, LineWriter writer, int fd) {
  std::lock_guard lock(stateMutex());
  State& s = state();
  s.fd = fd;
  s.format = format;
  s.filter = std::move(filter);
  s.writer = std::move(writer);
  if (!s.writer && s.output.load() == nullptr) {
    auto output =
        std::make_unique<Output>(fd, format, s.filter.enabled(kRuntimeTarget, Level::Warn));
    s.output.store(output.get());
    s.outputs.push_back(std::move(output));
  }
}

bool enabled(std::string_view target, Level level) { return state().filter.enabled(target, level); }

void writeFrom(uint64_t source, Level level, std::string_view target, std::string_view message,
               std::span<const Field> fields) {
  State& s = state();
  if (!s.filter.enabled(target, level)) return;
  Record record{std::chrono::system_clock::now(), level, target, message, fields};
  std::string line = formatLine(s.format, record);
  if (s.writer) {
    s.writer(line);
    return;
  }
  Output* output = s.output.load(std::memory_order_acquire);
  if (output == nullptr) {
    writeDirect(std::move(line));
    return;
  }
  // False only when shutdown() closed the output a moment ago: the record is lost then.
  (void)output->push(std::move(line),
                     isGuestTarget(target) ? Output::Origin::Guest : Output::Origin::Runtime, level,
                     source);
}

void write(Level level, std::string_view target, std::string_view message,
           std::span<const Field> fields) {
  writeFrom(0, level, target, message, fields);
}

bool flush(std::chrono::steady_clock::time_point deadline) {
  Output* output = state().output.load(std::memory_order_acquire);
  return output == nullptr || output->flush(deadline);
}

void shutdown(std::chrono::steady_clock::time_point deadline) {
  std::lock_guard lock(stateMutex());
  Output* output = state().output.exchange(nullptr);
  if (output == nullptr) return;
  Output::CloseResult result = output->close(deadline);
  if (result.drained && !result.unreported.any()) return;
  // stderr may be a stalled pipe too: one attempt, never a wait.
  std::string message =
      result.drained
          ? fmt::format("selium-runtime: log output failed; {} records ({} bytes) were dropped\n",
                        result.unreported.guest_records + result.unreported.runtime_records,
                        result.unreported.bytes)
          : fmt::format(
                "selium-runtime: log output stalled at exit; {} records ({} bytes) were not "
                "written, and {} dropped before were not reported\n",
                result.unwritten_records, result.unwritten_bytes,
                result.unreported.guest_records + result.unreported.runtime_records);
  writeIfReady(STDERR_FILENO, message);
}

void shutdown() { shutdown(std::chrono::steady_clock::now() + kDefaultFlushBound); }

}  // namespace selium::log
