// The QUIC driver's messages: QuicListen and QuicConnect decoded with every field checked and
// bounded, QuicConnectionInfo encoded. (The driver itself runs through real guests in
// tests/integration/quic_test.cc.)
#include <flatbuffers/flatbuffers.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <selium/abi/hostcalls.h>
#include <selium/schemas/net_generated.h>

#include <string>
#include <vector>

#include "kernel/drivers/net/net_context.h"
#include "kernel/drivers/net/net_messages.h"
#include "support/temp_dir.h"
#include "util/certs.h"

namespace selium::kernel::netmsg {
namespace {

using ::testing::HasSubstr;
namespace fb = selium::abi;

std::vector<uint8_t> bytesOf(flatbuffers::FlatBufferBuilder& b) {
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

std::vector<uint8_t> quicListen(const std::string& domain, const std::string& address,
                                uint16_t port, int32_t tls, uint32_t max_connections = 0,
                                uint32_t max_streams = 0, uint32_t idle_ms = 0) {
  flatbuffers::FlatBufferBuilder b;
  auto d = b.CreateString(domain);
  auto a = b.CreateString(address);
  auto limits = fb::CreateQuicLimits(b, max_connections, max_streams, idle_ms);
  b.Finish(fb::CreateQuicListen(b, d, a, port, tls, limits));
  return bytesOf(b);
}

std::vector<uint8_t> quicConnect(const std::string& host, uint16_t port, int32_t tls,
                                 uint32_t max_streams = 0) {
  flatbuffers::FlatBufferBuilder b;
  auto h = b.CreateString(host);
  auto limits = fb::CreateQuicLimits(b, 0, max_streams, 0);
  b.Finish(fb::CreateQuicConnect(b, h, port, tls, limits));
  return bytesOf(b);
}

TEST(QuicMessagesTest, DecodesAListenRequestWithBoundedLimits) {
  auto r = decodeQuicListen(
      quicListen("Api.Example.org", "", 4433, SELIUM_TLS_DEFAULT, 7, UINT32_MAX, UINT32_MAX));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->domain, "api.example.org");
  EXPECT_EQ(r->address, "0.0.0.0");
  EXPECT_EQ(r->port, 4433);
  EXPECT_EQ(r->tls, SELIUM_TLS_DEFAULT);
  EXPECT_EQ(r->limits.max_connections, 7u);
  EXPECT_EQ(r->limits.max_streams_per_connection, kMaxQuicStreams);
  EXPECT_EQ(r->limits.idle_timeout, std::chrono::hours(1));
  auto mutual = decodeQuicListen(quicListen("", "", 7000, SELIUM_TLS_DEFAULT_MUTUAL));
  ASSERT_TRUE(mutual.ok()) << mutual.error().message;
  EXPECT_EQ(mutual->tls, SELIUM_TLS_DEFAULT_MUTUAL);
  auto defaults = decodeQuicListen(quicListen("", "::1", 0, 5));
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->limits.max_connections, net::quic::Limits{}.max_connections);
  EXPECT_EQ(defaults->limits.idle_timeout, net::quic::Limits{}.idle_timeout);
}

TEST(QuicMessagesTest, RefusesBadListenRequests) {
  EXPECT_THAT(decodeQuicListen(quicListen("not a name", "", 1, 0)).error().message,
              HasSubstr("is not a DNS name"));
  EXPECT_THAT(decodeQuicListen(quicListen("", "", 1, -3)).error().message, HasSubstr("tls -3"));
  const std::vector<uint8_t> garbage = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_THAT(decodeQuicListen(garbage).error().message,
              HasSubstr("not a valid selium.abi.QuicListen"));
  EXPECT_FALSE(decodeQuicListen({}).ok());
}

TEST(QuicMessagesTest, DecodesAConnectRequest) {
  auto r = decodeQuicConnect(quicConnect("LocalHost", 4433, 0, 3));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->host, "localhost");
  EXPECT_EQ(r->port, 4433);
  EXPECT_EQ(r->limits.max_streams_per_connection, 3u);
  auto ip = decodeQuicConnect(quicConnect("::1", 1, 9));
  ASSERT_TRUE(ip.ok()) << ip.error().message;
  EXPECT_EQ(ip->host, "::1");
  EXPECT_EQ(ip->tls, 9);
}

TEST(QuicMessagesTest, RefusesBadConnectRequests) {
  EXPECT_THAT(decodeQuicConnect(quicConnect("bad host\n", 1, 0)).error().message,
              HasSubstr("neither a DNS name nor an IP address"));
  EXPECT_THAT(decodeQuicConnect(quicConnect("", 1, 0)).error().message,
              HasSubstr("neither a DNS name nor an IP address"));
  EXPECT_THAT(decodeQuicConnect(quicConnect("localhost", 0, 0)).error().message,
              HasSubstr("port 0"));
  EXPECT_THAT(decodeQuicConnect(quicConnect("localhost", 1, -3)).error().message,
              HasSubstr("tls -3"));
  // A QuicListen is no QuicConnect (the verifier checks field types, not names: a listen's
  // fields decode as other fields or fail; either way nothing out of bounds is accepted).
  auto crossed = decodeQuicConnect(quicListen("", "", 1, 0));
  if (crossed.ok()) {
    EXPECT_NE(crossed->port, 0);
  }
}

TEST(QuicMessagesTest, EncodesConnectionInfo) {
  auto bytes = encodeQuicConnectionInfo("127.0.0.1:5", "localhost", "h3", "CN=client");
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  ASSERT_TRUE(verifier.VerifyBuffer<fb::QuicConnectionInfo>(nullptr));
  const auto* info = flatbuffers::GetRoot<fb::QuicConnectionInfo>(bytes.data());
  EXPECT_EQ(info->remote_address()->str(), "127.0.0.1:5");
  EXPECT_EQ(info->server_name()->str(), "localhost");
  EXPECT_EQ(info->alpn()->str(), "h3");
  EXPECT_EQ(info->peer_subject()->str(), "CN=client");
}

// SELIUM_TLS_DEFAULT_MUTUAL's configuration: the work dir's certificate with client certificates
// required against certs/ca.crt, and refused (naming the file) without a CA to verify them.
TEST(QuicMessagesTest, MutualDefaultRequiresClientCertificatesFromTheWorkDirCa) {
  selium::testing::TempDir dir("quic-mutual");
  util::CertOptions options;
  options.output_dir = dir.path() / "certs";
  ASSERT_TRUE(util::generateCerts(options).ok());
  NetContext context(NetOptions{dir.path() / "certs"});
  auto mutual = context.defaultMutualQuicConfig();
  ASSERT_TRUE(mutual.ok()) << mutual.error().message;
  EXPECT_TRUE((*mutual)->material().require_client_auth);
  EXPECT_NE((*mutual)->material().client_ca_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_TRUE((*mutual)->material().alpn.empty());
  // The plain default still does not require them.
  auto plain = context.defaultHttpsConfig();
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE((*plain)->material().require_client_auth);

  std::filesystem::remove(dir.path() / "certs" / "ca.crt");
  NetContext without_ca(NetOptions{dir.path() / "certs"});
  auto refused = without_ca.defaultMutualQuicConfig();
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.error().message, HasSubstr("ca.crt"));
}

}  // namespace
}  // namespace selium::kernel::netmsg
