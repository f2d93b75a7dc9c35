#include "kernel/drivers/net/net_messages.h"

#include <flatbuffers/flatbuffers.h>
#include <selium/abi/hostcalls.h>
#include <selium/schemas/net_generated.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>

#include "net/address.h"
#include "net/http/http_util.h"
#include "util/strings.h"

namespace selium::kernel::netmsg {
namespace {

namespace abi = selium::abi;

std::string str(const flatbuffers::String* s) {
  return s == nullptr ? std::string() : std::string(s->data(), s->size());
}

// The verifier reads scalars in place: an aligned copy (guest buffers may be at any address).
template <typename T>
Result<const T*> verified(std::span<const uint8_t> bytes, std::vector<uint8_t>& aligned,
                          bool (*verify)(flatbuffers::Verifier&), const char* what) {
  if (bytes.size() > SELIUM_NET_REQUEST_MAX_BYTES) {
    return Error{std::string(what) + " is " + std::to_string(bytes.size()) +
                 " bytes, over the limit of " + std::to_string(SELIUM_NET_REQUEST_MAX_BYTES)};
  }
  aligned.assign(bytes.begin(), bytes.end());
  flatbuffers::Verifier verifier(aligned.data(), aligned.size(), /*max_depth=*/8,
                                 /*max_tables=*/4096, /*check_alignment=*/true);
  if (aligned.empty() || !verify(verifier)) {
    return Error{std::string(what) + " is not a valid selium.abi." + what + " FlatBuffer (" +
                 std::to_string(bytes.size()) + " bytes; build it with schemas/net.fbs)"};
  }
  return flatbuffers::GetRoot<T>(aligned.data());
}

template <typename T>
bool verifyRoot(flatbuffers::Verifier& verifier) {
  return verifier.VerifyBuffer<T>(nullptr);
}

Result<std::vector<std::string>> alpnList(
    const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* list) {
  std::vector<std::string> out;
  if (list == nullptr) return out;
  if (list->size() > 16) {
    return Error{"alpn has " + std::to_string(list->size()) + " protocols; at most 16"};
  }
  for (const auto* entry : *list) {
    std::string name = str(entry);
    if (name.empty() || name.size() > 255) {
      return Error{"alpn protocol names are 1 to 255 bytes; got one of " +
                   std::to_string(name.size())};
    }
    out.push_back(std::move(name));
  }
  return out;
}

bool isToken(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  for (const unsigned char c : name) {
    const bool ok =
        (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool isFieldValue(std::string_view value) {
  if (value.size() > 65536) return false;
  return std::none_of(value.begin(), value.end(),
                      [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

// Header fields of a head the guest gives (`what`: "request", "response"), checked into `out`
// with names lower-cased.
Status decodeHeaders(const flatbuffers::Vector<flatbuffers::Offset<abi::HttpHeader>>* headers,
                     const char* what, std::vector<net::http::Header>& out) {
  if (headers == nullptr) return Ok{};
  if (headers->size() > kMaxHeaders) {
    return Error{std::string("the ") + what + " has " + std::to_string(headers->size()) +
                 " header fields; at most " + std::to_string(kMaxHeaders)};
  }
  std::size_t total = 0;
  for (flatbuffers::uoffset_t i = 0; i < headers->size(); ++i) {
    const abi::HttpHeader* h = headers->Get(i);
    std::string name = str(h->name());
    std::string value = str(h->value());
    if (!isToken(name)) {
      return Error{"header " + std::to_string(i) + ": name \"" +
                   util::escapeControl(name.substr(0, 64)) + "\" is not 1-256 token characters"};
    }
    if (!isFieldValue(value)) {
      return Error{"header " + std::to_string(i) + " (" + name +
                   "): the value holds CR, LF or NUL, or is over 64 KiB"};
    }
    total += name.size() + value.size();
    if (total > kMaxHeaderBytes) {
      return Error{std::string("the ") + what + "'s header fields take over " +
                   std::to_string(kMaxHeaderBytes) + " bytes"};
    }
    out.push_back({util::toLower(name), std::move(value)});
  }
  return Ok{};
}

// A head's body: given whole (`body` set, and the length is its size), or a declared
// `content_length` (-1: streamed, `length` stays empty).
Status decodeBody(const flatbuffers::Vector<uint8_t>* body, int64_t content_length,
                  std::optional<uint64_t>& length, std::optional<std::vector<uint8_t>>& bytes) {
  if (body != nullptr) {
    bytes.emplace(body->begin(), body->end());
    length = body->size();
  } else if (content_length >= 0) {
    length = static_cast<uint64_t>(content_length);
  } else if (content_length != -1) {
    return Error{"content_length " + std::to_string(content_length) +
                 " is negative (-1: a streamed body)"};
  }
  return Ok{};
}

// A host to connect to: an IP literal as given, or a DNS name lower-cased.
Status checkHost(std::string& host) {
  boost::system::error_code ec;
  (void)boost::asio::ip::make_address(host, ec);
  if (!ec) return Ok{};
  host = util::toLower(host);
  if (!net::isDnsName(host)) {
    return Error{"host \"" + util::escapeControl(host.substr(0, 256)) +
                 "\" is neither a DNS name nor an IP address"};
  }
  return Ok{};
}

template <typename D>
D bounded(uint64_t ms, D fallback, D max) {
  if (ms == 0) return fallback;
  return std::min(D(ms), max);
}

}  // namespace

Result<TlsServerRequest> decodeTlsServerConfig(std::span<const uint8_t> bytes) {
  std::vector<uint8_t> aligned;
  auto root = verified<abi::TlsServerConfig>(bytes, aligned, &verifyRoot<abi::TlsServerConfig>,
                                             "TlsServerConfig");
  if (!root) return root.error();
  const abi::TlsServerConfig& in = **root;
  TlsServerRequest out;
  out.cert_chain_pem = str(in.cert_chain_pem());
  out.key_pem = str(in.key_pem());
  out.client_ca_pem = str(in.client_ca_pem());
  out.require_client_auth = in.require_client_auth();
  if (out.cert_chain_pem.empty()) return Error{"cert_chain_pem is empty"};
  if (out.key_pem.empty()) return Error{"key_pem is empty"};
  if (out.require_client_auth && out.client_ca_pem.empty()) {
    return Error{"require_client_auth needs client_ca_pem: the CA that signs client certificates"};
  }
  auto alpn = alpnList(in.alpn());
  if (!alpn) return alpn.error();
  out.alpn = std::move(*alpn);
  if (in.min_version() != abi::TlsVersion::Tls13 && in.min_version() != abi::TlsVersion::Tls12) {
    return Error{"min_version " + std::to_string(static_cast<int>(in.min_version())) +
                 " is neither Tls13 (0) nor Tls12 (1)"};
  }
  out.allow_tls12 = in.min_version() == abi::TlsVersion::Tls12;
  return out;
}

Result<TlsClientRequest> decodeTlsClientConfig(std::span<const uint8_t> bytes) {
  std::vector<uint8_t> aligned;
  auto root = verified<abi::TlsClientConfig>(bytes, aligned, &verifyRoot<abi::TlsClientConfig>,
                                             "TlsClientConfig");
  if (!root) return root.error();
  const abi::TlsClientConfig& in = **root;
  TlsClientRequest out;
  out.ca_pem = str(in.ca_pem());
  out.cert_pem = str(in.cert_pem());
  out.key_pem = str(in.key_pem());
  out.server_name = util::toLower(str(in.server_name()));
  if (out.cert_pem.empty() != out.key_pem.empty()) {
    return Error{
        "cert_pem and key_pem go together: give both for client authentication, or "
        "neither"};
  }
  if (!out.server_name.empty() && !net::isDnsName(out.server_name)) {
    return Error{"server_name \"" + util::escapeControl(out.server_name.substr(0, 256)) +
                 "\" is not a DNS name"};
  }
  auto alpn = alpnList(in.alpn());
  if (!alpn) return alpn.error();
  out.alpn = std::move(*alpn);
  if (in.min_version() != abi::TlsVersion::Tls13 && in.min_version() != abi::TlsVersion::Tls12) {
    return Error{"min_version " + std::to_string(static_cast<int>(in.min_version())) +
                 " is neither Tls13 (0) nor Tls12 (1)"};
  }
  out.allow_tls12 = in.min_version() == abi::TlsVersion::Tls12;
  return out;
}

Result<HttpListenRequest> decodeHttpListen(std::span<const uint8_t> bytes) {
  std::vector<uint8_t> aligned;
  auto root = verified<abi::HttpListen>(bytes, aligned, &verifyRoot<abi::HttpListen>, "HttpListen");
  if (!root) return root.error();
  const abi::HttpListen& in = **root;
  HttpListenRequest out;
  out.domain = util::toLower(str(in.domain()));
  if (!out.domain.empty() && !net::isDnsName(out.domain)) {
    return Error{"domain \"" + util::escapeControl(out.domain.substr(0, 256)) +
                 "\" is not a DNS name (leave it empty to take requests for any host)"};
  }
  out.address = str(in.address());
  if (out.address.empty()) out.address = "0.0.0.0";
  out.port = in.port();
  out.tls = in.tls();
  if (out.tls < SELIUM_TLS_DEFAULT) {
    return Error{"tls " + std::to_string(out.tls) +
                 " is neither a TLS configuration handle, 0 (plain HTTP) nor -1 (the work dir's "
                 "certificates)"};
  }
  using std::chrono::milliseconds;
  net::http::ServerLimits& l = out.limits;
  if (const abi::HttpLimits* in_limits = in.limits()) {
    const abi::HttpLimits& x = *in_limits;
    if (x.max_connections() != 0)
      l.max_connections = std::min<uint32_t>(x.max_connections(), 1u << 20);
    if (x.max_header_bytes() != 0) {
      l.max_header_bytes = std::clamp<std::size_t>(x.max_header_bytes(), 1024, 1u << 20);
    }
    if (x.max_body_bytes() != 0)
      l.max_body_bytes = std::min<uint64_t>(x.max_body_bytes(), 1ull << 40);
    const milliseconds hour(3'600'000);
    l.header_timeout = bounded(x.header_timeout_ms(), l.header_timeout, hour);
    l.idle_timeout = bounded(x.idle_timeout_ms(), l.idle_timeout, hour);
    l.body_timeout = bounded(x.body_timeout_ms(), l.body_timeout, hour);
    l.response_timeout = bounded(x.response_timeout_ms(), l.response_timeout, hour);
    l.send_timeout = bounded(x.send_timeout_ms(), l.send_timeout, hour);
  }
  return out;
}

Result<HttpResponse> decodeHttpResponseHead(std::span<const uint8_t> bytes) {
  std::vector<uint8_t> aligned;
  auto root = verified<abi::HttpResponseHead>(bytes, aligned, &verifyRoot<abi::HttpResponseHead>,
                                              "HttpResponseHead");
  if (!root) return root.error();
  const abi::HttpResponseHead& in = **root;
  HttpResponse out;
  out.head.status = in.status();
  if (out.head.status < 200 || out.head.status > 599) {
    return Error{"status " + std::to_string(out.head.status) +
                 " is outside 200-599 (1xx interim responses are the host's business)"};
  }
  if (auto headers = decodeHeaders(in.headers(), "response", out.head.headers); !headers) {
    return headers.error();
  }
  if (auto body = decodeBody(in.body(), in.content_length(), out.head.content_length, out.body);
      !body) {
    return body.error();
  }
  return out;
}

std::vector<uint8_t> encodeRequestHead(const net::http::RequestHead& head,
                                       const net::http::PeerInfo& peer) {
  flatbuffers::FlatBufferBuilder b(512 + head.target.size() + head.headers.size() * 64);
  std::vector<flatbuffers::Offset<abi::HttpHeader>> headers;
  headers.reserve(head.headers.size());
  for (const auto& h : head.headers) {
    headers.push_back(abi::CreateHttpHeader(b, b.CreateString(h.name), b.CreateString(h.value)));
  }
  auto method = b.CreateString(head.method);
  auto target = b.CreateString(head.target);
  auto authority = b.CreateString(head.authority);
  auto scheme = b.CreateString(head.scheme);
  auto header_vec = b.CreateVector(headers);
  auto remote = b.CreateString(peer.remote_address);
  auto alpn = b.CreateString(peer.alpn);
  auto sni = b.CreateString(peer.sni);
  const int64_t length =
      head.content_length ? static_cast<int64_t>(*head.content_length) : int64_t{-1};
  b.Finish(abi::CreateHttpRequestHead(b, method, target, authority, scheme,
                                      static_cast<uint8_t>(head.version), header_vec, length,
                                      remote, alpn, sni));
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

// HTTP client ---------------------------------------------------------------------------------

Result<HttpConnectRequest> decodeHttpConnect(std::span<const uint8_t> bytes) {
  std::vector<uint8_t> aligned;
  auto root =
      verified<abi::HttpConnect>(bytes, aligned, &verifyRoot<abi::HttpConnect>, "HttpConnect");
  if (!root) return root.error();
  const abi::HttpConnect& in = **root;
  HttpConnectRequest out;
  out.host = str(in.host());
  if (auto host = checkHost(out.host); !host) return host.error();
  out.tls = in.tls();
  if (out.tls < SELIUM_TLS_DEFAULT) {
    return Error{"tls " + std::to_string(out.tls) +
                 " is neither a TLS client configuration handle, 0 (plain HTTP) nor -1 (trust "
                 "the work dir's certs/ca.crt)"};
  }
  out.port = in.port();
  if (out.port == 0) out.port = out.tls == SELIUM_TLS_NONE ? 80 : 443;
  net::http::ClientLimits& l = out.limits;
  if (const abi::HttpClientLimits* x = in.limits()) {
    const std::chrono::milliseconds hour(3'600'000);
    l.connect_timeout = bounded(x->connect_timeout_ms(), l.connect_timeout, hour);
    l.response_timeout = bounded(x->response_timeout_ms(), l.response_timeout, hour);
    l.body_timeout = bounded(x->body_timeout_ms(), l.body_timeout, hour);
    l.send_timeout = bounded(x->send_timeout_ms(), l.send_timeout, hour);
    l.idle_timeout = bounded(x->idle_timeout_ms(), l.idle_timeout, hour);
    if (x->max_header_bytes() != 0) {
      l.max_header_bytes = std::clamp<std::size_t>(x->max_header_bytes(), 1024, 1u << 20);
    }
  }
  l.max_queued = SELIUM_HTTP_CLIENT_MAX_PENDING;
  return out;
}

Result<HttpClientRequest> decodeHttpRequest(std::span<const uint8_t> bytes) {
  std::vector<uint8_t> aligned;
  auto root =
      verified<abi::HttpRequest>(bytes, aligned, &verifyRoot<abi::HttpRequest>, "HttpRequest");
  if (!root) return root.error();
  const abi::HttpRequest& in = **root;
  HttpClientRequest out;
  net::http::RequestHead& head = out.head;
  head.method = str(in.method());
  if (head.method.empty()) head.method = "GET";
  if (!isToken(head.method)) {
    return Error{"method \"" + util::escapeControl(head.method.substr(0, 64)) +
                 "\" is not 1-256 token characters"};
  }
  head.target = str(in.target());
  if (head.target.empty()) head.target = "/";
  const bool origin_form = head.target.front() == '/';
  if ((!origin_form && head.target != "*") || head.target.size() > 65536 ||
      std::any_of(head.target.begin(), head.target.end(), [](char c) {
        return static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f;
      })) {
    return Error{"target \"" + util::escapeControl(head.target.substr(0, 200)) +
                 "\" is not a path and query (\"/a/b?c=d\", printable ASCII without spaces, at "
                 "most 64 KiB) or \"*\""};
  }
  head.authority = str(in.authority());
  if (!net::http::isValidAuthority(head.authority) || head.authority.size() > 1024) {
    return Error{"authority \"" + util::escapeControl(head.authority.substr(0, 200)) +
                 "\" is not host[:port]"};
  }
  if (auto headers = decodeHeaders(in.headers(), "request", head.headers); !headers) {
    return headers.error();
  }
  if (auto decoded = decodeBody(in.body(), in.content_length(), head.content_length, out.body);
      !decoded) {
    return decoded.error();
  }
  return out;
}

std::vector<uint8_t> encodeResponseHead(const net::http::ResponseHead& head, int version) {
  flatbuffers::FlatBufferBuilder b(256 + head.headers.size() * 64);
  std::vector<flatbuffers::Offset<abi::HttpHeader>> headers;
  headers.reserve(head.headers.size());
  for (const auto& h : head.headers) {
    headers.push_back(abi::CreateHttpHeader(b, b.CreateString(h.name), b.CreateString(h.value)));
  }
  auto header_vec = b.CreateVector(headers);
  const int64_t length =
      head.content_length ? static_cast<int64_t>(*head.content_length) : int64_t{-1};
  b.Finish(abi::CreateHttpResponseHead(b, static_cast<uint16_t>(head.status), header_vec, length,
                                       /*body=*/0, static_cast<uint8_t>(version)));
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

// QUIC ---------------------------------------------------------------------------------------

namespace {

// QuicLimits over the runtime's defaults (0 keeps each default; the rest is bounded).
void applyQuicLimits(const abi::QuicLimits* in, net::quic::Limits& limits, bool listener) {
  if (in == nullptr) return;
  if (listener && in->max_connections() != 0) {
    limits.max_connections = std::min(in->max_connections(), kMaxQuicConnections);
  }
  if (in->max_streams() != 0) {
    limits.max_streams_per_connection = std::min(in->max_streams(), kMaxQuicStreams);
  }
  limits.idle_timeout =
      bounded(in->idle_timeout_ms(), limits.idle_timeout, std::chrono::milliseconds(3'600'000));
}

}  // namespace

Result<QuicListenRequest> decodeQuicListen(std::span<const uint8_t> bytes) {
  std::vector<uint8_t> aligned;
  auto root = verified<abi::QuicListen>(bytes, aligned, &verifyRoot<abi::QuicListen>, "QuicListen");
  if (!root) return root.error();
  const abi::QuicListen& in = **root;
  QuicListenRequest out;
  out.domain = util::toLower(str(in.domain()));
  if (!out.domain.empty() && !net::isDnsName(out.domain)) {
    return Error{"domain \"" + util::escapeControl(out.domain.substr(0, 256)) +
                 "\" is not a DNS name (leave it empty to take connections for any server name)"};
  }
  out.address = str(in.address());
  if (out.address.empty()) out.address = "0.0.0.0";
  out.port = in.port();
  out.tls = in.tls();
  if (out.tls < SELIUM_TLS_DEFAULT_MUTUAL) {
    return Error{"tls " + std::to_string(out.tls) +
                 " is neither a TLS server configuration handle nor 0 / -1 (the work dir's "
                 "certificates) / -2 (the same, client certificates required)"};
  }
  applyQuicLimits(in.limits(), out.limits, /*listener=*/true);
  return out;
}

Result<QuicConnectRequest> decodeQuicConnect(std::span<const uint8_t> bytes) {
  std::vector<uint8_t> aligned;
  auto root =
      verified<abi::QuicConnect>(bytes, aligned, &verifyRoot<abi::QuicConnect>, "QuicConnect");
  if (!root) return root.error();
  const abi::QuicConnect& in = **root;
  QuicConnectRequest out;
  out.host = str(in.host());
  if (auto host = checkHost(out.host); !host) return host.error();
  out.port = in.port();
  if (out.port == 0) return Error{"port 0: give the port to connect to"};
  out.tls = in.tls();
  if (out.tls < SELIUM_TLS_DEFAULT) {
    return Error{"tls " + std::to_string(out.tls) +
                 " is neither a TLS client configuration handle nor 0 / -1 (trust the work dir's "
                 "certs/ca.crt)"};
  }
  applyQuicLimits(in.limits(), out.limits, /*listener=*/false);
  return out;
}

std::vector<uint8_t> encodeQuicConnectionInfo(const std::string& remote_address,
                                              const std::string& server_name,
                                              const std::string& alpn,
                                              const std::string& peer_subject) {
  flatbuffers::FlatBufferBuilder b(128 + remote_address.size() + server_name.size() + alpn.size() +
                                   peer_subject.size());
  auto remote = b.CreateString(remote_address);
  auto sni = b.CreateString(server_name);
  auto protocol = b.CreateString(alpn);
  auto subject = b.CreateString(peer_subject);
  b.Finish(abi::CreateQuicConnectionInfo(b, remote, sni, protocol, subject));
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

}  // namespace selium::kernel::netmsg
