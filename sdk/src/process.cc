// Strings the host copies out: the last error message and the log URI.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "selium/process.hpp"
#include "selium/selium.h"

namespace {
// Calls a (buf, cap) -> full length hostcall, growing the buffer once if the first guess was
// short. Returns the negative result on failure.
template <typename Call>
int32_t copyOut(Call call, std::string& out) {
  out.resize(128);
  int32_t length = call(SELIUM_ADDR(out.data()), static_cast<uint32_t>(out.size()));
  if (length > static_cast<int32_t>(out.size())) {
    out.resize(static_cast<size_t>(length));
    length = call(SELIUM_ADDR(out.data()), static_cast<uint32_t>(out.size()));
  }
  out.resize(length < 0 ? 0 : std::min(static_cast<size_t>(length), out.size()));
  return length;
}
}  // namespace

namespace selium {

std::optional<std::string> logUri() {
  std::string uri;
  if (copyOut(selium_log_uri, uri) < 0) return std::nullopt;
  return uri;
}

std::string lastError() {
  std::string message;
  copyOut(selium_last_error, message);
  return message;
}

}  // namespace selium

extern "C" size_t selium_last_error_message(char* buf, size_t cap) {
  std::string message = selium::lastError();
  if (cap > 0) {
    size_t n = std::min(message.size(), cap - 1);
    std::memcpy(buf, message.data(), n);
    buf[n] = '\0';
  }
  return message.size();
}
