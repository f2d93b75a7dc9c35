// The smallest useful guest: proves the wasm32 toolchain (clang-14, wasi-libc, libc++ headers)
// produces modules the engine runs. It imports nothing.
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <span>

extern "C" int32_t add(int32_t a, int32_t b) { return a + b; }

// Sum of 1..n through wasi-libc's malloc and libc++ algorithms, so both are really linked.
extern "C" int32_t sum_to(int32_t n, int32_t /*unused*/) {
  if (n <= 0) return 0;
  auto* raw = static_cast<int32_t*>(std::malloc(sizeof(int32_t) * static_cast<std::size_t>(n)));
  if (raw == nullptr) return -1;
  std::span<int32_t> values(raw, static_cast<std::size_t>(n));
  std::iota(values.begin(), values.end(), 1);
  int32_t sum = std::accumulate(values.begin(), values.end(), 0);
  std::free(raw);
  return sum;
}
