// Certificates for tests, made in memory with OpenSSL: CAs (root or intermediate), server leaves
// for given names and validity, client leaves, and key re-encodings. Test code only: failures
// throw std::runtime_error (GoogleTest reports it), which production code must never do.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace selium::net::tls::testing {

enum class KeyType : uint8_t { EcP256, Rsa2048 };

// A validity period relative to now.
struct Validity {
  std::chrono::seconds not_before = -std::chrono::hours(1);
  std::chrono::seconds not_after = std::chrono::hours(24 * 30);
};

// PEM strings: `cert_pem` is the leaf followed by any intermediates; `key_pem` is PKCS#8.
struct Credential {
  std::string cert_pem;
  std::string key_pem;
};

class TestCa {
 public:
  // A self-signed root CA.
  explicit TestCa(const std::string& common_name = "Selium Test CA",
                  KeyType key_type = KeyType::EcP256);
  TestCa(TestCa&&) noexcept;
  TestCa& operator=(TestCa&&) noexcept;
  ~TestCa();

  // This CA's own certificate (what a peer trusts for a root).
  const std::string& certPem() const;
  const std::string& keyPem() const;

  // A serverAuth leaf whose SANs are `names` (DNS names, "*." wildcards, IPv4/IPv6 literals),
  // CN = names[0] (or `common_name_override` when non-empty; with `names` empty the leaf has no
  // SAN extension at all, only that CN).
  Credential issueServer(const std::vector<std::string>& names, Validity validity = {},
                         KeyType key_type = KeyType::EcP256,
                         const std::string& common_name_override = "") const;
  // A clientAuth leaf with CN = common_name.
  Credential issueClient(const std::string& common_name, Validity validity = {},
                         KeyType key_type = KeyType::EcP256) const;
  // An intermediate CA signed by this one; the leaves it issues carry it in their cert_pem.
  TestCa issueIntermediate(const std::string& common_name) const;

 private:
  struct Impl;
  explicit TestCa(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

enum class KeyEncoding : uint8_t {
  Pkcs8,                 // "PRIVATE KEY"
  Traditional,           // "RSA PRIVATE KEY" (PKCS#1) or "EC PRIVATE KEY" (SEC1)
  EncryptedPkcs8,        // "ENCRYPTED PRIVATE KEY", passphrase "secret"
  EncryptedTraditional,  // legacy "Proc-Type: 4,ENCRYPTED" headers, passphrase "secret"
};
// `key_pem` (any unencrypted form) re-encoded.
std::string reencodeKey(const std::string& key_pem, KeyEncoding encoding);

// Writes `contents` to `path` (test fixtures on disk).
void writeFile(const std::string& path, const std::string& contents);

}  // namespace selium::net::tls::testing
