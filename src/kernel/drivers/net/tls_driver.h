// TLS configuration handles (capabilities NetTlsServerConfig, NetTlsClientConfig): validated
// once, immutable, shareable; listeners and clients take them by handle.
#pragma once

#include <memory>

#include "kernel/hostcall.h"
#include "net/tls/tls_config.h"

namespace selium::kernel {

// The configuration behind a TLS configuration handle of the calling process: a server one,
// or a client one. Null (with the last error set in `error`) if the handle is no TLS
// configuration of that side.
std::shared_ptr<const net::tls::ServerConfig> serverTlsConfig(CallContext& ctx, int32_t handle,
                                                              int32_t& error);
std::shared_ptr<const net::tls::ClientConfig> clientTlsConfig(CallContext& ctx, int32_t handle,
                                                              int32_t& error);

}  // namespace selium::kernel

namespace selium::kernel::hostcalls {

int32_t tls_server_config(CallContext& ctx, GuestIn request);
int32_t tls_client_config(CallContext& ctx, GuestIn request);

}  // namespace selium::kernel::hostcalls
