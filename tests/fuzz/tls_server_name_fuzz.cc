// Fuzz target for the ClientHello server_name extension parser (net/tls/sni_context), which sees
// bytes from any client that connects to a TLS port with several domains.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "net/tls/sni_context.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  auto name = selium::net::tls::parseServerNameExtension(std::span<const uint8_t>(data, size));
  if (name) {
    // A host name is a slice of the input after the two length fields and an entry header.
    if (size < 2 || name->size() + 5 > size) std::abort();
  } else if (name.error().message.empty()) {
    std::abort();
  }
  return 0;
}
