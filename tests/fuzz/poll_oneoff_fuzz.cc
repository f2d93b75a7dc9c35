// Fuzz target for WASI poll_oneoff, whose subscriptions are untrusted guest bytes: the call goes
// through the real dispatcher against a small guest memory and must stay inside it, answer with
// an errno, and write nothing but its events and their count.
//
// Input: u8 flags (bit 0: TimeRead granted), u32 in, u32 out, u32 nsubscriptions, u32 nevents
// (little-endian), then the first bytes of guest memory (the rest is zero).
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "kernel/drivers/wasi/wasi_driver.h"
#include "kernel/hostcall.h"
#include "selium/abi/wasi.h"
#include "util/log.h"

namespace {

class NoHost : public selium::kernel::ProcessHost {
 public:
  void wake(selium::kernel::ProcessId, int32_t) override {}
};

uint32_t u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace selium::kernel;
  constexpr std::size_t kHeader = 17;
  constexpr std::size_t kMemory = 4096;
  if (size < kHeader) return 0;
  static bool quiet = [] {
    selium::log::configure(selium::log::Format::Text, selium::log::Filter{},
                           [](std::string_view) {});
    return true;
  }();
  (void)quiet;
  bool time_read = (data[0] & 1) != 0;
  uint32_t in = u32(data + 1), out = u32(data + 5), n = u32(data + 9), nevents = u32(data + 13);
  std::vector<uint8_t> memory(kMemory, 0);
  std::memcpy(memory.data(), data + kHeader, std::min(size - kHeader, kMemory));
  const std::vector<uint8_t> before = memory;

  boost::asio::io_context loop;
  NoHost host;
  ProcessConfig config;
  config.id = 1;
  config.module = "fuzz.wasm";
  if (time_read) config.capabilities.add(Capability::TimeRead);
  Process process(std::move(config), loop, host, [](const Process&, const GuestLogRecord&) {});
  const HostcallSpec* spec = findHostcall(SELIUM_WASI_IMPORT_MODULE, "poll_oneoff");
  if (spec == nullptr) std::abort();
  WasmValue args[4];
  args[0].i32 = static_cast<int32_t>(in);
  args[1].i32 = static_cast<int32_t>(out);
  args[2].i32 = static_cast<int32_t>(n);
  args[3].i32 = static_cast<int32_t>(nevents);
  CallContext ctx{process, memory};
  int64_t result = dispatchHostcall(*spec, ctx, args);

  if (result != SELIUM_WASI_ERRNO_SUCCESS) {
    if (result != SELIUM_WASI_ERRNO_FAULT && result != SELIUM_WASI_ERRNO_INVAL &&
        result != SELIUM_WASI_ERRNO_NOTSUP) {
      std::abort();
    }
    if (memory != before) std::abort();  // a refused call has no effect
    return 0;
  }
  // Success: everything it read and wrote lies inside memory, `count` events in `out`, one per
  // ready subscription, in the subscriptions' order; nothing else changed.
  if (n == 0 || uint64_t{in} + uint64_t{n} * SELIUM_WASI_SUBSCRIPTION_SIZE > kMemory ||
      uint64_t{out} + uint64_t{n} * SELIUM_WASI_EVENT_SIZE > kMemory ||
      uint64_t{nevents} + 4 > kMemory) {
    std::abort();
  }
  uint32_t count = u32(memory.data() + nevents);
  if (count == 0 || count > n) std::abort();
  std::vector<bool> written(kMemory, false);
  for (std::size_t i = 0; i < std::size_t{count} * SELIUM_WASI_EVENT_SIZE; ++i) {
    written[out + i] = true;
  }
  for (std::size_t i = 0; i < 4; ++i) written[nevents + i] = true;
  for (std::size_t i = 0; i < kMemory; ++i) {
    if (!written[i] && memory[i] != before[i]) std::abort();
  }
  // The count is stored last: a guest that points it into its own events gets them clobbered.
  if (nevents < out + std::size_t{count} * SELIUM_WASI_EVENT_SIZE && nevents + 4 > out) return 0;
  std::size_t next = 0;  // the subscription the next event may come from
  for (uint32_t e = 0; e < count; ++e) {
    const uint8_t* event = memory.data() + out + e * SELIUM_WASI_EVENT_SIZE;
    uint16_t error;
    std::memcpy(&error, event + 8, 2);
    uint8_t type = event[10];
    if (type > SELIUM_WASI_EVENTTYPE_FD_WRITE) std::abort();
    if (error != 0 && error != SELIUM_WASI_ERRNO_BADF && error != SELIUM_WASI_ERRNO_INVAL &&
        error != SELIUM_WASI_ERRNO_NOTCAPABLE) {
      std::abort();
    }
    if (error == SELIUM_WASI_ERRNO_NOTCAPABLE && time_read) std::abort();
    // Its userdata and type are those of a later subscription (read from memory as it was).
    bool found = false;
    while (next < n && !found) {
      const uint8_t* s = before.data() + in + next * SELIUM_WASI_SUBSCRIPTION_SIZE;
      found = std::memcmp(s, event, 8) == 0 && s[8] == type;
      ++next;
    }
    if (!found) std::abort();
  }
  return 0;
}
