// Process state: the line-buffered stdout/stderr streams that WASI fd_write feeds.
#include "kernel/process.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "util/strings.h"

namespace selium::kernel {
namespace {

using ::testing::ElementsAre;

class NoHost : public ProcessHost {
 public:
  void wake(ProcessId, int32_t) override {}
};

class StdStreamTest : public ::testing::Test {
 protected:
  std::unique_ptr<Process> makeProcess() {
    ProcessConfig config;
    config.id = 7;
    config.module = "wasi.wasm";
    return std::make_unique<Process>(
        std::move(config), loop_, host_,
        [this](const Process&, const GuestLogRecord& r) { records.push_back(r); });
  }

  static std::span<const uint8_t> bytes(std::string_view text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
  }

  std::vector<std::string> messages() const {
    std::vector<std::string> out;
    for (const auto& r : records) out.push_back(r.message);
    return out;
  }

  static std::string streamOf(const GuestLogRecord& r) {
    for (const auto& f : r.fields) {
      if (f.key == "stream") return std::get<std::string>(f.value);
    }
    return "(none)";
  }

  boost::asio::io_context loop_;
  NoHost host_;
  std::vector<GuestLogRecord> records;
};

TEST_F(StdStreamTest, OneRecordPerLineWithTheStreamNamed) {
  auto process = makeProcess();
  process->writeStdStream(StdStream::Stdout, bytes("hello "));
  EXPECT_TRUE(records.empty());  // no newline yet
  process->writeStdStream(StdStream::Stdout, bytes("world\nsecond\r\n\nthird"));
  process->writeStdStream(StdStream::Stderr, bytes("oops\n"));
  EXPECT_THAT(messages(), ElementsAre("hello world", "second", "", "oops"));
  EXPECT_EQ(streamOf(records[0]), "stdout");
  EXPECT_EQ(records[0].level, log::Level::Info);
  EXPECT_EQ(streamOf(records[3]), "stderr");
  EXPECT_EQ(records[3].level, log::Level::Warn);
  EXPECT_EQ(records[0].target, "");
}

TEST_F(StdStreamTest, StreamsAreBufferedSeparately) {
  auto process = makeProcess();
  process->writeStdStream(StdStream::Stdout, bytes("out-"));
  process->writeStdStream(StdStream::Stderr, bytes("err-"));
  process->writeStdStream(StdStream::Stdout, bytes("1\n"));
  process->writeStdStream(StdStream::Stderr, bytes("2\n"));
  EXPECT_THAT(messages(), ElementsAre("out-1", "err-2"));
}

TEST_F(StdStreamTest, PendingTextIsFlushedWhenTheProcessEnds) {
  auto process = makeProcess();
  process->writeStdStream(StdStream::Stdout, bytes("no newline"));
  process->writeStdStream(StdStream::Stderr, bytes("nor here"));
  process->releaseResources();
  EXPECT_THAT(messages(), ElementsAre("no newline", "nor here"));
  process->releaseResources();  // idempotent: nothing twice
  process->writeStdStream(StdStream::Stdout, bytes("late"));
  process.reset();  // the destructor flushes too
  EXPECT_THAT(messages(), ElementsAre("no newline", "nor here", "late"));
}

TEST_F(StdStreamTest, LongLinesAreSplitAtTheCapWithoutLosingBytes) {
  auto process = makeProcess();
  std::string line(Process::kMaxStdLineBytes * 2 + 100, 'x');
  process->writeStdStream(StdStream::Stdout, bytes(line + "\n"));
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].message.size(), Process::kMaxStdLineBytes);
  EXPECT_EQ(records[1].message.size(), Process::kMaxStdLineBytes);
  EXPECT_EQ(records[2].message.size(), 100u);
  // Byte by byte: the same pieces.
  records.clear();
  for (char c : line) process->writeStdStream(StdStream::Stdout, bytes(std::string_view(&c, 1)));
  EXPECT_EQ(records.size(), 2u);
  process->flushStdStreams();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[2].message.size(), 100u);
}

TEST_F(StdStreamTest, SplittingNeverCutsAUtf8Character) {
  auto process = makeProcess();
  // "é" (2 bytes) straddles the cap: the first piece stops before it.
  std::string line(Process::kMaxStdLineBytes - 1, 'a');
  line += "\xC3\xA9tail\n";
  process->writeStdStream(StdStream::Stdout, bytes(line));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].message, std::string(Process::kMaxStdLineBytes - 1, 'a'));
  EXPECT_EQ(records[1].message, "\xC3\xA9tail");
}

TEST_F(StdStreamTest, InvalidUtf8IsReplacedNotPassedOn) {
  auto process = makeProcess();
  process->writeStdStream(StdStream::Stdout, bytes("bad \xFF byte\n"));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].message, "bad \xEF\xBF\xBD byte");
  EXPECT_TRUE(util::isValidUtf8(records[0].message));
}

TEST_F(StdStreamTest, UnsupportedCallsAreNoticedOncePerIndex) {
  auto process = makeProcess();
  EXPECT_TRUE(process->firstUnsupported(3));
  EXPECT_FALSE(process->firstUnsupported(3));
  EXPECT_TRUE(process->firstUnsupported(4));
  EXPECT_FALSE(process->firstUnsupported(Process::kMaxHostcalls));  // out of range: never
}

TEST_F(StdStreamTest, AStdWriterTakesTheBytesUnchangedInsteadOfRecords) {
  auto process = makeProcess();
  process->writeStdStream(StdStream::Stdout, bytes("early"));  // before the writer: a record
  std::vector<std::pair<StdStream, std::string>> written;
  process->setStdWriter([&](StdStream stream, std::span<const uint8_t> data) {
    written.emplace_back(stream, std::string(data.begin(), data.end()));
  });
  process->writeStdStream(StdStream::Stdout, bytes(std::string_view("a\0\xFF\r\n", 5)));
  process->writeStdStream(StdStream::Stderr, bytes("no newline"));
  // The unfinished line from before the writer went out first, as a record.
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].message, "early");
  ASSERT_EQ(written.size(), 2u);
  EXPECT_EQ(written[0].first, StdStream::Stdout);
  EXPECT_EQ(written[0].second, std::string("a\0\xFF\r\n", 5));
  EXPECT_EQ(written[1].first, StdStream::Stderr);
  EXPECT_EQ(written[1].second, "no newline");
  process->flushStdStreams();
  EXPECT_EQ(records.size(), 1u);
}

}  // namespace
}  // namespace selium::kernel
