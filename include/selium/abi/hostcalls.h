/* The hostcall table: the single source of truth for every function the host offers guests.
 * Everything is expanded from it: the SDK's import declarations, the host's linker and
 * capability checks (src/kernel/hostcalls.cc checks each handler's wasm signature against the
 * entry here at compile time), and the coverage test.
 *
 * Conventions (see README "Guest ABI"):
 *  - import module "selium", import name = the entry's name;
 *  - scalars only: uint32_t guest addresses and lengths, int32_t/int64_t values;
 *  - result >= 0 is success; < 0 is -SELIUM_ERR_* (include/selium/abi/errors.h);
 *  - a hostcall whose capability the process lacks returns -SELIUM_ERR_PermissionDenied;
 *  - `waker` is a guest-chosen token: when a hostcall returns -SELIUM_ERR_WouldBlock the host
 *    calls the guest's `selium_poll(waker)` export once it may succeed.
 * Freestanding C. */
#ifndef SELIUM_ABI_HOSTCALLS_H_
#define SELIUM_ABI_HOSTCALLS_H_

#include <stdint.h>

#include "selium/abi/capabilities.h"

#define SELIUM_IMPORT_MODULE "selium"

/* Capability "none": the hostcall is available to every process. */
#define SELIUM_CAP_NONE 0xFFFFFFFFu

/* Handles are small positive per-process integers; 0 is never a valid handle. */
typedef int32_t selium_handle_t;

/* Log levels of log_write / log_enabled. */
enum {
  SELIUM_LOG_TRACE = 0,
  SELIUM_LOG_DEBUG = 1,
  SELIUM_LOG_INFO = 2,
  SELIUM_LOG_WARN = 3,
  SELIUM_LOG_ERROR = 4
};

/* Limits on one log_write record (the host refuses a record past any with -InvalidArgument; the
 * SDK truncates instead): its encoded size, the bytes of its target, message, keys and string
 * values together, its number of fields, and the length of one key (of [A-Za-z0-9_.-]). */
#define SELIUM_LOG_MAX_RECORD_BYTES 65536
#define SELIUM_LOG_MAX_STRING_BYTES 65536
#define SELIUM_LOG_MAX_FIELDS 128
#define SELIUM_LOG_MAX_KEY_BYTES 64

/* Kinds of handle (handle_kind, handle_attach, singleton_lookup). 0 = any kind. */
enum {
  SELIUM_KIND_ANY = 0,
  SELIUM_KIND_TIMER = 1,
  SELIUM_KIND_CHANNEL = 2,
  SELIUM_KIND_READER = 3,
  SELIUM_KIND_WRITER = 4,
  SELIUM_KIND_PROCESS = 5,
  SELIUM_KIND_TLS_CONFIG = 6,       /* tls_server_config / tls_client_config */
  SELIUM_KIND_HTTP_LISTENER = 7,    /* http_listen */
  SELIUM_KIND_HTTP_REQUEST = 8,     /* http_accept: a request to answer */
  SELIUM_KIND_QUIC_LISTENER = 9,    /* quic_listen */
  SELIUM_KIND_QUIC_CONNECTION = 10, /* quic_accept / quic_connect */
  SELIUM_KIND_HTTP_CLIENT = 11,     /* http_connect */
  SELIUM_KIND_HTTP_EXCHANGE = 12,   /* http_send: a request sent and its response */
  SELIUM_KIND_LIFETIME = 13,        /* process_lifetime: a process's life, to wait for its end */
  SELIUM_KIND_SESSION = 14          /* session_create */
};

/* The largest session request (session_create) and the entitlements and resources it may hold;
 * a session holds at most SELIUM_SESSION_MAX_RESOURCES resources in all. */
#define SELIUM_SESSION_REQUEST_MAX_BYTES (1u << 20)
#define SELIUM_SESSION_MAX_RESOURCES 65536u
/* process_attach / session_*: "no resource" (the capability as a whole). */
#define SELIUM_SESSION_ANY (-1)

/* Networking (schemas/net.fbs). HttpListen.tls: plain HTTP, or TLS with the work dir's
 * certs/server.crt and server.key. */
#define SELIUM_TLS_NONE 0
#define SELIUM_TLS_DEFAULT (-1)
/* QuicListen.tls only: the work dir's certs/server.crt and server.key, and client certificates
 * REQUIRED and verified against certs/ca.crt: a client without one, or with one another CA
 * signed, fails the handshake and is never accepted (the control plane's listener). */
#define SELIUM_TLS_DEFAULT_MUTUAL (-2)
/* Request and response bodies are byte streams over channels: a body reader's frames are pieces
 * of the body in order (their boundaries mean nothing), then -EndOfStream once the body is
 * complete, or -Closed if it was cut short (the client went away). A body writer's frames are
 * sent in order; stream_finish ends the body. Each body's ring is this many bytes, counted in
 * the process's channel budget while the body is open. */
#define SELIUM_BODY_RING_BYTES 65536u
/* The largest request, head or configuration the net hostcalls read. */
#define SELIUM_NET_REQUEST_MAX_BYTES (1u << 20)
/* Requests of one HTTP client that may be unfinished at once (running or queued); http_send
 * waits past it. Each counts the response head limit (HttpClientLimits.max_header_bytes) in the
 * process's channel budget until it finishes; each client counts SELIUM_HTTP_CLIENT_BYTES. */
#define SELIUM_HTTP_CLIENT_MAX_PENDING 64u
#define SELIUM_HTTP_CLIENT_BYTES 65536u

/* Channels: backpressure chosen at creation, and reader/writer strength. */
enum { SELIUM_BACKPRESSURE_PARK = 0, SELIUM_BACKPRESSURE_DROP = 1 };
enum { SELIUM_STRONG = 0, SELIUM_WEAK = 1 };
/* Bytes of ring each frame takes besides its payload, and the unit payloads are padded to: a
 * frame of n bytes uses SELIUM_FRAME_OVERHEAD + n rounded up to SELIUM_FRAME_ALIGN. */
#define SELIUM_FRAME_OVERHEAD 8u
#define SELIUM_FRAME_ALIGN 8u
/* Batches (channel_read_batch, channel_write_batch) are frames laid end to end, each a
 * little-endian uint32_t length followed by that many bytes, with no padding. */
#define SELIUM_BATCH_HEADER 4u
/* The most frames one channel_read_batch or channel_write_batch moves: a call holds the
 * channel's lock, which readers and writers on other workers wait for. A longer batch is
 * written in part (the result says how many); the caller writes the rest with another call. */
#define SELIUM_BATCH_MAX_FRAMES 4096u
/* How a process ended (process_wait): the runtime's exit reasons. */
enum {
  SELIUM_EXIT_NORMAL = 0,     /* entrypoint returned / root task done / exit(0) */
  SELIUM_EXIT_ERROR = 1,      /* exit with a non-zero status */
  SELIUM_EXIT_TRAP = 2,       /* the guest trapped */
  SELIUM_EXIT_TERMINATED = 3, /* stopped (process_stop, shutdown, slice or heap limit) */
  SELIUM_EXIT_FAILED = 4      /* could not start: module missing or invalid, instantiation */
};
/* The largest start request process_start reads. */
#define SELIUM_START_REQUEST_MAX_BYTES (1u << 20)

/* How long handle_transfer keeps a resource nobody has attached yet. */
#define SELIUM_TRANSFER_TIMEOUT_MS 30000

/* Length of a singleton id. */
#define SELIUM_SINGLETON_ID_BYTES 16u

/* Clocks of time_now. */
enum { SELIUM_CLOCK_WALL = 0, SELIUM_CLOCK_MONOTONIC = 1 };

/* Guest exports the host looks for, besides the entrypoint:
 *   selium_alloc(size, align) -> address   needed for utf8/buffer/hex entrypoint arguments;
 *   selium_poll(waker) -> 0 pending, 1 done  called when a waker fires; a module without it
 *                                             ends when its entrypoint returns. */
#define SELIUM_EXPORT_ALLOC "selium_alloc"
#define SELIUM_EXPORT_POLL "selium_poll"
#define SELIUM_POLL_PENDING 0
#define SELIUM_POLL_DONE 1
/* The waker passed to selium_poll right after the entrypoint returns. */
#define SELIUM_WAKER_START (-1)
/* A waker for channel_read, channel_read_batch, channel_write and channel_write_batch that asks
 * them not to wait: -WouldBlock then records nothing, and is also the answer when another task
 * of the process is waiting on the handle (its wait is left as it was). */
#define SELIUM_WAKER_NONE (-2)

/* X(name, capability, result type, parameter list)
 * Reading and writing through reader and writer handles (channel_read*, channel_reader_lost,
 * channel_write*, channel_writer_downgrade) is listed with SELIUM_CAP_NONE because the capability
 * depends on the handle: ChannelReader / ChannelWriter for a channel's readers and writers, the
 * protocol's for a byte stream (an HTTP body: NetHttpRead / NetHttpWrite, or NetHttpsRead /
 * NetHttpsWrite over TLS). Without it the call returns -PermissionDenied. */
#define SELIUM_HOSTCALLS(X)                                                                        \
  /* Copies the message of this process's most recent failed hostcall into buf (at most cap        \
   * bytes, no terminator); returns the message's full length (0: none). */                        \
  X(last_error, SELIUM_CAP_NONE, int32_t, (uint32_t buf, uint32_t cap))                            \
  /* Writes a log record: a FlatBuffers selium.abi.LogRecord (schemas/log.fbs). */                 \
  X(log_write, SELIUM_CAP_NONE, int32_t, (uint32_t record, uint32_t record_len))                   \
  /* 1 if a record of this level and target would be printed, else 0. */                           \
  X(log_enabled, SELIUM_CAP_NONE, int32_t, (int32_t level, uint32_t target, uint32_t target_len))  \
  /* Copies the process's log_uri into buf (at most cap bytes); returns its full length, or        \
   * -NotFound when the spec gave none. */                                                         \
  X(log_uri, SELIUM_CAP_NONE, int32_t, (uint32_t buf, uint32_t cap))                               \
  /* This process's id (> 0). */                                                                   \
  X(process_id, SELIUM_CAP_NONE, int64_t, (void))                                                  \
  /* Ends this process with `status` (0 = success); does not return. */                            \
  X(process_exit, SELIUM_CAP_NONE, int32_t, (int32_t status))                                      \
  /* Asks to be polled again (waker) after other ready work has run; returns -WouldBlock. */       \
  X(yield_now, SELIUM_CAP_NONE, int32_t, (int32_t waker))                                          \
  /* Closes a handle of any kind. */                                                               \
  X(handle_close, SELIUM_CAP_NONE, int32_t, (selium_handle_t handle))                              \
  /* Nanoseconds: since the Unix epoch (SELIUM_CLOCK_WALL) or since an arbitrary start that        \
   * never goes back (SELIUM_CLOCK_MONOTONIC). */                                                  \
  X(time_now, SELIUM_CAP_TimeRead, int64_t, (int32_t clock))                                       \
  /* A timer handle that becomes ready `duration_ns` from now (negative: invalid). */              \
  X(timer_create, SELIUM_CAP_TimeRead, int32_t, (int64_t duration_ns))                             \
  /* 0 if the timer is ready; else records waker and returns -WouldBlock. */                       \
  X(timer_poll, SELIUM_CAP_TimeRead, int32_t, (selium_handle_t timer, int32_t waker))              \
  /* The kind (SELIUM_KIND_*) of an open handle. */                                                \
  X(handle_kind, SELIUM_CAP_NONE, int32_t, (selium_handle_t handle))                               \
  /* Forgets the waker a WouldBlock from this handle recorded (a task that stopped waiting), so    \
   * another task may wait on it. */                                                               \
  X(handle_cancel_wait, SELIUM_CAP_NONE, int32_t, (selium_handle_t handle))                        \
  /* A shared id (> 0, random, unguessable) for what `handle` names, for another process to        \
   * attach; the same id each time for the same resource; it dies with the resource. Channels,     \
   * readers, writers and processes can be shared; a timer cannot (-Unsupported).                  \
   * Sharing needs no capability; using an attached handle does. */                                \
  X(handle_share, SELIUM_CAP_NONE, int64_t, (selium_handle_t handle))                              \
  /* Hands the resource over: like handle_share, but this handle is closed, and the resource is    \
   * kept alive for up to SELIUM_TRANSFER_TIMEOUT_MS or until another process attaches the id,     \
   * whichever is first (an HTTP request passed to a worker outlives the balancer's handle). */    \
  X(handle_transfer, SELIUM_CAP_NONE, int64_t, (selium_handle_t handle))                           \
  /* A new handle of this process for the resource `shared_id` names, if it is of `kind`           \
   * (SELIUM_KIND_ANY: any). -NotFound: no such id, or the resource is gone. */                    \
  X(handle_attach, SELIUM_CAP_NONE, int32_t, (int64_t shared_id, int32_t kind))                    \
  /* A channel of `capacity` bytes (SELIUM_FRAME_OVERHEAD per frame included) with backpressure    \
   * SELIUM_BACKPRESSURE_PARK (writers wait for space) or _DROP (frames that do not fit are        \
   * discarded). */                                                                                \
  X(channel_create, SELIUM_CAP_ChannelLifecycle, int32_t,                                          \
    (uint32_t capacity, int32_t backpressure))                                                     \
  /* No new frames: readers read what is there, then get -EndOfStream; writers get -Closed. */     \
  X(channel_drain, SELIUM_CAP_ChannelLifecycle, int32_t, (selium_handle_t channel))                \
  /* Closes the channel for everyone at once: every reader and writer gets -Closed. */             \
  X(channel_delete, SELIUM_CAP_ChannelLifecycle, int32_t, (selium_handle_t channel))               \
  /* A reader of the channel: SELIUM_STRONG (never overwritten; holds writers back) or             \
   * SELIUM_WEAK (never holds anyone back; -Lagged when it fell behind). */                        \
  X(channel_reader_open, SELIUM_CAP_ChannelReader, int32_t,                                        \
    (selium_handle_t channel, int32_t strength))                                                   \
  /* Reads one frame into buf. Returns its length; a length > cap means nothing was read (the      \
   * frame stays next): call again with a buffer that large. -WouldBlock (waker recorded),         \
   * -Lagged (see channel_reader_lost), -EndOfStream, -Closed. */                                  \
  X(channel_read, SELIUM_CAP_NONE, int32_t,                                                        \
    (selium_handle_t reader, uint32_t buf, uint32_t cap, int32_t waker))                           \
  /* Reads as many whole frames as fit into buf as a batch (SELIUM_BATCH_HEADER per frame).        \
   * Returns the bytes written; a result > cap means the next frame alone needs that many. Errors  \
   * as channel_read, for the first frame. */                                                      \
  X(channel_read_batch, SELIUM_CAP_NONE, int32_t,                                                  \
    (selium_handle_t reader, uint32_t buf, uint32_t cap, int32_t waker))                           \
  /* Frames this weak reader has lost since the last call (0 for a strong reader). */              \
  X(channel_reader_lost, SELIUM_CAP_NONE, int64_t, (selium_handle_t reader))                       \
  /* A writer of the channel: SELIUM_STRONG (waiting strong writers are served in order and        \
   * nobody overtakes them) or SELIUM_WEAK (never holds anyone back). */                           \
  X(channel_writer_open, SELIUM_CAP_ChannelWriter, int32_t,                                        \
    (selium_handle_t channel, int32_t strength))                                                   \
  /* The writer becomes weak. */                                                                   \
  X(channel_writer_downgrade, SELIUM_CAP_NONE, int32_t, (selium_handle_t writer))                  \
  /* Writes one frame of len bytes. 0, or -WouldBlock (Park: waker recorded, nothing written),     \
   * -Dropped (Drop: discarded), -TooLarge (can never fit), -Closed (drained or deleted). */       \
  X(channel_write, SELIUM_CAP_NONE, int32_t,                                                       \
    (selium_handle_t writer, uint32_t data, uint32_t len, int32_t waker))                          \
  /* Writes the frames of a batch in order until one cannot be written; returns how many were      \
   * written (>= 1). If the first cannot: its error as channel_write (-Dropped: it was consumed).  \
   */                                                                                              \
  X(channel_write_batch, SELIUM_CAP_NONE, int32_t,                                                 \
    (selium_handle_t writer, uint32_t batch, uint32_t len, int32_t waker))                         \
  /* Registers the resource `handle` names under a 16-byte id; -AlreadyExists if taken. The        \
   * entry goes when this process ends or the resource does. */                                    \
  X(singleton_register, SELIUM_CAP_SingletonRegistry, int32_t,                                     \
    (uint32_t id, selium_handle_t handle))                                                         \
  /* A new handle for the resource registered under the 16-byte id, if it is of `kind`. */         \
  X(singleton_lookup, SELIUM_CAP_SingletonLookup, int32_t, (uint32_t id, int32_t kind))            \
  /* Starts a child process: the request is a FlatBuffers selium.abi.StartRequest                  \
   * (schemas/process.fbs). Returns a process handle at once; the module loads in the background   \
   * (a module that cannot start shows as SELIUM_EXIT_FAILED from process_wait). Capabilities      \
   * must be ones this process holds (-PermissionDenied). `resource` args name handles of this     \
   * process; the child gets its own handles to the same resources. */                             \
  X(process_start, SELIUM_CAP_ProcessLifecycle, int32_t, (uint32_t request, uint32_t request_len)) \
  /* Stops the process (it ends SELIUM_EXIT_TERMINATED); 0 also if it had ended already. */        \
  X(process_stop, SELIUM_CAP_ProcessLifecycle, int32_t, (selium_handle_t process))                 \
  /* Once the process has ended: (reason << 32) | (uint32_t)status, reason SELIUM_EXIT_*. Until    \
   * then -WouldBlock (waker recorded). */                                                         \
  X(process_wait, SELIUM_CAP_ProcessLifecycle, int64_t, (selium_handle_t process, int32_t waker))  \
  /* Copies how the process ended, as the runtime logs it, into buf (at most cap bytes); returns   \
   * its full length, or -NotFound while it still runs. */                                         \
  X(process_exit_message, SELIUM_CAP_ProcessLifecycle, int32_t,                                    \
    (selium_handle_t process, uint32_t buf, uint32_t cap))                                         \
  /* The process's id (as in the runtime's logs), or -NotFound until it has started. */            \
  X(process_pid, SELIUM_CAP_ProcessLifecycle, int64_t, (selium_handle_t process))                  \
  /* A weak reader of the process's log stream: frames are FlatBuffers selium.abi.LogRecord        \
   * (schemas/log.fbs). The stream starts when it is first opened; a reader starts at the          \
   * oldest record still held (256 KiB ring); one that falls behind gets -Lagged. The process      \
   * never waits for readers. -NotFound until it has started, -Closed once it has ended. */        \
  X(process_log_open, SELIUM_CAP_ProcessLifecycle, int32_t, (selium_handle_t process))             \
  /* A handle on this process's own life (kind LIFETIME): share it, and whoever attaches it can    \
   * wait for this process to end (lifetime_wait). It grants nothing else. */                      \
  X(process_lifetime, SELIUM_CAP_NONE, int32_t, (void))                                            \
  /* -WouldBlock while the process of the lifetime runs (waker recorded; one waiting task per      \
   * handle); its pid once it has ended. */                                                        \
  X(lifetime_wait, SELIUM_CAP_NONE, int64_t, (selium_handle_t lifetime, int32_t waker))            \
  /* The pid of the process a lifetime names. */                                                   \
  X(lifetime_pid, SELIUM_CAP_NONE, int64_t, (selium_handle_t lifetime))                            \
  /* Writes a FlatBuffers selium.abi.ProcessList (schemas/process.fbs) of the running processes    \
   * this process may see (every one with SessionLifecycle, else its descendants) into buf if it   \
   * fits in cap bytes; returns its full length either way. */                                     \
  X(process_list, SELIUM_CAP_ProcessLifecycle, int32_t, (uint32_t buf, uint32_t cap))              \
  /* A process handle on the running process `pid`: one of this process's descendants, or any      \
   * process with SessionLifecycle. -NotFound: no such process runs. */                            \
  X(process_attach, SELIUM_CAP_ProcessLifecycle, int32_t, (int64_t pid))                           \
  /* A session (kind SESSION): entitlements (capability -> any resource, or a set of resource ids) \
   * within those of `parent` (a session handle, or -1: this process's own capabilities, any       \
   * resource), from a FlatBuffers selium.abi.SessionRequest. Widening is -PermissionDenied. */    \
  X(session_create, SELIUM_CAP_SessionLifecycle, int32_t,                                          \
    (selium_handle_t parent, uint32_t request, uint32_t request_len))                              \
  /* 0 if the session (and every session above it) entitles `capability` on `resource`             \
   * (SELIUM_SESSION_ANY: on any resource), else -PermissionDenied. */                             \
  X(session_check, SELIUM_CAP_SessionLifecycle, int32_t,                                           \
    (selium_handle_t session, uint32_t capability, int64_t resource))                              \
  /* Adds an entitlement, which the session's parent must cover (SELIUM_SESSION_ANY: any). */      \
  X(session_grant, SELIUM_CAP_SessionLifecycle, int32_t,                                           \
    (selium_handle_t session, uint32_t capability, int64_t resource))                              \
  /* Removes an entitlement: one resource, or the capability (SELIUM_SESSION_ANY). Sessions        \
   * made from this one narrow with it. */                                                         \
  X(session_revoke, SELIUM_CAP_SessionLifecycle, int32_t,                                          \
    (selium_handle_t session, uint32_t capability, int64_t resource))                              \
  /* process_start under the session: it must entitle ProcessLifecycle and, on any resource, every \
   * capability the request grants. The child joins the session's ProcessLifecycle resources (and  \
   * those of the sessions above it). */                                                           \
  X(session_start, SELIUM_CAP_SessionLifecycle, int32_t,                                           \
    (selium_handle_t session, uint32_t request, uint32_t request_len))                             \
  /* process_attach limited by the session: its ProcessLifecycle entitlement must cover `pid`. */  \
  X(session_attach, SELIUM_CAP_SessionLifecycle, int32_t, (selium_handle_t session, int64_t pid))  \
  /* process_list limited to the processes the session's ProcessLifecycle covers. */               \
  X(session_list, SELIUM_CAP_SessionLifecycle, int32_t,                                            \
    (selium_handle_t session, uint32_t buf, uint32_t cap))                                         \
  /* A TLS server configuration from a FlatBuffers selium.abi.TlsServerConfig (schemas/net.fbs):   \
   * certificate chain, key, optional client CA, ALPN. Checked now: a bad PEM, a key that does not \
   * match its certificate, an expired certificate is -InvalidArgument with the reason. */         \
  X(tls_server_config, SELIUM_CAP_NetTlsServerConfig, int32_t,                                     \
    (uint32_t request, uint32_t request_len))                                                      \
  /* A TLS client configuration from a selium.abi.TlsClientConfig. */                              \
  X(tls_client_config, SELIUM_CAP_NetTlsClientConfig, int32_t,                                     \
    (uint32_t request, uint32_t request_len))                                                      \
  /* Listens for HTTP requests (selium.abi.HttpListen): needs NetHttpBind, or NetHttpsBind with    \
   * TLS. Binds of one address and port share its socket, in this process and others: they must    \
   * agree on plain or TLS; each domain (routed by Host / :authority, and by SNI for its           \
   * certificate) is one queue of requests, shared by every listener handle of it. HTTPS speaks    \
   * HTTP/2 and HTTP/1.1 (ALPN). */                                                                \
  X(http_listen, SELIUM_CAP_NONE, int32_t, (uint32_t request, uint32_t request_len))               \
  /* The port a listener is bound to (its own pick when it asked for port 0). */                   \
  X(http_listener_port, SELIUM_CAP_NONE, int32_t, (selium_handle_t listener))                      \
  /* The next request of the listener's domain, as a request handle; -WouldBlock (waker recorded)  \
   * while none is waiting. Needs NetHttpAccept (NetHttpsAccept over TLS). Each request goes to    \
   * exactly one accept, whichever process calls it. */                                            \
  X(http_accept, SELIUM_CAP_NONE, int32_t, (selium_handle_t listener, int32_t waker))              \
  /* Copies the request's head (FlatBuffers selium.abi.HttpRequestHead) into buf; returns its      \
   * length (> cap: nothing copied, call again with that much). Needs NetHttpRead / NetHttpsRead.  \
   */                                                                                              \
  X(http_request_head, SELIUM_CAP_NONE, int32_t,                                                   \
    (selium_handle_t request, uint32_t buf, uint32_t cap))                                         \
  /* A reader handle for the request body (once per request; -AlreadyExists after). Needs          \
   * NetHttpRead / NetHttpsRead. */                                                                \
  X(http_request_body, SELIUM_CAP_NONE, int32_t, (selium_handle_t request))                        \
  /* Answers the request with a selium.abi.HttpResponseHead. Returns a writer handle for the body, \
   * or 0 when there is none to write (the head carried the whole body, content_length was 0, a    \
   * HEAD request, 204 or 304). -Closed: the exchange is over (the client went away, or the host   \
   * answered 504 after the response timeout); -AlreadyExists: answered already. Needs             \
   * NetHttpWrite / NetHttpsWrite. */                                                              \
  X(http_respond, SELIUM_CAP_NONE, int32_t,                                                        \
    (selium_handle_t request, uint32_t head, uint32_t head_len))                                   \
  /* Ends the byte stream a body writer writes: the peer sees the body complete. A body writer     \
   * closed without it (or whose process ends) cuts the body short: the client sees an error.      \
   * -Unsupported for writers of ordinary channels. */                                             \
  X(stream_finish, SELIUM_CAP_NONE, int32_t, (selium_handle_t writer))                             \
  /* Listens for QUIC connections (selium.abi.QuicListen, schemas/net.fbs). Binds of one address   \
   * and port share its UDP socket, in this process and others; each domain (routed by the TLS     \
   * server name) is one queue of connections shared by every listener handle of it. */            \
  X(quic_listen, SELIUM_CAP_NetQuicBind, int32_t, (uint32_t request, uint32_t request_len))        \
  /* The UDP port a QUIC listener is bound to. */                                                  \
  X(quic_listener_port, SELIUM_CAP_NONE, int32_t, (selium_handle_t listener))                      \
  /* The next connection of the listener's domain (its handshake done), as a connection handle;    \
   * -WouldBlock (waker recorded) while none is waiting. Each connection goes to exactly one       \
   * accept, whichever process calls it. */                                                        \
  X(quic_accept, SELIUM_CAP_NetQuicAccept, int32_t, (selium_handle_t listener, int32_t waker))     \
  /* Connects to a QUIC server (selium.abi.QuicConnect). Returns a connection handle at once; the  \
   * handshake runs in the background: stream calls return -WouldBlock until it is done, and       \
   * -Closed (last_error naming why) if it failed. */                                              \
  X(quic_connect, SELIUM_CAP_NetQuicConnect, int32_t, (uint32_t request, uint32_t request_len))    \
  /* The next stream the peer opened: writes its reader and writer handles (two i32, reader first) \
   * to out (out_len >= 8) and returns 0. -WouldBlock (waker recorded) while none is waiting,      \
   * -Closed once the connection is over. The reader's frames are the stream's bytes (then         \
   * -EndOfStream on FIN, -Closed on reset); stream_finish on the writer sends FIN, a writer       \
   * closed without it resets the stream; reading and writing them needs NetQuicRead /             \
   * NetQuicWrite. Needs NetQuicAccept on an accepted connection, NetQuicConnect on one this side  \
   * connected (the capability the connection was had with). */                                    \
  X(quic_stream_accept, SELIUM_CAP_NONE, int32_t,                                                  \
    (selium_handle_t connection, uint32_t out, uint32_t out_len, int32_t waker))                   \
  /* Opens a stream: its reader and writer handles as quic_stream_accept. -WouldBlock (waker       \
   * recorded) while the handshake runs or too many opens wait for the peer's stream credit. Same  \
   * capability as quic_stream_accept. */                                                          \
  X(quic_stream_open, SELIUM_CAP_NONE, int32_t,                                                    \
    (selium_handle_t connection, uint32_t out, uint32_t out_len, int32_t waker))                   \
  /* Copies a selium.abi.QuicConnectionInfo (peer address, server name, ALPN, peer certificate     \
   * subject) into buf; returns its length (> cap: nothing copied). -NotFound while the handshake  \
   * runs, -Closed if it failed. Same capability as quic_stream_accept. */                         \
  X(quic_connection_info, SELIUM_CAP_NONE, int32_t,                                                \
    (selium_handle_t connection, uint32_t buf, uint32_t cap))                                      \
  /* An HTTP client for one origin (selium.abi.HttpConnect): host, port, plain or TLS. Returns at  \
   * once; the host connects when a request needs it (again after a failure or a server close),    \
   * speaks HTTP/2 when TLS negotiates h2, else HTTP/1.1 (one request at a time). Needs            \
   * NetHttpConnect, or NetHttpsConnect with TLS. */                                               \
  X(http_connect, SELIUM_CAP_NONE, int32_t, (uint32_t request, uint32_t request_len))              \
  /* Sends a request (selium.abi.HttpRequest) on a client: returns an exchange handle. A streamed  \
   * body (no inline body, content_length not 0) is written through http_send_body. -WouldBlock    \
   * (waker recorded) while SELIUM_HTTP_CLIENT_MAX_PENDING requests of this client are unfinished. \
   * Needs NetHttpWrite / NetHttpsWrite. */                                                        \
  X(http_send, SELIUM_CAP_NONE, int32_t,                                                           \
    (selium_handle_t client, uint32_t request, uint32_t request_len, int32_t waker))               \
  /* The writer of a streamed request body (once; stream_finish ends the body, a writer closed     \
   * without it aborts the request). Needs NetHttpWrite / NetHttpsWrite. */                        \
  X(http_send_body, SELIUM_CAP_NONE, int32_t, (selium_handle_t exchange))                          \
  /* Copies the response head (selium.abi.HttpResponseHead, with version) into buf; returns its    \
   * length (> cap: nothing copied, call again with that much). -WouldBlock (waker recorded)       \
   * until it arrives; -Closed if the request failed first (last_error names why: connect, TLS,    \
   * timeout, malformed response). Needs NetHttpRead / NetHttpsRead. */                            \
  X(http_response_head, SELIUM_CAP_NONE, int32_t,                                                  \
    (selium_handle_t exchange, uint32_t buf, uint32_t cap, int32_t waker))                         \
  /* A reader handle for the response body (once): frames, then -EndOfStream when complete or      \
   * -Closed when cut short. Needs NetHttpRead / NetHttpsRead. */                                  \
  X(http_response_body, SELIUM_CAP_NONE, int32_t, (selium_handle_t exchange))

#endif /* SELIUM_ABI_HOSTCALLS_H_ */
