// The control-plane wire protocol (schemas/control.fbs, docs/control-plane.md): length-prefixed
// frames and the Request / Response messages as plain structs, encoded and decoded here once for
// the CLI, the tests and the Remote Client guest (this file builds natively and for wasm32, with
// or without exceptions: nothing here throws). Decoders see untrusted bytes: they verify the
// FlatBuffer, bound every field and name the field in their errors (fuzzed by
// tests/fuzz/control_request_fuzz.cc and control_response_fuzz.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "selium/abi/entrypoints.h"

namespace selium::control {

// Bounds. A request frame is at most kMaxRequestBytes; a response (a process list) at most
// kMaxResponseBytes; a payload frame on a publish / subscribe / logs stream at most
// kMaxPayloadBytes.
inline constexpr std::size_t kMaxRequestBytes = 1u << 20;
inline constexpr std::size_t kMaxResponseBytes = 4u << 20;
inline constexpr std::size_t kMaxPayloadBytes = 1u << 20;
inline constexpr std::size_t kMaxTextBytes = 4096;  // module, entrypoint, log_uri
inline constexpr std::size_t kMaxArgs = 64;
inline constexpr std::size_t kMaxCapabilities = 64;
inline constexpr uint32_t kMaxChannelCapacity = 16u << 20;

// A value or an error message naming the problem and the input.
template <typename T>
class Outcome {
 public:
  Outcome(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  static Outcome failure(std::string message) {
    Outcome o;
    o.error_ = std::move(message);
    return o;
  }
  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  const std::string& error() const { return error_; }

 private:
  Outcome() = default;
  std::optional<T> value_;
  std::string error_;
};

// ---- Framing ---------------------------------------------------------------------------------

// Appends [u32 LE length][payload] to `out`.
void appendFrame(std::vector<uint8_t>& out, std::span<const uint8_t> payload);
std::vector<uint8_t> frame(std::span<const uint8_t> payload);

// Splits a byte stream into frames. Holds at most one frame's bytes (plus the piece being
// pushed); a frame announced longer than `max_frame` is an error and the decoder stays failed.
class FrameDecoder {
 public:
  explicit FrameDecoder(std::size_t max_frame) : max_frame_(max_frame) {}
  // Adds bytes from the stream.
  void push(std::span<const uint8_t> bytes);
  // The next complete frame, or nullopt (more bytes needed, or failed()).
  std::optional<std::vector<uint8_t>> next();
  // A frame announced more than max_frame bytes: what error() says.
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  // Bytes held that do not yet form a frame (a stream that ends here ended mid-frame).
  std::size_t pending() const { return buffer_.size() - start_; }

 private:
  std::size_t max_frame_;
  std::vector<uint8_t> buffer_;
  std::size_t start_ = 0;  // bytes of buffer_ already handed out
  std::string error_;
};

// ---- Messages --------------------------------------------------------------------------------

// Argument kinds: the module-spec parameter kinds, numbered and named as the guest ABI has them
// (SELIUM_PARAM_KINDS, selium/abi/entrypoints.h); the wire carries the number.
enum class ArgKind : uint8_t {
  I8 = SELIUM_PARAM_KIND_i8,
  U8 = SELIUM_PARAM_KIND_u8,
  I16 = SELIUM_PARAM_KIND_i16,
  U16 = SELIUM_PARAM_KIND_u16,
  I32 = SELIUM_PARAM_KIND_i32,
  U32 = SELIUM_PARAM_KIND_u32,
  I64 = SELIUM_PARAM_KIND_i64,
  U64 = SELIUM_PARAM_KIND_u64,
  F32 = SELIUM_PARAM_KIND_f32,
  F64 = SELIUM_PARAM_KIND_f64,
  Utf8 = SELIUM_PARAM_KIND_utf8,
  Buffer = SELIUM_PARAM_KIND_buffer,
  Hex = SELIUM_PARAM_KIND_hex,
  Resource = SELIUM_PARAM_KIND_resource,
};
inline constexpr uint8_t kArgKindCount = SELIUM_PARAM_KIND_COUNT;
static_assert(static_cast<uint8_t>(ArgKind::Resource) + 1 == kArgKindCount,
              "every kind of SELIUM_PARAM_KINDS needs an ArgKind");

// The kind's name in module specs and the ABI ("i8" … "resource"); "unknown" out of range.
std::string_view argKindName(ArgKind kind);
struct Arg {
  ArgKind kind = ArgKind::U32;
  int64_t int_value = 0;       // I8..I64
  uint64_t uint_value = 0;     // U8..U64
  float f32 = 0;               // F32
  double f64 = 0;              // F64
  std::vector<uint8_t> bytes;  // Utf8, Buffer, Hex
  uint64_t shared_id = 0;      // Resource: a channel's shared id
  friend bool operator==(const Arg&, const Arg&) = default;
};

struct StartRequest {
  std::string module;
  std::string entrypoint;  // empty: "start"
  std::vector<uint32_t> capabilities;
  std::vector<Arg> args;
  std::string log_uri;
  bool attach = false;  // the log records follow the StartResponse on the same stream
  friend bool operator==(const StartRequest&, const StartRequest&) = default;
};
struct StopRequest {
  uint64_t pid = 0;
  friend bool operator==(const StopRequest&, const StopRequest&) = default;
};
struct ListRequest {
  friend bool operator==(const ListRequest&, const ListRequest&) = default;
};
struct LogsRequest {
  uint64_t pid = 0;
  bool follow = false;
  friend bool operator==(const LogsRequest&, const LogsRequest&) = default;
};
struct ChannelCreateRequest {
  uint32_t capacity = 0;
  friend bool operator==(const ChannelCreateRequest&, const ChannelCreateRequest&) = default;
};
struct ChannelDeleteRequest {
  uint64_t channel = 0;
  friend bool operator==(const ChannelDeleteRequest&, const ChannelDeleteRequest&) = default;
};
struct PublishRequest {
  uint64_t channel = 0;
  friend bool operator==(const PublishRequest&, const PublishRequest&) = default;
};
enum class Strength : uint8_t { Strong = 0, Weak = 1 };
struct SubscribeRequest {
  uint64_t channel = 0;
  Strength strength = Strength::Strong;
  friend bool operator==(const SubscribeRequest&, const SubscribeRequest&) = default;
};

using RequestBody =
    std::variant<StartRequest, StopRequest, ListRequest, LogsRequest, ChannelCreateRequest,
                 ChannelDeleteRequest, PublishRequest, SubscribeRequest>;
struct Request {
  uint64_t request_id = 0;
  RequestBody body;
  friend bool operator==(const Request&, const Request&) = default;
};
// "start", "stop", ... for logs and errors.
std::string_view requestName(const RequestBody& body);

struct OkResponse {
  friend bool operator==(const OkResponse&, const OkResponse&) = default;
};
struct ErrorResponse {
  std::string message;
  friend bool operator==(const ErrorResponse&, const ErrorResponse&) = default;
};
struct StartResponse {
  uint64_t pid = 0;
  friend bool operator==(const StartResponse&, const StartResponse&) = default;
};
enum class ProcessState : uint8_t { Running = 0, Stopping = 1 };
struct ProcessInfo {
  uint64_t pid = 0;
  std::string module;
  std::string entrypoint;
  ProcessState state = ProcessState::Running;
  uint64_t uptime_ms = 0;
  std::string started_by;
  std::vector<uint32_t> capabilities;
  std::string log_uri;
  friend bool operator==(const ProcessInfo&, const ProcessInfo&) = default;
};
struct ListResponse {
  std::vector<ProcessInfo> processes;
  friend bool operator==(const ListResponse&, const ListResponse&) = default;
};
struct ChannelCreateResponse {
  uint64_t channel = 0;
  friend bool operator==(const ChannelCreateResponse&, const ChannelCreateResponse&) = default;
};

using ResponseBody =
    std::variant<OkResponse, ErrorResponse, StartResponse, ListResponse, ChannelCreateResponse>;
struct Response {
  uint64_t request_id = 0;
  ResponseBody body;
  friend bool operator==(const Response&, const Response&) = default;
};

// The FlatBuffer (unframed). Encoding never fails; what it writes, decode accepts when the
// values are within the bounds above.
std::vector<uint8_t> encodeRequest(const Request& request);
std::vector<uint8_t> encodeResponse(const Response& response);

// A decoded request, or an error naming the field. The request id is also reported for a
// request that is otherwise malformed (0 if even that is unreadable), so the error reply can
// carry it.
struct RequestError {
  uint64_t request_id = 0;
  std::string message;
};
std::variant<Request, RequestError> decodeRequest(std::span<const uint8_t> bytes);
Outcome<Response> decodeResponse(std::span<const uint8_t> bytes);

// Shorthands for the server.
std::vector<uint8_t> errorFrame(uint64_t request_id, std::string message);
std::vector<uint8_t> responseFrame(const Response& response);

// Capability names (SELIUM_CAPABILITIES): "ChannelLifecycle" <-> 1. Parsing also takes the
// kebab-case form ("channel-lifecycle"), any case.
std::optional<uint32_t> parseCapability(std::string_view name);
std::string_view capabilityName(uint32_t id);

// Whether `text` is valid UTF-8 (no overlong forms, no surrogates).
bool validUtf8(std::string_view text);

}  // namespace selium::control
