#include "cli/log_line.h"

#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>
#include <selium/schemas/log_generated.h>

namespace selium::cli {
namespace {

namespace fb = selium::abi;

std::vector<uint8_t> record(fb::LogLevel level, const char* target, const char* message) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<fb::LogField>> fields;
  fields.push_back(fb::CreateLogField(b, b.CreateString("port"), fb::FieldKind::Uint, 0, 0, 7000));
  fields.push_back(
      fb::CreateLogField(b, b.CreateString("who"), fb::FieldKind::Str, b.CreateString("a b")));
  fields.push_back(
      fb::CreateLogField(b, b.CreateString("ok"), fb::FieldKind::Bool, 0, 0, 0, 0, true));
  auto t = b.CreateString(target);
  auto m = b.CreateString(message);
  b.Finish(fb::CreateLogRecord(b, level, t, m, b.CreateVector(fields)));
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

TEST(CliLogLine, FormatsLevelTargetMessageAndFields) {
  EXPECT_EQ(formatLogRecord(record(fb::LogLevel::Warn, "echo", "listening")),
            "[WARN] echo: listening port=7000 who=\"a b\" ok=true");
}

TEST(CliLogLine, EscapesControlCharactersSoARecordCannotForgeLines) {
  auto line = formatLogRecord(record(fb::LogLevel::Info, "t", "one\ntwo\x1b[31m"));
  ASSERT_TRUE(line);
  EXPECT_EQ(line->find('\n'), std::string::npos);
  EXPECT_NE(line->find("one\\ntwo\\x1b[31m"), std::string::npos);
}

TEST(CliLogLine, RefusesBytesThatAreNotARecord) {
  EXPECT_FALSE(formatLogRecord(std::vector<uint8_t>{1, 2, 3}).has_value());
  auto good = record(fb::LogLevel::Info, "t", "m");
  good.resize(good.size() / 2);
  EXPECT_FALSE(formatLogRecord(good).has_value());
}

}  // namespace
}  // namespace selium::cli
