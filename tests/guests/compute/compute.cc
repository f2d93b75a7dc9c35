// CPU-bound guest for scheduling, fairness and stop/terminate tests. Target "compute".
//   start(u32 iterations, u32 yield_every)
//       h = 2166136261; for i in [0, iterations): h = (h ^ i) * 16777619 (uint32 arithmetic,
//       FNV-1a over the counter), co_await yield() after every yield_every iterations (0: never).
//       Info "done" {iterations, yields, hash}; status 0. E.g. iterations 1000 gives
//       hash 2691360765 (0xa06ae7fd) and, with yield_every 100, yields 10.
//   spin()           Info "spinning", then loops forever without yielding or calling the host
//                    (stop/terminate tests: wait for the record, then stop the process).
//   spin_yielding()  Info "spinning", then loops forever, yielding every iteration.
//   mod128(u64 high, u64 low, u64 divisor)
//                    Info "mod128" {rest: ((high << 64) | low) % divisor} (compiler-rt's
//                    __umodti3, which needs the stack protector symbols the SDK provides).
#include <cstdint>

#include <selium/selium.hpp>

namespace {
constexpr selium::log::Logger kLog{"compute"};
// Written on every iteration so the compiler cannot drop the endless loops.
volatile uint32_t spinCounter = 0;
}  // namespace

SELIUM_ENTRYPOINT(start, (u32, iterations), (u32, yield_every)) {
  uint32_t hash = 2166136261u;
  uint32_t yields = 0;
  for (uint32_t i = 0; i < iterations; ++i) {
    hash = (hash ^ i) * 16777619u;
    if (yield_every != 0 && (i + 1) % yield_every == 0) {
      co_await selium::yield();
      ++yields;
    }
  }
  kLog.info("done", {{"iterations", iterations}, {"yields", yields}, {"hash", hash}});
  co_return 0;
}

SELIUM_ENTRYPOINT(spin) {
  kLog.info("spinning");
  for (;;) spinCounter = spinCounter + 1;
  co_return 0;
}

SELIUM_ENTRYPOINT(spin_yielding) {
  kLog.info("spinning");
  for (;;) {
    spinCounter = spinCounter + 1;
    co_await selium::yield();
  }
  co_return 0;
}

SELIUM_ENTRYPOINT(mod128, (u64, high), (u64, low), (u64, divisor)) {
  if (divisor == 0) co_return 1;
  unsigned __int128 value = (static_cast<unsigned __int128>(high) << 64) | low;
  kLog.info("mod128", {{"rest", static_cast<uint64_t>(value % divisor)}});
  co_return 0;
}
