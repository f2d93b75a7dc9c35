// Fuzz target for Atlas messages (schemas/atlas.fbs) as the service and its clients decode them:
// every frame either decodes or is refused with a reason; what decodes re-encodes to the same
// message, carries canonical URIs, and the store answers it with a reply to the same request.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "selium/atlas_protocol.hpp"
#include "store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace selium;
  using namespace selium::atlas;
  static Store store(StoreLimits{1024, 64, 64, 16});
  std::vector<uint8_t> shifted(size + 1);
  if (size > 0) std::copy(data, data + size, shifted.begin() + 1);
  for (std::span<const uint8_t> bytes :
       {std::span<const uint8_t>(data, size), std::span<const uint8_t>(shifted).subspan(1)}) {
    for (std::size_t limit : {kMaxRequestBytes, kMaxReplyBytes}) {
      Decoded decoded = decode(bytes, limit);
      if (decoded.index() == 1) {
        const DecodeFailure& failure = std::get<1>(decoded);
        if (failure.message.empty() || failure.code == 0) std::abort();
        continue;
      }
      const Message& m = std::get<0>(decoded);
      // Only an Insert may ask for no reply (the runtime publishing a log_uri).
      if (isRequest(m.kind) && m.replyChannel == 0 && m.kind != MessageKind::Insert) std::abort();
      if (m.uri) {
        UriResult again = Uri::parse(m.uri->toString());
        if (!again.ok() || !(*again == *m.uri)) std::abort();
      }
      std::vector<uint8_t> encoded = encode(m);
      Decoded round = decode(encoded, SIZE_MAX);
      if (round.index() != 0) std::abort();
      const Message& r = std::get<0>(round);
      if (r.kind != m.kind || r.requestId != m.requestId || r.replyChannel != m.replyChannel ||
          r.id != m.id || r.found != m.found || r.lifetime != m.lifetime || r.ids != m.ids ||
          r.message != m.message || r.code != m.code || r.pattern != m.pattern ||
          r.uri.has_value() != m.uri.has_value() || (r.uri && !(*r.uri == *m.uri))) {
        std::abort();
      }
      if (isRequest(m.kind)) {
        Message reply = store.handle(m, m.lifetime % 4 + 1);
        if (reply.requestId != m.requestId || isRequest(reply.kind)) std::abort();
        if (store.size() > 1024) std::abort();
      }
    }
  }
  return 0;
}
