// The Switchboard wire codec: round trips, and refusals that name the problem.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "flatbuffers/flatbuffers.h"
#include "selium/schemas/switchboard_generated.h"
#include "selium/switchboard_protocol.hpp"

namespace selium::switchboard {
namespace {

using ::testing::HasSubstr;

SchemaId schema(uint8_t b) {
  SchemaId id{};
  id.fill(b);
  return id;
}

wire::Decoded roundTrip(const wire::Message& m) { return wire::decode(wire::encode(m)); }

TEST(SwitchboardProtocol, RegisterRoundTrips) {
  wire::Register r{EndpointKind::Client, "calc", schema(1), schema(2), 77, 99};
  auto d = roundTrip({5, 1234, r});
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_EQ(d.message.request_id, 5u);
  EXPECT_EQ(d.message.reply_channel, 1234u);
  auto* got = std::get_if<wire::Register>(&d.message.payload);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->kind, EndpointKind::Client);
  EXPECT_EQ(got->name, "calc");
  EXPECT_EQ(got->schema, schema(1));
  EXPECT_EQ(got->reply_schema, schema(2));
  EXPECT_EQ(got->channel, 77u);
  EXPECT_EQ(got->lifetime, 99u);
}

TEST(SwitchboardProtocol, EveryOtherPayloadRoundTrips) {
  auto d = roundTrip({1, 2, wire::Unregister{7, 8}});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(std::get_if<wire::Unregister>(&d.message.payload)->token, 8u);
  d = roundTrip({1, 2, wire::Connect{3, 4}});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(std::get_if<wire::Connect>(&d.message.payload)->to, 4u);
  d = roundTrip({1, 0, wire::Registered{42}});
  EXPECT_EQ(std::get_if<wire::Registered>(&d.message.payload)->endpoint_id, 42u);
  d = roundTrip({1, 0, wire::Ok{}});
  EXPECT_NE(std::get_if<wire::Ok>(&d.message.payload), nullptr);
  d = roundTrip({1, 0, wire::Failure{"bad things"}});
  EXPECT_EQ(std::get_if<wire::Failure>(&d.message.payload)->message, "bad things");
  wire::Wiring w{9, 3, {{1, 0, 55}}, {{2, 66, 0}, {3, 67, 0}}, {{4, 0, 77}}};
  d = roundTrip({0, 0, w});
  ASSERT_TRUE(d.ok());
  auto* got = std::get_if<wire::Wiring>(&d.message.payload);
  EXPECT_EQ(got->endpoint_id, 9u);
  EXPECT_EQ(got->generation, 3u);
  EXPECT_EQ(got->inbound, w.inbound);
  EXPECT_EQ(got->outbound, w.outbound);
  EXPECT_EQ(got->retired, w.retired);
}

TEST(SwitchboardProtocol, GarbageHasNoEnvelope) {
  std::vector<uint8_t> junk = {1, 2, 3};
  auto d = wire::decode(junk);
  EXPECT_FALSE(d.envelope);
  EXPECT_THAT(d.error, HasSubstr("3 bytes without the \"SBSW\""));
  auto bytes = wire::encode({1, 2, wire::Ok{}});
  bytes.resize(bytes.size() - 4);
  d = wire::decode(bytes);
  EXPECT_FALSE(d.envelope);
  EXPECT_THAT(d.error, HasSubstr("failed FlatBuffers verification"));
  std::vector<uint8_t> huge(kMaxMessageBytes + 1, 0);
  EXPECT_THAT(wire::decode(huge).error, HasSubstr("exceeds the 65536-byte limit"));
}

// A message that verifies but whose payload is wrong still has an envelope: it gets an error
// reply.
std::vector<uint8_t> rawRegister(uint8_t kind, std::vector<uint8_t> schema_bytes, bool reply,
                                 uint64_t channel, std::string name = "n") {
  flatbuffers::FlatBufferBuilder fbb;
  auto n = fbb.CreateString(name);
  auto s = fbb.CreateVector(schema_bytes);
  flatbuffers::Offset<flatbuffers::Vector<uint8_t>> r;
  if (reply) r = fbb.CreateVector(schema_bytes);
  auto req = fb::CreateRegisterRequest(fbb, static_cast<fb::EndpointKind>(kind), n, s, r, channel);
  auto m = fb::CreateMessage(fbb, 11, 22, fb::Payload::RegisterRequest, req.Union());
  fb::FinishMessageBuffer(fbb, m);
  return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}

TEST(SwitchboardProtocol, BadRegisterFieldsAreNamed) {
  auto d = wire::decode(rawRegister(0, std::vector<uint8_t>(3, 1), false, 5));
  EXPECT_TRUE(d.envelope);
  EXPECT_EQ(d.message.request_id, 11u);
  EXPECT_EQ(d.message.reply_channel, 22u);
  EXPECT_EQ(d.error, "RegisterRequest schema must be exactly 16 bytes, got 3");
  d = wire::decode(rawRegister(9, std::vector<uint8_t>(16, 1), false, 5));
  EXPECT_THAT(d.error, HasSubstr("kind 9 is not an endpoint kind"));
  d = wire::decode(rawRegister(3, std::vector<uint8_t>(16, 1), false, 5));
  EXPECT_THAT(d.error, HasSubstr("reply_schema must be exactly 16 bytes for a server, got none"));
  d = wire::decode(rawRegister(0, std::vector<uint8_t>(16, 1), true, 5));
  EXPECT_THAT(d.error, HasSubstr("only for servers and clients, not a publisher"));
  d = wire::decode(rawRegister(0, std::vector<uint8_t>(16, 1), false, 0));
  EXPECT_THAT(d.error, HasSubstr("channel is missing: a publisher registers"));
  d = wire::decode(rawRegister(1, std::vector<uint8_t>(16, 1), false, 4));
  EXPECT_THAT(d.error, HasSubstr("must be 0 for a subscriber"));
  d = wire::decode(rawRegister(1, std::vector<uint8_t>(16, 1), false, 0, std::string(300, 'x')));
  EXPECT_THAT(d.error, HasSubstr("name is 300 bytes; at most 256"));
  d = wire::decode(rawRegister(1, std::vector<uint8_t>(16, 1), false, 0));
  EXPECT_TRUE(d.ok()) << d.error;
}

TEST(SwitchboardProtocol, MissingAndUnknownPayloadsAreNamed) {
  flatbuffers::FlatBufferBuilder fbb;
  fb::FinishMessageBuffer(fbb, fb::CreateMessage(fbb, 3, 4));
  std::vector<uint8_t> none(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
  auto d = wire::decode(none);
  EXPECT_TRUE(d.envelope);
  EXPECT_EQ(d.error, "the message has no payload");
}

TEST(SwitchboardProtocol, TooManyLinksAreRefused) {
  wire::Wiring w;
  w.inbound.resize(kMaxLinks);
  EXPECT_TRUE(roundTrip({0, 0, w}).ok());
  // The encoder cuts lists to the limit; a hand-built update over it is refused.
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<flatbuffers::Offset<fb::Link>> links;
  for (std::size_t i = 0; i <= kMaxLinks; ++i) links.push_back(fb::CreateLink(fbb, 1, 2, 3));
  auto in = fbb.CreateVector(links);
  auto u = fb::CreateWiringUpdate(fbb, 1, 1, in);
  fb::FinishMessageBuffer(fbb, fb::CreateMessage(fbb, 0, 0, fb::Payload::WiringUpdate, u.Union()));
  auto d = wire::decode({fbb.GetBufferPointer(), fbb.GetSize()});
  EXPECT_THAT(d.error, HasSubstr("inbound list has 1025 links; at most 1024"));
}

TEST(SwitchboardRpc, HeadersRoundTripAndShortFramesAreRefused) {
  std::vector<uint8_t> payload = {9, 8, 7};
  auto req = rpc::encodeRequest({0x0102030405060708, 0x1122334455667788}, payload);
  ASSERT_EQ(req.size(), rpc::kRequestHeader + 3);
  EXPECT_EQ(req[0], 0x08);  // little-endian
  auto head = rpc::decodeRequest(req);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->reply, 0x0102030405060708u);
  EXPECT_EQ(head->correlation, 0x1122334455667788u);
  EXPECT_FALSE(rpc::decodeRequest(std::span(req).first(15)));
  // The reply channel must be a shared id: 1 to 2^63 - 1.
  EXPECT_FALSE(rpc::decodeRequest(rpc::encodeRequest({0, 1}, payload)));
  EXPECT_FALSE(rpc::decodeRequest(rpc::encodeRequest({uint64_t{1} << 63, 1}, payload)));
  EXPECT_TRUE(rpc::decodeRequest(rpc::encodeRequest({uint64_t{INT64_MAX}, 1}, payload)));
  auto rep = rpc::encodeReply({77, rpc::Status::Error}, payload);
  auto rhead = rpc::decodeReply(rep);
  ASSERT_TRUE(rhead);
  EXPECT_EQ(rhead->correlation, 77u);
  EXPECT_EQ(rhead->status, rpc::Status::Error);
  rep[8] = 2;
  EXPECT_FALSE(rpc::decodeReply(rep));
  EXPECT_FALSE(rpc::decodeReply(std::span(rep).first(11)));
}

}  // namespace
}  // namespace selium::switchboard
