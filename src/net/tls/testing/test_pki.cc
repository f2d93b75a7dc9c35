// Test PKI with OpenSSL 3: every step checked, failures thrown with OpenSSL's reasons.
#include "net/tls/testing/test_pki.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <fstream>
#include <stdexcept>

namespace selium::net::tls::testing {
namespace {

template <auto free_fn>
struct Free {
  template <typename T>
  void operator()(T* p) const {
    free_fn(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Free<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Free<BIO_free_all>>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, Free<X509_EXTENSION_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, Free<BN_free>>;

[[noreturn]] void fail(const std::string& step) {
  std::string message = "test PKI: " + step + " failed";
  std::array<char, 256> text;
  while (const unsigned long code = ERR_get_error()) {
    ERR_error_string_n(code, text.data(), text.size());
    message += ": ";
    message += text.data();
  }
  throw std::runtime_error(message);
}

void check(bool ok, const std::string& step) {
  if (!ok) fail(step);
}

PkeyPtr generateKey(KeyType type) {
  PkeyPtr key(type == KeyType::EcP256 ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048));
  check(key != nullptr, "generating a key");
  return key;
}

std::string bioText(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(length));
}

std::string encodeCert(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(bio && PEM_write_bio_X509(bio.get(), cert), "encoding a certificate");
  return bioText(bio.get());
}

std::string encodeKey(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(bio && PEM_write_bio_PKCS8PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr),
        "encoding a key");
  return bioText(bio.get());
}

PkeyPtr readKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  check(bio != nullptr, "reading a key");
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  check(key != nullptr, "reading a key");
  return key;
}

void addExtension(X509* cert, X509V3_CTX* context, int nid, const std::string& value) {
  ExtensionPtr extension(X509V3_EXT_nconf_nid(nullptr, context, nid, value.c_str()));
  check(extension && X509_add_ext(cert, extension.get(), -1),
        "adding extension " + std::string(OBJ_nid2sn(nid)) + " = " + value);
}

bool isIpLiteral(const std::string& name) {
  std::array<unsigned char, 16> bytes;
  return inet_pton(AF_INET, name.c_str(), bytes.data()) == 1 ||
         inet_pton(AF_INET6, name.c_str(), bytes.data()) == 1;
}

struct Profile {
  std::string common_name;
  Validity validity;
  bool ca = false;
  const char* extended_key_usage = nullptr;
  std::vector<std::string> alt_names;
};

// A certificate for `key` per `profile`, signed by (issuer_cert, issuer_key) or self-signed.
X509Ptr issue(const Profile& profile, EVP_PKEY* key, X509* issuer_cert, EVP_PKEY* issuer_key) {
  X509Ptr cert(X509_new());
  check(cert && X509_set_version(cert.get(), X509_VERSION_3), "creating a certificate");
  BignumPtr serial(BN_new());
  check(serial && BN_rand(serial.get(), 120, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) &&
            BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())),
        "setting a serial number");
  check(X509_time_adj_ex(X509_getm_notBefore(cert.get()), 0,
                         static_cast<long>(profile.validity.not_before.count()), nullptr) &&
            X509_time_adj_ex(X509_getm_notAfter(cert.get()), 0,
                             static_cast<long>(profile.validity.not_after.count()), nullptr),
        "setting the validity");
  X509_NAME* subject = X509_get_subject_name(cert.get());
  check(X509_NAME_add_entry_by_txt(
            subject, "CN", MBSTRING_UTF8,
            reinterpret_cast<const unsigned char*>(profile.common_name.c_str()), -1, -1, 0),
        "setting the subject");
  X509* signer = issuer_cert ? issuer_cert : cert.get();
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) &&
            X509_set_pubkey(cert.get(), key),
        "setting the issuer and key");
  X509V3_CTX context{};
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, signer, cert.get(), nullptr, nullptr, 0);
  if (profile.ca) {
    addExtension(cert.get(), &context, NID_basic_constraints, "critical,CA:TRUE");
    addExtension(cert.get(), &context, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    addExtension(cert.get(), &context, NID_basic_constraints, "critical,CA:FALSE");
    addExtension(cert.get(), &context, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    addExtension(cert.get(), &context, NID_ext_key_usage, profile.extended_key_usage);
  }
  addExtension(cert.get(), &context, NID_subject_key_identifier, "hash");
  if (issuer_cert) {
    addExtension(cert.get(), &context, NID_authority_key_identifier, "keyid:always");
  }
  if (!profile.alt_names.empty()) {
    std::string value;
    for (const std::string& name : profile.alt_names) {
      if (!value.empty()) value += ",";
      value += (isIpLiteral(name) ? "IP:" : "DNS:") + name;
    }
    addExtension(cert.get(), &context, NID_subject_alt_name, value);
  }
  check(X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) > 0,
        "signing the certificate for " + profile.common_name);
  return cert;
}

}  // namespace

struct TestCa::Impl {
  X509Ptr cert;
  PkeyPtr key;
  std::string cert_pem;
  std::string key_pem;
  std::string chain_pem;  // intermediates between this CA and the root, this one first
};

TestCa::TestCa(const std::string& common_name, KeyType key_type) : impl_(std::make_unique<Impl>()) {
  impl_->key = generateKey(key_type);
  Profile profile;
  profile.common_name = common_name;
  profile.validity = Validity{-std::chrono::hours(1), std::chrono::hours(24 * 365)};
  profile.ca = true;
  impl_->cert = issue(profile, impl_->key.get(), nullptr, nullptr);
  impl_->cert_pem = encodeCert(impl_->cert.get());
  impl_->key_pem = encodeKey(impl_->key.get());
}

TestCa::TestCa(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TestCa::TestCa(TestCa&&) noexcept = default;
TestCa& TestCa::operator=(TestCa&&) noexcept = default;
TestCa::~TestCa() = default;

const std::string& TestCa::certPem() const { return impl_->cert_pem; }
const std::string& TestCa::keyPem() const { return impl_->key_pem; }

Credential TestCa::issueServer(const std::vector<std::string>& names, Validity validity,
                               KeyType key_type, const std::string& common_name_override) const {
  PkeyPtr key = generateKey(key_type);
  Profile profile;
  profile.common_name = !common_name_override.empty() ? common_name_override
                        : names.empty()               ? "no name"
                                                      : names.front();
  profile.validity = validity;
  profile.extended_key_usage = "serverAuth";
  profile.alt_names = names;
  X509Ptr cert = issue(profile, key.get(), impl_->cert.get(), impl_->key.get());
  return Credential{encodeCert(cert.get()) + impl_->chain_pem, encodeKey(key.get())};
}

Credential TestCa::issueClient(const std::string& common_name, Validity validity,
                               KeyType key_type) const {
  PkeyPtr key = generateKey(key_type);
  Profile profile;
  profile.common_name = common_name;
  profile.validity = validity;
  profile.extended_key_usage = "clientAuth";
  X509Ptr cert = issue(profile, key.get(), impl_->cert.get(), impl_->key.get());
  return Credential{encodeCert(cert.get()) + impl_->chain_pem, encodeKey(key.get())};
}

TestCa TestCa::issueIntermediate(const std::string& common_name) const {
  auto impl = std::make_unique<Impl>();
  impl->key = generateKey(KeyType::EcP256);
  Profile profile;
  profile.common_name = common_name;
  profile.validity = Validity{-std::chrono::hours(1), std::chrono::hours(24 * 365)};
  profile.ca = true;
  impl->cert = issue(profile, impl->key.get(), impl_->cert.get(), impl_->key.get());
  impl->cert_pem = encodeCert(impl->cert.get());
  impl->key_pem = encodeKey(impl->key.get());
  impl->chain_pem = impl->cert_pem + impl_->chain_pem;
  return TestCa(std::move(impl));
}

std::string reencodeKey(const std::string& key_pem, KeyEncoding encoding) {
  PkeyPtr key = readKey(key_pem);
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(bio != nullptr, "allocating a buffer");
  static const char kPassphrase[] = "secret";
  auto* pass = reinterpret_cast<const unsigned char*>(kPassphrase);
  const int pass_length = static_cast<int>(sizeof kPassphrase - 1);
  bool ok = false;
  switch (encoding) {
    case KeyEncoding::Pkcs8:
      ok = PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                         nullptr);
      break;
    case KeyEncoding::Traditional:
      ok = PEM_write_bio_PrivateKey_traditional(bio.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                                nullptr);
      break;
    case KeyEncoding::EncryptedPkcs8:
      ok = PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), EVP_aes_256_cbc(), kPassphrase,
                                         pass_length, nullptr, nullptr);
      break;
    case KeyEncoding::EncryptedTraditional:
      ok = PEM_write_bio_PrivateKey_traditional(bio.get(), key.get(), EVP_aes_256_cbc(), pass,
                                                pass_length, nullptr, nullptr);
      break;
  }
  check(ok, "re-encoding a key");
  return bioText(bio.get());
}

void writeFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  if (!out.flush()) throw std::runtime_error("test PKI: writing " + path + " failed");
}

}  // namespace selium::net::tls::testing
