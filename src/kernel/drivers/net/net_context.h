// What the net drivers share across processes and workers: the work dir's default TLS material
// and the table of HTTP sockets (several processes binding one port share one socket). One per
// engine; thread-safe.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "net/tls/tls_config.h"
#include "util/result.h"

namespace selium::kernel {

class HttpPort;  // http_driver.cc
class QuicPort;  // quic_driver.cc

struct NetOptions {
  // The work dir's certs/: server.crt + server.key serve HTTPS and QUIC listeners given no TLS
  // configuration; ca.crt is what clients given none trust. Nothing: those fail, naming it.
  std::optional<std::filesystem::path> certs_dir;
};

class NetContext {
 public:
  NetContext() = default;
  explicit NetContext(NetOptions options) : options_(std::move(options)) {}
  NetContext(const NetContext&) = delete;
  NetContext& operator=(const NetContext&) = delete;

  // certs/server.crt + server.key (ALPN h2 and http/1.1), loaded on first use; a failure (missing
  // or bad files) is not cached, so fixing the files fixes the next bind.
  Result<std::shared_ptr<const net::tls::ServerConfig>> defaultHttpsConfig();
  // certs/server.crt + server.key with client certificates required and verified against
  // certs/ca.crt (required too), no ALPN: QuicListen.tls SELIUM_TLS_DEFAULT_MUTUAL. Loaded on
  // first use; a failure is not cached.
  Result<std::shared_ptr<const net::tls::ServerConfig>> defaultMutualQuicConfig();
  // certs/ca.crt as the roots (+ client.crt/client.key when present), for clients given none.
  Result<std::shared_ptr<const net::tls::ClientConfig>> defaultClientConfig(
      std::vector<std::string> alpn);

  // HTTP sockets by "address:port" (never port 0: each such bind gets its own socket).
  std::mutex http_mutex;
  std::map<std::string, std::weak_ptr<HttpPort>> http_ports;

  // QUIC endpoints by "address:port" (like http_ports).
  std::mutex quic_mutex;
  std::map<std::string, std::weak_ptr<QuicPort>> quic_ports;

  // For hosts without a work dir (unit tests).
  static NetContext& standalone();

 private:
  NetOptions options_;
  std::mutex mutex_;
  std::shared_ptr<const net::tls::ServerConfig> https_default_;
  std::shared_ptr<const net::tls::ServerConfig> mutual_default_;
};

}  // namespace selium::kernel
