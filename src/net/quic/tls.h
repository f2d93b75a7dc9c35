// GnuTLS for QUIC: server identities chosen by SNI, ALPN, client certificate checks, and the
// client's session with server verification. ngtcp2_crypto_gnutls drives the handshake; this file
// only configures sessions and records why one was refused.
#pragma once

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include <memory>
#include <string>
#include <vector>

#include "net/quic/quic.h"
#include "util/result.h"

namespace selium::net::quic {

// Owns a gnutls_certificate_credentials_t.
struct CredentialsDeleter {
  void operator()(gnutls_certificate_credentials_st* credentials) const;
};
using Credentials = std::unique_ptr<gnutls_certificate_credentials_st, CredentialsDeleter>;

// A server's identities and TLS policy, shared by its connections (identities are only added, so
// a session's credentials stay valid while the context lives).
class ServerTlsContext {
 public:
  static Result<std::shared_ptr<ServerTlsContext>> create(const ServerTls& config);
  Status addIdentity(const Identity& identity);
  // The credentials for an SNI name (empty: no SNI).
  gnutls_certificate_credentials_t select(std::string_view server_name) const;
  const ServerTls& config() const { return config_; }

 private:
  struct Entry {
    std::vector<std::string> names;  // lower case
    Credentials credentials;
  };
  ServerTls config_;  // identities are moved into entries_
  std::vector<Entry> entries_;
};

// Per-session state reachable from GnuTLS callbacks. gnutls_session_get_ptr() returns &conn_ref,
// which is the first member, so callbacks get back to this struct.
struct TlsSessionState {
  ngtcp2_crypto_conn_ref conn_ref{};
  std::shared_ptr<ServerTlsContext> server;  // server sessions only
  std::string server_name;                   // server: the SNI received
  std::string verify_name;                   // client: the name the certificate must carry
  std::string failure;                       // why we refused the handshake, if we did
};

// Owns a gnutls_session_t.
struct SessionDeleter {
  void operator()(gnutls_session_int* session) const { gnutls_deinit(session); }
};
using Session = std::unique_ptr<gnutls_session_int, SessionDeleter>;

// A server session for one connection; `state` must outlive it.
Result<Session> makeServerSession(TlsSessionState& state);

// A client session; `credentials` receives what the session uses and must outlive it.
Result<Session> makeClientSession(TlsSessionState& state, const ClientTls& config,
                                  const std::string& host, Credentials& credentials);

// After the handshake: the negotiated ALPN (empty if none) and the peer certificate's subject.
std::string selectedAlpn(gnutls_session_t session);
std::string peerCertificateSubject(gnutls_session_t session);

// "handshake_failure" for a TLS alert number.
std::string alertName(uint8_t alert);

}  // namespace selium::net::quic
