#include "net/http/http_util.h"

#include <gtest/gtest.h>

namespace selium::net::http {
namespace {

TEST(HttpUtil, NamesReasonPhrases) {
  EXPECT_EQ(reasonPhrase(200), "OK");
  EXPECT_EQ(reasonPhrase(413), "Content Too Large");
  EXPECT_EQ(reasonPhrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reasonPhrase(599), "Unknown");
}

TEST(HttpUtil, KnowsConnectionLevelHeaders) {
  for (const char* name : {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                           "upgrade", "te", "http2-settings"}) {
    EXPECT_TRUE(isConnectionLevelHeader(name)) << name;
  }
  EXPECT_FALSE(isConnectionLevelHeader("content-length"));
  EXPECT_FALSE(isConnectionLevelHeader("Connection"));  // callers lower-case first
}

TEST(HttpUtil, RefusesHeadersThatCouldSplitAResponse) {
  EXPECT_TRUE(isValidHeaderName("X-Custom_1"));
  for (const char* bad : {"", "a b", "a:b", "a\r\nb", "\xc3\xa9"}) {
    EXPECT_FALSE(isValidHeaderName(bad)) << bad;
  }
  EXPECT_TRUE(isValidHeaderValue("text/plain; charset=utf-8\tx"));
  EXPECT_TRUE(isValidHeaderValue(""));
  for (std::string bad : {std::string("a\r\nSet-Cookie: x"), std::string("a\nb"),
                          std::string("a\0b", 3), std::string("a\x7f")}) {
    EXPECT_FALSE(isValidHeaderValue(bad));
  }
}

TEST(HttpUtil, ValidatesAuthorities) {
  for (const char* good : {"", "example.org", "Example.org:8080", "127.0.0.1:80", "[::1]:443",
                           "[fe80::1]", "a_b.local"}) {
    EXPECT_TRUE(isValidAuthority(good)) << good;
  }
  for (const char* bad :
       {"a b", "user@host", "host:80x", "host:123456", "[::1", "[::1]x", "a/b", "host\r\n"}) {
    EXPECT_FALSE(isValidAuthority(bad)) << bad;
  }
}

TEST(HttpUtil, ErrorResponsesAreCompleteAndClose) {
  const std::string response = errorResponse(431, "too large");
  const std::string start = "HTTP/1.1 431 Request Header Fields Too Large\r\nDate: ";
  const std::string end =
      " GMT\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\n"
      "too large\n";
  ASSERT_EQ(response.size(), start.size() + 25 + end.size()) << response;
  EXPECT_EQ(response.substr(0, start.size()), start);
  EXPECT_EQ(response.substr(response.size() - end.size()), end);
  EXPECT_EQ(toLowerAscii("MiXeD-1"), "mixed-1");
}

TEST(HttpUtil, DatesAreImfFixdate) {
  EXPECT_EQ(formatHttpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");  // RFC 9110's example
  EXPECT_EQ(formatHttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(formatHttpDate(1709251199), "Thu, 29 Feb 2024 23:59:59 GMT");
  EXPECT_EQ(httpDate().size(), 29u);
  EXPECT_EQ(httpDate().substr(25), " GMT");
}

}  // namespace
}  // namespace selium::net::http
