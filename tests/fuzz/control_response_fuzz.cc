// Fuzz target for the control plane's response decoder: what the `selium` CLI reads from a
// server it connected to (untrusted bytes). Beyond "no crash": a decoded response re-encodes to
// one that decodes the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "control/protocol.h"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace selium::control;
  const std::span<const uint8_t> bytes(data, size);
  FrameDecoder frames(kMaxResponseBytes);
  frames.push(bytes);
  while (auto f = frames.next()) (void)decodeResponse(*f);

  auto decoded = decodeResponse(bytes);
  if (!decoded) {
    check(!decoded.error().empty());
    return 0;
  }
  auto again = decodeResponse(encodeResponse(*decoded));
  check(again.ok() && *again == *decoded);
  return 0;
}
