// Fuzz target for the net hostcalls' message decoders (guest bytes): the first byte picks the
// decoder (TlsServerConfig, TlsClientConfig, HttpListen, HttpResponseHead, QuicListen,
// QuicConnect, HttpConnect, HttpRequest), the rest is the message. Beyond "no crash": what decodes
// keeps the documented limits.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "kernel/drivers/net/net_messages.h"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace selium::kernel::netmsg;
  if (size == 0) return 0;
  const std::span<const uint8_t> bytes(data + 1, size - 1);
  switch (data[0] % 8) {
    case 0: {
      auto r = decodeTlsServerConfig(bytes);
      if (r) check(!r->cert_chain_pem.empty() && !r->key_pem.empty() && r->alpn.size() <= 16);
      if (r && r->require_client_auth) check(!r->client_ca_pem.empty());
      break;
    }
    case 1: {
      auto r = decodeTlsClientConfig(bytes);
      if (r) check(r->cert_pem.empty() == r->key_pem.empty() && r->alpn.size() <= 16);
      break;
    }
    case 2: {
      auto r = decodeHttpListen(bytes);
      if (r) check(!r->address.empty() && r->tls >= -1 && r->limits.max_header_bytes >= 1024);
      break;
    }
    case 4: {
      auto r = decodeQuicListen(bytes);
      if (r) {
        check(!r->address.empty() && r->tls >= -1);
        check(r->limits.max_connections <= kMaxQuicConnections);
        check(r->limits.max_streams_per_connection <= kMaxQuicStreams);
        check(r->limits.idle_timeout <= std::chrono::hours(1));
      }
      break;
    }
    case 5: {
      auto r = decodeQuicConnect(bytes);
      if (r) {
        check(!r->host.empty() && r->port != 0 && r->tls >= -1);
        check(r->limits.max_streams_per_connection <= kMaxQuicStreams);
      }
      break;
    }
    case 3: {
      auto r = decodeHttpResponseHead(bytes);
      if (r) {
        check(r->head.status >= 200 && r->head.status <= 599);
        check(r->head.headers.size() <= kMaxHeaders);
        for (const auto& h : r->head.headers) {
          check(!h.name.empty());
          for (char c : h.value) check(c != '\r' && c != '\n' && c != '\0');
        }
        if (r->body) check(r->head.content_length == r->body->size());
      }
      break;
    }
    case 6: {
      auto r = decodeHttpConnect(bytes);
      if (r) {
        check(!r->host.empty() && r->port != 0 && r->tls >= -1);
        check(r->limits.max_header_bytes >= 1024 && r->limits.max_header_bytes <= (1u << 20));
        check(r->limits.connect_timeout <= std::chrono::hours(1));
      }
      break;
    }
    case 7: {
      auto r = decodeHttpRequest(bytes);
      if (r) {
        check(!r->head.method.empty() && !r->head.target.empty());
        check(r->head.target[0] == '/' || r->head.target == "*");
        for (char c : r->head.target) check(c > 0x20 && c < 0x7f);
        check(r->head.headers.size() <= kMaxHeaders);
        for (const auto& h : r->head.headers) {
          for (char c : h.value) check(c != '\r' && c != '\n' && c != '\0');
        }
        if (r->body) check(r->head.content_length == r->body->size());
      }
      break;
    }
  }
  return 0;
}
