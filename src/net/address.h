// Socket addresses as text, the one form every log line, error and guest sees.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace selium::net {

// "ip:port"; IPv6 as "[ip]:port".
std::string formatAddress(const boost::asio::ip::address& address, uint16_t port);

// "host:port" for a DNS name or IP literal; an IPv6 literal (it holds ':') in brackets.
std::string formatHostPort(std::string_view host, uint16_t port);

// A bind or connect target "host:port" split: host is a DNS name, an IPv4 literal or a bracketed
// IPv6 literal ("[::1]:443" → host "::1"). nullopt when the port is missing, not a number, or
// above 65535, or the host is empty.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
std::optional<HostPort> parseHostPort(std::string_view text);

// True for a name usable as a TLS server name / HTTP authority host: 1-253 bytes of
// dot-separated labels of [a-z0-9-] (1-63 each, no leading or trailing '-'), case-insensitive,
// an optional "*." first label for a wildcard. IP literals are not names.
bool isDnsName(std::string_view name, bool allow_wildcard = false);

}  // namespace selium::net
