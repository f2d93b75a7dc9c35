#include "control/protocol.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace selium::control {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> bytesOf(std::string_view s) { return {s.begin(), s.end()}; }

Request roundTrip(const Request& request) {
  auto decoded = decodeRequest(encodeRequest(request));
  const Request* out = std::get_if<Request>(&decoded);
  EXPECT_NE(out, nullptr) << std::get<RequestError>(decoded).message;
  return out != nullptr ? *out : Request{};
}

std::string requestError(std::span<const uint8_t> bytes) {
  auto decoded = decodeRequest(bytes);
  const RequestError* error = std::get_if<RequestError>(&decoded);
  return error != nullptr ? error->message : "(decoded)";
}

TEST(ControlFraming, SplitsFramesAcrossArbitraryPieces) {
  std::vector<uint8_t> stream;
  appendFrame(stream, bytesOf("hello"));
  appendFrame(stream, bytesOf(""));
  appendFrame(stream, bytesOf(std::string(1000, 'x')));
  FrameDecoder decoder(4096);
  std::vector<std::string> frames;
  // One byte at a time: every boundary inside the prefix and the payload.
  for (uint8_t byte : stream) {
    decoder.push(std::span<const uint8_t>(&byte, 1));
    while (auto f = decoder.next()) frames.emplace_back(f->begin(), f->end());
  }
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0], "hello");
  EXPECT_EQ(frames[1], "");
  EXPECT_EQ(frames[2], std::string(1000, 'x'));
  EXPECT_EQ(decoder.pending(), 0u);
  EXPECT_FALSE(decoder.failed());
}

TEST(ControlFraming, PrefixIsLittleEndian) {
  std::vector<uint8_t> payload(0x0102, 7);
  const auto framed = frame(payload);
  ASSERT_EQ(framed.size(), 0x0102u + 4);
  EXPECT_EQ(framed[0], 0x02);
  EXPECT_EQ(framed[1], 0x01);
  EXPECT_EQ(framed[2], 0);
  EXPECT_EQ(framed[3], 0);
}

TEST(ControlFraming, RefusesAFrameLongerThanTheLimitBeforeItsBytesArrive) {
  FrameDecoder decoder(16);
  const uint8_t prefix[4] = {17, 0, 0, 0};
  decoder.push(prefix);
  EXPECT_FALSE(decoder.next().has_value());
  EXPECT_TRUE(decoder.failed());
  EXPECT_THAT(decoder.error(), HasSubstr("17 bytes"));
  EXPECT_THAT(decoder.error(), HasSubstr("at most 16"));
  // Stays failed: nothing more is buffered.
  decoder.push(bytesOf("more bytes"));
  EXPECT_FALSE(decoder.next().has_value());
  EXPECT_EQ(decoder.pending(), 0u);
}

TEST(ControlFraming, ReportsAPartialFrameAsPending) {
  FrameDecoder decoder(100);
  std::vector<uint8_t> stream = frame(bytesOf("abcdef"));
  stream.resize(stream.size() - 2);
  decoder.push(stream);
  EXPECT_FALSE(decoder.next().has_value());
  EXPECT_EQ(decoder.pending(), 8u);
}

TEST(ControlRequest, RoundTripsEveryRequest) {
  StartRequest start;
  start.module = "worker.wasm";
  start.entrypoint = "run";
  start.capabilities = {1, 3};
  start.log_uri = "sel://logs/worker";
  start.attach = true;
  Arg a;
  a.kind = ArgKind::I32;
  a.int_value = -5;
  start.args.push_back(a);
  Arg b;
  b.kind = ArgKind::Utf8;
  b.bytes = bytesOf("héllo");
  start.args.push_back(b);
  Arg c;
  c.kind = ArgKind::Resource;
  c.shared_id = 99;
  start.args.push_back(c);
  Arg d;
  d.kind = ArgKind::F64;
  d.f64 = 2.5;
  start.args.push_back(d);
  const std::vector<Request> requests = {
      {1, start},
      {2, StopRequest{7}},
      {3, ListRequest{}},
      {4, LogsRequest{8, true}},
      {5, ChannelCreateRequest{65536}},
      {6, ChannelDeleteRequest{12345}},
      {7, PublishRequest{12345}},
      {8, SubscribeRequest{12345, Strength::Weak}},
  };
  for (const Request& r : requests) {
    EXPECT_EQ(roundTrip(r), r) << requestName(r.body);
  }
}

TEST(ControlRequest, DeduplicatesCapabilities) {
  StartRequest start;
  start.module = "m.wasm";
  start.capabilities = {2, 2, 1, 2};
  Request out = roundTrip({1, start});
  EXPECT_EQ(std::get<StartRequest>(out.body).capabilities, (std::vector<uint32_t>{2, 1}));
}

TEST(ControlRequest, RefusesBadFieldsNamingThemAndKeepsTheRequestId) {
  auto expectError = [](Request r, std::string_view needle) {
    auto decoded = decodeRequest(encodeRequest(r));
    const RequestError* error = std::get_if<RequestError>(&decoded);
    ASSERT_NE(error, nullptr) << needle;
    EXPECT_THAT(error->message, HasSubstr(std::string(needle)));
    EXPECT_EQ(error->request_id, r.request_id);
  };
  expectError({41, StartRequest{}}, "module is missing");
  StartRequest bad_cap;
  bad_cap.module = "m.wasm";
  bad_cap.capabilities = {999};
  expectError({42, bad_cap}, "999 is not a capability");
  StartRequest bad_arg;
  bad_arg.module = "m.wasm";
  Arg overflow;
  overflow.kind = ArgKind::U8;
  overflow.uint_value = 256;
  bad_arg.args.push_back(overflow);
  expectError({43, bad_arg}, "args[0]: u8 value out of range");
  StartRequest bad_utf8;
  bad_utf8.module = "m.wasm";
  Arg text;
  text.kind = ArgKind::Utf8;
  text.bytes = {0xC0, 0x80};  // overlong NUL
  bad_utf8.args.push_back(text);
  expectError({44, bad_utf8}, "not valid UTF-8");
  StartRequest long_module;
  long_module.module = std::string(kMaxTextBytes + 1, 'm');
  expectError({45, long_module}, "at most 4096");
  StartRequest resource;
  resource.module = "m.wasm";
  Arg zero;
  zero.kind = ArgKind::Resource;
  resource.args.push_back(zero);
  expectError({46, resource}, "shared id");
  StartRequest many;
  many.module = "m.wasm";
  many.args.resize(kMaxArgs + 1);
  expectError({47, many}, "at most 64");
  expectError({48, StopRequest{0}}, "pid is missing");
  expectError({49, ChannelCreateRequest{0}}, "capacity 0 is out of range");
  expectError({50, ChannelCreateRequest{kMaxChannelCapacity + 1}}, "out of range");
  expectError({51, PublishRequest{0}}, "not a shared id");
  expectError({52, SubscribeRequest{uint64_t{1} << 63}}, "not a shared id");
}

// The argument kinds are the ABI's: named as SELIUM_PARAM_KINDS names them; none past the last.
TEST(ControlRequest, ArgumentKindsAreTheAbiKinds) {
#define SELIUM_EXPECT_KIND_NAME_(name, id) EXPECT_EQ(argKindName(static_cast<ArgKind>(id)), #name);
  SELIUM_PARAM_KINDS(SELIUM_EXPECT_KIND_NAME_)
#undef SELIUM_EXPECT_KIND_NAME_
  EXPECT_EQ(argKindName(static_cast<ArgKind>(kArgKindCount)), "unknown");
  StartRequest past;
  past.module = "m.wasm";
  Arg arg;
  arg.kind = static_cast<ArgKind>(kArgKindCount);
  past.args.push_back(arg);
  auto decoded = decodeRequest(encodeRequest({53, past}));
  const RequestError* error = std::get_if<RequestError>(&decoded);
  ASSERT_NE(error, nullptr);
  EXPECT_THAT(error->message, HasSubstr("args[0].kind " + std::to_string(kArgKindCount) +
                                        " is not an argument kind"));
}

TEST(ControlRequest, RefusesBytesThatAreNotARequest) {
  EXPECT_THAT(requestError({}), HasSubstr("file identifier"));
  EXPECT_THAT(requestError(bytesOf("garbage garbage garbage")), HasSubstr("file identifier"));
  // Truncated real requests: refused, or (a cut inside the trailing padding) the same request.
  const Request original{9, StopRequest{3}};
  auto good = encodeRequest(original);
  for (std::size_t n = 0; n < good.size(); ++n) {
    std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
    auto decoded = decodeRequest(cut);
    if (const Request* r = std::get_if<Request>(&decoded)) {
      EXPECT_EQ(*r, original) << n;
    }
  }
  EXPECT_NE(requestError(std::span(good).first(8)), "(decoded)");
  std::vector<uint8_t> huge(kMaxRequestBytes + 1, 0);
  EXPECT_THAT(requestError(huge), HasSubstr("at most 1048576"));
}

TEST(ControlResponse, RoundTripsEveryResponse) {
  ProcessInfo p;
  p.pid = 3;
  p.module = "echo.wasm";
  p.entrypoint = "start";
  p.state = ProcessState::Stopping;
  p.uptime_ms = 1234;
  p.started_by = "client.localhost";
  p.capabilities = {1, 2};
  p.log_uri = "sel://x";
  const std::vector<Response> responses = {
      {1, OkResponse{}},
      {2, ErrorResponse{"no such process: 9"}},
      {3, StartResponse{17}},
      {4, ListResponse{{p, ProcessInfo{}}}},
      {5, ChannelCreateResponse{777}},
  };
  for (const Response& r : responses) {
    auto decoded = decodeResponse(encodeResponse(r));
    ASSERT_TRUE(decoded.ok()) << decoded.error();
    EXPECT_EQ(*decoded, r);
  }
}

TEST(ControlResponse, RefusesGarbageAndTruncation) {
  EXPECT_FALSE(decodeResponse(bytesOf("RMCL")).ok());
  const Response original{1, ErrorResponse{"something went wrong"}};
  auto good = encodeResponse(original);
  std::size_t refused = 0;
  for (std::size_t n = 0; n < good.size(); ++n) {
    std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
    auto decoded = decodeResponse(cut);
    if (decoded.ok()) {
      EXPECT_EQ(*decoded, original) << n;  // only a cut in the trailing padding decodes
    } else {
      ++refused;
    }
  }
  EXPECT_GE(refused, good.size() - 4);
}

TEST(ControlCapabilities, ParsesCamelAndKebabCaseAnyCase) {
  EXPECT_EQ(parseCapability("ChannelLifecycle"), 1u);
  EXPECT_EQ(parseCapability("channel-lifecycle"), 1u);
  EXPECT_EQ(parseCapability("NET-QUIC-BIND"), 5u);
  EXPECT_EQ(parseCapability("time-read"), 24u);
  EXPECT_FALSE(parseCapability("channel").has_value());
  EXPECT_FALSE(parseCapability("").has_value());
  EXPECT_EQ(capabilityName(4), "ProcessLifecycle");
  EXPECT_EQ(capabilityName(1000), "Unknown");
}

TEST(ControlUtf8, AcceptsValidAndRefusesInvalid) {
  EXPECT_TRUE(validUtf8("plain"));
  EXPECT_TRUE(validUtf8("h\xC3\xA9llo \xF0\x9F\x98\x80"));
  EXPECT_FALSE(validUtf8("\xC3"));
  EXPECT_FALSE(validUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(validUtf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(validUtf8("\xE0\x80\x80"));      // overlong
}

}  // namespace
}  // namespace selium::control
