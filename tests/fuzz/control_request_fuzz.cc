// Fuzz target for the control plane's request decoder (bytes from remote clients, read by the
// Remote Client module) and the frame splitter in front of it. Beyond "no crash": a decoded
// request keeps every documented bound and re-encodes to a request that decodes the same.
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

  // As a stream: frames split at an arbitrary point, each decoded.
  FrameDecoder frames(kMaxRequestBytes);
  frames.push(bytes.first(size / 2));
  frames.push(bytes.subspan(size / 2));
  while (auto f = frames.next()) check(f->size() <= kMaxRequestBytes);

  auto decoded = decodeRequest(bytes);
  if (const RequestError* error = std::get_if<RequestError>(&decoded)) {
    check(!error->message.empty());
    return 0;
  }
  const Request& request = std::get<Request>(decoded);
  if (const auto* start = std::get_if<StartRequest>(&request.body)) {
    check(!start->module.empty() && start->module.size() <= kMaxTextBytes);
    check(validUtf8(start->module) && validUtf8(start->entrypoint) && validUtf8(start->log_uri));
    check(start->capabilities.size() <= kMaxCapabilities);
    check(start->args.size() <= kMaxArgs);
    for (const Arg& arg : start->args) {
      check(static_cast<uint8_t>(arg.kind) <= static_cast<uint8_t>(ArgKind::Resource));
      if (arg.kind == ArgKind::Resource) check(arg.shared_id > 0);
    }
  }
  if (const auto* create = std::get_if<ChannelCreateRequest>(&request.body)) {
    check(create->capacity > 0 && create->capacity <= kMaxChannelCapacity);
  }
  auto again = decodeRequest(encodeRequest(request));
  const Request* same = std::get_if<Request>(&again);
  check(same != nullptr);
  // NaN payloads compare unequal; compare the encodings instead.
  check(encodeRequest(*same) == encodeRequest(request));
  return 0;
}
