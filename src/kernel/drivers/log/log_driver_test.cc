// Guest log records as the driver decodes them: key alphabet, fields the runtime owns, the
// decoded-size budget, records at odd addresses, and log_uri into no memory at all.
#include "kernel/drivers/log/log_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <selium/abi/hostcalls.h>

#include <boost/asio/io_context.hpp>
#include <cstring>

#include "selium/schemas/log_generated.h"

namespace selium::kernel {
namespace {

using ::testing::HasSubstr;

struct StrField {
  std::string key;
  std::string value;
};

std::vector<uint8_t> buildRecord(const std::vector<StrField>& fields, std::string message = "m") {
  flatbuffers::FlatBufferBuilder fb;
  std::vector<flatbuffers::Offset<abi::LogField>> offsets;
  for (const StrField& f : fields) {
    offsets.push_back(abi::CreateLogField(fb, fb.CreateString(f.key), abi::FieldKind::Str,
                                          fb.CreateString(f.value)));
  }
  fb.Finish(abi::CreateLogRecord(fb, abi::LogLevel::Info, fb.CreateString("t"),
                                 fb.CreateString(message), fb.CreateVector(offsets)));
  return {fb.GetBufferPointer(), fb.GetBufferPointer() + fb.GetSize()};
}

std::vector<std::string> keysOf(const GuestLogRecord& record) {
  std::vector<std::string> keys;
  for (const log::Field& f : record.fields) keys.push_back(f.key);
  return keys;
}

TEST(LogDriver, GuestFieldsNamedLikeTheRuntimesAreRenamed) {
  auto bytes = buildRecord({{"pid", "1"},
                            {"module", "evil.wasm"},
                            {"guest_target", "x"},
                            {"stream", "stdout"},
                            {"mine", "v"}});
  auto record = decodeLogRecord(bytes);
  ASSERT_TRUE(record.ok()) << record.error().message;
  EXPECT_THAT(keysOf(*record),
              ::testing::ElementsAre("guest.pid", "guest.module", "guest.guest_target",
                                     "guest.stream", "mine"));
  EXPECT_EQ(std::get<std::string>(record->fields[1].value), "evil.wasm");
}

TEST(LogDriver, KeysOutsideTheSafeAlphabetAreRejectedNamingTheKeyEscaped) {
  auto forged = decodeLogRecord(
      buildRecord({{"a\n2026-01-01T00:00:00.000000Z ERROR selium.runtime: process exited", "v"}}));
  ASSERT_FALSE(forged.ok());
  EXPECT_EQ(forged.error().message,
            "log field key \"a\\x0a2026-01-01T00:00:00.000000Z ERROR selium.runtime: process "
            "exit\"... must be 1 to 64 bytes of A-Z a-z 0-9 _ . -");
  std::vector<std::string> bad = {
      "a b", "a=b", "é", "\x1b", std::string(65, 'k'), std::string("a\0b", 3)};
  for (const std::string& key : bad) {
    auto r = decodeLogRecord(buildRecord({{key, "v"}}));
    ASSERT_FALSE(r.ok()) << key;
    EXPECT_THAT(r.error().message, HasSubstr("log field key \"")) << key;
  }
  auto good = decodeLogRecord(buildRecord({{"Az09_.-", "v"}, {std::string(64, 'k'), "v"}}));
  EXPECT_TRUE(good.ok()) << good.error().message;
}

TEST(LogDriver, RepeatedKeysAreRejected) {
  auto twice = decodeLogRecord(buildRecord({{"x", "1"}, {"x", "2"}}));
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().message, "log record has field key \"x\" more than once");
  // A renamed reserved key collides with the guest's own spelling of it.
  auto renamed = decodeLogRecord(buildRecord({{"guest.pid", "1"}, {"pid", "2"}}));
  ASSERT_FALSE(renamed.ok());
  EXPECT_THAT(renamed.error().message, HasSubstr("\"guest.pid\" more than once"));
}

TEST(LogDriver, BudgetCountsDecodedBytesNotEncodedBytes) {
  // 100 fields share one 36 KB string: ~37 KB encoded, 3.6 MB decoded.
  flatbuffers::FlatBufferBuilder fb;
  auto shared = fb.CreateString(std::string(36 * 1024, 'a'));
  std::vector<flatbuffers::Offset<abi::LogField>> offsets;
  for (int i = 0; i < 100; ++i) {
    offsets.push_back(abi::CreateLogField(fb, fb.CreateString("k" + std::to_string(i)),
                                          abi::FieldKind::Str, shared));
  }
  fb.Finish(abi::CreateLogRecord(fb, abi::LogLevel::Info, 0, fb.CreateString("m"),
                                 fb.CreateVector(offsets)));
  ASSERT_LT(fb.GetSize(), kMaxRecordBytes);
  auto amplified = decodeLogRecord({fb.GetBufferPointer(), fb.GetSize()});
  ASSERT_FALSE(amplified.ok());
  EXPECT_THAT(amplified.error().message,
              HasSubstr("bytes of strings; the limit is " + std::to_string(kMaxDecodedLogBytes)));

  // Exactly at the budget is fine; one byte more is not. Two fields share one string of n
  // bytes: "t" + "m" + "a" + "b" + 2n.
  auto shared_twice = [](std::size_t n) {
    flatbuffers::FlatBufferBuilder b;
    auto value = b.CreateString(std::string(n, 'v'));
    std::vector<flatbuffers::Offset<abi::LogField>> two = {
        abi::CreateLogField(b, b.CreateString("a"), abi::FieldKind::Str, value),
        abi::CreateLogField(b, b.CreateString("b"), abi::FieldKind::Str, value)};
    b.Finish(abi::CreateLogRecord(b, abi::LogLevel::Info, b.CreateString("t"), b.CreateString("m"),
                                  b.CreateVector(two)));
    return std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
  };
  std::size_t n = (kMaxDecodedLogBytes - 4) / 2;
  auto at = decodeLogRecord(shared_twice(n));
  EXPECT_TRUE(at.ok()) << at.error().message;
  auto over = decodeLogRecord(shared_twice(n + 1));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().message,
            "log record decodes to 65538 bytes of strings; the limit is 65536");
}

TEST(LogDriver, TooManyFieldsAreRejectedNamingTheLimit) {
  std::vector<StrField> fields;
  for (std::size_t i = 0; i <= kMaxLogFields; ++i) fields.push_back({"k" + std::to_string(i), ""});
  auto r = decodeLogRecord(buildRecord(fields));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "log record has 129 fields; the limit is 128");
  fields.pop_back();
  EXPECT_TRUE(decodeLogRecord(buildRecord(fields)).ok());
}

TEST(LogDriver, RecordAtAnOddAddressIsReadFromAnAlignedCopy) {
  flatbuffers::FlatBufferBuilder fb;
  std::vector<flatbuffers::Offset<abi::LogField>> fields = {
      abi::CreateLogField(fb, fb.CreateString("u"), abi::FieldKind::Uint, 0, 0, UINT64_MAX),
      abi::CreateLogField(fb, fb.CreateString("f"), abi::FieldKind::Float, 0, 0, 0, 2.5)};
  fb.Finish(abi::CreateLogRecord(fb, abi::LogLevel::Error, fb.CreateString("t"),
                                 fb.CreateString("odd"), fb.CreateVector(fields)));
  for (std::size_t offset : {1, 3, 4, 7}) {
    std::vector<uint8_t> memory(fb.GetSize() + 16);
    std::memcpy(memory.data() + offset, fb.GetBufferPointer(), fb.GetSize());
    auto record = decodeLogRecord({memory.data() + offset, fb.GetSize()});
    ASSERT_TRUE(record.ok()) << offset << ": " << record.error().message;
    EXPECT_EQ(record->message, "odd");
    EXPECT_EQ(record->level, log::Level::Error);
    ASSERT_EQ(record->fields.size(), 2u);
    EXPECT_EQ(std::get<uint64_t>(record->fields[0].value), UINT64_MAX);
    EXPECT_EQ(std::get<double>(record->fields[1].value), 2.5);
  }
}

class NoHost : public ProcessHost {
 public:
  void wake(ProcessId, int32_t) override {}
};

TEST(LogDriver, LogUriWithNoMemoryCopiesNothing) {
  boost::asio::io_context loop;
  NoHost host;
  ProcessConfig config;
  config.id = 1;
  config.module = "no_memory.wasm";
  config.log_uri = "sel://x/logs";
  Process process(std::move(config), loop, host, nullptr);
  CallContext ctx{process, {}};  // a module without memory: an empty span with no data
  EXPECT_EQ(hostcalls::log_uri(ctx, GuestOut{{}}), 12);
}

}  // namespace
}  // namespace selium::kernel
