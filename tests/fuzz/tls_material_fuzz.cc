// Fuzz target for the TLS configuration parsers (net/tls), which see PEM text from guests. The
// input is a flags byte, then NUL-separated fields: certificate chain, key, CA, comma-separated
// ALPN list, server name. Beyond "no crash", it checks the contract on every input: an error
// message is non-empty and free of control characters; a configuration covers each of its own
// names; and its normalised material is accepted again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "net/tls/tls_config.h"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

void checkMessage(const std::string& message) {
  check(!message.empty());
  for (char c : message) check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
}

std::vector<std::string> split(std::string_view text, char separator, std::size_t max_parts) {
  std::vector<std::string> parts;
  while (parts.size() + 1 < max_parts) {
    const std::size_t at = text.find(separator);
    if (at == std::string_view::npos) break;
    parts.emplace_back(text.substr(0, at));
    text.remove_prefix(at + 1);
  }
  parts.emplace_back(text);
  return parts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace selium::net::tls;
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<std::string> fields = split(text, '\0', 5);
  fields.resize(5);
  std::vector<std::string> alpn;
  if (!fields[3].empty()) alpn = split(fields[3], ',', 64);
  const TlsVersion version = (flags & 2) ? TlsVersion::Tls12 : TlsVersion::Tls13;

  ServerMaterial server;
  server.cert_chain_pem = fields[0];
  server.key_pem = fields[1];
  server.client_ca_pem = fields[2];
  server.require_client_auth = (flags & 1) != 0;
  server.alpn = alpn;
  server.min_version = version;
  auto config = ServerConfig::create(server);
  if (!config) {
    checkMessage(config.error().message);
  } else {
    for (const std::string& name : (*config)->names()) check((*config)->covers(name));
    check((*config)->context() != nullptr);
    auto again = ServerConfig::create((*config)->material());
    check(again.ok());
    check((*again)->names() == (*config)->names());
    check((*again)->subject() == (*config)->subject());
  }

  ClientMaterial client;
  client.ca_pem = fields[2].empty() ? fields[0] : fields[2];
  if (flags & 4) {
    client.cert_pem = fields[0];
    client.key_pem = fields[1];
  }
  client.alpn = alpn;
  client.server_name = fields[4];
  client.min_version = version;
  auto client_config = ClientConfig::create(client);
  if (!client_config) {
    checkMessage(client_config.error().message);
  } else {
    check((*client_config)->context() != nullptr);
    check(ClientConfig::create((*client_config)->material()).ok());
  }
  return 0;
}
