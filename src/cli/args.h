// What the `selium` CLI parses from its command line besides flags: typed entrypoint arguments
// (`-a TYPE:VALUE`), capability lists and the server address. Pure functions, unit-tested.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "control/protocol.h"

namespace selium::cli {

// One `-a` value, TYPE:VALUE. TYPE (any case) is a module-spec kind or an alias:
//   i8 u8 i16 u16 i32 u32 i64 u64 f32 f64
//   utf8 (utf-8, string, str, text)      the UTF-8 text as given
//   buffer (bytes, byte, data)           the bytes of VALUE, or hex:DIGITS for raw bytes
//   hex                                  DIGITS (optional 0x; whitespace and _ ignored)
//   resource (handle)                    a channel's shared id (selium channel create prints it)
// `index` (1-based) names the argument in errors.
control::Outcome<control::Arg> parseArg(std::string_view text, std::size_t index);

// Capability names from -c (one each) and --capabilities (comma-separated), in order, without
// duplicates; CamelCase (ChannelReader) or kebab-case (channel-reader), any case.
control::Outcome<std::vector<uint32_t>> parseCapabilities(const std::vector<std::string>& single,
                                                          const std::vector<std::string>& lists);

struct ServerAddress {
  std::string host;  // DNS name or IP literal (IPv6 without brackets)
  uint16_t port = 0;
};
// "host:port", "[v6]:port", or "host" (port 7000).
control::Outcome<ServerAddress> parseServer(std::string_view text);
inline constexpr uint16_t kDefaultPort = 7000;

// Hex digits to bytes: optional 0x, whitespace and '_' ignored, an even count.
control::Outcome<std::vector<uint8_t>> parseHex(std::string_view text);

}  // namespace selium::cli
