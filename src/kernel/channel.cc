// Channels: one mutex per channel guards the ring, every cursor and every waiter list. Frames are
// written whole under the lock, so a reader never sees a partial frame and nothing pins the tail.
#include "kernel/channel.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <utility>

namespace selium::kernel {

namespace {

// Wakers collected under the lock and fired after it is released (a WakeTarget may take locks
// of its own, and a woken thread should not run into our mutex). Inline room for the common case
// so the hot path does not allocate.
class Wakes {
 public:
  void add(const Waker& waker) {
    if (!waker) return;
    if (count_ < kInline) {
      inline_[count_++] = waker;
    } else {
      more_.push_back(waker);
    }
  }
  void fire() {
    for (std::size_t i = 0; i < count_; ++i) inline_[i].fire();
    for (const Waker& w : more_) w.fire();
  }

 private:
  static constexpr std::size_t kInline = 4;
  Waker inline_[kInline];
  std::size_t count_ = 0;
  std::vector<Waker> more_;
};

uint32_t loadLE32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
  return v;
}

void storeLE32(uint8_t* p, uint32_t v) {
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
  std::memcpy(p, &v, sizeof v);
}

bool sameWaker(const Waker& a, const Waker& b) {
  return a.target == b.target && a.pid == b.pid && a.token == b.token;
}

}  // namespace

// Everything behind the channel's mutex. Ring positions are byte offsets in [0, capacity); a
// frame's header (8 bytes) never wraps because offsets and capacity are multiples of 8, its
// payload may. Frames are numbered: held frames are [head_seq, tail_seq).
struct ChannelState {
  explicit ChannelState(std::size_t capacity, std::function<void()> free_fn)
      : cap(capacity), ring(new uint64_t[capacity / 8]), on_free(std::move(free_fn)) {}

  // An intrusive doubly linked list of T (T has prev_ and next_).
  template <typename T>
  struct List {
    T* head = nullptr;
    T* tail = nullptr;
    std::size_t size = 0;

    bool empty() const { return head == nullptr; }
    void pushBack(T* item) {
      item->prev_ = tail;
      item->next_ = nullptr;
      if (tail != nullptr) {
        tail->next_ = item;
      } else {
        head = item;
      }
      tail = item;
      ++size;
    }
    void remove(T* item) {
      if (item->prev_ != nullptr) {
        item->prev_->next_ = item->next_;
      } else {
        head = item->next_;
      }
      if (item->next_ != nullptr) {
        item->next_->prev_ = item->prev_;
      } else {
        tail = item->prev_;
      }
      item->prev_ = item->next_ = nullptr;
      --size;
    }
  };

  mutable std::mutex mutex;
  const std::size_t cap;
  std::unique_ptr<uint64_t[]> ring;  // capacity bytes; null once closed
  std::function<void()> on_free;

  std::size_t head_off = 0;  // header of the oldest held frame
  std::size_t tail_off = 0;  // where the next frame goes
  std::size_t used = 0;      // bytes held
  uint64_t head_seq = 0;
  uint64_t tail_seq = 0;
  bool draining = false;
  bool closed = false;

  // Strong readers, and a lower bound of their cursors (exact after every recompute): frames
  // before it may be evicted without looking at each reader. Only meaningful while there is one.
  List<ChannelReader> strong_readers;
  uint64_t floor_seq = 0;
  std::size_t floor_off = 0;

  List<Waiter> reader_waiters;
  List<Waiter> strong_writer_waiters;  // FIFO: the order they started waiting
  List<Waiter> weak_writer_waiters;

  uint8_t* bytes() { return reinterpret_cast<uint8_t*>(ring.get()); }
  std::size_t advance(std::size_t off, std::size_t n) const {
    off += n;
    return off >= cap ? off - cap : off;
  }
  uint32_t lengthAt(std::size_t off) { return loadLE32(bytes() + off); }

  // Both take n == 0 with a null buffer (an empty frame read into a guest without memory):
  // memcpy must not see it.
  void copyIn(std::size_t off, const uint8_t* src, std::size_t n) {
    if (n == 0) return;
    std::size_t first = std::min(n, cap - off);
    std::memcpy(bytes() + off, src, first);
    if (first < n) std::memcpy(bytes(), src + first, n - first);
  }
  void copyOut(std::size_t off, uint8_t* dst, std::size_t n) {
    if (n == 0) return;
    std::size_t first = std::min(n, cap - off);
    std::memcpy(dst, bytes() + off, first);
    if (first < n) std::memcpy(dst + first, bytes(), n - first);
  }

  // Bytes from the head to a cursor at (seq, off), seq in [head_seq, tail_seq].
  std::size_t distanceFromHead(uint64_t seq, std::size_t off) const {
    if (seq == head_seq) return 0;
    if (seq == tail_seq) return used;
    return off > head_off ? off - head_off : off + cap - head_off;
  }

  // Sets the floor to the slowest strong reader (O(strong readers): only when it matters).
  void recomputeFloor() {
    ChannelReader* min = strong_readers.head;
    for (ChannelReader* r = min; r != nullptr; r = r->next_) {
      if (r->seq_ < min->seq_) min = r;
    }
    if (min != nullptr) {
      floor_seq = min->seq_;
      floor_off = min->pos_;
    }
  }

  // Bytes a writer could have now: free space plus the frames no strong reader still needs.
  // `exact` recomputes the floor first.
  std::size_t obtainable(bool exact) {
    if (strong_readers.empty()) return cap;
    if (exact) recomputeFloor();
    return cap - used + distanceFromHead(floor_seq, floor_off);
  }

  // Evicts oldest frames until `need` bytes are free, if no strong reader needs them; false (and
  // nothing evicted) otherwise.
  bool makeRoom(std::size_t need) {
    if (cap - used >= need) return true;
    if (obtainable(false) < need && obtainable(true) < need) return false;
    while (cap - used < need) {
      std::size_t size = Channel::frameSize(lengthAt(head_off));
      head_off = advance(head_off, size);
      used -= size;
      ++head_seq;
    }
    return true;
  }

  void commit(std::span<const uint8_t> frame, std::size_t size) {
    uint8_t* header = bytes() + tail_off;
    storeLE32(header, static_cast<uint32_t>(frame.size()));
    storeLE32(header + 4, 0);
    copyIn(advance(tail_off, Channel::kFrameOverhead), frame.data(), frame.size());
    tail_off = advance(tail_off, size);
    used += size;
    ++tail_seq;
  }

  // Unlinks every waiter of `list` and queues its waker.
  static void takeAll(List<Waiter>& list, Wakes& wakes) {
    while (!list.empty()) {
      Waiter* w = list.head;
      list.remove(w);
      w->kind_ = Waiter::Kind::None;
      wakes.add(w->waker_);
    }
  }

  List<Waiter>& listOf(Waiter::Kind kind) {
    switch (kind) {
      case Waiter::Kind::Reader:
        return reader_waiters;
      case Waiter::Kind::StrongWriter:
        return strong_writer_waiters;
      default:
        return weak_writer_waiters;
    }
  }

  void unlink(Waiter& w) {
    listOf(w.kind_).remove(&w);
    w.kind_ = Waiter::Kind::None;
    w.woken_ = false;
  }

  // Wakes the writers that can now make progress: the front strong writer if its frame fits (it
  // alone, as nobody may overtake it), else, with no strong writer waiting, each weak writer
  // whose frame fits. Called when space may have been freed or the queue's front changed.
  void wakeWriters(Wakes& wakes) {
    if (closed || draining) return;
    if (Waiter* front = strong_writer_waiters.head) {
      if (!front->woken_ && obtainable(true) >= front->need_) {
        front->woken_ = true;  // stays at the front (keeps its turn) until it writes
        wakes.add(front->waker_);
      }
      return;
    }
    if (weak_writer_waiters.empty()) return;
    std::size_t room = obtainable(true);
    for (Waiter* w = weak_writer_waiters.head; w != nullptr;) {
      Waiter* next = w->next_;
      if (w->need_ <= room) {
        unlink(*w);
        wakes.add(w->waker_);
      }
      w = next;
    }
  }

  bool writersWaiting() const {
    return !strong_writer_waiters.empty() || !weak_writer_waiters.empty();
  }

  // Arms `w` on the list of `kind`: WouldBlock, or Busy if it waits already with another waker.
  ChannelStatus arm(Waiter& w, const Waker& waker, Waiter::Kind kind, std::size_t need,
                    const void* owner) {
    if (w.kind_ != Waiter::Kind::None) {
      if (!sameWaker(w.waker_, waker)) return ChannelStatus::Busy;
      w.need_ = need;  // same wait: it keeps its place, and is woken again when it may write
      w.woken_ = false;
      return ChannelStatus::WouldBlock;
    }
    w.waker_ = waker;
    w.kind_ = kind;
    w.need_ = need;
    w.owner_ = owner;
    w.woken_ = false;
    listOf(kind).pushBack(&w);
    return ChannelStatus::WouldBlock;
  }

  // Points `waiter` at `channel` (owning thread, before the channel's lock is taken).
  static void bindWaiter(Waiter& waiter, const std::shared_ptr<Channel>& channel) {
    if (waiter.channel_ == channel) return;
    waiter.cancel();
    waiter.channel_ = channel;
  }

  // Unlinks the waiters `owner` armed (its reader or writer is going away).
  void unlinkOwnedBy(List<Waiter>& list, const void* owner) {
    for (Waiter* w = list.head; w != nullptr;) {
      Waiter* next = w->next_;
      if (w->owner_ == owner) unlink(*w);
      w = next;
    }
  }

  enum class ReadMode { One, Batch };
  // The common part of read and readBatch: statuses before any frame, the copy loop, the wakes.
  static ReadResult readFrames(ChannelReader& reader, ReadMode mode, std::span<uint8_t> out,
                               Waiter& waiter, const Waker& waker) {
    ChannelState& s = *reader.channel_->state_;
    uint64_t& seq = reader.seq_;
    uint64_t& pos = reader.pos_;
    const Strength strength = reader.strength_;
    ReadResult result;
    Wakes wakes;
    {
      std::lock_guard lock(s.mutex);
      if (s.closed) {
        result.status = ChannelStatus::Closed;
        return result;
      }
      if (seq < s.head_seq) {  // weak reader: its frames were overwritten
        reader.lost_ += s.head_seq - seq;
        seq = s.head_seq;
        pos = s.head_off;
        result.status = ChannelStatus::Lagged;
        return result;
      }
      if (seq == s.tail_seq) {
        if (s.draining) {
          result.status = ChannelStatus::EndOfStream;
        } else {
          result.status = s.arm(waiter, waker, Waiter::Kind::Reader, 0, &reader);
        }
        return result;
      }
      const std::size_t header = mode == ReadMode::Batch ? Channel::kBatchHeader : 0;
      const uint64_t start_seq = seq;
      std::size_t room = out.size();
      uint8_t* dst = out.data();
      while (seq != s.tail_seq && result.frames < Channel::kMaxBatchFrames) {
        uint32_t length = s.lengthAt(pos);
        if (header + length > room) {
          if (result.frames == 0) {
            result.status = ChannelStatus::TooLarge;
            result.needed = header + length;
            return result;
          }
          break;
        }
        if (header != 0) storeLE32(dst, length);
        s.copyOut(s.advance(pos, Channel::kFrameOverhead), dst + header, length);
        dst += header + length;
        room -= header + length;
        pos = s.advance(pos, Channel::frameSize(length));
        ++seq;
        ++result.frames;
        if (mode == ReadMode::One) break;
      }
      result.bytes = out.size() - room;
      if (waiter.kind_ == Waiter::Kind::Reader && sameWaker(waiter.waker_, waker)) {
        s.unlink(waiter);  // this wait is over
      }
      // A strong reader that was the slowest may have freed room for a waiting writer.
      if (strength == Strength::Strong && s.writersWaiting() && start_seq == s.floor_seq) {
        s.wakeWriters(wakes);
      }
    }
    wakes.fire();
    return result;
  }

  // Writes frames from `next` (a callable giving the next frame, or false when there is none) until
  // one cannot be written. The status is that of the first frame if none was written.
  template <typename NextFrame>
  static WriteResult writeFrames(ChannelState& s, ChannelWriter& writer, Strength strength,
                                 Backpressure backpressure, Waiter& waiter, const Waker& waker,
                                 NextFrame&& next) {
    WriteResult result;
    Wakes wakes;
    {
      std::lock_guard lock(s.mutex);
      if (s.closed || s.draining) {
        result.status = ChannelStatus::Closed;
        return result;
      }
      std::span<const uint8_t> frame;
      while (next(frame)) {
        std::size_t size = Channel::frameSize(frame.size());
        if (frame.size() > UINT32_MAX || size > s.cap) {
          if (result.frames == 0) result.status = ChannelStatus::TooLarge;
          break;
        }
        Waiter* front = s.strong_writer_waiters.head;
        bool overtaking = front != nullptr && front != &waiter;
        if (overtaking || !s.makeRoom(size)) {
          if (result.frames == 0) {
            if (backpressure == Backpressure::Drop) {
              result.status = ChannelStatus::Dropped;
            } else {
              Waiter::Kind kind = strength == Strength::Strong ? Waiter::Kind::StrongWriter
                                                               : Waiter::Kind::WeakWriter;
              result.status = s.arm(waiter, waker, kind, size, &writer);
            }
          }
          break;
        }
        s.commit(frame, size);
        ++result.frames;
      }
      // A waiting writer stays at the front for its whole batch (it overtakes nobody), then its
      // wait is over; a different task that waited on it is told to retry.
      if (result.frames > 0 && (waiter.kind_ == Waiter::Kind::StrongWriter ||
                                waiter.kind_ == Waiter::Kind::WeakWriter)) {
        if (!sameWaker(waiter.waker_, waker)) wakes.add(waiter.waker_);
        bool was_front = s.strong_writer_waiters.head == &waiter;
        s.unlink(waiter);
        if (was_front) s.wakeWriters(wakes);
      }
      if (result.frames > 0) ChannelState::takeAll(s.reader_waiters, wakes);
    }
    wakes.fire();
    return result;
  }
};

// ---- Waiter ----

Waiter::~Waiter() { cancel(); }

void Waiter::cancel() {
  if (!channel_) return;
  std::shared_ptr<Channel> channel = std::move(channel_);
  channel_.reset();
  ChannelState& s = *channel->state_;
  Wakes wakes;
  {
    std::lock_guard lock(s.mutex);
    if (kind_ == Kind::None) return;
    bool was_front = s.strong_writer_waiters.head == this;
    s.unlink(*this);
    // A strong writer that leaves the front no longer holds the others back.
    if (was_front) s.wakeWriters(wakes);
  }
  wakes.fire();
}

bool Waiter::armed() const {
  if (!channel_) return false;
  std::lock_guard lock(channel_->state_->mutex);
  return kind_ != Kind::None;
}

// ---- Channel ----

Channel::Channel(std::size_t capacity, Backpressure backpressure, std::function<void()> on_free)
    : state_(std::make_unique<ChannelState>(capacity, std::move(on_free))),
      capacity_(capacity),
      backpressure_(backpressure) {}

std::shared_ptr<Channel> Channel::create(std::size_t capacity, Backpressure backpressure,
                                         std::function<void()> on_free) {
  capacity = std::clamp(capacity, kMinCapacity, kMaxCapacity);
  capacity = (capacity + kFrameAlign - 1) / kFrameAlign * kFrameAlign;
  return std::shared_ptr<Channel>(new Channel(capacity, backpressure, std::move(on_free)));
}

Channel::~Channel() {
  // Nothing can be linked any more: readers, writers and armed waiters all hold the channel.
  if (!state_->closed && state_->on_free) state_->on_free();
}

bool Channel::drain() {
  ChannelState& s = *state_;
  Wakes wakes;
  {
    std::lock_guard lock(s.mutex);
    if (s.closed) return false;
    s.draining = true;
    // Writers get Closed; waiting readers are at the end, so they get EndOfStream.
    ChannelState::takeAll(s.reader_waiters, wakes);
    ChannelState::takeAll(s.strong_writer_waiters, wakes);
    ChannelState::takeAll(s.weak_writer_waiters, wakes);
  }
  wakes.fire();
  return true;
}

void Channel::close() {
  ChannelState& s = *state_;
  Wakes wakes;
  std::unique_ptr<uint64_t[]> ring;
  std::function<void()> on_free;
  {
    std::lock_guard lock(s.mutex);
    if (s.closed) return;
    s.closed = true;
    ring = std::move(s.ring);
    on_free = std::move(s.on_free);
    s.on_free = nullptr;
    s.used = 0;
    s.head_seq = s.tail_seq;
    ChannelState::takeAll(s.reader_waiters, wakes);
    ChannelState::takeAll(s.strong_writer_waiters, wakes);
    ChannelState::takeAll(s.weak_writer_waiters, wakes);
  }
  ring.reset();
  if (on_free) on_free();
  wakes.fire();
}

bool Channel::draining() const {
  std::lock_guard lock(state_->mutex);
  return state_->draining;
}

bool Channel::closed() const {
  std::lock_guard lock(state_->mutex);
  return state_->closed;
}

uint64_t Channel::framesWritten() const {
  std::lock_guard lock(state_->mutex);
  return state_->tail_seq;
}

uint64_t Channel::framesHeld() const {
  std::lock_guard lock(state_->mutex);
  return state_->tail_seq - state_->head_seq;
}

// ---- ChannelReader ----

ChannelReader::ChannelReader(std::shared_ptr<Channel> channel, Strength strength)
    : channel_(std::move(channel)), strength_(strength) {}

std::shared_ptr<ChannelReader> ChannelReader::open(std::shared_ptr<Channel> channel,
                                                   Strength strength) {
  std::shared_ptr<ChannelReader> reader(new ChannelReader(channel, strength));
  ChannelState& s = *channel->state_;
  std::lock_guard lock(s.mutex);
  // Start at the oldest frame a strong reader still needs, else at the oldest frame held.
  if (s.strong_readers.empty()) {
    reader->seq_ = s.head_seq;
    reader->pos_ = s.head_off;
  } else {
    s.recomputeFloor();
    reader->seq_ = s.floor_seq;
    reader->pos_ = s.floor_off;
  }
  if (strength == Strength::Strong) {
    if (s.strong_readers.empty()) {
      s.floor_seq = reader->seq_;
      s.floor_off = reader->pos_;
    }
    s.strong_readers.pushBack(reader.get());
  }
  return reader;
}

ChannelReader::~ChannelReader() {
  ChannelState& s = *channel_->state_;
  Wakes wakes;
  {
    std::lock_guard lock(s.mutex);
    s.unlinkOwnedBy(s.reader_waiters, this);
    if (strength_ == Strength::Strong) {
      s.strong_readers.remove(this);
      if (s.writersWaiting()) s.wakeWriters(wakes);
    }
  }
  wakes.fire();
}

uint64_t ChannelReader::takeLost() {
  std::lock_guard lock(channel_->state_->mutex);
  return std::exchange(lost_, 0);
}

ReadResult ChannelReader::read(std::span<uint8_t> out, Waiter& waiter, const Waker& waker) {
  ChannelState::bindWaiter(waiter, channel_);
  return ChannelState::readFrames(*this, ChannelState::ReadMode::One, out, waiter, waker);
}

ReadResult ChannelReader::readBatch(std::span<uint8_t> out, Waiter& waiter, const Waker& waker) {
  ChannelState::bindWaiter(waiter, channel_);
  return ChannelState::readFrames(*this, ChannelState::ReadMode::Batch, out, waiter, waker);
}

// ---- ChannelWriter ----

ChannelWriter::ChannelWriter(std::shared_ptr<Channel> channel, Strength strength)
    : channel_(std::move(channel)), strength_(static_cast<uint8_t>(strength)) {}

std::shared_ptr<ChannelWriter> ChannelWriter::open(std::shared_ptr<Channel> channel,
                                                   Strength strength) {
  return std::shared_ptr<ChannelWriter>(new ChannelWriter(std::move(channel), strength));
}

std::shared_ptr<ChannelWriter> ChannelWriter::open(std::shared_ptr<Channel> channel,
                                                   Strength strength,
                                                   std::function<void()> on_release) {
  auto writer = std::shared_ptr<ChannelWriter>(new ChannelWriter(std::move(channel), strength));
  writer->on_release_ = std::move(on_release);
  return writer;
}

ChannelWriter::~ChannelWriter() {
  ChannelState& s = *channel_->state_;
  Wakes wakes;
  {
    std::lock_guard lock(s.mutex);
    Waiter* front = s.strong_writer_waiters.head;
    s.unlinkOwnedBy(s.strong_writer_waiters, this);
    s.unlinkOwnedBy(s.weak_writer_waiters, this);
    if (front != s.strong_writer_waiters.head) s.wakeWriters(wakes);
  }
  wakes.fire();
  if (on_release_) on_release_();
}

Strength ChannelWriter::strength() const {
  return static_cast<Strength>(strength_.load(std::memory_order_relaxed));
}

void ChannelWriter::downgrade() {
  ChannelState& s = *channel_->state_;
  Wakes wakes;
  {
    std::lock_guard lock(s.mutex);
    strength_.store(static_cast<uint8_t>(Strength::Weak), std::memory_order_relaxed);
    Waiter* front = s.strong_writer_waiters.head;
    for (Waiter* w = front; w != nullptr;) {
      Waiter* next = w->next_;
      if (w->owner_ == this) {
        s.strong_writer_waiters.remove(w);
        w->kind_ = Waiter::Kind::WeakWriter;
        w->woken_ = false;
        s.weak_writer_waiters.pushBack(w);
      }
      w = next;
    }
    if (front != s.strong_writer_waiters.head) s.wakeWriters(wakes);
  }
  wakes.fire();
  if (on_release_) on_release_();
}

WriteResult ChannelWriter::write(std::span<const uint8_t> frame, Waiter& waiter,
                                 const Waker& waker) {
  ChannelState::bindWaiter(waiter, channel_);
  bool given = false;
  return ChannelState::writeFrames(*channel_->state_, *this, strength(), channel_->backpressure(),
                                   waiter, waker, [&](std::span<const uint8_t>& out) {
                                     if (given) return false;
                                     given = true;
                                     out = frame;
                                     return true;
                                   });
}

WriteResult ChannelWriter::writeBatch(std::span<const uint8_t> batch, Waiter& waiter,
                                      const Waker& waker) {
  // Validate the whole batch before anything is written.
  for (std::size_t at = 0; at < batch.size();) {
    if (batch.size() - at < Channel::kBatchHeader) return {ChannelStatus::Malformed, 0};
    std::size_t length = loadLE32(batch.data() + at);
    at += Channel::kBatchHeader;
    if (batch.size() - at < length) return {ChannelStatus::Malformed, 0};
    at += length;
  }
  ChannelState::bindWaiter(waiter, channel_);
  std::size_t at = 0;
  std::size_t taken = 0;
  return ChannelState::writeFrames(*channel_->state_, *this, strength(), channel_->backpressure(),
                                   waiter, waker, [&](std::span<const uint8_t>& out) {
                                     if (at == batch.size()) return false;
                                     // The rest waits for the next call.
                                     if (taken++ == Channel::kMaxBatchFrames) return false;
                                     std::size_t length = loadLE32(batch.data() + at);
                                     out = batch.subspan(at + Channel::kBatchHeader, length);
                                     at += Channel::kBatchHeader + length;
                                     return true;
                                   });
}

}  // namespace selium::kernel
