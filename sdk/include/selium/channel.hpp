// Channels, shared handles and singletons (capabilities ChannelLifecycle, ChannelReader,
// ChannelWriter, SingletonRegistry, SingletonLookup). docs/channels.md describes the semantics:
// many-to-many rings of whole frames, strong and weak readers and writers, Park or Drop.
//
//   auto channel = selium::Channel::create(64 * 1024);
//   auto writer = channel->writer();
//   auto reader = channel->reader();
//   co_await writer->write(bytes);
//   auto frame = co_await reader->read();   // Result<std::vector<uint8_t>>
//
// Handles are RAII: destroying a Channel, Reader or Writer closes this process's handle (the
// channel lives on while any handle of any process names it).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "selium/result.hpp"
#include "selium/selium.h"
#include "selium/task.hpp"

namespace selium {

// A shared id: what handle_share gives and handle_attach takes (random, > 0).
using SharedId = int64_t;

enum class Backpressure : int32_t {
  Park = SELIUM_BACKPRESSURE_PARK,  // a writer waits for room
  Drop = SELIUM_BACKPRESSURE_DROP,  // a frame that does not fit is discarded (Error Dropped)
};
enum class Strength : int32_t { Strong = SELIUM_STRONG, Weak = SELIUM_WEAK };

enum class Kind : int32_t {
  Any = SELIUM_KIND_ANY,
  Timer = SELIUM_KIND_TIMER,
  Channel = SELIUM_KIND_CHANNEL,
  Reader = SELIUM_KIND_READER,
  Writer = SELIUM_KIND_WRITER,
  Process = SELIUM_KIND_PROCESS,
  TlsConfig = SELIUM_KIND_TLS_CONFIG,
  HttpListener = SELIUM_KIND_HTTP_LISTENER,
  HttpRequest = SELIUM_KIND_HTTP_REQUEST,
  QuicListener = SELIUM_KIND_QUIC_LISTENER,
  QuicConnection = SELIUM_KIND_QUIC_CONNECTION,
  HttpClient = SELIUM_KIND_HTTP_CLIENT,
  HttpExchange = SELIUM_KIND_HTTP_EXCHANGE,
  Lifetime = SELIUM_KIND_LIFETIME,
  Session = SELIUM_KIND_SESSION,
};

// An owned handle of any kind: closed when destroyed. Move-only.
class Handle {
 public:
  Handle() noexcept = default;
  explicit Handle(selium_handle_t handle) noexcept : handle_(handle) {}
  Handle(Handle&& other) noexcept : handle_(std::exchange(other.handle_, 0)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      close();
      handle_ = std::exchange(other.handle_, 0);
    }
    return *this;
  }
  ~Handle() { close(); }

  selium_handle_t get() const noexcept { return handle_; }
  explicit operator bool() const noexcept { return handle_ > 0; }
  // Gives up ownership (e.g. to pass the handle to a child process).
  selium_handle_t release() noexcept { return std::exchange(handle_, 0); }
  void close() noexcept {
    if (handle_ > 0) (void)selium_handle_close(std::exchange(handle_, 0));
  }

  // A shared id another process can attach (the same id each time).
  Result<SharedId> share() const noexcept;
  // Hands the resource to whoever attaches the id: this handle is closed, and the resource is
  // kept for up to SELIUM_TRANSFER_TIMEOUT_MS until another process attaches it.
  Result<SharedId> transfer() noexcept;
  Result<Kind> kind() const noexcept;

  // A new handle of this process for `id`, if it names a resource of `kind`.
  static Result<Handle> attach(SharedId id, Kind kind = Kind::Any) noexcept;

 private:
  selium_handle_t handle_ = 0;
};

// Frames of a batch read: iterate to get each frame's bytes.
class Frames {
 public:
  class Iterator {
   public:
    std::span<const uint8_t> operator*() const noexcept;
    Iterator& operator++() noexcept;
    bool operator!=(const Iterator& other) const noexcept { return at_ != other.at_; }

   private:
    friend class Frames;
    Iterator(const uint8_t* at) noexcept : at_(at) {}
    const uint8_t* at_;
  };
  Frames() noexcept = default;
  explicit Frames(std::span<const uint8_t> bytes) noexcept : bytes_(bytes) {}
  Iterator begin() const noexcept { return Iterator(bytes_.data()); }
  Iterator end() const noexcept { return Iterator(bytes_.data() + bytes_.size()); }
  std::size_t count() const noexcept;
  bool empty() const noexcept { return bytes_.empty(); }

 private:
  std::span<const uint8_t> bytes_;
};

// Frames to write with one hostcall (each a little-endian u32 length, then its bytes).
class Batch {
 public:
  void add(std::span<const uint8_t> frame);
  void add(std::string_view frame) {
    add(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(frame.data()), frame.size()));
  }
  void clear() noexcept {
    bytes_.clear();
    frames_ = 0;
  }
  std::size_t frames() const noexcept { return frames_; }
  std::span<const uint8_t> bytes() const noexcept { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
  std::size_t frames_ = 0;
};

struct WriteOutcome {
  std::size_t written = 0;
  std::size_t dropped = 0;  // Drop channels: frames discarded because the channel was full
};

class Reader {
 public:
  explicit Reader(Handle handle) noexcept : handle_(std::move(handle)) {}
  static Result<Reader> attach(SharedId id) noexcept;

  // The next frame. Errors: Lagged (a weak reader lost frames: lost() says how many; read again
  // to continue from the oldest frame held), EndOfStream (drained and read to the end), Closed
  // (deleted).
  Task<Result<std::vector<uint8_t>>> read();
  // The next frame into `buffer`; its length. A frame longer than the buffer is left unread and
  // the result is Error TooLarge with needed() saying how long a buffer it wants.
  Task<Result<std::size_t>> read(std::span<uint8_t> buffer);
  // As many frames as fit `buffer` (grown when the next frame alone does not fit), at least one.
  Task<Result<Frames>> readBatch(std::vector<uint8_t>& buffer);
  // Frames this weak reader lost since the last call.
  uint64_t lost() const noexcept;
  // After read(span) failed with TooLarge: the buffer length the next frame needs.
  std::size_t needed() const noexcept { return needed_; }

  const Handle& handle() const noexcept { return handle_; }
  Handle& handle() noexcept { return handle_; }

 private:
  Handle handle_;
  std::size_t needed_ = 0;
};

class Writer {
 public:
  explicit Writer(Handle handle) noexcept : handle_(std::move(handle)) {}
  static Result<Writer> attach(SharedId id) noexcept;

  // Writes one frame, waiting for room on a Park channel. Errors: Dropped (Drop channel full),
  // TooLarge (can never fit), Closed (draining or deleted).
  Task<Result<void>> write(std::span<const uint8_t> frame);
  Task<Result<void>> write(std::string_view frame) {
    return write(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(frame.data()), frame.size()));
  }
  // Writes every frame of `batch` in order (as few hostcalls as room allows), waiting on Park.
  // On a Drop channel full frames are counted in `dropped`; an error stops the batch.
  Task<Result<WriteOutcome>> write(const Batch& batch);
  // Becomes weak: no longer served ahead of others when waiting.
  Result<void> downgrade() noexcept;

  const Handle& handle() const noexcept { return handle_; }
  Handle& handle() noexcept { return handle_; }

 private:
  Handle handle_;
};

class Channel {
 public:
  explicit Channel(Handle handle) noexcept : handle_(std::move(handle)) {}
  // A channel of `capacity` bytes (each frame takes 8 bytes + its length rounded up to 8).
  static Result<Channel> create(uint32_t capacity,
                                Backpressure backpressure = Backpressure::Park) noexcept;
  static Result<Channel> attach(SharedId id) noexcept;

  Result<Reader> reader(Strength strength = Strength::Strong) const noexcept;
  Result<Writer> writer(Strength strength = Strength::Strong) const noexcept;
  // No new frames; readers read what is left, then get EndOfStream.
  Result<void> drain() noexcept;
  // Closes the channel for everyone at once (readers and writers get Closed).
  Result<void> remove() noexcept;
  Result<SharedId> share() const noexcept { return handle_.share(); }

  const Handle& handle() const noexcept { return handle_; }
  Handle& handle() noexcept { return handle_; }

 private:
  Handle handle_;
};

// Singletons: a handle registered under a 16-byte id, found by any process with SingletonLookup.
using SingletonId = std::array<uint8_t, SELIUM_SINGLETON_ID_BYTES>;

// A 16-byte id from a name (FNV-1a based; stable across builds): how system modules are found.
SingletonId singletonId(std::string_view name) noexcept;
// Registers what `handle` names under `id`: AlreadyExists if taken. It goes when this process
// ends.
Result<void> registerSingleton(const SingletonId& id, const Handle& handle) noexcept;
// A new handle for what is registered under `id` (NotFound if nothing is).
Result<Handle> lookupSingleton(const SingletonId& id, Kind kind = Kind::Any) noexcept;

}  // namespace selium
