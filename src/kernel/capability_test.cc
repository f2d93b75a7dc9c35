#include "kernel/capability.h"

#include <gtest/gtest.h>

#include <set>

namespace selium::kernel {
namespace {

TEST(Capability, IdsAreStableAbiNumbers) {
  // These numbers are part of the guest ABI; changing one breaks compiled guests.
  EXPECT_EQ(static_cast<int>(Capability::SessionLifecycle), 0);
  EXPECT_EQ(static_cast<int>(Capability::ProcessLifecycle), 4);
  EXPECT_EQ(static_cast<int>(Capability::NetHttpsWrite), 19);
  EXPECT_EQ(static_cast<int>(Capability::TimeRead), 24);
  EXPECT_EQ(kCapabilityCount, 25u);
}

TEST(Capability, EveryNameRoundTripsInAllSpellings) {
  std::set<std::string_view> names;
  for (Capability c : allCapabilities()) {
    std::string_view name = capabilityName(c);
    names.insert(name);
    EXPECT_EQ(parseCapability(name), c) << name;
  }
  EXPECT_EQ(names.size(), kCapabilityCount);
  EXPECT_EQ(parseCapability("net_quic_bind"), Capability::NetQuicBind);
  EXPECT_EQ(parseCapability("net-https-accept"), Capability::NetHttpsAccept);
  EXPECT_EQ(parseCapability("TIMEREAD"), Capability::TimeRead);
  EXPECT_EQ(parseCapability("Channel_Lifecycle"), Capability::ChannelLifecycle);
  EXPECT_EQ(parseCapability("NET_TLS_CLIENT_CONFIG"), Capability::NetTlsClientConfig);
}

TEST(Capability, RejectsUnknownAndMalformedSpellings) {
  EXPECT_EQ(parseCapability(""), std::nullopt);
  EXPECT_EQ(parseCapability("Logging"), std::nullopt);
  EXPECT_EQ(parseCapability("net_quicbind"), std::nullopt);
  EXPECT_EQ(parseCapability("time read"), std::nullopt);
  EXPECT_EQ(parseCapability("TimeRead "), std::nullopt);
}

TEST(Capability, SuggestsNearbyNameForTypos) {
  EXPECT_EQ(suggestCapability("TimeRaed"), "TimeRead");
  EXPECT_EQ(suggestCapability("net_htps_bind"), "NetHttpsBind");
  EXPECT_EQ(suggestCapability("CompletelyDifferent"), std::nullopt);
}

TEST(CapabilitySet, DeduplicatesAndKeepsFirstSeenOrder) {
  CapabilitySet set;
  EXPECT_TRUE(set.add(Capability::TimeRead));
  EXPECT_TRUE(set.add(Capability::ChannelReader));
  EXPECT_FALSE(set.add(Capability::TimeRead));
  ASSERT_EQ(set.size(), 2u);
  EXPECT_EQ(set.inOrder()[0], Capability::TimeRead);
  EXPECT_EQ(set.inOrder()[1], Capability::ChannelReader);
  EXPECT_TRUE(set.contains(Capability::ChannelReader));
  EXPECT_FALSE(set.contains(Capability::ChannelWriter));
}

TEST(CapabilitySet, SubsetCheckForGrantingChildren) {
  CapabilitySet parent, child;
  parent.add(Capability::TimeRead);
  parent.add(Capability::ChannelReader);
  child.add(Capability::TimeRead);
  EXPECT_TRUE(child.isSubsetOf(parent));
  child.add(Capability::ProcessLifecycle);
  EXPECT_FALSE(child.isSubsetOf(parent));
  EXPECT_TRUE(CapabilitySet{}.isSubsetOf(parent));
}

}  // namespace
}  // namespace selium::kernel
