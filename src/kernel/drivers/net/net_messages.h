// The net hostcalls' FlatBuffers messages (schemas/net.fbs), decoded and checked into plain
// structs: guest bytes are untrusted, so every field is verified and bounded here, once, with
// errors that name the field (fuzzed by tests/fuzz/net_message_fuzz.cc).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "net/http/client.h"
#include "net/http/exchange.h"
#include "net/quic/quic.h"
#include "util/result.h"

namespace selium::kernel::netmsg {

struct TlsServerRequest {
  std::string cert_chain_pem;
  std::string key_pem;
  std::string client_ca_pem;
  bool require_client_auth = false;
  std::vector<std::string> alpn;
  bool allow_tls12 = false;
};
Result<TlsServerRequest> decodeTlsServerConfig(std::span<const uint8_t> bytes);

struct TlsClientRequest {
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
  std::vector<std::string> alpn;
  std::string server_name;
  bool allow_tls12 = false;
};
Result<TlsClientRequest> decodeTlsClientConfig(std::span<const uint8_t> bytes);

struct HttpListenRequest {
  std::string domain;   // lower-case; empty: any
  std::string address;  // as given; "0.0.0.0" when empty
  uint16_t port = 0;
  int32_t tls = 0;  // SELIUM_TLS_NONE, SELIUM_TLS_DEFAULT or a handle
  net::http::ServerLimits limits;
};
Result<HttpListenRequest> decodeHttpListen(std::span<const uint8_t> bytes);

struct HttpResponse {
  net::http::ResponseHead head;
  std::optional<std::vector<uint8_t>> body;  // the whole body, given inline
};
Result<HttpResponse> decodeHttpResponseHead(std::span<const uint8_t> bytes);

// The FlatBuffers selium.abi.HttpRequestHead a guest reads with http_request_head.
std::vector<uint8_t> encodeRequestHead(const net::http::RequestHead& head,
                                       const net::http::PeerInfo& peer);

// HTTP client (http_connect, http_send).

struct HttpConnectRequest {
  std::string host;   // a DNS name (lower-case) or an IP literal
  uint16_t port = 0;  // 80 / 443 when the guest gave 0
  int32_t tls = 0;    // SELIUM_TLS_NONE, SELIUM_TLS_DEFAULT or a TLS client configuration handle
  net::http::ClientLimits limits;
};
Result<HttpConnectRequest> decodeHttpConnect(std::span<const uint8_t> bytes);

struct HttpClientRequest {
  // method, target, authority (empty: the client fills it), headers, content_length (nullopt:
  // streamed).
  net::http::RequestHead head;
  std::optional<std::vector<uint8_t>> body;  // the whole body, given inline
};
Result<HttpClientRequest> decodeHttpRequest(std::span<const uint8_t> bytes);

// The FlatBuffers selium.abi.HttpResponseHead a client reads with http_response_head.
std::vector<uint8_t> encodeResponseHead(const net::http::ResponseHead& head, int version);

// Header field rules shared by decoders: a name is 1-256 token characters (RFC 9110), a value at
// most 64 KiB without CR, LF or NUL; at most kMaxHeaders fields, kMaxHeaderBytes together.
inline constexpr std::size_t kMaxHeaders = 256;
inline constexpr std::size_t kMaxHeaderBytes = 256 * 1024;

// QUIC (quic_listen, quic_connect, quic_connection_info).

struct QuicListenRequest {
  std::string domain;   // lower-case; empty: any
  std::string address;  // as given; "0.0.0.0" when empty
  uint16_t port = 0;
  // A TLS server configuration handle; 0 / SELIUM_TLS_DEFAULT: the work dir's certificates;
  // SELIUM_TLS_DEFAULT_MUTUAL: the same, client certificates required (certs/ca.crt).
  int32_t tls = 0;
  net::quic::Limits limits;
};
Result<QuicListenRequest> decodeQuicListen(std::span<const uint8_t> bytes);

struct QuicConnectRequest {
  std::string host;  // a DNS name (lower-case) or an IP literal
  uint16_t port = 0;
  int32_t tls = 0;  // a TLS client configuration handle, or <= 0: the work dir's CA
  net::quic::Limits limits;
};
Result<QuicConnectRequest> decodeQuicConnect(std::span<const uint8_t> bytes);

// The FlatBuffers selium.abi.QuicConnectionInfo a guest reads with quic_connection_info.
std::vector<uint8_t> encodeQuicConnectionInfo(const std::string& remote_address,
                                              const std::string& server_name,
                                              const std::string& alpn,
                                              const std::string& peer_subject);

// Bounds of QuicLimits: what a guest may ask for at most.
inline constexpr uint32_t kMaxQuicConnections = 1u << 20;
inline constexpr uint32_t kMaxQuicStreams = 1u << 16;

}  // namespace selium::kernel::netmsg
