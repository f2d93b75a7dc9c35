// ChannelSink and ChannelSource over real channels and a real asio loop: bytes arrive whole and
// in order, backpressure holds and resumes through the loop, and every way a stream ends (complete,
// cut short, writer gone, declared length reached or passed) is told apart.
#include "kernel/drivers/net/byte_pipe.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

namespace selium::kernel {
namespace {

using namespace std::chrono_literals;
using State = net::ByteProducer::State;

std::vector<uint8_t> pattern(std::size_t n, uint8_t seed = 0) {
  std::vector<uint8_t> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 8));
  return out;
}

std::shared_ptr<Channel> streamChannel(std::size_t capacity = 4096) {
  auto channel = Channel::create(capacity, Backpressure::Park);
  channel->markByteStream(Capability::NetHttpRead, Capability::NetHttpWrite);
  return channel;
}

// Reads every frame the reader has now; the status that stopped it.
ChannelStatus drainReader(ChannelReader& reader, std::vector<uint8_t>& into) {
  Waiter waiter;
  std::vector<uint8_t> buffer(64 * 1024);
  for (;;) {
    ReadResult r = reader.read(buffer, waiter, Waker{});
    if (r.status != ChannelStatus::Ok) return r.status;
    into.insert(into.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(r.bytes));
  }
}

TEST(ChannelSinkTest, DeliversBytesInOrderAndResumesWhenTheReaderMakesRoom) {
  boost::asio::io_context loop;
  auto channel = streamChannel(4096);
  auto reader = ChannelReader::open(channel, Strength::Strong);
  int resumed = 0;
  auto sink = ChannelSink::create(loop, channel, [&] { ++resumed; });
  const auto data = pattern(100'000);
  std::vector<uint8_t> received;
  std::size_t offered = 0;
  int rounds = 0;
  while (offered < data.size()) {
    ASSERT_LT(++rounds, 10'000);
    const std::size_t taken = sink->offer(std::span<const uint8_t>(data).subspan(offered));
    offered += taken;
    if (offered == data.size()) break;
    // Full: nothing more until the reader makes room, and the wake comes through the loop.
    EXPECT_EQ(sink->offer(std::span<const uint8_t>(data).subspan(offered)), 0u);
    const int before = resumed;
    EXPECT_EQ(drainReader(*reader, received), ChannelStatus::WouldBlock);
    loop.restart();
    loop.poll();
    EXPECT_EQ(resumed, before + 1);
  }
  sink->end(true);
  EXPECT_EQ(drainReader(*reader, received), ChannelStatus::EndOfStream);
  EXPECT_EQ(received, data);
  EXPECT_GT(resumed, 10);  // 100 KB through a 4 KiB ring
}

TEST(ChannelSinkTest, ACutShortStreamClosesTheChannel) {
  boost::asio::io_context loop;
  auto channel = streamChannel();
  auto reader = ChannelReader::open(channel, Strength::Strong);
  auto sink = ChannelSink::create(loop, channel, [] {});
  const auto data = pattern(100);
  EXPECT_EQ(sink->offer(data), 100u);
  sink->end(false);
  std::vector<uint8_t> received;
  EXPECT_EQ(drainReader(*reader, received), ChannelStatus::Closed);
  EXPECT_TRUE(channel->closed());
}

TEST(ChannelSinkTest, WithoutAReaderBytesAreTakenAndDropped) {
  boost::asio::io_context loop;
  auto channel = streamChannel(1024);
  auto sink = ChannelSink::create(loop, channel, [] {});
  const auto data = pattern(1 << 20);
  EXPECT_EQ(sink->offer(data), data.size());  // never blocks: nobody holds the ring
  EXPECT_LE(channel->framesHeld() * 16, 1024u);
}

TEST(ChannelSinkTest, DestroyedUnendedCutsTheStreamShort) {
  boost::asio::io_context loop;
  auto channel = streamChannel();
  auto reader = ChannelReader::open(channel, Strength::Strong);
  {
    auto sink = ChannelSink::create(loop, channel, [] {});
    EXPECT_EQ(sink->offer(pattern(10)), 10u);
  }
  std::vector<uint8_t> received;
  EXPECT_EQ(drainReader(*reader, received), ChannelStatus::Closed);
}

struct GuestWriter {
  explicit GuestWriter(const std::shared_ptr<Channel>& channel)
      : writer(ChannelWriter::open(channel, Strength::Strong, [weak = std::weak_ptr(channel)] {
          if (auto c = weak.lock(); c && !c->draining()) c->close();
        })) {}
  ChannelStatus write(std::span<const uint8_t> bytes) {
    Waiter waiter;
    return writer->write(bytes, waiter, Waker{}).status;
  }
  std::shared_ptr<ChannelWriter> writer;
};

// Pulls everything the source has now into `into`; the state that stopped it.
State pull(ChannelSource& source, std::vector<uint8_t>& into, std::size_t buffer_size = 1000) {
  std::vector<uint8_t> buffer(buffer_size);
  for (int i = 0; i < 100'000; ++i) {
    auto chunk = source.read(buffer);
    if (chunk.state != State::Data) return chunk.state;
    EXPECT_GT(chunk.size, 0u);
    into.insert(into.end(), buffer.begin(),
                buffer.begin() + static_cast<std::ptrdiff_t>(chunk.size));
  }
  ADD_FAILURE() << "the source never stopped giving data";
  return State::Abort;
}

TEST(ChannelSourceTest, HandsOutFramesLargerAndSmallerThanTheBufferInOrderThenEnds) {
  boost::asio::io_context loop;
  auto channel = streamChannel(64 * 1024);
  int resumed = 0;
  auto source = ChannelSource::create(loop, channel, std::nullopt, [&] { ++resumed; });
  GuestWriter guest(channel);
  std::vector<uint8_t> sent;
  std::vector<uint8_t> received;
  EXPECT_EQ(pull(*source, received), State::Wait);
  for (std::size_t size : {1u, 999u, 1000u, 1001u, 5000u, 0u, 16384u}) {
    auto frame = pattern(size, static_cast<uint8_t>(size));
    ASSERT_EQ(guest.write(frame), ChannelStatus::Ok);
    sent.insert(sent.end(), frame.begin(), frame.end());
  }
  loop.poll();
  EXPECT_EQ(resumed, 1);  // the first frame woke the waiting source, once
  EXPECT_EQ(pull(*source, received), State::Wait);
  EXPECT_EQ(received, sent);
  channel->drain();  // stream_finish
  EXPECT_EQ(pull(*source, received), State::End);
}

TEST(ChannelSourceTest, AWriterGoneWithoutFinishingAborts) {
  boost::asio::io_context loop;
  auto channel = streamChannel();
  auto source = ChannelSource::create(loop, channel, std::nullopt, [] {});
  {
    GuestWriter guest(channel);
    ASSERT_EQ(guest.write(pattern(10)), ChannelStatus::Ok);
  }
  std::vector<uint8_t> received;
  EXPECT_EQ(pull(*source, received), State::Abort);
}

TEST(ChannelSourceTest, TheDeclaredLengthEndsTheBodyAndRefusesMore) {
  boost::asio::io_context loop;
  auto channel = streamChannel();
  auto source = ChannelSource::create(loop, channel, 12, [] {});
  GuestWriter guest(channel);
  ASSERT_EQ(guest.write(pattern(5)), ChannelStatus::Ok);
  ASSERT_EQ(guest.write(pattern(7)), ChannelStatus::Ok);
  std::vector<uint8_t> received;
  EXPECT_EQ(pull(*source, received), State::End);  // without stream_finish
  EXPECT_EQ(received.size(), 12u);
  EXPECT_EQ(guest.write(pattern(1)), ChannelStatus::Closed);
}

TEST(ChannelSourceTest, MoreThanTheDeclaredLengthAborts) {
  boost::asio::io_context loop;
  auto channel = streamChannel();
  auto source = ChannelSource::create(loop, channel, 10, [] {});
  GuestWriter guest(channel);
  ASSERT_EQ(guest.write(pattern(6)), ChannelStatus::Ok);
  ASSERT_EQ(guest.write(pattern(6)), ChannelStatus::Ok);
  std::vector<uint8_t> received;
  EXPECT_EQ(pull(*source, received), State::Abort);
  EXPECT_EQ(received.size(), 6u);
}

TEST(ChannelSourceTest, AWriterOnAnotherThreadWakesTheLoop) {
  boost::asio::io_context loop;
  auto channel = streamChannel(4096);
  std::vector<uint8_t> received;
  std::shared_ptr<ChannelSource> source;
  bool ended = false;
  source = ChannelSource::create(loop, channel, std::nullopt, [&] {
    if (pull(*source, received) == State::End) ended = true;
  });
  EXPECT_EQ(pull(*source, received), State::Wait);
  const auto data = pattern(300'000);
  std::thread writer([&] {
    GuestWriter guest(channel);
    Waiter waiter;
    std::size_t at = 0;
    while (at < data.size()) {
      const std::size_t n = std::min<std::size_t>(1500, data.size() - at);
      auto r = guest.writer->write(std::span(data).subspan(at, n), waiter, Waker{});
      if (r.status == ChannelStatus::Ok) {
        at += n;
      } else {
        std::this_thread::sleep_for(100us);  // the ring is full: the loop is reading
      }
    }
    channel->drain();
  });
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!ended && std::chrono::steady_clock::now() < deadline) {
    loop.restart();
    loop.run_for(10ms);
    if (!ended && pull(*source, received) == State::End) ended = true;
  }
  writer.join();
  EXPECT_TRUE(ended);
  EXPECT_EQ(received, data);
}

}  // namespace
}  // namespace selium::kernel
