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
