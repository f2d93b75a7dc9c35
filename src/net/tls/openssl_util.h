// OpenSSL plumbing shared by net/tls (not a public API): owning pointers, the error queue, PEM
// input parsing, certificate facts, and data owned by an SSL_CTX for as long as it lives.
#pragma once

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace selium::net::tls::detail {

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
using SslCtxPtr = std::unique_ptr<SSL_CTX, Free<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Free<SSL_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, Free<X509_STORE_free>>;
struct X509StackFree {
  void operator()(STACK_OF(X509) * stack) const { sk_X509_pop_free(stack, X509_free); }
};
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackFree>;

// Everything on this thread's OpenSSL error queue as "reason; reason", leaving the queue empty
// ("no detail from OpenSSL" when it was empty).
std::string takeErrors();

// An Error "<what>: <OpenSSL's reasons>"; drains the queue.
Error opensslError(std::string_view what);

// The certificates of every CERTIFICATE block in `pem`, in order; other blocks are skipped.
// `input` names the text in errors ("certificate chain: no PEM CERTIFICATE block found").
Result<std::vector<X509Ptr>> parseCertificates(std::string_view pem, std::string_view input);

// The one private key in `pem`: PKCS#8 "PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY" or SEC1
// "EC PRIVATE KEY". Encrypted keys (PKCS#8 or legacy Proc-Type) and several keys are refused.
// Other blocks (EC PARAMETERS, a certificate in the same file) are skipped.
Result<PkeyPtr> parsePrivateKey(std::string_view pem, std::string_view input);

// "CN=example.org,O=Example" (RFC 2253 order and escaping).
std::string subjectOf(X509* cert);

// ISO 8601 UTC, "2025-01-31T12:00:00Z".
std::string formatTime(const ASN1_TIME* time);
std::optional<std::chrono::system_clock::time_point> toTimePoint(const ASN1_TIME* time);

// Error naming the certificate and its dates when `cert` is expired or not yet valid.
Status checkValidityPeriod(X509* cert, std::string_view input);

// PEM re-encodings: what the QUIC stack (GnuTLS) is handed, free of anything we did not parse.
Result<std::string> certificatesPem(const std::vector<X509Ptr>& certs);
Result<std::string> privateKeyPem(EVP_PKEY* key);  // unencrypted PKCS#8

// An X509_STORE trusting `certs`.
Result<X509StorePtr> makeStore(const std::vector<X509Ptr>& certs, std::string_view input);

// Data an SSL_CTX owns: attached once, deleted when the context is freed (which may be after every
// shared_ptr to it is gone: each SSL holds a reference). Callbacks find theirs with attachment().
struct Attachment {
  virtual ~Attachment() = default;
};
// Attaches `data` to `ctx` (which takes ownership); false if OpenSSL could not store it.
[[nodiscard]] bool attach(SSL_CTX* ctx, std::unique_ptr<Attachment> data);
Attachment* attachment(const SSL_CTX* ctx);

// The ALPN wire format (length-prefixed names) of `protocols`, which must be valid.
std::string alpnWire(const std::vector<std::string>& protocols);

// Checks the ALPN list of a configuration: 1-255 bytes each, at most kMaxAlpnProtocols. Appends
// one message per problem to `errors`.
inline constexpr std::size_t kMaxAlpnProtocols = 16;
void checkAlpn(const std::vector<std::string>& protocols, std::vector<std::string>& errors);

// Joins configuration errors into one message.
Error joinErrors(std::vector<std::string> errors);

}  // namespace selium::net::tls::detail
