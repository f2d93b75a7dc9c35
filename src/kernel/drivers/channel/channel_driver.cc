// Channel driver: channel, reader and writer handles over kernel/channel.h. A handle names a
// shared object (ChannelObject, ReaderObject, WriterObject) that handle_attach can give other
// processes; each handle keeps its own Waiter, so tasks of different processes wait on one
// reader without taking each other's wake-ups.
#include "kernel/drivers/channel/channel_driver.h"

#include <selium/abi/hostcalls.h>

#include <memory>
#include <string>
#include <utility>

#include "kernel/channel.h"
#include "kernel/registry.h"

static_assert(SELIUM_BATCH_MAX_FRAMES == selium::kernel::Channel::kMaxBatchFrames);
static_assert(SELIUM_BATCH_HEADER == selium::kernel::Channel::kBatchHeader);

namespace selium::kernel {
namespace {

class ChannelObject final : public Shareable {
 public:
  explicit ChannelObject(std::shared_ptr<Channel> channel) : channel(std::move(channel)) {}
  HandleKind kind() const override { return HandleKind::Channel; }
  std::unique_ptr<Resource> attach(Process& process) override;
  bool alive() const override { return !channel->closed(); }
  const std::shared_ptr<Channel> channel;
};

class ChannelHandle final : public Resource {
 public:
  static constexpr HandleKind kKind = HandleKind::Channel;
  explicit ChannelHandle(std::shared_ptr<ChannelObject> object) : object(std::move(object)) {}
  HandleKind kind() const override { return kKind; }
  std::shared_ptr<Shareable> shareable() override { return object; }
  Channel& channel() const { return *object->channel; }
  const std::shared_ptr<ChannelObject> object;
};

std::unique_ptr<Resource> ChannelObject::attach(Process&) {
  return std::make_unique<ChannelHandle>(
      std::static_pointer_cast<ChannelObject>(shared_from_this()));
}

class ReaderObject final : public Shareable {
 public:
  explicit ReaderObject(std::shared_ptr<ChannelReader> reader) : reader(std::move(reader)) {}
  HandleKind kind() const override { return HandleKind::Reader; }
  std::unique_ptr<Resource> attach(Process& process) override;
  bool alive() const override { return !reader->channel()->closed(); }
  const std::shared_ptr<ChannelReader> reader;
};

class ReaderHandle final : public Resource {
 public:
  static constexpr HandleKind kKind = HandleKind::Reader;
  explicit ReaderHandle(std::shared_ptr<ReaderObject> object) : object(std::move(object)) {}
  HandleKind kind() const override { return kKind; }
  std::shared_ptr<Shareable> shareable() override { return object; }
  bool cancelWait() override {
    waiter.cancel();
    return true;
  }
  ChannelReader& reader() const { return *object->reader; }
  const std::shared_ptr<ReaderObject> object;
  Waiter waiter;  // after `object`: unregistered before the reader can go
};

std::unique_ptr<Resource> ReaderObject::attach(Process&) {
  return std::make_unique<ReaderHandle>(std::static_pointer_cast<ReaderObject>(shared_from_this()));
}

class WriterObject final : public Shareable {
 public:
  explicit WriterObject(std::shared_ptr<ChannelWriter> writer) : writer(std::move(writer)) {}
  HandleKind kind() const override { return HandleKind::Writer; }
  std::unique_ptr<Resource> attach(Process& process) override;
  bool alive() const override { return !writer->channel()->closed(); }
  const std::shared_ptr<ChannelWriter> writer;
};

class WriterHandle final : public Resource {
 public:
  static constexpr HandleKind kKind = HandleKind::Writer;
  explicit WriterHandle(std::shared_ptr<WriterObject> object) : object(std::move(object)) {}
  HandleKind kind() const override { return kKind; }
  std::shared_ptr<Shareable> shareable() override { return object; }
  bool cancelWait() override {
    waiter.cancel();
    return true;
  }
  ChannelWriter& writer() const { return *object->writer; }
  const std::shared_ptr<WriterObject> object;
  Waiter waiter;
};

std::unique_ptr<Resource> WriterObject::attach(Process&) {
  return std::make_unique<WriterHandle>(std::static_pointer_cast<WriterObject>(shared_from_this()));
}

std::string handleText(int32_t handle) { return "handle " + std::to_string(handle); }

constexpr int32_t kDenied = -static_cast<int32_t>(ErrorCode::PermissionDenied);

template <typename H>
H* find(CallContext& ctx, int32_t handle, const char* what, int32_t& error) {
  auto* resource = ctx.process.handles().get<H>(handle);
  if (resource == nullptr) {
    error = fail(ctx, ErrorCode::InvalidHandle,
                 handleText(handle) + " is not an open " + what + " of this process");
  }
  return resource;
}

std::optional<Strength> strengthOf(CallContext& ctx, int32_t strength, int32_t& error) {
  if (strength == SELIUM_STRONG) return Strength::Strong;
  if (strength == SELIUM_WEAK) return Strength::Weak;
  error = fail(ctx, ErrorCode::InvalidArgument,
               "strength " + std::to_string(strength) + " is neither SELIUM_STRONG (" +
                   std::to_string(SELIUM_STRONG) + ") nor SELIUM_WEAK (" +
                   std::to_string(SELIUM_WEAK) + ")");
  return std::nullopt;
}

int32_t insert(CallContext& ctx, std::unique_ptr<Resource> resource) {
  auto inserted = ctx.process.handles().insert(std::move(resource));
  if (auto* code = std::get_if<ErrorCode>(&inserted)) {
    return fail(ctx, *code, "too many open handles");
  }
  return std::get<int32_t>(inserted);
}

int32_t closedChannel(CallContext& ctx, int32_t handle, const Channel& channel) {
  if (channel.closed()) {
    return fail(ctx, ErrorCode::Closed, "the channel of " + handleText(handle) + " was deleted");
  }
  return fail(ctx, ErrorCode::Closed,
              "the channel of " + handleText(handle) + " is draining: it takes no new frames");
}

// The result of a read for the guest: its length (or the length it needs), or an error.
int32_t readResult(CallContext& ctx, int32_t handle, ChannelReader& reader,
                   const ReadResult& result, std::size_t cap) {
  switch (result.status) {
    case ChannelStatus::Ok:
      return static_cast<int32_t>(result.bytes);
    case ChannelStatus::TooLarge:
      // Not a failure: like snprintf, the result says how large a buffer the frame needs.
      (void)cap;
      return static_cast<int32_t>(result.needed);
    case ChannelStatus::WouldBlock:
      return errorResult(ErrorCode::WouldBlock);
    case ChannelStatus::Busy:
      return fail(ctx, ErrorCode::InvalidArgument,
                  "another task is already waiting on reader " + handleText(handle) +
                      ": read a reader from one task at a time (handle_cancel_wait frees it)");
    case ChannelStatus::Lagged:
      return fail(ctx, ErrorCode::Lagged,
                  "reader " + handleText(handle) +
                      " fell behind and frames it had not read were overwritten; "
                      "channel_reader_lost says how many; it continues from the oldest frame held");
    case ChannelStatus::EndOfStream:
      return fail(ctx, ErrorCode::EndOfStream,
                  "the channel of reader " + handleText(handle) +
                      " was drained and every frame has been read");
    case ChannelStatus::Closed:
      return fail(ctx, ErrorCode::Closed,
                  "the channel of reader " + handleText(handle) + " was deleted");
    case ChannelStatus::Dropped:
    case ChannelStatus::Malformed:
      break;
  }
  (void)reader;
  return fail(ctx, ErrorCode::Internal, "unexpected channel read status");
}

int32_t writeError(CallContext& ctx, int32_t handle, ChannelWriter& writer, ChannelStatus status,
                   std::size_t length) {
  const Channel& channel = *writer.channel();
  switch (status) {
    case ChannelStatus::WouldBlock:
      return errorResult(ErrorCode::WouldBlock);
    case ChannelStatus::Busy:
      return fail(ctx, ErrorCode::InvalidArgument,
                  "another task is already waiting on writer " + handleText(handle) +
                      ": write from one task at a time (handle_cancel_wait frees it)");
    case ChannelStatus::Dropped:
      return fail(ctx, ErrorCode::Dropped,
                  "the channel of writer " + handleText(handle) +
                      " was full and drops frames when full: a frame of " + std::to_string(length) +
                      " bytes was discarded");
    case ChannelStatus::TooLarge:
      return fail(ctx, ErrorCode::TooLarge,
                  "a frame of " + std::to_string(length) + " bytes can never fit the channel of " +
                      std::to_string(channel.capacity()) + " bytes (a frame takes " +
                      std::to_string(Channel::frameSize(length)) + " bytes of it)");
    case ChannelStatus::Closed:
      return closedChannel(ctx, handle, channel);
    case ChannelStatus::Malformed:
      return fail(ctx, ErrorCode::InvalidArgument,
                  "malformed batch: a frame's length runs past the end of the batch "
                  "(each frame is a little-endian u32 length, then that many bytes)");
    case ChannelStatus::Ok:
    case ChannelStatus::Lagged:
    case ChannelStatus::EndOfStream:
      break;
  }
  return fail(ctx, ErrorCode::Internal, "unexpected channel write status");
}

// SELIUM_WAKER_NONE: a call that does not wait arms `none` (the caller's own waiter, which
// unregisters when the call returns) instead of the handle's, so a task waiting on the handle
// keeps its wait.
template <typename H>
Waiter& waiterFor(H& handle, int32_t waker, Waiter& none) {
  return waker == SELIUM_WAKER_NONE ? none : handle.waiter;
}

Waker wakerFor(CallContext& ctx, int32_t waker) {
  return waker == SELIUM_WAKER_NONE ? Waker{} : ctx.process.waker(waker);
}

// The length of the first frame of a batch (for messages); 0 if it has none.
std::size_t firstFrameLength(std::span<const uint8_t> batch) {
  if (batch.size() < Channel::kBatchHeader) return 0;
  return std::size_t{batch[0]} | std::size_t{batch[1]} << 8 | std::size_t{batch[2]} << 16 |
         std::size_t{batch[3]} << 24;
}

}  // namespace

std::unique_ptr<Resource> makeReaderResource(std::shared_ptr<ChannelReader> reader) {
  return std::make_unique<ReaderHandle>(std::make_shared<ReaderObject>(std::move(reader)));
}

std::unique_ptr<Resource> makeWriterResource(std::shared_ptr<ChannelWriter> writer) {
  return std::make_unique<WriterHandle>(std::make_shared<WriterObject>(std::move(writer)));
}

std::shared_ptr<Channel> channelOf(const std::shared_ptr<Shareable>& object) {
  if (auto* channel = dynamic_cast<ChannelObject*>(object.get())) return channel->channel;
  if (auto* writer = dynamic_cast<WriterObject*>(object.get())) return writer->writer->channel();
  return nullptr;
}

namespace {

class LogFollower final : public Shareable {
 public:
  explicit LogFollower(std::shared_ptr<LogStream> stream) : stream_(std::move(stream)) {}
  HandleKind kind() const override { return HandleKind::Reader; }
  std::unique_ptr<Resource> attach(Process&) override {
    std::shared_ptr<Channel> channel = stream_->channel();
    if (channel == nullptr || channel->closed()) return nullptr;  // the process has ended
    return makeReaderResource(ChannelReader::open(std::move(channel), Strength::Weak));
  }
  bool alive() const override {
    std::shared_ptr<Channel> channel = stream_->channel();
    return channel != nullptr && !channel->closed();
  }

 private:
  const std::shared_ptr<LogStream> stream_;
};

}  // namespace

std::shared_ptr<Shareable> makeLogFollower(std::shared_ptr<LogStream> stream) {
  return std::make_shared<LogFollower>(std::move(stream));
}

std::variant<std::shared_ptr<void>, int32_t> chargeChannelBudget(CallContext& ctx,
                                                                 std::size_t bytes,
                                                                 const std::string& what) {
  std::shared_ptr<std::atomic<std::size_t>> used = ctx.process.channelBytes();
  std::size_t limit = ctx.process.maxChannelBytes();
  std::size_t before = used->load(std::memory_order_relaxed);
  do {
    if (bytes > limit || before > limit - bytes) {
      return fail(ctx, ErrorCode::LimitExceeded,
                  what + " of " + std::to_string(bytes) + " bytes would take this process's " +
                      "channels and bodies to " + std::to_string(before + bytes) +
                      " bytes, over its limit of " + std::to_string(limit) +
                      " (close or delete channels, readers and bodies it no longer needs)");
    }
  } while (!used->compare_exchange_weak(before, before + bytes, std::memory_order_relaxed));
  // The token gives the bytes back when the last holder lets it go.
  return std::shared_ptr<void>(
      nullptr, [used, bytes](void*) { used->fetch_sub(bytes, std::memory_order_relaxed); });
}

std::variant<std::shared_ptr<Channel>, int32_t> createChargedChannel(CallContext& ctx,
                                                                     std::size_t capacity,
                                                                     Backpressure backpressure) {
  std::size_t bytes =
      (capacity + Channel::kFrameAlign - 1) / Channel::kFrameAlign * Channel::kFrameAlign;
  // Charge the ring to this process before allocating it; the channel gives it back when freed.
  auto charged = chargeChannelBudget(ctx, bytes, "a channel");
  if (const int32_t* error = std::get_if<int32_t>(&charged)) return *error;
  return Channel::create(
      bytes, backpressure,
      [token = std::get<std::shared_ptr<void>>(std::move(charged))]() mutable { token.reset(); });
}

namespace hostcalls {

int32_t channel_create(CallContext& ctx, uint32_t capacity, int32_t backpressure) {
  if (backpressure != SELIUM_BACKPRESSURE_PARK && backpressure != SELIUM_BACKPRESSURE_DROP) {
    return fail(ctx, ErrorCode::InvalidArgument,
                "backpressure " + std::to_string(backpressure) + " is neither PARK (" +
                    std::to_string(SELIUM_BACKPRESSURE_PARK) + ") nor DROP (" +
                    std::to_string(SELIUM_BACKPRESSURE_DROP) + ")");
  }
  if (capacity < Channel::kMinCapacity || capacity > Channel::kMaxCapacity) {
    return fail(ctx, ErrorCode::InvalidArgument,
                "channel capacity " + std::to_string(capacity) + " bytes is outside [" +
                    std::to_string(Channel::kMinCapacity) + ", " +
                    std::to_string(Channel::kMaxCapacity) + "]");
  }
  auto created = createChargedChannel(
      ctx, capacity,
      backpressure == SELIUM_BACKPRESSURE_PARK ? Backpressure::Park : Backpressure::Drop);
  if (const int32_t* error = std::get_if<int32_t>(&created)) return *error;
  auto channel = std::get<std::shared_ptr<Channel>>(std::move(created));
  return insert(ctx, std::make_unique<ChannelHandle>(std::make_shared<ChannelObject>(channel)));
}

int32_t channel_drain(CallContext& ctx, int32_t channel) {
  int32_t error = 0;
  auto* handle = find<ChannelHandle>(ctx, channel, "channel", error);
  if (handle == nullptr) return error;
  if (!handle->channel().drain()) {
    return fail(ctx, ErrorCode::Closed, "the channel of " + handleText(channel) + " was deleted");
  }
  return 0;
}

int32_t channel_delete(CallContext& ctx, int32_t channel) {
  int32_t error = 0;
  auto* handle = find<ChannelHandle>(ctx, channel, "channel", error);
  if (handle == nullptr) return error;
  handle->channel().close();
  return 0;
}

int32_t channel_reader_open(CallContext& ctx, int32_t channel, int32_t strength) {
  int32_t error = 0;
  auto* handle = find<ChannelHandle>(ctx, channel, "channel", error);
  if (handle == nullptr) return error;
  std::optional<Strength> chosen = strengthOf(ctx, strength, error);
  if (!chosen) return error;
  if (handle->channel().closed()) return closedChannel(ctx, channel, handle->channel());
  auto reader = ChannelReader::open(handle->object->channel, *chosen);
  return insert(ctx, std::make_unique<ReaderHandle>(std::make_shared<ReaderObject>(reader)));
}

int32_t channel_read(CallContext& ctx, int32_t reader, GuestOut buf, int32_t waker) {
  int32_t error = 0;
  auto* handle = find<ReaderHandle>(ctx, reader, "reader", error);
  if (handle == nullptr) return error;
  if (!requireCapability(ctx, handle->reader().channel()->readCapability())) return kDenied;
  Waiter none;
  Waiter& waiter = waiterFor(*handle, waker, none);
  ReadResult result = handle->reader().read(buf.bytes, waiter, wakerFor(ctx, waker));
  return readResult(ctx, reader, handle->reader(), result, buf.bytes.size());
}

int32_t channel_read_batch(CallContext& ctx, int32_t reader, GuestOut buf, int32_t waker) {
  int32_t error = 0;
  auto* handle = find<ReaderHandle>(ctx, reader, "reader", error);
  if (handle == nullptr) return error;
  if (!requireCapability(ctx, handle->reader().channel()->readCapability())) return kDenied;
  Waiter none;
  Waiter& waiter = waiterFor(*handle, waker, none);
  ReadResult result = handle->reader().readBatch(buf.bytes, waiter, wakerFor(ctx, waker));
  return readResult(ctx, reader, handle->reader(), result, buf.bytes.size());
}

int64_t channel_reader_lost(CallContext& ctx, int32_t reader) {
  int32_t error = 0;
  auto* handle = find<ReaderHandle>(ctx, reader, "reader", error);
  if (handle == nullptr) return error;
  if (!requireCapability(ctx, handle->reader().channel()->readCapability())) return kDenied;
  return static_cast<int64_t>(handle->reader().takeLost());
}

int32_t channel_writer_open(CallContext& ctx, int32_t channel, int32_t strength) {
  int32_t error = 0;
  auto* handle = find<ChannelHandle>(ctx, channel, "channel", error);
  if (handle == nullptr) return error;
  std::optional<Strength> chosen = strengthOf(ctx, strength, error);
  if (!chosen) return error;
  if (handle->channel().closed()) return closedChannel(ctx, channel, handle->channel());
  auto writer = ChannelWriter::open(handle->object->channel, *chosen);
  return insert(ctx, std::make_unique<WriterHandle>(std::make_shared<WriterObject>(writer)));
}

int32_t channel_writer_downgrade(CallContext& ctx, int32_t writer) {
  int32_t error = 0;
  auto* handle = find<WriterHandle>(ctx, writer, "writer", error);
  if (handle == nullptr) return error;
  if (!requireCapability(ctx, handle->writer().channel()->writeCapability())) return kDenied;
  handle->writer().downgrade();
  return 0;
}

int32_t channel_write(CallContext& ctx, int32_t writer, GuestIn data, int32_t waker) {
  int32_t error = 0;
  auto* handle = find<WriterHandle>(ctx, writer, "writer", error);
  if (handle == nullptr) return error;
  if (!requireCapability(ctx, handle->writer().channel()->writeCapability())) return kDenied;
  Waiter none;
  Waiter& waiter = waiterFor(*handle, waker, none);
  WriteResult result = handle->writer().write(data.bytes, waiter, wakerFor(ctx, waker));
  if (result.status == ChannelStatus::Ok) return 0;
  return writeError(ctx, writer, handle->writer(), result.status, data.bytes.size());
}

int32_t channel_write_batch(CallContext& ctx, int32_t writer, GuestIn batch, int32_t waker) {
  int32_t error = 0;
  auto* handle = find<WriterHandle>(ctx, writer, "writer", error);
  if (handle == nullptr) return error;
  if (!requireCapability(ctx, handle->writer().channel()->writeCapability())) return kDenied;
  Waiter none;
  Waiter& waiter = waiterFor(*handle, waker, none);
  WriteResult result = handle->writer().writeBatch(batch.bytes, waiter, wakerFor(ctx, waker));
  if (result.frames > 0) return static_cast<int32_t>(result.frames);
  if (result.status == ChannelStatus::Ok) {
    return fail(ctx, ErrorCode::InvalidArgument, "empty batch: it holds no frame");
  }
  // The first frame failed: name its length (past the frames written, which are none).
  return writeError(ctx, writer, handle->writer(), result.status, firstFrameLength(batch.bytes));
}

int32_t stream_finish(CallContext& ctx, int32_t writer) {
  int32_t error = 0;
  auto* handle = find<WriterHandle>(ctx, writer, "writer", error);
  if (handle == nullptr) return error;
  if (!requireCapability(ctx, handle->writer().channel()->writeCapability())) return kDenied;
  Channel& channel = *handle->writer().channel();
  if (!channel.isByteStream()) {
    return fail(ctx, ErrorCode::Unsupported,
                handleText(writer) + " writes an ordinary channel, not a byte stream (an HTTP " +
                    "body or a network stream): channel_drain ends a channel");
  }
  if (!channel.drain()) {
    return fail(ctx, ErrorCode::Closed,
                "the stream of " + handleText(writer) + " was cut short already (its peer went " +
                    "away, or it was reset)");
  }
  return 0;
}

}  // namespace hostcalls
}  // namespace selium::kernel
