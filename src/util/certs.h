// `selium-runtime generate-certs`: a local CA plus server and client certificates for mutual TLS.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "util/result.h"

namespace selium::util {

struct CertOptions {
  std::filesystem::path output_dir = "certs";
  std::string ca_common_name = "Selium Local CA";
  std::string server_name = "localhost";
  std::string client_name = "client.localhost";
  bool force = false;  // overwrite existing files
};

// Writes ca.crt ca.key server.crt server.key client.crt client.key (PEM, ECDSA P-256, SHA-256)
// into options.output_dir, creating it if needed. Keys are created with mode 0600. Refuses (and
// writes nothing) if any of the six files exists, unless options.force. Returns the paths written.
Result<std::vector<std::filesystem::path>> generateCerts(const CertOptions& options);

}  // namespace selium::util
