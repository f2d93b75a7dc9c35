#include "util/strings.h"

#include <gtest/gtest.h>

namespace selium::util {
namespace {

TEST(Strings, TrimRemovesAsciiWhitespaceAtBothEnds) {
  EXPECT_EQ(trim("  a b \t\n"), "a b");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim(" \t "), "");
}

TEST(Strings, SplitKeepsEmptyPieces) {
  auto pieces = split("a;;b\nc;", ";\n");
  ASSERT_EQ(pieces.size(), 5u);
  EXPECT_EQ(pieces[0], "a");
  EXPECT_EQ(pieces[1], "");
  EXPECT_EQ(pieces[2], "b");
  EXPECT_EQ(pieces[3], "c");
  EXPECT_EQ(pieces[4], "");
}

TEST(Strings, CaseFolding) {
  EXPECT_EQ(toLower("NetQuicBIND"), "netquicbind");
  EXPECT_TRUE(equalsIgnoreCase("TimeRead", "TIMEREAD"));
  EXPECT_FALSE(equalsIgnoreCase("TimeRead", "TimeReads"));
}

TEST(Strings, Utf8Validation) {
  EXPECT_TRUE(isValidUtf8("plain"));
  EXPECT_TRUE(isValidUtf8("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(isValidUtf8("\xC3"));              // truncated
  EXPECT_FALSE(isValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(isValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(isValidUtf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(isValidUtf8("\xFF"));
}

TEST(Strings, ToValidUtf8ReplacesEachBadByte) {
  EXPECT_EQ(toValidUtf8("h\xC3\xA9llo \xF0\x9F\x98\x80"), "h\xC3\xA9llo \xF0\x9F\x98\x80");
  EXPECT_EQ(toValidUtf8(std::string("a\xFF") + "b"), std::string("a\xEF\xBF\xBD") + "b");
  EXPECT_EQ(toValidUtf8("\xC3"), "\xEF\xBF\xBD");                  // truncated at the end
  EXPECT_EQ(toValidUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong: two bad bytes
  EXPECT_EQ(toValidUtf8(std::string_view("\0x", 2)), std::string("\0x", 2));
  EXPECT_TRUE(isValidUtf8(toValidUtf8("\xED\xA0\x80\xF4\x90\x80\x80")));
}

TEST(Strings, Utf8PrefixLengthDropsOnlyAnUnfinishedLastCharacter) {
  EXPECT_EQ(utf8PrefixLength(""), 0u);
  EXPECT_EQ(utf8PrefixLength("abc"), 3u);
  EXPECT_EQ(utf8PrefixLength("a\xC3\xA9"), 3u);          // complete
  EXPECT_EQ(utf8PrefixLength("a\xC3"), 1u);              // 2-byte lead, cut
  EXPECT_EQ(utf8PrefixLength("a\xF0\x9F\x98"), 1u);      // 4-byte sequence, 3 present
  EXPECT_EQ(utf8PrefixLength("a\xF0\x9F\x98\x80"), 5u);  // complete
  EXPECT_EQ(utf8PrefixLength("a\x80\x80\x80\x80"), 5u);  // stray continuations: nothing to keep
}

TEST(Strings, EditDistanceIgnoresCase) {
  EXPECT_EQ(editDistance("TimeRead", "timeread"), 0u);
  EXPECT_EQ(editDistance("TimeRaed", "TimeRead"), 2u);
  EXPECT_EQ(editDistance("", "abc"), 3u);
}

TEST(Strings, ClosestMatchSuggestsOnlyTypos) {
  std::vector<std::string_view> names = {"takes_i32", "takes_i64", "start", "run"};
  EXPECT_EQ(closestMatch("takes_i36", names), "takes_i32");  // ties go to the earlier name
  EXPECT_EQ(closestMatch("strat", names), "start");
  EXPECT_EQ(closestMatch("Run", names), "run");
  EXPECT_EQ(closestMatch("nope", names), std::nullopt);  // a 4-letter text allows 2 edits
  EXPECT_EQ(closestMatch("", names), std::nullopt);
  EXPECT_EQ(
      closestMatch(std::string(129, 'a'), std::vector<std::string_view>{std::string_view("a")}),
      std::nullopt);
}

TEST(Strings, EscapeControlKeepsQuotesAndUtf8) {
  EXPECT_EQ(escapeControl("say \"hi\"\t\x7f h\xC3\xA9"), "say \"hi\"\\x09\\x7f h\xC3\xA9");
}

TEST(Strings, QuoteEscapesControlCharacters) {
  EXPECT_EQ(quote("a\"b"), "\"a\\\"b\"");
  EXPECT_EQ(quote("x\ny\x01"), "\"x\\x0ay\\x01\"");
}

TEST(Strings, ParseByteSizeWithUnits) {
  EXPECT_EQ(parseByteSize("65536"), 65536u);
  EXPECT_EQ(parseByteSize("64KiB"), 65536u);
  EXPECT_EQ(parseByteSize("256M"), 256u << 20);
  EXPECT_EQ(parseByteSize(" 1 GiB "), uint64_t{1} << 30);
  EXPECT_EQ(parseByteSize("2gb"), uint64_t{2} << 30);
  EXPECT_EQ(parseByteSize(""), std::nullopt);
  EXPECT_EQ(parseByteSize("MiB"), std::nullopt);
  EXPECT_EQ(parseByteSize("-1"), std::nullopt);
  EXPECT_EQ(parseByteSize("1.5G"), std::nullopt);
  EXPECT_EQ(parseByteSize("12 parsecs"), std::nullopt);
  EXPECT_EQ(parseByteSize("99999999999999999999"), std::nullopt);
  EXPECT_EQ(parseByteSize("17179869184G"), std::nullopt);  // 2^64 bytes
}

}  // namespace
}  // namespace selium::util
