// The channel hostcalls through the real dispatch path: real Processes on LoopHosts (a real
// Scheduler, so wakes are real polls with the guest's own tokens, from this thread and from
// another worker's), a byte vector as each guest's linear memory.
#include "kernel/drivers/channel/channel_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <selium/abi/errors.h>
#include <selium/abi/hostcalls.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <future>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "kernel/registry.h"
#include "kernel/testing/guest.h"
#include "kernel/testing/loop_host.h"

namespace selium::kernel {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using Polled = std::pair<ProcessId, int32_t>;
using namespace std::chrono_literals;
using testing::batchOf;
using testing::Guest;
using testing::i32;
using testing::i64;
using testing::kMemory;
using testing::kOut;
using testing::u32;

// Frame i as 8 bytes ("f0000007"): 16 bytes of ring each, so a 64-byte ring holds 4.
std::string frameText(int i) {
  char text[16];
  std::snprintf(text, sizeof text, "f%07d", i);
  return text;
}

CapabilitySet channelCapabilities() {
  CapabilitySet caps;
  caps.add(Capability::ChannelLifecycle);
  caps.add(Capability::ChannelReader);
  caps.add(Capability::ChannelWriter);
  caps.add(Capability::TimeRead);
  return caps;
}

// A second worker: a LoopHost made, run and destroyed on its own thread, sharing a registry with
// the test's host. Its processes are touched only through run().
class Worker {
 public:
  explicit Worker(Registry& registry) {
    std::promise<void> ready;
    thread_ = std::thread([this, &registry, &ready] {
      host_ = std::make_unique<testing::LoopHost>(&registry);
      ready.set_value();
      host_->loop().run();  // until stop(); the host's work guard keeps it running meanwhile
      host_.reset();
    });
    ready.get_future().wait();
  }
  ~Worker() {
    host_->loop().stop();
    thread_.join();
  }

  // Runs fn(host) on the worker's thread and returns its result.
  template <typename F>
  auto run(F fn) {
    std::packaged_task<decltype(fn(std::declval<testing::LoopHost&>()))()> task(
        [&] { return fn(*host_); });
    auto result = task.get_future();
    boost::asio::post(host_->loop(), [&task] { task(); });
    return result.get();
  }

 private:
  std::unique_ptr<testing::LoopHost> host_;
  std::thread thread_;
};

class ChannelDriverTest : public ::testing::Test {
 protected:
  void TearDown() override {
    guests_.clear();
    host_.reset();  // ends every process, however the test left it
    EXPECT_EQ(Resource::liveCount(), live_);
    EXPECT_EQ(registry_.sharedCount(), 0u);
    EXPECT_EQ(registry_.singletonCount(), 0u);
  }

  Guest& guest(ProcessConfig config = {}) {
    if (config.capabilities.empty()) config.capabilities = channelCapabilities();
    return guests_.emplace_back(host_->makeProcess(std::move(config)));
  }

  // Runs what is ready on the loop; returns the polls delivered since the last call.
  std::vector<Polled> polls() { return host_->takePolls(); }
  // Runs the loop until (pid, waker) has been polled (bounded); clears the record.
  bool wokeWith(ProcessId pid, int32_t waker) { return host_->wokeWith(pid, waker); }

  std::size_t live_ = Resource::liveCount();
  Registry registry_;  // before the hosts: outlives their processes
  std::unique_ptr<testing::LoopHost> host_ = std::make_unique<testing::LoopHost>(&registry_);
  std::deque<Guest> guests_;
};

TEST_F(ChannelDriverTest, CreateRefusesCapacityOutsideItsRangeAndUnknownBackpressure) {
  Guest& g = guest();
  for (uint32_t capacity : {0u, 1u, 63u, (1u << 30) + 1, std::numeric_limits<uint32_t>::max()}) {
    EXPECT_EQ(g.create(capacity), -SELIUM_ERR_InvalidArgument) << capacity;
    EXPECT_THAT(g.lastError(), AllOf(HasSubstr("capacity " + std::to_string(capacity)),
                                     HasSubstr("[64, 1073741824]")));
  }
  for (int32_t backpressure : {2, -1, 255, std::numeric_limits<int32_t>::min()}) {
    EXPECT_EQ(g.create(1024, backpressure), -SELIUM_ERR_InvalidArgument) << backpressure;
    EXPECT_THAT(g.lastError(), HasSubstr("backpressure " + std::to_string(backpressure)));
  }
  EXPECT_EQ(g.process().handles().size(), 0u);
  EXPECT_EQ(g.process().channelBytes()->load(), 0u);
  // The bounds themselves are valid: 64 bytes is made; 1 GiB only exceeds the default budget.
  int32_t smallest = g.create(64);
  EXPECT_GT(smallest, 0) << g.lastError();
  EXPECT_EQ(g.kind(smallest), SELIUM_KIND_CHANNEL);
  EXPECT_EQ(g.create(1u << 30), -SELIUM_ERR_LimitExceeded);
  EXPECT_GT(g.create(64, SELIUM_BACKPRESSURE_DROP), 0);
  EXPECT_EQ(g.process().channelBytes()->load(), 128u);
}

TEST_F(ChannelDriverTest, StrengthOtherThanStrongOrWeakIsInvalidArgument) {
  Guest& g = guest();
  int32_t channel = g.create(1024);
  ASSERT_GT(channel, 0);
  for (int32_t strength : {2, -1, 100}) {
    EXPECT_EQ(g.openReader(channel, strength), -SELIUM_ERR_InvalidArgument) << strength;
    EXPECT_THAT(g.lastError(), HasSubstr("strength " + std::to_string(strength)));
    EXPECT_EQ(g.openWriter(channel, strength), -SELIUM_ERR_InvalidArgument) << strength;
    EXPECT_THAT(g.lastError(), HasSubstr("strength " + std::to_string(strength)));
  }
  EXPECT_EQ(g.process().handles().size(), 1u);
  EXPECT_EQ(g.kind(g.openReader(channel, SELIUM_WEAK)), SELIUM_KIND_READER);
  EXPECT_EQ(g.kind(g.openWriter(channel, SELIUM_WEAK)), SELIUM_KIND_WRITER);
}

TEST_F(ChannelDriverTest, FramesAreReadWholeAndInOrder) {
  Guest& a = guest();
  Guest& b = guest();
  int32_t channel = a.create(1024);
  int32_t writer = a.openWriter(channel);
  int32_t reader = a.openReader(channel);
  ASSERT_GT(reader, 0);
  std::string binary("\0\xff\x01zz", 5);
  EXPECT_EQ(a.write(writer, "hello"), 0);
  EXPECT_EQ(a.write(writer, ""), 0);
  EXPECT_EQ(a.write(writer, binary), 0);
  // Another process's reader of the same channel sees every frame too (broadcast).
  int32_t b_reader = b.attach(a.share(a.openReader(channel)), SELIUM_KIND_READER);
  ASSERT_GT(b_reader, 0) << b.lastError();
  std::string frame = "stale";
  EXPECT_EQ(a.read(reader, &frame), 5);
  EXPECT_EQ(frame, "hello");
  EXPECT_EQ(a.read(reader, &frame), 0);
  EXPECT_EQ(frame, "");
  EXPECT_EQ(a.read(reader, &frame), 5);
  EXPECT_EQ(frame, binary);
  EXPECT_EQ(a.read(reader), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(b.next(b_reader), "hello");
  EXPECT_EQ(b.next(b_reader), "");
  EXPECT_EQ(b.next(b_reader), binary);
  EXPECT_EQ(b.read(b_reader), -SELIUM_ERR_WouldBlock);
}

TEST_F(ChannelDriverTest, ReadIntoATooSmallBufferSaysTheSizeNeededAndReadsNothing) {
  Guest& g = guest();
  int32_t channel = g.create(1024);
  int32_t writer = g.openWriter(channel);
  int32_t reader = g.openReader(channel);
  ASSERT_EQ(g.write(writer, "0123456789"), 0);
  ASSERT_EQ(g.write(writer, "x"), 0);
  std::string frame = "untouched";
  std::memset(g.memory().data() + kOut, '#', 16);
  EXPECT_EQ(g.read(reader, &frame, 9), 10);
  EXPECT_EQ(frame, "untouched");
  EXPECT_EQ(g.memory()[kOut], '#');  // nothing was copied
  EXPECT_EQ(g.read(reader, &frame, 0), 10);
  EXPECT_EQ(g.read(reader, &frame, 10), 10);
  EXPECT_EQ(frame, "0123456789");
  EXPECT_EQ(g.next(reader), "x");
}

TEST_F(ChannelDriverTest, AFrameFillingTheRingFitsAndALargerOneIsTooLargeAtOnce) {
  Guest& g = guest();
  int32_t channel = g.create(64);
  int32_t writer = g.openWriter(channel);
  int32_t reader = g.openReader(channel);
  std::string whole(64 - SELIUM_FRAME_OVERHEAD, 'w');
  ASSERT_EQ(g.write(writer, whole, 1), 0) << g.lastError();
  EXPECT_EQ(g.write(writer, "y", 2), -SELIUM_ERR_WouldBlock);  // the strong reader holds it
  std::string big(64 - SELIUM_FRAME_OVERHEAD + 1, 'b');
  EXPECT_EQ(g.write(writer, big, 3), -SELIUM_ERR_TooLarge);
  EXPECT_THAT(g.lastError(), AllOf(HasSubstr("frame of 57 bytes"), HasSubstr("of 64 bytes"),
                                   HasSubstr("takes 72 bytes")));
  EXPECT_EQ(g.write(writer, std::string(5000, 'h'), 3), -SELIUM_ERR_TooLarge);
  EXPECT_THAT(g.lastError(), HasSubstr("frame of 5000 bytes"));
  // As the first frame of a batch, the same; as a later one, the frames before it are written.
  EXPECT_EQ(g.writeBatch(writer, batchOf({big, "a"}), 3), -SELIUM_ERR_TooLarge);
  EXPECT_THAT(g.lastError(), HasSubstr("frame of 57 bytes"));
  EXPECT_EQ(g.next(reader), whole);
  EXPECT_EQ(g.writeBatch(writer, batchOf({"a", big, "c"}), 3), 1);
  EXPECT_EQ(g.next(reader), "a");
  EXPECT_EQ(g.read(reader), -SELIUM_ERR_WouldBlock);
  // TooLarge never armed a wait: only the parked write of "y" is woken.
  std::vector<Polled> polled = polls();
  EXPECT_THAT(polled, ElementsAre(Polled{g.pid(), 2}));
}

TEST_F(ChannelDriverTest, BatchesRoundTripInTheAbiEncoding) {
  Guest& g = guest();
  int32_t channel = g.create(1024);
  int32_t writer = g.openWriter(channel);
  int32_t reader = g.openReader(channel);
  EXPECT_EQ(g.writeBatch(writer, batchOf({"", "abc", "0123456789"})), 3) << g.lastError();
  EXPECT_EQ(g.write(writer, "single"), 0);
  // The whole batch: 4 + 0, 4 + 3, 4 + 10, 4 + 6 bytes, little-endian lengths, no padding.
  std::vector<std::string> frames;
  EXPECT_EQ(g.readBatch(reader, &frames), 35);
  EXPECT_THAT(frames, ElementsAre("", "abc", "0123456789", "single"));
  const uint8_t* out = g.memory().data() + kOut;
  EXPECT_EQ(std::vector<uint8_t>(out, out + 11),
            (std::vector<uint8_t>{0, 0, 0, 0, 3, 0, 0, 0, 'a', 'b', 'c'}));
  EXPECT_EQ(std::vector<uint8_t>(out + 11, out + 15), (std::vector<uint8_t>{10, 0, 0, 0}));
  EXPECT_EQ(g.readBatch(reader), -SELIUM_ERR_WouldBlock);
  // A buffer too small for the next frame reads nothing and says what it needs.
  ASSERT_EQ(g.writeBatch(writer, batchOf({"ab", "0123456789"})), 2);
  EXPECT_EQ(g.readBatch(reader, &frames, 5), 6);
  EXPECT_EQ(g.readBatch(reader, &frames, 6 + 13), 6);  // the second does not fit: one frame
  EXPECT_THAT(frames, ElementsAre("ab"));
  EXPECT_EQ(g.readBatch(reader, &frames, 13), 14);
  EXPECT_EQ(g.readBatch(reader, &frames, 14), 14);
  EXPECT_THAT(frames, ElementsAre("0123456789"));
  // Batches and single frames are the same frames: a single read takes a batch's frames one
  // by one.
  ASSERT_EQ(g.writeBatch(writer, batchOf({"x", "yz"})), 2);
  EXPECT_EQ(g.next(reader), "x");
  EXPECT_EQ(g.next(reader), "yz");
}

TEST_F(ChannelDriverTest, MalformedBatchesAreRefusedWholeAndWriteNothing) {
  Guest& g = guest();
  int32_t channel = g.create(1024);
  int32_t writer = g.openWriter(channel);
  int32_t reader = g.openReader(channel);
  std::vector<uint8_t> valid = batchOf({"ok"});
  std::vector<std::vector<uint8_t>> malformed = {
      {1, 0, 0, 0},              // a length with no bytes after it
      {5, 0, 0, 0, 'a', 'b'},    // a length past the end
      {0xff, 0xff, 0xff, 0xff},  // 4 GiB
      {2, 0, 0},                 // a header cut short
      {0, 0, 0, 0, 7},           // a header cut short after an empty frame
  };
  std::vector<uint8_t> tail = valid;
  tail.insert(tail.end(), {9, 0});  // a valid frame, then half a header
  malformed.push_back(tail);
  for (const auto& batch : malformed) {
    EXPECT_EQ(g.writeBatch(writer, batch), -SELIUM_ERR_InvalidArgument) << batch.size();
    EXPECT_THAT(g.lastError(), HasSubstr("malformed batch"));
  }
  EXPECT_EQ(g.writeBatch(writer, {}), -SELIUM_ERR_InvalidArgument);
  EXPECT_THAT(g.lastError(), HasSubstr("empty batch"));
  EXPECT_EQ(g.read(reader), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(g.writeBatch(writer, valid), 1);
  EXPECT_EQ(g.next(reader), "ok");
}

TEST_F(ChannelDriverTest, ABatchWritesWhatFitsThenWaitsForTheRest) {
  Guest& g = guest();
  int32_t channel = g.create(64);
  int32_t writer = g.openWriter(channel);
  int32_t reader = g.openReader(channel);
  std::vector<std::string> frames;
  for (int i = 0; i < 6; ++i) frames.push_back(frameText(i));
  EXPECT_EQ(g.writeBatch(writer, batchOf(frames), 5), 4);  // 4 frames of 16 ring bytes fit
  EXPECT_THAT(polls(), IsEmpty());
  std::vector<std::string> rest(frames.begin() + 4, frames.end());
  EXPECT_EQ(g.writeBatch(writer, batchOf(rest), 5), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(g.next(reader), frameText(0));
  EXPECT_TRUE(wokeWith(g.pid(), 5));
  EXPECT_EQ(g.writeBatch(writer, batchOf(rest), 5), 1);
  std::vector<std::string> read;
  EXPECT_EQ(g.readBatch(reader, &read), 4 * 12);
  EXPECT_THAT(read, ElementsAre(frameText(1), frameText(2), frameText(3), frameText(4)));
  EXPECT_EQ(g.writeBatch(writer, batchOf({frameText(5)}), 5), 1);
  EXPECT_EQ(g.next(reader), frameText(5));
}

TEST_F(ChannelDriverTest, AReadThatWouldBlockIsWokenWithItsOwnTokenWhenAFrameArrives) {
  Guest& a = guest();
  Guest& b = guest();
  Guest& c = guest();
  int32_t channel = a.create(1024);
  int32_t writer = a.openWriter(channel);
  int64_t id = a.share(channel);
  int32_t b_reader = b.openReader(b.attach(id, SELIUM_KIND_CHANNEL));
  int32_t c_reader = c.openReader(c.attach(id, SELIUM_KIND_CHANNEL), SELIUM_WEAK);
  ASSERT_GT(b_reader, 0);
  ASSERT_GT(c_reader, 0);
  EXPECT_EQ(b.read(b_reader, nullptr, 4096, 7), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(c.readBatch(c_reader, nullptr, 4096, 70), -SELIUM_ERR_WouldBlock);
  EXPECT_THAT(polls(), IsEmpty());  // nothing fires until a frame arrives
  EXPECT_EQ(a.write(writer, "ping", 99), 0);
  EXPECT_TRUE(host_->runUntil([&] { return host_->polled().size() == 2; }));
  EXPECT_THAT(polls(), ElementsAre(Polled{b.pid(), 7}, Polled{c.pid(), 70}));
  EXPECT_EQ(b.next(b_reader), "ping");
  std::vector<std::string> frames;
  EXPECT_EQ(c.readBatch(c_reader, &frames), 8);
  EXPECT_THAT(frames, ElementsAre("ping"));
  // A wait is over once its read succeeds: the next frame wakes nobody.
  EXPECT_EQ(a.write(writer, "again"), 0);
  EXPECT_THAT(polls(), IsEmpty());
}

TEST_F(ChannelDriverTest, AParkedWriterIsWokenWithItsTokenWhenTheStrongReaderMakesRoom) {
  Guest& a = guest();
  Guest& b = guest();
  int32_t channel = a.create(64);
  int32_t writer = a.openWriter(channel);
  int32_t reader = b.openReader(b.attach(a.share(channel), SELIUM_KIND_CHANNEL));
  for (int i = 0; i < 4; ++i) ASSERT_EQ(a.write(writer, frameText(i)), 0);
  EXPECT_EQ(a.write(writer, frameText(4), 11), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(a.write(writer, frameText(4), 11), -SELIUM_ERR_WouldBlock);  // same wait again
  EXPECT_THAT(polls(), IsEmpty());
  EXPECT_EQ(b.next(reader), frameText(0));
  EXPECT_TRUE(wokeWith(a.pid(), 11));
  EXPECT_EQ(a.write(writer, frameText(4), 11), 0);
  for (int i = 1; i <= 4; ++i) EXPECT_EQ(b.next(reader), frameText(i));
  EXPECT_THAT(polls(), IsEmpty());
}

TEST_F(ChannelDriverTest, WakesCrossToAProcessOnAnotherWorkerThread) {
  Guest& a = guest();
  int32_t channel = a.create(64);
  int32_t a_writer = a.openWriter(channel);
  int32_t a_reader = a.openReader(channel, SELIUM_WEAK);
  int64_t channel_id = a.share(channel);
  ASSERT_GT(channel_id, 0);
  // The other worker's process: a strong reader of the channel and a writer, and a poll export
  // that retries its pending operation and reports the result. Declared before the worker, so
  // the worker's thread is gone before they are.
  struct Remote {
    std::unique_ptr<Guest> guest;
    int32_t reader = 0;
    int32_t writer = 0;
  };
  Remote remote;
  std::promise<std::string> remote_read;
  std::promise<int32_t> remote_write;
  Worker worker(registry_);
  remote = worker.run([&](testing::LoopHost& host) {
    Remote r;
    ProcessConfig config;
    config.id = 100;
    config.capabilities = channelCapabilities();
    r.guest = std::make_unique<Guest>(host.makeProcess(std::move(config)));
    int32_t ch = r.guest->attach(channel_id, SELIUM_KIND_CHANNEL);
    r.reader = r.guest->openReader(ch);
    r.writer = r.guest->openWriter(ch);
    EXPECT_EQ(r.guest->close(ch), 0);
    return r;
  });
  ASSERT_GT(remote.reader, 0);
  ASSERT_GT(remote.writer, 0);
  Guest& w = *remote.guest;
  EXPECT_EQ(worker.run([&](testing::LoopHost& host) {
    host.onPoll([&](Process&, int32_t waker) {
      if (waker == 21) remote_read.set_value(w.next(remote.reader));
      if (waker == 22) remote_write.set_value(w.write(remote.writer, "from w", 22));
    });
    return w.read(remote.reader, nullptr, 4096, 21);
  }),
            -SELIUM_ERR_WouldBlock);
  // A write here wakes the remote reader, on its own thread, with its token.
  ASSERT_EQ(a.write(a_writer, "to w"), 0);
  auto got = remote_read.get_future();
  ASSERT_EQ(got.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(got.get(), "to w");
  EXPECT_EQ(a.next(a_reader), "to w");
  // Fill the ring (the remote strong reader holds it): the remote write parks, and the remote
  // read that makes room wakes it.
  for (int i = 0; i < 4; ++i) ASSERT_EQ(a.write(a_writer, frameText(i)), 0);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(a.next(a_reader), frameText(i));
  EXPECT_EQ(worker.run([&](testing::LoopHost&) { return w.write(remote.writer, "from w", 22); }),
            -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(worker.run([&](testing::LoopHost&) { return w.next(remote.reader); }), frameText(0));
  auto wrote = remote_write.get_future();
  ASSERT_EQ(wrote.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(wrote.get(), 0);
  std::string frame;
  ASSERT_EQ(a.read(a_reader, &frame), 6);
  EXPECT_EQ(frame, "from w");
  // A reader waiting here is woken by a write on the other thread, with its token.
  EXPECT_EQ(a.read(a_reader, nullptr, 4096, 31), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(worker.run([&](testing::LoopHost&) {
    for (int i = 0; i < 4; ++i) EXPECT_GE(w.read(remote.reader), 0) << w.lastError();
    return w.write(remote.writer, "back");
  }),
            0);
  EXPECT_TRUE(wokeWith(a.pid(), 31));
  EXPECT_EQ(a.next(a_reader), "back");
  worker.run([&](testing::LoopHost& host) {
    host.onPoll(nullptr);
    host.endProcess(w.pid());
    return 0;
  });
}

TEST_F(ChannelDriverTest, ParkWaitsButDropDiscardsTheNewFrameAndSaysSo) {
  for (int32_t backpressure : {SELIUM_BACKPRESSURE_PARK, SELIUM_BACKPRESSURE_DROP}) {
    SCOPED_TRACE(backpressure);
    Guest& g = guest();
    int32_t channel = g.create(64, backpressure);
    int32_t writer = g.openWriter(channel);
    int32_t reader = g.openReader(channel);
    for (int i = 0; i < 4; ++i) ASSERT_EQ(g.write(writer, frameText(i)), 0);
    if (backpressure == SELIUM_BACKPRESSURE_PARK) {
      EXPECT_EQ(g.write(writer, "late", 4), -SELIUM_ERR_WouldBlock);
      EXPECT_EQ(g.writeBatch(writer, batchOf({"late"}), 4), -SELIUM_ERR_WouldBlock);
    } else {
      EXPECT_EQ(g.write(writer, "late", 4), -SELIUM_ERR_Dropped);
      EXPECT_THAT(g.lastError(), AllOf(HasSubstr("frame of 4 bytes was discarded"),
                                       HasSubstr("handle " + std::to_string(writer))));
      EXPECT_EQ(g.writeBatch(writer, batchOf({"late", "later"}), 4), -SELIUM_ERR_Dropped);
    }
    // The frames already held are untouched, in order.
    for (int i = 0; i < 4; ++i) EXPECT_EQ(g.next(reader), frameText(i));
    EXPECT_EQ(g.read(reader), -SELIUM_ERR_WouldBlock);
    // Park woke its writer; Drop never made it wait.
    std::vector<Polled> polled = polls();
    if (backpressure == SELIUM_BACKPRESSURE_PARK) {
      EXPECT_THAT(polled, ElementsAre(Polled{g.pid(), 4}));
    } else {
      EXPECT_THAT(polled, IsEmpty());
    }
    EXPECT_EQ(g.write(writer, "now", 4), 0);  // the task that waited
    EXPECT_EQ(g.next(reader), "now");
    polls();  // the reader's wait that the last write ended
  }
}

TEST_F(ChannelDriverTest, WithoutAStrongReaderWritesOverwriteTheOldestFrames) {
  for (int32_t backpressure : {SELIUM_BACKPRESSURE_PARK, SELIUM_BACKPRESSURE_DROP}) {
    Guest& g = guest();
    int32_t channel = g.create(64, backpressure);
    int32_t writer = g.openWriter(channel);
    for (int i = 0; i < 10; ++i) ASSERT_EQ(g.write(writer, frameText(i)), 0) << backpressure;
    // A reader opened now replays what the ring holds: the last four.
    int32_t reader = g.openReader(channel);
    for (int i = 6; i < 10; ++i) EXPECT_EQ(g.next(reader), frameText(i)) << backpressure;
    EXPECT_EQ(g.read(reader), -SELIUM_ERR_WouldBlock);
  }
}

TEST_F(ChannelDriverTest, ANewReaderStartsAtTheOldestFrameAStrongReaderStillNeeds) {
  Guest& g = guest();
  int32_t channel = g.create(1024);
  int32_t writer = g.openWriter(channel);
  int32_t strong = g.openReader(channel);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(g.write(writer, frameText(i)), 0);
  EXPECT_EQ(g.next(strong), frameText(0));
  EXPECT_EQ(g.next(strong), frameText(1));
  int32_t late = g.openReader(channel, SELIUM_WEAK);
  EXPECT_EQ(g.next(late), frameText(2));
  EXPECT_EQ(g.lost(late), 0);
}

TEST_F(ChannelDriverTest, AWeakReaderThatFellBehindIsLaggedOnceAndLearnsExactlyHowManyItLost) {
  Guest& g = guest();
  int32_t channel = g.create(64);
  int32_t writer = g.openWriter(channel);
  int32_t weak = g.openReader(channel, SELIUM_WEAK);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(g.write(writer, frameText(i)), 0);
  EXPECT_EQ(g.lost(weak), 0);  // not known until it reads
  EXPECT_EQ(g.read(weak), -SELIUM_ERR_Lagged);
  EXPECT_THAT(g.lastError(),
              AllOf(HasSubstr("handle " + std::to_string(weak)), HasSubstr("channel_reader_lost")));
  EXPECT_EQ(g.lost(weak), 6);
  EXPECT_EQ(g.lost(weak), 0);
  EXPECT_EQ(g.next(weak), frameText(6));  // the oldest frame held
  // It lags again: read_batch says so the same way, and the count is of this lag only.
  for (int i = 10; i < 15; ++i) ASSERT_EQ(g.write(writer, frameText(i)), 0);
  EXPECT_EQ(g.readBatch(weak), -SELIUM_ERR_Lagged);
  EXPECT_EQ(g.lost(weak), 4);  // frames 7 to 10
  std::vector<std::string> frames;
  EXPECT_EQ(g.readBatch(weak, &frames), 4 * 12);
  EXPECT_THAT(frames, ElementsAre(frameText(11), frameText(12), frameText(13), frameText(14)));
  EXPECT_EQ(g.read(weak), -SELIUM_ERR_WouldBlock);
  // Lost counts accumulate over lags not yet asked about.
  for (int i = 15; i < 20; ++i) ASSERT_EQ(g.write(writer, frameText(i)), 0);
  EXPECT_EQ(g.read(weak), -SELIUM_ERR_Lagged);
  for (int i = 20; i < 25; ++i) ASSERT_EQ(g.write(writer, frameText(i)), 0);
  EXPECT_EQ(g.read(weak), -SELIUM_ERR_Lagged);
  EXPECT_EQ(g.lost(weak), 1 + 5);
  EXPECT_EQ(g.next(weak), frameText(21));
}

TEST_F(ChannelDriverTest, AStrongReaderNeverLagsAndHoldsWeakReadersBackFromNothing) {
  Guest& g = guest();
  int32_t channel = g.create(64);
  int32_t writer = g.openWriter(channel, SELIUM_WEAK);
  int32_t strong = g.openReader(channel);
  int32_t weak = g.openReader(channel, SELIUM_WEAK);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(g.write(writer, frameText(i)), 0);
  EXPECT_EQ(g.write(writer, frameText(4), 3), -SELIUM_ERR_WouldBlock);
  // The weak reader reading frees nothing: the writer still waits.
  for (int i = 0; i < 4; ++i) EXPECT_EQ(g.next(weak), frameText(i));
  EXPECT_THAT(polls(), IsEmpty());
  EXPECT_EQ(g.next(strong), frameText(0));
  EXPECT_TRUE(wokeWith(g.pid(), 3));
  EXPECT_EQ(g.write(writer, frameText(4), 3), 0);
  EXPECT_EQ(g.lost(strong), 0);
  EXPECT_EQ(g.lost(weak), 0);
}

TEST_F(ChannelDriverTest, DrainLetsReadersFinishThenEndOfStreamAndWritersGetClosed) {
  Guest& a = guest();
  Guest& b = guest();
  int32_t channel = a.create(64);
  int32_t writer = a.openWriter(channel);
  int32_t strong = a.openReader(channel);
  int32_t b_reader = b.openReader(b.attach(a.share(channel), SELIUM_KIND_CHANNEL), SELIUM_WEAK);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(a.write(writer, frameText(i)), 0);
  EXPECT_EQ(a.write(writer, "parked", 5), -SELIUM_ERR_WouldBlock);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(b.next(b_reader), frameText(i));
  EXPECT_EQ(b.read(b_reader, nullptr, 4096, 6), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(a.drain(channel), 0);
  // Both waits end: the writer to hear Closed, the reader at the end to hear EndOfStream.
  EXPECT_TRUE(host_->runUntil([&] { return host_->polled().size() == 2; }));
  EXPECT_THAT(polls(), UnorderedElementsAre(Polled{a.pid(), 5}, Polled{b.pid(), 6}));
  EXPECT_EQ(a.write(writer, "parked", 5), -SELIUM_ERR_Closed);
  EXPECT_THAT(a.lastError(), HasSubstr("draining"));
  EXPECT_EQ(a.writeBatch(writer, batchOf({"x"})), -SELIUM_ERR_Closed);
  EXPECT_EQ(b.read(b_reader), -SELIUM_ERR_EndOfStream);
  EXPECT_THAT(b.lastError(), HasSubstr("drained"));
  EXPECT_EQ(b.readBatch(b_reader), -SELIUM_ERR_EndOfStream);
  // The strong reader still reads every frame the channel held, then the end.
  EXPECT_EQ(a.next(strong), frameText(0));
  std::vector<std::string> frames;
  EXPECT_EQ(a.readBatch(strong, &frames), 3 * 12);
  EXPECT_THAT(frames, ElementsAre(frameText(1), frameText(2), frameText(3)));
  EXPECT_EQ(a.read(strong), -SELIUM_ERR_EndOfStream);
  EXPECT_EQ(a.read(strong), -SELIUM_ERR_EndOfStream);
  // Draining again is fine; a new writer can open but not write; a new reader sees the end.
  EXPECT_EQ(a.drain(channel), 0);
  int32_t late_writer = a.openWriter(channel);
  ASSERT_GT(late_writer, 0);
  EXPECT_EQ(a.write(late_writer, "no"), -SELIUM_ERR_Closed);
  int32_t late_reader = a.openReader(channel);
  ASSERT_GT(late_reader, 0);
  EXPECT_EQ(a.read(late_reader), -SELIUM_ERR_EndOfStream);
}

TEST_F(ChannelDriverTest, DeleteClosesTheChannelForEveryHandleInEveryProcessAndWakesAllWaiters) {
  Guest& a = guest();
  Guest& b = guest();
  Guest& c = guest();
  int32_t channel = a.create(64);
  int32_t writer = a.openWriter(channel);
  int32_t a_reader = a.openReader(channel);
  int64_t channel_id = a.share(channel);
  int32_t b_channel = b.attach(channel_id, SELIUM_KIND_CHANNEL);
  int32_t b_reader = b.openReader(b_channel, SELIUM_WEAK);
  int64_t writer_id = a.share(a.openWriter(channel));
  int32_t c_writer = c.attach(writer_id, SELIUM_KIND_WRITER);
  ASSERT_GT(c_writer, 0);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(a.write(writer, frameText(i)), 0);
  EXPECT_EQ(c.write(c_writer, "parked", 8), -SELIUM_ERR_WouldBlock);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(b.next(b_reader), frameText(i));
  EXPECT_EQ(b.read(b_reader, nullptr, 4096, 3), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(a.process().channelBytes()->load(), 64u);

  EXPECT_EQ(b.remove(b_channel), 0);  // any process holding the channel may delete it
  EXPECT_TRUE(host_->runUntil([&] { return host_->polled().size() == 2; }));
  EXPECT_THAT(polls(), UnorderedElementsAre(Polled{c.pid(), 8}, Polled{b.pid(), 3}));
  // The ring is freed at once, although handles to the channel remain.
  EXPECT_EQ(a.process().channelBytes()->load(), 0u);
  EXPECT_EQ(c.write(c_writer, "parked", 8), -SELIUM_ERR_Closed);
  EXPECT_THAT(c.lastError(), HasSubstr("was deleted"));
  EXPECT_EQ(b.read(b_reader), -SELIUM_ERR_Closed);
  EXPECT_THAT(b.lastError(), HasSubstr("was deleted"));
  EXPECT_EQ(b.readBatch(b_reader), -SELIUM_ERR_Closed);
  EXPECT_EQ(a.read(a_reader), -SELIUM_ERR_Closed);  // unread frames are gone
  EXPECT_EQ(a.write(writer, "x"), -SELIUM_ERR_Closed);
  EXPECT_EQ(a.writeBatch(writer, batchOf({"x"})), -SELIUM_ERR_Closed);
  EXPECT_EQ(a.openReader(channel), -SELIUM_ERR_Closed);
  EXPECT_EQ(a.openWriter(channel), -SELIUM_ERR_Closed);
  EXPECT_EQ(a.drain(channel), -SELIUM_ERR_Closed);
  EXPECT_EQ(a.remove(channel), 0);  // deleting twice is harmless
  EXPECT_EQ(a.lost(a_reader), 0);
  // Dead for sharing: new shares are refused and old ids are gone.
  EXPECT_EQ(a.share(channel), -SELIUM_ERR_Closed);
  EXPECT_EQ(a.share(a_reader), -SELIUM_ERR_Closed);
  EXPECT_EQ(c.attach(channel_id, SELIUM_KIND_CHANNEL), -SELIUM_ERR_NotFound);
  EXPECT_EQ(b.attach(writer_id, SELIUM_KIND_WRITER), -SELIUM_ERR_NotFound);
  // The handles stay open until closed.
  EXPECT_EQ(a.kind(channel), SELIUM_KIND_CHANNEL);
  EXPECT_EQ(c.close(c_writer), 0);
  EXPECT_EQ(a.close(channel), 0);
}

TEST_F(ChannelDriverTest, GuestRangesOutsideMemoryAreOutOfBoundsAndChangeNothing) {
  Guest& g = guest();
  int32_t channel = g.create(1024);
  int32_t writer = g.openWriter(channel);
  int32_t reader = g.openReader(channel);
  auto size = static_cast<uint32_t>(g.memory().size());
  struct Range {
    uint32_t address;
    uint32_t length;
  };
  for (Range r : {Range{size - 2, 4}, Range{size, 1}, Range{0xFFFFFFF0u, 0x20},
                  Range{1, 0xFFFFFFFFu}, Range{size + 1, 0}}) {
    std::string where = std::to_string(r.address) + "+" + std::to_string(r.length);
    EXPECT_EQ(g.call("channel_write", {i32(writer), u32(r.address), u32(r.length), i32(1)}),
              -SELIUM_ERR_OutOfBounds)
        << where;
    EXPECT_THAT(g.lastError(), HasSubstr("outside the process's memory")) << where;
    EXPECT_EQ(g.call("channel_write_batch", {i32(writer), u32(r.address), u32(r.length), i32(1)}),
              -SELIUM_ERR_OutOfBounds)
        << where;
  }
  EXPECT_EQ(g.read(reader), -SELIUM_ERR_WouldBlock);
  ASSERT_EQ(g.write(writer, "kept"), 0);
  for (Range r : {Range{size - 2, 4}, Range{0xFFFFFFFFu, 2}, Range{size + 1, 0}}) {
    EXPECT_EQ(g.call("channel_read", {i32(reader), u32(r.address), u32(r.length), i32(1)}),
              -SELIUM_ERR_OutOfBounds);
    EXPECT_EQ(g.call("channel_read_batch", {i32(reader), u32(r.address), u32(r.length), i32(1)}),
              -SELIUM_ERR_OutOfBounds);
  }
  EXPECT_EQ(g.next(reader), "kept");  // the bad reads took nothing
  // The last bytes of memory are in bounds.
  std::memcpy(g.memory().data() + size - 3, "end", 3);
  EXPECT_EQ(g.call("channel_write", {i32(writer), u32(size - 3), u32(3), i32(1)}), 0);
  EXPECT_EQ(g.call("channel_read", {i32(reader), u32(size - 3), u32(3), i32(1)}), 3);
}

TEST_F(ChannelDriverTest, AProcessWithoutMemoryMovesEmptyFramesAndIsToldTheSizeOfOthers) {
  Guest& g = guest();
  int32_t channel = g.create(1024);
  int32_t writer = g.openWriter(channel);
  int32_t reader = g.openReader(channel);
  ASSERT_EQ(g.write(writer, ""), 0);
  ASSERT_EQ(g.write(writer, "abc"), 0);
  g.memory().clear();  // as a module that exports no memory
  g.memory().shrink_to_fit();
  EXPECT_EQ(g.call("channel_write", {i32(writer), u32(0), u32(0), i32(1)}), 0);
  EXPECT_EQ(g.call("channel_read", {i32(reader), u32(0), u32(0), i32(1)}), 0);
  EXPECT_EQ(g.call("channel_read", {i32(reader), u32(0), u32(0), i32(1)}), 3);  // needs 3
  EXPECT_EQ(g.call("channel_read_batch", {i32(reader), u32(0), u32(0), i32(1)}), 7);
  EXPECT_EQ(g.call("channel_read", {i32(reader), u32(0), u32(1), i32(1)}), -SELIUM_ERR_OutOfBounds);
  EXPECT_EQ(g.call("channel_write_batch", {i32(writer), u32(0), u32(0), i32(1)}),
            -SELIUM_ERR_InvalidArgument);
  g.memory().resize(kMemory);
  EXPECT_EQ(g.next(reader), "abc");
  EXPECT_EQ(g.next(reader), "");  // the frame written from no memory at all
}

TEST_F(ChannelDriverTest, HandlesOfTheWrongKindOrNotOpenAreInvalidHandleAndLeaveHandlesWorking) {
  Guest& a = guest();
  Guest& b = guest();
  int32_t channel = a.create(1024);
  int32_t reader = a.openReader(channel);
  int32_t writer = a.openWriter(channel);
  auto timer = static_cast<int32_t>(a.call("timer_create", {i64(1'000'000'000)}));
  ASSERT_GT(timer, 0);
  int32_t closed = a.openReader(channel);
  ASSERT_EQ(a.close(closed), 0);
  for (int32_t wrong : {channel, writer, timer, closed, 0, -1}) {
    SCOPED_TRACE(wrong);
    EXPECT_EQ(a.read(wrong), -SELIUM_ERR_InvalidHandle);
    EXPECT_THAT(a.lastError(), HasSubstr("handle " + std::to_string(wrong) +
                                         " is not an open reader of this process"));
    EXPECT_EQ(a.readBatch(wrong), -SELIUM_ERR_InvalidHandle);
    EXPECT_EQ(a.lost(wrong), -SELIUM_ERR_InvalidHandle);
  }
  for (int32_t wrong : {channel, reader, timer, closed, 0}) {
    SCOPED_TRACE(wrong);
    EXPECT_EQ(a.write(wrong, "x"), -SELIUM_ERR_InvalidHandle);
    EXPECT_THAT(a.lastError(), HasSubstr("is not an open writer of this process"));
    EXPECT_EQ(a.writeBatch(wrong, batchOf({"x"})), -SELIUM_ERR_InvalidHandle);
    EXPECT_EQ(a.downgrade(wrong), -SELIUM_ERR_InvalidHandle);
  }
  for (int32_t wrong : {reader, writer, timer, closed, 0}) {
    SCOPED_TRACE(wrong);
    EXPECT_EQ(a.drain(wrong), -SELIUM_ERR_InvalidHandle);
    EXPECT_THAT(a.lastError(), HasSubstr("is not an open channel of this process"));
    EXPECT_EQ(a.remove(wrong), -SELIUM_ERR_InvalidHandle);
    EXPECT_EQ(a.openReader(wrong), -SELIUM_ERR_InvalidHandle);
    EXPECT_EQ(a.openWriter(wrong), -SELIUM_ERR_InvalidHandle);
  }
  // Another process's handle numbers mean nothing here.
  EXPECT_EQ(b.read(reader), -SELIUM_ERR_InvalidHandle);
  EXPECT_EQ(b.write(writer, "x"), -SELIUM_ERR_InvalidHandle);
  EXPECT_EQ(a.process().handles().size(), 4u);
  // Everything still works.
  EXPECT_EQ(a.write(writer, "still"), 0);
  EXPECT_EQ(a.next(reader), "still");
  EXPECT_EQ(a.call("timer_poll", {i32(timer), i32(1)}), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(a.drain(channel), 0);
  EXPECT_EQ(a.read(reader), -SELIUM_ERR_EndOfStream);
}

TEST_F(ChannelDriverTest, ASecondTaskReadingAWaitingReaderIsInvalidArgumentNotALostWake) {
  Guest& g = guest();
  int32_t channel = g.create(1024);
  int32_t writer = g.openWriter(channel);
  int32_t reader = g.openReader(channel);
  EXPECT_EQ(g.read(reader, nullptr, 4096, 1), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(g.read(reader, nullptr, 4096, 2), -SELIUM_ERR_InvalidArgument);
  EXPECT_THAT(g.lastError(), AllOf(HasSubstr("another task is already waiting on reader"),
                                   HasSubstr("handle_cancel_wait")));
  EXPECT_EQ(g.readBatch(reader, nullptr, 4096, 2), -SELIUM_ERR_InvalidArgument);
  EXPECT_EQ(g.read(reader, nullptr, 4096, 1), -SELIUM_ERR_WouldBlock);  // the first still waits
  EXPECT_EQ(g.write(writer, "one"), 0);
  EXPECT_TRUE(host_->runUntil([&] { return !host_->polled().empty(); }));
  EXPECT_THAT(polls(), ElementsAre(Polled{g.pid(), 1}));
  // Its read ends the wait; then another task may wait.
  EXPECT_EQ(g.read(reader, nullptr, 4096, 1), 3);
  EXPECT_EQ(g.read(reader, nullptr, 4096, 2), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(g.write(writer, "two"), 0);
  EXPECT_TRUE(wokeWith(g.pid(), 2));
  EXPECT_EQ(g.next(reader), "two");
}

// SELIUM_WAKER_NONE: a read or write that must not wait gets -WouldBlock, records nothing, and
// leaves another task's wait on the handle as it was.
TEST_F(ChannelDriverTest, AWakerOfNoneNeverWaitsAndLeavesAnotherTasksWait) {
  Guest& g = guest();
  int32_t channel = g.create(64);
  int32_t writer = g.openWriter(channel);
  int32_t reader = g.openReader(channel);
  EXPECT_EQ(g.read(reader, nullptr, 4096, SELIUM_WAKER_NONE), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(g.readBatch(reader, nullptr, 4096, SELIUM_WAKER_NONE), -SELIUM_ERR_WouldBlock);
  // Nothing was recorded: a task may wait on the reader with any token.
  EXPECT_EQ(g.read(reader, nullptr, 4096, 1), -SELIUM_ERR_WouldBlock);
  // While it waits, a non-waiting read is not refused, and does not take its wait.
  EXPECT_EQ(g.read(reader, nullptr, 4096, SELIUM_WAKER_NONE), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(g.write(writer, "one"), 0);
  EXPECT_TRUE(wokeWith(g.pid(), 1));
  EXPECT_EQ(g.read(reader, nullptr, 4096, SELIUM_WAKER_NONE), 3);
  EXPECT_EQ(g.read(reader, nullptr, 4096, SELIUM_WAKER_NONE), -SELIUM_ERR_WouldBlock);

  // Writes: a full Park channel.
  for (int i = 0; i < 4; ++i) ASSERT_EQ(g.write(writer, frameText(i)), 0);
  EXPECT_EQ(g.write(writer, "a", SELIUM_WAKER_NONE), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(g.writeBatch(writer, batchOf({"a"}), SELIUM_WAKER_NONE), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(g.write(writer, "a", 2), -SELIUM_ERR_WouldBlock);  // not Busy: nothing recorded
  EXPECT_EQ(g.write(writer, "b", SELIUM_WAKER_NONE), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(g.next(reader), frameText(0));
  EXPECT_TRUE(wokeWith(g.pid(), 2));  // the waiting write kept its wait
  EXPECT_EQ(g.write(writer, "a", 2), 0);
  EXPECT_EQ(g.next(reader), frameText(1));
  EXPECT_EQ(g.write(writer, "c", SELIUM_WAKER_NONE), 0);  // room now: written
}

TEST_F(ChannelDriverTest, ASecondTaskWritingAParkedWriterIsInvalidArgument) {
  Guest& g = guest();
  int32_t channel = g.create(64);
  int32_t writer = g.openWriter(channel);
  int32_t reader = g.openReader(channel);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(g.write(writer, frameText(i)), 0);
  EXPECT_EQ(g.write(writer, "a", 1), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(g.write(writer, "b", 2), -SELIUM_ERR_InvalidArgument);
  EXPECT_THAT(g.lastError(), HasSubstr("another task is already waiting on writer"));
  EXPECT_EQ(g.writeBatch(writer, batchOf({"b"}), 2), -SELIUM_ERR_InvalidArgument);
  EXPECT_EQ(g.next(reader), frameText(0));
  EXPECT_TRUE(wokeWith(g.pid(), 1));
  EXPECT_EQ(g.write(writer, "a", 1), 0);
}

TEST_F(ChannelDriverTest, CancelWaitFreesTheHandleForAnotherTaskAndItsTokenIsNotWoken) {
  Guest& g = guest();
  int32_t channel = g.create(64);
  int32_t writer = g.openWriter(channel);
  int32_t reader = g.openReader(channel);
  EXPECT_EQ(g.read(reader, nullptr, 4096, 1), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(g.cancelWait(reader), 0);
  EXPECT_EQ(g.cancelWait(reader), 0);  // nothing pending: still fine
  EXPECT_EQ(g.read(reader, nullptr, 4096, 2), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(g.write(writer, frameText(0)), 0);
  EXPECT_TRUE(host_->runUntil([&] { return !host_->polled().empty(); }));
  EXPECT_THAT(polls(), ElementsAre(Polled{g.pid(), 2}));
  // A writer's wait the same way.
  for (int i = 1; i < 4; ++i) ASSERT_EQ(g.write(writer, frameText(i)), 0);
  EXPECT_EQ(g.write(writer, "a", 3), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(g.cancelWait(writer), 0);
  EXPECT_EQ(g.write(writer, "b", 4), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(g.next(reader), frameText(0));
  EXPECT_TRUE(host_->runUntil([&] { return !host_->polled().empty(); }));
  EXPECT_THAT(polls(), ElementsAre(Polled{g.pid(), 4}));
  EXPECT_EQ(g.write(writer, "b", 4), 0);
  EXPECT_EQ(g.cancelWait(channel), 0);  // a channel handle never waits
  EXPECT_EQ(g.cancelWait(12345), -SELIUM_ERR_InvalidHandle);
}

TEST_F(ChannelDriverTest, WaitingStrongWritersAreServedInOrderAndNothingOvertakesThem) {
  Guest& a = guest();
  Guest& b = guest();
  Guest& c = guest();
  int32_t channel = a.create(64);
  int32_t a_writer = a.openWriter(channel);
  int32_t reader = a.openReader(channel);
  int64_t id = a.share(channel);
  int32_t b_writer = b.openWriter(b.attach(id, SELIUM_KIND_CHANNEL));
  int32_t c_weak = c.openWriter(c.attach(id, SELIUM_KIND_CHANNEL), SELIUM_WEAK);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(a.write(a_writer, frameText(i)), 0);
  EXPECT_EQ(a.write(a_writer, "A", 1), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(b.write(b_writer, "B", 2), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(a.next(reader), frameText(0));
  EXPECT_TRUE(host_->runUntil([&] { return !host_->polled().empty(); }));
  EXPECT_THAT(polls(), ElementsAre(Polled{a.pid(), 1}));  // the first to wait, alone
  // There is room now, yet neither the second strong writer nor a weak one may take it first.
  EXPECT_EQ(b.write(b_writer, "B", 2), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(c.write(c_weak, "C", 3), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(a.write(a_writer, "A", 1), 0);
  EXPECT_THAT(polls(), IsEmpty());  // the ring is full again
  EXPECT_EQ(a.next(reader), frameText(1));
  EXPECT_TRUE(host_->runUntil([&] { return !host_->polled().empty(); }));
  EXPECT_THAT(polls(), ElementsAre(Polled{b.pid(), 2}));
  EXPECT_EQ(c.write(c_weak, "C", 3), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(b.write(b_writer, "B", 2), 0);
  EXPECT_EQ(a.next(reader), frameText(2));
  EXPECT_TRUE(wokeWith(c.pid(), 3));
  EXPECT_EQ(c.write(c_weak, "C", 3), 0);
  EXPECT_EQ(a.next(reader), frameText(3));
  EXPECT_EQ(a.next(reader), "A");
  EXPECT_EQ(a.next(reader), "B");
  EXPECT_EQ(a.next(reader), "C");
}

TEST_F(ChannelDriverTest, ADowngradedWriterStopsHoldingOthersBack) {
  Guest& a = guest();
  Guest& b = guest();
  int32_t channel = a.create(64);
  int32_t big_writer = a.openWriter(channel);
  int32_t reader = a.openReader(channel);
  int32_t b_writer = b.openWriter(b.attach(a.share(channel), SELIUM_KIND_CHANNEL), SELIUM_WEAK);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(a.write(big_writer, frameText(i)), 0);
  std::string big(40, 'B');  // 48 ring bytes: three frames must go first
  EXPECT_EQ(a.write(big_writer, big, 1), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(a.next(reader), frameText(0));
  EXPECT_EQ(b.write(b_writer, "small", 2), -SELIUM_ERR_WouldBlock);  // behind the big one
  EXPECT_THAT(polls(), IsEmpty());
  EXPECT_EQ(a.downgrade(big_writer), 0);
  EXPECT_TRUE(host_->runUntil([&] { return !host_->polled().empty(); }));
  EXPECT_THAT(polls(), ElementsAre(Polled{b.pid(), 2}));
  EXPECT_EQ(b.write(b_writer, "small", 2), 0);
  EXPECT_EQ(a.downgrade(big_writer), 0);  // already weak: fine
  for (int i = 1; i < 4; ++i) EXPECT_EQ(a.next(reader), frameText(i));
  EXPECT_TRUE(wokeWith(a.pid(), 1));
  EXPECT_EQ(a.write(big_writer, big, 1), 0);
  EXPECT_EQ(a.next(reader), "small");
  EXPECT_EQ(a.next(reader), big);
}

TEST_F(ChannelDriverTest, ASharedReaderGivesEachFrameToOneOfItsHandles) {
  Guest& a = guest();
  Guest& b = guest();
  int32_t channel = a.create(1024);
  int32_t writer = a.openWriter(channel);
  int32_t reader = a.openReader(channel);
  int32_t b_reader = b.attach(a.share(reader), SELIUM_KIND_READER);
  ASSERT_GT(b_reader, 0);
  // Each handle waits with its own waiter: two processes waiting on one cursor is no conflict.
  EXPECT_EQ(a.read(reader, nullptr, 4096, 1), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(b.read(b_reader, nullptr, 4096, 2), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(a.write(writer, "job 1"), 0);
  EXPECT_TRUE(host_->runUntil([&] { return host_->polled().size() == 2; }));
  EXPECT_THAT(polls(), ElementsAre(Polled{a.pid(), 1}, Polled{b.pid(), 2}));
  EXPECT_EQ(b.next(b_reader), "job 1");
  EXPECT_EQ(a.read(reader, nullptr, 4096, 1), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(a.write(writer, "job 2"), 0);
  EXPECT_EQ(a.write(writer, "job 3"), 0);
  EXPECT_EQ(a.next(reader), "job 2");
  EXPECT_EQ(b.next(b_reader), "job 3");
  EXPECT_EQ(a.read(reader), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(b.read(b_reader), -SELIUM_ERR_WouldBlock);
}

TEST_F(ChannelDriverTest, ChannelBytesBudgetRefusesOverBudgetRingsAndGetsBytesBackWhenFreed) {
  ProcessConfig config;
  config.max_channel_bytes = 1024;
  Guest& a = guest(std::move(config));
  Guest& b = guest();
  std::shared_ptr<std::atomic<std::size_t>> used = a.process().channelBytes();
  int32_t first = a.create(512);
  ASSERT_GT(first, 0);
  int32_t second = a.create(500);  // rounded up to 504
  ASSERT_GT(second, 0);
  EXPECT_EQ(used->load(), 1016u);
  EXPECT_EQ(a.create(64), -SELIUM_ERR_LimitExceeded);
  EXPECT_THAT(a.lastError(), AllOf(HasSubstr("1080"), HasSubstr("1024")));
  EXPECT_EQ(used->load(), 1016u);
  EXPECT_EQ(a.process().handles().size(), 2u);
  // Closing the last handle frees the ring.
  EXPECT_EQ(a.close(first), 0);
  EXPECT_EQ(used->load(), 504u);
  // A ring lives while any handle to it, a reader or writer included, does, in any process;
  // it stays charged to its creator.
  int32_t third = a.create(512);
  ASSERT_GT(third, 0);
  int32_t b_reader = b.attach(a.share(a.openReader(third)), SELIUM_KIND_READER);
  ASSERT_GT(b_reader, 0);
  a.process().handles().clear();
  EXPECT_EQ(used->load(), 512u);
  EXPECT_EQ(b.process().channelBytes()->load(), 0u);
  EXPECT_EQ(b.close(b_reader), 0);
  EXPECT_EQ(used->load(), 0u);
  // Deleting frees it at once, whoever still holds handles.
  int32_t fourth = a.create(1024);
  ASSERT_GT(fourth, 0);
  int32_t fourth_reader = a.openReader(fourth);
  EXPECT_EQ(a.create(64), -SELIUM_ERR_LimitExceeded);
  EXPECT_EQ(a.remove(fourth), 0);
  EXPECT_EQ(used->load(), 0u);
  EXPECT_GT(a.create(1024), 0);
  EXPECT_EQ(a.close(fourth_reader), 0);
  EXPECT_EQ(a.close(fourth), 0);
  EXPECT_EQ(used->load(), 1024u);
  // Ending the creator while another process holds the ring: the bytes come back when that
  // process lets it go.
  a.process().handles().clear();
  EXPECT_EQ(used->load(), 0u);
  int32_t last = a.create(256);
  int32_t b_channel = b.attach(a.share(last), SELIUM_KIND_CHANNEL);
  ASSERT_GT(b_channel, 0);
  host_->endProcess(a.pid());
  EXPECT_EQ(used->load(), 256u);
  EXPECT_EQ(b.close(b_channel), 0);
  EXPECT_EQ(used->load(), 0u);
}

TEST_F(ChannelDriverTest, CreateIntoAFullHandleTableIsLimitExceededAndChargesNothing) {
  ProcessConfig config;
  config.max_handles = 1;
  Guest& g = guest(std::move(config));
  ASSERT_GT(g.create(128), 0);
  std::size_t live = Resource::liveCount();
  EXPECT_EQ(g.create(128), -SELIUM_ERR_LimitExceeded);
  EXPECT_THAT(g.lastError(), HasSubstr("too many open handles"));
  EXPECT_EQ(g.process().channelBytes()->load(), 128u);
  EXPECT_EQ(Resource::liveCount(), live);
}

TEST_F(ChannelDriverTest, OpeningIntoAFullHandleTableIsLimitExceededAndLeavesNoReaderBehind) {
  ProcessConfig config;
  config.max_handles = 2;
  Guest& g = guest(std::move(config));
  int32_t channel = g.create(64);
  int32_t writer = g.openWriter(channel);
  ASSERT_GT(writer, 0);
  std::size_t live = Resource::liveCount();
  EXPECT_EQ(g.openReader(channel), -SELIUM_ERR_LimitExceeded);
  EXPECT_THAT(g.lastError(), HasSubstr("too many open handles"));
  EXPECT_EQ(g.openWriter(channel), -SELIUM_ERR_LimitExceeded);
  EXPECT_EQ(Resource::liveCount(), live);
  // The strong reader that could not be handed out holds nothing back: writes never wait.
  for (int i = 0; i < 10; ++i) EXPECT_EQ(g.write(writer, frameText(i), 1), 0) << i;
  EXPECT_THAT(polls(), IsEmpty());
}

TEST_F(ChannelDriverTest, EndingAProcessReleasesItsReadersAndWritersAndWakesTheirWaiters) {
  Guest& a = guest();
  Guest& b = guest();
  Guest& c = guest();
  int32_t channel = a.create(64);
  int32_t writer = a.openWriter(channel);
  int64_t id = a.share(channel);
  int32_t b_reader = b.openReader(b.attach(id, SELIUM_KIND_CHANNEL));
  ASSERT_GT(b_reader, 0);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(a.write(writer, frameText(i)), 0);
  EXPECT_EQ(a.write(writer, "parked", 11), -SELIUM_ERR_WouldBlock);
  // B, whose strong reader holds the ring, ends: the parked writer continues.
  std::size_t live = Resource::liveCount();
  host_->endProcess(b.pid());
  EXPECT_EQ(Resource::liveCount(), live - 2);
  EXPECT_TRUE(wokeWith(a.pid(), 11));
  EXPECT_EQ(a.write(writer, "parked", 11), 0);
  // With no strong reader left, writes never wait.
  for (int i = 0; i < 8; ++i) EXPECT_EQ(a.write(writer, frameText(i)), 0);

  // A strong writer at the front of the queue whose process ends lets the next one go.
  int32_t reader = a.openReader(channel);
  int32_t c_writer = c.openWriter(c.attach(id, SELIUM_KIND_CHANNEL));
  ASSERT_GT(c_writer, 0);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(a.next(reader).size(), 8u);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(a.write(writer, frameText(i)), 0);
  std::string big(40, 'B');
  EXPECT_EQ(c.write(c_writer, big, 21), -SELIUM_ERR_WouldBlock);  // front: needs 3 frames read
  EXPECT_EQ(a.write(writer, "small", 12), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(a.next(reader), frameText(0));
  EXPECT_THAT(polls(), IsEmpty());
  host_->endProcess(c.pid());
  EXPECT_TRUE(wokeWith(a.pid(), 12));
  EXPECT_EQ(a.write(writer, "small", 12), 0);
}

TEST_F(ChannelDriverTest, WhatAnEndedProcessSharedStaysUsableByTheOthers) {
  Guest& a = guest();
  Guest& b = guest();
  int32_t channel = a.create(64);
  int32_t reader = a.openReader(channel);
  int32_t writer = a.openWriter(channel);
  int32_t b_reader = b.attach(a.share(reader), SELIUM_KIND_READER);
  int32_t b_writer = b.attach(a.share(writer), SELIUM_KIND_WRITER);
  ASSERT_GT(b_reader, 0);
  ASSERT_GT(b_writer, 0);
  ASSERT_EQ(a.write(writer, frameText(0)), 0);
  EXPECT_EQ(a.read(reader, nullptr, 4096, 5), 8);
  host_->endProcess(a.pid());
  EXPECT_EQ(registry_.sharedCount(), 2u);
  // B's reader is the same strong cursor, still holding writers back.
  for (int i = 1; i < 5; ++i) ASSERT_EQ(b.write(b_writer, frameText(i)), 0);
  EXPECT_EQ(b.write(b_writer, "more", 1), -SELIUM_ERR_WouldBlock);
  EXPECT_EQ(b.next(b_reader), frameText(1));
  EXPECT_TRUE(wokeWith(b.pid(), 1));
  EXPECT_EQ(b.write(b_writer, "more", 1), 0);
  EXPECT_EQ(b.close(b_reader), 0);
  EXPECT_EQ(b.close(b_writer), 0);
  EXPECT_EQ(registry_.sharedCount(), 0u);
}

TEST_F(ChannelDriverTest, AStreamBetweenTwoWorkersLosesNoFrameAndNoWakeUp) {
  // A writer on another worker's thread and a reader here, each retrying only when its waker
  // fires (as a guest's poll export does), through a ring small enough that both wait often.
  constexpr int kFrames = 20000;
  Guest& a = guest();
  int32_t channel = a.create(256);
  int32_t reader = a.openReader(channel);
  int64_t id = a.share(channel);
  ASSERT_GT(id, 0);
  int received = 0;
  int out_of_order = 0;
  int read_errors = 0;
  auto pumpRead = [&] {
    for (;;) {
      std::vector<std::string> frames;
      int32_t n = a.readBatch(reader, &frames, 100, 2);
      if (n == -SELIUM_ERR_WouldBlock) return;
      if (n < 0) {
        ++read_errors;
        return;
      }
      for (const std::string& frame : frames) out_of_order += frame != frameText(received++);
    }
  };
  struct Remote {
    std::unique_ptr<Guest> guest;
    int32_t writer = 0;
    int next = 0;
    int errors = 0;
  };
  Remote w;
  std::atomic<bool> done{false};
  Worker worker(registry_);
  // On the worker's thread: single writes and batches of up to five, until one must wait.
  auto pumpWrite = [&] {
    while (w.next < kFrames) {
      int32_t result;
      if (w.next % 3 == 0) {
        std::vector<std::string> batch;
        for (int i = w.next; i < std::min(kFrames, w.next + 5); ++i) batch.push_back(frameText(i));
        result = w.guest->writeBatch(w.writer, batchOf(batch), 1);
        if (result > 0) {
          w.next += result;
          continue;
        }
      } else {
        result = w.guest->write(w.writer, frameText(w.next), 1);
        if (result == 0) {
          ++w.next;
          continue;
        }
      }
      if (result != -SELIUM_ERR_WouldBlock) ++w.errors;
      return;
    }
    done = true;
  };
  worker.run([&](testing::LoopHost& host) {
    ProcessConfig config;
    config.id = 100;
    config.capabilities = channelCapabilities();
    w.guest = std::make_unique<Guest>(host.makeProcess(std::move(config)));
    int32_t ch = w.guest->attach(id, SELIUM_KIND_CHANNEL);
    w.writer = w.guest->openWriter(ch);
    EXPECT_GT(w.writer, 0);
    host.onPoll([&](Process&, int32_t waker) {
      if (waker == 1) pumpWrite();
    });
    pumpWrite();
    return 0;
  });
  host_->onPoll([&](Process&, int32_t waker) {
    if (waker == 2) pumpRead();
  });
  pumpRead();
  EXPECT_TRUE(host_->runUntil([&] { return received >= kFrames || read_errors > 0; }, 60s))
      << received << " of " << kFrames;
  EXPECT_EQ(received, kFrames);
  EXPECT_EQ(out_of_order, 0);
  EXPECT_EQ(read_errors, 0) << a.lastError();
  EXPECT_EQ(worker.run([&](testing::LoopHost& host) {
    // On the writer's thread, after the handler that wrote the last frame has returned (the
    // reader may have read that frame before the writer's loop got to set `done`).
    EXPECT_TRUE(done.load());
    int errors = w.errors;
    host.onPoll(nullptr);
    host.endProcess(w.guest->pid());
    return errors;
  }),
            0);
  host_->onPoll(nullptr);
}

TEST_F(ChannelDriverTest, ARegisteredChannelHandleIsFoundByOthersUntilItsRegistrantEnds) {
  ProcessConfig service_config;
  service_config.capabilities = channelCapabilities();
  service_config.capabilities.add(Capability::SingletonRegistry);
  Guest& service = guest(std::move(service_config));
  ProcessConfig client_config;
  client_config.capabilities = channelCapabilities();
  client_config.capabilities.add(Capability::SingletonLookup);
  Guest& client = guest(std::move(client_config));
  std::vector<uint8_t> id(SELIUM_SINGLETON_ID_BYTES, 0x5e);
  uint32_t key = service.put(0x1000, id);
  client.put(key, id);
  int32_t channel = service.create(1024);
  int32_t requests = service.openReader(channel);
  int32_t inbox = service.openWriter(channel);
  ASSERT_EQ(service.call("singleton_register", {u32(key), i32(inbox)}), 0) << service.lastError();
  EXPECT_EQ(registry_.singletonCount(), 1u);
  EXPECT_EQ(client.call("singleton_lookup", {u32(key), i32(SELIUM_KIND_READER)}),
            -SELIUM_ERR_InvalidHandle);
  int32_t writer = client.call32("singleton_lookup", {u32(key), i32(SELIUM_KIND_WRITER)});
  ASSERT_GT(writer, 0) << client.lastError();
  EXPECT_EQ(client.write(writer, "request"), 0);
  EXPECT_EQ(service.next(requests), "request");
  // A deleted channel's entry is dead: lookups fail although the registrant runs.
  std::vector<uint8_t> other_id(SELIUM_SINGLETON_ID_BYTES, 0x77);
  uint32_t other_key = service.put(0x2000, other_id);
  client.put(other_key, other_id);
  int32_t doomed = service.create(64);
  ASSERT_EQ(service.call("singleton_register", {u32(other_key), i32(doomed)}), 0);
  EXPECT_EQ(registry_.singletonCount(), 2u);
  ASSERT_EQ(service.remove(doomed), 0);
  EXPECT_EQ(client.call("singleton_lookup", {u32(other_key), i32(SELIUM_KIND_ANY)}),
            -SELIUM_ERR_NotFound);
  // ... and its id may be taken again.
  int32_t replacement = service.create(64);
  ASSERT_EQ(service.call("singleton_register", {u32(other_key), i32(replacement)}), 0)
      << service.lastError();
  EXPECT_GT(client.call("singleton_lookup", {u32(other_key), i32(SELIUM_KIND_CHANNEL)}), 0);
  EXPECT_EQ(registry_.singletonCount(), 2u);
  // The registrant ends: its entries go, what the client looked up keeps working.
  host_->endProcess(service.pid());
  EXPECT_EQ(registry_.singletonCount(), 0u);
  EXPECT_EQ(client.call("singleton_lookup", {u32(key), i32(SELIUM_KIND_WRITER)}),
            -SELIUM_ERR_NotFound);
  EXPECT_EQ(client.write(writer, "after"), 0);
  EXPECT_EQ(client.close(writer), 0);
}

TEST_F(ChannelDriverTest, ChannelHostcallsNeedTheirCapabilities) {
  Guest& owner = guest();
  int32_t channel = owner.create(1024);
  int64_t channel_id = owner.share(channel);
  int64_t reader_id = owner.share(owner.openReader(channel));
  int64_t writer_id = owner.share(owner.openWriter(channel));
  ProcessConfig config;
  config.capabilities.add(Capability::TimeRead);  // none of the channel capabilities
  Guest& none = guest(std::move(config));
  // Attaching needs no capability; using what was attached does.
  int32_t c = none.attach(channel_id, SELIUM_KIND_CHANNEL);
  int32_t r = none.attach(reader_id, SELIUM_KIND_READER);
  int32_t w = none.attach(writer_id, SELIUM_KIND_WRITER);
  ASSERT_GT(c, 0);
  ASSERT_GT(r, 0);
  ASSERT_GT(w, 0);
  EXPECT_EQ(none.create(1024), -SELIUM_ERR_PermissionDenied);
  EXPECT_THAT(none.lastError(), HasSubstr("ChannelLifecycle"));
  EXPECT_EQ(none.drain(c), -SELIUM_ERR_PermissionDenied);
  EXPECT_EQ(none.remove(c), -SELIUM_ERR_PermissionDenied);
  EXPECT_EQ(none.openReader(c), -SELIUM_ERR_PermissionDenied);
  EXPECT_EQ(none.read(r), -SELIUM_ERR_PermissionDenied);
  EXPECT_EQ(none.readBatch(r), -SELIUM_ERR_PermissionDenied);
  EXPECT_EQ(none.lost(r), -SELIUM_ERR_PermissionDenied);
  EXPECT_THAT(none.lastError(), HasSubstr("ChannelReader"));
  EXPECT_EQ(none.openWriter(c), -SELIUM_ERR_PermissionDenied);
  EXPECT_EQ(none.write(w, "x"), -SELIUM_ERR_PermissionDenied);
  EXPECT_EQ(none.writeBatch(w, batchOf({"x"})), -SELIUM_ERR_PermissionDenied);
  EXPECT_EQ(none.downgrade(w), -SELIUM_ERR_PermissionDenied);
  EXPECT_THAT(none.lastError(), HasSubstr("ChannelWriter"));
  EXPECT_EQ(none.process().channelBytes()->load(), 0u);
  EXPECT_EQ(owner.drain(channel), 0);  // nothing was done to the channel
  EXPECT_EQ(owner.read(owner.attach(reader_id, SELIUM_KIND_READER)), -SELIUM_ERR_EndOfStream);
}

}  // namespace
}  // namespace selium::kernel
