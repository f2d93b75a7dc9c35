// Fuzz target for sel:// URI text (Uri::parse sees what any client sends as a lookup pattern):
// a URI parses to a canonical form that prints and parses back to itself, within the limits;
// anything else is refused with a message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "selium/uri.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace selium;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  UriResult uri = Uri::parse(text);
  if (!uri.ok()) {
    if (uri.error().summary().empty() || uri.error().text().size() > 1024) std::abort();
    return 0;
  }
  std::string printed = uri->toString();
  UriResult again = Uri::parse(printed);
  if (!again.ok() || !(*again == *uri) || again->toString() != printed) std::abort();
  if (!uri->contains(*uri) || uri->path().size() > Uri::kMaxSegments) std::abort();
  for (const std::string& segment : uri->path()) {
    if (segment.empty() || segment.find('/') != std::string::npos) std::abort();
  }
  UriResult rebuilt = Uri::fromParts(uri->parts());
  if (!rebuilt.ok() || !(*rebuilt == *uri)) std::abort();
  return 0;
}
