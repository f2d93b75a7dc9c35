#include "net/address.h"

#include <gtest/gtest.h>

namespace selium::net {
namespace {

TEST(AddressTest, FormatsV4AndBracketsV6) {
  EXPECT_EQ(formatAddress(boost::asio::ip::make_address("127.0.0.1"), 8080), "127.0.0.1:8080");
  EXPECT_EQ(formatAddress(boost::asio::ip::make_address("::1"), 443), "[::1]:443");
}

TEST(AddressTest, ParsesHostPort) {
  auto a = parseHostPort("example.org:443");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "example.org");
  EXPECT_EQ(a->port, 443);
  auto b = parseHostPort("[::1]:0");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 0);
  for (const char* bad : {"", "example.org", ":80", "host:", "host:65536", "host:8x", "::1:80",
                          "[::1]80", "[::1]", "host:123456"}) {
    EXPECT_FALSE(parseHostPort(bad)) << bad;
  }
}

TEST(AddressTest, RecognisesDnsNames) {
  EXPECT_TRUE(isDnsName("localhost"));
  EXPECT_TRUE(isDnsName("Example.ORG"));
  EXPECT_TRUE(isDnsName("a-b.c1"));
  EXPECT_TRUE(isDnsName("*.example.org", true));
  EXPECT_FALSE(isDnsName("*.example.org"));
  const std::string long_label(64, 'a');
  for (std::string_view bad : {"", "-a.org", "a-.org", "a..org", "a.org.", "a_b.org", "1.2.3.4",
                               "::1", "a b", long_label.c_str()}) {
    EXPECT_FALSE(isDnsName(bad)) << bad;
  }
}

}  // namespace
}  // namespace selium::net
