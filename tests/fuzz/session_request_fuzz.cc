// Fuzz target for session_create's request decoder (guest bytes). Beyond "no crash": a decoded
// request keeps every documented limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "kernel/capability.h"
#include "kernel/drivers/process/session_driver.h"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace selium::kernel;
  auto decoded = decodeSessionRequest(std::span<const uint8_t>(data, size));
  if (!decoded) {
    check(!decoded.error().message.empty());
    return 0;
  }
  std::size_t resources = 0;
  for (const EntitlementRequest& entitlement : *decoded) {
    check(entitlement.capability < kCapabilityCount);
    check(!entitlement.any || entitlement.resources.empty());
    resources += entitlement.resources.size();
  }
  check(resources <= SELIUM_SESSION_MAX_RESOURCES);
  return 0;
}
