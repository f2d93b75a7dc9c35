// The Switchboard's wire format (schemas/switchboard.fbs) as plain C++ values, with the encoder
// and the decoder both sides use. Pure C++ over bytes: built into the guest SDK, the Switchboard
// module, and natively for tests and fuzzing. docs/switchboard.md describes the protocol.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace selium::switchboard {

using EndpointId = uint32_t;
// A message type's identity: endpoints are wired only when these match.
using SchemaId = std::array<uint8_t, 16>;

enum class EndpointKind : uint8_t {
  Publisher = 0,
  Subscriber = 1,
  Fanout = 2,
  Server = 3,
  Client = 4
};

// "publisher", "subscriber", ...; "unknown" outside the enum.
std::string_view kindName(EndpointKind kind) noexcept;
// 32 lowercase hex digits.
std::string schemaHex(const SchemaId& schema);

// The singletons the Switchboard registers: a writer of its request channel, and its lifetime
// (clients watch it so that calls waiting on the Switchboard fail once it has ended).
inline constexpr std::string_view kSingletonName = "selium.switchboard";
inline constexpr std::string_view kLifetimeSingletonName = "selium.switchboard.lifetime";

// Limits every peer is held to (the decoder refuses more; the Switchboard refuses endpoints that
// would make an update exceed them).
inline constexpr std::size_t kMaxNameBytes = 256;
inline constexpr std::size_t kMaxLinks = 1024;  // per direction of one WiringUpdate
inline constexpr std::size_t kMaxErrorBytes = 4096;
inline constexpr std::size_t kMaxMessageBytes = 64 * 1024;

namespace wire {

struct Register {
  EndpointKind kind = EndpointKind::Publisher;
  std::string name;
  SchemaId schema{};
  std::optional<SchemaId> reply_schema;  // Server and Client only
  uint64_t channel = 0;                  // the endpoint's own channel (0 for a Subscriber)
  uint64_t lifetime = 0;                 // the registering process's LIFETIME shared id
};
struct Unregister {
  EndpointId endpoint_id = 0;
  uint64_t token = 0;  // the endpoint's updates channel (its RegisterRequest's reply_channel)
};
struct Connect {
  EndpointId from = 0;
  EndpointId to = 0;
};
struct Registered {
  EndpointId endpoint_id = 0;
};
struct Ok {};
struct Failure {
  std::string message;
};
struct Link {
  EndpointId peer = 0;
  uint64_t channel = 0;  // outbound: a channel to write to (0: the endpoint's own)
  uint64_t reader = 0;   // inbound: a reader to attach
  bool operator==(const Link&) const = default;
};
struct Wiring {
  EndpointId endpoint_id = 0;
  uint64_t generation = 0;
  std::vector<Link> inbound;
  std::vector<Link> outbound;
  std::vector<Link> retired;  // Subscriber: cursors of producers that went (read until empty)
};

using Payload = std::variant<Register, Unregister, Connect, Registered, Ok, Failure, Wiring>;

struct Message {
  uint64_t request_id = 0;
  uint64_t reply_channel = 0;
  Payload payload;
};

// A FlatBuffer with the "SBSW" identifier. Strings and lists are cut to the limits above.
std::vector<uint8_t> encode(const Message& message);

// What decode() found. `envelope` is true when request_id and reply_channel could be read (a
// reply is possible even if the payload was refused); `error` names the problem, "" when
// `message` holds a valid message.
struct Decoded {
  bool envelope = false;
  Message message;
  std::string error;
  bool ok() const noexcept { return error.empty(); }
};
Decoded decode(std::span<const uint8_t> bytes);

}  // namespace wire

// RPC data frames (Client -> Server request, Server -> Client reply). Little-endian headers:
//   request: u64 the client's reply channel (its shared id), u64 correlation id, then the payload
//   reply:   u64 correlation id, u32 status (0 ok, 1 error: the payload is a UTF-8 message)
// The reply channel's shared id is the client's credential: the server routes a reply only to a
// channel the Switchboard wired to it, and only the client (and the Switchboard) know that id, so
// a client cannot have replies sent to another one.
namespace rpc {
inline constexpr std::size_t kRequestHeader = 16;
inline constexpr std::size_t kReplyHeader = 12;
enum class Status : uint32_t { Ok = 0, Error = 1 };

struct RequestHead {
  uint64_t reply = 0;  // the client's reply channel: a shared id, 1 to 2^63 - 1
  uint64_t correlation = 0;
};
struct ReplyHead {
  uint64_t correlation = 0;
  Status status = Status::Ok;
};

std::vector<uint8_t> encodeRequest(RequestHead head, std::span<const uint8_t> payload);
std::vector<uint8_t> encodeReply(ReplyHead head, std::span<const uint8_t> payload);
// The header, or nothing when the frame is too short or a field is out of range.
std::optional<RequestHead> decodeRequest(std::span<const uint8_t> frame) noexcept;
std::optional<ReplyHead> decodeReply(std::span<const uint8_t> frame) noexcept;
}  // namespace rpc

}  // namespace selium::switchboard
