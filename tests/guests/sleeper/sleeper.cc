// Timers and the executor under many pending wakers. Needs TimeRead. Target "sleeper".
//   start(u32 ms)      Info "sleeping" {ms, start_ns}; sleeps ms; Info "slept" {ms, elapsed_ns}
//                      (monotonic; elapsed_ns >= ms * 1e6 when the host is correct). Status 0.
//   concurrent(u32 n)  runs n tasks at once (whenAll); task i sleeps (n - i) ms, so the last one
//                      started wakes first. When all are done: Info "all done"
//                      {n, completed, elapsed_ns}: completed == n, elapsed_ns >= n ms. Status 0.
//   cancel(u32 ms)     races a one-hour sleep against a sleep of ms; the short one wins and the
//                      long one is cancelled, which closes its timer handle. Info "raced"
//                      {ms, winner: 1, elapsed_ns (>= ms ms, far below an hour)}. Status 0.
//                      When it ends, the process holds no timer handles.
// Failures: Error "sleep failed" / "clock failed" {error, message} and the status is the negative
// hostcall result (e.g. -2 = -PermissionDenied without TimeRead).
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <selium/selium.hpp>

namespace {

using namespace std::chrono_literals;

constexpr selium::log::Logger kLog{"sleeper"};

int32_t fail(std::string_view what, selium::Error error) {
  std::string message = selium::lastError();
  kLog.error(what, {{"error", error.name()}, {"message", message}});
  return error.result();
}

struct Progress {
  uint32_t completed = 0;
  int32_t status = 0;  // first failure
};

selium::Task<void> sleepFor(uint32_t ms, std::shared_ptr<Progress> progress) {
  selium::Result<void> slept = co_await selium::sleep(std::chrono::milliseconds(ms));
  if (!slept) {
    if (progress->status == 0) progress->status = fail("sleep failed", slept.error());
    co_return;
  }
  ++progress->completed;
}

}  // namespace

SELIUM_ENTRYPOINT(start, (u32, ms)) {
  auto start = selium::now(selium::Clock::Monotonic);
  if (!start) co_return fail("clock failed", start.error());
  kLog.info("sleeping", {{"ms", ms}, {"start_ns", start->count()}});

  selium::Result<void> slept = co_await selium::sleep(std::chrono::milliseconds(ms));
  if (!slept) co_return fail("sleep failed", slept.error());

  auto end = selium::now(selium::Clock::Monotonic);
  if (!end) co_return fail("clock failed", end.error());
  kLog.info("slept", {{"ms", ms}, {"elapsed_ns", (*end - *start).count()}});
  co_return 0;
}

SELIUM_ENTRYPOINT(concurrent, (u32, n)) {
  auto start = selium::now(selium::Clock::Monotonic);
  if (!start) co_return fail("clock failed", start.error());

  auto progress = std::make_shared<Progress>();
  std::vector<selium::Task<void>> tasks;
  tasks.reserve(n);
  for (uint32_t i = 0; i < n; ++i) tasks.push_back(sleepFor(n - i, progress));
  co_await selium::whenAll(std::move(tasks));
  if (progress->status != 0) co_return progress->status;

  auto end = selium::now(selium::Clock::Monotonic);
  if (!end) co_return fail("clock failed", end.error());
  kLog.info(
      "all done",
      {{"n", n}, {"completed", progress->completed}, {"elapsed_ns", (*end - *start).count()}});
  co_return 0;
}

SELIUM_ENTRYPOINT(cancel, (u32, ms)) {
  auto start = selium::now(selium::Clock::Monotonic);
  if (!start) co_return fail("clock failed", start.error());

  auto progress = std::make_shared<Progress>();
  std::vector<selium::Task<void>> tasks;
  tasks.push_back(sleepFor(3'600'000, progress));
  tasks.push_back(sleepFor(ms, progress));
  size_t winner = co_await selium::race(std::move(tasks));
  if (progress->status != 0) co_return progress->status;

  auto end = selium::now(selium::Clock::Monotonic);
  if (!end) co_return fail("clock failed", end.error());
  kLog.info("raced", {{"ms", ms}, {"winner", winner}, {"elapsed_ns", (*end - *start).count()}});
  co_return 0;
}
