// log_bench's guest: log records as fast as a guest can write them, with and without a process
// following its log stream. Needs TimeRead (follow: also ProcessLifecycle, ChannelLifecycle,
// ChannelReader, ChannelWriter).
//
//   burst(u32 count)
//       logs Info "burst start" {t0}, then `count` Info records "tick" {i, name: "bench", ok:
//       true} as fast as it can, then Info "burst done" {records, t1}; t0 and t1 are the
//       monotonic clock in nanoseconds before the first tick and after the last. Target "bench".
//       Status 0.
//   burst_after_go(resource go, u32 count)
//       waits for one frame on its reader `go`, then does what burst does.
//   follow(u32 count)
//       starts burst_after_go(go, count) from bench_log.wasm as its child, opens the child's log
//       stream (a weak reader), sends the go frame and reads every record until EndOfStream,
//       counting them (not decoding them): Info "followed" {received, lost}. Status 0, or 1 with
//       Error "<what> failed".
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <selium/selium.hpp>

namespace {

constexpr selium::log::Logger kLog{"bench"};

int32_t fail(std::string_view what, selium::Error error) {
  std::string message = selium::lastError();
  kLog.error(what, {{"error", error.name()}, {"message", message}});
  return 1;
}

selium::Task<int32_t> burstOf(uint32_t count) {
  auto t0 = selium::now(selium::Clock::Monotonic);
  if (!t0) co_return fail("clock failed", t0.error());
  kLog.info("burst start", {{"t0", t0->count()}});
  for (uint32_t i = 0; i < count; ++i) {
    kLog.info("tick", {{"i", i}, {"name", "bench"}, {"ok", true}});
  }
  auto t1 = selium::now(selium::Clock::Monotonic);
  if (!t1) co_return fail("clock failed", t1.error());
  kLog.info("burst done", {{"records", count}, {"t1", t1->count()}});
  co_return 0;
}

}  // namespace

SELIUM_ENTRYPOINT(burst, (u32, count)) { co_return co_await burstOf(count); }

SELIUM_ENTRYPOINT(burst_after_go, (resource, go), (u32, count)) {
  selium::Reader reader(selium::Handle(static_cast<selium_handle_t>(go.value)));
  auto frame = co_await reader.read();
  if (!frame) co_return fail("go read failed", frame.error());
  co_return co_await burstOf(count);
}

SELIUM_ENTRYPOINT(follow, (u32, count)) {
  auto channel = selium::Channel::create(256);
  if (!channel) co_return fail("create failed", channel.error());
  auto go = channel->reader();
  auto writer = channel->writer();
  if (!go || !writer) co_return fail("open failed", go ? writer.error() : go.error());
  auto child = selium::ProcessBuilder("bench_log.wasm")
                   .entrypoint("burst_after_go")
                   .capability(SELIUM_CAP_ChannelReader)
                   .capability(SELIUM_CAP_TimeRead)
                   .arg(selium::Arg::resource(go->handle()))
                   .arg(selium::Arg::u32(count))
                   .start();
  if (!child) co_return fail("start failed", child.error());
  // The stream exists once the child has started: NotFound until then.
  selium::Result<selium::Reader> logs = child->logs();
  while (!logs && logs.error() == selium::ErrorCode::NotFound) {
    co_await selium::yield();
    logs = child->logs();
  }
  if (!logs) co_return fail("logs failed", logs.error());
  if (auto sent = co_await writer->write(std::string_view("go")); !sent) {
    co_return fail("go write failed", sent.error());
  }
  uint64_t received = 0;
  uint64_t lost = 0;
  std::vector<uint8_t> buffer(256 * 1024);
  for (;;) {
    auto batch = co_await logs->readBatch(buffer);
    if (!batch) {
      if (batch.error() == selium::ErrorCode::Lagged) {
        lost += logs->lost();
        continue;
      }
      if (batch.error() == selium::ErrorCode::EndOfStream) break;
      co_return fail("log read failed", batch.error());
    }
    received += batch->count();
  }
  auto exit = co_await child->exit();
  if (!exit) co_return fail("wait failed", exit.error());
  kLog.info("followed", {{"received", received}, {"lost", lost}});
  co_return 0;
}
