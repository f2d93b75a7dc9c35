// Native unit test of the Remote Client's policy (built by src/control/CMakeLists.txt).
#include "policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "selium/abi/capabilities.h"

namespace selium::remote {
namespace {

using ::testing::HasSubstr;

Policy parsed(std::string_view text) {
  std::string error;
  auto p = Policy::parse(text, error);
  EXPECT_TRUE(p.has_value()) << error;
  return p ? *p : *Policy::parse("*=*", error);
}

std::string parseError(std::string_view text) {
  std::string error;
  EXPECT_FALSE(Policy::parse(text, error).has_value()) << text;
  return error;
}

TEST(RemoteClientPolicy, NamedEntriesWinOverTheDefault) {
  Policy p = parsed(
      "client.localhost=*; viewer=all-processes ;deployer=ProcessLifecycle,"
      "channel-reader;*=ChannelReader");
  auto admin = p.sessionFor("client.localhost");
  ASSERT_TRUE(admin);
  EXPECT_TRUE(admin->all_capabilities);
  EXPECT_TRUE(admin->all_processes);
  EXPECT_TRUE(admin->allows(SELIUM_CAP_NetQuicBind));
  auto viewer = p.sessionFor("viewer");
  ASSERT_TRUE(viewer);
  EXPECT_TRUE(viewer->all_processes);
  EXPECT_FALSE(viewer->allows(SELIUM_CAP_ProcessLifecycle));
  auto deployer = p.sessionFor("deployer");
  ASSERT_TRUE(deployer);
  EXPECT_FALSE(deployer->all_processes);
  EXPECT_TRUE(deployer->allows(SELIUM_CAP_ProcessLifecycle));
  EXPECT_TRUE(deployer->allows(SELIUM_CAP_ChannelReader));
  EXPECT_FALSE(deployer->allows(SELIUM_CAP_ChannelWriter));
  auto other = p.sessionFor("someone.else");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->name, "someone.else");  // the default entry, under the client's own name
  EXPECT_TRUE(other->allows(SELIUM_CAP_ChannelReader));
  EXPECT_FALSE(other->allows(SELIUM_CAP_ProcessLifecycle));
}

TEST(RemoteClientPolicy, UnknownClientsAreRefusedWithoutADefault) {
  Policy p = parsed("client.localhost=*");
  EXPECT_FALSE(p.sessionFor("intruder").has_value());
  EXPECT_FALSE(p.sessionFor("").has_value());
}

TEST(RemoteClientPolicy, EmptyPolicyTrustsEveryCertifiedClientFully) {
  Policy p = parsed("");
  auto any = p.sessionFor("whoever");
  ASSERT_TRUE(any);
  EXPECT_TRUE(any->all_capabilities);
  EXPECT_FALSE(p.sessionFor("").has_value());  // a certificate without a CN gets nothing
}

TEST(RemoteClientPolicy, ViewerWithNoGrantsMayDoNothing) {
  Policy p = parsed("viewer=");
  auto viewer = p.sessionFor("viewer");
  ASSERT_TRUE(viewer);
  EXPECT_FALSE(viewer->all_processes);
  for (uint32_t cap = 0; cap < SELIUM_CAPABILITY_COUNT; ++cap) EXPECT_FALSE(viewer->allows(cap));
}

TEST(RemoteClientPolicy, ErrorsNameTheEntry) {
  EXPECT_THAT(parseError("client.localhost"), HasSubstr("has no '='"));
  EXPECT_THAT(parseError("=*"), HasSubstr("names no client"));
  EXPECT_THAT(parseError("a=*;a=ChannelReader"), HasSubstr("\"a\" twice"));
  EXPECT_THAT(parseError("a=ChannelReader,Root"), HasSubstr("\"Root\" is neither"));
  EXPECT_THAT(parseError(";;"), HasSubstr("names no client"));
}

TEST(RemoteClientPolicy, SpacesAndPlusSeparateLikeSemicolonsAndCommas) {
  // The module-spec form: a spec's args cannot carry ';' or ','.
  Policy p = parsed("client.localhost=*  deployer=ProcessLifecycle+ChannelReader");
  auto deployer = p.sessionFor("deployer");
  ASSERT_TRUE(deployer);
  EXPECT_TRUE(deployer->allows(SELIUM_CAP_ProcessLifecycle));
  EXPECT_TRUE(deployer->allows(SELIUM_CAP_ChannelReader));
  EXPECT_TRUE(p.sessionFor("client.localhost")->all_capabilities);
}

TEST(RemoteClientPolicy, CommonNameFromASubject) {
  EXPECT_EQ(commonName("CN=client.localhost"), "client.localhost");
  EXPECT_EQ(commonName("O=Selium,CN=viewer"), "viewer");
  EXPECT_EQ(commonName("CN=a\\,b,O=x"), "a,b");
  EXPECT_EQ(commonName("O=x\\,CN=evil"), "");  // an escaped comma does not start an attribute
  EXPECT_EQ(commonName("O=Selium"), "");
  EXPECT_EQ(commonName(""), "");
}

}  // namespace
}  // namespace selium::remote
