// Atlas messages to and from FlatBuffers (schemas/atlas.fbs). Every byte is untrusted: the
// identifier and the verifier come first, then each field is checked as the service would use
// it. The generated code is used only through its templates (AtlasPayloadTraits, payload_as), so
// this compiles against flatc output with and without --scoped-enums (host and guest builds).
#include "selium/atlas_protocol.hpp"

#include <flatbuffers/flatbuffers.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "atlas_generated.h"
#include "selium/abi/errors.h"

namespace selium::atlas {
namespace {

namespace wire = selium::atlas::wire;

// Deep enough for AtlasMessage > request > Uri > path; tables as many as a frame could hold.
constexpr flatbuffers::uoffset_t kMaxDepth = 16;
constexpr flatbuffers::uoffset_t kMaxTables = 64;

template <typename T>
constexpr uint8_t tagOf() {
  return static_cast<uint8_t>(wire::AtlasPayloadTraits<T>::enum_value);
}

DecodeFailure failure(std::string message, uint32_t code = SELIUM_ERR_InvalidArgument) {
  DecodeFailure f;
  f.message = std::move(message);
  f.code = code;
  return f;
}

// The reply address of a request whose body did not verify: only the root table, its
// request_id and the request table's reply_channel are checked and read.
template <typename Request>
uint64_t salvageReplyChannel(flatbuffers::Verifier& verifier, const flatbuffers::Table* table) {
  if (table == nullptr || !table->VerifyTableStart(verifier) ||
      !table->VerifyField<uint64_t>(verifier, Request::VT_REPLY_CHANNEL, 8)) {
    return 0;
  }
  return reinterpret_cast<const Request*>(table)->reply_channel();
}

struct ShallowMessage : private flatbuffers::Table {
  bool Verify(flatbuffers::Verifier& verifier) const {
    return VerifyTableStart(verifier) &&
           VerifyField<uint64_t>(verifier, wire::AtlasMessage::VT_REQUEST_ID, 8) &&
           VerifyField<uint8_t>(verifier, wire::AtlasMessage::VT_PAYLOAD_TYPE, 1) &&
           VerifyOffset(verifier, wire::AtlasMessage::VT_PAYLOAD);
  }
};

void salvage(std::span<const uint8_t> bytes, DecodeFailure& out) {
  flatbuffers::Verifier verifier(bytes.data(), bytes.size(), kMaxDepth, kMaxTables);
  if (!verifier.VerifyBuffer<ShallowMessage>(kFileIdentifier)) return;
  const auto* message = flatbuffers::GetRoot<wire::AtlasMessage>(bytes.data());
  out.requestId = message->request_id();
  auto payload = static_cast<const flatbuffers::Table*>(message->payload());
  switch (static_cast<uint8_t>(message->payload_type())) {
    case tagOf<wire::GetRequest>():
      out.replyChannel = salvageReplyChannel<wire::GetRequest>(verifier, payload);
      break;
    case tagOf<wire::InsertRequest>():
      out.replyChannel = salvageReplyChannel<wire::InsertRequest>(verifier, payload);
      break;
    case tagOf<wire::RemoveRequest>():
      out.replyChannel = salvageReplyChannel<wire::RemoveRequest>(verifier, payload);
      break;
    case tagOf<wire::LookupRequest>():
      out.replyChannel = salvageReplyChannel<wire::LookupRequest>(verifier, payload);
      break;
    default:
      break;
  }
}

// Cuts `text` to at most `max` bytes, never inside a UTF-8 sequence.
void cutUtf8(std::string& text, std::size_t max) {
  if (text.size() <= max) return;
  std::size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  text.resize(end);
}

std::string str(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

// A Uri table as a canonical Uri, or why not.
std::variant<Uri, std::string> readUri(const wire::Uri* table, std::string_view request) {
  if (table == nullptr) return std::string(request) + " has no uri";
  UriParts parts;
  parts.tenant = str(table->tenant());
  if (table->path() != nullptr) {
    if (table->path()->size() > Uri::kMaxSegments) {
      return std::string(request) + ": uri has " + std::to_string(table->path()->size()) +
             " path segments, more than the " + std::to_string(Uri::kMaxSegments) + " allowed";
    }
    for (const flatbuffers::String* segment : *table->path()) parts.path.push_back(str(segment));
  }
  parts.application = str(table->application());
  parts.service = str(table->service());
  parts.endpoint = str(table->endpoint());
  UriResult uri = Uri::fromParts(std::move(parts));
  if (!uri) return std::string(request) + ": uri error: " + uri.error().text();
  return std::move(uri).value();
}

flatbuffers::Offset<wire::Uri> writeUri(flatbuffers::FlatBufferBuilder& fbb, const Uri& uri) {
  auto tenant = fbb.CreateString(uri.tenant());
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> path;
  if (!uri.path().empty()) path = fbb.CreateVectorOfStrings(uri.path());
  auto optional = [&](const std::string& s) {
    return s.empty() ? flatbuffers::Offset<flatbuffers::String>() : fbb.CreateString(s);
  };
  auto application = optional(uri.application());
  auto service = optional(uri.service());
  auto endpoint = optional(uri.endpoint());
  return wire::CreateUri(fbb, tenant, path, application, service, endpoint);
}

}  // namespace

bool isRequest(MessageKind kind) noexcept {
  return kind == MessageKind::Get || kind == MessageKind::Insert || kind == MessageKind::Remove ||
         kind == MessageKind::Lookup;
}

std::string_view kindName(MessageKind kind) noexcept {
  switch (kind) {
    case MessageKind::Get:
      return "GetRequest";
    case MessageKind::Insert:
      return "InsertRequest";
    case MessageKind::Remove:
      return "RemoveRequest";
    case MessageKind::Lookup:
      return "LookupRequest";
    case MessageKind::GetResponse:
      return "GetResponse";
    case MessageKind::RemoveResponse:
      return "RemoveResponse";
    case MessageKind::LookupResponse:
      return "LookupResponse";
    case MessageKind::Ok:
      return "OkResponse";
    case MessageKind::Error:
      return "ErrorResponse";
  }
  return "unknown";
}

Decoded decode(std::span<const uint8_t> bytes, std::size_t max_bytes) {
  if (bytes.size() < 8 || !flatbuffers::BufferHasIdentifier(bytes.data(), kFileIdentifier)) {
    return failure("not an Atlas message: " + std::to_string(bytes.size()) +
                   " bytes without the \"ATLS\" identifier");
  }
  // FlatBuffers reads scalars in place: a frame at an unaligned address is copied first.
  std::vector<uint64_t> aligned;
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(uint64_t) != 0) {
    aligned.resize((bytes.size() + sizeof(uint64_t) - 1) / sizeof(uint64_t));
    std::memcpy(aligned.data(), bytes.data(), bytes.size());
    bytes =
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(aligned.data()), bytes.size());
  }
  if (bytes.size() > max_bytes) {
    DecodeFailure f = failure("an Atlas message of " + std::to_string(bytes.size()) +
                                  " bytes, more than the " + std::to_string(max_bytes) + " allowed",
                              SELIUM_ERR_TooLarge);
    salvage(bytes, f);
    return f;
  }
  flatbuffers::Verifier verifier(bytes.data(), bytes.size(), kMaxDepth, kMaxTables);
  if (!verifier.VerifyBuffer<wire::AtlasMessage>(kFileIdentifier)) {
    DecodeFailure f = failure("malformed Atlas message of " + std::to_string(bytes.size()) +
                              " bytes: the FlatBuffers verifier refused it");
    salvage(bytes, f);
    return f;
  }
  const auto* root = flatbuffers::GetRoot<wire::AtlasMessage>(bytes.data());
  Message m;
  m.requestId = root->request_id();
  auto fail = [&](std::string message) {
    DecodeFailure f = failure(std::move(message));
    f.requestId = m.requestId;
    f.replyChannel = m.replyChannel;
    return f;
  };
  // Reads the request's uri into m.uri; the reason when it is not a usable one.
  auto takeUri = [&](const wire::Uri* table) -> std::optional<std::string> {
    auto uri = readUri(table, kindName(m.kind));
    if (uri.index() == 1) return std::get<1>(std::move(uri));
    m.uri = std::get<0>(std::move(uri));
    return std::nullopt;
  };
  uint8_t tag = static_cast<uint8_t>(root->payload_type());
  if (root->payload() == nullptr) {
    return fail("Atlas message (payload type " + std::to_string(tag) + ") without a payload");
  }
  switch (tag) {
    case tagOf<wire::GetRequest>(): {
      const auto* r = root->payload_as<wire::GetRequest>();
      m.kind = MessageKind::Get;
      m.replyChannel = r->reply_channel();
      if (auto error = takeUri(r->uri())) return fail(std::move(*error));
      break;
    }
    case tagOf<wire::InsertRequest>(): {
      const auto* r = root->payload_as<wire::InsertRequest>();
      m.kind = MessageKind::Insert;
      m.replyChannel = r->reply_channel();
      m.id = r->id();
      m.lifetime = r->lifetime();
      if (auto error = takeUri(r->uri())) return fail(std::move(*error));
      if (m.lifetime == 0) return fail("InsertRequest has no lifetime (the registrant's)");
      break;
    }
    case tagOf<wire::RemoveRequest>(): {
      const auto* r = root->payload_as<wire::RemoveRequest>();
      m.kind = MessageKind::Remove;
      m.replyChannel = r->reply_channel();
      m.lifetime = r->lifetime();
      if (auto error = takeUri(r->uri())) return fail(std::move(*error));
      if (m.lifetime == 0) return fail("RemoveRequest has no lifetime (the requester's)");
      break;
    }
    case tagOf<wire::LookupRequest>(): {
      const auto* r = root->payload_as<wire::LookupRequest>();
      m.kind = MessageKind::Lookup;
      m.replyChannel = r->reply_channel();
      if (r->pattern() == nullptr) return fail("LookupRequest has no pattern");
      m.pattern = r->pattern()->str();
      break;
    }
    case tagOf<wire::GetResponse>(): {
      const auto* r = root->payload_as<wire::GetResponse>();
      m.kind = MessageKind::GetResponse;
      m.id = r->id();
      m.found = r->found();
      break;
    }
    case tagOf<wire::RemoveResponse>(): {
      const auto* r = root->payload_as<wire::RemoveResponse>();
      m.kind = MessageKind::RemoveResponse;
      m.id = r->id();
      m.found = r->found();
      break;
    }
    case tagOf<wire::LookupResponse>(): {
      const auto* r = root->payload_as<wire::LookupResponse>();
      m.kind = MessageKind::LookupResponse;
      if (const auto* ids = r->ids(); ids != nullptr) {
        // The verifier does not check the 8-byte alignment of the elements: copy them out.
        m.ids.resize(ids->size());
        for (std::size_t i = 0; i < ids->size(); ++i) {
          uint64_t id = 0;
          std::memcpy(&id, ids->Data() + i * sizeof(uint64_t), sizeof(uint64_t));
          m.ids[i] = flatbuffers::EndianScalar(id);
        }
      }
      break;
    }
    case tagOf<wire::OkResponse>():
      m.kind = MessageKind::Ok;
      break;
    case tagOf<wire::ErrorResponse>(): {
      const auto* r = root->payload_as<wire::ErrorResponse>();
      m.kind = MessageKind::Error;
      m.message = str(r->message());
      cutUtf8(m.message, kMaxErrorBytes);
      m.code = r->code();
      break;
    }
    default:
      return fail("unknown Atlas payload type " + std::to_string(tag));
  }
  // An Insert may go without a reply (the runtime publishing a log_uri); every other request is
  // asked to be answered.
  if (isRequest(m.kind) && m.replyChannel == 0 && m.kind != MessageKind::Insert) {
    return fail(std::string(kindName(m.kind)) + " has no reply_channel");
  }
  return m;
}

std::vector<uint8_t> encode(const Message& m) {
  flatbuffers::FlatBufferBuilder fbb(256);
  flatbuffers::Offset<void> payload;
  uint8_t tag = 0;
  auto uri = [&]() { return m.uri ? writeUri(fbb, *m.uri) : flatbuffers::Offset<wire::Uri>(); };
  switch (m.kind) {
    case MessageKind::Get:
      payload = wire::CreateGetRequest(fbb, uri(), m.replyChannel).Union();
      tag = tagOf<wire::GetRequest>();
      break;
    case MessageKind::Insert:
      payload = wire::CreateInsertRequest(fbb, uri(), m.id, m.replyChannel, m.lifetime).Union();
      tag = tagOf<wire::InsertRequest>();
      break;
    case MessageKind::Remove:
      payload = wire::CreateRemoveRequest(fbb, uri(), m.replyChannel, m.lifetime).Union();
      tag = tagOf<wire::RemoveRequest>();
      break;
    case MessageKind::Lookup:
      payload = wire::CreateLookupRequest(fbb, fbb.CreateString(m.pattern), m.replyChannel).Union();
      tag = tagOf<wire::LookupRequest>();
      break;
    case MessageKind::GetResponse:
      payload = wire::CreateGetResponse(fbb, m.id, m.found).Union();
      tag = tagOf<wire::GetResponse>();
      break;
    case MessageKind::RemoveResponse:
      payload = wire::CreateRemoveResponse(fbb, m.id, m.found).Union();
      tag = tagOf<wire::RemoveResponse>();
      break;
    case MessageKind::LookupResponse:
      payload = wire::CreateLookupResponse(fbb, fbb.CreateVector(m.ids)).Union();
      tag = tagOf<wire::LookupResponse>();
      break;
    case MessageKind::Ok:
      payload = wire::CreateOkResponse(fbb).Union();
      tag = tagOf<wire::OkResponse>();
      break;
    case MessageKind::Error: {
      std::string text = m.message;
      cutUtf8(text, kMaxErrorBytes);
      payload = wire::CreateErrorResponse(fbb, fbb.CreateString(text), m.code).Union();
      tag = tagOf<wire::ErrorResponse>();
      break;
    }
  }
  auto root =
      wire::CreateAtlasMessage(fbb, m.requestId, static_cast<wire::AtlasPayload>(tag), payload);
  fbb.Finish(root, kFileIdentifier);
  return std::vector<uint8_t>(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
}

Message errorReply(uint64_t request_id, uint32_t code, std::string message) {
  Message m;
  m.requestId = request_id;
  m.kind = MessageKind::Error;
  m.code = code;
  m.message = std::move(message);
  cutUtf8(m.message, kMaxErrorBytes);
  return m;
}

}  // namespace selium::atlas
