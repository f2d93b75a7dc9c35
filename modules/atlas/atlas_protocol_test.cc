// The Atlas wire protocol: every message round-trips; the decoder refuses what is not a usable
// message with a reason, and still finds the reply address of a request it cannot read.
#include "selium/atlas_protocol.hpp"

#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "atlas_generated.h"
#include "selium/abi/errors.h"

namespace selium::atlas {
namespace {

Uri uri(std::string_view text) { return *Uri::parse(text); }

Message decoded(const std::vector<uint8_t>& bytes, std::size_t max = kMaxRequestBytes) {
  Decoded d = decode(bytes, max);
  EXPECT_EQ(d.index(), 0u) << (d.index() == 1 ? std::get<1>(d).message : "");
  if (d.index() != 0) return Message{};
  return std::get<0>(std::move(d));
}

DecodeFailure refused(std::span<const uint8_t> bytes, std::size_t max = kMaxRequestBytes) {
  Decoded d = decode(bytes, max);
  EXPECT_EQ(d.index(), 1u) << "decoded as " << kindName(std::get<0>(d).kind);
  if (d.index() != 1) return DecodeFailure{};
  return std::get<1>(std::move(d));
}

Message request(MessageKind kind, std::string_view text) {
  Message m;
  m.requestId = 77;
  m.kind = kind;
  m.uri = uri(text);
  m.replyChannel = 0x1234567890;
  m.lifetime = 0x42;
  return m;
}

TEST(AtlasProtocol, RequestsRoundTrip) {
  Message insert = request(MessageKind::Insert, "sel://t/team/payments/orders.app/runner:rpc");
  insert.id = 0xFFFFFFFFFFFFFFFFull;
  Message got = decoded(encode(insert));
  EXPECT_EQ(got.kind, MessageKind::Insert);
  EXPECT_EQ(got.requestId, 77u);
  ASSERT_TRUE(got.uri.has_value());
  EXPECT_EQ(*got.uri, *insert.uri);  // the reference's flatbuffer_roundtrip
  EXPECT_EQ(got.uri->path(), (std::vector<std::string>{"team", "payments"}));
  EXPECT_EQ(got.id, insert.id);
  EXPECT_EQ(got.replyChannel, insert.replyChannel);
  EXPECT_EQ(got.lifetime, insert.lifetime);

  Message get = decoded(encode(request(MessageKind::Get, "sel://t")));
  EXPECT_EQ(get.kind, MessageKind::Get);
  EXPECT_EQ(*get.uri, uri("sel://t"));

  Message remove = decoded(encode(request(MessageKind::Remove, "sel://t/a.app/svc/")));
  EXPECT_EQ(remove.kind, MessageKind::Remove);
  EXPECT_EQ(*remove.uri, uri("sel://t/a.app/svc/"));
  EXPECT_EQ(remove.lifetime, 0x42u);

  Message lookup;
  lookup.kind = MessageKind::Lookup;
  lookup.requestId = 5;
  lookup.pattern = "not even a URI";  // parsed by the service, which answers with the error
  lookup.replyChannel = 9;
  Message l = decoded(encode(lookup));
  EXPECT_EQ(l.kind, MessageKind::Lookup);
  EXPECT_EQ(l.pattern, "not even a URI");
  EXPECT_EQ(l.replyChannel, 9u);
}

TEST(AtlasProtocol, RepliesRoundTrip) {
  Message r;
  r.requestId = 3;
  r.kind = MessageKind::GetResponse;
  r.id = 11;
  r.found = true;
  Message got = decoded(encode(r), kMaxReplyBytes);
  EXPECT_EQ(got.kind, MessageKind::GetResponse);
  EXPECT_TRUE(got.found);
  EXPECT_EQ(got.id, 11u);

  r.kind = MessageKind::RemoveResponse;
  r.found = false;
  r.id = 0;
  got = decoded(encode(r), kMaxReplyBytes);
  EXPECT_EQ(got.kind, MessageKind::RemoveResponse);
  EXPECT_FALSE(got.found);

  r.kind = MessageKind::LookupResponse;
  r.ids.assign(kMaxLookupIds, 7);
  r.ids.front() = 1;
  std::vector<uint8_t> big = encode(r);
  EXPECT_LE(big.size(), kMaxReplyBytes);
  got = decoded(big, kMaxReplyBytes);
  EXPECT_EQ(got.ids.size(), kMaxLookupIds);
  EXPECT_EQ(got.ids.front(), 1u);

  got = decoded(encode(errorReply(4, SELIUM_ERR_PermissionDenied, "nope")), kMaxReplyBytes);
  EXPECT_EQ(got.kind, MessageKind::Error);
  EXPECT_EQ(got.requestId, 4u);
  EXPECT_EQ(got.code, uint32_t{SELIUM_ERR_PermissionDenied});
  EXPECT_EQ(got.message, "nope");

  Message ok;
  ok.kind = MessageKind::Ok;
  ok.requestId = 8;
  got = decoded(encode(ok), kMaxReplyBytes);
  EXPECT_EQ(got.kind, MessageKind::Ok);
  EXPECT_EQ(got.requestId, 8u);
}

TEST(AtlasProtocol, EmptyPathIsNotWritten) {
  std::vector<uint8_t> bytes = encode(request(MessageKind::Get, "sel://t/a.app"));
  const auto* root = flatbuffers::GetRoot<wire::AtlasMessage>(bytes.data());
  const auto* get = root->payload_as<wire::GetRequest>();
  ASSERT_NE(get, nullptr);
  EXPECT_EQ(get->uri()->path(), nullptr);
  EXPECT_TRUE(flatbuffers::BufferHasIdentifier(bytes.data(), "ATLS"));
}

TEST(AtlasProtocol, ErrorMessagesAreCutOnACharacterBoundary) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "\xc3\xa9";  // 2000 bytes of 'é'
  Message m = errorReply(1, SELIUM_ERR_Internal, text);
  EXPECT_LE(m.message.size(), kMaxErrorBytes);
  EXPECT_EQ(m.message.size() % 2, 0u);
  Message got = decoded(encode(m), kMaxReplyBytes);
  EXPECT_EQ(got.message, m.message);
}

// A request built by hand, as a hostile or buggy client could send it.
template <typename Build>
std::vector<uint8_t> handBuilt(Build build, const char* identifier = "ATLS") {
  flatbuffers::FlatBufferBuilder fbb;
  auto root = build(fbb);
  fbb.Finish(root, identifier);
  return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}

TEST(AtlasDecoder, RefusesBytesThatAreNotAtlasMessages) {
  EXPECT_NE(refused({}).message.find("identifier"), std::string::npos);
  std::vector<uint8_t> junk(64, 0xAB);
  EXPECT_EQ(refused(junk).replyChannel, 0u);
  auto other = handBuilt(
      [](auto& fbb) { return wire::CreateAtlasMessage(fbb, 1, wire::AtlasPayload{}, 0); }, "XXXX");
  DecodeFailure f = refused(other);
  EXPECT_NE(f.message.find("\"ATLS\""), std::string::npos) << f.message;
}

TEST(AtlasDecoder, MissingOrUnknownPayload) {
  auto none = handBuilt(
      [](auto& fbb) { return wire::CreateAtlasMessage(fbb, 9, wire::AtlasPayload{}, 0); });
  DecodeFailure f = refused(none);
  EXPECT_NE(f.message.find("without a payload"), std::string::npos) << f.message;
  EXPECT_EQ(f.requestId, 9u);

  auto unknown = handBuilt([](auto& fbb) {
    auto body = wire::CreateOkResponse(fbb);
    return wire::CreateAtlasMessage(fbb, 9, static_cast<wire::AtlasPayload>(200), body.Union());
  });
  f = refused(unknown);
  EXPECT_NE(f.message.find("unknown Atlas payload type 200"), std::string::npos) << f.message;
}

// What the service needs to answer with an error: the request id and the reply channel.
TEST(AtlasDecoder, BadRequestsKeepTheirReplyAddress) {
  auto no_uri = handBuilt([](auto& fbb) {
    auto body = wire::CreateGetRequest(fbb, 0, 555);
    return wire::CreateAtlasMessage(fbb, 21, wire::AtlasPayloadTraits<wire::GetRequest>::enum_value,
                                    body.Union());
  });
  DecodeFailure f = refused(no_uri);
  EXPECT_EQ(f.requestId, 21u);
  EXPECT_EQ(f.replyChannel, 555u);
  EXPECT_EQ(f.code, uint32_t{SELIUM_ERR_InvalidArgument});
  EXPECT_NE(f.message.find("GetRequest has no uri"), std::string::npos) << f.message;

  auto bad_uri = handBuilt([](auto& fbb) {
    auto segments = std::vector<std::string>{"a/b"};
    auto u = wire::CreateUri(fbb, fbb.CreateString("t"), fbb.CreateVectorOfStrings(segments));
    auto body = wire::CreateInsertRequest(fbb, u, 1, 556, 3);
    return wire::CreateAtlasMessage(
        fbb, 22, wire::AtlasPayloadTraits<wire::InsertRequest>::enum_value, body.Union());
  });
  f = refused(bad_uri);
  EXPECT_EQ(f.replyChannel, 556u);
  EXPECT_NE(f.message.find("uri error: URI path segments invalid"), std::string::npos) << f.message;

  auto no_lifetime = handBuilt([](auto& fbb) {
    auto u = wire::CreateUri(fbb, fbb.CreateString("t"));
    auto body = wire::CreateInsertRequest(fbb, u, 1, 557, 0);
    return wire::CreateAtlasMessage(
        fbb, 23, wire::AtlasPayloadTraits<wire::InsertRequest>::enum_value, body.Union());
  });
  f = refused(no_lifetime);
  EXPECT_EQ(f.replyChannel, 557u);
  EXPECT_NE(f.message.find("no lifetime"), std::string::npos) << f.message;

  auto no_tenant = handBuilt([](auto& fbb) {
    auto u = wire::CreateUri(fbb, 0);
    auto body = wire::CreateRemoveRequest(fbb, u, 558, 3);
    return wire::CreateAtlasMessage(
        fbb, 24, wire::AtlasPayloadTraits<wire::RemoveRequest>::enum_value, body.Union());
  });
  f = refused(no_tenant);
  EXPECT_EQ(f.replyChannel, 558u);
  EXPECT_NE(f.message.find("tenant"), std::string::npos) << f.message;

  auto no_pattern = handBuilt([](auto& fbb) {
    auto body = wire::CreateLookupRequest(fbb, 0, 559);
    return wire::CreateAtlasMessage(
        fbb, 25, wire::AtlasPayloadTraits<wire::LookupRequest>::enum_value, body.Union());
  });
  f = refused(no_pattern);
  EXPECT_EQ(f.replyChannel, 559u);
  EXPECT_NE(f.message.find("no pattern"), std::string::npos) << f.message;
}

TEST(AtlasDecoder, RequestWithoutReplyChannelCannotBeAnswered) {
  Message m = request(MessageKind::Get, "sel://t");
  m.replyChannel = 0;
  DecodeFailure f = refused(encode(m));
  EXPECT_EQ(f.replyChannel, 0u);
  EXPECT_NE(f.message.find("no reply_channel"), std::string::npos) << f.message;
  // An Insert may ask for no reply.
  Message insert = request(MessageKind::Insert, "sel://t/logs");
  insert.replyChannel = 0;
  insert.id = 5;
  insert.lifetime = 6;
  Decoded decoded = decode(encode(insert), kMaxRequestBytes);
  ASSERT_TRUE(std::holds_alternative<Message>(decoded));
  EXPECT_EQ(std::get<Message>(decoded).replyChannel, 0u);
}

// A request whose uri strings run off the end fails the verifier; the header still gives the
// reply address.
TEST(AtlasDecoder, SalvagesTheReplyAddressOfACorruptBody) {
  Message m = request(MessageKind::Insert, "sel://tenant/some/long/path/x.app/svc:ep");
  std::vector<uint8_t> bytes = encode(m);
  const auto* root = flatbuffers::GetRoot<wire::AtlasMessage>(bytes.data());
  const auto* tenant = root->payload_as<wire::InsertRequest>()->uri()->tenant();
  std::size_t at = reinterpret_cast<const uint8_t*>(tenant) - bytes.data();
  // The string's length prefix now claims far more bytes than the buffer holds.
  bytes[at] = 0xFF, bytes[at + 1] = 0xFF, bytes[at + 2] = 0x00, bytes[at + 3] = 0x00;
  DecodeFailure f = refused(bytes);
  EXPECT_NE(f.message.find("verifier"), std::string::npos) << f.message;
  EXPECT_EQ(f.requestId, 77u);
  EXPECT_EQ(f.replyChannel, m.replyChannel);
}

TEST(AtlasDecoder, OversizedFramesAreRefusedWithTheirAddress) {
  Message m;
  m.kind = MessageKind::Lookup;
  m.requestId = 31;
  m.replyChannel = 600;
  m.pattern = std::string(kMaxRequestBytes, 'x');
  std::vector<uint8_t> bytes = encode(m);
  DecodeFailure f = refused(bytes);
  EXPECT_EQ(f.code, uint32_t{SELIUM_ERR_TooLarge});
  EXPECT_EQ(f.requestId, 31u);
  EXPECT_EQ(f.replyChannel, 600u);
  EXPECT_NE(f.message.find(std::to_string(bytes.size()) + " bytes"), std::string::npos);
}

TEST(AtlasDecoder, DecodesFramesAtAnyAddress) {
  std::vector<uint8_t> bytes = encode(request(MessageKind::Get, "sel://t/x"));
  std::vector<uint8_t> shifted(bytes.size() + 3);
  for (std::size_t offset = 1; offset < 4; ++offset) {
    std::copy(bytes.begin(), bytes.end(), shifted.begin() + offset);
    Decoded d =
        decode(std::span<const uint8_t>(shifted).subspan(offset, bytes.size()), kMaxRequestBytes);
    ASSERT_EQ(d.index(), 0u) << "offset " << offset;
    EXPECT_EQ(*std::get<0>(d).uri, uri("sel://t/x"));
  }
}

TEST(AtlasDecoder, TruncationsNeverCrash) {
  Message m = request(MessageKind::Insert, "sel://t/team/payments/orders.app/runner:rpc");
  std::vector<uint8_t> bytes = encode(m);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + n);
    (void)decode(cut, kMaxRequestBytes);
  }
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (uint8_t v : {0x00, 0x01, 0x7F, 0x80, 0xFF}) {
      std::vector<uint8_t> flipped = bytes;
      flipped[i] = v;
      Decoded d = decode(flipped, kMaxRequestBytes);
      if (d.index() == 0) {
        const Message& got = std::get<0>(d);
        if (got.uri) {
          EXPECT_TRUE(Uri::parse(got.uri->toString()).ok());
        }
      }
    }
  }
}

}  // namespace
}  // namespace selium::atlas
