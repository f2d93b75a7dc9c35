#include "kernel/drivers/net/net_context.h"

#include "kernel/process.h"

namespace selium::kernel {

NetContext& ProcessHost::network() { return NetContext::standalone(); }

NetContext& NetContext::standalone() {
  static NetContext context;
  return context;
}

Result<std::shared_ptr<const net::tls::ServerConfig>> NetContext::defaultHttpsConfig() {
  std::lock_guard lock(mutex_);
  if (https_default_) return https_default_;
  if (!options_.certs_dir) {
    return Error{
        "no default TLS certificate: this runtime has no work dir certs/ (give a TLS "
        "server configuration)"};
  }
  auto loaded = net::tls::loadDefaultServerConfig(*options_.certs_dir, {"h2", "http/1.1"});
  if (!loaded) return loaded.error();
  https_default_ = *loaded;
  return https_default_;
}

Result<std::shared_ptr<const net::tls::ServerConfig>> NetContext::defaultMutualQuicConfig() {
  std::lock_guard lock(mutex_);
  if (mutual_default_) return mutual_default_;
  if (!options_.certs_dir) {
    return Error{
        "no default TLS certificate: this runtime has no work dir certs/ (give a TLS "
        "server configuration)"};
  }
  auto loaded = net::tls::loadDefaultServerConfig(*options_.certs_dir, {});
  if (!loaded) return loaded.error();
  net::tls::ServerMaterial material = (*loaded)->material();
  if (material.client_ca_pem.empty()) {
    return Error{
        "client certificates cannot be verified: " + (*options_.certs_dir / "ca.crt").string() +
        " is missing (selium-runtime generate-certs writes it)"};
  }
  material.require_client_auth = true;
  auto mutual = net::tls::ServerConfig::create(std::move(material));
  if (!mutual) return mutual.error();
  mutual_default_ = *mutual;
  return mutual_default_;
}

Result<std::shared_ptr<const net::tls::ClientConfig>> NetContext::defaultClientConfig(
    std::vector<std::string> alpn) {
  if (!options_.certs_dir) {
    return Error{
        "no default CA: this runtime has no work dir certs/ca.crt (give a TLS client "
        "configuration with ca_pem)"};
  }
  return net::tls::loadDefaultClientConfig(*options_.certs_dir, std::move(alpn));
}

}  // namespace selium::kernel
