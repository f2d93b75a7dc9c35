// HTTP/1.1 (and 1.0) connections: startH1Connection of net/http/connection.h. The model and the
// limits are described in this folder's README.md; these are the fixed sizes it works with.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "net/http/connection.h"

namespace selium::net::http {

// Bytes read from the socket at a time. The read buffer exists only while a request is in
// progress: an idle keep-alive connection holds none.
inline constexpr std::size_t kH1ReadChunk = 4096;
// Request body bytes decoded and offered to the consumer at a time.
inline constexpr std::size_t kH1BodyChunk = 16384;
// Response body bytes pulled from the producer at a time (one write).
inline constexpr std::size_t kH1WriteChunk = 16384;
// A request body the application did not read is discarded up to this many bytes after the
// response, to keep the connection; a longer one closes it.
inline constexpr uint64_t kH1DrainLimit = 256 * 1024;
// After an error response (or a response that closes the connection) the connection keeps
// reading and discarding for at most this long / this many bytes before it closes, so the
// client reads the response instead of a reset.
inline constexpr std::chrono::milliseconds kH1LingerTime{2000};
inline constexpr std::size_t kH1LingerBytes = 1 << 20;

}  // namespace selium::net::http
