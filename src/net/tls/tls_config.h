// TLS configurations for the runtime's network stacks: PEM material validated once, at
// configuration time, into immutable OpenSSL contexts for the TCP stacks (HTTPS listeners and
// clients) and normalised PEM for the QUIC stack (GnuTLS). Guests create these as handles.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace selium::net::tls {

namespace detail {
struct InputNames;  // what errors call each input (tls_config.cc)
}  // namespace detail

enum class TlsVersion : uint8_t { Tls12, Tls13 };

// The most PEM (certificates, key, CAs, ALPN names together) one configuration may carry.
inline constexpr std::size_t kMaxMaterialBytes = 1 << 20;

struct ServerMaterial {
  std::string cert_chain_pem;  // the leaf first, then intermediates
  std::string key_pem;         // the leaf's key, unencrypted
  std::string client_ca_pem;   // CAs that issue client certificates; empty: no client auth
  bool require_client_auth = false;
  std::vector<std::string> alpn;  // server preference order; empty: no ALPN
  TlsVersion min_version = TlsVersion::Tls13;
};

struct ClientMaterial {
  std::string ca_pem;    // roots to trust (required)
  std::string cert_pem;  // client certificate chain and key for mutual TLS: both or neither
  std::string key_pem;
  std::vector<std::string> alpn;  // offered in this order; empty: no ALPN
  // Overrides the name sent as SNI and verified against the server's certificate; empty: the
  // host connected to.
  std::string server_name;
  TlsVersion min_version = TlsVersion::Tls13;
};

// A validated server configuration. Immutable and thread-safe once created.
class ServerConfig {
 public:
  // Validates everything (PEM, key type and match, validity dates, client CAs, ALPN, size) and
  // builds the context. Every problem found is reported, each naming its input.
  static Result<std::shared_ptr<const ServerConfig>> create(ServerMaterial material);

  ServerConfig(const ServerConfig&) = delete;
  ServerConfig& operator=(const ServerConfig&) = delete;
  ~ServerConfig();

  // The leaf's DNS and IP subject alternative names (lower-case; IPs as text), plus its CN when it
  // has no DNS name. DNS names that no client could ask for (underscores, empty labels) are left
  // out.
  const std::vector<std::string>& names() const { return names_; }
  // RFC 6125: whether the leaf is valid for `host` (a DNS name, any case, or an IP literal, IPv6
  // optionally in brackets). A wildcard host ("*.example.org") is covered only by the same
  // wildcard name.
  bool covers(std::string_view host) const;
  // The leaf's subject, "CN=example.org,O=Example".
  const std::string& subject() const { return subject_; }
  std::chrono::system_clock::time_point notAfter() const { return not_after_; }
  // The validated material re-encoded: certificates as CERTIFICATE blocks, the key as unencrypted
  // PKCS#8 "PRIVATE KEY"; nothing else from the input survives.
  const ServerMaterial& material() const { return material_; }
  // The OpenSSL server context (shared by every connection; never modify it).
  std::shared_ptr<SSL_CTX> context() const { return context_; }

 private:
  ServerConfig() = default;
  static Result<std::shared_ptr<const ServerConfig>> create(ServerMaterial material,
                                                            const detail::InputNames& inputs);
  friend Result<std::shared_ptr<const ServerConfig>> loadDefaultServerConfig(
      const std::filesystem::path& certs_dir, std::vector<std::string> alpn);

  ServerMaterial material_;
  std::vector<std::string> names_;
  std::vector<std::string> dns_names_;     // lower-case, possibly "*." wildcards
  std::vector<std::string> ip_addresses_;  // 4 or 16 raw bytes each
  std::string subject_;
  std::chrono::system_clock::time_point not_after_;
  std::shared_ptr<SSL_CTX> context_;
};

// A validated client configuration. Immutable and thread-safe once created.
class ClientConfig {
 public:
  static Result<std::shared_ptr<const ClientConfig>> create(ClientMaterial material);

  ClientConfig(const ClientConfig&) = delete;
  ClientConfig& operator=(const ClientConfig&) = delete;
  ~ClientConfig();

  // Same normalisation as ServerConfig::material().
  const ClientMaterial& material() const { return material_; }
  // The OpenSSL client context: verifies the server against ca_pem, offers the ALPN list,
  // presents the client certificate if any.
  std::shared_ptr<SSL_CTX> context() const { return context_; }
  // Prepares a connection to `host` (or material().server_name when set): SNI and the
  // verification name for a DNS name, the verification address (and no SNI) for an IP literal.
  // Call before the handshake on an SSL made from context().
  Status prepare(SSL* ssl, std::string_view host) const;

 private:
  ClientConfig() = default;
  static Result<std::shared_ptr<const ClientConfig>> create(ClientMaterial material,
                                                            const detail::InputNames& inputs);
  friend Result<std::shared_ptr<const ClientConfig>> loadDefaultClientConfig(
      const std::filesystem::path& certs_dir, std::vector<std::string> alpn);

  ClientMaterial material_;
  std::shared_ptr<SSL_CTX> context_;
};

// The work dir's default server configuration: `server.crt` and `server.key`, plus `ca.crt` (if
// present) as the CA for optional client certificates. Errors name the file.
Result<std::shared_ptr<const ServerConfig>> loadDefaultServerConfig(
    const std::filesystem::path& certs_dir, std::vector<std::string> alpn);

// The work dir's default client configuration: trusts `ca.crt`; presents `client.crt` and
// `client.key` when both exist. Errors name the file.
Result<std::shared_ptr<const ClientConfig>> loadDefaultClientConfig(
    const std::filesystem::path& certs_dir, std::vector<std::string> alpn);

}  // namespace selium::net::tls
