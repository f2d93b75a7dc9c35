// Channels, sharing and singletons through the SDK. Needs ChannelLifecycle, ChannelReader,
// ChannelWriter (and SingletonRegistry / SingletonLookup for the singleton entries).
//   pipe(u32 frames, u32 capacity)    one process: a writer task and a reader task on one channel;
//                                      frame i is i as 4 bytes LE plus i % 61 filler bytes. Info
//                                      "pipe done" {frames, bytes}. Status 0, or 1 with Error
//                                      "mismatch" {expected, got} on the first wrong frame.
//   batch(u32 frames, u32 capacity)   the same with Batch writes and readBatch. Info "batch done"
//                                      {frames, calls}.
//   consume(u32 capacity, u32 writers, u32 frames)
//                                      creates a channel and a strong reader, shares the channel:
//                                      Info "ready" {channel}. Reads writers * frames frames of
//                                      (writer u32, seq u32) and checks each writer's seq goes
//                                      0, 1, 2, ...: Info "consumed" {frames, order} where `order`
//                                      hashes the sequence of (writer, seq) as read. Status 0, or
//                                      2 with Error "out of order" {writer, expected, got}.
//   watch(i64 channel, u32 total)     attaches the channel, opens a strong reader, Info "watching",
//                                      reads `total` frames like consume: Info "consumed" {frames,
//                                      order}.
//   produce(i64 channel, u32 writer, u32 frames)
//                                      attaches the channel and writes frames (writer, seq) in
//                                      batches of up to 64. Info "produced" {frames}.
//   weak(u32 capacity, u32 frames)    a weak reader that falls behind: writes `frames` 8-byte
//                                      frames into a channel with no strong reader, then reads:
//                                      Info "lagged" {lost, first} (first = seq of the first frame
//                                      read after the loss). Status 0.
//   drop(u32 capacity, u32 frames)    a Drop channel with a strong reader that never reads: Info
//                                      "dropped" {written, dropped}.
//   drain(u32 frames)                 writes frames, drains, reads them all: Info "drained"
//                                      {frames, end: error name of the read after the last}.
//   two_readers()                     two tasks read one reader: the second gets InvalidArgument
//                                      while the first waits. Info "two readers" {second}.
//   singleton_register(utf8 name)     registers a channel under singletonId(name): Info
//                                      "registered"; then waits for one frame on it and logs
//                                      Info "got" {frame}.
//   singleton_send(utf8 name, utf8 text)
//                                      looks the channel up and writes text: Info "sent", or Error
//                                      "lookup failed" {error} and status 3.
//   hostile()                          wrong kinds, guessed ids, closed handles: Info "hostile"
//                                      {results...}: each field is the error name it got.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <selium/selium.hpp>

namespace {

constexpr selium::log::Logger kLog{"channels"};

int32_t fail(std::string_view what, selium::Error error, int32_t status = 1) {
  std::string message = selium::lastError();
  kLog.error(what, {{"error", error.name()}, {"message", message}});
  return status;
}

void putU32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

uint32_t getU32(std::span<const uint8_t> in, std::size_t at = 0) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{in[at + i]} << (8 * i);
  return v;
}

std::vector<uint8_t> pipeFrame(uint32_t i) {
  std::vector<uint8_t> frame;
  putU32(frame, i);
  frame.resize(4 + i % 61, static_cast<uint8_t>(i));
  return frame;
}

struct Shared {
  int32_t status = 0;
  uint64_t bytes = 0;
  uint64_t calls = 0;
};

selium::Task<void> pipeWriter(selium::Writer writer, uint32_t frames, std::shared_ptr<Shared> s) {
  for (uint32_t i = 0; i < frames; ++i) {
    auto written = co_await writer.write(pipeFrame(i));
    if (!written) {
      s->status = fail("write failed", written.error());
      co_return;
    }
  }
}

selium::Task<void> pipeReader(selium::Reader reader, uint32_t frames, std::shared_ptr<Shared> s) {
  for (uint32_t i = 0; i < frames; ++i) {
    auto frame = co_await reader.read();
    if (!frame) {
      s->status = fail("read failed", frame.error());
      co_return;
    }
    if (*frame != pipeFrame(i)) {
      kLog.error("mismatch", {{"expected", i}, {"got", frame->size() >= 4 ? getU32(*frame) : 0}});
      s->status = 1;
      co_return;
    }
    s->bytes += frame->size();
  }
}

selium::Task<void> batchWriter(selium::Writer writer, uint32_t frames, std::shared_ptr<Shared> s) {
  selium::Batch batch;
  for (uint32_t i = 0; i < frames;) {
    batch.clear();
    for (uint32_t k = 0; k < 100 && i < frames; ++k, ++i) batch.add(pipeFrame(i));
    auto written = co_await writer.write(batch);
    if (!written) {
      s->status = fail("batch write failed", written.error());
      co_return;
    }
  }
}

selium::Task<void> batchReader(selium::Reader reader, uint32_t frames, std::shared_ptr<Shared> s) {
  std::vector<uint8_t> buffer;
  uint32_t i = 0;
  while (i < frames) {
    auto batch = co_await reader.readBatch(buffer);
    if (!batch) {
      s->status = fail("batch read failed", batch.error());
      co_return;
    }
    ++s->calls;
    for (std::span<const uint8_t> frame : *batch) {
      std::vector<uint8_t> expected = pipeFrame(i);
      if (frame.size() != expected.size() ||
          std::memcmp(frame.data(), expected.data(), frame.size()) != 0) {
        kLog.error("mismatch", {{"expected", i}, {"got", frame.size() >= 4 ? getU32(frame) : 0}});
        s->status = 1;
        co_return;
      }
      ++i;
    }
  }
}

uint64_t mix(uint64_t hash, uint32_t writer, uint32_t seq) {
  hash ^= (uint64_t{writer} << 32) | seq;
  return hash * 0x100000001b3ull;
}

selium::Task<int32_t> consumeFrom(selium::Reader& reader, uint32_t writers, uint64_t total) {
  std::vector<uint32_t> next(writers, 0);
  std::vector<uint8_t> buffer;
  uint64_t hash = 0xcbf29ce484222325ull;
  uint64_t got = 0;
  while (got < total) {
    auto batch = co_await reader.readBatch(buffer);
    if (!batch) co_return fail("read failed", batch.error());
    for (std::span<const uint8_t> frame : *batch) {
      uint32_t writer = getU32(frame);
      uint32_t seq = getU32(frame, 4);
      if (writer >= writers || seq != next[writer]) {
        kLog.error(
            "out of order",
            {{"writer", writer}, {"expected", writer < writers ? next[writer] : 0}, {"got", seq}});
        co_return 2;
      }
      ++next[writer];
      hash = mix(hash, writer, seq);
      ++got;
    }
  }
  kLog.info("consumed", {{"frames", got}, {"order", hash}});
  co_return 0;
}

}  // namespace

SELIUM_ENTRYPOINT(pipe, (u32, frames), (u32, capacity)) {
  auto channel = selium::Channel::create(capacity);
  if (!channel) co_return fail("create failed", channel.error());
  auto writer = channel->writer();
  auto reader = channel->reader();
  if (!writer || !reader) co_return fail("open failed", writer ? reader.error() : writer.error());
  auto s = std::make_shared<Shared>();
  std::vector<selium::Task<void>> tasks;
  tasks.push_back(pipeWriter(std::move(*writer), frames, s));
  tasks.push_back(pipeReader(std::move(*reader), frames, s));
  co_await selium::whenAll(std::move(tasks));
  if (s->status != 0) co_return s->status;
  kLog.info("pipe done", {{"frames", frames}, {"bytes", s->bytes}});
  co_return 0;
}

SELIUM_ENTRYPOINT(batch, (u32, frames), (u32, capacity)) {
  auto channel = selium::Channel::create(capacity);
  if (!channel) co_return fail("create failed", channel.error());
  auto writer = channel->writer();
  auto reader = channel->reader();
  if (!writer || !reader) co_return fail("open failed", writer ? reader.error() : writer.error());
  auto s = std::make_shared<Shared>();
  std::vector<selium::Task<void>> tasks;
  tasks.push_back(batchWriter(std::move(*writer), frames, s));
  tasks.push_back(batchReader(std::move(*reader), frames, s));
  co_await selium::whenAll(std::move(tasks));
  if (s->status != 0) co_return s->status;
  kLog.info("batch done", {{"frames", frames}, {"calls", s->calls}});
  co_return 0;
}

SELIUM_ENTRYPOINT(consume, (u32, capacity), (u32, writers), (u32, frames)) {
  auto channel = selium::Channel::create(capacity);
  if (!channel) co_return fail("create failed", channel.error());
  auto reader = channel->reader();
  if (!reader) co_return fail("open failed", reader.error());
  auto id = channel->share();
  if (!id) co_return fail("share failed", id.error());
  kLog.info("ready", {{"channel", *id}});
  co_return co_await consumeFrom(*reader, writers, uint64_t{writers} * frames);
}

SELIUM_ENTRYPOINT(watch, (i64, channel_id), (u32, writers), (u32, frames)) {
  auto channel = selium::Channel::attach(channel_id);
  if (!channel) co_return fail("attach failed", channel.error());
  auto reader = channel->reader();
  if (!reader) co_return fail("open failed", reader.error());
  kLog.info("watching");
  co_return co_await consumeFrom(*reader, writers, uint64_t{writers} * frames);
}

SELIUM_ENTRYPOINT(produce, (i64, channel_id), (u32, writer_index), (u32, frames)) {
  auto channel = selium::Channel::attach(channel_id);
  if (!channel) co_return fail("attach failed", channel.error());
  auto writer = channel->writer();
  if (!writer) co_return fail("open failed", writer.error());
  selium::Batch batch;
  std::vector<uint8_t> frame;
  for (uint32_t seq = 0; seq < frames;) {
    batch.clear();
    for (uint32_t k = 0; k < 64 && seq < frames; ++k, ++seq) {
      frame.clear();
      putU32(frame, writer_index);
      putU32(frame, seq);
      batch.add(frame);
    }
    auto written = co_await writer->write(batch);
    if (!written) co_return fail("write failed", written.error());
  }
  kLog.info("produced", {{"frames", frames}});
  co_return 0;
}

SELIUM_ENTRYPOINT(weak, (u32, capacity), (u32, frames)) {
  auto channel = selium::Channel::create(capacity);
  if (!channel) co_return fail("create failed", channel.error());
  auto reader = channel->reader(selium::Strength::Weak);
  auto writer = channel->writer();
  if (!writer || !reader) co_return fail("open failed", writer ? reader.error() : writer.error());
  for (uint32_t i = 0; i < frames; ++i) {
    std::vector<uint8_t> frame;
    putU32(frame, i);
    putU32(frame, 0);
    auto written = co_await writer->write(frame);
    if (!written) co_return fail("write failed", written.error());
  }
  auto first = co_await reader->read();
  if (first || first.error() != selium::ErrorCode::Lagged) {
    kLog.error("expected Lagged", {{"got", first ? "a frame" : first.error().name()}});
    co_return 4;
  }
  uint64_t lost = reader->lost();
  auto next = co_await reader->read();
  if (!next) co_return fail("read after lag failed", next.error());
  kLog.info("lagged", {{"lost", lost}, {"first", getU32(*next)}});
  co_return 0;
}

SELIUM_ENTRYPOINT(drop, (u32, capacity), (u32, frames)) {
  auto channel = selium::Channel::create(capacity, selium::Backpressure::Drop);
  if (!channel) co_return fail("create failed", channel.error());
  auto reader = channel->reader();  // strong, never reads: the ring fills up
  auto writer = channel->writer();
  if (!writer || !reader) co_return fail("open failed", writer ? reader.error() : writer.error());
  selium::Batch batch;
  for (uint32_t i = 0; i < frames; ++i) batch.add(std::string_view("12345678"));
  auto outcome = co_await writer->write(batch);
  if (!outcome) co_return fail("write failed", outcome.error());
  kLog.info("dropped", {{"written", outcome->written}, {"dropped", outcome->dropped}});
  co_return 0;
}

SELIUM_ENTRYPOINT(drain, (u32, frames)) {
  auto channel = selium::Channel::create(64 * 1024);
  if (!channel) co_return fail("create failed", channel.error());
  auto reader = channel->reader();
  auto writer = channel->writer();
  if (!writer || !reader) co_return fail("open failed", writer ? reader.error() : writer.error());
  for (uint32_t i = 0; i < frames; ++i) {
    auto written = co_await writer->write(pipeFrame(i));
    if (!written) co_return fail("write failed", written.error());
  }
  auto drained = channel->drain();
  if (!drained) co_return fail("drain failed", drained.error());
  auto after = co_await writer->write(pipeFrame(0));
  uint32_t read = 0;
  for (;;) {
    auto frame = co_await reader->read();
    if (!frame) {
      kLog.info("drained", {{"frames", read},
                            {"end", frame.error().name()},
                            {"write_after_drain", after ? "ok" : after.error().name()}});
      co_return 0;
    }
    ++read;
  }
}

namespace {
selium::Task<void> readOnce(selium::Reader& reader, std::shared_ptr<std::string> outcome) {
  std::vector<uint8_t> buffer(16);
  auto got = co_await reader.read(buffer);
  *outcome = got ? "frame" : std::string(got.error().name());
}
}  // namespace

SELIUM_ENTRYPOINT(two_readers) {
  auto channel = selium::Channel::create(1024);
  if (!channel) co_return fail("create failed", channel.error());
  auto reader = channel->reader();
  auto writer = channel->writer();
  if (!writer || !reader) co_return fail("open failed", writer ? reader.error() : writer.error());
  auto first = std::make_shared<std::string>("waiting");
  auto second = std::make_shared<std::string>("waiting");
  selium::spawn(readOnce(*reader, first));   // waits: the channel is empty
  selium::spawn(readOnce(*reader, second));  // refused while the first waits
  co_await selium::yield();
  auto written = co_await writer->write(std::string_view("x"));
  if (!written) co_return fail("write failed", written.error());
  co_await selium::yield();
  co_await selium::yield();
  kLog.info("two readers", {{"first", *first}, {"second", *second}});
  co_return 0;
}

SELIUM_ENTRYPOINT(singleton_register, (utf8, name)) {
  auto channel = selium::Channel::create(1024);
  if (!channel) co_return fail("create failed", channel.error());
  auto reader = channel->reader();
  if (!reader) co_return fail("open failed", reader.error());
  auto registered = selium::registerSingleton(selium::singletonId(name), channel->handle());
  if (!registered) co_return fail("register failed", registered.error());
  kLog.info("registered");
  auto frame = co_await reader->read();
  if (!frame) co_return fail("read failed", frame.error());
  kLog.info("got", {{"frame", std::string(frame->begin(), frame->end())}});
  co_return 0;
}

SELIUM_ENTRYPOINT(singleton_send, (utf8, name), (utf8, text)) {
  auto handle = selium::lookupSingleton(selium::singletonId(name), selium::Kind::Channel);
  if (!handle) co_return fail("lookup failed", handle.error(), 3);
  selium::Channel channel(std::move(*handle));
  auto writer = channel.writer();
  if (!writer) co_return fail("open failed", writer.error());
  auto written = co_await writer->write(text);
  if (!written) co_return fail("write failed", written.error());
  kLog.info("sent");
  co_return 0;
}

SELIUM_ENTRYPOINT(hostile) {
  auto channel = selium::Channel::create(1024);
  if (!channel) co_return fail("create failed", channel.error());
  auto reader = channel->reader();
  auto writer = channel->writer();
  if (!writer || !reader) co_return fail("open failed", writer ? reader.error() : writer.error());
  auto name = [](int64_t result) -> std::string {
    return result >= 0 ? "ok" : std::string(selium_error_name(static_cast<int32_t>(result)));
  };
  std::vector<uint8_t> buffer(16);
  uint8_t byte = 1;
  // A writer used as a reader, a reader as a writer, a channel as either: refused, and nothing
  // is destroyed (the real use afterwards works).
  int32_t read_writer =
      selium_channel_read(writer->handle().get(), SELIUM_ADDR(buffer.data()), 16, 1);
  int32_t write_reader = selium_channel_write(reader->handle().get(), SELIUM_ADDR(&byte), 1, 1);
  int32_t delete_reader = selium_channel_delete(reader->handle().get());
  int32_t attach_guess = selium_handle_attach(1, SELIUM_KIND_ANY);
  int32_t attach_zero = selium_handle_attach(0, SELIUM_KIND_ANY);
  auto id = channel->share();
  int32_t attach_wrong_kind =
      id ? selium_handle_attach(*id, SELIUM_KIND_READER) : -SELIUM_ERR_Internal;
  int32_t bad_capacity = selium_channel_create(0, SELIUM_BACKPRESSURE_PARK);
  int32_t bad_backpressure = selium_channel_create(1024, 7);
  int32_t bad_strength = selium_channel_reader_open(channel->handle().get(), 9);
  int32_t out_of_bounds = selium_channel_write(writer->handle().get(), 0xFFFFFFF0u, 64, 1);
  auto still_works = co_await writer->write(std::string_view("still"));
  auto frame = co_await reader->read();
  kLog.info("hostile",
            {{"read_writer", name(read_writer)},
             {"write_reader", name(write_reader)},
             {"delete_reader", name(delete_reader)},
             {"attach_guess", name(attach_guess)},
             {"attach_zero", name(attach_zero)},
             {"attach_wrong_kind", name(attach_wrong_kind)},
             {"bad_capacity", name(bad_capacity)},
             {"bad_backpressure", name(bad_backpressure)},
             {"bad_strength", name(bad_strength)},
             {"out_of_bounds", name(out_of_bounds)},
             {"still_works", still_works && frame && frame->size() == 5 ? "yes" : "no"}});
  co_return 0;
}
