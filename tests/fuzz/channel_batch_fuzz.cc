// Fuzz target for the channel's handling of guest bytes: batches (channel_write_batch), frames
// and read buffers of any size, driven as a sequence of operations on one channel with a strong
// and a weak reader. Beyond "no crash": the strong reader reads exactly the frames written, in
// order; a malformed batch writes nothing; no call moves more than kMaxBatchFrames frames; the
// weak reader's frames are a subsequence of them, its losses counted exactly.
//
// Input: byte 0 picks the capacity (64 bytes .. 16 KiB) and the backpressure; then operations,
// each an opcode byte and its operands:
//   0 n <n bytes>    writeBatch of those bytes as they are (a guest's batch)
//   1 n <n bytes>    write one frame of those bytes
//   2 hi lo          strong readBatch into a buffer of (hi << 8 | lo) bytes
//   3 n              strong read into a buffer of n bytes
// After each operation the weak reader reads whatever is there.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <span>
#include <vector>

#include "kernel/channel.h"

namespace {

using namespace selium::kernel;

void check(bool condition) {
  if (!condition) std::abort();
}

uint32_t loadLE32(const uint8_t* p) { return p[0] | p[1] << 8 | p[2] << 16 | uint32_t{p[3]} << 24; }

// The frames of a well-formed batch; nothing if it is malformed.
bool parseBatch(std::span<const uint8_t> batch, std::vector<std::vector<uint8_t>>& frames) {
  std::size_t at = 0;
  while (at < batch.size()) {
    if (batch.size() - at < Channel::kBatchHeader) return false;
    std::size_t length = loadLE32(batch.data() + at);
    at += Channel::kBatchHeader;
    if (batch.size() - at < length) return false;
    frames.emplace_back(batch.begin() + at, batch.begin() + at + length);
    at += length;
  }
  return true;
}

class Input {
 public:
  explicit Input(std::span<const uint8_t> data) : data_(data) {}
  bool empty() const { return at_ >= data_.size(); }
  uint8_t byte() { return at_ < data_.size() ? data_[at_++] : 0; }
  std::span<const uint8_t> take(std::size_t n) {
    n = std::min(n, data_.size() - std::min(at_, data_.size()));
    auto out = data_.subspan(at_, n);
    at_ += n;
    return out;
  }

 private:
  std::span<const uint8_t> data_;
  std::size_t at_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  Input in(std::span<const uint8_t>(data, size));
  uint8_t config = in.byte();
  std::size_t capacity = std::size_t{64} << (config % 9);  // 64 .. 16 KiB
  Backpressure backpressure = (config & 0x80) != 0 ? Backpressure::Drop : Backpressure::Park;
  auto channel = Channel::create(capacity, backpressure);
  auto strong = ChannelReader::open(channel, Strength::Strong);
  auto weak = ChannelReader::open(channel, Strength::Weak);
  auto writer = ChannelWriter::open(channel, Strength::Strong);
  Waiter write_wait, strong_wait, weak_wait;
  std::deque<std::vector<uint8_t>> unread;  // written, not yet read by the strong reader
  uint64_t written = 0;
  uint64_t weak_seen = 0;  // frames the weak reader read or lost

  while (!in.empty()) {
    switch (in.byte() % 4) {
      case 0: {
        std::span<const uint8_t> batch = in.take(in.byte());
        std::vector<std::vector<uint8_t>> frames;
        bool valid = parseBatch(batch, frames);
        WriteResult result = writer->writeBatch(batch, write_wait, {});
        if (!valid) {
          check(result.status == ChannelStatus::Malformed && result.frames == 0);
          break;
        }
        check(result.frames <= Channel::kMaxBatchFrames && result.frames <= frames.size());
        for (std::size_t i = 0; i < result.frames; ++i) unread.push_back(frames[i]);
        written += result.frames;
        if (result.frames == 0) {
          check(frames.empty() || result.status != ChannelStatus::Ok);
        }
        break;
      }
      case 1: {
        std::span<const uint8_t> frame = in.take(in.byte());
        WriteResult result = writer->write(frame, write_wait, {});
        if (result.status == ChannelStatus::Ok) {
          unread.emplace_back(frame.begin(), frame.end());
          ++written;
        }
        break;
      }
      case 2: {
        std::size_t room = std::size_t{in.byte()} << 8;
        room |= in.byte();
        std::vector<uint8_t> buffer(room);
        ReadResult result = strong->readBatch(buffer, strong_wait, {});
        if (result.status != ChannelStatus::Ok) break;
        check(result.frames >= 1 && result.frames <= Channel::kMaxBatchFrames);
        std::vector<std::vector<uint8_t>> frames;
        check(parseBatch(std::span(buffer).first(result.bytes), frames));
        check(frames.size() == result.frames);
        for (const auto& frame : frames) {
          check(!unread.empty() && unread.front() == frame);
          unread.pop_front();
        }
        break;
      }
      case 3: {
        std::vector<uint8_t> buffer(in.byte());
        ReadResult result = strong->read(buffer, strong_wait, {});
        if (result.status == ChannelStatus::TooLarge) {
          check(!unread.empty() && result.needed == unread.front().size());
        } else if (result.status == ChannelStatus::Ok) {
          check(!unread.empty());
          check(std::vector<uint8_t>(buffer.begin(), buffer.begin() + result.bytes) ==
                unread.front());
          unread.pop_front();
        } else {
          check(result.status == ChannelStatus::WouldBlock && unread.empty());
        }
        break;
      }
    }
    // The weak reader takes whatever is there after each operation.
    std::vector<uint8_t> buffer(capacity * 2);
    for (;;) {
      ReadResult result = weak->readBatch(buffer, weak_wait, {});
      if (result.status == ChannelStatus::Lagged) {
        weak_seen += weak->takeLost();
        continue;
      }
      if (result.status != ChannelStatus::Ok) break;
      weak_seen += result.frames;
    }
    check(weak_seen == written);  // every frame was read by it or counted as lost
  }
  return 0;
}
