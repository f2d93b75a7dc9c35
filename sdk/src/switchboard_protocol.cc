// The Switchboard's FlatBuffers codec (schemas/switchboard.fbs): encode() for both sides, and a
// decoder that treats every byte as hostile (verified, bounded, every field range-checked).
#include "selium/switchboard_protocol.hpp"

#include <charconv>

// The guest SDK generates "switchboard_generated.h" into its private include directory; the host
// build generates it under selium/schemas/.
#if __has_include("switchboard_generated.h")
#include "switchboard_generated.h"
#else
#include "selium/schemas/switchboard_generated.h"
#endif

namespace selium::switchboard {

std::string_view kindName(EndpointKind kind) noexcept {
  switch (kind) {
    case EndpointKind::Publisher:
      return "publisher";
    case EndpointKind::Subscriber:
      return "subscriber";
    case EndpointKind::Fanout:
      return "fanout";
    case EndpointKind::Server:
      return "server";
    case EndpointKind::Client:
      return "client";
  }
  return "unknown";
}

std::string schemaHex(const SchemaId& schema) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(32);
  for (uint8_t b : schema) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

namespace wire {
namespace {

// Payload union tags (schemas/switchboard.fbs order).
enum class Tag : uint8_t {
  None = 0,
  Register = 1,
  Unregister = 2,
  Connect = 3,
  Registered = 4,
  Ok = 5,
  Failure = 6,
  Wiring = 7,
};

std::string_view cut(std::string_view text, std::size_t limit) {
  return text.substr(0, std::min(text.size(), limit));
}

std::string number(uint64_t v) {
  char buf[24];
  auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  return std::string(buf, end);
}

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::Link>>> links(
    flatbuffers::FlatBufferBuilder& fbb, const std::vector<Link>& list) {
  std::vector<flatbuffers::Offset<fb::Link>> out;
  out.reserve(std::min(list.size(), kMaxLinks));
  for (std::size_t i = 0; i < list.size() && i < kMaxLinks; ++i) {
    out.push_back(fb::CreateLink(fbb, list[i].peer, list[i].channel, list[i].reader));
  }
  return fbb.CreateVector(out);
}

struct Encoded {
  Tag tag;
  flatbuffers::Offset<void> offset;
};

Encoded encodePayload(flatbuffers::FlatBufferBuilder& fbb, const Payload& payload) {
  if (auto* r = std::get_if<Register>(&payload)) {
    auto name = fbb.CreateString(cut(r->name, kMaxNameBytes));
    auto schema = fbb.CreateVector(r->schema.data(), r->schema.size());
    flatbuffers::Offset<flatbuffers::Vector<uint8_t>> reply;
    if (r->reply_schema) reply = fbb.CreateVector(r->reply_schema->data(), r->reply_schema->size());
    auto off = fb::CreateRegisterRequest(fbb, static_cast<fb::EndpointKind>(r->kind), name, schema,
                                         reply, r->channel, r->lifetime);
    return {Tag::Register, off.Union()};
  }
  if (auto* u = std::get_if<Unregister>(&payload)) {
    return {Tag::Unregister, fb::CreateUnregisterRequest(fbb, u->endpoint_id, u->token).Union()};
  }
  if (auto* c = std::get_if<Connect>(&payload)) {
    return {Tag::Connect, fb::CreateConnectRequest(fbb, c->from, c->to).Union()};
  }
  if (auto* r = std::get_if<Registered>(&payload)) {
    return {Tag::Registered, fb::CreateRegisterResponse(fbb, r->endpoint_id).Union()};
  }
  if (std::get_if<Ok>(&payload) != nullptr) {
    return {Tag::Ok, fb::CreateOkResponse(fbb).Union()};
  }
  if (auto* f = std::get_if<Failure>(&payload)) {
    auto message = fbb.CreateString(cut(f->message, kMaxErrorBytes));
    return {Tag::Failure, fb::CreateErrorResponse(fbb, message).Union()};
  }
  if (auto* w = std::get_if<Wiring>(&payload)) {
    auto in = links(fbb, w->inbound);
    auto out = links(fbb, w->outbound);
    auto retired = links(fbb, w->retired);
    return {Tag::Wiring,
            fb::CreateWiringUpdate(fbb, w->endpoint_id, w->generation, in, out, retired).Union()};
  }
  return {Tag::None, {}};
}

std::optional<SchemaId> schemaOf(const flatbuffers::Vector<uint8_t>* bytes) {
  if (bytes == nullptr || bytes->size() != 16) return std::nullopt;
  SchemaId id{};
  for (std::size_t i = 0; i < 16; ++i) id[i] = bytes->Get(static_cast<flatbuffers::uoffset_t>(i));
  return id;
}

// The links of a WiringUpdate, or an error naming the list.
std::string readLinks(const flatbuffers::Vector<flatbuffers::Offset<fb::Link>>* list,
                      std::string_view which, std::vector<Link>& out) {
  if (list == nullptr) return {};
  if (list->size() > kMaxLinks) {
    return "a WiringUpdate's " + std::string(which) + " list has " + number(list->size()) +
           " links; at most " + number(kMaxLinks) + " are allowed";
  }
  out.reserve(list->size());
  for (const fb::Link* link : *list) {
    if (link == nullptr)
      return "a WiringUpdate's " + std::string(which) + " list holds a null link";
    out.push_back(Link{link->peer(), link->channel(), link->reader()});
  }
  return {};
}

std::string decodePayload(const fb::Message& m, Payload& out) {
  switch (static_cast<Tag>(static_cast<uint8_t>(m.payload_type()))) {
    case Tag::Register: {
      const fb::RegisterRequest* r = m.payload_as_RegisterRequest();
      if (r == nullptr) return "the RegisterRequest payload is missing";
      Register reg;
      auto kind = static_cast<uint8_t>(r->kind());
      if (kind > static_cast<uint8_t>(EndpointKind::Client)) {
        return "RegisterRequest kind " + number(kind) +
               " is not an endpoint kind (0 publisher, 1 subscriber, 2 fanout, 3 server, "
               "4 client)";
      }
      reg.kind = static_cast<EndpointKind>(kind);
      if (r->name() != nullptr) {
        if (r->name()->size() > kMaxNameBytes) {
          return "RegisterRequest name is " + number(r->name()->size()) + " bytes; at most " +
                 number(kMaxNameBytes) + " are allowed";
        }
        reg.name = r->name()->str();
      }
      auto schema = schemaOf(r->schema());
      if (!schema) {
        return "RegisterRequest schema must be exactly 16 bytes, got " +
               (r->schema() == nullptr ? std::string("none") : number(r->schema()->size()));
      }
      reg.schema = *schema;
      bool rpc = reg.kind == EndpointKind::Server || reg.kind == EndpointKind::Client;
      if (rpc) {
        reg.reply_schema = schemaOf(r->reply_schema());
        if (!reg.reply_schema) {
          return "RegisterRequest reply_schema must be exactly 16 bytes for a " +
                 std::string(kindName(reg.kind)) + ", got " +
                 (r->reply_schema() == nullptr ? std::string("none")
                                               : number(r->reply_schema()->size()));
        }
      } else if (r->reply_schema() != nullptr) {
        return "RegisterRequest reply_schema is only for servers and clients, not a " +
               std::string(kindName(reg.kind));
      }
      reg.channel = r->channel();
      if ((reg.kind == EndpointKind::Subscriber) != (reg.channel == 0)) {
        return reg.kind == EndpointKind::Subscriber
                   ? std::string("RegisterRequest channel must be 0 for a subscriber")
                   : "RegisterRequest channel is missing: a " + std::string(kindName(reg.kind)) +
                         " registers the shared id of its own channel";
      }
      reg.lifetime = r->lifetime();
      out = std::move(reg);
      return {};
    }
    case Tag::Unregister: {
      const fb::UnregisterRequest* u = m.payload_as_UnregisterRequest();
      if (u == nullptr) return "the UnregisterRequest payload is missing";
      out = Unregister{u->endpoint_id(), u->token()};
      return {};
    }
    case Tag::Connect: {
      const fb::ConnectRequest* c = m.payload_as_ConnectRequest();
      if (c == nullptr) return "the ConnectRequest payload is missing";
      out = Connect{c->from(), c->to()};
      return {};
    }
    case Tag::Registered: {
      const fb::RegisterResponse* r = m.payload_as_RegisterResponse();
      if (r == nullptr) return "the RegisterResponse payload is missing";
      out = Registered{r->endpoint_id()};
      return {};
    }
    case Tag::Ok:
      if (m.payload_as_OkResponse() == nullptr) return "the OkResponse payload is missing";
      out = Ok{};
      return {};
    case Tag::Failure: {
      const fb::ErrorResponse* e = m.payload_as_ErrorResponse();
      if (e == nullptr) return "the ErrorResponse payload is missing";
      Failure f;
      if (e->message() != nullptr)
        f.message = std::string(cut(e->message()->string_view(), kMaxErrorBytes));
      out = std::move(f);
      return {};
    }
    case Tag::Wiring: {
      const fb::WiringUpdate* w = m.payload_as_WiringUpdate();
      if (w == nullptr) return "the WiringUpdate payload is missing";
      Wiring wiring;
      wiring.endpoint_id = w->endpoint_id();
      wiring.generation = w->generation();
      if (auto e = readLinks(w->inbound(), "inbound", wiring.inbound); !e.empty()) return e;
      if (auto e = readLinks(w->outbound(), "outbound", wiring.outbound); !e.empty()) return e;
      if (auto e = readLinks(w->retired(), "retired", wiring.retired); !e.empty()) return e;
      out = std::move(wiring);
      return {};
    }
    case Tag::None:
      return "the message has no payload";
  }
  return "payload type " + number(static_cast<uint8_t>(m.payload_type())) +
         " is not a Switchboard message (1 to 7)";
}

}  // namespace

std::vector<uint8_t> encode(const Message& message) {
  flatbuffers::FlatBufferBuilder fbb(256);
  Encoded payload = encodePayload(fbb, message.payload);
  auto root = fb::CreateMessage(fbb, message.request_id, message.reply_channel,
                                static_cast<fb::Payload>(static_cast<uint8_t>(payload.tag)),
                                payload.offset);
  fb::FinishMessageBuffer(fbb, root);
  return std::vector<uint8_t>(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
}

Decoded decode(std::span<const uint8_t> bytes) {
  Decoded out;
  if (bytes.size() > kMaxMessageBytes) {
    out.error = "a Switchboard message of " + number(bytes.size()) + " bytes exceeds the " +
                number(kMaxMessageBytes) + "-byte limit";
    return out;
  }
  if (bytes.size() < 8 || !fb::MessageBufferHasIdentifier(bytes.data())) {
    out.error = "not a Switchboard message: " + number(bytes.size()) +
                " bytes without the \"SBSW\" FlatBuffers identifier";
    return out;
  }
  flatbuffers::Verifier verifier(bytes.data(), bytes.size(), /*max_depth=*/16,
                                 /*max_tables=*/4 * kMaxLinks + 64);
  if (!fb::VerifyMessageBuffer(verifier)) {
    out.error = "a Switchboard message of " + number(bytes.size()) +
                " bytes failed FlatBuffers verification";
    return out;
  }
  const fb::Message* m = fb::GetMessage(bytes.data());
  out.envelope = true;
  out.message.request_id = m->request_id();
  out.message.reply_channel = m->reply_channel();
  out.error = decodePayload(*m, out.message.payload);
  return out;
}

}  // namespace wire

namespace rpc {
namespace {

void putLe(std::vector<uint8_t>& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint64_t getLe(std::span<const uint8_t> in, std::size_t at, int bytes) noexcept {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{in[at + static_cast<std::size_t>(i)]} << (8 * i);
  return v;
}

}  // namespace

std::vector<uint8_t> encodeRequest(RequestHead head, std::span<const uint8_t> payload) {
  std::vector<uint8_t> out;
  out.reserve(kRequestHeader + payload.size());
  putLe(out, head.reply, 8);
  putLe(out, head.correlation, 8);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::vector<uint8_t> encodeReply(ReplyHead head, std::span<const uint8_t> payload) {
  std::vector<uint8_t> out;
  out.reserve(kReplyHeader + payload.size());
  putLe(out, head.correlation, 8);
  putLe(out, static_cast<uint32_t>(head.status), 4);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::optional<RequestHead> decodeRequest(std::span<const uint8_t> frame) noexcept {
  if (frame.size() < kRequestHeader) return std::nullopt;
  RequestHead head{getLe(frame, 0, 8), getLe(frame, 8, 8)};
  if (head.reply == 0 || head.reply > uint64_t{INT64_MAX}) return std::nullopt;  // not a shared id
  return head;
}

std::optional<ReplyHead> decodeReply(std::span<const uint8_t> frame) noexcept {
  if (frame.size() < kReplyHeader) return std::nullopt;
  auto status = getLe(frame, 8, 4);
  if (status > static_cast<uint32_t>(Status::Error)) return std::nullopt;
  return ReplyHead{getLe(frame, 0, 8), static_cast<Status>(status)};
}

}  // namespace rpc
}  // namespace selium::switchboard
