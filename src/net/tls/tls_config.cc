// Server and client TLS configurations: validation of the PEM material, the OpenSSL contexts, and
// RFC 6125 name matching.
#include "net/tls/tls_config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <system_error>

#include "net/address.h"
#include "net/tls/openssl_util.h"
#include "util/strings.h"

namespace selium::net::tls {
namespace detail {

// What errors call each input: the field by default, the file when loaded from the work dir.
struct InputNames {
  std::string chain;
  std::string key;
  std::string ca;
};

}  // namespace detail

namespace {

using detail::InputNames;
using detail::PkeyPtr;
using detail::SslCtxPtr;
using detail::X509Ptr;
using util::quote;

const InputNames& serverInputs() {
  static const InputNames names{"certificate chain", "private key", "client CA"};
  return names;
}

const InputNames& clientInputs() {
  static const InputNames names{"client certificate", "client key", "CA"};
  return names;
}

int protocolVersion(TlsVersion version) {
  return version == TlsVersion::Tls12 ? TLS1_2_VERSION : TLS1_3_VERSION;
}

// The address bytes of an IPv4 or IPv6 literal; nullopt for anything else.
std::optional<std::string> ipAddressBytes(std::string_view text) {
  if (text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  const std::string terminated(text);
  std::array<unsigned char, 16> bytes;
  if (inet_pton(AF_INET, terminated.c_str(), bytes.data()) == 1) {
    return std::string(reinterpret_cast<const char*>(bytes.data()), 4);
  }
  if (inet_pton(AF_INET6, terminated.c_str(), bytes.data()) == 1) {
    return std::string(reinterpret_cast<const char*>(bytes.data()), 16);
  }
  return std::nullopt;
}

std::string ipAddressText(std::string_view bytes) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  const int family = bytes.size() == 4 ? AF_INET : AF_INET6;
  if (!inet_ntop(family, bytes.data(), text.data(), text.size())) return "(bad address)";
  return text.data();
}

// A host as connected to or named: IPv6 brackets and one trailing dot removed, lower-case.
std::string normalizeHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return util::toLower(host);
}

// RFC 6125 6.4.3: a wildcard is a whole left-most label, stands for exactly one label, and needs
// at least two labels after it. Both arguments lower-case.
bool matchesDnsName(std::string_view pattern, std::string_view host) {
  if (pattern == host) return true;
  if (!pattern.starts_with("*.")) return false;
  const std::string_view suffix = pattern.substr(1);  // ".example.org"
  if (suffix.find('.', 1) == std::string_view::npos) return false;
  const std::size_t dot = host.find('.');
  return dot != std::string_view::npos && dot > 0 && host.substr(dot) == suffix &&
         host.substr(0, dot).find('*') == std::string_view::npos;
}

std::size_t materialBytes(const std::vector<std::string>& alpn,
                          std::initializer_list<const std::string*> pems) {
  std::size_t total = 0;
  for (const std::string* pem : pems) total += pem->size();
  for (const std::string& protocol : alpn) total += protocol.size();
  return total;
}

std::optional<Error> checkSize(std::size_t total) {
  if (total <= kMaxMaterialBytes) return std::nullopt;
  return Error{"TLS material is " + std::to_string(total) + " bytes; at most " +
               std::to_string(kMaxMaterialBytes) + " (1 MiB)"};
}

// The leaf's names for matching: DNS SANs that are host names (lower-case), IP SANs (raw bytes),
// and the CN as a DNS name when there is no DNS SAN (what OpenSSL's X509_check_host does too).
struct LeafNames {
  std::vector<std::string> dns;
  std::vector<std::string> ips;
};

LeafNames leafNames(X509* leaf) {
  LeafNames names;
  using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, detail::Free<GENERAL_NAMES_free>>;
  GeneralNamesPtr sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr)));
  bool has_dns_san = false;
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans.get(), i);
    if (name->type == GEN_DNS) {
      has_dns_san = true;
      const ASN1_IA5STRING* value = name->d.dNSName;
      const std::string_view text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                                  static_cast<std::size_t>(ASN1_STRING_length(value)));
      // Only what a client could ask for: a host name, or a wildcard (no trailing dots, no
      // underscores, no NULs); OpenSSL's own matching would never pick anything else.
      const std::string name = normalizeHost(text);
      if (text.size() <= 253 && isDnsName(name, /*allow_wildcard=*/true)) {
        names.dns.push_back(name);
      }
    } else if (name->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* value = name->d.iPAddress;
      const int length = ASN1_STRING_length(value);
      if (length == 4 || length == 16) {
        names.ips.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                               static_cast<std::size_t>(length));
      }
    }
  }
  if (!has_dns_san) {
    X509_NAME* subject = X509_get_subject_name(leaf);
    const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (index >= 0) {
      unsigned char* utf8 = nullptr;
      const int length =
          ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index)));
      if (length > 0) {
        const std::string cn = normalizeHost(std::string_view(reinterpret_cast<const char*>(utf8),
                                                              static_cast<std::size_t>(length)));
        if (isDnsName(cn, /*allow_wildcard=*/true)) names.dns.push_back(cn);
      }
      OPENSSL_free(utf8);
    }
  }
  ERR_clear_error();  // a malformed extension or CN is simply no name
  return names;
}

// Owned by a server SSL_CTX: what its callbacks read.
struct ServerState : detail::Attachment {
  std::string alpn_wire;
};

// The first of the server's protocols that the client offers. With none in common the handshake
// fails with no_application_protocol (RFC 7301 3.2) rather than going on without ALPN.
int selectAlpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* out_length,
               const unsigned char* offered, unsigned int offered_length, void* arg) noexcept {
  const std::string& server = static_cast<const ServerState*>(arg)->alpn_wire;
  for (std::size_t i = 0; i < server.size(); i += 1 + static_cast<unsigned char>(server[i])) {
    const std::size_t length = static_cast<unsigned char>(server[i]);
    const char* protocol = server.data() + i + 1;
    for (std::size_t j = 0; j < offered_length; j += 1 + offered[j]) {
      const std::size_t candidate = offered[j];
      if (j + 1 + candidate > offered_length) break;  // malformed list: ignore the rest
      if (candidate == length && std::memcmp(offered + j + 1, protocol, length) == 0) {
        *out = offered + j + 1;
        *out_length = static_cast<unsigned char>(length);
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

// Acknowledges SNI in the server's reply (RFC 6066 3); selection is SniContext's business.
int acknowledgeServerName(SSL* /*ssl*/, int* /*alert*/, void* /*arg*/) noexcept {
  return SSL_TLSEXT_ERR_OK;
}

// Sessions resume only under the same certificate and client-auth policy: the session id context
// is a digest of both.
bool setSessionIdContext(SSL_CTX* ctx, X509* leaf, const std::vector<X509Ptr>& client_cas,
                         int verify_mode) {
  std::unique_ptr<EVP_MD_CTX, detail::Free<EVP_MD_CTX_free>> digest(EVP_MD_CTX_new());
  if (!digest || !EVP_DigestInit_ex(digest.get(), EVP_sha256(), nullptr)) return false;
  std::array<unsigned char, EVP_MAX_MD_SIZE> hash;
  unsigned int length = 0;
  if (!X509_digest(leaf, EVP_sha256(), hash.data(), &length) ||
      !EVP_DigestUpdate(digest.get(), hash.data(), length)) {
    return false;
  }
  for (const X509Ptr& ca : client_cas) {
    if (!X509_digest(ca.get(), EVP_sha256(), hash.data(), &length) ||
        !EVP_DigestUpdate(digest.get(), hash.data(), length)) {
      return false;
    }
  }
  if (!EVP_DigestUpdate(digest.get(), &verify_mode, sizeof verify_mode) ||
      !EVP_DigestFinal_ex(digest.get(), hash.data(), &length)) {
    return false;
  }
  static_assert(SSL_MAX_SID_CTX_LENGTH == 32);
  return SSL_CTX_set_session_id_context(ctx, hash.data(), length) == 1;
}

// Puts the leaf, its chain and key on `ctx`.
bool useCertificateAndKey(SSL_CTX* ctx, const std::vector<X509Ptr>& chain, EVP_PKEY* key) {
  detail::X509StackPtr rest(sk_X509_new_null());
  if (!rest) return false;
  for (std::size_t i = 1; i < chain.size(); ++i) {
    if (!sk_X509_push(rest.get(), chain[i].get())) return false;
    X509_up_ref(chain[i].get());
  }
  // Takes its own references to everything.
  return SSL_CTX_use_cert_and_key(ctx, chain[0].get(), key, rest.get(), 1) == 1;
}

// The parsed certificate and key of one side, validated together.
struct Credential {
  std::vector<X509Ptr> chain;
  PkeyPtr key;
};

// Parses and checks a chain and its key, appending every problem to `errors`.
std::optional<Credential> parseCredential(std::string_view chain_pem, std::string_view key_pem,
                                          const InputNames& inputs,
                                          std::vector<std::string>& errors) {
  Result<std::vector<X509Ptr>> chain = detail::parseCertificates(chain_pem, inputs.chain);
  if (!chain) errors.push_back(chain.error().message);
  Result<PkeyPtr> key = detail::parsePrivateKey(key_pem, inputs.key);
  if (!key) errors.push_back(key.error().message);
  if (!chain) return std::nullopt;
  X509* leaf = chain->front().get();
  Status valid = detail::checkValidityPeriod(leaf, inputs.chain);
  if (!valid) errors.push_back(valid.error().message);
  if (!key) return std::nullopt;
  if (X509_check_private_key(leaf, key->get()) != 1) {
    errors.push_back(inputs.key + " does not match the certificate for " +
                     quote(detail::subjectOf(leaf)) + " (" + detail::takeErrors() + ")");
    return std::nullopt;
  }
  if (!valid) return std::nullopt;
  return Credential{std::move(*chain), std::move(*key)};
}

// Re-encodes a credential into `cert_pem` and `key_pem` (wiping the key text it replaces).
Status normalize(const Credential& credential, std::string& cert_pem, std::string& key_pem) {
  Result<std::string> certs = detail::certificatesPem(credential.chain);
  if (!certs) return certs.error();
  Result<std::string> key = detail::privateKeyPem(credential.key.get());
  if (!key) return key.error();
  cert_pem = std::move(*certs);
  OPENSSL_cleanse(key_pem.data(), key_pem.size());
  key_pem = std::move(*key);
  return Ok{};
}

Result<SslCtxPtr> newContext(const SSL_METHOD* method, TlsVersion min_version) {
  SslCtxPtr ctx(SSL_CTX_new(method));
  if (!ctx) return detail::opensslError("creating an OpenSSL context");
  if (!SSL_CTX_set_min_proto_version(ctx.get(), protocolVersion(min_version))) {
    return detail::opensslError("setting the minimum TLS version");
  }
  // Renegotiation only serves attacks here; compression enables CRIME.
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // Idle connections keep no read/write buffers: many guests hold many idle connections.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

enum class Presence : uint8_t { Required, Optional };

// Reads a small file whole. nullopt: an Optional file does not exist.
Result<std::optional<std::string>> readFile(const std::filesystem::path& path, Presence presence) {
  const std::string name = quote(path.string());
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (presence == Presence::Optional && errno == ENOENT) return std::optional<std::string>();
    return Error{"reading " + name + ": " + std::generic_category().message(errno)};
  }
  std::string contents;
  std::array<char, 16384> buffer;
  for (;;) {
    const ssize_t got = ::read(fd, buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int error = errno;
      ::close(fd);
      return Error{"reading " + name + ": " + std::generic_category().message(error)};
    }
    if (got == 0) break;
    contents.append(buffer.data(), static_cast<std::size_t>(got));
    if (contents.size() > kMaxMaterialBytes) {
      ::close(fd);
      return Error{"reading " + name + ": larger than " + std::to_string(kMaxMaterialBytes) +
                   " bytes"};
    }
  }
  ::close(fd);
  return std::optional<std::string>(std::move(contents));
}

}  // namespace

// --- ServerConfig
// ---------------------------------------------------------------------------------

ServerConfig::~ServerConfig() {
  OPENSSL_cleanse(material_.key_pem.data(), material_.key_pem.size());
}

Result<std::shared_ptr<const ServerConfig>> ServerConfig::create(ServerMaterial material) {
  return create(std::move(material), serverInputs());
}

Result<std::shared_ptr<const ServerConfig>> ServerConfig::create(ServerMaterial material,
                                                                 const InputNames& inputs) {
  const std::size_t total = materialBytes(
      material.alpn, {&material.cert_chain_pem, &material.key_pem, &material.client_ca_pem});
  if (std::optional<Error> too_large = checkSize(total)) return *too_large;

  std::vector<std::string> errors;
  detail::checkAlpn(material.alpn, errors);
  std::optional<Credential> credential =
      parseCredential(material.cert_chain_pem, material.key_pem, inputs, errors);
  std::vector<X509Ptr> client_cas;
  if (!material.client_ca_pem.empty()) {
    Result<std::vector<X509Ptr>> cas = detail::parseCertificates(material.client_ca_pem, inputs.ca);
    if (cas) {
      client_cas = std::move(*cas);
    } else {
      errors.push_back(cas.error().message);
    }
  } else if (material.require_client_auth) {
    errors.push_back("require_client_auth is set but no " + inputs.ca +
                     " was given to verify client certificates with");
  }
  if (!errors.empty() || !credential) return detail::joinErrors(std::move(errors));

  std::shared_ptr<ServerConfig> config(new ServerConfig());
  X509* leaf = credential->chain.front().get();
  config->subject_ = detail::subjectOf(leaf);
  config->not_after_ =
      detail::toTimePoint(X509_get0_notAfter(leaf)).value_or(std::chrono::system_clock::now());
  LeafNames names = leafNames(leaf);
  for (const std::string& name : names.dns) config->names_.push_back(name);
  for (const std::string& ip : names.ips) config->names_.push_back(ipAddressText(ip));
  config->dns_names_ = std::move(names.dns);
  config->ip_addresses_ = std::move(names.ips);

  Result<SslCtxPtr> ctx = newContext(TLS_server_method(), material.min_version);
  if (!ctx) return ctx.error();
  SSL_CTX* raw = ctx->get();
  // Server preference picks the strongest suite both sides have, not the client's first.
  SSL_CTX_set_options(raw, SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (!useCertificateAndKey(raw, credential->chain, credential->key.get())) {
    return detail::opensslError("loading the certificate and key for " + quote(config->subject_));
  }

  int verify_mode = SSL_VERIFY_NONE;
  if (!client_cas.empty()) {
    Result<detail::X509StorePtr> store = detail::makeStore(client_cas, inputs.ca);
    if (!store) return store.error();
    SSL_CTX_set_cert_store(raw, store->release());  // the context owns it now
    // Listed in the CertificateRequest, so a client with several certificates picks the right one.
    for (const X509Ptr& ca : client_cas) {
      if (!SSL_CTX_add_client_CA(raw, ca.get())) {
        return detail::opensslError("listing the client CA " + quote(detail::subjectOf(ca.get())));
      }
    }
    verify_mode = SSL_VERIFY_PEER;
    if (material.require_client_auth) verify_mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  }
  SSL_CTX_set_verify(raw, verify_mode, nullptr);
  if (!setSessionIdContext(raw, leaf, client_cas, verify_mode)) {
    return detail::opensslError("setting the session id context");
  }
  SSL_CTX_set_tlsext_servername_callback(raw, &acknowledgeServerName);

  auto state = std::make_unique<ServerState>();
  state->alpn_wire = detail::alpnWire(material.alpn);
  ServerState* state_ptr = state.get();
  if (!detail::attach(raw, std::move(state))) {
    return detail::opensslError("attaching the ALPN list to the context");
  }
  if (!material.alpn.empty()) SSL_CTX_set_alpn_select_cb(raw, &selectAlpn, state_ptr);

  Status normalized = normalize(*credential, material.cert_chain_pem, material.key_pem);
  if (!normalized) return normalized.error();
  if (!client_cas.empty()) {
    Result<std::string> cas = detail::certificatesPem(client_cas);
    if (!cas) return cas.error();
    material.client_ca_pem = std::move(*cas);
  }
  config->material_ = std::move(material);
  config->context_ = std::move(*ctx);
  ERR_clear_error();
  return std::shared_ptr<const ServerConfig>(std::move(config));
}

bool ServerConfig::covers(std::string_view host) const {
  const std::string name = normalizeHost(host);
  if (name.empty()) return false;
  if (std::optional<std::string> address = ipAddressBytes(name)) {
    for (const std::string& ip : ip_addresses_) {
      if (ip == *address) return true;
    }
    return false;
  }
  const bool wildcard = name.starts_with("*.");
  for (const std::string& pattern : dns_names_) {
    if (wildcard ? pattern == name : matchesDnsName(pattern, name)) return true;
  }
  return false;
}

// --- ClientConfig
// ---------------------------------------------------------------------------------

ClientConfig::~ClientConfig() {
  OPENSSL_cleanse(material_.key_pem.data(), material_.key_pem.size());
}

Result<std::shared_ptr<const ClientConfig>> ClientConfig::create(ClientMaterial material) {
  return create(std::move(material), clientInputs());
}

Result<std::shared_ptr<const ClientConfig>> ClientConfig::create(ClientMaterial material,
                                                                 const InputNames& inputs) {
  const std::size_t total = materialBytes(
      material.alpn,
      {&material.ca_pem, &material.cert_pem, &material.key_pem, &material.server_name});
  if (std::optional<Error> too_large = checkSize(total)) return *too_large;

  std::vector<std::string> errors;
  detail::checkAlpn(material.alpn, errors);
  std::vector<X509Ptr> cas;
  if (material.ca_pem.empty()) {
    errors.push_back(inputs.ca + ": none given; a client must trust at least one CA");
  } else {
    Result<std::vector<X509Ptr>> parsed = detail::parseCertificates(material.ca_pem, inputs.ca);
    if (parsed) {
      cas = std::move(*parsed);
    } else {
      errors.push_back(parsed.error().message);
    }
  }
  std::optional<Credential> credential;
  const bool has_cert = !material.cert_pem.empty();
  const bool has_key = !material.key_pem.empty();
  if (has_cert != has_key) {
    errors.push_back(inputs.chain + " and " + inputs.key + ": give both or neither (" +
                     (has_cert ? inputs.key : inputs.chain) + " is empty)");
  } else if (has_cert) {
    credential = parseCredential(material.cert_pem, material.key_pem, inputs, errors);
  }
  if (!material.server_name.empty()) {
    const std::string name = normalizeHost(material.server_name);
    if (!isDnsName(name) && !ipAddressBytes(name)) {
      errors.push_back("server_name " + quote(material.server_name) +
                       " is neither a DNS name nor an IP address");
    }
  }
  if (!errors.empty() || (has_cert && !credential)) {
    return detail::joinErrors(std::move(errors));
  }

  Result<SslCtxPtr> ctx = newContext(TLS_client_method(), material.min_version);
  if (!ctx) return ctx.error();
  SSL_CTX* raw = ctx->get();
  Result<detail::X509StorePtr> store = detail::makeStore(cas, inputs.ca);
  if (!store) return store.error();
  SSL_CTX_set_cert_store(raw, store->release());
  SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
  // "f*.example.org" is not a wildcard anyone should rely on (RFC 6125 7.2).
  X509_VERIFY_PARAM_set_hostflags(SSL_CTX_get0_param(raw), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (credential && !useCertificateAndKey(raw, credential->chain, credential->key.get())) {
    return detail::opensslError("loading the client certificate and key for " +
                                quote(detail::subjectOf(credential->chain.front().get())));
  }
  if (!material.alpn.empty()) {
    const std::string wire = detail::alpnWire(material.alpn);
    // The one OpenSSL setter that returns 0 on success.
    if (SSL_CTX_set_alpn_protos(raw, reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned int>(wire.size())) != 0) {
      return detail::opensslError("setting the ALPN list");
    }
  }

  if (credential) {
    Status normalized = normalize(*credential, material.cert_pem, material.key_pem);
    if (!normalized) return normalized.error();
  }
  Result<std::string> ca_pem = detail::certificatesPem(cas);
  if (!ca_pem) return ca_pem.error();
  material.ca_pem = std::move(*ca_pem);
  std::shared_ptr<ClientConfig> config(new ClientConfig());
  config->material_ = std::move(material);
  config->context_ = std::move(*ctx);
  ERR_clear_error();
  return std::shared_ptr<const ClientConfig>(std::move(config));
}

Status ClientConfig::prepare(SSL* ssl, std::string_view host) const {
  const std::string name =
      normalizeHost(material_.server_name.empty() ? host : std::string_view(material_.server_name));
  ERR_clear_error();
  if (ipAddressBytes(name)) {
    // No SNI for an address (RFC 6066 3); the certificate must carry it as an IP SAN.
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) != 1) {
      return detail::opensslError("TLS: setting the address " + quote(name) + " to verify");
    }
    return Ok{};
  }
  if (!isDnsName(name)) {
    return Error{"TLS: cannot verify the server " + quote(host) +
                 ": neither a DNS name nor an IP address"};
  }
  if (SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
    return detail::opensslError("TLS: setting the server name " + quote(name));
  }
  if (SSL_set1_host(ssl, name.c_str()) != 1) {
    return detail::opensslError("TLS: setting the name " + quote(name) + " to verify");
  }
  return Ok{};
}

// --- The work dir's certificates
// ------------------------------------------------------------------

Result<std::shared_ptr<const ServerConfig>> loadDefaultServerConfig(
    const std::filesystem::path& certs_dir, std::vector<std::string> alpn) {
  const std::filesystem::path cert_path = certs_dir / "server.crt";
  const std::filesystem::path key_path = certs_dir / "server.key";
  const std::filesystem::path ca_path = certs_dir / "ca.crt";
  auto cert = readFile(cert_path, Presence::Required);
  if (!cert) return cert.error();
  auto key = readFile(key_path, Presence::Required);
  if (!key) return key.error();
  auto ca = readFile(ca_path, Presence::Optional);
  if (!ca) return ca.error();
  ServerMaterial material;
  material.cert_chain_pem = std::move(**cert);
  material.key_pem = std::move(**key);
  if (*ca) material.client_ca_pem = std::move(**ca);
  material.require_client_auth = false;
  material.alpn = std::move(alpn);
  const InputNames inputs{"certificate chain " + quote(cert_path.string()),
                          "private key " + quote(key_path.string()),
                          "client CA " + quote(ca_path.string())};
  return ServerConfig::create(std::move(material), inputs);
}

Result<std::shared_ptr<const ClientConfig>> loadDefaultClientConfig(
    const std::filesystem::path& certs_dir, std::vector<std::string> alpn) {
  const std::filesystem::path ca_path = certs_dir / "ca.crt";
  const std::filesystem::path cert_path = certs_dir / "client.crt";
  const std::filesystem::path key_path = certs_dir / "client.key";
  auto ca = readFile(ca_path, Presence::Required);
  if (!ca) return ca.error();
  auto cert = readFile(cert_path, Presence::Optional);
  if (!cert) return cert.error();
  auto key = readFile(key_path, Presence::Optional);
  if (!key) return key.error();
  if (cert->has_value() != key->has_value()) {
    return Error{quote((*cert ? key_path : cert_path).string()) + " is missing but " +
                 quote((*cert ? cert_path : key_path).string()) +
                 " exists; the client certificate needs both"};
  }
  ClientMaterial material;
  material.ca_pem = std::move(**ca);
  if (*cert) {
    material.cert_pem = std::move(**cert);
    material.key_pem = std::move(**key);
  }
  material.alpn = std::move(alpn);
  const InputNames inputs{"client certificate " + quote(cert_path.string()),
                          "client key " + quote(key_path.string()),
                          "CA " + quote(ca_path.string())};
  return ClientConfig::create(std::move(material), inputs);
}

}  // namespace selium::net::tls
