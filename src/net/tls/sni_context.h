// One TLS listening port serving several domains, each with its own ServerConfig: the client's
// server name (SNI) picks the configuration before anything is negotiated.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "net/tls/tls_config.h"
#include "util/result.h"

namespace selium::net::tls {

// Selection happens in OpenSSL's ClientHello callback, before the protocol version, the session
// to resume and the client-certificate request are decided, and the connection then takes on
// everything of the domain's configuration: certificate, minimum version, client verification
// (mode and CAs), ALPN list and session id context. So the domains on one port need not agree on
// any of them: a domain that requires client certificates requires them whatever the others do.
// (Per-SSL verification settings made before the handshake are replaced by the domain's.)
//
// Selection: the exact domain first, then a wildcard domain ("*.example.org" for
// "a.example.org"). A client that sends no SNI (clients connecting to an IP address do not) gets
// the earliest-added domain still present. A client that names a domain not served here is
// refused with an unrecognized_name alert: no configuration on this port was added for that name,
// so any certificate we could present would either fail its verification or route it to a domain
// it did not ask for. With no domains at all every handshake is refused.
//
// Thread-safe: add() and remove() may run on any thread while handshakes run on the loop.
class SniContext {
 public:
  static Result<std::shared_ptr<SniContext>> create();

  SniContext(const SniContext&) = delete;
  SniContext& operator=(const SniContext&) = delete;
  ~SniContext();

  // Serves `domain` (a DNS name, any case, or "*.example.org") with `config`, replacing its
  // previous configuration (handshakes already past selection keep the old one). Refused if the
  // config's certificate does not cover the domain.
  Status add(std::string domain, std::shared_ptr<const ServerConfig> config);
  // Stops serving `domain`; false if it was not served.
  bool remove(std::string_view domain);
  std::size_t size() const;

  // The listening port's context: SSL objects for accepted connections are made from it.
  std::shared_ptr<SSL_CTX> context() const { return context_; }

  // The server name the client sent, lower-case; empty without SNI.
  static std::string sniOf(const SSL* ssl);
  // The domain (as added, lower-case; may be a wildcard) whose configuration the handshake on
  // `ssl` selected; empty before selection or for an SSL not made from an SniContext's context.
  static std::string selectedDomain(const SSL* ssl);

  struct Registry;  // the domains (sni_context.cc)

 private:
  SniContext() = default;

  std::shared_ptr<Registry> registry_;  // shared with the context's ClientHello callback
  std::shared_ptr<SSL_CTX> context_;
};

// The host_name in a ClientHello's server_name extension body (RFC 6066 3): empty when it lists
// none; an Error when the extension is malformed. Exposed for the fuzz target.
Result<std::string> parseServerNameExtension(std::span<const uint8_t> body);

}  // namespace selium::net::tls
