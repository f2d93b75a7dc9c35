// The Atlas wire protocol (schemas/atlas.fbs) as plain C++: encode and decode, with no
// hostcalls, so the same code serves the Atlas guest, its SDK client, native tests and the fuzz
// target. docs/atlas.md describes the messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "selium/uri.hpp"

namespace selium::atlas {

// The singleton names the service registers: its request channel and its LIFETIME handle
// (clients watch the latter, so a call fails instead of hanging once the service has ended).
inline constexpr std::string_view kSingletonName = "selium.atlas";
inline constexpr std::string_view kLifetimeSingletonName = "selium.atlas.lifetime";
// The FlatBuffers file identifier every Atlas message carries.
inline constexpr char kFileIdentifier[] = "ATLS";

// Largest request the service reads, and largest reply it writes (a LookupResponse of
// kMaxLookupIds ids, or an error message of kMaxErrorBytes, fits well within it).
inline constexpr std::size_t kMaxRequestBytes = 16 * 1024;
inline constexpr std::size_t kMaxReplyBytes = 17 * 1024;
inline constexpr std::size_t kMaxLookupIds = 2048;
inline constexpr std::size_t kMaxErrorBytes = 1024;

// The union's tags (the Rust Atlas's numbers).
enum class MessageKind : uint8_t {
  Get = 1,
  Insert = 2,
  Remove = 3,
  Lookup = 4,
  GetResponse = 5,
  RemoveResponse = 6,
  LookupResponse = 7,
  Ok = 8,
  Error = 9,
};

bool isRequest(MessageKind kind) noexcept;
std::string_view kindName(MessageKind kind) noexcept;

// One message. Which fields mean something depends on `kind` (see schemas/atlas.fbs).
struct Message {
  uint64_t requestId = 0;
  MessageKind kind = MessageKind::Ok;
  std::optional<Uri> uri;     // Get, Insert, Remove
  std::string pattern;        // Lookup: URI text, parsed by the service
  uint64_t id = 0;            // Insert; GetResponse, RemoveResponse (0: not found)
  bool found = false;         // GetResponse, RemoveResponse
  uint64_t replyChannel = 0;  // requests: shared id of the requester's reply channel
  uint64_t lifetime = 0;      // Insert, Remove: shared id of the requester's LIFETIME handle
  std::vector<uint64_t> ids;  // LookupResponse
  std::string message;        // Error: names the problem (cut to kMaxErrorBytes)
  uint32_t code = 0;          // Error: SELIUM_ERR_* code
};

// Why bytes are not a usable message. requestId and replyChannel are what the frame said, when
// it is an Atlas message whose header could still be read (0 otherwise): the service answers
// such a request with an ErrorResponse instead of leaving the client waiting.
struct DecodeFailure {
  std::string message;
  uint32_t code = 0;  // SELIUM_ERR_InvalidArgument or SELIUM_ERR_TooLarge
  uint64_t requestId = 0;
  uint64_t replyChannel = 0;
};

using Decoded = std::variant<Message, DecodeFailure>;

// Decodes one frame: the identifier, the FlatBuffers verifier, the union tag, then every field
// (URIs must be canonical: Uri::fromParts). Frames longer than `max_bytes` are refused.
Decoded decode(std::span<const uint8_t> bytes, std::size_t max_bytes);

// Encodes a message (with the identifier). A Uri's empty path is written as no path.
std::vector<uint8_t> encode(const Message& message);

// Shorthands for building messages.
Message errorReply(uint64_t request_id, uint32_t code, std::string message);

}  // namespace selium::atlas
