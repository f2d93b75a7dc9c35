// Sessions: entitlements only narrow, checks walk the whole chain, children started through a
// session are covered up the chain.
#include "kernel/session.h"

#include <flatbuffers/flatbuffers.h>

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "kernel/drivers/process/session_driver.h"
#include "selium/schemas/process_generated.h"

namespace selium::kernel {
namespace {

CapabilitySet caps(std::initializer_list<Capability> list) {
  CapabilitySet set;
  for (Capability c : list) set.add(c);
  return set;
}

TEST(SessionTest, ARootSessionHoldsOnlyWhatTheProcessHolds) {
  Session root(caps({Capability::ChannelReader}));
  EXPECT_FALSE(root.grant(Capability::ChannelReader, std::nullopt).has_value());
  EXPECT_TRUE(root.covers(Capability::ChannelReader, 42));
  auto refused = root.grant(Capability::ChannelWriter, std::nullopt);
  ASSERT_TRUE(refused.has_value());
  EXPECT_NE(refused->find("ChannelWriter on any resource"), std::string::npos) << *refused;
  EXPECT_TRUE(root.grant(Capability::ChannelWriter, 1).has_value());
  EXPECT_TRUE(root.admit(Capability::TimeRead).has_value());
  EXPECT_FALSE(root.covers(Capability::ChannelWriter, 1));
}

TEST(SessionTest, AChildCannotWidenItsParent) {
  auto root = std::make_shared<Session>(caps({Capability::ChannelReader}));
  ASSERT_FALSE(root->grant(Capability::ChannelReader, 1).has_value());
  ASSERT_FALSE(root->grant(Capability::ChannelReader, 2).has_value());
  Session child(root);
  EXPECT_TRUE(child.grant(Capability::ChannelReader, std::nullopt).has_value());  // any over a set
  EXPECT_TRUE(child.grant(Capability::ChannelReader, 3).has_value());             // outside it
  EXPECT_TRUE(child.admit(Capability::ChannelWriter).has_value());                // not held at all
  EXPECT_FALSE(child.grant(Capability::ChannelReader, 2).has_value());
  EXPECT_TRUE(child.covers(Capability::ChannelReader, 2));
  EXPECT_FALSE(child.covers(Capability::ChannelReader, 1));  // the parent's, not the child's
  // Narrowing the parent narrows the child.
  ASSERT_FALSE(root->revoke(Capability::ChannelReader, 2).has_value());
  EXPECT_FALSE(child.covers(Capability::ChannelReader, 2));
  // Granting it again to the parent gives it back; the child kept its entitlement.
  ASSERT_FALSE(root->grant(Capability::ChannelReader, 2).has_value());
  EXPECT_TRUE(child.covers(Capability::ChannelReader, 2));
}

TEST(SessionTest, AnyCannotLoseOneResource) {
  Session root(caps({Capability::ChannelReader}));
  ASSERT_FALSE(root.grant(Capability::ChannelReader, std::nullopt).has_value());
  EXPECT_TRUE(root.revoke(Capability::ChannelReader, 5).has_value());
  EXPECT_FALSE(root.revoke(Capability::ChannelReader, std::nullopt).has_value());
  EXPECT_FALSE(root.covers(Capability::ChannelReader, 5));
}

TEST(SessionTest, ChildrenStartedThroughASessionAreCoveredUpTheChain) {
  auto root = std::make_shared<Session>(caps({Capability::ProcessLifecycle}));
  ASSERT_FALSE(root->admit(Capability::ProcessLifecycle).has_value());
  auto child = std::make_shared<Session>(root);
  ASSERT_FALSE(child->admit(Capability::ProcessLifecycle).has_value());
  EXPECT_TRUE(child->entitles(Capability::ProcessLifecycle));
  auto started = std::make_shared<ChildState>();
  child->addStarted(started);
  EXPECT_FALSE(child->covers(Capability::ProcessLifecycle, 7));  // no pid yet
  started->started(7);
  EXPECT_TRUE(child->covers(Capability::ProcessLifecycle, 7));
  EXPECT_TRUE(root->covers(Capability::ProcessLifecycle, 7));
  EXPECT_FALSE(child->covers(Capability::ProcessLifecycle, 8));
  // Revoking the process from the parent takes it from the child too.
  ASSERT_FALSE(root->revoke(Capability::ProcessLifecycle, 7).has_value());
  EXPECT_FALSE(child->covers(Capability::ProcessLifecycle, 7));
}

TEST(SessionTest, ResourcesAreBounded) {
  Session root(caps({Capability::ChannelReader}));
  for (uint64_t i = 0; i < Session::kMaxResources; ++i) {
    ASSERT_FALSE(root.grant(Capability::ChannelReader, i).has_value());
  }
  auto refused = root.grant(Capability::ChannelReader, Session::kMaxResources);
  ASSERT_TRUE(refused.has_value());
  EXPECT_NE(refused->find("limit"), std::string::npos);
}

std::vector<uint8_t> request(uint32_t capability, bool any, std::vector<uint64_t> resources) {
  flatbuffers::FlatBufferBuilder builder;
  auto ids = builder.CreateVector(resources);
  std::vector<flatbuffers::Offset<abi::Entitlement>> list{
      abi::CreateEntitlement(builder, capability, any, ids)};
  builder.Finish(abi::CreateSessionRequest(builder, builder.CreateVector(list)));
  return {builder.GetBufferPointer(), builder.GetBufferPointer() + builder.GetSize()};
}

TEST(SessionRequestTest, DecodesEntitlements) {
  auto decoded = decodeSessionRequest(request(SELIUM_CAP_ChannelReader, false, {4, 5}));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  ASSERT_EQ(decoded->size(), 1u);
  EXPECT_EQ((*decoded)[0].capability, uint32_t{SELIUM_CAP_ChannelReader});
  EXPECT_FALSE((*decoded)[0].any);
  EXPECT_EQ((*decoded)[0].resources, (std::vector<uint64_t>{4, 5}));
}

TEST(SessionRequestTest, RefusesWhatIsNotARequest) {
  std::vector<uint8_t> garbage{1, 2, 3, 4, 5, 6, 7, 8, 9};
  auto decoded = decodeSessionRequest(garbage);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("SessionRequest"), std::string::npos);
  auto unknown = decodeSessionRequest(request(SELIUM_CAPABILITY_COUNT, true, {}));
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("not a capability id"), std::string::npos);
  auto both = decodeSessionRequest(request(SELIUM_CAP_ChannelReader, true, {1}));
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.error().message.find("`any` and `resources` together"), std::string::npos);
  std::vector<uint64_t> many(SELIUM_SESSION_MAX_RESOURCES + 1, 7);
  auto huge = decodeSessionRequest(request(SELIUM_CAP_ChannelReader, false, many));
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.error().message.find("limit"), std::string::npos);
}

}  // namespace
}  // namespace selium::kernel
