// Log formatting (one line per record whatever the input), filtering, and the bounded output
// queue against a pipe the test drains or leaves stalled.
#include "util/log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

namespace selium::log {
namespace {

using std::chrono::microseconds;
using std::chrono::system_clock;

// 2021-03-04T05:06:07.000008Z
const system_clock::time_point kTime{microseconds(1614834367000008)};

TEST(LogFormat, TimestampIsRfc3339UtcWithMicroseconds) {
  EXPECT_EQ(formatTimestamp(kTime), "2021-03-04T05:06:07.000008Z");
  EXPECT_EQ(formatTimestamp(system_clock::time_point{}), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(formatTimestamp(system_clock::time_point{microseconds(-1)}),
            "1969-12-31T23:59:59.999999Z");
}

TEST(LogFormat, TextLineHasLevelTargetMessageAndFields) {
  std::vector<Field> fields = {{"module", "echo.wasm"}, {"pid", 7},    {"ok", true},
                               {"note", "two words"},   {"empty", ""}, {"ratio", 0.5}};
  Record record{kTime, Level::Info, "selium.runtime", "module started", fields};
  EXPECT_EQ(formatText(record),
            "2021-03-04T05:06:07.000008Z  INFO selium.runtime: module started module=echo.wasm "
            "pid=7 ok=true note=\"two words\" empty=\"\" ratio=0.5");
}

TEST(LogFilter, OnlyDirectivesForTheRuntimesTargetsCanMatch) {
  for (std::string_view target :
       {"selium", "selium.runtime", "selium.guest", "selium.guest.x", "selium.guest.x.y"}) {
    EXPECT_TRUE(couldMatchRuntimeTarget(target)) << target;
  }
  for (std::string_view target :
       {"selium.gest", "selium.guests", "selium.runtime.x", "myguest", "guest", "selium.g"}) {
    EXPECT_FALSE(couldMatchRuntimeTarget(target)) << target;
  }
  auto filter = Filter::parse("warn,selium.gest=debug, selium.guest.a = info");
  ASSERT_TRUE(filter.ok());
  EXPECT_EQ(filter->directiveTargets(),
            (std::vector<std::string_view>{"selium.gest", "selium.guest.a"}));
}

TEST(LogFormat, TextKeepsOneLinePerRecord) {
  std::vector<Field> fields = {{"raw", "a\nb"}};
  Record record{kTime, Level::Error, "selium.guest", "line one\nline two", fields};
  EXPECT_EQ(formatText(record),
            "2021-03-04T05:06:07.000008Z ERROR selium.guest: line one\\x0aline two "
            "raw=\"a\\x0ab\"");
}

TEST(LogFormat, TextEscapesEveryControlCharacterSoNoLineCanBeForged) {
  // A key carrying a newline and a fake record, a value with terminal escapes, C1 and U+2028.
  std::string forged = "k\n2021-03-04T05:06:07.000008Z ERROR selium.runtime: process exited";
  std::vector<Field> fields = {{forged, 1},
                               {"v", "\x1b[31mred\r\t\x7f"},
                               {"c1",
                                "a\xc2\x9b"
                                "2Jb"},
                               {"ls", "x\xe2\x80\xa8y\xe2\x80\xa9"}};
  Record record{kTime, Level::Info, "selium.guest\n", "m\x1b]0;title\x07\xc2\x85!", fields};
  std::string line = formatText(record);
  EXPECT_EQ(
      line,
      "2021-03-04T05:06:07.000008Z  INFO selium.guest\\x0a: m\\x1b]0;title\\x07\\u0085! "
      "k\\x0a2021-03-04T05\\x3a06\\x3a07.000008Z\\x20ERROR\\x20selium.runtime\\x3a\\x20process"
      "\\x20exited=1 "
      "v=\"\\x1b[31mred\\x0d\\x09\\x7f\" c1=\"a\\u009b2Jb\" ls=\"x\\u2028y\\u2029\"");
  for (char c : line) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << line;
}

TEST(LogFormat, JsonRepeatedKeyNeverOverwritesTheFirst) {
  std::vector<Field> fields = {{"pid", 7}, {"module", "real.wasm"}, {"pid", 1}, {"pid", "x"}};
  Record record{kTime, Level::Info, "selium.guest", "m", fields};
  auto json = nlohmann::json::parse(formatJson(record));
  EXPECT_EQ(json["fields"]["pid"], 7);
  EXPECT_EQ(json["fields"]["pid#2"], 1);
  EXPECT_EQ(json["fields"]["pid#3"], "x");
  EXPECT_EQ(json["fields"]["module"], "real.wasm");
  EXPECT_EQ(json["fields"].size(), 4u);
}

TEST(LogFormat, JsonLineParsesWithTypedFields) {
  std::vector<Field> fields = {{"module", "echo.wasm"},
                               {"pid", uint64_t{7}},
                               {"delta", -3},
                               {"nan", std::nan("")},
                               {"bad", std::string("\xff")}};
  Record record{kTime, Level::Warn, "selium.guest", "hi \"there\"", fields};
  std::string line = formatJson(record);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto json = nlohmann::json::parse(line);
  EXPECT_EQ(json["timestamp"], "2021-03-04T05:06:07.000008Z");
  EXPECT_EQ(json["level"], "WARN");
  EXPECT_EQ(json["target"], "selium.guest");
  EXPECT_EQ(json["message"], "hi \"there\"");
  EXPECT_EQ(json["fields"]["module"], "echo.wasm");
  EXPECT_EQ(json["fields"]["pid"], 7);
  EXPECT_EQ(json["fields"]["delta"], -3);
  EXPECT_EQ(json["fields"]["nan"], "nan");
  EXPECT_EQ(json["fields"]["bad"], "\xEF\xBF\xBD");  // invalid UTF-8 replaced, line still valid
}

TEST(LogFilter, DefaultLevelAppliesToEveryTarget) {
  auto filter = Filter::parse("warn");
  ASSERT_TRUE(filter.ok());
  EXPECT_FALSE(filter->enabled("selium.runtime", Level::Info));
  EXPECT_TRUE(filter->enabled("selium.runtime", Level::Warn));
  EXPECT_TRUE(filter->enabled("anything", Level::Error));
}

TEST(LogFilter, TargetDirectiveCoversChildrenAndLongestWins) {
  auto filter = Filter::parse("info, selium.guest=debug, selium.guest.noisy=error");
  ASSERT_TRUE(filter.ok()) << filter.error().message;
  EXPECT_TRUE(filter->enabled("selium.guest", Level::Debug));
  EXPECT_TRUE(filter->enabled("selium.guest.echo", Level::Debug));
  EXPECT_FALSE(filter->enabled("selium.guest.noisy", Level::Warn));
  EXPECT_FALSE(filter->enabled("selium.guestx", Level::Debug));  // not a child: no dot
  EXPECT_FALSE(filter->enabled("selium.runtime", Level::Debug));
  EXPECT_TRUE(filter->enabled("selium.runtime", Level::Info));
}

TEST(LogFilter, OffSilencesTarget) {
  auto filter = Filter::parse("selium.runtime=off");
  ASSERT_TRUE(filter.ok());
  EXPECT_FALSE(filter->enabled("selium.runtime", Level::Error));
  EXPECT_TRUE(filter->enabled("selium.guest", Level::Info));
}

TEST(LogFilter, EmptyTextMeansInfo) {
  auto filter = Filter::parse("");
  ASSERT_TRUE(filter.ok());
  EXPECT_TRUE(filter->enabled("x", Level::Info));
  EXPECT_FALSE(filter->enabled("x", Level::Debug));
}

TEST(LogFilter, RejectsBadDirectivesNamingThem) {
  auto bad_level = Filter::parse("info,selium.guest=verbose");
  ASSERT_FALSE(bad_level.ok());
  EXPECT_EQ(bad_level.error().message,
            "invalid log directive \"selium.guest=verbose\": unknown level \"verbose\" (expected "
            "trace, debug, info, warn, error or off)");
  auto no_target = Filter::parse("=debug");
  ASSERT_FALSE(no_target.ok());
  EXPECT_THAT(no_target.error().message, ::testing::HasSubstr("empty target"));
  auto two_defaults = Filter::parse("info,debug");
  ASSERT_FALSE(two_defaults.ok());
  EXPECT_THAT(two_defaults.error().message, ::testing::HasSubstr("default level was already"));
}

TEST(LogParse, LevelsAndFormatsAreCaseInsensitive) {
  EXPECT_EQ(parseLevel("WARNING"), Level::Warn);
  EXPECT_EQ(parseLevel("Trace"), Level::Trace);
  EXPECT_EQ(parseLevel("loud"), std::nullopt);
  EXPECT_EQ(parseFormat("JSON"), Format::Json);
  EXPECT_EQ(parseFormat("text"), Format::Text);
  EXPECT_EQ(parseFormat("yaml"), std::nullopt);
}

TEST(LogWrite, WriterReceivesOnlyEnabledRecords) {
  std::vector<std::string> lines;
  auto filter = Filter::parse("warn");
  ASSERT_TRUE(filter.ok());
  configure(Format::Text, *filter, [&](std::string_view line) { lines.emplace_back(line); });
  info("dropped");
  warn("kept", {{"n", 1}});
  write(Level::Error, "selium.guest", "guest said", {{"pid", 3}});
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], ::testing::MatchesRegex("[0-9T:.-]+Z  WARN selium\\.runtime: kept n=1"));
  EXPECT_THAT(lines[1], ::testing::EndsWith("ERROR selium.guest: guest said pid=3"));
  configure(Format::Text, Filter{}, [](std::string_view) {});
}

TEST(LogTarget, GuestTargetsAreSeliumGuestAndBelow) {
  EXPECT_TRUE(isGuestTarget("selium.guest"));
  EXPECT_TRUE(isGuestTarget("selium.guest.echo"));
  EXPECT_FALSE(isGuestTarget("selium.guestx"));
  EXPECT_FALSE(isGuestTarget("selium.runtime"));
}

// A pipe the test owns: the Output writes into `write_fd`; the test reads `read_fd` or not.
class OutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    read_fd_ = fds[0];
    write_fd_ = fds[1];
  }
  void TearDown() override {
    if (write_fd_ >= 0) close(write_fd_);
    if (read_fd_ >= 0) close(read_fd_);
  }

  // Fills the empty pipe to its capacity with 16-byte "fff…f" lines, so that the writer's first
  // write blocks until the test reads: a stalled sink from the start, whatever the scheduling.
  void fillPipe() {
    int capacity = fcntl(write_fd_, F_GETPIPE_SZ);
    ASSERT_GT(capacity, 0);
    ASSERT_EQ(capacity % 16, 0);
    std::string filler;
    for (int i = 0; i < capacity / 16; ++i) filler += std::string(15, 'f') + "\n";
    ASSERT_EQ(::write(write_fd_, filler.data(), filler.size()), capacity);
  }

  static bool isFiller(const std::string& line) { return line == std::string(15, 'f'); }

  // Reads until `done(all output so far)` or the deadline; returns what was read.
  std::string readUntil(const std::function<bool(const std::string&)>& done,
                        std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(read_) && std::chrono::steady_clock::now() < deadline) {
      pollfd p{read_fd_, POLLIN, 0};
      if (poll(&p, 1, 100) != 1) continue;
      char buffer[65536];
      ssize_t n = read(read_fd_, buffer, sizeof buffer);
      if (n <= 0) break;
      read_.append(buffer, static_cast<std::size_t>(n));
    }
    return read_;
  }

  // Reads whatever the pipe holds now.
  std::string readAvailable() {
    while (true) {
      pollfd p{read_fd_, POLLIN, 0};
      if (poll(&p, 1, 0) != 1 || (p.revents & POLLIN) == 0) return read_;
      char buffer[65536];
      ssize_t n = read(read_fd_, buffer, sizeof buffer);
      if (n <= 0) return read_;
      read_.append(buffer, static_cast<std::size_t>(n));
    }
  }

  static std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  static std::chrono::steady_clock::time_point in(std::chrono::milliseconds ms) {
    return std::chrono::steady_clock::now() + ms;
  }

  int read_fd_ = -1;
  int write_fd_ = -1;
  std::string read_;
};

TEST_F(OutputTest, WritesEveryLineInArrivalOrder) {
  Output output(write_fd_, Format::Text, /*report_drops=*/true);
  ASSERT_TRUE(output.push("g1", Output::Origin::Guest, Level::Info));
  ASSERT_TRUE(output.push("r1", Output::Origin::Runtime, Level::Info));
  ASSERT_TRUE(output.push("g2", Output::Origin::Guest, Level::Error));
  auto closed = output.close(in(std::chrono::seconds(30)));
  EXPECT_TRUE(closed.drained);
  EXPECT_EQ(closed.unwritten_records, 0u);
  EXPECT_FALSE(output.push("late", Output::Origin::Runtime, Level::Error));  // closed
  EXPECT_EQ(readUntil([](const std::string& s) { return s.size() >= 9; }), "g1\nr1\ng2\n");
  EXPECT_EQ(output.written(), 3u);
  EXPECT_FALSE(output.dropped().any());
}

TEST_F(OutputTest, StalledSinkDropsOldestGuestLinesKeepsRuntimeErrorsAndReportsOnRecovery) {
  // Small budgets, a full pipe, and one writer batch (64 KiB) in flight: 3,000 guest lines of
  // ~100 bytes cannot all be kept while nobody reads, nor 100 runtime lines.
  fillPipe();
  OutputLimits limits{/*guest_bytes=*/8 * 1024, /*runtime_bytes=*/2 * 1024};
  Output output(write_fd_, Format::Text, /*report_drops=*/true, limits);
  const std::string pad(90, 'x');
  for (int i = 0; i < 3000; ++i) {
    output.push(fmt::format("guest {:04} {}", i, pad), Output::Origin::Guest, Level::Info);
  }
  ASSERT_TRUE(output.push("runtime error one", Output::Origin::Runtime, Level::Error));
  // The runtime's reserve overflows with chatter: the chatter goes, never the errors.
  for (int i = 0; i < 100; ++i) {
    output.push(fmt::format("runtime info {:03} {}", i, pad), Output::Origin::Runtime, Level::Info);
  }
  ASSERT_TRUE(output.push("runtime error two", Output::Origin::Runtime, Level::Error));
  output.push("guest last", Output::Origin::Guest, Level::Info);
  DropCounts dropped = output.dropped();
  EXPECT_GT(dropped.guest_records, 0u);
  EXPECT_GT(dropped.runtime_records, 0u);

  // The reader resumes: every kept line arrives, then the report.
  std::string text = readUntil([](const std::string& s) {
    return s.find("guest last\n") != std::string::npos &&
           s.find("records dropped") != std::string::npos;
  });
  auto closed = output.close(in(std::chrono::seconds(30)));
  EXPECT_TRUE(closed.drained);
  text = readAvailable();  // the writer has ended: the rest is in the pipe
  EXPECT_THAT(text, ::testing::HasSubstr("runtime error one\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("runtime error two\n"));

  // Guest lines come out in order, with a gap where the oldest queued ones were dropped; the
  // reports add up to exactly what was dropped.
  int last_guest = -1;
  uint64_t reported_guest = 0, reported_runtime = 0, reported_bytes = 0;
  std::regex report(
      ".* WARN selium\\.runtime: log output fell behind; records dropped guest_records=(\\d+) "
      "runtime_records=(\\d+) bytes=(\\d+)");
  for (const std::string& line : lines(text)) {
    std::smatch m;
    if (isFiller(line)) continue;
    if (line.starts_with("guest ") && line != "guest last") {
      int n = std::stoi(line.substr(6, 4));
      EXPECT_GT(n, last_guest);
      last_guest = n;
    } else if (std::regex_match(line, m, report)) {
      reported_guest += std::stoull(m[1]);
      reported_runtime += std::stoull(m[2]);
      reported_bytes += std::stoull(m[3]);
    }
  }
  EXPECT_EQ(last_guest, 2999);  // the newest survive
  EXPECT_EQ(reported_guest, output.dropped().guest_records);
  EXPECT_EQ(reported_runtime, output.dropped().runtime_records);
  EXPECT_EQ(reported_bytes, output.dropped().bytes);
  EXPECT_EQ(closed.unreported.guest_records + closed.unreported.runtime_records, 0u);
}

TEST_F(OutputTest, OneFloodingSourceCannotPushOutAnothersLines) {
  fillPipe();
  OutputLimits limits{/*guest_bytes=*/8 * 1024, /*runtime_bytes=*/2 * 1024,
                      /*source_bytes=*/2 * 1024};
  Output output(write_fd_, Format::Text, /*report_drops=*/true, limits);
  // Process 2's lines are queued first, so the oldest-first policy alone would drop them.
  for (int i = 0; i < 5; ++i) {
    output.push(fmt::format("quiet {}", i), Output::Origin::Guest, Level::Info, 2);
  }
  const std::string pad(90, 'x');
  for (int i = 0; i < 3000; ++i) {
    output.push(fmt::format("flood {:04} {}", i, pad), Output::Origin::Guest, Level::Info, 1);
  }
  output.push("quiet last", Output::Origin::Guest, Level::Info, 2);
  std::string text = readUntil(
      [](const std::string& s) { return s.find("records dropped") != std::string::npos; });
  EXPECT_TRUE(output.close(in(std::chrono::seconds(30))).drained);
  text = readAvailable();
  int quiet = 0, flood = 0;
  for (const std::string& line : lines(text)) {
    if (line.starts_with("quiet ")) ++quiet;
    if (line.starts_with("flood ")) ++flood;
  }
  EXPECT_EQ(quiet, 6);  // every one of process 2's lines
  EXPECT_GT(flood, 0);
  EXPECT_EQ(output.dropped().guest_records, 3000u - static_cast<uint64_t>(flood));
}

TEST_F(OutputTest, LineLargerThanTheGuestBudgetIsDroppedWhole) {
  OutputLimits limits{/*guest_bytes=*/1024, /*runtime_bytes=*/1024};
  Output output(write_fd_, Format::Text, /*report_drops=*/true, limits);
  ASSERT_TRUE(output.push(std::string(2000, 'g'), Output::Origin::Guest, Level::Error));
  ASSERT_TRUE(output.push(std::string(2000, 'r'), Output::Origin::Runtime, Level::Error));
  ASSERT_TRUE(output.push("small", Output::Origin::Guest, Level::Info));
  EXPECT_EQ(output.dropped().guest_records, 1u);
  EXPECT_EQ(output.dropped().runtime_records, 1u);
  EXPECT_EQ(output.dropped().bytes, 2u * 2001);
  std::string text = readUntil(
      [](const std::string& s) { return s.find("records dropped") != std::string::npos; });
  EXPECT_THAT(text, ::testing::StartsWith("small\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("guest_records=1 runtime_records=1 bytes=4002"));
  EXPECT_TRUE(output.close(in(std::chrono::seconds(30))).drained);
}

TEST_F(OutputTest, CloseNeverWaitsPastItsDeadlineOnAStalledSink) {
  // Nobody reads: the writer blocks in write(2) with a full pipe and lines still queued.
  fillPipe();
  Output output(write_fd_, Format::Text, /*report_drops=*/false);
  const std::string line(1000, 'x');
  for (int i = 0; i < 500; ++i) output.push(line, Output::Origin::Guest, Level::Info);
  auto closed = output.close(in(std::chrono::milliseconds(200)));
  EXPECT_FALSE(closed.drained);
  EXPECT_GT(closed.unwritten_records, 0u);
  EXPECT_GE(closed.unwritten_bytes, closed.unwritten_records * 1001);
  EXPECT_FALSE(output.push(line, Output::Origin::Guest, Level::Info));
  // The detached writer holds only its batch now: closing our end and draining lets it finish.
  close(write_fd_);
  write_fd_ = -1;
  std::size_t total = readUntil([](const std::string&) { return false; }).size();
  total -= static_cast<std::size_t>(fcntl(read_fd_, F_GETPIPE_SZ));  // the filler
  EXPECT_EQ(total % 1001, 0u);                                       // whole lines only
  EXPECT_LE(total / 1001, 500u);
  EXPECT_GE(total / 1001 + closed.unwritten_records, 500u);  // the in-flight batch got through
}

}  // namespace
}  // namespace selium::log
