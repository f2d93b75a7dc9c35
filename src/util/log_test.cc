#include "util/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

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

TEST(LogFormat, TextKeepsOneLinePerRecord) {
  std::vector<Field> fields = {{"raw", "a\nb"}};
  Record record{kTime, Level::Error, "selium.guest", "line one\nline two", fields};
  EXPECT_EQ(formatText(record),
            "2021-03-04T05:06:07.000008Z ERROR selium.guest: line one line two raw=\"a\\x0ab\"");
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

}  // namespace
}  // namespace selium::log
