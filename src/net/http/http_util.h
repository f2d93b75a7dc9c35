// Helpers shared by the HTTP/1.1 and HTTP/2 connections (exchange.cc): header rules, status
// reason phrases, the host's own error responses. Pure functions, any thread.
#pragma once

#include <ctime>
#include <string>
#include <string_view>

#include "net/http/exchange.h"

namespace selium::net::http {

// RFC 9110 reason phrase for a status ("Not Found"); "Unknown" for codes it does not name.
std::string_view reasonPhrase(int status);

// Connection-level (hop-by-hop) header names that RequestHead::headers leaves out and
// ResponseHead::headers may not set: connection, keep-alive, proxy-connection,
// transfer-encoding, upgrade, te, http2-settings. `lower_name` must be lower-case.
bool isConnectionLevelHeader(std::string_view lower_name);

// A field name is a non-empty token (RFC 9110 5.1); a value has no CR, LF or NUL and no other
// control character than HTAB (RFC 9110 5.5). Response headers that fail these are refused:
// they could split the response.
bool isValidHeaderName(std::string_view name);
bool isValidHeaderValue(std::string_view value);

// An authority (Host, :authority): host [":" port] where host is a reg-name, an IPv4 literal or
// a bracketed IPv6 literal; no userinfo, no whitespace. Empty is valid (an empty Host).
bool isValidAuthority(std::string_view authority);

std::string toLowerAscii(std::string_view text);

// The current time as an HTTP date (RFC 9110 5.6.7 IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT"),
// for the Date header every response carries. Formatted at most once a second per thread.
const std::string& httpDate();
// `time` (seconds since the epoch) as an IMF-fixdate.
std::string formatHttpDate(std::time_t time);

// The host's own answer to a request it refuses (431, 413, 408, 504, ...): a complete HTTP/1.1
// response with Content-Type text/plain, Content-Length, Connection: close and `reason` plus a
// newline as the body.
std::string errorResponse(int status, std::string_view reason);

}  // namespace selium::net::http
