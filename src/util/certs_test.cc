// generateCerts checked with OpenSSL itself: parsing, chain verification, extensions, a real
// mutual-TLS handshake, and the file handling around them (modes, refusal, atomic replacement).
#include "util/certs.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "support/temp_dir.h"

namespace selium::util {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

template <auto free_fn>
struct Free {
  template <typename T>
  void operator()(T* p) const {
    free_fn(p);
  }
};
using X509Ptr = std::unique_ptr<X509, Free<X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Free<BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, Free<BN_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Free<X509_STORE_free>>;
using StoreContextPtr = std::unique_ptr<X509_STORE_CTX, Free<X509_STORE_CTX_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, Free<GENERAL_NAMES_free>>;
using SslContextPtr = std::unique_ptr<SSL_CTX, Free<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Free<SSL_free>>;

constexpr std::array<std::string_view, 6> kFiles = {
    "ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key",
};
// Mirrors the contract of certs.cc: leaves live 825 days, the CA ten years, both back-dated one
// hour.
constexpr long kDay = 24 * 60 * 60;
constexpr long kCaLifetime = 3650 * kDay;
constexpr long kLeafLifetime = 825 * kDay;
constexpr long kBackdate = 60 * 60;
// Generous bound for a handshake that needs a handful of flights.
constexpr int kMaxHandshakeRounds = 64;

// Everything on OpenSSL's error queue, for a failure message.
std::string opensslErrors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    std::array<char, 256> buffer;
    ERR_error_string_n(code, buffer.data(), buffer.size());
    text += std::string(buffer.data()) + "\n";
  }
  return text;
}

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    files[entry.path().filename().string()] = readFile(entry.path());
  }
  return files;
}

std::set<std::string> listDir(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename());
  return names;
}

mode_t permissions(const fs::path& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 07777;
}

X509Ptr loadCert(const fs::path& path) {
  BioPtr in(BIO_new_file(path.c_str(), "r"));
  X509Ptr cert(in ? PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr) : nullptr);
  EXPECT_NE(cert, nullptr) << path << ": " << opensslErrors();
  return cert;
}

PkeyPtr loadKey(const fs::path& path) {
  BioPtr in(BIO_new_file(path.c_str(), "r"));
  PkeyPtr key(in ? PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr) : nullptr);
  EXPECT_NE(key, nullptr) << path << ": " << opensslErrors();
  return key;
}

// The six files of one generated set, parsed.
struct Bundle {
  X509Ptr ca, server, client;
  PkeyPtr ca_key, server_key, client_key;
};

void loadBundle(const fs::path& dir, Bundle& bundle) {
  ASSERT_TRUE(bundle.ca = loadCert(dir / "ca.crt"));
  ASSERT_TRUE(bundle.ca_key = loadKey(dir / "ca.key"));
  ASSERT_TRUE(bundle.server = loadCert(dir / "server.crt"));
  ASSERT_TRUE(bundle.server_key = loadKey(dir / "server.key"));
  ASSERT_TRUE(bundle.client = loadCert(dir / "client.crt"));
  ASSERT_TRUE(bundle.client_key = loadKey(dir / "client.key"));
}

std::string commonName(X509_NAME* name) {
  std::array<char, 256> text{};
  int length = X509_NAME_get_text_by_NID(name, NID_commonName, text.data(), text.size());
  return length < 0 ? "<none>" : std::string(text.data(), length);
}

// "DNS:<name>" and "IP:<address>" for each subjectAltName entry, in certificate order.
std::vector<std::string> subjectAltNames(X509* cert) {
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  std::vector<std::string> out;
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    int type = 0;
    const auto* value = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(name, &type));
    std::string bytes(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                      ASN1_STRING_length(value));
    if (type == GEN_DNS) {
      out.push_back("DNS:" + bytes);
    } else if (type == GEN_IPADD) {
      std::array<char, INET6_ADDRSTRLEN> text{};
      int family = bytes.size() == 4 ? AF_INET : AF_INET6;
      out.push_back("IP:" + std::string(inet_ntop(family, bytes.data(), text.data(), text.size())));
    } else {
      out.push_back("other:" + std::to_string(type));
    }
  }
  return out;
}

bool isCritical(X509* cert, int nid) {
  int index = X509_get_ext_by_NID(cert, nid, -1);
  EXPECT_GE(index, 0) << OBJ_nid2ln(nid) << " missing";
  return index >= 0 && X509_EXTENSION_get_critical(X509_get_ext(cert, index)) == 1;
}

// Seconds from now until `time` (negative when in the past).
long secondsFromNow(const ASN1_TIME* time) {
  int days = 0;
  int seconds = 0;
  EXPECT_EQ(ASN1_TIME_diff(&days, &seconds, nullptr, time), 1);
  return days * kDay + seconds;
}

// X509_V_OK when `cert` chains to `ca` under RFC 5280's strict rules and suits `purpose`;
// otherwise OpenSSL's verification error.
int verifyAgainst(X509* cert, X509* ca, int purpose) {
  StorePtr store(X509_STORE_new());
  StoreContextPtr context(X509_STORE_CTX_new());
  if (!store || !context || !X509_STORE_add_cert(store.get(), ca) ||
      !X509_STORE_CTX_init(context.get(), store.get(), cert, nullptr) ||
      !X509_STORE_CTX_set_purpose(context.get(), purpose)) {
    ADD_FAILURE() << "setting up verification: " << opensslErrors();
    return X509_V_ERR_UNSPECIFIED;
  }
  X509_STORE_CTX_set_flags(context.get(), X509_V_FLAG_X509_STRICT);
  int result =
      X509_verify_cert(context.get()) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(context.get());
  ERR_clear_error();
  return result;
}

// A TLS context presenting `cert`/`key` and trusting only `ca`; peers must present a certificate.
SslContextPtr tlsContext(const SSL_METHOD* method, const fs::path& cert, const fs::path& key,
                         const fs::path& ca) {
  SslContextPtr context(SSL_CTX_new(method));
  EXPECT_NE(context, nullptr) << opensslErrors();
  if (!context) return context;
  EXPECT_EQ(SSL_CTX_use_certificate_file(context.get(), cert.c_str(), SSL_FILETYPE_PEM), 1)
      << cert << ": " << opensslErrors();
  EXPECT_EQ(SSL_CTX_use_PrivateKey_file(context.get(), key.c_str(), SSL_FILETYPE_PEM), 1)
      << key << ": " << opensslErrors();
  EXPECT_EQ(SSL_CTX_load_verify_file(context.get(), ca.c_str()), 1)
      << ca << ": " << opensslErrors();
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return context;
}

struct Handshake {
  bool completed = false;
  long server_verify_result = X509_V_OK;  // how the server judged the client's certificate
  long client_verify_result = X509_V_OK;  // how the client judged the server's certificate
  std::string errors;
  SslPtr server;
  SslPtr client;
};

// Runs client and server in this thread over an in-memory BIO pair, alternating until both finish,
// one fails, or the round bound is hit. The client checks the server's name against `host`.
Handshake handshake(SSL_CTX* server_context, SSL_CTX* client_context, const char* host) {
  Handshake result;
  result.server.reset(SSL_new(server_context));
  result.client.reset(SSL_new(client_context));
  BIO* server_end = nullptr;
  BIO* client_end = nullptr;
  if (!result.server || !result.client || !BIO_new_bio_pair(&server_end, 0, &client_end, 0)) {
    result.errors = "setup: " + opensslErrors();
    return result;
  }
  SSL_set_bio(result.server.get(), server_end, server_end);  // each SSL owns its end
  SSL_set_bio(result.client.get(), client_end, client_end);
  SSL_set_accept_state(result.server.get());
  SSL_set_connect_state(result.client.get());
  EXPECT_EQ(SSL_set1_host(result.client.get(), host), 1);
  EXPECT_EQ(SSL_set_tlsext_host_name(result.client.get(), host), 1);

  bool server_done = false;
  bool client_done = false;
  bool failed = false;
  auto step = [&](SSL* ssl, bool& done, const char* side) {
    if (done || failed) return;
    int rc = SSL_do_handshake(ssl);
    if (rc == 1) {
      done = true;
      return;
    }
    int error = SSL_get_error(ssl, rc);
    if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
      failed = true;
      result.errors += std::string(side) + " failed (SSL_get_error " + std::to_string(error) +
                       "): " + opensslErrors();
    }
  };
  for (int round = 0; round < kMaxHandshakeRounds && !failed && !(server_done && client_done);
       ++round) {
    step(result.client.get(), client_done, "client");
    step(result.server.get(), server_done, "server");
  }
  if (!failed && !(server_done && client_done)) result.errors += "handshake stalled";
  result.completed = server_done && client_done && !failed;
  result.server_verify_result = SSL_get_verify_result(result.server.get());
  result.client_verify_result = SSL_get_verify_result(result.client.get());
  return result;
}

// Sends `message` from one side and returns what the other side reads.
std::string transfer(SSL* from, SSL* to, std::string_view message) {
  int written = SSL_write(from, message.data(), static_cast<int>(message.size()));
  EXPECT_EQ(written, static_cast<int>(message.size())) << opensslErrors();
  std::array<char, 256> buffer;
  int received = SSL_read(to, buffer.data(), buffer.size());
  EXPECT_GT(received, 0) << "SSL_get_error " << SSL_get_error(to, received) << ": "
                         << opensslErrors();
  return received > 0 ? std::string(buffer.data(), received) : std::string();
}

// Caps the file size for the process so the next write fails with EFBIG, as a full disk would;
// restores the limit and SIGXFSZ's disposition on destruction.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    EXPECT_EQ(::getrlimit(RLIMIT_FSIZE, &saved_), 0);
    previous_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    EXPECT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
  }
  ~FileSizeLimit() {
    EXPECT_EQ(::setrlimit(RLIMIT_FSIZE, &saved_), 0);
    ::signal(SIGXFSZ, previous_handler_);
  }

 private:
  rlimit saved_{};
  void (*previous_handler_)(int) = nullptr;
};

// Each test gets a fresh directory under the system temp dir; the certificates go into its
// certs/ subdirectory, which generateCerts creates.
class GenerateCerts : public ::testing::Test {
 protected:
  void SetUp() override { root_ = dir_.path(); }

  fs::path certsDir() const { return root_ / "certs"; }

  CertOptions options(const fs::path& dir) const {
    CertOptions options;
    options.output_dir = dir;
    return options;
  }

  // Generates into `options.output_dir` and fails the test (fatally) on error.
  void generate(const CertOptions& options, std::vector<fs::path>* written = nullptr) {
    Result<std::vector<fs::path>> result = generateCerts(options);
    ASSERT_TRUE(result.ok()) << result.error().message;
    if (written) *written = *result;
  }

  // The message of a call expected to fail.
  std::string failure(const CertOptions& options) {
    Result<std::vector<fs::path>> result = generateCerts(options);
    EXPECT_FALSE(result.ok()) << "generateCerts unexpectedly succeeded";
    return result.ok() ? std::string() : result.error().message;
  }

  selium::testing::TempDir dir_{"certs-test"};
  fs::path root_;
};

TEST_F(GenerateCerts, WritesSixPemFilesInOrderWithOwnerOnlyKeys) {
  std::vector<fs::path> written;
  ASSERT_NO_FATAL_FAILURE(generate(options(certsDir()), &written));

  std::vector<fs::path> expected;
  for (std::string_view file : kFiles) expected.push_back(certsDir() / file);
  EXPECT_EQ(written, expected);
  // Nothing else: the temporary files were all renamed into place.
  EXPECT_THAT(listDir(certsDir()), UnorderedElementsAre("ca.crt", "ca.key", "server.crt",
                                                        "server.key", "client.crt", "client.key"));
  for (std::string_view name : {"ca", "server", "client"}) {
    fs::path cert = certsDir() / (std::string(name) + ".crt");
    fs::path key = certsDir() / (std::string(name) + ".key");
    EXPECT_THAT(readFile(cert), ::testing::StartsWith("-----BEGIN CERTIFICATE-----\n"));
    // Unencrypted PKCS#8, not the traditional "BEGIN EC PRIVATE KEY" form.
    EXPECT_THAT(readFile(key), ::testing::StartsWith("-----BEGIN PRIVATE KEY-----\n"));
    EXPECT_NE(loadCert(cert), nullptr);
    EXPECT_NE(loadKey(key), nullptr);
    EXPECT_EQ(permissions(key), 0600u) << key;
    EXPECT_EQ(permissions(cert), 0644u) << cert;
  }
}

TEST_F(GenerateCerts, FileModesDoNotDependOnUmask) {
  for (mode_t mask : {mode_t{0}, mode_t{077}}) {
    fs::path dir = root_ / ("umask-" + std::to_string(mask));
    mode_t previous = ::umask(mask);
    Result<std::vector<fs::path>> result = generateCerts(options(dir));
    ::umask(previous);
    ASSERT_TRUE(result.ok()) << result.error().message;
    for (std::string_view name : {"ca", "server", "client"}) {
      EXPECT_EQ(permissions(dir / (std::string(name) + ".key")), 0600u) << "umask " << mask;
      EXPECT_EQ(permissions(dir / (std::string(name) + ".crt")), 0644u) << "umask " << mask;
    }
  }
}

TEST_F(GenerateCerts, ServerAndClientChainsVerifyAgainstCaForTheirPurpose) {
  ASSERT_NO_FATAL_FAILURE(generate(options(certsDir())));
  Bundle bundle;
  ASSERT_NO_FATAL_FAILURE(loadBundle(certsDir(), bundle));

  int server = verifyAgainst(bundle.server.get(), bundle.ca.get(), X509_PURPOSE_SSL_SERVER);
  EXPECT_EQ(server, X509_V_OK) << X509_verify_cert_error_string(server);
  int client = verifyAgainst(bundle.client.get(), bundle.ca.get(), X509_PURPOSE_SSL_CLIENT);
  EXPECT_EQ(client, X509_V_OK) << X509_verify_cert_error_string(client);
  // Each leaf carries one extended key usage, so it is refused for the other role.
  EXPECT_EQ(verifyAgainst(bundle.client.get(), bundle.ca.get(), X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_INVALID_PURPOSE);
  EXPECT_EQ(verifyAgainst(bundle.server.get(), bundle.ca.get(), X509_PURPOSE_SSL_CLIENT),
            X509_V_ERR_INVALID_PURPOSE);
}

TEST_F(GenerateCerts, LeavesDoNotVerifyAgainstAnotherCa) {
  ASSERT_NO_FATAL_FAILURE(generate(options(certsDir())));
  ASSERT_NO_FATAL_FAILURE(generate(options(root_ / "other")));
  Bundle bundle;
  Bundle other;
  ASSERT_NO_FATAL_FAILURE(loadBundle(certsDir(), bundle));
  ASSERT_NO_FATAL_FAILURE(loadBundle(root_ / "other", other));

  // Both CAs are called "Selium Local CA"; only the key identifiers and signatures differ.
  EXPECT_NE(verifyAgainst(bundle.server.get(), other.ca.get(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_NE(verifyAgainst(other.client.get(), bundle.ca.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
}

TEST_F(GenerateCerts, OnlyTheCaIsACertificateAuthority) {
  ASSERT_NO_FATAL_FAILURE(generate(options(certsDir())));
  Bundle bundle;
  ASSERT_NO_FATAL_FAILURE(loadBundle(certsDir(), bundle));

  X509* ca = bundle.ca.get();
  EXPECT_EQ(X509_get_extension_flags(ca) & EXFLAG_INVALID, 0u);
  EXPECT_NE(X509_get_extension_flags(ca) & EXFLAG_CA, 0u);
  EXPECT_NE(X509_get_extension_flags(ca) & EXFLAG_SS, 0u);  // self-signed
  EXPECT_EQ(X509_check_ca(ca), 1);
  EXPECT_EQ(X509_get_pathlen(ca), 0);  // it signs leaves only
  EXPECT_EQ(X509_get_key_usage(ca),
            uint32_t{KU_KEY_CERT_SIGN | KU_CRL_SIGN | KU_DIGITAL_SIGNATURE});
  EXPECT_EQ(X509_get_extended_key_usage(ca), UINT32_MAX);  // no EKU extension: unrestricted
  EXPECT_TRUE(isCritical(ca, NID_basic_constraints));
  EXPECT_TRUE(isCritical(ca, NID_key_usage));
  EXPECT_EQ(commonName(X509_get_subject_name(ca)), "Selium Local CA");
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(ca), X509_get_subject_name(ca)), 0);
  ASSERT_NE(X509_get0_subject_key_id(ca), nullptr);

  struct Leaf {
    X509* cert;
    const char* common_name;
    uint32_t extended_key_usage;
  };
  for (const Leaf& leaf : {Leaf{bundle.server.get(), "localhost", XKU_SSL_SERVER},
                           Leaf{bundle.client.get(), "client.localhost", XKU_SSL_CLIENT}}) {
    SCOPED_TRACE(leaf.common_name);
    uint32_t flags = X509_get_extension_flags(leaf.cert);
    EXPECT_EQ(flags & EXFLAG_INVALID, 0u);
    EXPECT_NE(flags & EXFLAG_BCONS, 0u);  // basicConstraints present, saying CA:FALSE
    EXPECT_EQ(flags & EXFLAG_CA, 0u);
    EXPECT_EQ(X509_check_ca(leaf.cert), 0);
    EXPECT_EQ(X509_get_key_usage(leaf.cert), uint32_t{KU_DIGITAL_SIGNATURE});
    EXPECT_EQ(X509_get_extended_key_usage(leaf.cert), leaf.extended_key_usage);
    EXPECT_TRUE(isCritical(leaf.cert, NID_key_usage));
    EXPECT_EQ(commonName(X509_get_subject_name(leaf.cert)), leaf.common_name);
    EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(leaf.cert), X509_get_subject_name(ca)), 0);
    ASSERT_NE(X509_get0_subject_key_id(leaf.cert), nullptr);
    ASSERT_NE(X509_get0_authority_key_id(leaf.cert), nullptr);
    EXPECT_EQ(
        ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf.cert), X509_get0_subject_key_id(ca)),
        0);
  }
}

TEST_F(GenerateCerts, KeysAreFreshP256AndCertificatesSha256Signed) {
  ASSERT_NO_FATAL_FAILURE(generate(options(certsDir())));
  Bundle bundle;
  ASSERT_NO_FATAL_FAILURE(loadBundle(certsDir(), bundle));

  for (EVP_PKEY* key : {bundle.ca_key.get(), bundle.server_key.get(), bundle.client_key.get()}) {
    EXPECT_EQ(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
    std::array<char, 64> group{};
    std::size_t length = 0;
    ASSERT_EQ(EVP_PKEY_get_group_name(key, group.data(), group.size(), &length), 1);
    EXPECT_EQ(std::string(group.data(), length), "prime256v1");
  }
  EXPECT_EQ(EVP_PKEY_eq(bundle.ca_key.get(), bundle.server_key.get()), 0);
  EXPECT_EQ(EVP_PKEY_eq(bundle.server_key.get(), bundle.client_key.get()), 0);

  EXPECT_EQ(X509_check_private_key(bundle.ca.get(), bundle.ca_key.get()), 1);
  EXPECT_EQ(X509_check_private_key(bundle.server.get(), bundle.server_key.get()), 1);
  EXPECT_EQ(X509_check_private_key(bundle.client.get(), bundle.client_key.get()), 1);
  EXPECT_EQ(X509_check_private_key(bundle.server.get(), bundle.client_key.get()), 0);
  ERR_clear_error();  // the mismatch above queues an error

  for (X509* cert : {bundle.ca.get(), bundle.server.get(), bundle.client.get()}) {
    EXPECT_EQ(X509_get_signature_nid(cert), NID_ecdsa_with_SHA256);
    EXPECT_EQ(X509_get_version(cert), X509_VERSION_3);
  }
  // The CA's own signature checks out with its key; the leaves' with the CA's.
  EXPECT_EQ(X509_verify(bundle.ca.get(), bundle.ca_key.get()), 1);
  EXPECT_EQ(X509_verify(bundle.server.get(), bundle.ca_key.get()), 1);
  EXPECT_EQ(X509_verify(bundle.client.get(), bundle.ca_key.get()), 1);
}

TEST_F(GenerateCerts, SerialsAreRandom159BitPositiveIntegers) {
  ASSERT_NO_FATAL_FAILURE(generate(options(certsDir())));
  Bundle bundle;
  ASSERT_NO_FATAL_FAILURE(loadBundle(certsDir(), bundle));

  std::vector<BignumPtr> serials;
  for (X509* cert : {bundle.ca.get(), bundle.server.get(), bundle.client.get()}) {
    BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
    ASSERT_NE(serial, nullptr);
    EXPECT_FALSE(BN_is_negative(serial.get()));
    EXPECT_EQ(BN_num_bits(serial.get()), 159);
    serials.push_back(std::move(serial));
  }
  EXPECT_NE(BN_cmp(serials[0].get(), serials[1].get()), 0);
  EXPECT_NE(BN_cmp(serials[1].get(), serials[2].get()), 0);
}

TEST_F(GenerateCerts, ValidityIsBackdatedAnHourAndBounded) {
  ASSERT_NO_FATAL_FAILURE(generate(options(certsDir())));
  Bundle bundle;
  ASSERT_NO_FATAL_FAILURE(loadBundle(certsDir(), bundle));

  constexpr long kSlack = 120;  // seconds between generating and checking, generously
  for (X509* cert : {bundle.ca.get(), bundle.server.get(), bundle.client.get()}) {
    long not_before = secondsFromNow(X509_get0_notBefore(cert));
    EXPECT_LE(not_before, -kBackdate);
    EXPECT_GE(not_before, -kBackdate - kSlack);
  }
  long ca_end = secondsFromNow(X509_get0_notAfter(bundle.ca.get()));
  EXPECT_LE(ca_end, kCaLifetime);
  EXPECT_GE(ca_end, kCaLifetime - kSlack);
  for (X509* leaf : {bundle.server.get(), bundle.client.get()}) {
    long leaf_end = secondsFromNow(X509_get0_notAfter(leaf));
    EXPECT_LE(leaf_end, kLeafLifetime);
    EXPECT_GE(leaf_end, kLeafLifetime - kSlack);
  }
}

TEST_F(GenerateCerts, DefaultServerNameCoversLocalhostAndLoopbackAddresses) {
  ASSERT_NO_FATAL_FAILURE(generate(options(certsDir())));
  Bundle bundle;
  ASSERT_NO_FATAL_FAILURE(loadBundle(certsDir(), bundle));

  X509* server = bundle.server.get();
  EXPECT_THAT(subjectAltNames(server), ElementsAre("DNS:localhost", "IP:127.0.0.1", "IP:::1"));
  // NEVER_CHECK_SUBJECT: the match must come from the SAN, as modern clients require.
  EXPECT_EQ(X509_check_host(server, "localhost", 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, nullptr),
            1);
  EXPECT_EQ(X509_check_ip_asc(server, "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(server, "::1", 0), 1);
  EXPECT_EQ(X509_check_host(server, "example.com", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ip_asc(server, "10.0.0.1", 0), 0);

  X509* client = bundle.client.get();
  EXPECT_THAT(subjectAltNames(client), ElementsAre("DNS:client.localhost"));
  EXPECT_EQ(
      X509_check_host(client, "client.localhost", 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, nullptr),
      1);
  EXPECT_THAT(subjectAltNames(bundle.ca.get()), ElementsAre());  // the CA names no host
}

TEST_F(GenerateCerts, CustomNamesGetOnlyTheirOwnSubjectAltName) {
  CertOptions custom = options(certsDir());
  custom.ca_common_name = "Test CA";
  custom.server_name = "svc.example";
  custom.client_name = "worker-1";
  ASSERT_NO_FATAL_FAILURE(generate(custom));
  Bundle bundle;
  ASSERT_NO_FATAL_FAILURE(loadBundle(certsDir(), bundle));

  EXPECT_EQ(commonName(X509_get_subject_name(bundle.ca.get())), "Test CA");
  EXPECT_EQ(commonName(X509_get_subject_name(bundle.server.get())), "svc.example");
  EXPECT_THAT(subjectAltNames(bundle.server.get()), ElementsAre("DNS:svc.example"));
  EXPECT_EQ(X509_check_host(bundle.server.get(), "svc.example", 0,
                            X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, nullptr),
            1);
  EXPECT_EQ(X509_check_host(bundle.server.get(), "localhost", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ip_asc(bundle.server.get(), "127.0.0.1", 0), 0);
  EXPECT_EQ(X509_check_ip_asc(bundle.server.get(), "::1", 0), 0);
  EXPECT_THAT(subjectAltNames(bundle.client.get()), ElementsAre("DNS:worker-1"));
}

TEST_F(GenerateCerts, AddressLiteralServerNameBecomesAnIpSubjectAltName) {
  CertOptions v4 = options(root_ / "v4");
  v4.server_name = "192.0.2.7";
  CertOptions v6 = options(root_ / "v6");
  v6.server_name = "2001:db8::1";
  ASSERT_NO_FATAL_FAILURE(generate(v4));
  ASSERT_NO_FATAL_FAILURE(generate(v6));

  X509Ptr server4 = loadCert(root_ / "v4" / "server.crt");
  X509Ptr server6 = loadCert(root_ / "v6" / "server.crt");
  ASSERT_TRUE(server4 && server6);
  EXPECT_THAT(subjectAltNames(server4.get()), ElementsAre("IP:192.0.2.7"));
  EXPECT_EQ(X509_check_ip_asc(server4.get(), "192.0.2.7", 0), 1);
  EXPECT_THAT(subjectAltNames(server6.get()), ElementsAre("IP:2001:db8::1"));
  EXPECT_EQ(X509_check_ip_asc(server6.get(), "2001:db8::1", 0), 1);
}

TEST_F(GenerateCerts, MutualTlsHandshakeSucceedsAndCarriesData) {
  ASSERT_NO_FATAL_FAILURE(generate(options(certsDir())));
  fs::path dir = certsDir();
  SslContextPtr server_context =
      tlsContext(TLS_server_method(), dir / "server.crt", dir / "server.key", dir / "ca.crt");
  SslContextPtr client_context =
      tlsContext(TLS_client_method(), dir / "client.crt", dir / "client.key", dir / "ca.crt");
  ASSERT_TRUE(server_context && client_context);

  Handshake tls = handshake(server_context.get(), client_context.get(), "localhost");
  ASSERT_TRUE(tls.completed) << tls.errors;
  EXPECT_EQ(tls.server_verify_result, X509_V_OK);
  EXPECT_EQ(tls.client_verify_result, X509_V_OK);
  // The server really saw and checked the client's certificate.
  X509* peer = SSL_get0_peer_certificate(tls.server.get());
  ASSERT_NE(peer, nullptr);
  EXPECT_EQ(commonName(X509_get_subject_name(peer)), "client.localhost");

  EXPECT_EQ(transfer(tls.client.get(), tls.server.get(), "ping from client"), "ping from client");
  EXPECT_EQ(transfer(tls.server.get(), tls.client.get(), "pong from server"), "pong from server");
}

TEST_F(GenerateCerts, HandshakeFailsForClientCertificateFromAnotherCa) {
  ASSERT_NO_FATAL_FAILURE(generate(options(certsDir())));
  ASSERT_NO_FATAL_FAILURE(generate(options(root_ / "other")));
  fs::path dir = certsDir();
  fs::path other = root_ / "other";
  SslContextPtr server_context =
      tlsContext(TLS_server_method(), dir / "server.crt", dir / "server.key", dir / "ca.crt");
  SslContextPtr client_context =
      tlsContext(TLS_client_method(), other / "client.crt", other / "client.key", dir / "ca.crt");
  ASSERT_TRUE(server_context && client_context);

  Handshake tls = handshake(server_context.get(), client_context.get(), "localhost");
  EXPECT_FALSE(tls.completed);
  // Same issuer name, but no trusted CA with the client's authority key identifier.
  EXPECT_EQ(tls.server_verify_result, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY)
      << X509_verify_cert_error_string(tls.server_verify_result);
  EXPECT_THAT(tls.errors, HasSubstr("server failed"));
  EXPECT_THAT(tls.errors, HasSubstr("certificate verify failed"));
  EXPECT_EQ(tls.client_verify_result, X509_V_OK);  // the server itself was fine
}

TEST_F(GenerateCerts, HandshakeFailsWhenClientTrustsOnlyAnotherCa) {
  ASSERT_NO_FATAL_FAILURE(generate(options(certsDir())));
  ASSERT_NO_FATAL_FAILURE(generate(options(root_ / "other")));
  fs::path dir = certsDir();
  SslContextPtr server_context =
      tlsContext(TLS_server_method(), dir / "server.crt", dir / "server.key", dir / "ca.crt");
  SslContextPtr client_context = tlsContext(TLS_client_method(), dir / "client.crt",
                                            dir / "client.key", root_ / "other" / "ca.crt");
  ASSERT_TRUE(server_context && client_context);

  Handshake tls = handshake(server_context.get(), client_context.get(), "localhost");
  EXPECT_FALSE(tls.completed);
  // The server may send its CA along (OpenSSL completes the chain from its trust store), so the
  // client sees either an untrusted self-signed CA or no issuer at all.
  EXPECT_THAT(tls.client_verify_result,
              ::testing::AnyOf(X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
                               X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY))
      << X509_verify_cert_error_string(tls.client_verify_result);
  EXPECT_THAT(tls.errors, HasSubstr("client failed"));
}

TEST_F(GenerateCerts, HandshakeFailsForAnotherHostName) {
  ASSERT_NO_FATAL_FAILURE(generate(options(certsDir())));
  fs::path dir = certsDir();
  SslContextPtr server_context =
      tlsContext(TLS_server_method(), dir / "server.crt", dir / "server.key", dir / "ca.crt");
  SslContextPtr client_context =
      tlsContext(TLS_client_method(), dir / "client.crt", dir / "client.key", dir / "ca.crt");
  ASSERT_TRUE(server_context && client_context);

  Handshake tls = handshake(server_context.get(), client_context.get(), "svc.example");
  EXPECT_FALSE(tls.completed);
  EXPECT_EQ(tls.client_verify_result, X509_V_ERR_HOSTNAME_MISMATCH);
}

TEST_F(GenerateCerts, RefusesToOverwriteWithoutForceAndChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(generate(options(certsDir())));
  std::map<std::string, std::string> before = snapshot(certsDir());

  std::string error = failure(options(certsDir()));
  EXPECT_THAT(error, HasSubstr("--force"));
  for (std::string_view file : kFiles) EXPECT_THAT(error, HasSubstr(file));
  EXPECT_EQ(snapshot(certsDir()), before);  // byte for byte, and no stray temporary files
}

TEST_F(GenerateCerts, RefusesWhenAnyOneFileExistsAndWritesNothing) {
  fs::create_directories(certsDir());
  std::ofstream(certsDir() / "server.key") << "precious";

  std::string error = failure(options(certsDir()));
  EXPECT_THAT(error, HasSubstr("server.key"));
  EXPECT_THAT(error, HasSubstr("--force"));
  EXPECT_THAT(error, Not(HasSubstr("ca.crt")));  // names only what exists
  EXPECT_EQ(snapshot(certsDir()), (std::map<std::string, std::string>{{"server.key", "precious"}}));
}

TEST_F(GenerateCerts, ForceReplacesTheWholeSet) {
  ASSERT_NO_FATAL_FAILURE(generate(options(certsDir())));
  std::map<std::string, std::string> before = snapshot(certsDir());
  // A key someone loosened must come back owner-only.
  fs::permissions(certsDir() / "server.key", fs::perms(0644));

  CertOptions forced = options(certsDir());
  forced.force = true;
  ASSERT_NO_FATAL_FAILURE(generate(forced));
  std::map<std::string, std::string> after = snapshot(certsDir());
  ASSERT_EQ(after.size(), 6u);
  for (std::string_view file : kFiles) {
    EXPECT_NE(after[std::string(file)], before[std::string(file)]) << file << " was not replaced";
  }
  EXPECT_EQ(permissions(certsDir() / "server.key"), 0600u);

  Bundle bundle;
  ASSERT_NO_FATAL_FAILURE(loadBundle(certsDir(), bundle));
  EXPECT_EQ(verifyAgainst(bundle.server.get(), bundle.ca.get(), X509_PURPOSE_SSL_SERVER),
            X509_V_OK);
}

TEST_F(GenerateCerts, RefusesToReplaceADirectoryEvenWithForce) {
  ASSERT_NO_FATAL_FAILURE(generate(options(certsDir())));
  fs::remove(certsDir() / "client.key");
  fs::create_directory(certsDir() / "client.key");
  std::map<std::string, std::string> before = snapshot(certsDir());

  CertOptions forced = options(certsDir());
  forced.force = true;
  std::string error = failure(forced);
  EXPECT_THAT(error, HasSubstr("client.key"));
  EXPECT_THAT(error, HasSubstr("directories"));
  EXPECT_EQ(snapshot(certsDir()), before);
}

TEST_F(GenerateCerts, FailedWriteLeavesNoPartialFiles) {
  std::string error;
  {
    // ca.crt (~575 bytes) and ca.key (~240) fit, server.crt (~700) does not: two complete
    // temporary files and one partial one must all be removed.
    FileSizeLimit limit(640);
    error = failure(options(certsDir()));
  }
  EXPECT_THAT(error, HasSubstr("writing"));
  EXPECT_THAT(error, HasSubstr("server.crt"));
  EXPECT_THAT(error, HasSubstr("File too large"));
  EXPECT_THAT(listDir(certsDir()), ElementsAre());  // temporary files removed

  // Replacing an existing set fails the same way and leaves the old set whole.
  ASSERT_NO_FATAL_FAILURE(generate(options(certsDir())));
  std::map<std::string, std::string> before = snapshot(certsDir());
  CertOptions forced = options(certsDir());
  forced.force = true;
  {
    FileSizeLimit limit(640);
    error = failure(forced);
  }
  EXPECT_THAT(error, HasSubstr("File too large"));
  EXPECT_EQ(snapshot(certsDir()), before);
}

TEST_F(GenerateCerts, CreatesOutputDirectoryWithParents) {
  fs::path nested = root_ / "a" / "b" / "c";
  std::vector<fs::path> written;
  ASSERT_NO_FATAL_FAILURE(generate(options(nested), &written));
  ASSERT_EQ(written.size(), 6u);
  EXPECT_EQ(written[0], nested / "ca.crt");
  EXPECT_EQ(listDir(nested).size(), 6u);
}

TEST_F(GenerateCerts, RejectsOutputPathThatIsARegularFile) {
  fs::path file = root_ / "not-a-dir";
  std::ofstream(file) << "data";

  std::string error = failure(options(file));
  EXPECT_THAT(error, HasSubstr("--output-dir"));
  EXPECT_THAT(error, HasSubstr(file.string()));
  EXPECT_THAT(error, HasSubstr("not a directory"));
  EXPECT_EQ(readFile(file), "data");
}

TEST_F(GenerateCerts, ReportsOutputDirectoryThatCannotBeCreated) {
  std::ofstream(root_ / "file") << "data";

  std::string error = failure(options(root_ / "file" / "certs"));
  EXPECT_THAT(error, HasSubstr("creating --output-dir"));
  EXPECT_THAT(error, HasSubstr("file/certs"));
}

TEST_F(GenerateCerts, EmptyServerNameIsAnErrorNamingTheOption) {
  CertOptions bad = options(certsDir());
  bad.server_name = "";
  std::string error = failure(bad);
  EXPECT_THAT(error, HasSubstr("--server-name"));
  EXPECT_THAT(error, HasSubstr("empty"));
  EXPECT_FALSE(fs::exists(certsDir()));  // invalid input touches nothing
}

TEST_F(GenerateCerts, ReportsEveryInvalidNameAtOnce) {
  CertOptions bad = options(certsDir());
  bad.ca_common_name = "";
  bad.client_name = "";
  std::string error = failure(bad);
  EXPECT_THAT(error, HasSubstr("--ca-common-name must not be empty"));
  EXPECT_THAT(error, HasSubstr("--client-name must not be empty"));
  EXPECT_THAT(error, Not(HasSubstr("--server-name")));
}

TEST_F(GenerateCerts, RejectsNamesWithControlCharacters) {
  for (std::string name : {std::string("local\nhost"), std::string("a\0b", 3), std::string("x\x7f"),
                           std::string("caf\xc2\x85")}) {
    CertOptions bad = options(certsDir());
    bad.server_name = name;
    std::string error = failure(bad);
    EXPECT_THAT(error, HasSubstr("--server-name"));
    EXPECT_THAT(error, HasSubstr("control characters"));
    EXPECT_EQ(error.find('\n'), std::string::npos) << "raw control character in: " << error;
  }
  CertOptions bad_ca = options(certsDir());
  bad_ca.ca_common_name = "CA\tname";
  EXPECT_THAT(failure(bad_ca), HasSubstr("--ca-common-name \"CA\\x09name\" contains control"));
  EXPECT_FALSE(fs::exists(certsDir()));
}

TEST_F(GenerateCerts, RejectsServerNamesThatAreNeitherHostNorAddress) {
  for (std::string_view name : {"my host", "a..b", ".example", "[::1]", "*.example"}) {
    CertOptions bad = options(certsDir());
    bad.server_name = name;
    EXPECT_THAT(failure(bad), HasSubstr("is neither a DNS name")) << name;
  }
  CertOptions long_name = options(certsDir());
  long_name.client_name = std::string(65, 'a');
  EXPECT_THAT(failure(long_name), HasSubstr("longer than 64 characters"));
}

TEST_F(GenerateCerts, AcceptsUnicodeCaName) {
  CertOptions unicode = options(certsDir());
  unicode.ca_common_name = "Sélium Ünicode CA";
  ASSERT_NO_FATAL_FAILURE(generate(unicode));
  X509Ptr ca = loadCert(certsDir() / "ca.crt");
  ASSERT_NE(ca, nullptr);
  const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(
      X509_get_subject_name(ca.get()),
      X509_NAME_get_index_by_NID(X509_get_subject_name(ca.get()), NID_commonName, -1)));
  EXPECT_EQ(ASN1_STRING_type(cn), V_ASN1_UTF8STRING);
  EXPECT_EQ(
      std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)), ASN1_STRING_length(cn)),
      "Sélium Ünicode CA");
}

}  // namespace
}  // namespace selium::util
