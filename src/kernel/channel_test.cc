#include "kernel/channel.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace selium::kernel {
namespace {

using namespace std::chrono_literals;
using Wake = std::pair<ProcessId, int32_t>;

// Records every wake (pid, token), in order, from any thread.
class Recorder : public WakeTarget {
 public:
  void wakeFromAnyThread(ProcessId pid, int32_t token) override {
    std::lock_guard lock(mutex_);
    wakes_.emplace_back(pid, token);
  }
  // The wakes since the last call.
  std::vector<Wake> take() {
    std::lock_guard lock(mutex_);
    return std::exchange(wakes_, {});
  }

 private:
  std::mutex mutex_;
  std::vector<Wake> wakes_;
};

struct Fixture {
  std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>();
  Waker waker(ProcessId pid, int32_t token) const { return Waker{recorder, pid, token}; }
};

std::span<const uint8_t> bytesOf(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Frame i as 8 bytes ("f0000007"): 16 bytes of ring each, so a 64-byte ring holds 4.
std::string frameText(int i) {
  char text[16];
  std::snprintf(text, sizeof text, "f%07d", i);
  return text;
}

WriteResult put(ChannelWriter& writer, Waiter& waiter, const std::string& s, const Waker& k = {}) {
  return writer.write(bytesOf(s), waiter, k);
}

struct Got {
  ReadResult result;
  std::string text;
};

Got get(ChannelReader& reader, Waiter& waiter, const Waker& k = {}, std::size_t cap = 256) {
  std::vector<uint8_t> buf(cap);
  Got got;
  got.result = reader.read(buf, waiter, k);
  if (got.result.status == ChannelStatus::Ok) {
    got.text.assign(reinterpret_cast<const char*>(buf.data()), got.result.bytes);
  }
  return got;
}

// Builds a batch: each frame a little-endian u32 length, then its bytes.
std::vector<uint8_t> batchOf(const std::vector<std::string>& frames) {
  std::vector<uint8_t> out;
  for (const std::string& f : frames) {
    uint32_t n = static_cast<uint32_t>(f.size());
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(n >> (8 * i)));
    out.insert(out.end(), f.begin(), f.end());
  }
  return out;
}

std::vector<std::string> parseBatch(std::span<const uint8_t> batch) {
  std::vector<std::string> frames;
  std::size_t at = 0;
  while (at < batch.size()) {
    uint32_t n =
        batch[at] | batch[at + 1] << 8 | batch[at + 2] << 16 | uint32_t{batch[at + 3]} << 24;
    at += 4;
    frames.emplace_back(reinterpret_cast<const char*>(batch.data() + at), n);
    at += n;
  }
  EXPECT_EQ(at, batch.size());
  return frames;
}

TEST(Channel, CapacityIsRoundedUpToTheFrameAlignment) {
  EXPECT_EQ(Channel::create(100, Backpressure::Park)->capacity(), 104u);
  EXPECT_EQ(Channel::create(64, Backpressure::Park)->capacity(), 64u);
  EXPECT_EQ(Channel::frameSize(0), 8u);
  EXPECT_EQ(Channel::frameSize(1), 16u);
  EXPECT_EQ(Channel::frameSize(8), 16u);
  EXPECT_EQ(Channel::frameSize(9), 24u);
}

TEST(Channel, EveryReaderSeesEveryFrameInOrder) {
  auto ch = Channel::create(256, Backpressure::Park);
  auto a = ChannelReader::open(ch, Strength::Strong);
  auto b = ChannelReader::open(ch, Strength::Weak);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter ww, wa, wb;
  for (int i = 1; i <= 5; ++i) ASSERT_EQ(put(*w, ww, frameText(i)).status, ChannelStatus::Ok);
  EXPECT_EQ(ch->framesWritten(), 5u);
  for (int i = 1; i <= 5; ++i) {
    EXPECT_EQ(get(*a, wa).text, frameText(i));
    EXPECT_EQ(get(*b, wb).text, frameText(i));
  }
  EXPECT_EQ(get(*a, wa).result.status, ChannelStatus::WouldBlock);
}

TEST(Channel, ReaderWaitsAndIsWokenExactlyWhenAFrameIsCommitted) {
  Fixture f;
  auto ch = Channel::create(256, Backpressure::Park);
  auto r = ChannelReader::open(ch, Strength::Strong);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter rw, ww;
  EXPECT_EQ(get(*r, rw, f.waker(7, 3)).result.status, ChannelStatus::WouldBlock);
  EXPECT_TRUE(rw.armed());
  EXPECT_TRUE(f.recorder->take().empty());
  ASSERT_EQ(put(*w, ww, "hello").status, ChannelStatus::Ok);
  EXPECT_EQ(f.recorder->take(), (std::vector<Wake>{{7, 3}}));
  EXPECT_FALSE(rw.armed());  // fired once, then forgotten
  ASSERT_EQ(put(*w, ww, "again").status, ChannelStatus::Ok);
  EXPECT_TRUE(f.recorder->take().empty());
  EXPECT_EQ(get(*r, rw, f.waker(7, 3)).text, "hello");
  EXPECT_EQ(get(*r, rw, f.waker(7, 3)).text, "again");
}

TEST(Channel, StrongReaderLosesNothingAndParksWriters) {
  Fixture f;
  auto ch = Channel::create(64, Backpressure::Park);  // 4 frames of 8 bytes
  auto r = ChannelReader::open(ch, Strength::Strong);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter rw, ww;
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(put(*w, ww, frameText(i)).status, ChannelStatus::Ok);
  EXPECT_EQ(put(*w, ww, frameText(5), f.waker(1, 10)).status, ChannelStatus::WouldBlock);
  EXPECT_TRUE(ww.armed());
  EXPECT_EQ(ch->framesWritten(), 4u);
  EXPECT_TRUE(f.recorder->take().empty());
  EXPECT_EQ(get(*r, rw).text, frameText(1));
  EXPECT_EQ(f.recorder->take(), (std::vector<Wake>{{1, 10}}));
  ASSERT_EQ(put(*w, ww, frameText(5), f.waker(1, 10)).status, ChannelStatus::Ok);
  EXPECT_FALSE(ww.armed());
  for (int i = 2; i <= 5; ++i) EXPECT_EQ(get(*r, rw).text, frameText(i));
}

TEST(Channel, WeakReaderLossCountIsExactAndItContinuesFromTheOldestHeldFrame) {
  auto ch = Channel::create(64, Backpressure::Park);  // 4 frames of 8 bytes
  auto r = ChannelReader::open(ch, Strength::Weak);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter rw, ww;
  for (int i = 1; i <= 10; ++i) ASSERT_EQ(put(*w, ww, frameText(i)).status, ChannelStatus::Ok);
  EXPECT_EQ(ch->framesHeld(), 4u);
  EXPECT_EQ(get(*r, rw).result.status, ChannelStatus::Lagged);
  EXPECT_EQ(r->takeLost(), 6u);
  EXPECT_EQ(r->takeLost(), 0u);
  for (int i = 7; i <= 10; ++i) EXPECT_EQ(get(*r, rw).text, frameText(i));
  EXPECT_EQ(get(*r, rw).result.status, ChannelStatus::WouldBlock);
  // Lagging again counts only the new losses.
  for (int i = 11; i <= 16; ++i) ASSERT_EQ(put(*w, ww, frameText(i)).status, ChannelStatus::Ok);
  EXPECT_EQ(get(*r, rw).result.status, ChannelStatus::Lagged);
  EXPECT_EQ(r->takeLost(), 2u);
  EXPECT_EQ(get(*r, rw).text, frameText(13));
}

TEST(Channel, WeakReaderLagsBehindAStrongReaderOnlyWhenFramesAreEvicted) {
  auto ch = Channel::create(64, Backpressure::Park);
  auto strong = ChannelReader::open(ch, Strength::Strong);
  auto weak = ChannelReader::open(ch, Strength::Weak);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter sw, kw, ww;
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(put(*w, ww, frameText(i)).status, ChannelStatus::Ok);
  for (int i = 1; i <= 4; ++i) EXPECT_EQ(get(*strong, sw).text, frameText(i));
  for (int i = 5; i <= 7; ++i) ASSERT_EQ(put(*w, ww, frameText(i)).status, ChannelStatus::Ok);
  EXPECT_EQ(get(*weak, kw).result.status, ChannelStatus::Lagged);
  EXPECT_EQ(weak->takeLost(), 3u);
  for (int i = 4; i <= 7; ++i) EXPECT_EQ(get(*weak, kw).text, frameText(i));
}

TEST(Channel, WithoutStrongReadersWritersOverwriteAndNewReadersReplayWhatIsHeld) {
  auto ch = Channel::create(64, Backpressure::Park);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter ww, rw;
  for (int i = 1; i <= 10; ++i) ASSERT_EQ(put(*w, ww, frameText(i)).status, ChannelStatus::Ok);
  EXPECT_EQ(ch->framesHeld(), 4u);
  auto r = ChannelReader::open(ch, Strength::Strong);
  for (int i = 7; i <= 10; ++i) EXPECT_EQ(get(*r, rw).text, frameText(i));
}

TEST(Channel, NewReaderStartsAtTheOldestFrameAStrongReaderStillNeeds) {
  auto ch = Channel::create(256, Backpressure::Park);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  auto slow = ChannelReader::open(ch, Strength::Strong);
  Waiter ww, sw, nw;
  for (int i = 1; i <= 5; ++i) ASSERT_EQ(put(*w, ww, frameText(i)).status, ChannelStatus::Ok);
  EXPECT_EQ(get(*slow, sw).text, frameText(1));
  EXPECT_EQ(get(*slow, sw).text, frameText(2));
  auto late = ChannelReader::open(ch, Strength::Weak);
  EXPECT_EQ(get(*late, nw).text, frameText(3));
}

TEST(Channel, DropDiscardsTheNewFrameWhileAStrongReaderHoldsTheRing) {
  Fixture f;
  auto ch = Channel::create(64, Backpressure::Drop);
  auto r = ChannelReader::open(ch, Strength::Strong);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter rw, ww;
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(put(*w, ww, frameText(i)).status, ChannelStatus::Ok);
  EXPECT_EQ(put(*w, ww, frameText(5), f.waker(1, 1)).status, ChannelStatus::Dropped);
  EXPECT_FALSE(ww.armed());
  EXPECT_EQ(ch->framesWritten(), 4u);
  for (int i = 1; i <= 4; ++i) EXPECT_EQ(get(*r, rw).text, frameText(i));
  EXPECT_EQ(put(*w, ww, frameText(6)).status, ChannelStatus::Ok);
  EXPECT_EQ(get(*r, rw).text, frameText(6));
  EXPECT_TRUE(f.recorder->take().empty());
}

TEST(Channel, DropWithoutStrongReaderOverwrites) {
  auto ch = Channel::create(64, Backpressure::Drop);
  auto r = ChannelReader::open(ch, Strength::Weak);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter rw, ww;
  for (int i = 1; i <= 6; ++i) ASSERT_EQ(put(*w, ww, frameText(i)).status, ChannelStatus::Ok);
  EXPECT_EQ(get(*r, rw).result.status, ChannelStatus::Lagged);
  EXPECT_EQ(r->takeLost(), 2u);
  EXPECT_EQ(get(*r, rw).text, frameText(3));
}

TEST(Channel, DrainRefusesWritesAndReadersGetEndOfStreamAfterTheLastFrame) {
  Fixture f;
  auto ch = Channel::create(256, Backpressure::Park);
  auto r = ChannelReader::open(ch, Strength::Strong);
  auto idle = ChannelReader::open(ch, Strength::Weak);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter rw, iw, ww;
  ASSERT_EQ(put(*w, ww, "one").status, ChannelStatus::Ok);
  EXPECT_EQ(get(*idle, iw).text, "one");
  EXPECT_EQ(get(*idle, iw, f.waker(2, 5)).result.status, ChannelStatus::WouldBlock);
  ASSERT_EQ(put(*w, ww, "two").status, ChannelStatus::Ok);
  EXPECT_EQ(f.recorder->take(), (std::vector<Wake>{{2, 5}}));
  EXPECT_EQ(get(*idle, iw).text, "two");
  EXPECT_EQ(get(*idle, iw, f.waker(2, 5)).result.status, ChannelStatus::WouldBlock);
  EXPECT_TRUE(ch->drain());
  EXPECT_TRUE(ch->draining());
  EXPECT_EQ(f.recorder->take(), (std::vector<Wake>{{2, 5}}));  // the waiting reader learns of it
  EXPECT_TRUE(ch->drain());                                    // twice is fine
  EXPECT_EQ(put(*w, ww, "three").status, ChannelStatus::Closed);
  EXPECT_EQ(get(*idle, iw).result.status, ChannelStatus::EndOfStream);
  EXPECT_EQ(get(*r, rw).text, "one");
  EXPECT_EQ(get(*r, rw).text, "two");
  EXPECT_EQ(get(*r, rw).result.status, ChannelStatus::EndOfStream);
  EXPECT_EQ(get(*r, rw).result.status, ChannelStatus::EndOfStream);
}

TEST(Channel, DrainWakesParkedWritersWhichThenGetClosed) {
  Fixture f;
  auto ch = Channel::create(64, Backpressure::Park);
  auto r = ChannelReader::open(ch, Strength::Strong);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter ww;
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(put(*w, ww, frameText(i)).status, ChannelStatus::Ok);
  EXPECT_EQ(put(*w, ww, frameText(5), f.waker(3, 1)).status, ChannelStatus::WouldBlock);
  ch->drain();
  EXPECT_EQ(f.recorder->take(), (std::vector<Wake>{{3, 1}}));
  EXPECT_FALSE(ww.armed());
  EXPECT_EQ(put(*w, ww, frameText(5), f.waker(3, 1)).status, ChannelStatus::Closed);
}

TEST(Channel, CloseGivesEveryoneClosedFiresEveryWaiterAndFreesTheRingOnce) {
  Fixture f;
  int freed = 0;
  auto ch = Channel::create(64, Backpressure::Park, [&] { ++freed; });
  auto r1 = ChannelReader::open(ch, Strength::Strong);
  auto r2 = ChannelReader::open(ch, Strength::Weak);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter w1, w2, ww;
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(put(*w, ww, frameText(i)).status, ChannelStatus::Ok);
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(get(*r2, w2).text, frameText(i));
  EXPECT_EQ(get(*r2, w2, f.waker(1, 2)).result.status, ChannelStatus::WouldBlock);
  EXPECT_EQ(put(*w, ww, frameText(5), f.waker(1, 3)).status, ChannelStatus::WouldBlock);
  ch->close();
  EXPECT_EQ(freed, 1);
  auto wakes = f.recorder->take();
  std::sort(wakes.begin(), wakes.end());
  EXPECT_EQ(wakes, (std::vector<Wake>{{1, 2}, {1, 3}}));
  EXPECT_FALSE(w2.armed());
  EXPECT_FALSE(ww.armed());
  EXPECT_TRUE(ch->closed());
  // Frames were still held for r1: it gets Closed all the same.
  EXPECT_EQ(get(*r1, w1).result.status, ChannelStatus::Closed);
  EXPECT_EQ(get(*r2, w2).result.status, ChannelStatus::Closed);
  EXPECT_EQ(put(*w, ww, "x").status, ChannelStatus::Closed);
  EXPECT_EQ(ChannelReader::open(ch, Strength::Strong)->read({}, w1, {}).status,
            ChannelStatus::Closed);
  EXPECT_FALSE(ch->drain());
  ch->close();
  r1.reset();
  r2.reset();
  w.reset();
  ch.reset();
  EXPECT_EQ(freed, 1);
  EXPECT_TRUE(f.recorder->take().empty());
}

TEST(Channel, OnFreeRunsOnceWhenTheLastHolderGoesWithoutClose) {
  int freed = 0;
  auto ch = Channel::create(64, Backpressure::Park, [&] { ++freed; });
  auto r = ChannelReader::open(ch, Strength::Strong);
  Waiter rw;
  EXPECT_EQ(r->read({}, rw, {}).status, ChannelStatus::WouldBlock);
  ch.reset();
  r.reset();
  EXPECT_EQ(freed, 0);  // the armed waiter still holds the channel
  rw.cancel();
  EXPECT_EQ(freed, 1);
}

TEST(Channel, FrameLargerThanTheRingIsRefusedAtOnce) {
  Fixture f;
  auto ch = Channel::create(64, Backpressure::Park);
  auto r = ChannelReader::open(ch, Strength::Strong);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter ww, rw;
  EXPECT_EQ(put(*w, ww, std::string(56, 'a')).status, ChannelStatus::Ok);  // exactly the ring
  EXPECT_EQ(put(*w, ww, std::string(57, 'a'), f.waker(1, 1)).status, ChannelStatus::TooLarge);
  EXPECT_FALSE(ww.armed());
  EXPECT_EQ(get(*r, rw).text, std::string(56, 'a'));
}

TEST(Channel, TooLargeReadLeavesTheFrameNextAndSaysTheSizeNeeded) {
  auto ch = Channel::create(256, Backpressure::Park);
  auto r = ChannelReader::open(ch, Strength::Strong);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter ww, rw;
  std::string big(20, 'b');
  ASSERT_EQ(put(*w, ww, big).status, ChannelStatus::Ok);
  ASSERT_EQ(put(*w, ww, "small").status, ChannelStatus::Ok);
  Got got = get(*r, rw, {}, 19);
  EXPECT_EQ(got.result.status, ChannelStatus::TooLarge);
  EXPECT_EQ(got.result.needed, 20u);
  std::vector<uint8_t> buf(23);
  ReadResult batch = r->readBatch(buf, rw, {});
  EXPECT_EQ(batch.status, ChannelStatus::TooLarge);
  EXPECT_EQ(batch.needed, 24u);
  EXPECT_EQ(get(*r, rw, {}, 20).text, big);
  EXPECT_EQ(get(*r, rw, {}, 5).text, "small");
}

TEST(Channel, ReadBatchPacksWholeFramesThatFit) {
  auto ch = Channel::create(256, Backpressure::Park);
  auto r = ChannelReader::open(ch, Strength::Strong);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter ww, rw;
  for (const char* s : {"abc", "", "hello", "xyz12"}) {
    ASSERT_EQ(put(*w, ww, s).status, ChannelStatus::Ok);
  }
  std::vector<uint8_t> buf(4 + 3 + 4 + 0 + 4 + 5 + 4);  // the fourth frame needs 5 more bytes
  ReadResult got = r->readBatch(buf, rw, {});
  ASSERT_EQ(got.status, ChannelStatus::Ok);
  EXPECT_EQ(got.frames, 3u);
  EXPECT_EQ(got.bytes, 20u);
  EXPECT_EQ(buf[0], 3);
  EXPECT_EQ(buf[1] | buf[2] | buf[3], 0);
  EXPECT_EQ(parseBatch(std::span(buf).first(got.bytes)),
            (std::vector<std::string>{"abc", "", "hello"}));
  got = r->readBatch(buf, rw, {});
  ASSERT_EQ(got.status, ChannelStatus::Ok);
  EXPECT_EQ(parseBatch(std::span(buf).first(got.bytes)), (std::vector<std::string>{"xyz12"}));
}

// One call moves at most kMaxBatchFrames frames, however many the batch or the buffer holds: a
// call holds the channel's lock, which other workers' readers and writers wait for.
TEST(Channel, OneBatchCallMovesAtMostTheBatchFrameLimit) {
  constexpr std::size_t kLimit = Channel::kMaxBatchFrames;
  auto ch = Channel::create(8 * (kLimit + 100), Backpressure::Park);
  auto r = ChannelReader::open(ch, Strength::Strong);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter ww, rw;
  std::vector<std::string> empty(kLimit + 100);  // empty frames: 8 bytes of ring each
  std::vector<uint8_t> batch = batchOf(empty);
  WriteResult written = w->writeBatch(batch, ww, {});
  EXPECT_EQ(written.status, ChannelStatus::Ok);
  EXPECT_EQ(written.frames, kLimit);
  std::vector<uint8_t> rest = batchOf(std::vector<std::string>(100));
  EXPECT_EQ(w->writeBatch(rest, ww, {}).frames, 100u);
  std::vector<uint8_t> buf(Channel::kBatchHeader * (kLimit + 100));  // room for every frame
  ReadResult got = r->readBatch(buf, rw, {});
  EXPECT_EQ(got.frames, kLimit);
  got = r->readBatch(buf, rw, {});
  EXPECT_EQ(got.frames, 100u);
}

TEST(Channel, WriteBatchRefusesAMalformedBatchWhole) {
  auto ch = Channel::create(256, Backpressure::Park);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter ww;
  std::vector<uint8_t> batch = batchOf({"abc", "defgh"});
  batch.pop_back();  // the last length runs past the end
  EXPECT_EQ(w->writeBatch(batch, ww, {}).status, ChannelStatus::Malformed);
  std::vector<uint8_t> stub = batchOf({"abc"});
  stub.push_back(1);  // half a header
  EXPECT_EQ(w->writeBatch(stub, ww, {}).status, ChannelStatus::Malformed);
  EXPECT_EQ(ch->framesWritten(), 0u);
}

TEST(Channel, WriteBatchWritesFramesInOrderUntilOneCannot) {
  Fixture f;
  auto ch = Channel::create(64, Backpressure::Park);
  auto r = ChannelReader::open(ch, Strength::Strong);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter ww, rw;
  std::vector<std::string> frames;
  for (int i = 1; i <= 6; ++i) frames.push_back(frameText(i));
  std::vector<uint8_t> batch = batchOf(frames);
  WriteResult res = w->writeBatch(batch, ww, f.waker(1, 1));
  EXPECT_EQ(res.status, ChannelStatus::Ok);
  EXPECT_EQ(res.frames, 4u);
  EXPECT_FALSE(ww.armed());  // it wrote something: no wait
  std::vector<uint8_t> rest = batchOf({frameText(5), frameText(6)});
  res = w->writeBatch(rest, ww, f.waker(1, 1));
  EXPECT_EQ(res.status, ChannelStatus::WouldBlock);
  EXPECT_EQ(res.frames, 0u);
  std::vector<uint8_t> buf(1024);
  ReadResult got = r->readBatch(buf, rw, {});
  ASSERT_EQ(got.frames, 4u);
  EXPECT_EQ(f.recorder->take(), (std::vector<Wake>{{1, 1}}));
  res = w->writeBatch(rest, ww, f.waker(1, 1));
  EXPECT_EQ(res.frames, 2u);
  got = r->readBatch(buf, rw, {});
  EXPECT_EQ(parseBatch(std::span(buf).first(got.bytes)),
            (std::vector<std::string>{frameText(5), frameText(6)}));
  // A frame too large stops the batch; alone it is TooLarge.
  std::vector<uint8_t> mixed = batchOf({"ok", std::string(100, 'x')});
  EXPECT_EQ(w->writeBatch(mixed, ww, {}).frames, 1u);
  EXPECT_EQ(w->writeBatch(batchOf({std::string(100, 'x')}), ww, {}).status,
            ChannelStatus::TooLarge);
}

TEST(Channel, ASecondWaitWithAnotherTokenIsBusyAndTheFirstStillFires) {
  Fixture f;
  auto ch = Channel::create(64, Backpressure::Park);
  auto r = ChannelReader::open(ch, Strength::Strong);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter rw, ww;
  EXPECT_EQ(get(*r, rw, f.waker(1, 1)).result.status, ChannelStatus::WouldBlock);
  EXPECT_EQ(get(*r, rw, f.waker(1, 2)).result.status, ChannelStatus::Busy);
  EXPECT_EQ(get(*r, rw, f.waker(1, 1)).result.status, ChannelStatus::WouldBlock);
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(put(*w, ww, frameText(i)).status, ChannelStatus::Ok);
  EXPECT_EQ(f.recorder->take(), (std::vector<Wake>{{1, 1}}));
  // Writers too.
  EXPECT_EQ(put(*w, ww, frameText(5), f.waker(2, 1)).status, ChannelStatus::WouldBlock);
  EXPECT_EQ(put(*w, ww, frameText(5), f.waker(2, 2)).status, ChannelStatus::Busy);
  EXPECT_EQ(put(*w, ww, frameText(5), f.waker(2, 1)).status, ChannelStatus::WouldBlock);
  EXPECT_EQ(get(*r, rw).text, frameText(1));
  EXPECT_EQ(f.recorder->take(), (std::vector<Wake>{{2, 1}}));
}

TEST(Channel, AnotherTaskThatSucceedsOnAWaitingWriterWakesTheWaitingTask) {
  Fixture f;
  auto ch = Channel::create(64, Backpressure::Park);
  auto r = ChannelReader::open(ch, Strength::Strong);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter rw, ww;
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(put(*w, ww, frameText(i)).status, ChannelStatus::Ok);
  EXPECT_EQ(put(*w, ww, frameText(5), f.waker(2, 1)).status, ChannelStatus::WouldBlock);
  EXPECT_EQ(get(*r, rw).text, frameText(1));
  EXPECT_EQ(f.recorder->take(), (std::vector<Wake>{{2, 1}}));
  // Task 2 writes first; task 1's wait is over, it is told to retry.
  EXPECT_EQ(put(*w, ww, frameText(5), f.waker(2, 2)).status, ChannelStatus::Ok);
  EXPECT_EQ(f.recorder->take(), (std::vector<Wake>{{2, 1}}));
  EXPECT_FALSE(ww.armed());
}

TEST(Channel, AnIdleOrVanishedWriterNeverHidesLaterFrames) {
  auto ch = Channel::create(256, Backpressure::Park);
  auto r = ChannelReader::open(ch, Strength::Strong);
  auto a = ChannelWriter::open(ch, Strength::Strong);
  auto b = ChannelWriter::open(ch, Strength::Strong);
  Waiter aw, bw, rw;
  ASSERT_EQ(put(*a, aw, "a1").status, ChannelStatus::Ok);
  ASSERT_EQ(put(*b, bw, "b1").status, ChannelStatus::Ok);  // a is idle now
  EXPECT_EQ(get(*r, rw).text, "a1");
  EXPECT_EQ(get(*r, rw).text, "b1");
  a.reset();
  ASSERT_EQ(put(*b, bw, "b2").status, ChannelStatus::Ok);
  EXPECT_EQ(get(*r, rw).text, "b2");
}

TEST(Channel, WaitingStrongWritersAreServedInOrderAndNothingOvertakesThem) {
  Fixture f;
  auto ch = Channel::create(64, Backpressure::Park);
  auto r = ChannelReader::open(ch, Strength::Strong);
  auto fill = ChannelWriter::open(ch, Strength::Weak);
  auto s1 = ChannelWriter::open(ch, Strength::Strong);
  auto s2 = ChannelWriter::open(ch, Strength::Strong);
  auto weak = ChannelWriter::open(ch, Strength::Weak);
  Waiter fw, w1, w2, kw, rw;
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(put(*fill, fw, frameText(i)).status, ChannelStatus::Ok);
  EXPECT_EQ(put(*s1, w1, "s1-a", f.waker(1, 1)).status, ChannelStatus::WouldBlock);
  EXPECT_EQ(put(*s2, w2, "s2-a", f.waker(2, 1)).status, ChannelStatus::WouldBlock);
  EXPECT_EQ(get(*r, rw).text, frameText(1));
  EXPECT_EQ(f.recorder->take(), (std::vector<Wake>{{1, 1}}));  // the front one only
  // There is room for one frame, but it is s1's turn: neither s2, a weak writer nor a writer
  // that was not waiting may take it.
  EXPECT_EQ(put(*s2, w2, "s2-a", f.waker(2, 1)).status, ChannelStatus::WouldBlock);
  EXPECT_EQ(put(*weak, kw, "weak", f.waker(3, 1)).status, ChannelStatus::WouldBlock);
  EXPECT_EQ(put(*fill, fw, "fill", f.waker(4, 1)).status, ChannelStatus::WouldBlock);
  EXPECT_EQ(get(*r, rw).text, frameText(2));  // s1 was woken already: nobody else is
  EXPECT_TRUE(f.recorder->take().empty());
  ASSERT_EQ(put(*s1, w1, "s1-a", f.waker(1, 1)).status, ChannelStatus::Ok);
  // s1 is served; one slot is still free, and s2 is the front now.
  EXPECT_EQ(f.recorder->take(), (std::vector<Wake>{{2, 1}}));
  ASSERT_EQ(put(*s2, w2, "s2-a", f.waker(2, 1)).status, ChannelStatus::Ok);
  // No strong writer waits: nothing wakes until a reader frees room, then the weak ones.
  EXPECT_TRUE(f.recorder->take().empty());
  EXPECT_EQ(get(*r, rw).text, frameText(3));
  auto wakes = f.recorder->take();
  std::sort(wakes.begin(), wakes.end());
  EXPECT_EQ(wakes, (std::vector<Wake>{{3, 1}, {4, 1}}));
  ASSERT_EQ(put(*weak, kw, "weak", f.waker(3, 1)).status, ChannelStatus::Ok);
  EXPECT_EQ(put(*fill, fw, "fill", f.waker(4, 1)).status, ChannelStatus::WouldBlock);
  for (const char* expect : {"f0000004", "s1-a", "s2-a", "weak"}) {
    EXPECT_EQ(get(*r, rw).text, expect);
  }
}

TEST(Channel, AWaitingWeakWriterHoldsNobodyBackAndIsWokenOnlyWhenItsFrameFits) {
  Fixture f;
  auto ch = Channel::create(64, Backpressure::Park);
  auto r = ChannelReader::open(ch, Strength::Strong);
  auto weak = ChannelWriter::open(ch, Strength::Weak);
  auto other = ChannelWriter::open(ch, Strength::Strong);
  Waiter kw, ow, rw;
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(put(*other, ow, frameText(i)).status, ChannelStatus::Ok);
  std::string big(24, 'w');  // 32 bytes of ring: two frames must go first
  EXPECT_EQ(put(*weak, kw, big, f.waker(1, 1)).status, ChannelStatus::WouldBlock);
  EXPECT_EQ(get(*r, rw).text, frameText(1));
  EXPECT_TRUE(f.recorder->take().empty());                    // 16 bytes free: not enough for it
  EXPECT_EQ(put(*other, ow, "x").status, ChannelStatus::Ok);  // not held back by the weak wait
  EXPECT_EQ(get(*r, rw).text, frameText(2));
  EXPECT_TRUE(f.recorder->take().empty());
  EXPECT_EQ(get(*r, rw).text, frameText(3));
  EXPECT_EQ(f.recorder->take(), (std::vector<Wake>{{1, 1}}));
  EXPECT_EQ(put(*weak, kw, big, f.waker(1, 1)).status, ChannelStatus::Ok);
}

TEST(Channel, OnlyTheSlowestStrongReaderWakesWriters) {
  Fixture f;
  auto ch = Channel::create(64, Backpressure::Park);
  auto slow = ChannelReader::open(ch, Strength::Strong);
  auto fast = ChannelReader::open(ch, Strength::Strong);
  auto weak = ChannelReader::open(ch, Strength::Weak);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter sw, fw, kw, ww;
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(put(*w, ww, frameText(i)).status, ChannelStatus::Ok);
  EXPECT_EQ(put(*w, ww, frameText(5), f.waker(1, 1)).status, ChannelStatus::WouldBlock);
  for (int i = 1; i <= 4; ++i) EXPECT_EQ(get(*fast, fw).text, frameText(i));
  for (int i = 1; i <= 4; ++i) EXPECT_EQ(get(*weak, kw).text, frameText(i));
  EXPECT_TRUE(f.recorder->take().empty());
  EXPECT_EQ(get(*slow, sw).text, frameText(1));
  EXPECT_EQ(f.recorder->take(), (std::vector<Wake>{{1, 1}}));
  ASSERT_EQ(put(*w, ww, frameText(5), f.waker(1, 1)).status, ChannelStatus::Ok);
}

TEST(Channel, AStrongReaderThatGoesAwayReleasesParkedWriters) {
  Fixture f;
  auto ch = Channel::create(64, Backpressure::Park);
  auto r = ChannelReader::open(ch, Strength::Strong);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter ww;
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(put(*w, ww, frameText(i)).status, ChannelStatus::Ok);
  EXPECT_EQ(put(*w, ww, frameText(5), f.waker(1, 1)).status, ChannelStatus::WouldBlock);
  r.reset();
  EXPECT_EQ(f.recorder->take(), (std::vector<Wake>{{1, 1}}));
  EXPECT_EQ(put(*w, ww, frameText(5), f.waker(1, 1)).status, ChannelStatus::Ok);
  EXPECT_EQ(ch->framesHeld(), 4u);  // frame 1 was overwritten
}

TEST(Channel, DowngradeStopsAWaitingWriterHoldingOthersBack) {
  Fixture f;
  auto ch = Channel::create(64, Backpressure::Park);
  auto r = ChannelReader::open(ch, Strength::Strong);
  auto s1 = ChannelWriter::open(ch, Strength::Strong);
  auto s2 = ChannelWriter::open(ch, Strength::Strong);
  Waiter w1, w2, rw;
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(put(*s1, w1, frameText(i)).status, ChannelStatus::Ok);
  std::string big(24, 'b');
  EXPECT_EQ(put(*s1, w1, big, f.waker(1, 1)).status, ChannelStatus::WouldBlock);
  EXPECT_EQ(put(*s2, w2, "s2", f.waker(2, 1)).status, ChannelStatus::WouldBlock);
  EXPECT_EQ(get(*r, rw).text, frameText(1));
  EXPECT_TRUE(f.recorder->take().empty());  // s1 needs 32 bytes; s2 may not overtake it
  s1->downgrade();
  EXPECT_EQ(s1->strength(), Strength::Weak);
  EXPECT_EQ(f.recorder->take(), (std::vector<Wake>{{2, 1}}));
  EXPECT_TRUE(w1.armed());  // still waiting, as a weak writer
  EXPECT_EQ(put(*s2, w2, "s2", f.waker(2, 1)).status, ChannelStatus::Ok);
}

TEST(Channel, DestroyedWaitersAreNeverFired) {
  Fixture f;
  auto ch = Channel::create(64, Backpressure::Park);
  auto r = ChannelReader::open(ch, Strength::Strong);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter ww;
  {
    Waiter gone;
    EXPECT_EQ(get(*r, gone, f.waker(1, 1)).result.status, ChannelStatus::WouldBlock);
  }
  Waiter cancelled;
  EXPECT_EQ(get(*r, cancelled, f.waker(1, 2)).result.status, ChannelStatus::WouldBlock);
  cancelled.cancel();
  EXPECT_FALSE(cancelled.armed());
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(put(*w, ww, frameText(i)).status, ChannelStatus::Ok);
  EXPECT_TRUE(f.recorder->take().empty());
  {
    Waiter parked;
    EXPECT_EQ(put(*w, parked, frameText(5), f.waker(1, 3)).status, ChannelStatus::WouldBlock);
  }
  Waiter rw;
  EXPECT_EQ(get(*r, rw).text, frameText(1));
  EXPECT_TRUE(f.recorder->take().empty());
}

TEST(Channel, DestroyingAReaderOrWriterUnregistersItsWaiter) {
  Fixture f;
  auto ch = Channel::create(64, Backpressure::Park);
  auto r = ChannelReader::open(ch, Strength::Strong);
  auto gone = ChannelReader::open(ch, Strength::Weak);
  auto w1 = ChannelWriter::open(ch, Strength::Strong);
  auto w2 = ChannelWriter::open(ch, Strength::Strong);
  Waiter gw, a, b, rw;
  EXPECT_EQ(get(*gone, gw, f.waker(9, 9)).result.status, ChannelStatus::WouldBlock);
  gone.reset();
  EXPECT_FALSE(gw.armed());
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(put(*w1, a, frameText(i)).status, ChannelStatus::Ok);
  EXPECT_TRUE(f.recorder->take().empty());
  EXPECT_EQ(put(*w1, a, std::string(24, 'x'), f.waker(1, 1)).status, ChannelStatus::WouldBlock);
  EXPECT_EQ(put(*w2, b, "w2", f.waker(2, 1)).status, ChannelStatus::WouldBlock);
  EXPECT_EQ(get(*r, rw).text, frameText(1));
  EXPECT_TRUE(f.recorder->take().empty());
  w1.reset();  // the front writer goes: the next one is served
  EXPECT_FALSE(a.armed());
  EXPECT_EQ(f.recorder->take(), (std::vector<Wake>{{2, 1}}));
  EXPECT_EQ(put(*w2, b, "w2", f.waker(2, 1)).status, ChannelStatus::Ok);
}

TEST(Channel, FramesOfEveryLengthWrapAroundTheRingIntact) {
  auto ch = Channel::create(200, Backpressure::Park);
  auto r = ChannelReader::open(ch, Strength::Strong);
  auto w = ChannelWriter::open(ch, Strength::Strong);
  Waiter ww, rw;
  std::mt19937 rng(42);
  std::vector<uint8_t> buf(256);
  for (int i = 0; i < 5000; ++i) {
    std::string frame(rng() % 90, '\0');
    for (char& c : frame) c = static_cast<char>(rng());
    ASSERT_EQ(put(*w, ww, frame).status, ChannelStatus::Ok) << i;
    if (rng() % 3 == 0) {
      ASSERT_EQ(put(*w, ww, "x").status, ChannelStatus::Ok) << i;
      ASSERT_EQ(get(*r, rw).text, frame) << i;
      ASSERT_EQ(get(*r, rw).text, "x") << i;
    } else {
      ASSERT_EQ(get(*r, rw).text, frame) << i;
    }
  }
  EXPECT_EQ(get(*r, rw).result.status, ChannelStatus::WouldBlock);
}

// ---- Threads ----

#ifndef SELIUM_CHANNEL_STRESS_FRAMES
#define SELIUM_CHANNEL_STRESS_FRAMES 1000000
#endif

// A thread's wake-ups: fire() from any thread sets a flag the thread waits for.
class Signal : public WakeTarget {
 public:
  void wakeFromAnyThread(ProcessId, int32_t) override {
    {
      std::lock_guard lock(mutex_);
      fired_ = true;
    }
    cv_.notify_one();
  }
  void reset() {
    std::lock_guard lock(mutex_);
    fired_ = false;
  }
  // False if nothing fired within the bound (a lost wake-up).
  bool wait(std::chrono::milliseconds bound = 20s) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, bound, [&] { return fired_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool fired_ = false;
};

TEST(Channel, StressEightWritersTwoStrongReadersLoseDuplicateOrReorderNothing) {
  constexpr int kWriters = 8;
  constexpr uint32_t kFrames = SELIUM_CHANNEL_STRESS_FRAMES;
  constexpr uint64_t kTotal = uint64_t{kWriters} * kFrames;
  auto ch = Channel::create(16384, Backpressure::Park);
  std::array<std::shared_ptr<ChannelReader>, 2> readers = {
      ChannelReader::open(ch, Strength::Strong), ChannelReader::open(ch, Strength::Strong)};
  std::atomic<bool> failed{false};
  std::array<uint64_t, 2> hashes{};
  std::array<uint64_t, 2> counts{};
  std::array<std::string, 2> errors;

  auto readerMain = [&](int index) {
    ChannelReader& reader = *readers[index];
    auto signal = std::make_shared<Signal>();
    Waker waker{signal, static_cast<ProcessId>(100 + index), 1};
    Waiter waiter;
    std::vector<uint8_t> buf(8192);
    std::array<uint32_t, kWriters> next{};
    uint64_t hash = 1469598103934665603ull;
    uint64_t count = 0;
    uint64_t calls = 0;
    while (count < kTotal && !failed) {
      signal->reset();
      // Reader 1 alternates single reads with batches.
      bool single = index == 1 && (++calls % 4 == 0);
      ReadResult got = single ? reader.read(std::span(buf).subspan(4), waiter, waker)
                              : reader.readBatch(buf, waiter, waker);
      if (got.status == ChannelStatus::WouldBlock) {
        if (!signal->wait()) {
          errors[index] = "reader never woken";
          failed = true;
        }
        continue;
      }
      if (got.status != ChannelStatus::Ok) {
        errors[index] = "read status " + std::to_string(static_cast<int>(got.status));
        failed = true;
        break;
      }
      if (single) {  // frame it as a batch of one, so one parser checks both
        uint32_t n = static_cast<uint32_t>(got.bytes);
        std::memcpy(buf.data(), &n, 4);
        got.bytes += 4;
      }
      for (std::size_t at = 0; at < got.bytes;) {
        uint32_t length, writer, seq;
        std::memcpy(&length, &buf[at], 4);
        std::memcpy(&writer, &buf[at + 4], 4);
        std::memcpy(&seq, &buf[at + 8], 4);
        if (length != 8 + writer % 5 * 8 || writer >= kWriters || seq != next[writer]) {
          errors[index] = "frame " + std::to_string(writer) + ":" + std::to_string(seq) +
                          " expected seq " + std::to_string(writer < kWriters ? next[writer] : 0u);
          failed = true;
          break;
        }
        ++next[writer];
        hash = (hash ^ (uint64_t{writer} << 32 | seq)) * 1099511628211ull;
        ++count;
        at += 4 + length;
      }
    }
    hashes[index] = hash;
    counts[index] = count;
  };

  auto writerMain = [&](uint32_t id) {
    auto w = ChannelWriter::open(ch, Strength::Strong);
    auto signal = std::make_shared<Signal>();
    Waker waker{signal, id, 1};
    Waiter waiter;
    const uint32_t length = 8 + id % 5 * 8;  // 8..40 bytes
    const bool batched = id != 0;            // writer 0 writes frame by frame
    std::vector<uint8_t> batch;
    uint32_t seq = 0;
    while (seq < kFrames && !failed) {
      uint32_t first = seq;
      batch.clear();
      uint32_t n = batched ? std::min<uint32_t>(1 + seq % 63, kFrames - seq) : 1;
      for (uint32_t i = 0; i < n; ++i) {
        std::size_t at = batch.size();
        batch.resize(at + 4 + length);
        uint32_t s = first + i;
        std::memcpy(&batch[at], &length, 4);
        std::memcpy(&batch[at + 4], &id, 4);
        std::memcpy(&batch[at + 8], &s, 4);
      }
      signal->reset();
      WriteResult res = batched ? w->writeBatch(batch, waiter, waker)
                                : w->write(std::span(batch).subspan(4), waiter, waker);
      if (res.status == ChannelStatus::WouldBlock) {
        if (!signal->wait()) failed = true;
        continue;
      }
      if (res.status != ChannelStatus::Ok || res.frames == 0) {
        failed = true;
        break;
      }
      seq += static_cast<uint32_t>(res.frames);
    }
  };

  std::vector<std::thread> threads;
  threads.emplace_back(readerMain, 0);
  threads.emplace_back(readerMain, 1);
  for (uint32_t id = 0; id < kWriters; ++id) threads.emplace_back(writerMain, id);
  for (std::thread& t : threads) t.join();
  EXPECT_FALSE(failed) << errors[0] << " / " << errors[1];
  EXPECT_EQ(counts[0], kTotal);
  EXPECT_EQ(counts[1], kTotal);
  EXPECT_EQ(hashes[0], hashes[1]);  // both saw the same total order
  EXPECT_EQ(ch->framesWritten(), kTotal);
}

TEST(Channel, ThreadsCloseWhileOthersWaitAndEveryoneSeesClosed) {
  auto ch = Channel::create(64, Backpressure::Park);
  auto r = ChannelReader::open(ch, Strength::Strong);
  std::atomic<int> closed_seen{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto signal = std::make_shared<Signal>();
      Waker waker{signal, static_cast<ProcessId>(t), 1};
      Waiter waiter;
      auto w = ChannelWriter::open(ch, Strength::Strong);
      std::string frame = frameText(t);
      for (;;) {
        signal->reset();
        WriteResult res = w->write(bytesOf(frame), waiter, waker);
        if (res.status == ChannelStatus::Closed) {
          ++closed_seen;
          return;
        }
        if (res.status == ChannelStatus::WouldBlock && !signal->wait()) return;
      }
    });
  }
  // Every writer fills the ring until it waits; close then releases them all.
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (ch->framesWritten() < 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(ch->framesWritten(), 4u);
  ch->close();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(closed_seen, 4);
}

}  // namespace
}  // namespace selium::kernel
