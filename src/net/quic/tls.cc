#include "net/quic/tls.h"

#include <gnutls/x509.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include <algorithm>
#include <cstring>

#include "net/address.h"

namespace selium::net::quic {
namespace {

// TLS 1.3 only, the AEADs QUIC defines; no middlebox compatibility mode (RFC 9001 section 8.4).
constexpr const char* kPriority =
    "%DISABLE_TLS13_COMPAT_MODE:NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:"
    "+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-CCM:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:"
    "+GROUP-SECP384R1:+GROUP-SECP521R1";

std::string gnutlsError(int code) { return gnutls_strerror(code); }

gnutls_datum_t datum(const std::string& text) {
  return {reinterpret_cast<unsigned char*>(const_cast<char*>(text.data())),
          static_cast<unsigned>(text.size())};
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return out;
}

TlsSessionState* stateOf(gnutls_session_t session) {
  // The session pointer is &TlsSessionState::conn_ref, its first member.
  return reinterpret_cast<TlsSessionState*>(gnutls_session_get_ptr(session));
}

std::string verificationText(unsigned status) {
  gnutls_datum_t out{};
  if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) < 0) {
    return "certificate verification failed";
  }
  std::string text(reinterpret_cast<const char*>(out.data), out.size);
  gnutls_free(out.data);
  return text;
}

// Server: a presented client certificate must chain to client_ca_pem; none is fine unless
// required (GnuTLS refuses an empty one itself under GNUTLS_CERT_REQUIRE).
int verifyClient(gnutls_session_t session) noexcept {
  TlsSessionState* state = stateOf(session);
  unsigned count = 0;
  gnutls_certificate_get_peers(session, &count);
  if (count == 0) {
    if (state->server && state->server->config().require_client_auth) {
      state->failure = "the client sent no certificate";
      return GNUTLS_E_CERTIFICATE_REQUIRED;
    }
    return 0;
  }
  unsigned status = 0;
  const int rv = gnutls_certificate_verify_peers2(session, &status);
  if (rv < 0 || status != 0) {
    state->failure =
        "client certificate refused: " + (rv < 0 ? gnutlsError(rv) : verificationText(status));
    return GNUTLS_E_CERTIFICATE_ERROR;
  }
  return 0;
}

// Client: the server certificate must chain to the trust anchors and carry verify_name (a DNS
// name, or an IP literal matched against iPAddress SANs).
int verifyServer(gnutls_session_t session) noexcept {
  TlsSessionState* state = stateOf(session);
  unsigned status = 0;
  const int rv = gnutls_certificate_verify_peers3(session, state->verify_name.c_str(), &status);
  if (rv < 0 || status != 0) {
    state->failure = "server certificate refused for \"" + state->verify_name +
                     "\": " + (rv < 0 ? gnutlsError(rv) : verificationText(status));
    return GNUTLS_E_CERTIFICATE_ERROR;
  }
  return 0;
}

// Server, after the ClientHello: pick the identity by SNI, and insist on ALPN when configured.
int afterClientHello(gnutls_session_t session) noexcept {
  TlsSessionState* state = stateOf(session);
  try {
    char name[256];
    size_t size = sizeof(name);
    unsigned type = 0;
    if (gnutls_server_name_get(session, name, &size, &type, 0) == 0 && type == GNUTLS_NAME_DNS) {
      state->server_name = lower(std::string_view(name, strnlen(name, size)));
    }
    if (int rv = gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE,
                                        state->server->select(state->server_name));
        rv != 0) {
      state->failure = "setting credentials: " + gnutlsError(rv);
      return rv;
    }
    if (!state->server->config().alpn.empty()) {
      gnutls_datum_t selected{};
      if (gnutls_alpn_get_selected_protocol(session, &selected) != 0) {
        state->failure = "the client offered none of the required ALPN protocols";
        return GNUTLS_E_NO_APPLICATION_PROTOCOL;
      }
    }
    return 0;
  } catch (...) {
    return GNUTLS_E_MEMORY_ERROR;
  }
}

Status setAlpn(gnutls_session_t session, const std::vector<std::string>& protocols,
               unsigned flags) {
  if (protocols.empty()) return Ok{};
  std::vector<gnutls_datum_t> list;
  for (const std::string& protocol : protocols) {
    if (protocol.empty() || protocol.size() > 255) {
      return Error{"ALPN protocol \"" + protocol + "\" must be 1-255 bytes"};
    }
    list.push_back(datum(protocol));
  }
  if (int rv = gnutls_alpn_set_protocols(session, list.data(), static_cast<unsigned>(list.size()),
                                         flags);
      rv != 0) {
    return Error{"setting ALPN: " + gnutlsError(rv)};
  }
  return Ok{};
}

Result<Session> newSession(unsigned flags, TlsSessionState& state) {
  gnutls_session_t raw = nullptr;
  if (int rv = gnutls_init(&raw, flags | GNUTLS_NO_END_OF_EARLY_DATA); rv != 0) {
    return Error{"gnutls_init: " + gnutlsError(rv)};
  }
  Session session(raw);
  if (int rv = gnutls_priority_set_direct(raw, kPriority, nullptr); rv != 0) {
    return Error{"TLS priorities: " + gnutlsError(rv)};
  }
  const int configured = (flags & GNUTLS_SERVER)
                             ? ngtcp2_crypto_gnutls_configure_server_session(raw)
                             : ngtcp2_crypto_gnutls_configure_client_session(raw);
  if (configured != 0) return Error{"configuring the TLS session for QUIC failed"};
  gnutls_session_set_ptr(raw, &state.conn_ref);
  return session;
}

}  // namespace

void CredentialsDeleter::operator()(gnutls_certificate_credentials_st* credentials) const {
  gnutls_certificate_free_credentials(credentials);
}

Result<std::shared_ptr<ServerTlsContext>> ServerTlsContext::create(const ServerTls& config) {
  if (config.identities.empty()) return Error{"QUIC server TLS: no identity (certificate)"};
  if (config.require_client_auth && config.client_ca_pem.empty()) {
    return Error{"QUIC server TLS: client authentication required but no client CA given"};
  }
  for (const std::string& protocol : config.alpn) {
    if (protocol.empty() || protocol.size() > 255) {
      return Error{"QUIC server TLS: ALPN protocol \"" + protocol + "\" must be 1-255 bytes"};
    }
  }
  auto context = std::make_shared<ServerTlsContext>();
  context->config_ = config;
  context->config_.identities.clear();
  for (const Identity& identity : config.identities) {
    if (Status added = context->addIdentity(identity); !added) return added.error();
  }
  return context;
}

Status ServerTlsContext::addIdentity(const Identity& identity) {
  const std::string which =
      "QUIC server identity " +
      (identity.names.empty() ? std::string("(no names)") : "\"" + identity.names.front() + "\"");
  gnutls_certificate_credentials_t raw = nullptr;
  if (int rv = gnutls_certificate_allocate_credentials(&raw); rv != 0) {
    return Error{which + ": " + gnutlsError(rv)};
  }
  Credentials credentials(raw);
  const gnutls_datum_t cert = datum(identity.cert_chain_pem);
  const gnutls_datum_t key = datum(identity.key_pem);
  if (int rv = gnutls_certificate_set_x509_key_mem(raw, &cert, &key, GNUTLS_X509_FMT_PEM); rv < 0) {
    return Error{which + ": certificate or key: " + gnutlsError(rv)};
  }
  if (!config_.client_ca_pem.empty()) {
    const gnutls_datum_t ca = datum(config_.client_ca_pem);
    const int count = gnutls_certificate_set_x509_trust_mem(raw, &ca, GNUTLS_X509_FMT_PEM);
    if (count <= 0) {
      return Error{which + ": client CA: " +
                   (count < 0 ? gnutlsError(count) : std::string("no certificate in the PEM"))};
    }
    gnutls_certificate_set_verify_function(raw, verifyClient);
  }
  Entry entry{{}, std::move(credentials)};
  for (const std::string& name : identity.names) {
    if (!isDnsName(name, /*allow_wildcard=*/true)) {
      return Error{which + ": \"" + name + "\" is not a DNS name"};
    }
    entry.names.push_back(lower(name));
  }
  entries_.push_back(std::move(entry));
  return Ok{};
}

gnutls_certificate_credentials_t ServerTlsContext::select(std::string_view server_name) const {
  if (!server_name.empty()) {
    for (const Entry& entry : entries_) {
      for (const std::string& name : entry.names) {
        if (name == server_name) return entry.credentials.get();
      }
    }
    const auto dot = server_name.find('.');
    if (dot != std::string_view::npos) {
      const std::string wildcard = "*" + std::string(server_name.substr(dot));
      for (const Entry& entry : entries_) {
        for (const std::string& name : entry.names) {
          if (name == wildcard) return entry.credentials.get();
        }
      }
    }
  }
  return entries_.front().credentials.get();
}

Result<Session> makeServerSession(TlsSessionState& state) {
  Result<Session> session = newSession(GNUTLS_SERVER, state);
  if (!session) return session;
  gnutls_session_t raw = session->get();
  const ServerTls& config = state.server->config();
  // The identity is chosen after the ClientHello; the first one until then.
  if (int rv = gnutls_credentials_set(raw, GNUTLS_CRD_CERTIFICATE, state.server->select(""));
      rv != 0) {
    return Error{"setting server credentials: " + gnutlsError(rv)};
  }
  gnutls_handshake_set_post_client_hello_function(raw, afterClientHello);
  if (Status alpn =
          setAlpn(raw, config.alpn, GNUTLS_ALPN_MANDATORY | GNUTLS_ALPN_SERVER_PRECEDENCE);
      !alpn) {
    return alpn.error();
  }
  if (!config.client_ca_pem.empty()) {
    gnutls_certificate_server_set_request(
        raw, config.require_client_auth ? GNUTLS_CERT_REQUIRE : GNUTLS_CERT_REQUEST);
  }
  return session;
}

Result<Session> makeClientSession(TlsSessionState& state, const ClientTls& config,
                                  const std::string& host, Credentials& credentials) {
  gnutls_certificate_credentials_t raw_credentials = nullptr;
  if (int rv = gnutls_certificate_allocate_credentials(&raw_credentials); rv != 0) {
    return Error{"QUIC client TLS: " + gnutlsError(rv)};
  }
  credentials.reset(raw_credentials);
  if (config.ca_pem.empty()) {
    if (int rv = gnutls_certificate_set_x509_system_trust(raw_credentials); rv < 0) {
      return Error{"QUIC client TLS: system trust store: " + gnutlsError(rv)};
    }
  } else {
    const gnutls_datum_t ca = datum(config.ca_pem);
    const int count =
        gnutls_certificate_set_x509_trust_mem(raw_credentials, &ca, GNUTLS_X509_FMT_PEM);
    if (count <= 0) {
      return Error{"QUIC client TLS: CA: " +
                   (count < 0 ? gnutlsError(count) : std::string("no certificate in the PEM"))};
    }
  }
  if (!config.cert_pem.empty() || !config.key_pem.empty()) {
    const gnutls_datum_t cert = datum(config.cert_pem);
    const gnutls_datum_t key = datum(config.key_pem);
    if (int rv =
            gnutls_certificate_set_x509_key_mem(raw_credentials, &cert, &key, GNUTLS_X509_FMT_PEM);
        rv < 0) {
      return Error{"QUIC client TLS: client certificate or key: " + gnutlsError(rv)};
    }
  }
  gnutls_certificate_set_verify_function(raw_credentials, verifyServer);

  state.verify_name = config.server_name.empty() ? host : config.server_name;
  Result<Session> session = newSession(GNUTLS_CLIENT, state);
  if (!session) return session;
  gnutls_session_t raw = session->get();
  if (int rv = gnutls_credentials_set(raw, GNUTLS_CRD_CERTIFICATE, raw_credentials); rv != 0) {
    return Error{"QUIC client TLS: " + gnutlsError(rv)};
  }
  if (isDnsName(state.verify_name)) {
    state.server_name = state.verify_name;
    if (int rv = gnutls_server_name_set(raw, GNUTLS_NAME_DNS, state.server_name.data(),
                                        state.server_name.size());
        rv != 0) {
      return Error{"QUIC client TLS: SNI \"" + state.server_name + "\": " + gnutlsError(rv)};
    }
  }
  if (Status alpn = setAlpn(raw, config.alpn, GNUTLS_ALPN_MANDATORY); !alpn) {
    return Error{"QUIC client TLS: " + alpn.error().message};
  }
  return session;
}

std::string selectedAlpn(gnutls_session_t session) {
  gnutls_datum_t selected{};
  if (gnutls_alpn_get_selected_protocol(session, &selected) != 0) return {};
  return std::string(reinterpret_cast<const char*>(selected.data), selected.size);
}

std::string peerCertificateSubject(gnutls_session_t session) {
  unsigned count = 0;
  const gnutls_datum_t* chain = gnutls_certificate_get_peers(session, &count);
  if (chain == nullptr || count == 0) return {};
  gnutls_x509_crt_t cert = nullptr;
  if (gnutls_x509_crt_init(&cert) != 0) return {};
  std::string subject;
  gnutls_datum_t dn{};
  if (gnutls_x509_crt_import(cert, &chain[0], GNUTLS_X509_FMT_DER) == 0 &&
      gnutls_x509_crt_get_dn3(cert, &dn, 0) == 0) {
    subject.assign(reinterpret_cast<const char*>(dn.data), dn.size);
    gnutls_free(dn.data);
  }
  gnutls_x509_crt_deinit(cert);
  return subject;
}

std::string alertName(uint8_t alert) {
  const char* name = gnutls_alert_get_name(static_cast<gnutls_alert_description_t>(alert));
  return name != nullptr ? name : "alert " + std::to_string(alert);
}

}  // namespace selium::net::quic
