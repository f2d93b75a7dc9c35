// TLS configurations: every validation error, name matching, the default work-dir configs, and
// real handshakes over loopback TCP between server and client contexts (ALPN, mutual TLS, name
// verification, SNI routing with per-domain policies).
#include "net/tls/tls_config.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gnutls/gnutls.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include "net/tls/sni_context.h"
#include "net/tls/testing/test_pki.h"
#include "util/certs.h"
#include "util/strings.h"

namespace selium::net::tls {
namespace {

using ::testing::AllOf;
using testing::Credential;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::KeyEncoding;
using testing::KeyType;
using ::testing::MatchesRegex;
using ::testing::StartsWith;
using testing::TestCa;
using testing::Validity;

constexpr auto kDay = std::chrono::hours(24);

const TestCa& rootCa() {
  static const TestCa ca("Test Root CA");
  return ca;
}

const TestCa& otherCa() {
  static const TestCa ca("Other CA");
  return ca;
}

ServerMaterial serverMaterial(const Credential& credential, std::vector<std::string> alpn = {}) {
  ServerMaterial material;
  material.cert_chain_pem = credential.cert_pem;
  material.key_pem = credential.key_pem;
  material.alpn = std::move(alpn);
  return material;
}

std::shared_ptr<const ServerConfig> serverConfig(ServerMaterial material) {
  auto config = ServerConfig::create(std::move(material));
  if (!config) ADD_FAILURE() << config.error().message;
  return config ? *config : nullptr;
}

std::shared_ptr<const ServerConfig> serverFor(std::vector<std::string> names,
                                              std::vector<std::string> alpn = {}) {
  return serverConfig(serverMaterial(rootCa().issueServer(names), std::move(alpn)));
}

std::shared_ptr<const ClientConfig> clientConfig(ClientMaterial material) {
  auto config = ClientConfig::create(std::move(material));
  if (!config) ADD_FAILURE() << config.error().message;
  return config ? *config : nullptr;
}

std::shared_ptr<const ClientConfig> clientTrusting(const TestCa& ca,
                                                   std::vector<std::string> alpn = {},
                                                   const Credential* cert = nullptr) {
  ClientMaterial material;
  material.ca_pem = ca.certPem();
  material.alpn = std::move(alpn);
  if (cert) {
    material.cert_pem = cert->cert_pem;
    material.key_pem = cert->key_pem;
  }
  return clientConfig(std::move(material));
}

std::string serverError(ServerMaterial material) {
  auto config = ServerConfig::create(std::move(material));
  return config ? "(created)" : config.error().message;
}

std::string clientError(ClientMaterial material) {
  auto config = ClientConfig::create(std::move(material));
  return config ? "(created)" : config.error().message;
}

std::string drainErrors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    std::array<char, 256> buffer;
    ERR_error_string_n(code, buffer.data(), buffer.size());
    text += std::string(buffer.data()) + "; ";
  }
  return text;
}

std::string subjectOf(X509* cert) {
  if (!cert) return "";
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

// --- A handshake over loopback TCP ------------------------------------------------------------

struct Fd {
  int fd = -1;
  explicit Fd(int value) : fd(value) {}
  Fd(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void setTimeouts(int fd) {
  timeval timeout{5, 0};  // bounds every blocking read and write in these tests
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
}

struct ClientOptions {
  bool prepare = true;  // false: no SNI and no name check (the chain is still verified)
  int max_version = 0;  // 0: the library's maximum
  SSL_SESSION* session = nullptr;
};

struct Outcome {
  // The client finished its handshake and read the byte the server sends after its own.
  bool client_ok = false;
  bool server_ok = false;
  std::string client_error;
  std::string server_error;
  long client_verify_result = X509_V_OK;
  std::string alpn;            // as the client saw it
  std::string server_subject;  // the leaf the client received
  int version = 0;
  bool reused = false;
  std::shared_ptr<SSL_SESSION> session;  // the client's, for a resumption
  // The server's view.
  std::string client_subject;
  std::string sni;
  std::string selected_domain;
};

// Accepts one connection on 127.0.0.1 with `server_ctx` (on a thread) while `client` runs the
// other side on a connected socket here.
Outcome connectOnce(const std::shared_ptr<SSL_CTX>& server_ctx,
                    const std::function<void(int fd, Outcome& outcome)>& client) {
  Outcome outcome;
  Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (listener.fd < 0 || ::bind(listener.fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::listen(listener.fd, 1) != 0 ||
      ::getsockname(listener.fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ADD_FAILURE() << "listening on 127.0.0.1: " << std::strerror(errno);
    return outcome;
  }

  std::thread server([&] {
    pollfd ready{listener.fd, POLLIN, 0};
    if (::poll(&ready, 1, 5000) != 1) {
      outcome.server_error = "no connection within 5 s";
      return;
    }
    Fd connection(::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC));
    if (connection.fd < 0) {
      outcome.server_error = std::string("accept: ") + std::strerror(errno);
      return;
    }
    setTimeouts(connection.fd);
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(server_ctx.get()), &SSL_free);
    SSL_set_fd(ssl.get(), connection.fd);
    if (SSL_accept(ssl.get()) != 1) {
      outcome.server_error = drainErrors();
      outcome.selected_domain = SniContext::selectedDomain(ssl.get());
      return;
    }
    outcome.server_ok = true;
    outcome.sni = SniContext::sniOf(ssl.get());
    outcome.selected_domain = SniContext::selectedDomain(ssl.get());
    X509* peer = SSL_get0_peer_certificate(ssl.get());
    outcome.client_subject = subjectOf(peer);
    // In TLS 1.3 the server checks the client's certificate after the client has finished: the
    // client learns the verdict from this byte (or the alert instead of it).
    SSL_write(ssl.get(), "k", 1);
    SSL_shutdown(ssl.get());
    ERR_clear_error();
  });

  Fd socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  setTimeouts(socket.fd);
  if (::connect(socket.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ADD_FAILURE() << "connect: " << std::strerror(errno);
  } else {
    client(socket.fd, outcome);
  }
  server.join();
  return outcome;
}

Outcome handshake(std::shared_ptr<SSL_CTX> server_ctx, const ClientConfig& client,
                  std::string_view host, ClientOptions options = {}) {
  return connectOnce(server_ctx, [&](int fd, Outcome& outcome) {
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(client.context().get()), &SSL_free);
    if (options.prepare) {
      Status prepared = client.prepare(ssl.get(), host);
      EXPECT_TRUE(prepared.ok()) << prepared.error().message;
    }
    if (options.max_version) SSL_set_max_proto_version(ssl.get(), options.max_version);
    if (options.session) SSL_set_session(ssl.get(), options.session);
    SSL_set_fd(ssl.get(), fd);
    const bool connected = SSL_connect(ssl.get()) == 1;
    char byte = 0;
    outcome.client_ok = connected && SSL_read(ssl.get(), &byte, 1) == 1 && byte == 'k';
    if (!outcome.client_ok) outcome.client_error = drainErrors();
    outcome.client_verify_result = SSL_get_verify_result(ssl.get());
    if (connected) {
      const unsigned char* alpn = nullptr;
      unsigned int alpn_length = 0;
      SSL_get0_alpn_selected(ssl.get(), &alpn, &alpn_length);
      outcome.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_length);
      outcome.server_subject = subjectOf(SSL_get0_peer_certificate(ssl.get()));
      outcome.version = SSL_version(ssl.get());
      outcome.reused = SSL_session_reused(ssl.get()) == 1;
      // A clean close: OpenSSL marks the session of a connection that just stops unresumable.
      if (outcome.client_ok) SSL_shutdown(ssl.get());
      outcome.session.reset(SSL_get1_session(ssl.get()), &SSL_SESSION_free);
    }
    ERR_clear_error();
  });
}

// --- ServerConfig validation ------------------------------------------------------------------

TEST(ServerConfig, CreatesFromValidMaterial) {
  auto config = ServerConfig::create(serverMaterial(rootCa().issueServer({"example.org"})));
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ((*config)->subject(), "CN=example.org");
  EXPECT_THAT((*config)->names(), ElementsAre("example.org"));
  const auto now = std::chrono::system_clock::now();
  EXPECT_GT((*config)->notAfter(), now + 29 * kDay);
  EXPECT_LT((*config)->notAfter(), now + 31 * kDay);
  ASSERT_NE((*config)->context(), nullptr);
  EXPECT_EQ(SSL_CTX_get_min_proto_version((*config)->context().get()), TLS1_3_VERSION);
  EXPECT_EQ(SSL_CTX_get_verify_mode((*config)->context().get()), SSL_VERIFY_NONE);
}

TEST(ServerConfig, RefusesTextWithoutCertificateBlock) {
  ServerMaterial material = serverMaterial(rootCa().issueServer({"example.org"}));
  material.cert_chain_pem = "not a certificate at all";
  EXPECT_EQ(serverError(material), "certificate chain: no PEM CERTIFICATE block found");
  // A key alone is not a certificate either.
  material.cert_chain_pem = material.key_pem;
  EXPECT_EQ(serverError(material), "certificate chain: no PEM CERTIFICATE block found");
}

TEST(ServerConfig, RefusesBrokenPemWithOpenSslsReason) {
  ServerMaterial material = serverMaterial(rootCa().issueServer({"example.org"}));
  material.cert_chain_pem =
      "-----BEGIN CERTIFICATE-----\n@@@@not base64@@@@\n-----END CERTIFICATE-----\n";
  EXPECT_THAT(serverError(material),
              AllOf(StartsWith("certificate chain: PEM block #1: "), HasSubstr("PEM routines")));
  // Valid base64, not a certificate.
  material.cert_chain_pem =
      "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
  EXPECT_THAT(
      serverError(material),
      AllOf(StartsWith("certificate chain: certificate #1 (PEM block #1): "), HasSubstr("asn1")));
  // Cut short.
  const std::string full = rootCa().issueServer({"example.org"}).cert_pem;
  material.cert_chain_pem = full.substr(0, full.size() / 2);
  EXPECT_THAT(serverError(material), StartsWith("certificate chain: PEM block #1: "));
}

TEST(ServerConfig, AcceptsPkcs8Pkcs1AndSec1Keys) {
  for (KeyType type : {KeyType::EcP256, KeyType::Rsa2048}) {
    const Credential credential = rootCa().issueServer({"example.org"}, {}, type);
    for (KeyEncoding encoding : {KeyEncoding::Pkcs8, KeyEncoding::Traditional}) {
      ServerMaterial material = serverMaterial(credential);
      material.key_pem = testing::reencodeKey(credential.key_pem, encoding);
      const std::string expected_block = encoding == KeyEncoding::Pkcs8 ? "-----BEGIN PRIVATE KEY"
                                         : type == KeyType::EcP256 ? "-----BEGIN EC PRIVATE KEY"
                                                                   : "-----BEGIN RSA PRIVATE KEY";
      ASSERT_THAT(material.key_pem, StartsWith(expected_block));
      auto config = ServerConfig::create(material);
      ASSERT_TRUE(config.ok()) << expected_block << ": " << config.error().message;
      // Normalised for GnuTLS: always unencrypted PKCS#8.
      EXPECT_THAT((*config)->material().key_pem, StartsWith("-----BEGIN PRIVATE KEY-----"));
    }
  }
}

TEST(ServerConfig, SkipsEcParametersBeforeTheKey) {
  const Credential credential = rootCa().issueServer({"example.org"});
  ServerMaterial material = serverMaterial(credential);
  // What `openssl ecparam -genkey -name prime256v1` writes: the curve, then the SEC1 key.
  material.key_pem =
      "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n" +
      testing::reencodeKey(credential.key_pem, KeyEncoding::Traditional);
  EXPECT_EQ(serverError(material), "(created)");
}

TEST(ServerConfig, RefusesEncryptedKeysClearly) {
  const Credential credential = rootCa().issueServer({"example.org"});
  for (KeyEncoding encoding : {KeyEncoding::EncryptedPkcs8, KeyEncoding::EncryptedTraditional}) {
    ServerMaterial material = serverMaterial(credential);
    material.key_pem = testing::reencodeKey(credential.key_pem, encoding);
    EXPECT_THAT(serverError(material),
                AllOf(StartsWith("private key: the key is encrypted"), HasSubstr("unencrypted")));
  }
}

TEST(ServerConfig, RefusesMissingUnparseableOrSeveralKeys) {
  const Credential credential = rootCa().issueServer({"example.org"});
  ServerMaterial material = serverMaterial(credential);
  material.key_pem = "";
  EXPECT_EQ(serverError(material),
            "private key: no PEM PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block found");
  material.key_pem = "-----BEGIN PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END PRIVATE KEY-----\n";
  EXPECT_THAT(serverError(material), StartsWith("private key: the PRIVATE KEY block: "));
  material.key_pem = "-----BEGIN DSA PRIVATE KEY-----\naGVsbG8=\n-----END DSA PRIVATE KEY-----\n";
  EXPECT_THAT(serverError(material),
              StartsWith("private key: unsupported key block \"DSA PRIVATE KEY\""));
  material.key_pem = credential.key_pem + credential.key_pem;
  EXPECT_EQ(serverError(material), "private key: more than one private key");
}

TEST(ServerConfig, RefusesKeyOfAnotherCertificateNamingTheSubject) {
  ServerMaterial material = serverMaterial(rootCa().issueServer({"example.org"}));
  material.key_pem = rootCa().issueServer({"other.org"}).key_pem;
  EXPECT_THAT(serverError(material),
              StartsWith("private key does not match the certificate for \"CN=example.org\""));
  // Another key type altogether.
  material.key_pem = rootCa().issueServer({"other.org"}, {}, KeyType::Rsa2048).key_pem;
  EXPECT_THAT(serverError(material),
              StartsWith("private key does not match the certificate for \"CN=example.org\""));
}

TEST(ServerConfig, RefusesExpiredAndNotYetValidLeavesWithTheirDates) {
  const std::string date = "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z";
  ServerMaterial expired =
      serverMaterial(rootCa().issueServer({"old.example"}, Validity{-10 * kDay, -1 * kDay}));
  EXPECT_THAT(serverError(expired),
              MatchesRegex("certificate chain: the certificate for \"CN=old.example\" has expired "
                           "\\(valid from " +
                           date + " to " + date + "\\)"));
  ServerMaterial future =
      serverMaterial(rootCa().issueServer({"new.example"}, Validity{1 * kDay, 10 * kDay}));
  EXPECT_THAT(serverError(future),
              MatchesRegex("certificate chain: the certificate for \"CN=new.example\" is not yet "
                           "valid \\(valid from " +
                           date + " to " + date + "\\)"));
}

TEST(ServerConfig, RefusesUnparseableClientCa) {
  ServerMaterial material = serverMaterial(rootCa().issueServer({"example.org"}));
  material.client_ca_pem = "garbage";
  EXPECT_EQ(serverError(material), "client CA: no PEM CERTIFICATE block found");
}

TEST(ServerConfig, RefusesRequiredClientAuthWithoutCa) {
  ServerMaterial material = serverMaterial(rootCa().issueServer({"example.org"}));
  material.require_client_auth = true;
  EXPECT_EQ(serverError(material),
            "require_client_auth is set but no client CA was given to verify client certificates "
            "with");
}

TEST(ServerConfig, RefusesBadAlpnLists) {
  ServerMaterial material = serverMaterial(rootCa().issueServer({"example.org"}));
  material.alpn = {"h2", ""};
  EXPECT_EQ(serverError(material), "ALPN protocol #2 is empty");
  material.alpn = {std::string(256, 'x')};
  EXPECT_THAT(serverError(material),
              AllOf(StartsWith("ALPN protocol #1 \"xxxx"), HasSubstr("is 256 bytes; at most 255")));
  material.alpn = std::vector<std::string>(17, "h2");
  EXPECT_EQ(serverError(material), "ALPN: 17 protocols; at most 16");
  material.alpn = {std::string(255, 'x'), "h2"};
  EXPECT_EQ(serverError(material), "(created)");
}

TEST(ServerConfig, RefusesMaterialOverOneMebibyte) {
  ServerMaterial material = serverMaterial(rootCa().issueServer({"example.org"}));
  material.client_ca_pem = std::string(kMaxMaterialBytes, 'x');
  EXPECT_THAT(serverError(material),
              MatchesRegex("TLS material is [0-9]+ bytes; at most 1048576 \\(1 MiB\\)"));
}

TEST(ServerConfig, ReportsEveryProblemAtOnce) {
  ServerMaterial material;
  material.cert_chain_pem = "nothing";
  material.key_pem = "nothing";
  material.client_ca_pem = "nothing";
  material.alpn = {""};
  EXPECT_EQ(serverError(material),
            "ALPN protocol #1 is empty; certificate chain: no PEM CERTIFICATE block found; private "
            "key: no PEM PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block found; client CA: no "
            "PEM CERTIFICATE block found");
}

TEST(ServerConfig, KeepsTheChainAndNormalisesMaterial) {
  const TestCa intermediate = rootCa().issueIntermediate("Test Intermediate");
  const Credential credential = intermediate.issueServer({"chain.example"});
  ServerMaterial material = serverMaterial(credential);
  material.cert_chain_pem = "leading text\n" + credential.cert_pem + "trailing text\n";
  material.client_ca_pem = rootCa().certPem() + otherCa().certPem();
  auto config = ServerConfig::create(material);
  ASSERT_TRUE(config.ok()) << config.error().message;
  const ServerMaterial& normalised = (*config)->material();
  EXPECT_EQ(normalised.cert_chain_pem, credential.cert_pem);  // both certificates, no text
  EXPECT_EQ(normalised.client_ca_pem, rootCa().certPem() + otherCa().certPem());
  EXPECT_EQ(SSL_CTX_get_verify_mode((*config)->context().get()), SSL_VERIFY_PEER);
  EXPECT_EQ(sk_X509_NAME_num(SSL_CTX_get_client_CA_list((*config)->context().get())), 2);
}

// --- Names ------------------------------------------------------------------------------------

TEST(ServerConfigNames, ListsDnsAndIpSans) {
  auto config = serverFor({"Example.org", "*.example.org", "127.0.0.1", "::1"});
  ASSERT_NE(config, nullptr);
  EXPECT_THAT(config->names(), ElementsAre("example.org", "*.example.org", "127.0.0.1", "::1"));
}

TEST(ServerConfigNames, CoversPerRfc6125) {
  auto config = serverFor({"example.org", "*.example.org", "127.0.0.1", "::1"});
  ASSERT_NE(config, nullptr);
  EXPECT_TRUE(config->covers("example.org"));
  EXPECT_TRUE(config->covers("EXAMPLE.ORG"));
  EXPECT_TRUE(config->covers("example.org."));
  EXPECT_TRUE(config->covers("api.example.org"));
  EXPECT_TRUE(config->covers("API.Example.Org"));
  EXPECT_FALSE(config->covers("a.b.example.org"));  // one label only
  EXPECT_FALSE(config->covers(".example.org"));
  EXPECT_FALSE(config->covers("example.com"));
  EXPECT_FALSE(config->covers("notexample.org"));
  EXPECT_FALSE(config->covers(""));
  EXPECT_TRUE(config->covers("*.example.org"));  // the same wildcard
  EXPECT_FALSE(config->covers("*.other.org"));
  EXPECT_TRUE(config->covers("127.0.0.1"));
  EXPECT_TRUE(config->covers("::1"));
  EXPECT_TRUE(config->covers("[::1]"));
  EXPECT_TRUE(config->covers("0:0:0:0:0:0:0:1"));
  EXPECT_FALSE(config->covers("127.0.0.2"));
  EXPECT_FALSE(config->covers("::2"));
}

TEST(ServerConfigNames, IpLiteralsNeedIpSans) {
  // A DNS SAN spelled like an address does not cover the address.
  auto config = serverFor({"localhost"});
  ASSERT_NE(config, nullptr);
  EXPECT_FALSE(config->covers("127.0.0.1"));
}

TEST(ServerConfigNames, WildcardNeedsTwoLabelsAfterIt) {
  auto config = serverFor({"*.com"});
  ASSERT_NE(config, nullptr);
  EXPECT_FALSE(config->covers("example.com"));
}

TEST(ServerConfigNames, LeavesOutNamesNoClientCouldAskFor) {
  auto config = serverFor({"under_score.example", "a..example", "ok.example"});
  ASSERT_NE(config, nullptr);
  EXPECT_THAT(config->names(), ElementsAre("ok.example"));
  EXPECT_FALSE(config->covers("under_score.example"));
  EXPECT_FALSE(config->covers("a..example"));
  for (const std::string& name : config->names()) EXPECT_TRUE(config->covers(name));
}

TEST(ServerConfigNames, FallsBackToCommonNameWithoutSan) {
  auto config =
      serverConfig(serverMaterial(rootCa().issueServer({}, {}, KeyType::EcP256, "Legacy.Example")));
  ASSERT_NE(config, nullptr);
  EXPECT_THAT(config->names(), ElementsAre("legacy.example"));
  EXPECT_TRUE(config->covers("legacy.example"));
  // The CN is ignored once there is a DNS SAN.
  auto with_san = serverConfig(
      serverMaterial(rootCa().issueServer({"san.example"}, {}, KeyType::EcP256, "cn.example")));
  ASSERT_NE(with_san, nullptr);
  EXPECT_THAT(with_san->names(), ElementsAre("san.example"));
  EXPECT_FALSE(with_san->covers("cn.example"));
}

// --- ClientConfig validation ------------------------------------------------------------------

TEST(ClientConfig, RequiresCa) {
  EXPECT_EQ(clientError(ClientMaterial{}), "CA: none given; a client must trust at least one CA");
  ClientMaterial material;
  material.ca_pem = "junk";
  EXPECT_EQ(clientError(material), "CA: no PEM CERTIFICATE block found");
}

TEST(ClientConfig, NeedsCertificateAndKeyTogether) {
  const Credential credential = rootCa().issueClient("client");
  ClientMaterial material;
  material.ca_pem = rootCa().certPem();
  material.cert_pem = credential.cert_pem;
  EXPECT_EQ(clientError(material),
            "client certificate and client key: give both or neither (client key is empty)");
  material.cert_pem.clear();
  material.key_pem = credential.key_pem;
  EXPECT_EQ(clientError(material),
            "client certificate and client key: give both or neither (client certificate is "
            "empty)");
}

TEST(ClientConfig, ValidatesTheClientCredential) {
  ClientMaterial material;
  material.ca_pem = rootCa().certPem();
  material.cert_pem = rootCa().issueClient("client").cert_pem;
  material.key_pem = rootCa().issueClient("someone else").key_pem;
  EXPECT_THAT(clientError(material),
              StartsWith("client key does not match the certificate for \"CN=client\""));
  const Credential expired = rootCa().issueClient("late", Validity{-3 * kDay, -2 * kDay});
  material.cert_pem = expired.cert_pem;
  material.key_pem = testing::reencodeKey(expired.key_pem, KeyEncoding::EncryptedPkcs8);
  EXPECT_THAT(clientError(material),
              AllOf(HasSubstr("client certificate: the certificate for \"CN=late\" has expired"),
                    HasSubstr("client key: the key is encrypted")));
}

TEST(ClientConfig, ValidatesServerNameAndAlpn) {
  ClientMaterial material;
  material.ca_pem = rootCa().certPem();
  material.server_name = "not a name";
  material.alpn = {"h2", ""};
  EXPECT_EQ(clientError(material),
            "ALPN protocol #2 is empty; server_name \"not a name\" is neither a DNS name nor an "
            "IP address");
}

TEST(ClientConfig, PrepareRefusesHostThatIsNoName) {
  auto client = clientTrusting(rootCa());
  ASSERT_NE(client, nullptr);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(client->context().get()), &SSL_free);
  Status prepared = client->prepare(ssl.get(), "bad host\n");
  ASSERT_FALSE(prepared.ok());
  EXPECT_EQ(
      prepared.error().message,
      "TLS: cannot verify the server \"bad host\\x0a\": neither a DNS name nor an IP address");
  EXPECT_TRUE(client->prepare(ssl.get(), "Example.ORG").ok());
  EXPECT_STREQ(SSL_get_servername(ssl.get(), TLSEXT_NAMETYPE_host_name), "example.org");
}

// --- The work dir's certificates --------------------------------------------------------------

class DefaultConfigs : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("selium-tls-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    util::CertOptions options;
    options.output_dir = dir_;
    auto written = util::generateCerts(options);
    ASSERT_TRUE(written.ok()) << written.error().message;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
};

TEST_F(DefaultConfigs, LoadAndShakeHands) {
  auto server = loadDefaultServerConfig(dir_, {"h2", "http/1.1"});
  ASSERT_TRUE(server.ok()) << server.error().message;
  EXPECT_THAT((*server)->names(), ElementsAre("localhost", "127.0.0.1", "::1"));
  // ca.crt present: client certificates are requested, not required.
  EXPECT_EQ(SSL_CTX_get_verify_mode((*server)->context().get()), SSL_VERIFY_PEER);
  auto client = loadDefaultClientConfig(dir_, {"h2"});
  ASSERT_TRUE(client.ok()) << client.error().message;

  Outcome outcome = handshake((*server)->context(), **client, "localhost");
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error << " / " << outcome.server_error;
  EXPECT_EQ(outcome.alpn, "h2");
  EXPECT_EQ(outcome.client_subject, "CN=client.localhost");
  EXPECT_EQ(outcome.sni, "localhost");
  outcome = handshake((*server)->context(), **client, "127.0.0.1");
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error << " / " << outcome.server_error;
  EXPECT_EQ(outcome.sni, "");
}

TEST_F(DefaultConfigs, ServerWithoutCaDoesNotAskForClientCertificates) {
  std::filesystem::remove(dir_ / "ca.crt");
  auto server = loadDefaultServerConfig(dir_, {});
  ASSERT_TRUE(server.ok()) << server.error().message;
  EXPECT_EQ(SSL_CTX_get_verify_mode((*server)->context().get()), SSL_VERIFY_NONE);
}

TEST_F(DefaultConfigs, ErrorsNameTheFile) {
  std::filesystem::remove(dir_ / "server.key");
  auto server = loadDefaultServerConfig(dir_, {});
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.error().message,
            "reading \"" + (dir_ / "server.key").string() + "\": No such file or directory");

  testing::writeFile(dir_ / "server.key", "junk");
  testing::writeFile(dir_ / "server.crt", "junk");
  server = loadDefaultServerConfig(dir_, {});
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.error().message,
              AllOf(HasSubstr("certificate chain \"" + (dir_ / "server.crt").string() +
                              "\": no PEM CERTIFICATE block found"),
                    HasSubstr("private key \"" + (dir_ / "server.key").string() + "\": no PEM")));

  std::filesystem::remove(dir_ / "client.key");
  auto client = loadDefaultClientConfig(dir_, {});
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().message, "\"" + (dir_ / "client.key").string() + "\" is missing but \"" +
                                        (dir_ / "client.crt").string() +
                                        "\" exists; the client certificate needs both");
  std::filesystem::remove(dir_ / "client.crt");
  client = loadDefaultClientConfig(dir_, {});
  EXPECT_TRUE(client.ok()) << client.error().message;  // no client certificate: fine

  std::filesystem::resize_file(dir_ / "ca.crt", kMaxMaterialBytes + 1);
  client = loadDefaultClientConfig(dir_, {});
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().message,
            "reading \"" + (dir_ / "ca.crt").string() + "\": larger than 1048576 bytes");
}

// --- Handshakes -------------------------------------------------------------------------------

TEST(Handshake, SucceedsWithTls13ByDefault) {
  auto server = serverFor({"localhost"});
  auto client = clientTrusting(rootCa());
  Outcome outcome = handshake(server->context(), *client, "localhost");
  EXPECT_TRUE(outcome.server_ok) << outcome.server_error;
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error;
  EXPECT_EQ(outcome.version, TLS1_3_VERSION);
  EXPECT_EQ(outcome.alpn, "");
  EXPECT_EQ(outcome.server_subject, "CN=localhost");
  EXPECT_EQ(outcome.client_subject, "");
}

TEST(Handshake, AlpnFollowsTheServersOrder) {
  auto client_h1_first = clientTrusting(rootCa(), {"http/1.1", "h2"});
  auto client_h2_first = clientTrusting(rootCa(), {"h2", "http/1.1"});
  auto h2_first = serverFor({"localhost"}, {"h2", "http/1.1"});
  auto h1_first = serverFor({"localhost"}, {"http/1.1", "h2"});
  EXPECT_EQ(handshake(h2_first->context(), *client_h1_first, "localhost").alpn, "h2");
  EXPECT_EQ(handshake(h1_first->context(), *client_h2_first, "localhost").alpn, "http/1.1");
  // A client that offers only one of them gets it.
  auto h1_only = clientTrusting(rootCa(), {"http/1.1"});
  EXPECT_EQ(handshake(h2_first->context(), *h1_only, "localhost").alpn, "http/1.1");
}

TEST(Handshake, AlpnWithoutOverlapFailsWithNoApplicationProtocol) {
  auto server = serverFor({"localhost"}, {"h2"});
  auto client = clientTrusting(rootCa(), {"spdy/3", "http/1.1"});
  Outcome outcome = handshake(server->context(), *client, "localhost");
  EXPECT_FALSE(outcome.client_ok);
  EXPECT_FALSE(outcome.server_ok);
  EXPECT_THAT(outcome.client_error, HasSubstr("no application protocol"));
}

TEST(Handshake, NoAlpnUnlessBothSidesHaveIt) {
  auto server_with = serverFor({"localhost"}, {"h2"});
  auto server_without = serverFor({"localhost"});
  auto client_with = clientTrusting(rootCa(), {"h2"});
  auto client_without = clientTrusting(rootCa());
  Outcome outcome = handshake(server_with->context(), *client_without, "localhost");
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error;
  EXPECT_EQ(outcome.alpn, "");
  outcome = handshake(server_without->context(), *client_with, "localhost");
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error;
  EXPECT_EQ(outcome.alpn, "");
}

ServerMaterial mutualMaterial(bool require) {
  ServerMaterial material = serverMaterial(rootCa().issueServer({"localhost"}));
  material.client_ca_pem = rootCa().certPem();
  material.require_client_auth = require;
  return material;
}

TEST(Handshake, RequiredClientCertificateIsVerified) {
  auto server = serverConfig(mutualMaterial(/*require=*/true));
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(SSL_CTX_get_verify_mode(server->context().get()),
            SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
  const Credential good = rootCa().issueClient("alice");
  const Credential foreign = otherCa().issueClient("mallory");

  Outcome outcome = handshake(server->context(), *clientTrusting(rootCa(), {}, &good), "localhost");
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error << " / " << outcome.server_error;
  EXPECT_EQ(outcome.client_subject, "CN=alice");

  outcome = handshake(server->context(), *clientTrusting(rootCa()), "localhost");
  EXPECT_FALSE(outcome.client_ok);
  EXPECT_FALSE(outcome.server_ok);
  EXPECT_THAT(outcome.server_error, HasSubstr("peer did not return a certificate"));

  outcome = handshake(server->context(), *clientTrusting(rootCa(), {}, &foreign), "localhost");
  EXPECT_FALSE(outcome.client_ok);
  EXPECT_FALSE(outcome.server_ok);
  EXPECT_THAT(outcome.server_error, HasSubstr("certificate verify failed"));
}

TEST(Handshake, OptionalClientCertificateIsVerifiedWhenGiven) {
  auto server = serverConfig(mutualMaterial(/*require=*/false));
  ASSERT_NE(server, nullptr);
  const Credential good = rootCa().issueClient("bob");
  const Credential foreign = otherCa().issueClient("mallory");

  Outcome outcome = handshake(server->context(), *clientTrusting(rootCa()), "localhost");
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error << " / " << outcome.server_error;
  EXPECT_EQ(outcome.client_subject, "");

  outcome = handshake(server->context(), *clientTrusting(rootCa(), {}, &good), "localhost");
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error << " / " << outcome.server_error;
  EXPECT_EQ(outcome.client_subject, "CN=bob");

  outcome = handshake(server->context(), *clientTrusting(rootCa(), {}, &foreign), "localhost");
  EXPECT_FALSE(outcome.client_ok);
  EXPECT_THAT(outcome.server_error, HasSubstr("certificate verify failed"));
}

TEST(Handshake, ClientRefusesCertificateForAnotherName) {
  auto server = serverFor({"other.example"});
  Outcome outcome = handshake(server->context(), *clientTrusting(rootCa()), "localhost");
  EXPECT_FALSE(outcome.client_ok);
  EXPECT_EQ(outcome.client_verify_result, X509_V_ERR_HOSTNAME_MISMATCH);
  EXPECT_THAT(outcome.client_error, HasSubstr("certificate verify failed"));
}

TEST(Handshake, ClientRefusesCertificateFromUntrustedCa) {
  auto server = serverConfig(serverMaterial(otherCa().issueServer({"localhost"})));
  Outcome outcome = handshake(server->context(), *clientTrusting(rootCa()), "localhost");
  EXPECT_FALSE(outcome.client_ok);
  EXPECT_EQ(outcome.client_verify_result, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST(Handshake, IpLiteralIsVerifiedAgainstIpSans) {
  auto with_ip = serverFor({"localhost", "127.0.0.1"});
  Outcome outcome = handshake(with_ip->context(), *clientTrusting(rootCa()), "127.0.0.1");
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error;
  EXPECT_EQ(outcome.sni, "");  // no SNI for an address

  auto dns_only = serverFor({"localhost"});
  outcome = handshake(dns_only->context(), *clientTrusting(rootCa()), "127.0.0.1");
  EXPECT_FALSE(outcome.client_ok);
  EXPECT_EQ(outcome.client_verify_result, X509_V_ERR_IP_ADDRESS_MISMATCH);
}

TEST(Handshake, ServerNameOverridesTheHost) {
  auto server = serverFor({"api.internal"});
  ClientMaterial material;
  material.ca_pem = rootCa().certPem();
  material.server_name = "API.internal";
  auto client = clientConfig(material);
  Outcome outcome = handshake(server->context(), *client, "127.0.0.1");
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error;
  EXPECT_EQ(outcome.sni, "api.internal");
}

TEST(Handshake, ChainThroughIntermediateVerifiesAgainstRoot) {
  const TestCa intermediate = rootCa().issueIntermediate("Issuing CA");
  auto server = serverConfig(serverMaterial(intermediate.issueServer({"localhost"})));
  Outcome outcome = handshake(server->context(), *clientTrusting(rootCa()), "localhost");
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error;
}

ClientMaterial tls12Client(std::vector<std::string> alpn = {}) {
  ClientMaterial material;
  material.ca_pem = rootCa().certPem();
  material.alpn = std::move(alpn);
  material.min_version = TlsVersion::Tls12;
  return material;
}

TEST(Handshake, MinimumVersion) {
  auto client = clientConfig(tls12Client());
  EXPECT_EQ(SSL_CTX_get_min_proto_version(client->context().get()), TLS1_2_VERSION);
  ClientOptions tls12_only;
  tls12_only.max_version = TLS1_2_VERSION;
  auto tls13 = serverFor({"localhost"});
  Outcome outcome = handshake(tls13->context(), *client, "localhost", tls12_only);
  EXPECT_FALSE(outcome.client_ok);
  EXPECT_THAT(outcome.server_error, HasSubstr("unsupported protocol"));

  ServerMaterial material = serverMaterial(rootCa().issueServer({"localhost"}));
  material.min_version = TlsVersion::Tls12;
  auto tls12 = serverConfig(material);
  outcome = handshake(tls12->context(), *client, "localhost", tls12_only);
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error;
  EXPECT_EQ(outcome.version, TLS1_2_VERSION);
}

// --- SNI --------------------------------------------------------------------------------------

std::shared_ptr<SniContext> newSni() {
  auto sni = SniContext::create();
  EXPECT_TRUE(sni.ok()) << sni.error().message;
  return *sni;
}

TEST(SniContext, SelectsTheCertificateByServerName) {
  auto sni = newSni();
  ASSERT_TRUE(sni->add("a.example", serverFor({"a.example"})).ok());
  ASSERT_TRUE(sni->add("B.Example", serverFor({"b.example"})).ok());
  EXPECT_EQ(sni->size(), 2u);
  auto client = clientTrusting(rootCa());
  for (const std::string domain : {"a.example", "b.example", "B.EXAMPLE"}) {
    Outcome outcome = handshake(sni->context(), *client, domain);
    EXPECT_TRUE(outcome.client_ok) << domain << ": " << outcome.client_error;
    const std::string lower = util::toLower(domain);
    EXPECT_EQ(outcome.server_subject, "CN=" + lower);
    EXPECT_EQ(outcome.selected_domain, lower);
    EXPECT_EQ(outcome.sni, lower);
  }
}

TEST(SniContext, WildcardDomainAfterExactOnes) {
  auto sni = newSni();
  ASSERT_TRUE(sni->add("*.example.org", serverFor({"*.example.org"})).ok());
  ASSERT_TRUE(sni->add("api.example.org", serverFor({"api.example.org"})).ok());
  auto client = clientTrusting(rootCa());
  Outcome outcome = handshake(sni->context(), *client, "www.example.org");
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error;
  EXPECT_EQ(outcome.server_subject, "CN=*.example.org");
  EXPECT_EQ(outcome.selected_domain, "*.example.org");
  EXPECT_EQ(outcome.sni, "www.example.org");
  outcome = handshake(sni->context(), *client, "api.example.org");
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error;
  EXPECT_EQ(outcome.server_subject, "CN=api.example.org");
  EXPECT_EQ(outcome.selected_domain, "api.example.org");
  // A wildcard is one label deep.
  outcome = handshake(sni->context(), *client, "a.b.example.org");
  EXPECT_FALSE(outcome.client_ok);
  EXPECT_THAT(outcome.client_error, HasSubstr("unrecognized name"));
}

TEST(SniContext, WithoutSniTheEarliestDomainServes) {
  auto sni = newSni();
  ASSERT_TRUE(sni->add("first.example", serverFor({"first.example"})).ok());
  ASSERT_TRUE(sni->add("second.example", serverFor({"second.example"})).ok());
  auto client = clientTrusting(rootCa());
  ClientOptions no_sni;
  no_sni.prepare = false;
  Outcome outcome = handshake(sni->context(), *client, "", no_sni);
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error;
  EXPECT_EQ(outcome.selected_domain, "first.example");
  EXPECT_EQ(outcome.server_subject, "CN=first.example");
  EXPECT_EQ(outcome.sni, "");

  // Re-adding keeps a domain's place; removing it passes the default on.
  ASSERT_TRUE(sni->add("first.example", serverFor({"first.example"})).ok());
  EXPECT_EQ(handshake(sni->context(), *client, "", no_sni).selected_domain, "first.example");
  EXPECT_TRUE(sni->remove("FIRST.example"));
  EXPECT_FALSE(sni->remove("first.example"));
  EXPECT_EQ(handshake(sni->context(), *client, "", no_sni).selected_domain, "second.example");
}

TEST(SniContext, RefusesUnknownNamesAndEmptyPorts) {
  auto sni = newSni();
  auto client = clientTrusting(rootCa());
  ClientOptions no_sni;
  no_sni.prepare = false;
  Outcome outcome = handshake(sni->context(), *client, "", no_sni);
  EXPECT_FALSE(outcome.client_ok);
  EXPECT_THAT(outcome.client_error, HasSubstr("unrecognized name"));

  ASSERT_TRUE(sni->add("known.example", serverFor({"known.example", "unknown.example"})).ok());
  outcome = handshake(sni->context(), *client, "unknown.example");
  EXPECT_FALSE(outcome.client_ok);
  EXPECT_FALSE(outcome.server_ok);
  EXPECT_THAT(outcome.client_error, HasSubstr("unrecognized name"));
  EXPECT_EQ(outcome.selected_domain, "");
}

TEST(SniContext, AddRefusesDomainsTheCertificateDoesNotCover) {
  auto sni = newSni();
  Status added = sni->add("b.example", serverFor({"a.example", "127.0.0.1"}));
  ASSERT_FALSE(added.ok());
  EXPECT_EQ(added.error().message,
            "the certificate for \"CN=a.example\" (names: \"a.example\", \"127.0.0.1\") does not "
            "cover the SNI domain \"b.example\"");
  added = sni->add("*.example", serverFor({"a.example"}));
  EXPECT_FALSE(added.ok());
  added = sni->add("127.0.0.1", serverFor({"127.0.0.1"}));
  ASSERT_FALSE(added.ok());
  EXPECT_EQ(added.error().message, "SNI domain \"127.0.0.1\" is not a DNS name");
  added = sni->add("a.example", nullptr);
  EXPECT_FALSE(added.ok());
  EXPECT_EQ(sni->size(), 0u);
}

TEST(SniContext, ClientAuthPolicyIsPerDomain) {
  auto sni = newSni();
  ASSERT_TRUE(sni->add("open.example", serverFor({"open.example"})).ok());
  ServerMaterial secure = serverMaterial(rootCa().issueServer({"secure.example"}));
  secure.client_ca_pem = rootCa().certPem();
  secure.require_client_auth = true;
  ASSERT_TRUE(sni->add("secure.example", serverConfig(secure)).ok());
  ServerMaterial optional = serverMaterial(rootCa().issueServer({"optional.example"}));
  optional.client_ca_pem = rootCa().certPem();
  ASSERT_TRUE(sni->add("optional.example", serverConfig(optional)).ok());

  const Credential alice = rootCa().issueClient("alice");
  const Credential mallory = otherCa().issueClient("mallory");
  auto anonymous = clientTrusting(rootCa());
  auto with_cert = clientTrusting(rootCa(), {}, &alice);
  auto with_foreign_cert = clientTrusting(rootCa(), {}, &mallory);

  EXPECT_TRUE(handshake(sni->context(), *anonymous, "open.example").client_ok);
  Outcome outcome = handshake(sni->context(), *anonymous, "secure.example");
  EXPECT_FALSE(outcome.client_ok);
  EXPECT_THAT(outcome.server_error, HasSubstr("peer did not return a certificate"));
  outcome = handshake(sni->context(), *with_cert, "secure.example");
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error << " / " << outcome.server_error;
  EXPECT_EQ(outcome.client_subject, "CN=alice");
  outcome = handshake(sni->context(), *with_foreign_cert, "secure.example");
  EXPECT_FALSE(outcome.client_ok);
  EXPECT_THAT(outcome.server_error, HasSubstr("certificate verify failed"));

  // Optional: asked for (the client presents it) and verified, not required.
  EXPECT_TRUE(handshake(sni->context(), *anonymous, "optional.example").client_ok);
  outcome = handshake(sni->context(), *with_cert, "optional.example");
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error << " / " << outcome.server_error;
  EXPECT_EQ(outcome.client_subject, "CN=alice");
  EXPECT_FALSE(handshake(sni->context(), *with_foreign_cert, "optional.example").client_ok);

  // A domain without client auth does not ask for the certificate.
  outcome = handshake(sni->context(), *with_cert, "open.example");
  EXPECT_TRUE(outcome.client_ok);
  EXPECT_EQ(outcome.client_subject, "");
}

TEST(SniContext, MinimumVersionAndAlpnArePerDomain) {
  auto sni = newSni();
  ServerMaterial legacy = serverMaterial(rootCa().issueServer({"legacy.example"}), {"http/1.1"});
  legacy.min_version = TlsVersion::Tls12;
  ASSERT_TRUE(sni->add("modern.example", serverFor({"modern.example"}, {"h2", "http/1.1"})).ok());
  ASSERT_TRUE(sni->add("legacy.example", serverConfig(legacy)).ok());
  auto client = clientConfig(tls12Client({"h2", "http/1.1"}));
  ClientOptions tls12_only;
  tls12_only.max_version = TLS1_2_VERSION;

  Outcome outcome = handshake(sni->context(), *client, "legacy.example", tls12_only);
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error << " / " << outcome.server_error;
  EXPECT_EQ(outcome.version, TLS1_2_VERSION);
  EXPECT_EQ(outcome.alpn, "http/1.1");
  EXPECT_EQ(outcome.sni, "legacy.example");
  outcome = handshake(sni->context(), *client, "modern.example", tls12_only);
  EXPECT_FALSE(outcome.client_ok);
  EXPECT_THAT(outcome.server_error, HasSubstr("unsupported protocol"));
  outcome = handshake(sni->context(), *client, "modern.example");
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error;
  EXPECT_EQ(outcome.alpn, "h2");
}

TEST(SniContext, SessionsResumeOnlyForTheirDomain) {
  auto sni = newSni();
  ASSERT_TRUE(sni->add("a.example", serverFor({"a.example"})).ok());
  ASSERT_TRUE(sni->add("b.example", serverFor({"b.example"})).ok());
  auto client = clientTrusting(rootCa());
  Outcome first = handshake(sni->context(), *client, "a.example");
  ASSERT_TRUE(first.client_ok) << first.client_error;
  ASSERT_NE(first.session, nullptr);
  ASSERT_EQ(SSL_SESSION_is_resumable(first.session.get()), 1);

  ClientOptions resume;
  resume.session = first.session.get();
  Outcome again = handshake(sni->context(), *client, "a.example", resume);
  EXPECT_TRUE(again.client_ok) << again.client_error;
  EXPECT_TRUE(again.reused);
  EXPECT_EQ(again.selected_domain, "a.example");

  Outcome elsewhere = handshake(sni->context(), *client, "b.example", resume);
  EXPECT_TRUE(elsewhere.client_ok) << elsewhere.client_error;
  EXPECT_FALSE(elsewhere.reused);
  EXPECT_EQ(elsewhere.server_subject, "CN=b.example");

  // The control: the client does offer the session to another name, and a domain served by the
  // same configuration (same certificate, same client-auth policy) may resume it.
  auto shared = serverFor({"c.example", "d.example"});
  ASSERT_TRUE(sni->add("c.example", shared).ok());
  ASSERT_TRUE(sni->add("d.example", shared).ok());
  Outcome on_c = handshake(sni->context(), *client, "c.example");
  ASSERT_TRUE(on_c.client_ok) << on_c.client_error;
  resume.session = on_c.session.get();
  Outcome on_d = handshake(sni->context(), *client, "d.example", resume);
  EXPECT_TRUE(on_d.client_ok) << on_d.client_error;
  EXPECT_TRUE(on_d.reused);
  EXPECT_EQ(on_d.selected_domain, "d.example");
}

TEST(SniContext, DomainsChangeWhileHandshakesRun) {
  auto sni = newSni();
  ASSERT_TRUE(sni->add("stable.example", serverFor({"stable.example"})).ok());
  auto churn_config = serverFor({"churn.example"});
  std::atomic<bool> stop{false};
  std::atomic<int> changes{0};
  std::thread churn([&] {
    while (!stop.load()) {
      EXPECT_TRUE(sni->add("churn.example", churn_config).ok());
      sni->remove("churn.example");
      changes.fetch_add(1);
    }
  });
  auto client = clientTrusting(rootCa());
  for (int i = 0; i < 10; ++i) {
    Outcome outcome = handshake(sni->context(), *client, "stable.example");
    EXPECT_TRUE(outcome.client_ok) << outcome.client_error;
    EXPECT_EQ(outcome.selected_domain, "stable.example");
    Outcome maybe = handshake(sni->context(), *client, "churn.example");
    if (maybe.client_ok) {
      EXPECT_EQ(maybe.server_subject, "CN=churn.example");
    } else {
      EXPECT_THAT(maybe.client_error, HasSubstr("unrecognized name"));
    }
  }
  stop = true;
  churn.join();
  EXPECT_GT(changes.load(), 0);
}

TEST(SniContext, ContextOutlivesTheSniContextAndConfigs) {
  std::shared_ptr<SSL_CTX> ctx;
  {
    auto sni = newSni();
    ASSERT_TRUE(sni->add("a.example", serverFor({"a.example"}, {"h2"})).ok());
    ctx = sni->context();
  }
  Outcome outcome = handshake(ctx, *clientTrusting(rootCa(), {"h2"}), "a.example");
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error;
  EXPECT_EQ(outcome.alpn, "h2");
}

// --- GnuTLS peers ----------------------------------------------------------------------------
// GnuTLS is another implementation, and what the QUIC stack hands material() to.

struct GnutlsClient {
  std::string ca_pem;
  std::string cert_pem;  // with key_pem: a client certificate
  std::string key_pem;
  std::vector<std::string> alpn;
};

Outcome gnutlsHandshake(std::shared_ptr<SSL_CTX> server_ctx, const GnutlsClient& client,
                        const std::string& host) {
  return connectOnce(server_ctx, [&](int fd, Outcome& outcome) {
    auto datum = [](const std::string& text) {
      return gnutls_datum_t{reinterpret_cast<unsigned char*>(const_cast<char*>(text.data())),
                            static_cast<unsigned int>(text.size())};
    };
    gnutls_certificate_credentials_t credentials = nullptr;
    ASSERT_EQ(gnutls_certificate_allocate_credentials(&credentials), GNUTLS_E_SUCCESS);
    std::unique_ptr<gnutls_certificate_credentials_st,
                    decltype(&gnutls_certificate_free_credentials)>
        credentials_owner(credentials, &gnutls_certificate_free_credentials);
    const gnutls_datum_t ca = datum(client.ca_pem);
    ASSERT_GT(gnutls_certificate_set_x509_trust_mem(credentials, &ca, GNUTLS_X509_FMT_PEM), 0);
    if (!client.cert_pem.empty()) {
      const gnutls_datum_t cert = datum(client.cert_pem);
      const gnutls_datum_t key = datum(client.key_pem);
      const int loaded = gnutls_certificate_set_x509_key_mem2(credentials, &cert, &key,
                                                              GNUTLS_X509_FMT_PEM, nullptr, 0);
      ASSERT_GE(loaded, 0) << gnutls_strerror(loaded);
    }
    gnutls_session_t session = nullptr;
    ASSERT_EQ(gnutls_init(&session, GNUTLS_CLIENT), GNUTLS_E_SUCCESS);
    std::unique_ptr<gnutls_session_int, decltype(&gnutls_deinit)> session_owner(session,
                                                                                &gnutls_deinit);
    gnutls_set_default_priority(session);
    gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, credentials);
    gnutls_server_name_set(session, GNUTLS_NAME_DNS, host.data(), host.size());
    gnutls_session_set_verify_cert(session, host.c_str(), 0);
    std::vector<gnutls_datum_t> protocols;
    for (const std::string& protocol : client.alpn) protocols.push_back(datum(protocol));
    if (!protocols.empty()) {
      gnutls_alpn_set_protocols(session, protocols.data(), protocols.size(), 0);
    }
    gnutls_transport_set_int(session, fd);
    gnutls_handshake_set_timeout(session, 5000);
    int result = 0;
    do {
      result = gnutls_handshake(session);
    } while (result < 0 && gnutls_error_is_fatal(result) == 0);
    if (result < 0) {
      outcome.client_error = gnutls_strerror(result);
      return;
    }
    gnutls_datum_t selected{};
    if (gnutls_alpn_get_selected_protocol(session, &selected) == 0) {
      outcome.alpn.assign(reinterpret_cast<const char*>(selected.data), selected.size);
    }
    outcome.version = gnutls_protocol_get_version(session) == GNUTLS_TLS1_3 ? TLS1_3_VERSION : 0;
    char byte = 0;
    ssize_t got = 0;
    do {
      got = gnutls_record_recv(session, &byte, 1);
    } while (got == GNUTLS_E_AGAIN || got == GNUTLS_E_INTERRUPTED);
    outcome.client_ok = got == 1 && byte == 'k';
    if (!outcome.client_ok) outcome.client_error = gnutls_strerror(static_cast<int>(got));
    gnutls_bye(session, GNUTLS_SHUT_WR);
  });
}

TEST(GnuTls, AcceptsTheNormalisedMaterialOfEveryKeyFormat) {
  for (KeyType type : {KeyType::EcP256, KeyType::Rsa2048}) {
    const Credential credential = rootCa().issueServer({"localhost"}, {}, type);
    for (KeyEncoding encoding : {KeyEncoding::Pkcs8, KeyEncoding::Traditional}) {
      ServerMaterial input = serverMaterial(credential);
      input.key_pem = testing::reencodeKey(credential.key_pem, encoding);
      input.client_ca_pem = rootCa().certPem() + otherCa().certPem();
      auto config = serverConfig(input);
      ASSERT_NE(config, nullptr);
      const ServerMaterial& material = config->material();
      gnutls_certificate_credentials_t credentials = nullptr;
      ASSERT_EQ(gnutls_certificate_allocate_credentials(&credentials), GNUTLS_E_SUCCESS);
      gnutls_datum_t cert{
          reinterpret_cast<unsigned char*>(const_cast<char*>(material.cert_chain_pem.data())),
          static_cast<unsigned int>(material.cert_chain_pem.size())};
      gnutls_datum_t key{
          reinterpret_cast<unsigned char*>(const_cast<char*>(material.key_pem.data())),
          static_cast<unsigned int>(material.key_pem.size())};
      gnutls_datum_t cas{
          reinterpret_cast<unsigned char*>(const_cast<char*>(material.client_ca_pem.data())),
          static_cast<unsigned int>(material.client_ca_pem.size())};
      const int loaded = gnutls_certificate_set_x509_key_mem2(credentials, &cert, &key,
                                                              GNUTLS_X509_FMT_PEM, nullptr, 0);
      EXPECT_GE(loaded, 0) << gnutls_strerror(loaded);
      EXPECT_EQ(gnutls_certificate_set_x509_trust_mem(credentials, &cas, GNUTLS_X509_FMT_PEM), 2);
      gnutls_certificate_free_credentials(credentials);
    }
  }
}

TEST(GnuTls, ClientShakesHandsWithMutualTlsAndAlpn) {
  ServerMaterial material = mutualMaterial(/*require=*/true);
  material.alpn = {"h2", "http/1.1"};
  auto server = serverConfig(material);
  const Credential alice = rootCa().issueClient("alice", {}, KeyType::Rsa2048);
  ClientMaterial client_input;
  client_input.ca_pem = rootCa().certPem();
  client_input.cert_pem = alice.cert_pem;
  client_input.key_pem = testing::reencodeKey(alice.key_pem, KeyEncoding::Traditional);
  auto client = clientConfig(client_input);
  ASSERT_NE(client, nullptr);
  GnutlsClient peer{client->material().ca_pem,
                    client->material().cert_pem,
                    client->material().key_pem,
                    {"http/1.1", "h2"}};
  Outcome outcome = gnutlsHandshake(server->context(), peer, "localhost");
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error << " / " << outcome.server_error;
  EXPECT_EQ(outcome.alpn, "h2");
  EXPECT_EQ(outcome.version, TLS1_3_VERSION);
  EXPECT_EQ(outcome.client_subject, "CN=alice");

  peer.cert_pem.clear();
  peer.key_pem.clear();
  outcome = gnutlsHandshake(server->context(), peer, "localhost");
  EXPECT_FALSE(outcome.client_ok);
  EXPECT_THAT(outcome.server_error, HasSubstr("peer did not return a certificate"));
}

TEST(GnuTls, ClientIsRoutedBySni) {
  auto sni = newSni();
  ASSERT_TRUE(sni->add("a.example", serverFor({"a.example"}, {"http/1.1"})).ok());
  ASSERT_TRUE(sni->add("*.b.example", serverFor({"*.b.example"}, {"h2"})).ok());
  GnutlsClient peer{rootCa().certPem(), "", "", {"h2", "http/1.1"}};
  Outcome outcome = gnutlsHandshake(sni->context(), peer, "www.b.example");
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error << " / " << outcome.server_error;
  EXPECT_EQ(outcome.selected_domain, "*.b.example");
  EXPECT_EQ(outcome.sni, "www.b.example");
  EXPECT_EQ(outcome.alpn, "h2");
  outcome = gnutlsHandshake(sni->context(), peer, "a.example");
  EXPECT_TRUE(outcome.client_ok) << outcome.client_error << " / " << outcome.server_error;
  EXPECT_EQ(outcome.selected_domain, "a.example");
  EXPECT_EQ(outcome.alpn, "http/1.1");
}

// --- The server_name extension parser ---------------------------------------------------------

Result<std::string> parseSni(std::initializer_list<uint8_t> bytes) {
  std::vector<uint8_t> body(bytes);
  return parseServerNameExtension(body);
}

TEST(ServerNameExtension, ParsesHostName) {
  auto name = parseSni({0, 6, 0, 0, 3, 'a', '.', 'b'});
  ASSERT_TRUE(name.ok()) << name.error().message;
  EXPECT_EQ(*name, "a.b");
  // Other name types are skipped.
  name = parseSni({0, 9, 7, 0, 0, 0, 0, 3, 'x', 'y', 'z'});
  ASSERT_TRUE(name.ok()) << name.error().message;
  EXPECT_EQ(*name, "xyz");
  name = parseSni({0, 4, 9, 0, 1, 'q'});
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*name, "");
}

TEST(ServerNameExtension, RefusesMalformedLists) {
  EXPECT_FALSE(parseSni({}).ok());
  EXPECT_FALSE(parseSni({0}).ok());
  EXPECT_FALSE(parseSni({0, 0}).ok());                              // empty list
  EXPECT_FALSE(parseSni({0, 7, 0, 0, 3, 'a', '.', 'b'}).ok());      // length mismatch
  EXPECT_FALSE(parseSni({0, 5, 0, 0, 3, 'a', '.'}).ok());           // truncated name
  EXPECT_FALSE(parseSni({0, 2, 0, 0}).ok());                        // truncated entry
  EXPECT_FALSE(parseSni({0, 3, 0, 0, 0}).ok());                     // empty host_name
  EXPECT_FALSE(parseSni({0, 8, 0, 0, 1, 'a', 0, 0, 1, 'b'}).ok());  // two host_names
}

}  // namespace
}  // namespace selium::net::tls
