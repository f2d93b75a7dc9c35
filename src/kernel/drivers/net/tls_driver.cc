#include "kernel/drivers/net/tls_driver.h"

#include <string>

#include "kernel/drivers/net/net_context.h"
#include "kernel/drivers/net/net_messages.h"
#include "kernel/registry.h"

namespace selium::kernel {
namespace {

class TlsConfigObject final : public Shareable {
 public:
  explicit TlsConfigObject(std::shared_ptr<const net::tls::ServerConfig> config)
      : server(std::move(config)) {}
  explicit TlsConfigObject(std::shared_ptr<const net::tls::ClientConfig> config)
      : client(std::move(config)) {}
  HandleKind kind() const override { return HandleKind::TlsConfig; }
  std::unique_ptr<Resource> attach(Process& process) override;
  const std::shared_ptr<const net::tls::ServerConfig> server;
  const std::shared_ptr<const net::tls::ClientConfig> client;
};

class TlsConfigHandle final : public Resource {
 public:
  static constexpr HandleKind kKind = HandleKind::TlsConfig;
  explicit TlsConfigHandle(std::shared_ptr<TlsConfigObject> object) : object(std::move(object)) {}
  HandleKind kind() const override { return kKind; }
  std::shared_ptr<Shareable> shareable() override { return object; }
  const std::shared_ptr<TlsConfigObject> object;
};

std::unique_ptr<Resource> TlsConfigObject::attach(Process&) {
  return std::make_unique<TlsConfigHandle>(
      std::static_pointer_cast<TlsConfigObject>(shared_from_this()));
}

int32_t insertConfig(CallContext& ctx, std::shared_ptr<TlsConfigObject> object) {
  auto inserted =
      ctx.process.handles().insert(std::make_unique<TlsConfigHandle>(std::move(object)));
  if (auto* code = std::get_if<ErrorCode>(&inserted)) {
    return fail(ctx, *code, "too many open handles");
  }
  return std::get<int32_t>(inserted);
}

TlsConfigObject* findConfig(CallContext& ctx, int32_t handle, int32_t& error) {
  auto* resource = ctx.process.handles().get<TlsConfigHandle>(handle);
  if (resource == nullptr) {
    error = fail(
        ctx, ErrorCode::InvalidHandle,
        "handle " + std::to_string(handle) + " is not an open TLS configuration of this process");
    return nullptr;
  }
  return resource->object.get();
}

}  // namespace

std::shared_ptr<const net::tls::ServerConfig> serverTlsConfig(CallContext& ctx, int32_t handle,
                                                              int32_t& error) {
  TlsConfigObject* object = findConfig(ctx, handle, error);
  if (object == nullptr) return nullptr;
  if (!object->server) {
    error = fail(ctx, ErrorCode::InvalidArgument,
                 "handle " + std::to_string(handle) +
                     " is a TLS client configuration; a listener needs a server one");
  }
  return object->server;
}

std::shared_ptr<const net::tls::ClientConfig> clientTlsConfig(CallContext& ctx, int32_t handle,
                                                              int32_t& error) {
  TlsConfigObject* object = findConfig(ctx, handle, error);
  if (object == nullptr) return nullptr;
  if (!object->client) {
    error = fail(ctx, ErrorCode::InvalidArgument,
                 "handle " + std::to_string(handle) +
                     " is a TLS server configuration; a client needs a client one");
  }
  return object->client;
}

namespace hostcalls {

int32_t tls_server_config(CallContext& ctx, GuestIn request) {
  auto decoded = netmsg::decodeTlsServerConfig(request.bytes);
  if (!decoded) return fail(ctx, ErrorCode::InvalidArgument, decoded.error().message);
  net::tls::ServerMaterial material;
  material.cert_chain_pem = std::move(decoded->cert_chain_pem);
  material.key_pem = std::move(decoded->key_pem);
  material.client_ca_pem = std::move(decoded->client_ca_pem);
  material.require_client_auth = decoded->require_client_auth;
  material.alpn = std::move(decoded->alpn);
  if (decoded->allow_tls12) material.min_version = net::tls::TlsVersion::Tls12;
  auto config = net::tls::ServerConfig::create(std::move(material));
  if (!config) {
    return fail(ctx, ErrorCode::InvalidArgument,
                "TLS server configuration: " + config.error().message);
  }
  return insertConfig(ctx, std::make_shared<TlsConfigObject>(std::move(*config)));
}

int32_t tls_client_config(CallContext& ctx, GuestIn request) {
  auto decoded = netmsg::decodeTlsClientConfig(request.bytes);
  if (!decoded) return fail(ctx, ErrorCode::InvalidArgument, decoded.error().message);
  std::shared_ptr<const net::tls::ClientConfig> config;
  if (decoded->ca_pem.empty()) {
    // The work dir's CA, with this request's own client certificate and options.
    auto roots = ctx.process.network().defaultClientConfig(decoded->alpn);
    if (!roots) return fail(ctx, ErrorCode::InvalidArgument, roots.error().message);
    decoded->ca_pem = (*roots)->material().ca_pem;
  }
  net::tls::ClientMaterial material;
  material.ca_pem = std::move(decoded->ca_pem);
  material.cert_pem = std::move(decoded->cert_pem);
  material.key_pem = std::move(decoded->key_pem);
  material.alpn = std::move(decoded->alpn);
  material.server_name = std::move(decoded->server_name);
  if (decoded->allow_tls12) material.min_version = net::tls::TlsVersion::Tls12;
  auto created = net::tls::ClientConfig::create(std::move(material));
  if (!created) {
    return fail(ctx, ErrorCode::InvalidArgument,
                "TLS client configuration: " + created.error().message);
  }
  config = std::move(*created);
  return insertConfig(ctx, std::make_shared<TlsConfigObject>(std::move(config)));
}

}  // namespace hostcalls
}  // namespace selium::kernel
