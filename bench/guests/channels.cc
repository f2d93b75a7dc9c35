// guest_channel_bench's readers, writers and echo pair through the C++ SDK (selium/channel.hpp),
// as a guest author would write them: a Task per read or write, Batch and readBatch for batches.
// bench_channels_raw.wasm (channels_raw.c) does the same on the raw hostcalls. Needs
// ChannelReader and ChannelWriter (and ChannelLifecycle where it creates channels; TimeRead for
// echo_client).
//
// A frame of `size` bytes (at least 8) is [u32 writer][u32 seq][filler], little-endian; each
// writer numbers its frames 0, 1, 2, ... and readers check every writer's sequence.
//
//   sink(u32 capacity, u32 frames, u32 size, u32 batched)
//       creates a Park channel of `capacity` bytes, opens a strong reader and shares the
//       channel: Info "ready" {channel: shared id}. Then reads `frames` frames, each with
//       Reader::read(span) (batched 0) or with readBatch into a buffer of max(256 KiB, 4
//       frames), and returns status 0; 2 with Error "bad frame" {writer, seq, length} on a frame
//       out of order or of the wrong size; 1 with Error "read failed".
//   tap(resource channel, u32 frames, u32 size, u32 batched)
//       the same on a channel it is given: Info "ready" once its strong reader is open.
//   source(resource channel, u32 frames, u32 size, u32 batch, u32 writer)
//       opens a strong writer and writes `frames` frames as writer `writer`: Writer::write(span)
//       each (batch 0 or 1), or a Batch of `batch` frames filled and written at a time. Status
//       0, or 3 with Error "write failed".
//   echo_server(u32 rounds, u32 size)
//       creates a request and a reply channel (4 KiB each) with a strong reader of requests and
//       a writer of replies, shares both: Info "ready" {requests, replies}. Then reads `rounds`
//       frames and writes each back. Status 0.
//   echo_client(resource requests, resource replies, u32 rounds, u32 warmup, u32 size)
//       writes a `size`-byte request and reads its reply, `rounds` times, timing each round trip
//       with the monotonic clock (the first `warmup` are not kept): Info "rtt" {rounds, p50,
//       p99, max, mean} in nanoseconds. Status 0, or 4 with Error "wrong reply".
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include <selium/selium.hpp>

namespace {

constexpr selium::log::Logger kLog{"bench"};
constexpr std::size_t kMinReadBuffer = 256 * 1024;

int32_t fail(std::string_view what, selium::Error error, int32_t status) {
  std::string message = selium::lastError();
  kLog.error(what, {{"error", error.name()}, {"message", message}});
  return status;
}

void store32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint32_t load32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// Checks frames as they arrive: the size, and each writer's sequence.
class Checker {
 public:
  explicit Checker(uint32_t size) : size_(size), next_(64, 0) {}
  // False (after logging it) for a frame out of order or of the wrong size.
  bool check(std::span<const uint8_t> frame) {
    uint32_t writer = frame.size() >= 8 ? load32(frame.data()) : UINT32_MAX;
    uint32_t seq = frame.size() >= 8 ? load32(frame.data() + 4) : UINT32_MAX;
    if (frame.size() != size_ || writer >= next_.size() || seq != next_[writer]) {
      kLog.error(
          "bad frame",
          {{"writer", writer}, {"seq", seq}, {"length", static_cast<uint64_t>(frame.size())}});
      return false;
    }
    ++next_[writer];
    return true;
  }

 private:
  uint32_t size_;
  std::vector<uint32_t> next_;
};

selium::Task<int32_t> readFrames(selium::Reader reader, uint32_t frames, uint32_t size,
                                 bool batched) {
  Checker checker(size);
  if (!batched) {
    std::vector<uint8_t> frame(size);
    for (uint32_t i = 0; i < frames; ++i) {
      auto length = co_await reader.read(frame);
      if (!length) co_return fail("read failed", length.error(), 1);
      if (!checker.check(std::span<const uint8_t>(frame.data(), *length))) co_return 2;
    }
    co_return 0;
  }
  std::vector<uint8_t> buffer(
      std::max<std::size_t>(kMinReadBuffer, 4 * (SELIUM_BATCH_HEADER + std::size_t{size})));
  for (uint32_t done = 0; done < frames;) {
    auto batch = co_await reader.readBatch(buffer);
    if (!batch) co_return fail("read failed", batch.error(), 1);
    for (std::span<const uint8_t> frame : *batch) {
      if (!checker.check(frame)) co_return 2;
      ++done;
    }
  }
  co_return 0;
}

void ready(uint64_t channel) { kLog.info("ready", {{"channel", channel}}); }

selium::Channel adopt(selium::ResourceId id) {
  return selium::Channel(selium::Handle(static_cast<selium_handle_t>(id.value)));
}

}  // namespace

SELIUM_ENTRYPOINT(sink, (u32, capacity), (u32, frames), (u32, size), (u32, batched)) {
  auto channel = selium::Channel::create(capacity);
  if (!channel) co_return fail("create failed", channel.error(), 1);
  auto reader = channel->reader();
  if (!reader) co_return fail("reader open failed", reader.error(), 1);
  auto id = channel->share();
  if (!id) co_return fail("share failed", id.error(), 1);
  ready(static_cast<uint64_t>(*id));
  co_return co_await readFrames(std::move(*reader), frames, size, batched != 0);
}

SELIUM_ENTRYPOINT(tap, (resource, channel), (u32, frames), (u32, size), (u32, batched)) {
  selium::Channel given = adopt(channel);
  auto reader = given.reader();
  if (!reader) co_return fail("reader open failed", reader.error(), 1);
  ready(0);
  co_return co_await readFrames(std::move(*reader), frames, size, batched != 0);
}

SELIUM_ENTRYPOINT(source, (resource, channel), (u32, frames), (u32, size), (u32, batch),
                  (u32, writer)) {
  selium::Channel given = adopt(channel);
  auto out = given.writer();
  if (!out) co_return fail("writer open failed", out.error(), 1);
  std::vector<uint8_t> frame(std::max<uint32_t>(size, 8));
  store32(frame.data(), writer);
  for (uint32_t j = 8; j < size; ++j) frame[j] = static_cast<uint8_t>(j);
  if (batch <= 1) {
    for (uint32_t i = 0; i < frames; ++i) {
      store32(frame.data() + 4, i);
      auto written = co_await out->write(std::span<const uint8_t>(frame));
      if (!written) co_return fail("write failed", written.error(), 3);
    }
    co_return 0;
  }
  selium::Batch frames_out;
  for (uint32_t i = 0; i < frames;) {
    frames_out.clear();
    for (uint32_t k = 0; k < batch && i < frames; ++k, ++i) {
      store32(frame.data() + 4, i);
      frames_out.add(std::span<const uint8_t>(frame));
    }
    auto written = co_await out->write(frames_out);
    if (!written) co_return fail("write failed", written.error(), 3);
  }
  co_return 0;
}

SELIUM_ENTRYPOINT(echo_server, (u32, rounds), (u32, size)) {
  auto requests = selium::Channel::create(4096);
  auto replies = selium::Channel::create(4096);
  if (!requests || !replies) {
    co_return fail("create failed", requests ? replies.error() : requests.error(), 1);
  }
  auto in = requests->reader();
  auto out = replies->writer();
  if (!in || !out) co_return fail("open failed", in ? out.error() : in.error(), 1);
  auto request_id = requests->share();
  auto reply_id = replies->share();
  if (!request_id || !reply_id) {
    co_return fail("share failed", request_id ? reply_id.error() : request_id.error(), 1);
  }
  kLog.info("ready", {{"requests", static_cast<uint64_t>(*request_id)},
                      {"replies", static_cast<uint64_t>(*reply_id)}});
  std::vector<uint8_t> frame(size);
  for (uint32_t i = 0; i < rounds; ++i) {
    auto length = co_await in->read(frame);
    if (!length) co_return fail("read failed", length.error(), 1);
    auto written = co_await out->write(std::span<const uint8_t>(frame.data(), *length));
    if (!written) co_return fail("write failed", written.error(), 3);
  }
  co_return 0;
}

SELIUM_ENTRYPOINT(echo_client, (resource, requests), (resource, replies), (u32, rounds),
                  (u32, warmup), (u32, size)) {
  selium::Channel request_channel = adopt(requests);
  selium::Channel reply_channel = adopt(replies);
  auto out = request_channel.writer();
  auto in = reply_channel.reader();
  if (!in || !out) co_return fail("open failed", in ? out.error() : in.error(), 1);
  std::vector<uint8_t> request(std::max<uint32_t>(size, 8), 7);
  std::vector<uint8_t> reply(request.size());
  std::vector<uint32_t> samples;
  samples.reserve(rounds);
  for (uint32_t i = 0; i < rounds; ++i) {
    store32(request.data(), i);
    auto start = selium::now(selium::Clock::Monotonic);
    if (!start) co_return fail("clock failed", start.error(), 1);
    auto written = co_await out->write(std::span<const uint8_t>(request));
    if (!written) co_return fail("write failed", written.error(), 3);
    auto length = co_await in->read(reply);
    if (!length) co_return fail("read failed", length.error(), 1);
    auto end = selium::now(selium::Clock::Monotonic);
    if (!end) co_return fail("clock failed", end.error(), 1);
    if (*length != request.size() || std::memcmp(reply.data(), request.data(), *length) != 0) {
      kLog.error("wrong reply", {{"round", i}});
      co_return 4;
    }
    if (i >= warmup) samples.push_back(static_cast<uint32_t>((*end - *start).count()));
  }
  if (samples.empty()) co_return 0;
  uint64_t total = 0;
  for (uint32_t s : samples) total += s;
  std::sort(samples.begin(), samples.end());
  std::size_t n = samples.size();
  kLog.info("rtt", {{"rounds", static_cast<uint64_t>(n)},
                    {"p50", samples[n / 2]},
                    {"p99", samples[std::min(n - 1, n * 99 / 100)]},
                    {"max", samples[n - 1]},
                    {"mean", total / n}});
  co_return 0;
}
