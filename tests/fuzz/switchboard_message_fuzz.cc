// Fuzzes the Switchboard's decoders of untrusted bytes: control-plane messages and RPC frame
// headers. A decoded message must re-encode and decode to the same payload kind.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "selium/switchboard_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace selium::switchboard;
  std::span<const uint8_t> bytes(data, size);
  wire::Decoded decoded = wire::decode(bytes);
  if (decoded.ok()) {
    wire::Decoded again = wire::decode(wire::encode(decoded.message));
    if (!again.ok() || again.message.payload.index() != decoded.message.payload.index() ||
        again.message.request_id != decoded.message.request_id) {
      std::abort();
    }
  } else if (decoded.error.empty()) {
    std::abort();
  }
  (void)rpc::decodeRequest(bytes);
  (void)rpc::decodeReply(bytes);
  return 0;
}
