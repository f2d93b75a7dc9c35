// Channels: in-memory many-to-many rings of whole frames, shared by any number of readers and
// writers on any workers. Thread-safe; no V8, no guest memory: the channel driver hands spans.
//
// Semantics (docs/channels.md is the user's description; keep the two in step):
//  - A frame is written whole by one call or not at all, so frames never interleave and no writer
//    ever holds a partly written frame: an idle or vanished writer cannot hide later frames.
//  - Each frame takes kFrameOverhead + its length rounded up to kFrameAlign bytes of the ring.
//    A frame that could never fit (more than capacity) is refused with TooLarge.
//  - Every reader sees every frame, all in the same order (the order writes took effect); each
//    writer's frames in the order it wrote them.
//  - Strong reader: frames it has not read are never overwritten; while it lags, writers find
//    the ring full. Weak reader: holds nobody back; when frames it had not read were
//    overwritten it gets Lagged once, learns exactly how many frames it lost (takeLost), and
//    continues from the oldest frame still held.
//  - A new reader starts at the oldest frame a strong reader still needs, or, with no strong
//    reader, at the oldest frame held (it replays what the ring retains).
//  - Full ring: with no strong reader holding them, the oldest frames are overwritten; otherwise
//    Park waits (WouldBlock, waker recorded) and Drop discards the new frame (Dropped).
//  - Strong writers waiting for space are served in the order they started waiting, and no write
//    overtakes a waiting strong writer. Weak writers never hold anyone back.
//  - drain(): writes fail Closed; readers read what is there, then get EndOfStream.
//    close() (delete): everyone gets Closed at once and the ring's memory is freed.
//  - One waiter per Waiter object (the driver keeps one per handle): a second wait with another
//    token while one is pending is refused (Busy), never a lost wake-up.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "kernel/capability.h"
#include "kernel/waker.h"

namespace selium::kernel {

enum class Backpressure : uint8_t { Park = 0, Drop = 1 };
enum class Strength : uint8_t { Strong = 0, Weak = 1 };

class Channel;
struct ChannelState;
class ChannelReader;
class ChannelWriter;

// A pending wait of one handle: the waker to fire when the call that returned WouldBlock may
// succeed. Owned by the handle (the driver's resource); registered in its channel while armed.
// Destroying it (or cancel()) unregisters it, so a channel never fires a waiter that is gone.
class Waiter {
 public:
  Waiter() = default;
  ~Waiter();
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;
  // Forgets a pending wait (the task stopped waiting).
  void cancel();
  bool armed() const;

 private:
  friend class Channel;
  friend class ChannelReader;
  friend class ChannelWriter;
  friend struct ChannelState;
  // Which of the channel's waiter lists holds it (None: not armed).
  enum class Kind : uint8_t { None, Reader, StrongWriter, WeakWriter };
  // The channel it was last armed on; only the owning handle's thread sets or clears it. Every
  // field below is guarded by that channel's mutex.
  std::shared_ptr<Channel> channel_;
  Waker waker_;
  Kind kind_ = Kind::None;
  bool woken_ = false;           // strong writer: fired at the front of the queue, not yet served
  std::size_t need_ = 0;         // writers: ring bytes the frame it waits to write takes
  const void* owner_ = nullptr;  // the ChannelReader or ChannelWriter that armed it
  Waiter* prev_ = nullptr;
  Waiter* next_ = nullptr;
};

enum class ChannelStatus : uint8_t {
  Ok,
  WouldBlock,   // waiter armed
  Busy,         // the waiter is armed with another token (two waits on one handle)
  Dropped,      // Drop backpressure: the frame was discarded
  Lagged,       // weak reader lost frames (takeLost says how many); it moved on
  EndOfStream,  // drained and read to the end
  Closed,       // deleted, or (writes) draining
  TooLarge,     // write: can never fit; read: see ReadResult::needed
  Malformed,    // writeBatch: a length runs past the end of the batch; nothing was written
};

struct ReadResult {
  ChannelStatus status = ChannelStatus::Ok;
  std::size_t bytes = 0;   // Ok: bytes written to `out`
  std::size_t frames = 0;  // Ok: frames read
  // TooLarge: the `out` size that would hold the next frame (its length for read(); its length
  // + kBatchHeader for readBatch()). The frame stays next.
  std::size_t needed = 0;
};

struct WriteResult {
  ChannelStatus status = ChannelStatus::Ok;
  std::size_t frames = 0;  // frames written (writeBatch: the ones before the one that failed)
};

class Channel : public std::enable_shared_from_this<Channel> {
 public:
  static constexpr std::size_t kFrameOverhead = 8;
  static constexpr std::size_t kFrameAlign = 8;
  static constexpr std::size_t kBatchHeader = 4;  // batches: u32 LE length, then the bytes
  // The most frames one batch read or write moves while it holds the channel's lock.
  static constexpr std::size_t kMaxBatchFrames = 4096;
  static constexpr std::size_t kMinCapacity = 64;
  static constexpr std::size_t kMaxCapacity = std::size_t{1} << 30;

  // Ring bytes a frame of `length` takes.
  static constexpr std::size_t frameSize(std::size_t length) {
    return kFrameOverhead + (length + kFrameAlign - 1) / kFrameAlign * kFrameAlign;
  }

  // `capacity` is rounded up to kFrameAlign; it must lie in [kMinCapacity, kMaxCapacity]
  // (the driver checks and explains). `on_free` runs when the ring's memory is released
  // (close() or destruction): the driver returns it to its owner's budget.
  static std::shared_ptr<Channel> create(std::size_t capacity, Backpressure backpressure,
                                         std::function<void()> on_free = {});
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  std::size_t capacity() const { return capacity_; }
  Backpressure backpressure() const { return backpressure_; }

  // False if already closed (deleted). Draining twice is fine.
  bool drain();
  // Delete: every reader and writer gets Closed, every waiter fires, the ring is freed.
  void close();
  bool draining() const;
  bool closed() const;

  // A byte stream's channel (a network stream, an HTTP body): its frames are pieces of one byte
  // stream, the writer ends it with stream_finish (drain), and reading and writing it need the
  // capabilities of its protocol (NetHttpRead, ...) instead of ChannelReader / ChannelWriter. Set
  // by the host before a guest sees the channel.
  void markByteStream(Capability read, Capability write) {
    read_capability_.store(read, std::memory_order_relaxed);
    write_capability_.store(write, std::memory_order_relaxed);
    byte_stream_.store(true, std::memory_order_relaxed);
  }
  bool isByteStream() const { return byte_stream_.load(std::memory_order_relaxed); }
  Capability readCapability() const { return read_capability_.load(std::memory_order_relaxed); }
  Capability writeCapability() const { return write_capability_.load(std::memory_order_relaxed); }

  // Counters (tests, diagnostics).
  uint64_t framesWritten() const;
  uint64_t framesHeld() const;

 private:
  friend class ChannelReader;
  friend class ChannelWriter;
  friend class Waiter;
  Channel(std::size_t capacity, Backpressure backpressure, std::function<void()> on_free);
  friend struct ChannelState;
  // Ring, positions, strong-reader list, waiter lists, the mutex (channel.cc).
  std::unique_ptr<ChannelState> state_;
  std::size_t capacity_;
  Backpressure backpressure_;
  std::atomic<bool> byte_stream_{false};
  std::atomic<Capability> read_capability_{Capability::ChannelReader};
  std::atomic<Capability> write_capability_{Capability::ChannelWriter};
};

// A reader's cursor. Shared by every handle attached to it (they read from one cursor: each frame
// goes to one of them). Destroying it unregisters it (a strong reader stops holding writers).
class ChannelReader {
 public:
  static std::shared_ptr<ChannelReader> open(std::shared_ptr<Channel> channel, Strength strength);
  ~ChannelReader();
  ChannelReader(const ChannelReader&) = delete;
  ChannelReader& operator=(const ChannelReader&) = delete;

  Strength strength() const { return strength_; }
  const std::shared_ptr<Channel>& channel() const { return channel_; }

  // One frame into `out`. WouldBlock arms `waiter` with `waker` (Busy if it is armed with
  // another token; re-arming with the same token is fine).
  ReadResult read(std::span<uint8_t> out, Waiter& waiter, const Waker& waker);
  // Whole frames into `out` as a batch (kBatchHeader + bytes each), as many as fit, at most
  // kMaxBatchFrames.
  ReadResult readBatch(std::span<uint8_t> out, Waiter& waiter, const Waker& waker);
  // Frames lost (weak reader) since the last call.
  uint64_t takeLost();

 private:
  ChannelReader(std::shared_ptr<Channel> channel, Strength strength);
  friend class Channel;
  friend struct ChannelState;
  std::shared_ptr<Channel> channel_;
  Strength strength_;
  // Cursor and links, guarded by the channel's mutex: the sequence number of the next frame to
  // read and the ring offset of its header.
  uint64_t seq_ = 0;
  uint64_t pos_ = 0;
  uint64_t lost_ = 0;
  ChannelReader* prev_ = nullptr;
  ChannelReader* next_ = nullptr;
};

class ChannelWriter {
 public:
  static std::shared_ptr<ChannelWriter> open(std::shared_ptr<Channel> channel, Strength strength);
  // The same, with `on_release` run (on whichever thread drops the last reference) when the
  // writer is destroyed, after it has left the channel: a byte stream whose writer goes away
  // without finishing is cut short.
  static std::shared_ptr<ChannelWriter> open(std::shared_ptr<Channel> channel, Strength strength,
                                             std::function<void()> on_release);
  ~ChannelWriter();
  ChannelWriter(const ChannelWriter&) = delete;
  ChannelWriter& operator=(const ChannelWriter&) = delete;

  Strength strength() const;
  const std::shared_ptr<Channel>& channel() const { return channel_; }
  void downgrade();  // becomes weak (a waiting strong wait of it stops holding others back)

  // One frame. WouldBlock (Park, no room) arms `waiter`; nothing is written.
  WriteResult write(std::span<const uint8_t> frame, Waiter& waiter, const Waker& waker);
  // The frames of a batch (kBatchHeader + bytes each) in order, until one cannot be written or
  // kMaxBatchFrames have been.
  // A malformed batch (a length running past its end) is refused whole with Malformed, before
  // anything is written.
  WriteResult writeBatch(std::span<const uint8_t> batch, Waiter& waiter, const Waker& waker);

 private:
  ChannelWriter(std::shared_ptr<Channel> channel, Strength strength);
  friend struct ChannelState;
  std::shared_ptr<Channel> channel_;
  std::atomic<uint8_t> strength_;
  std::function<void()> on_release_;
};

}  // namespace selium::kernel
