// HTTP client driver (capabilities NetHttpConnect/Read/Write for plain HTTP, NetHttps* over
// TLS): clients for one origin each, requests sent on them, bodies as byte-stream channels.
// Protocol work (connections, HTTP/1.1, HTTP/2, TLS) is src/net/http's Client; this file binds it
// to handles and accounts what a guest makes the host hold.
//
// Model: a client handle names an HttpClientObject holding a net::http::Client on the loop of
// the worker that created it. Each http_send makes an HttpExchangeObject: the request's head (and
// its inline body, or a byte-stream channel the guest writes the body into), then the response
// head and a byte-stream channel for the response body. Both kinds of handle can be shared: the
// calls of another process post to the client's loop.
#pragma once

#include "kernel/hostcall.h"

namespace selium::kernel::hostcalls {

int32_t http_connect(CallContext& ctx, GuestIn request);
int32_t http_send(CallContext& ctx, int32_t client, GuestIn request, int32_t waker);
int32_t http_send_body(CallContext& ctx, int32_t exchange);
int32_t http_response_head(CallContext& ctx, int32_t exchange, GuestOut buf, int32_t waker);
int32_t http_response_body(CallContext& ctx, int32_t exchange);

}  // namespace selium::kernel::hostcalls
