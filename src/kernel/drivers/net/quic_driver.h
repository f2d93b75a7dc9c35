// QUIC driver (capabilities NetQuicBind, NetQuicAccept, NetQuicConnect, NetQuicRead,
// NetQuicWrite): listeners, connections and streams as handles. The protocol (ngtcp2, GnuTLS) is
// src/net/quic's; this file binds it to handles, processes and accept queues.
//
// Model: binds of one address:port share one net::quic::Endpoint on the loop of the worker that
// bound it first (a QuicPort). Each domain on a port is a QuicRoute: a queue of connections, routed
// by the TLS server name, that every listener handle of that domain, in any process, accepts from;
// each connection goes to exactly one accept. A connection (QuicConnectionObject) lives on the loop
// of its endpoint; hostcalls from other workers (a shared handle) post to that loop. Each stream is
// two byte-stream channels (ChannelSink for the bytes in, ChannelSource for the bytes out), so its
// reader and writer can be shared like any others.
#pragma once

#include "kernel/hostcall.h"

namespace selium::kernel::hostcalls {

int32_t quic_listen(CallContext& ctx, GuestIn request);
int32_t quic_listener_port(CallContext& ctx, int32_t listener);
int32_t quic_accept(CallContext& ctx, int32_t listener, int32_t waker);
int32_t quic_connect(CallContext& ctx, GuestIn request);
int32_t quic_stream_accept(CallContext& ctx, int32_t connection, GuestOut out, int32_t waker);
int32_t quic_stream_open(CallContext& ctx, int32_t connection, GuestOut out, int32_t waker);
int32_t quic_connection_info(CallContext& ctx, int32_t connection, GuestOut buf);

}  // namespace selium::kernel::hostcalls
