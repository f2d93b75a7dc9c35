// A process that keeps logging, for log-following tests. Needs TimeRead. Target "ticker".
//   start(u32 period_ms, utf8 label)  Info "tick" {n, label} at once and then every period_ms,
//                                     n = 1, 2, ..., until stopped. Status 1 if a sleep fails.
#include <chrono>
#include <cstdint>

#include <selium/selium.hpp>

namespace {
constexpr selium::log::Logger kLog{"ticker"};
}  // namespace

SELIUM_ENTRYPOINT(start, (u32, period_ms), (utf8, label)) {
  for (uint64_t n = 1;; ++n) {
    kLog.info("tick", {{"n", n}, {"label", label}});
    if (!co_await selium::sleep(std::chrono::milliseconds(period_ms))) co_return 1;
  }
}
