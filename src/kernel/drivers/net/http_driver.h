// HTTP server driver (capabilities NetHttp* for plain HTTP, NetHttps* over TLS): listeners,
// requests to answer, bodies as byte-stream channels. Protocol work (HTTP/1.1, HTTP/2, TLS) is
// src/net/http's; this file binds it to handles, processes and the accept queues.
//
// Model: binds of one address:port share one http::Server on the loop of the worker that bound
// it first (an HttpPort). Each domain on a port is an HttpRoute: a queue of requests that every
// listener handle of that domain, in any process, accepts from; each request goes to exactly one
// accept. A request handle can be shared and answered by another process (a load balancer).
#pragma once

#include "kernel/hostcall.h"

namespace selium::kernel::hostcalls {

int32_t http_listen(CallContext& ctx, GuestIn request);
int32_t http_listener_port(CallContext& ctx, int32_t listener);
int32_t http_accept(CallContext& ctx, int32_t listener, int32_t waker);
int32_t http_request_head(CallContext& ctx, int32_t request, GuestOut buf);
int32_t http_request_body(CallContext& ctx, int32_t request);
int32_t http_respond(CallContext& ctx, int32_t request, GuestIn head);

}  // namespace selium::kernel::hostcalls
