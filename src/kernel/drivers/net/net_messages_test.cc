// The net hostcalls' message decoders: every field checked, every refusal naming its field.
#include "kernel/drivers/net/net_messages.h"

#include <flatbuffers/flatbuffers.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <selium/abi/hostcalls.h>
#include <selium/schemas/net_generated.h>

#include <string>
#include <vector>

namespace selium::kernel::netmsg {
namespace {

using ::testing::HasSubstr;
namespace fb = selium::abi;

std::vector<uint8_t> bytesOf(flatbuffers::FlatBufferBuilder& b) {
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

std::vector<uint8_t> listen(const std::string& domain, const std::string& address, uint16_t port,
                            int32_t tls, uint64_t max_body = 0) {
  flatbuffers::FlatBufferBuilder b;
  auto d = b.CreateString(domain);
  auto a = b.CreateString(address);
  auto limits = fb::CreateHttpLimits(b, 0, 0, max_body, 0, 0, 0, 250, 0);
  b.Finish(fb::CreateHttpListen(b, d, a, port, tls, limits));
  return bytesOf(b);
}

TEST(NetMessagesTest, DecodesAListenRequest) {
  auto r = decodeHttpListen(listen("API.Example.org", "", 8080, SELIUM_TLS_DEFAULT, 1000));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->domain, "api.example.org");
  EXPECT_EQ(r->address, "0.0.0.0");
  EXPECT_EQ(r->port, 8080);
  EXPECT_EQ(r->tls, SELIUM_TLS_DEFAULT);
  EXPECT_EQ(r->limits.max_body_bytes, 1000u);
  EXPECT_EQ(r->limits.response_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(r->limits.header_timeout, net::http::ServerLimits{}.header_timeout);  // 0: default
}

TEST(NetMessagesTest, RefusesBadListenRequests) {
  EXPECT_THAT(decodeHttpListen(listen("not a name", "", 1, 0)).error().message,
              HasSubstr("is not a DNS name"));
  EXPECT_THAT(decodeHttpListen(listen("", "", 1, -2)).error().message, HasSubstr("tls -2"));
  const std::vector<uint8_t> garbage = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_THAT(decodeHttpListen(garbage).error().message,
              HasSubstr("not a valid selium.abi.HttpListen"));
  EXPECT_FALSE(decodeHttpListen({}).ok());
  std::vector<uint8_t> huge(SELIUM_NET_REQUEST_MAX_BYTES + 1);
  EXPECT_THAT(decodeHttpListen(huge).error().message, HasSubstr("over the limit"));
}

std::vector<uint8_t> response(int status, std::vector<std::pair<std::string, std::string>> headers,
                              int64_t length, const std::string* body = nullptr) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<fb::HttpHeader>> hs;
  for (auto& [n, v] : headers) {
    hs.push_back(fb::CreateHttpHeader(b, b.CreateString(n), b.CreateString(v)));
  }
  auto hv = b.CreateVector(hs);
  flatbuffers::Offset<flatbuffers::Vector<uint8_t>> bv;
  if (body != nullptr) {
    bv = b.CreateVector(reinterpret_cast<const uint8_t*>(body->data()), body->size());
  }
  b.Finish(fb::CreateHttpResponseHead(b, static_cast<uint16_t>(status), hv, length, bv));
  return bytesOf(b);
}

TEST(NetMessagesTest, DecodesResponseHeads) {
  std::string body = "hello";
  auto r = decodeHttpResponseHead(response(201, {{"Content-Type", "text/plain"}}, -1, &body));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->head.status, 201);
  ASSERT_EQ(r->head.headers.size(), 1u);
  EXPECT_EQ(r->head.headers[0].name, "content-type");
  EXPECT_EQ(r->head.content_length, std::optional<uint64_t>(5));
  ASSERT_TRUE(r->body.has_value());
  EXPECT_EQ(std::string(r->body->begin(), r->body->end()), "hello");

  auto streamed = decodeHttpResponseHead(response(200, {}, -1));
  ASSERT_TRUE(streamed.ok());
  EXPECT_FALSE(streamed->head.content_length.has_value());
  EXPECT_FALSE(streamed->body.has_value());
  auto sized = decodeHttpResponseHead(response(200, {}, 42));
  ASSERT_TRUE(sized.ok());
  EXPECT_EQ(sized->head.content_length, std::optional<uint64_t>(42));
}

TEST(NetMessagesTest, RefusesResponseSplittingAndBadStatuses) {
  EXPECT_THAT(
      decodeHttpResponseHead(response(200, {{"x", "a\r\nset-cookie: evil"}}, -1)).error().message,
      HasSubstr("CR, LF or NUL"));
  EXPECT_THAT(decodeHttpResponseHead(response(200, {{"bad name", "v"}}, -1)).error().message,
              HasSubstr("token characters"));
  EXPECT_THAT(decodeHttpResponseHead(response(200, {{"", "v"}}, -1)).error().message,
              HasSubstr("token characters"));
  EXPECT_THAT(decodeHttpResponseHead(response(101, {}, -1)).error().message,
              HasSubstr("outside 200-599"));
  EXPECT_THAT(decodeHttpResponseHead(response(600, {}, -1)).error().message,
              HasSubstr("outside 200-599"));
  EXPECT_THAT(decodeHttpResponseHead(response(200, {}, -5)).error().message, HasSubstr("negative"));
  std::vector<std::pair<std::string, std::string>> many(kMaxHeaders + 1, {"x", "y"});
  EXPECT_THAT(decodeHttpResponseHead(response(200, many, -1)).error().message,
              HasSubstr("header fields"));
}

TEST(NetMessagesTest, TlsConfigsNeedTheirPairs) {
  {
    flatbuffers::FlatBufferBuilder b;
    auto cert = b.CreateString("CERT");
    auto key = b.CreateString("KEY");
    b.Finish(fb::CreateTlsServerConfig(b, cert, key, 0, true));
    EXPECT_THAT(decodeTlsServerConfig(bytesOf(b)).error().message,
                HasSubstr("require_client_auth needs client_ca_pem"));
  }
  {
    flatbuffers::FlatBufferBuilder b;
    auto key = b.CreateString("KEY");
    b.Finish(fb::CreateTlsServerConfig(b, 0, key));
    EXPECT_THAT(decodeTlsServerConfig(bytesOf(b)).error().message,
                HasSubstr("cert_chain_pem is empty"));
  }
  {
    flatbuffers::FlatBufferBuilder b;
    auto cert = b.CreateString("CERT");
    b.Finish(fb::CreateTlsClientConfig(b, 0, cert));
    EXPECT_THAT(decodeTlsClientConfig(bytesOf(b)).error().message,
                HasSubstr("cert_pem and key_pem go together"));
  }
  {
    flatbuffers::FlatBufferBuilder b;
    auto cert = b.CreateString("CERT");
    auto key = b.CreateString("KEY");
    std::vector<flatbuffers::Offset<flatbuffers::String>> alpn = {b.CreateString("")};
    auto av = b.CreateVector(alpn);
    b.Finish(fb::CreateTlsServerConfig(b, cert, key, 0, false, av));
    EXPECT_THAT(decodeTlsServerConfig(bytesOf(b)).error().message, HasSubstr("1 to 255 bytes"));
  }
}

TEST(NetMessagesTest, EncodesRequestHeadsGuestsCanRead) {
  net::http::RequestHead head;
  head.method = "POST";
  head.target = "/a?b=c";
  head.authority = "example.org:8080";
  head.scheme = "https";
  head.version = 20;
  head.headers = {{"x-one", "1"}, {"x-one", "2"}};
  head.content_length = 7;
  net::http::PeerInfo peer;
  peer.remote_address = "[::1]:5555";
  peer.alpn = "h2";
  peer.sni = "example.org";
  auto bytes = encodeRequestHead(head, peer);
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  ASSERT_TRUE(fb::VerifyHttpRequestHeadBuffer(verifier));
  const auto* in = fb::GetHttpRequestHead(bytes.data());
  EXPECT_EQ(in->method()->str(), "POST");
  EXPECT_EQ(in->target()->str(), "/a?b=c");
  EXPECT_EQ(in->authority()->str(), "example.org:8080");
  EXPECT_EQ(in->version(), 20);
  ASSERT_EQ(in->headers()->size(), 2u);
  EXPECT_EQ(in->headers()->Get(1)->value()->str(), "2");
  EXPECT_EQ(in->content_length(), 7);
  EXPECT_EQ(in->remote_address()->str(), "[::1]:5555");
  EXPECT_EQ(in->alpn()->str(), "h2");
  EXPECT_EQ(in->server_name()->str(), "example.org");
  head.content_length.reset();
  auto chunked = encodeRequestHead(head, peer);
  EXPECT_EQ(fb::GetHttpRequestHead(chunked.data())->content_length(), -1);
}

std::vector<uint8_t> connect(const std::string& host, uint16_t port, int32_t tls,
                             uint32_t max_header_bytes = 0) {
  flatbuffers::FlatBufferBuilder b;
  auto h = b.CreateString(host);
  auto limits = fb::CreateHttpClientLimits(b, 0, 5000, 0, 0, 0, max_header_bytes);
  b.Finish(fb::CreateHttpConnect(b, h, port, tls, limits));
  return bytesOf(b);
}

TEST(NetMessagesTest, DecodesConnectRequests) {
  auto plain = decodeHttpConnect(connect("API.Example.org", 0, SELIUM_TLS_NONE));
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  EXPECT_EQ(plain->host, "api.example.org");
  EXPECT_EQ(plain->port, 80);
  EXPECT_EQ(plain->limits.response_timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(plain->limits.max_queued, SELIUM_HTTP_CLIENT_MAX_PENDING);
  auto tls = decodeHttpConnect(connect("::1", 0, SELIUM_TLS_DEFAULT, 1u << 30));
  ASSERT_TRUE(tls.ok()) << tls.error().message;
  EXPECT_EQ(tls->host, "::1");
  EXPECT_EQ(tls->port, 443);
  EXPECT_EQ(tls->limits.max_header_bytes, 1u << 20);  // clamped
  EXPECT_THAT(decodeHttpConnect(connect("bad host", 80, 0)).error().message,
              HasSubstr("neither a DNS name nor an IP address"));
  EXPECT_THAT(decodeHttpConnect(connect("a.test", 80, -2)).error().message, HasSubstr("tls -2"));
  const std::vector<uint8_t> garbage = {1, 2, 3};
  EXPECT_THAT(decodeHttpConnect(garbage).error().message, HasSubstr("HttpConnect"));
}

std::vector<uint8_t> request(const std::string& method, const std::string& target,
                             const std::string& authority,
                             std::vector<std::pair<std::string, std::string>> headers,
                             int64_t length, const std::string* body = nullptr) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<fb::HttpHeader>> hs;
  for (auto& [n, v] : headers) {
    hs.push_back(fb::CreateHttpHeader(b, b.CreateString(n), b.CreateString(v)));
  }
  auto m = b.CreateString(method);
  auto t = b.CreateString(target);
  auto a = b.CreateString(authority);
  auto hv = b.CreateVector(hs);
  flatbuffers::Offset<flatbuffers::Vector<uint8_t>> bv;
  if (body != nullptr) {
    bv = b.CreateVector(reinterpret_cast<const uint8_t*>(body->data()), body->size());
  }
  b.Finish(fb::CreateHttpRequest(b, m, t, a, hv, length, bv));
  return bytesOf(b);
}

TEST(NetMessagesTest, DecodesClientRequests) {
  auto get = decodeHttpRequest(request("", "", "", {}, -1));
  ASSERT_TRUE(get.ok()) << get.error().message;
  EXPECT_EQ(get->head.method, "GET");
  EXPECT_EQ(get->head.target, "/");
  EXPECT_FALSE(get->head.content_length.has_value());  // streamed unless said otherwise
  const std::string body = "hello";
  auto post =
      decodeHttpRequest(request("POST", "/a?b=c", "example.org:8080", {{"X-One", "1"}}, -1, &body));
  ASSERT_TRUE(post.ok()) << post.error().message;
  EXPECT_EQ(post->head.authority, "example.org:8080");
  ASSERT_EQ(post->head.headers.size(), 1u);
  EXPECT_EQ(post->head.headers[0].name, "x-one");
  ASSERT_TRUE(post->body.has_value());
  EXPECT_EQ(post->head.content_length, std::optional<uint64_t>(5));
}

TEST(NetMessagesTest, RefusesRequestSmugglingAndBadTargets) {
  EXPECT_THAT(decodeHttpRequest(request("GET", "/a b", "", {}, 0)).error().message,
              HasSubstr("target"));
  EXPECT_THAT(decodeHttpRequest(request("GET", "/a\r\nx: y", "", {}, 0)).error().message,
              HasSubstr("target"));
  EXPECT_THAT(decodeHttpRequest(request("GET", "http://evil/", "", {}, 0)).error().message,
              HasSubstr("target"));
  EXPECT_THAT(decodeHttpRequest(request("GE T", "/", "", {}, 0)).error().message,
              HasSubstr("method"));
  EXPECT_THAT(decodeHttpRequest(request("GET", "/", "a b", {}, 0)).error().message,
              HasSubstr("authority"));
  EXPECT_THAT(
      decodeHttpRequest(request("GET", "/", "", {{"x", "a\r\nhost: evil"}}, 0)).error().message,
      HasSubstr("CR, LF or NUL"));
  EXPECT_THAT(decodeHttpRequest(request("GET", "/", "", {}, -7)).error().message,
              HasSubstr("negative"));
}

TEST(NetMessagesTest, EncodesResponseHeadsClientsCanRead) {
  net::http::ResponseHead head;
  head.status = 404;
  head.headers = {{"content-type", "text/plain"}};
  head.content_length = 12;
  auto bytes = encodeResponseHead(head, 20);
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  ASSERT_TRUE(verifier.VerifyBuffer<fb::HttpResponseHead>(nullptr));
  const auto* in = flatbuffers::GetRoot<fb::HttpResponseHead>(bytes.data());
  EXPECT_EQ(in->status(), 404);
  EXPECT_EQ(in->version(), 20);
  EXPECT_EQ(in->content_length(), 12);
  ASSERT_EQ(in->headers()->size(), 1u);
  EXPECT_EQ(in->headers()->Get(0)->name()->str(), "content-type");
}

}  // namespace
}  // namespace selium::kernel::netmsg
