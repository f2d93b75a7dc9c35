// process_start's request decoder: what a valid request becomes, and the message for each way a
// request can be wrong. Every truncation and single-byte corruption of a valid request is
// decoded or refused, never a crash.
#include "kernel/start_request.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <selium/abi/hostcalls.h>

#include <vector>

#include "selium/schemas/process_generated.h"

namespace selium::kernel {
namespace {

using ::testing::HasSubstr;
namespace fb = selium::abi;

std::vector<uint8_t> bytesOf(flatbuffers::FlatBufferBuilder& b) {
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

std::vector<uint8_t> request(const std::string& path,
                             const std::vector<flatbuffers::Offset<fb::Arg>>& args = {},
                             flatbuffers::FlatBufferBuilder* builder = nullptr) {
  flatbuffers::FlatBufferBuilder local;
  flatbuffers::FlatBufferBuilder& b = builder != nullptr ? *builder : local;
  auto p = b.CreateString(path);
  auto a = b.CreateVector(args);
  b.Finish(fb::CreateStartRequest(b, p, 0, 0, a));
  return bytesOf(b);
}

std::string errorOf(std::span<const uint8_t> bytes) {
  auto decoded = decodeStartRequest(bytes);
  return decoded ? std::string("decoded") : decoded.error().message;
}

TEST(StartRequestTest, FullRequestDecodesEveryField) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<fb::Arg>> args;
  args.push_back(fb::CreateArg(b, fb::ArgKind::U32, 0, 7));
  args.push_back(fb::CreateArg(b, fb::ArgKind::I8, -128));
  std::vector<uint8_t> text{'h', 'i'};
  args.push_back(fb::CreateArg(b, fb::ArgKind::Utf8, 0, 0, 0, 0, b.CreateVector(text)));
  args.push_back(fb::CreateArg(b, fb::ArgKind::Resource, 0, 0, 0, 0, 0, 5));
  args.push_back(fb::CreateArg(b, fb::ArgKind::F64, 0, 0, 0, 2.5));
  std::vector<uint32_t> caps{SELIUM_CAP_ChannelLifecycle, SELIUM_CAP_TimeRead};
  std::vector<flatbuffers::Offset<flatbuffers::String>> env{b.CreateString("A=1")};
  b.Finish(fb::CreateStartRequest(b, b.CreateString("dir/child.wasm"), b.CreateString("work"),
                                  b.CreateVector(caps), b.CreateVector(args),
                                  b.CreateString("sel://x"), b.CreateVector(env)));
  auto decoded = decodeStartRequest(bytesOf(b));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->module, "dir/child.wasm");
  EXPECT_EQ(decoded->entrypoint, "work");
  EXPECT_TRUE(decoded->capabilities.contains(Capability::ChannelLifecycle));
  EXPECT_TRUE(decoded->capabilities.contains(Capability::TimeRead));
  EXPECT_EQ(decoded->capabilities.size(), 2u);
  ASSERT_EQ(decoded->args.size(), 5u);
  EXPECT_EQ(decoded->args[0], (EntrypointArg{ParamKind::U32, uint64_t{7}}));
  EXPECT_EQ(decoded->args[1], (EntrypointArg{ParamKind::I8, int64_t{-128}}));
  EXPECT_EQ(decoded->args[2], (EntrypointArg{ParamKind::Utf8, std::string("hi")}));
  EXPECT_EQ(decoded->args[3], (EntrypointArg{ParamKind::Resource, uint64_t{5}}));
  EXPECT_EQ(decoded->args[4], (EntrypointArg{ParamKind::F64, 2.5}));
  EXPECT_EQ(decoded->log_uri, "sel://x");
  EXPECT_EQ(decoded->env, std::vector<std::string>{"A=1"});
}

TEST(StartRequestTest, DefaultsApplyToAMinimalRequest) {
  auto decoded = decodeStartRequest(request("w.wasm"));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->entrypoint, "start");
  EXPECT_TRUE(decoded->capabilities.empty());
  EXPECT_FALSE(decoded->log_uri.has_value());
}

TEST(StartRequestTest, PathsThatLeaveModulesAreRefused) {
  EXPECT_THAT(errorOf(request("../x.wasm")), HasSubstr("must not contain \"..\""));
  EXPECT_THAT(errorOf(request("a/../../x.wasm")), HasSubstr("must not contain \"..\""));
  EXPECT_THAT(errorOf(request("/etc/passwd")), HasSubstr("must be relative"));
  EXPECT_THAT(errorOf(request("")), HasSubstr("must not be empty"));
  EXPECT_THAT(errorOf(request(std::string("a\0b", 3))), HasSubstr("NUL"));
  EXPECT_THAT(errorOf(request("\xff.wasm")), HasSubstr("UTF-8"));
  EXPECT_THAT(errorOf(request(std::string(5000, 'a'))), HasSubstr("over the limit"));
}

TEST(StartRequestTest, ArgumentsOutOfTheirKindsRangeAreRefused) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<fb::Arg>> args{fb::CreateArg(b, fb::ArgKind::I8, 128)};
  EXPECT_THAT(errorOf(request("w.wasm", args, &b)), HasSubstr("args[0]: i8 value 128"));

  flatbuffers::FlatBufferBuilder c;
  std::vector<flatbuffers::Offset<fb::Arg>> u{fb::CreateArg(c, fb::ArgKind::U16, 0, 70000)};
  EXPECT_THAT(errorOf(request("w.wasm", u, &c)), HasSubstr("args[0]: u16 value 70000"));

  flatbuffers::FlatBufferBuilder d;
  std::vector<flatbuffers::Offset<fb::Arg>> h{
      fb::CreateArg(d, fb::ArgKind::Resource, 0, 0, 0, 0, 0, -3)};
  EXPECT_THAT(errorOf(request("w.wasm", h, &d)), HasSubstr("is not a handle"));

  flatbuffers::FlatBufferBuilder e;
  std::vector<flatbuffers::Offset<fb::Arg>> k{fb::CreateArg(e, static_cast<fb::ArgKind>(99))};
  EXPECT_THAT(errorOf(request("w.wasm", k, &e)), HasSubstr("unknown kind 99"));

  flatbuffers::FlatBufferBuilder f;
  std::vector<uint8_t> bad{0xff, 0xfe};
  std::vector<flatbuffers::Offset<fb::Arg>> t{
      fb::CreateArg(f, fb::ArgKind::Utf8, 0, 0, 0, 0, f.CreateVector(bad))};
  EXPECT_THAT(errorOf(request("w.wasm", t, &f)), HasSubstr("not valid UTF-8"));
}

TEST(StartRequestTest, TooManyArgumentsAndUnknownCapabilitiesAreRefused) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<fb::Arg>> args;
  for (std::size_t i = 0; i <= kMaxStartArgs; ++i) {
    args.push_back(fb::CreateArg(b, fb::ArgKind::U32));
  }
  EXPECT_THAT(errorOf(request("w.wasm", args, &b)), HasSubstr("over the limit of 64"));

  flatbuffers::FlatBufferBuilder c;
  std::vector<uint32_t> caps{SELIUM_CAPABILITY_COUNT};
  c.Finish(fb::CreateStartRequest(c, c.CreateString("w.wasm"), 0, c.CreateVector(caps)));
  EXPECT_THAT(errorOf(bytesOf(c)), HasSubstr("is not a capability id"));
}

// The environment follows the rules of a module spec's env: NAME=value, a portable name, each
// name once, UTF-8 text.
TEST(StartRequestTest, EnvEntriesFollowTheSpecRules) {
  auto decode = [](std::vector<std::string> entries) {
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<flatbuffers::String>> env;
    for (const std::string& e : entries) env.push_back(b.CreateString(e));
    b.Finish(fb::CreateStartRequest(b, b.CreateString("w.wasm"), 0, 0, 0, 0, b.CreateVector(env)));
    return decodeStartRequest(bytesOf(b));
  };
  auto ok = decode({"A=1", "_B=", "C9=x=y"});
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->env, (std::vector<std::string>{"A=1", "_B=", "C9=x=y"}));
  auto no_equals = decode({"A"});
  ASSERT_FALSE(no_equals.ok());
  EXPECT_EQ(no_equals.error().message, "env: \"A\" is not NAME=value (UTF-8 text)");
  auto bad_name = decode({"9A=1"});
  ASSERT_FALSE(bad_name.ok());
  EXPECT_THAT(bad_name.error().message, HasSubstr("invalid variable name \"9A\""));
  EXPECT_FALSE(decode({"=1"}).ok());
  EXPECT_FALSE(decode({"A-B=1"}).ok());
  auto twice = decode({"A=1", "B=2", "A=3"});
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().message, "env: variable A is given twice");
}

TEST(StartRequestTest, GarbageAndOversizedRequestsAreRefused) {
  std::vector<uint8_t> garbage(64, 0xAB);
  EXPECT_THAT(errorOf(garbage), HasSubstr("not a valid selium.abi.StartRequest"));
  EXPECT_THAT(errorOf({}), HasSubstr("not a valid"));
  std::vector<uint8_t> huge(SELIUM_START_REQUEST_MAX_BYTES + 1, 0);
  EXPECT_THAT(errorOf(huge), HasSubstr("over the limit"));
  // A table without its required path. Built field by field: the generated builder's Finish()
  // asserts the required field in debug builds.
  flatbuffers::FlatBufferBuilder b;
  flatbuffers::uoffset_t table = b.EndTable(b.StartTable());
  b.Finish(flatbuffers::Offset<fb::StartRequest>(table));
  EXPECT_THAT(errorOf(bytesOf(b)), HasSubstr("not a valid"));
}

TEST(StartRequestTest, TruncatedAndCorruptedRequestsNeverCrash) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<fb::Arg>> args{
      fb::CreateArg(b, fb::ArgKind::Utf8, 0, 0, 0, 0, b.CreateVector(std::vector<uint8_t>{'x'}))};
  std::vector<uint8_t> valid = request("child.wasm", args, &b);
  ASSERT_TRUE(decodeStartRequest(valid).ok());
  // A prefix is refused, or (when only the builder's trailing padding is cut) decodes to the same
  // request; the first half never decodes.
  for (std::size_t n = 0; n < valid.size(); ++n) {
    auto decoded = decodeStartRequest(std::span(valid.data(), n));
    if (decoded) {
      EXPECT_GE(n, valid.size() / 2);
      EXPECT_EQ(decoded->module, "child.wasm");
      EXPECT_EQ(decoded->args.size(), 1u);
    }
  }
  for (std::size_t i = 0; i < valid.size(); ++i) {
    for (uint8_t flip : {0x01, 0x80, 0xff}) {
      std::vector<uint8_t> corrupt = valid;
      corrupt[i] ^= flip;
      auto decoded = decodeStartRequest(corrupt);
      if (decoded) {
        EXPECT_FALSE(decoded->module.empty());
      }
    }
  }
}

}  // namespace
}  // namespace selium::kernel
