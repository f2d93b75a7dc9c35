// OpenSSL plumbing for net/tls: PEM parsing with messages that name the input and the block.
#include "net/tls/openssl_util.h"

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <array>
#include <ctime>
#include <limits>

#include "util/strings.h"

namespace selium::net::tls::detail {
namespace {

using util::quote;

// One PEM block as PEM_read_bio returns it; the decoded bytes are wiped when freed (they may be
// a private key).
struct PemBlock {
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long length = 0;

  PemBlock() = default;
  PemBlock(const PemBlock&) = delete;
  PemBlock& operator=(const PemBlock&) = delete;
  ~PemBlock() {
    OPENSSL_free(name);
    OPENSSL_free(header);
    if (data) OPENSSL_clear_free(data, static_cast<std::size_t>(length));
  }
};

enum class BlockRead : uint8_t { Block, End, Malformed };

// Reads the next block of any type. End: no further "-----BEGIN" line (the queue is left empty).
BlockRead readBlock(BIO* bio, PemBlock& block) {
  if (PEM_read_bio(bio, &block.name, &block.header, &block.data, &block.length) == 1) {
    return BlockRead::Block;
  }
  const unsigned long error = ERR_peek_last_error();
  if (ERR_GET_LIB(error) == ERR_LIB_PEM && ERR_GET_REASON(error) == PEM_R_NO_START_LINE) {
    ERR_clear_error();
    return BlockRead::End;
  }
  return BlockRead::Malformed;
}

Result<BioPtr> memoryBio(std::string_view text, std::string_view input) {
  if (text.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return Error{std::string(input) + ": too large"};
  }
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) return opensslError(std::string(input) + ": allocating a buffer");
  return bio;
}

bool isEncrypted(const PemBlock& block) {
  const std::string_view name = block.name;
  const std::string_view header = block.header ? block.header : "";
  return name == "ENCRYPTED PRIVATE KEY" || header.find("ENCRYPTED") != std::string_view::npos;
}

Result<PkeyPtr> decodeKey(const PemBlock& block, std::string_view input) {
  const std::string_view name = block.name;
  const unsigned char* cursor = block.data;
  PkeyPtr key;
  if (name == "PRIVATE KEY") {
    std::unique_ptr<PKCS8_PRIV_KEY_INFO, Free<PKCS8_PRIV_KEY_INFO_free>> info(
        d2i_PKCS8_PRIV_KEY_INFO(nullptr, &cursor, block.length));
    if (info) key.reset(EVP_PKCS82PKEY(info.get()));
  } else {
    const int type = name == "RSA PRIVATE KEY" ? EVP_PKEY_RSA : EVP_PKEY_EC;
    key.reset(d2i_PrivateKey(type, nullptr, &cursor, block.length));
  }
  if (!key) return opensslError(std::string(input) + ": the " + std::string(name) + " block");
  if (cursor != block.data + block.length) {
    return Error{std::string(input) + ": the " + std::string(name) +
                 " block has bytes after the key"};
  }
  return key;
}

}  // namespace

std::string takeErrors() {
  std::string text;
  std::array<char, 256> buffer;
  while (const unsigned long code = ERR_get_error()) {
    ERR_error_string_n(code, buffer.data(), buffer.size());
    if (!text.empty()) text += "; ";
    text += buffer.data();
  }
  return text.empty() ? "no detail from OpenSSL" : text;
}

Error opensslError(std::string_view what) { return Error{std::string(what) + ": " + takeErrors()}; }

Result<std::vector<X509Ptr>> parseCertificates(std::string_view pem, std::string_view input) {
  ERR_clear_error();
  Result<BioPtr> bio = memoryBio(pem, input);
  if (!bio) return bio.error();
  std::vector<X509Ptr> certs;
  for (std::size_t index = 1;; ++index) {
    PemBlock block;
    const BlockRead read = readBlock(bio->get(), block);
    if (read == BlockRead::End) break;
    if (read == BlockRead::Malformed) {
      return opensslError(std::string(input) + ": PEM block #" + std::to_string(index));
    }
    const std::string_view name = block.name;
    if (name != "CERTIFICATE" && name != "X509 CERTIFICATE") continue;
    const unsigned char* cursor = block.data;
    X509Ptr cert(d2i_X509(nullptr, &cursor, block.length));
    if (!cert) {
      return opensslError(std::string(input) + ": certificate #" +
                          std::to_string(certs.size() + 1) + " (PEM block #" +
                          std::to_string(index) + ")");
    }
    if (cursor != block.data + block.length) {
      return Error{std::string(input) + ": certificate #" + std::to_string(certs.size() + 1) +
                   " has bytes after its DER encoding"};
    }
    certs.push_back(std::move(cert));
  }
  if (certs.empty()) return Error{std::string(input) + ": no PEM CERTIFICATE block found"};
  return certs;
}

Result<PkeyPtr> parsePrivateKey(std::string_view pem, std::string_view input) {
  ERR_clear_error();
  Result<BioPtr> bio = memoryBio(pem, input);
  if (!bio) return bio.error();
  std::optional<PkeyPtr> found;
  for (std::size_t index = 1;; ++index) {
    PemBlock block;
    const BlockRead read = readBlock(bio->get(), block);
    if (read == BlockRead::End) break;
    if (read == BlockRead::Malformed) {
      return opensslError(std::string(input) + ": PEM block #" + std::to_string(index));
    }
    const std::string_view name = block.name;
    if (isEncrypted(block)) {
      return Error{std::string(input) + ": the key is encrypted (" + quote(name) +
                   " block); give it unencrypted, e.g. `openssl pkey -in key.pem -out plain.pem`"};
    }
    if (name != "PRIVATE KEY" && name != "RSA PRIVATE KEY" && name != "EC PRIVATE KEY") {
      if (name.ends_with("PRIVATE KEY")) {
        return Error{std::string(input) + ": unsupported key block " + quote(name) +
                     "; expected PRIVATE KEY (PKCS#8), RSA PRIVATE KEY or EC PRIVATE KEY"};
      }
      continue;  // EC PARAMETERS, a certificate, ...
    }
    if (found) return Error{std::string(input) + ": more than one private key"};
    Result<PkeyPtr> key = decodeKey(block, input);
    if (!key) return key.error();
    found = std::move(*key);
  }
  if (!found) {
    return Error{std::string(input) +
                 ": no PEM PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block found"};
  }
  return std::move(*found);
}

std::string subjectOf(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) {
    ERR_clear_error();
    return "(unprintable subject)";
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  std::string subject(data, static_cast<std::size_t>(length > 0 ? length : 0));
  return subject.empty() ? "(empty subject)" : subject;
}

std::string formatTime(const ASN1_TIME* time) {
  std::tm tm{};
  if (!ASN1_TIME_to_tm(time, &tm)) {
    ERR_clear_error();
    return "(invalid time)";
  }
  std::array<char, 32> text;
  const std::size_t length = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(text.data(), length);
}

std::optional<std::chrono::system_clock::time_point> toTimePoint(const ASN1_TIME* time) {
  std::tm tm{};
  if (!ASN1_TIME_to_tm(time, &tm)) {
    ERR_clear_error();
    return std::nullopt;
  }
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

Status checkValidityPeriod(X509* cert, std::string_view input) {
  const ASN1_TIME* not_before = X509_get0_notBefore(cert);
  const ASN1_TIME* not_after = X509_get0_notAfter(cert);
  const std::string period =
      "valid from " + formatTime(not_before) + " to " + formatTime(not_after);
  // X509_cmp_current_time: 0 on a malformed time, -1 before now, 1 after.
  const int before = X509_cmp_current_time(not_before);
  const int after = X509_cmp_current_time(not_after);
  ERR_clear_error();
  const std::string who = std::string(input) + ": the certificate for " + quote(subjectOf(cert));
  if (before == 0 || after == 0) return Error{who + " has a malformed validity period"};
  if (before > 0) return Error{who + " is not yet valid (" + period + ")"};
  if (after < 0) return Error{who + " has expired (" + period + ")"};
  return Ok{};
}

Result<std::string> certificatesPem(const std::vector<X509Ptr>& certs) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return opensslError("encoding certificates");
  for (const X509Ptr& cert : certs) {
    if (!PEM_write_bio_X509(bio.get(), cert.get())) return opensslError("encoding a certificate");
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

Result<std::string> privateKeyPem(EVP_PKEY* key) {
  // Secure memory: the buffer is wiped when freed.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio ||
      !PEM_write_bio_PKCS8PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    return opensslError("encoding the private key");
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

Result<X509StorePtr> makeStore(const std::vector<X509Ptr>& certs, std::string_view input) {
  X509StorePtr store(X509_STORE_new());
  if (!store) return opensslError(std::string(input) + ": allocating a certificate store");
  for (const X509Ptr& cert : certs) {
    // A duplicate is not an error worth refusing a bundle for; OpenSSL 3 ignores it anyway.
    if (!X509_STORE_add_cert(store.get(), cert.get())) {
      return opensslError(std::string(input) + ": adding " + quote(subjectOf(cert.get())));
    }
  }
  return store;
}

namespace {

void freeAttachment(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*data*/, int /*index*/,
                    long /*argl*/, void* /*argp*/) {
  delete static_cast<Attachment*>(ptr);
}

int attachmentIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, &freeAttachment);
  return index;
}

}  // namespace

bool attach(SSL_CTX* ctx, std::unique_ptr<Attachment> data) {
  const int index = attachmentIndex();
  if (index < 0 || SSL_CTX_get_ex_data(ctx, index) != nullptr) return false;
  if (!SSL_CTX_set_ex_data(ctx, index, data.get())) return false;
  data.release();  // owned by ctx, freed by freeAttachment
  return true;
}

Attachment* attachment(const SSL_CTX* ctx) {
  const int index = attachmentIndex();
  if (index < 0) return nullptr;
  return static_cast<Attachment*>(SSL_CTX_get_ex_data(ctx, index));
}

std::string alpnWire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& protocol : protocols) {
    wire.push_back(static_cast<char>(protocol.size()));
    wire += protocol;
  }
  return wire;
}

void checkAlpn(const std::vector<std::string>& protocols, std::vector<std::string>& errors) {
  if (protocols.size() > kMaxAlpnProtocols) {
    errors.push_back("ALPN: " + std::to_string(protocols.size()) + " protocols; at most " +
                     std::to_string(kMaxAlpnProtocols));
    return;
  }
  for (std::size_t i = 0; i < protocols.size(); ++i) {
    const std::string& protocol = protocols[i];
    const std::string which = "ALPN protocol #" + std::to_string(i + 1);
    if (protocol.empty()) {
      errors.push_back(which + " is empty");
    } else if (protocol.size() > 255) {
      errors.push_back(which + " " + quote(protocol.substr(0, 32)) + "... is " +
                       std::to_string(protocol.size()) + " bytes; at most 255");
    }
  }
}

Error joinErrors(std::vector<std::string> errors) {
  std::string message;
  for (const std::string& error : errors) {
    if (!message.empty()) message += "; ";
    message += error;
  }
  return Error{std::move(message)};
}

}  // namespace selium::net::tls::detail
