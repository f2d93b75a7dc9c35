// The in-process reference of the channel benchmarks (channel_bench, guest_channel_bench): the
// queue a C++ programmer writes first, moving the same frames as a channel. Header-only;
// benchmarks only.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <span>
#include <vector>

#include "kernel/channel.h"

namespace selium::bench {

// std::deque of std::vector frames under a mutex, two condition variables, bounded to
// `capacity` bytes of payload + 8 per frame (as the ring). Batches in and out are frames laid
// end to end, each a u32 LE length, then its bytes (the wire format of the channel's batches).
class FrameQueue {
 public:
  explicit FrameQueue(std::size_t capacity) : capacity_(capacity) {}

  // Pushes the frames of a batch, waiting while full.
  void push(std::span<const uint8_t> batch) {
    std::unique_lock lock(mutex_);
    bool pushed = false;
    for (std::size_t at = 0; at < batch.size();) {
      uint32_t n;
      std::memcpy(&n, batch.data() + at, 4);
      std::size_t cost = kernel::Channel::frameSize(n);
      while (bytes_ + cost > capacity_) {
        if (pushed) not_empty_.notify_all();
        pushed = false;
        not_full_.wait(lock);
      }
      frames_.emplace_back(batch.data() + at + 4, batch.data() + at + 4 + n);
      bytes_ += cost;
      pushed = true;
      at += 4 + n;
    }
    if (pushed) not_empty_.notify_all();
  }

  // Copies as many whole frames as fit into `out` as a batch; waits while empty. Returns bytes.
  std::size_t pop(std::span<uint8_t> out) {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !frames_.empty(); });
    std::size_t at = 0;
    while (!frames_.empty() && at + 4 + frames_.front().size() <= out.size()) {
      const std::vector<uint8_t>& f = frames_.front();
      uint32_t n = static_cast<uint32_t>(f.size());
      std::memcpy(out.data() + at, &n, 4);
      std::memcpy(out.data() + at + 4, f.data(), f.size());
      at += 4 + f.size();
      bytes_ -= kernel::Channel::frameSize(f.size());
      frames_.pop_front();
    }
    not_full_.notify_all();
    return at;
  }

 private:
  std::mutex mutex_;
  std::condition_variable not_empty_, not_full_;
  std::deque<std::vector<uint8_t>> frames_;
  std::size_t bytes_ = 0;
  const std::size_t capacity_;
};

}  // namespace selium::bench
