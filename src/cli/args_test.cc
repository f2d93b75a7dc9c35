#include "cli/args.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace selium::cli {
namespace {

using control::ArgKind;
using ::testing::HasSubstr;

std::string bytesText(const std::vector<uint8_t>& b) { return {b.begin(), b.end()}; }

TEST(CliArgs, ParsesEveryTypeAndItsAliasesAnyCase) {
  EXPECT_EQ(parseArg("i8:-128", 1)->int_value, -128);
  EXPECT_EQ(parseArg("U16:65535", 1)->uint_value, 65535u);
  EXPECT_EQ(parseArg("i64:-9223372036854775808", 1)->int_value, INT64_MIN);
  EXPECT_EQ(parseArg("u64:+18446744073709551615", 1)->uint_value, UINT64_MAX);
  EXPECT_FLOAT_EQ(parseArg("f32:1.5", 1)->f32, 1.5f);
  EXPECT_DOUBLE_EQ(parseArg("f64:-2e10", 1)->f64, -2e10);
  for (const char* alias : {"utf8", "UTF-8", "string", "Str", "text"}) {
    auto a = parseArg(std::string(alias) + ":hello: world", 1);
    ASSERT_TRUE(a.ok()) << alias;
    EXPECT_EQ(a->kind, ArgKind::Utf8);
    EXPECT_EQ(bytesText(a->bytes), "hello: world");  // only the first ':' separates
  }
  for (const char* alias : {"buffer", "bytes", "byte", "DATA"}) {
    auto a = parseArg(std::string(alias) + ":raw", 1);
    ASSERT_TRUE(a.ok()) << alias;
    EXPECT_EQ(a->kind, ArgKind::Buffer);
    EXPECT_EQ(bytesText(a->bytes), "raw");
  }
  auto hexbuf = parseArg("buffer:hex:0xDE_AD be ef", 1);
  ASSERT_TRUE(hexbuf.ok()) << hexbuf.error();
  EXPECT_EQ(hexbuf->bytes, (std::vector<uint8_t>{0xde, 0xad, 0xbe, 0xef}));
  auto hex = parseArg("hex:0102", 1);
  ASSERT_TRUE(hex.ok());
  EXPECT_EQ(hex->kind, ArgKind::Hex);
  EXPECT_EQ(hex->bytes, (std::vector<uint8_t>{1, 2}));
  auto handle = parseArg("handle:42", 1);
  ASSERT_TRUE(handle.ok());
  EXPECT_EQ(handle->kind, ArgKind::Resource);
  EXPECT_EQ(handle->shared_id, 42u);
  EXPECT_TRUE(parseArg("utf8:", 1)->bytes.empty());
}

// The kinds are the ABI's (SELIUM_PARAM_KINDS): each parses by its name to its number, and an
// untyped value's error lists them all with the aliases.
TEST(CliArgs, KnowsEveryAbiKindByItsName) {
#define SELIUM_EXPECT_KIND_(name, id)                  \
  {                                                    \
    auto a = parseArg(#name ":10", 1);                 \
    ASSERT_TRUE(a.ok()) << #name << ": " << a.error(); \
    EXPECT_EQ(static_cast<int>(a->kind), id) << #name; \
  }
  SELIUM_PARAM_KINDS(SELIUM_EXPECT_KIND_)
#undef SELIUM_EXPECT_KIND_
  EXPECT_THAT(parseArg("hello", 1).error(),
              HasSubstr("(types: i8 u8 i16 u16 i32 u32 i64 u64 f32 f64 utf8 buffer hex resource "
                        "(aliases: string str text utf-8, bytes byte data, handle))"));
}

TEST(CliArgs, RefusesUntypedAndOutOfRangeValuesNamingTheArgument) {
  EXPECT_THAT(parseArg("hello", 3).error(), HasSubstr("argument 3 \"hello\" is missing a type"));
  EXPECT_THAT(parseArg("hello", 3).error(), HasSubstr("utf8:hello"));
  EXPECT_THAT(parseArg("weird:1", 1).error(), HasSubstr("is missing a type"));
  EXPECT_THAT(parseArg("u8:256", 2).error(),
              HasSubstr("argument 2 (u8 \"256\"): not a 8-bit unsigned integer"));
  EXPECT_THAT(parseArg("i8:-129", 1).error(), HasSubstr("signed"));
  EXPECT_THAT(parseArg("u32:-1", 1).error(), HasSubstr("unsigned"));
  EXPECT_THAT(parseArg("i32:12abc", 1).error(), HasSubstr("signed"));
  EXPECT_THAT(parseArg("i32:", 1).error(), HasSubstr("signed"));
  EXPECT_THAT(parseArg("f32:1e39", 1).error(), HasSubstr("finite f32"));
  EXPECT_THAT(parseArg("f64:nan", 1).error(), HasSubstr("finite f64"));
  EXPECT_THAT(parseArg("hex:abc", 1).error(), HasSubstr("even number of digits"));
  EXPECT_THAT(parseArg("buffer:hex:zz", 1).error(), HasSubstr("invalid hex digit 'z'"));
  EXPECT_THAT(parseArg("resource:0", 1).error(), HasSubstr("not a shared id"));
  EXPECT_THAT(parseArg("utf8:\xC3", 1).error(), HasSubstr("not valid UTF-8"));
}

TEST(CliArgs, CapabilitiesConcatenateSingleThenListsWithoutDuplicates) {
  auto caps = parseCapabilities({"channel-reader", "ProcessLifecycle"},
                                {"ChannelReader, time-read", "NET-QUIC-BIND"});
  ASSERT_TRUE(caps.ok()) << caps.error();
  EXPECT_EQ(*caps, (std::vector<uint32_t>{2, 4, 24, 5}));
  auto bad = parseCapabilities({}, {"ChannelReader,Root"});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error(), HasSubstr("unknown capability \"Root\""));
  EXPECT_THAT(bad.error(), HasSubstr("ChannelLifecycle"));
}

TEST(CliArgs, ParsesServerAddresses) {
  auto a = parseServer("example.org:7443");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "example.org");
  EXPECT_EQ(a->port, 7443);
  EXPECT_EQ(parseServer("localhost")->port, kDefaultPort);
  auto v6 = parseServer("[::1]:9000");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9000);
  EXPECT_THAT(parseServer("::1").error(), HasSubstr("brackets"));
  EXPECT_THAT(parseServer("host:0").error(), HasSubstr("1 to 65535"));
  EXPECT_THAT(parseServer("host:70000").error(), HasSubstr("1 to 65535"));
  EXPECT_THAT(parseServer("host:").error(), HasSubstr("1 to 65535"));
  EXPECT_THAT(parseServer(":7000").error(), HasSubstr("names no host"));
}

}  // namespace
}  // namespace selium::cli
