#include "control/protocol.h"

#include <flatbuffers/flatbuffers.h>

#include <charconv>
#include <cstring>

#include "control_generated.h"
#include "selium/abi/capabilities.h"

namespace selium::control {

// schemas/control.fbs numbers its ArgKind as the ABI does (encode and decode cast between them).
static_assert(static_cast<uint8_t>(wire::ArgKind::MAX) + 1 == kArgKindCount &&
              static_cast<uint8_t>(wire::ArgKind::Resource) ==
                  static_cast<uint8_t>(ArgKind::Resource));

namespace {

constexpr char kIdentifier[] = "RMCL";

std::string number(uint64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  (void)ec;
  return std::string(buf, end);
}

uint32_t readLe32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

std::string_view view(const flatbuffers::String* s) {
  return s == nullptr ? std::string_view() : std::string_view(s->data(), s->size());
}

// A bounded text field: at most kMaxTextBytes of UTF-8 without NUL; errors name `field`.
bool checkText(std::string_view text, std::string_view field, std::string& error) {
  if (text.size() > kMaxTextBytes) {
    error = std::string(field) + " is " + number(text.size()) + " bytes; at most " +
            number(kMaxTextBytes) + " are allowed";
    return false;
  }
  if (text.find('\0') != std::string_view::npos || !validUtf8(text)) {
    error = std::string(field) + " is not valid UTF-8 text";
    return false;
  }
  return true;
}

bool checkCapabilities(const flatbuffers::Vector<uint32_t>* in, std::vector<uint32_t>& out,
                       std::string& error) {
  if (in == nullptr) return true;
  if (in->size() > kMaxCapabilities) {
    error = "capabilities lists " + number(in->size()) + " entries; at most " +
            number(kMaxCapabilities) + " are allowed";
    return false;
  }
  for (uint32_t cap : *in) {
    if (cap >= SELIUM_CAPABILITY_COUNT) {
      error = "capabilities: " + number(cap) + " is not a capability id (0.." +
              number(SELIUM_CAPABILITY_COUNT - 1) + ")";
      return false;
    }
    bool seen = false;
    for (uint32_t have : out) seen = seen || have == cap;
    if (!seen) out.push_back(cap);
  }
  return true;
}

bool decodeArg(const wire::Arg* in, std::size_t index, Arg& out, std::string& error) {
  const std::string where = "args[" + number(index) + "]";
  if (in == nullptr) {
    error = where + " is missing";
    return false;
  }
  const auto kind = static_cast<uint8_t>(in->kind());
  if (kind >= kArgKindCount) {
    error = where + ".kind " + number(kind) + " is not an argument kind";
    return false;
  }
  out.kind = static_cast<ArgKind>(kind);
  switch (out.kind) {
    case ArgKind::I8:
    case ArgKind::I16:
    case ArgKind::I32:
    case ArgKind::I64: {
      const int64_t v = in->int_();
      const int bits = out.kind == ArgKind::I8    ? 8
                       : out.kind == ArgKind::I16 ? 16
                       : out.kind == ArgKind::I32 ? 32
                                                  : 64;
      if (bits < 64 && (v < -(int64_t{1} << (bits - 1)) || v >= (int64_t{1} << (bits - 1)))) {
        error = where + ": " + std::string(argKindName(out.kind)) + " value out of range";
        return false;
      }
      out.int_value = v;
      break;
    }
    case ArgKind::U8:
    case ArgKind::U16:
    case ArgKind::U32:
    case ArgKind::U64: {
      const uint64_t v = in->uint();
      const int bits = out.kind == ArgKind::U8    ? 8
                       : out.kind == ArgKind::U16 ? 16
                       : out.kind == ArgKind::U32 ? 32
                                                  : 64;
      if (bits < 64 && v >= (uint64_t{1} << bits)) {
        error = where + ": " + std::string(argKindName(out.kind)) + " value out of range";
        return false;
      }
      out.uint_value = v;
      break;
    }
    case ArgKind::F32:
      out.f32 = in->f32();
      break;
    case ArgKind::F64:
      out.f64 = in->f64();
      break;
    case ArgKind::Utf8:
    case ArgKind::Buffer:
    case ArgKind::Hex: {
      if (in->bytes() != nullptr) out.bytes.assign(in->bytes()->begin(), in->bytes()->end());
      if (out.kind == ArgKind::Utf8 &&
          !validUtf8(std::string_view(reinterpret_cast<const char*>(out.bytes.data()),
                                      out.bytes.size()))) {
        error = where + ": utf8 value is not valid UTF-8";
        return false;
      }
      break;
    }
    case ArgKind::Resource:
      if (in->shared_id() == 0 || in->shared_id() > uint64_t{INT64_MAX}) {
        error = where + ": resource needs a channel's shared id (> 0)";
        return false;
      }
      out.shared_id = in->shared_id();
      break;
  }
  return true;
}

bool decodeStart(const wire::StartRequest* in, StartRequest& out, std::string& error) {
  out.module = std::string(view(in->module_()));
  if (out.module.empty()) {
    error = "start: module is missing";
    return false;
  }
  if (!checkText(out.module, "start: module", error)) return false;
  out.entrypoint = std::string(view(in->entrypoint()));
  if (!checkText(out.entrypoint, "start: entrypoint", error)) return false;
  out.log_uri = std::string(view(in->log_uri()));
  if (!checkText(out.log_uri, "start: log_uri", error)) return false;
  out.attach = in->attach();
  if (!checkCapabilities(in->capabilities(), out.capabilities, error)) {
    error = "start: " + error;
    return false;
  }
  if (in->args() != nullptr) {
    if (in->args()->size() > kMaxArgs) {
      error = "start: " + number(in->args()->size()) + " arguments; at most " + number(kMaxArgs) +
              " are allowed";
      return false;
    }
    for (flatbuffers::uoffset_t i = 0; i < in->args()->size(); ++i) {
      Arg arg;
      if (!decodeArg(in->args()->Get(i), i, arg, error)) {
        error = "start: " + error;
        return false;
      }
      out.args.push_back(std::move(arg));
    }
  }
  return true;
}

template <typename Message>
bool verify(std::span<const uint8_t> bytes, std::size_t max, std::string_view what,
            std::string& error) {
  if (bytes.size() > max) {
    error = std::string(what) + " is " + number(bytes.size()) + " bytes; at most " + number(max) +
            " are allowed";
    return false;
  }
  if (bytes.size() < 8 || !flatbuffers::BufferHasIdentifier(bytes.data(), kIdentifier)) {
    error = std::string(what) + " is not a control message (file identifier \"RMCL\" missing)";
    return false;
  }
  flatbuffers::Verifier verifier(bytes.data(), bytes.size(), /*max_depth=*/16,
                                 /*max_tables=*/100000);
  if (!verifier.VerifyBuffer<Message>(kIdentifier)) {
    error = std::string(what) + " is a malformed FlatBuffer";
    return false;
  }
  return true;
}

flatbuffers::Offset<flatbuffers::Vector<uint32_t>> capabilitiesOf(
    flatbuffers::FlatBufferBuilder& b, const std::vector<uint32_t>& caps) {
  return b.CreateVector(caps);
}

}  // namespace

// ---- Framing ---------------------------------------------------------------------------------

void appendFrame(std::vector<uint8_t>& out, std::span<const uint8_t> payload) {
  const auto n = static_cast<uint32_t>(payload.size());
  const uint8_t prefix[4] = {static_cast<uint8_t>(n), static_cast<uint8_t>(n >> 8),
                             static_cast<uint8_t>(n >> 16), static_cast<uint8_t>(n >> 24)};
  out.insert(out.end(), prefix, prefix + 4);
  out.insert(out.end(), payload.begin(), payload.end());
}

std::vector<uint8_t> frame(std::span<const uint8_t> payload) {
  std::vector<uint8_t> out;
  out.reserve(payload.size() + 4);
  appendFrame(out, payload);
  return out;
}

void FrameDecoder::push(std::span<const uint8_t> bytes) {
  if (failed() || bytes.empty()) return;
  // Compact before growing so the buffer holds at most one frame plus this piece.
  if (start_ > 0 && start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  } else if (start_ > 0 && start_ >= buffer_.size() / 2) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(start_));
    start_ = 0;
  }
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

std::optional<std::vector<uint8_t>> FrameDecoder::next() {
  if (failed() || pending() < 4) return std::nullopt;
  const uint32_t length = readLe32(buffer_.data() + start_);
  if (length > max_frame_) {
    error_ = "a frame announces " + number(length) + " bytes; at most " + number(max_frame_) +
             " are allowed";
    buffer_.clear();
    start_ = 0;
    return std::nullopt;
  }
  if (pending() - 4 < length) return std::nullopt;
  const auto first = buffer_.begin() + static_cast<std::ptrdiff_t>(start_ + 4);
  std::vector<uint8_t> out(first, first + length);
  start_ += 4 + length;
  if (start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  }
  return out;
}

// ---- Names -----------------------------------------------------------------------------------

std::string_view argKindName(ArgKind kind) {
  switch (static_cast<uint8_t>(kind)) {
#define SELIUM_ARG_KIND_NAME_(name, id) \
  case id:                              \
    return #name;
    SELIUM_PARAM_KINDS(SELIUM_ARG_KIND_NAME_)
#undef SELIUM_ARG_KIND_NAME_
  }
  return "unknown";
}

std::string_view requestName(const RequestBody& body) {
  static constexpr std::string_view kNames[] = {
      "start", "stop", "list", "logs", "channel create", "channel delete", "publish", "subscribe"};
  return kNames[body.index()];
}

namespace {
struct CapabilityEntry {
  std::string_view name;
  uint32_t id;
};
constexpr CapabilityEntry kCapabilities[] = {
#define SELIUM_CONTROL_CAP_(name, id) {#name, id},
    SELIUM_CAPABILITIES(SELIUM_CONTROL_CAP_)
#undef SELIUM_CONTROL_CAP_
};

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
}  // namespace

std::optional<uint32_t> parseCapability(std::string_view name) {
  // Compare ignoring case and the dashes of the kebab-case form: "channel-lifecycle".
  std::string folded;
  for (char c : name) {
    if (c != '-' && c != '_') folded += lower(c);
  }
  if (folded.empty()) return std::nullopt;
  for (const auto& entry : kCapabilities) {
    std::string candidate;
    for (char c : entry.name) candidate += lower(c);
    if (candidate == folded) return entry.id;
  }
  return std::nullopt;
}

std::string_view capabilityName(uint32_t id) {
  for (const auto& entry : kCapabilities) {
    if (entry.id == id) return entry.name;
  }
  return "Unknown";
}

bool validUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int extra = 0;
    uint32_t code = 0;
    if ((c & 0xE0) == 0xC0) {
      extra = 1;
      code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      code = c & 0x07;
    } else {
      return false;
    }
    if (end - p <= extra) return false;
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      code = (code << 6) | (p[i] & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (code < kMin[extra] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    p += extra + 1;
  }
  return true;
}

// ---- Requests --------------------------------------------------------------------------------

std::vector<uint8_t> encodeRequest(const Request& request) {
  flatbuffers::FlatBufferBuilder b(256);
  wire::RequestBody type = wire::RequestBody::NONE;
  flatbuffers::Offset<void> body;
  if (const auto* start = std::get_if<StartRequest>(&request.body)) {
    std::vector<flatbuffers::Offset<wire::Arg>> args;
    for (const Arg& arg : start->args) {
      auto bytes = arg.bytes.empty() ? 0 : b.CreateVector(arg.bytes);
      args.push_back(wire::CreateArg(b, static_cast<wire::ArgKind>(arg.kind), arg.int_value,
                                     arg.uint_value, arg.f32, arg.f64, bytes, arg.shared_id));
    }
    auto module = b.CreateString(start->module);
    auto entrypoint = b.CreateString(start->entrypoint);
    auto caps = capabilitiesOf(b, start->capabilities);
    auto args_vec = b.CreateVector(args);
    auto log_uri = b.CreateString(start->log_uri);
    type = wire::RequestBody::StartRequest;
    body = wire::CreateStartRequest(b, module, entrypoint, caps, args_vec, log_uri, start->attach)
               .Union();
  } else if (const auto* stop = std::get_if<StopRequest>(&request.body)) {
    type = wire::RequestBody::StopRequest;
    body = wire::CreateStopRequest(b, stop->pid).Union();
  } else if (std::get_if<ListRequest>(&request.body) != nullptr) {
    type = wire::RequestBody::ListRequest;
    body = wire::CreateListRequest(b).Union();
  } else if (const auto* logs = std::get_if<LogsRequest>(&request.body)) {
    type = wire::RequestBody::LogsRequest;
    body = wire::CreateLogsRequest(b, logs->pid, logs->follow).Union();
  } else if (const auto* create = std::get_if<ChannelCreateRequest>(&request.body)) {
    type = wire::RequestBody::ChannelCreateRequest;
    body = wire::CreateChannelCreateRequest(b, create->capacity).Union();
  } else if (const auto* del = std::get_if<ChannelDeleteRequest>(&request.body)) {
    type = wire::RequestBody::ChannelDeleteRequest;
    body = wire::CreateChannelDeleteRequest(b, del->channel).Union();
  } else if (const auto* publish = std::get_if<PublishRequest>(&request.body)) {
    type = wire::RequestBody::PublishRequest;
    body = wire::CreatePublishRequest(b, publish->channel).Union();
  } else if (const auto* subscribe = std::get_if<SubscribeRequest>(&request.body)) {
    type = wire::RequestBody::SubscribeRequest;
    body = wire::CreateSubscribeRequest(b, subscribe->channel,
                                        static_cast<wire::Strength>(subscribe->strength))
               .Union();
  }
  b.Finish(wire::CreateRequest(b, request.request_id, type, body), kIdentifier);
  return std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

std::variant<Request, RequestError> decodeRequest(std::span<const uint8_t> bytes) {
  std::string error;
  if (!verify<wire::Request>(bytes, kMaxRequestBytes, "the request", error)) {
    return RequestError{0, std::move(error)};
  }
  const wire::Request* in = flatbuffers::GetRoot<wire::Request>(bytes.data());
  Request out;
  out.request_id = in->request_id();
  auto fail = [&](std::string message) { return RequestError{out.request_id, std::move(message)}; };
  if (in->body() == nullptr) return fail("the request has no body");
  switch (in->body_type()) {
    case wire::RequestBody::StartRequest: {
      StartRequest start;
      if (!decodeStart(in->body_as_StartRequest(), start, error)) return fail(std::move(error));
      out.body = std::move(start);
      break;
    }
    case wire::RequestBody::StopRequest: {
      const uint64_t pid = in->body_as_StopRequest()->pid();
      if (pid == 0) return fail("stop: pid is missing (process ids are > 0)");
      out.body = StopRequest{pid};
      break;
    }
    case wire::RequestBody::ListRequest:
      out.body = ListRequest{};
      break;
    case wire::RequestBody::LogsRequest: {
      const auto* logs = in->body_as_LogsRequest();
      if (logs->pid() == 0) return fail("logs: pid is missing (process ids are > 0)");
      out.body = LogsRequest{logs->pid(), logs->follow()};
      break;
    }
    case wire::RequestBody::ChannelCreateRequest: {
      const uint32_t capacity = in->body_as_ChannelCreateRequest()->capacity();
      if (capacity == 0 || capacity > kMaxChannelCapacity) {
        return fail("channel create: capacity " + number(capacity) + " is out of range (1.." +
                    number(kMaxChannelCapacity) + " bytes)");
      }
      out.body = ChannelCreateRequest{capacity};
      break;
    }
    case wire::RequestBody::ChannelDeleteRequest: {
      const uint64_t channel = in->body_as_ChannelDeleteRequest()->channel();
      if (channel == 0 || channel > uint64_t{INT64_MAX}) {
        return fail("channel delete: channel id " + number(channel) + " is not a shared id");
      }
      out.body = ChannelDeleteRequest{channel};
      break;
    }
    case wire::RequestBody::PublishRequest: {
      const uint64_t channel = in->body_as_PublishRequest()->channel();
      if (channel == 0 || channel > uint64_t{INT64_MAX}) {
        return fail("publish: channel id " + number(channel) + " is not a shared id");
      }
      out.body = PublishRequest{channel};
      break;
    }
    case wire::RequestBody::SubscribeRequest: {
      const auto* subscribe = in->body_as_SubscribeRequest();
      const uint64_t channel = subscribe->channel();
      if (channel == 0 || channel > uint64_t{INT64_MAX}) {
        return fail("subscribe: channel id " + number(channel) + " is not a shared id");
      }
      const auto strength = static_cast<uint8_t>(subscribe->strength());
      if (strength > 1) return fail("subscribe: strength " + number(strength) + " is unknown");
      out.body = SubscribeRequest{channel, static_cast<Strength>(strength)};
      break;
    }
    default:
      return fail("the request has no known body (type " +
                  number(static_cast<uint8_t>(in->body_type())) + ")");
  }
  return out;
}

// ---- Responses -------------------------------------------------------------------------------

std::vector<uint8_t> encodeResponse(const Response& response) {
  flatbuffers::FlatBufferBuilder b(256);
  wire::ResponseBody type = wire::ResponseBody::NONE;
  flatbuffers::Offset<void> body;
  if (std::get_if<OkResponse>(&response.body) != nullptr) {
    type = wire::ResponseBody::OkResponse;
    body = wire::CreateOkResponse(b).Union();
  } else if (const auto* err = std::get_if<ErrorResponse>(&response.body)) {
    auto message = b.CreateString(err->message);
    type = wire::ResponseBody::ErrorResponse;
    body = wire::CreateErrorResponse(b, message).Union();
  } else if (const auto* start = std::get_if<StartResponse>(&response.body)) {
    type = wire::ResponseBody::StartResponse;
    body = wire::CreateStartResponse(b, start->pid).Union();
  } else if (const auto* list = std::get_if<ListResponse>(&response.body)) {
    std::vector<flatbuffers::Offset<wire::ProcessInfo>> infos;
    for (const ProcessInfo& p : list->processes) {
      auto module = b.CreateString(p.module);
      auto entrypoint = b.CreateString(p.entrypoint);
      auto started_by = b.CreateString(p.started_by);
      auto caps = capabilitiesOf(b, p.capabilities);
      auto log_uri = b.CreateString(p.log_uri);
      infos.push_back(wire::CreateProcessInfo(b, p.pid, module, entrypoint,
                                              static_cast<wire::ProcessState>(p.state), p.uptime_ms,
                                              started_by, caps, log_uri));
    }
    auto vec = b.CreateVector(infos);
    type = wire::ResponseBody::ListResponse;
    body = wire::CreateListResponse(b, vec).Union();
  } else if (const auto* created = std::get_if<ChannelCreateResponse>(&response.body)) {
    type = wire::ResponseBody::ChannelCreateResponse;
    body = wire::CreateChannelCreateResponse(b, created->channel).Union();
  }
  b.Finish(wire::CreateResponse(b, response.request_id, type, body), kIdentifier);
  return std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

Outcome<Response> decodeResponse(std::span<const uint8_t> bytes) {
  using Out = Outcome<Response>;
  std::string error;
  if (!verify<wire::Response>(bytes, kMaxResponseBytes, "the response", error)) {
    return Out::failure(std::move(error));
  }
  const wire::Response* in = flatbuffers::GetRoot<wire::Response>(bytes.data());
  Response out;
  out.request_id = in->request_id();
  if (in->body() == nullptr) return Out::failure("the response has no body");
  switch (in->body_type()) {
    case wire::ResponseBody::OkResponse:
      out.body = OkResponse{};
      break;
    case wire::ResponseBody::ErrorResponse:
      out.body = ErrorResponse{std::string(view(in->body_as_ErrorResponse()->message()))};
      break;
    case wire::ResponseBody::StartResponse:
      out.body = StartResponse{in->body_as_StartResponse()->pid()};
      break;
    case wire::ResponseBody::ListResponse: {
      ListResponse list;
      const auto* processes = in->body_as_ListResponse()->processes();
      if (processes != nullptr) {
        for (const wire::ProcessInfo* p : *processes) {
          if (p == nullptr) return Out::failure("the process list has an empty entry");
          ProcessInfo info;
          info.pid = p->pid();
          info.module = std::string(view(p->module_()));
          info.entrypoint = std::string(view(p->entrypoint()));
          const auto state = static_cast<uint8_t>(p->state());
          if (state > 1)
            return Out::failure("process " + number(info.pid) + " has state " + number(state) +
                                ", which is unknown");
          info.state = static_cast<ProcessState>(state);
          info.uptime_ms = p->uptime_ms();
          info.started_by = std::string(view(p->started_by()));
          if (p->capabilities() != nullptr) {
            info.capabilities.assign(p->capabilities()->begin(), p->capabilities()->end());
          }
          info.log_uri = std::string(view(p->log_uri()));
          list.processes.push_back(std::move(info));
        }
      }
      out.body = std::move(list);
      break;
    }
    case wire::ResponseBody::ChannelCreateResponse:
      out.body = ChannelCreateResponse{in->body_as_ChannelCreateResponse()->channel()};
      break;
    default:
      return Out::failure("the response has no known body (type " +
                          number(static_cast<uint8_t>(in->body_type())) + ")");
  }
  return out;
}

std::vector<uint8_t> errorFrame(uint64_t request_id, std::string message) {
  return responseFrame(Response{request_id, ErrorResponse{std::move(message)}});
}

std::vector<uint8_t> responseFrame(const Response& response) {
  return frame(encodeResponse(response));
}

}  // namespace selium::control
