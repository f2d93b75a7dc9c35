// Channels, shared handles and singletons over the channel_*, handle_* and singleton_* hostcalls.
#include "selium/channel.hpp"

#include <selium/abi/singleton_id.h>

#include <cstring>

namespace selium {
namespace {

uint32_t readLength(const uint8_t* at) noexcept {
  return uint32_t{at[0]} | uint32_t{at[1]} << 8 | uint32_t{at[2]} << 16 | uint32_t{at[3]} << 24;
}

Result<void> checked(int32_t result) noexcept {
  if (result < 0) return Error::fromResult(result);
  return Result<void>();
}

Result<Handle> adopt(int32_t result) noexcept {
  if (result < 0) return Error::fromResult(result);
  return Handle(result);
}

}  // namespace

Result<SharedId> Handle::share() const noexcept {
  int64_t id = selium_handle_share(handle_);
  if (id < 0) return Error::fromResult(id);
  return SharedId{id};
}

Result<SharedId> Handle::transfer() noexcept {
  int64_t id = selium_handle_transfer(handle_);
  if (id < 0) return Error::fromResult(id);
  handle_ = 0;  // the host closed it
  return SharedId{id};
}

Result<Kind> Handle::kind() const noexcept {
  int32_t kind = selium_handle_kind(handle_);
  if (kind < 0) return Error::fromResult(kind);
  return static_cast<Kind>(kind);
}

Result<Handle> Handle::attach(SharedId id, Kind kind) noexcept {
  return adopt(selium_handle_attach(id, static_cast<int32_t>(kind)));
}

std::span<const uint8_t> Frames::Iterator::operator*() const noexcept {
  return {at_ + SELIUM_BATCH_HEADER, readLength(at_)};
}

Frames::Iterator& Frames::Iterator::operator++() noexcept {
  at_ += SELIUM_BATCH_HEADER + readLength(at_);
  return *this;
}

std::size_t Frames::count() const noexcept {
  std::size_t n = 0;
  for (auto it = begin(); it != end(); ++it) ++n;
  return n;
}

void Batch::add(std::span<const uint8_t> frame) {
  auto length = static_cast<uint32_t>(frame.size());
  uint8_t header[SELIUM_BATCH_HEADER] = {
      static_cast<uint8_t>(length), static_cast<uint8_t>(length >> 8),
      static_cast<uint8_t>(length >> 16), static_cast<uint8_t>(length >> 24)};
  bytes_.insert(bytes_.end(), header, header + SELIUM_BATCH_HEADER);
  bytes_.insert(bytes_.end(), frame.begin(), frame.end());
  ++frames_;
}

Result<Reader> Reader::attach(SharedId id) noexcept {
  auto handle = Handle::attach(id, Kind::Reader);
  if (!handle) return handle.error();
  return Reader(std::move(*handle));
}

Task<Result<std::vector<uint8_t>>> Reader::read() {
  std::vector<uint8_t> frame(256);
  for (;;) {
    auto length = co_await read(frame);
    if (length) {
      frame.resize(*length);
      co_return std::move(frame);
    }
    if (length.error() != ErrorCode::TooLarge) co_return length.error();
    frame.resize(needed_);
  }
}

Task<Result<std::size_t>> Reader::read(std::span<uint8_t> buffer) {
  selium_handle_t reader = handle_.get();
  auto poll = [reader, buffer](int32_t waker) noexcept {
    return selium_channel_read(reader, SELIUM_ADDR(buffer.data()),
                               static_cast<uint32_t>(buffer.size()), waker);
  };
  int32_t result;
  while ((result = co_await detail::PollHandle(reader, poll)) == -SELIUM_ERR_WouldBlock) {
  }
  if (result < 0) co_return Error::fromResult(result);
  if (static_cast<std::size_t>(result) > buffer.size()) {
    needed_ = static_cast<std::size_t>(result);
    co_return Error(ErrorCode::TooLarge);
  }
  co_return static_cast<std::size_t>(result);
}

Task<Result<Frames>> Reader::readBatch(std::vector<uint8_t>& buffer) {
  if (buffer.size() < 4096) buffer.resize(4096);
  selium_handle_t reader = handle_.get();
  for (;;) {
    auto poll = [reader, &buffer](int32_t waker) noexcept {
      return selium_channel_read_batch(reader, SELIUM_ADDR(buffer.data()),
                                       static_cast<uint32_t>(buffer.size()), waker);
    };
    int32_t result;
    while ((result = co_await detail::PollHandle(reader, poll)) == -SELIUM_ERR_WouldBlock) {
    }
    if (result < 0) co_return Error::fromResult(result);
    if (static_cast<std::size_t>(result) <= buffer.size()) {
      co_return Frames(std::span<const uint8_t>(buffer.data(), static_cast<std::size_t>(result)));
    }
    buffer.resize(static_cast<std::size_t>(result));  // the next frame alone needs this much
  }
}

uint64_t Reader::lost() const noexcept {
  int64_t lost = selium_channel_reader_lost(handle_.get());
  return lost < 0 ? 0 : static_cast<uint64_t>(lost);
}

Result<Writer> Writer::attach(SharedId id) noexcept {
  auto handle = Handle::attach(id, Kind::Writer);
  if (!handle) return handle.error();
  return Writer(std::move(*handle));
}

Task<Result<void>> Writer::write(std::span<const uint8_t> frame) {
  selium_handle_t writer = handle_.get();
  auto poll = [writer, frame](int32_t waker) noexcept {
    return selium_channel_write(writer, SELIUM_ADDR(frame.data()),
                                static_cast<uint32_t>(frame.size()), waker);
  };
  int32_t result;
  while ((result = co_await detail::PollHandle(writer, poll)) == -SELIUM_ERR_WouldBlock) {
  }
  co_return checked(result);
}

Task<Result<WriteOutcome>> Writer::write(const Batch& batch) {
  selium_handle_t writer = handle_.get();
  std::span<const uint8_t> rest = batch.bytes();
  WriteOutcome outcome;
  while (!rest.empty()) {
    auto poll = [writer, rest](int32_t waker) noexcept {
      return selium_channel_write_batch(writer, SELIUM_ADDR(rest.data()),
                                        static_cast<uint32_t>(rest.size()), waker);
    };
    int32_t result;
    while ((result = co_await detail::PollHandle(writer, poll)) == -SELIUM_ERR_WouldBlock) {
    }
    std::size_t consumed = 0;
    if (result == -SELIUM_ERR_Dropped) {
      consumed = 1;
      ++outcome.dropped;
    } else if (result < 0) {
      co_return Error::fromResult(result);
    } else {
      consumed = static_cast<std::size_t>(result);
      outcome.written += consumed;
    }
    for (std::size_t i = 0; i < consumed; ++i) {
      rest = rest.subspan(SELIUM_BATCH_HEADER + readLength(rest.data()));
    }
  }
  co_return outcome;
}

Result<void> Writer::downgrade() noexcept {
  return checked(selium_channel_writer_downgrade(handle_.get()));
}

Result<Channel> Channel::create(uint32_t capacity, Backpressure backpressure) noexcept {
  auto handle = adopt(selium_channel_create(capacity, static_cast<int32_t>(backpressure)));
  if (!handle) return handle.error();
  return Channel(std::move(*handle));
}

Result<Channel> Channel::attach(SharedId id) noexcept {
  auto handle = Handle::attach(id, Kind::Channel);
  if (!handle) return handle.error();
  return Channel(std::move(*handle));
}

Result<Reader> Channel::reader(Strength strength) const noexcept {
  auto handle = adopt(selium_channel_reader_open(handle_.get(), static_cast<int32_t>(strength)));
  if (!handle) return handle.error();
  return Reader(std::move(*handle));
}

Result<Writer> Channel::writer(Strength strength) const noexcept {
  auto handle = adopt(selium_channel_writer_open(handle_.get(), static_cast<int32_t>(strength)));
  if (!handle) return handle.error();
  return Writer(std::move(*handle));
}

Result<void> Channel::drain() noexcept { return checked(selium_channel_drain(handle_.get())); }

Result<void> Channel::remove() noexcept { return checked(selium_channel_delete(handle_.get())); }

SingletonId singletonId(std::string_view name) noexcept {
  SingletonId id{};
  selium_singleton_id(name.data(), name.size(), id.data());
  return id;
}

Result<void> registerSingleton(const SingletonId& id, const Handle& handle) noexcept {
  return checked(selium_singleton_register(SELIUM_ADDR(id.data()), handle.get()));
}

Result<Handle> lookupSingleton(const SingletonId& id, Kind kind) noexcept {
  return adopt(selium_singleton_lookup(SELIUM_ADDR(id.data()), static_cast<int32_t>(kind)));
}

}  // namespace selium
