#include "kernel/drivers/net/quic_driver.h"

#include <selium/abi/hostcalls.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "kernel/channel.h"
#include "kernel/drivers/channel/channel_driver.h"
#include "kernel/drivers/net/byte_pipe.h"
#include "kernel/drivers/net/driver_util.h"
#include "kernel/drivers/net/net_context.h"
#include "kernel/drivers/net/net_messages.h"
#include "kernel/drivers/net/tls_driver.h"
#include "kernel/registry.h"
#include "net/address.h"
#include "net/quic/quic.h"
#include "util/log.h"
#include "util/strings.h"

namespace selium::kernel {

using net_driver::denied;
using net_driver::find;
using net_driver::handleText;
using net_driver::insert;
using net_driver::onLoop;
using net_driver::wouldBlock;

namespace quic = net::quic;

namespace {

// Application error codes of the CONNECTION_CLOSE and RESET_STREAM frames the driver sends.
constexpr uint64_t kNoError = 0x0;
// No listener takes the connection (no domain for its server name, its accept queue is full),
// or a stream could not be handed to the guest (its channel budget or handle table is full).
constexpr uint64_t kRefused = 0x2;

// Which QUIC stream a guest's reader belongs to, for telling the stream when every handle to the
// reader is gone. The stream is known on the loop only, and only once bound (an open may wait for
// the peer's stream credit). Loop only.
struct ReaderWatch {
  std::weak_ptr<quic::Stream> stream;
  bool reader_gone = false;
};

// The guest dropped the stream's reader: nobody will read what the peer sends, so it is asked to
// stop (STOP_SENDING) and what still arrives is discarded. On the loop.
void readerGone(ReaderWatch& watch) {
  watch.reader_gone = true;
  if (auto stream = watch.stream.lock()) stream->stopSending(kNoError);
}

// Wires a QUIC stream to its two channels: received bytes into `in` (the guest's reader), bytes
// the guest writes into `out` sent. On the stream's loop.
void bindStream(boost::asio::io_context& loop, const std::shared_ptr<quic::Stream>& stream,
                std::shared_ptr<Channel> in, std::shared_ptr<Channel> out,
                const std::shared_ptr<ReaderWatch>& watch) {
  std::weak_ptr<quic::Stream> weak = stream;
  stream->setConsumer(ChannelSink::create(loop, std::move(in), [weak] {
    if (auto s = weak.lock()) s->resumeReceive();
  }));
  stream->setProducer(ChannelSource::create(loop, std::move(out), std::nullopt, [weak] {
    if (auto s = weak.lock()) s->resumeSend();
  }));
  watch->stream = stream;
  if (watch->reader_gone) readerGone(*watch);
}

// A reader whose last release (every handle to it closed, in any process) runs readerGone on
// `loop`. The watch outlives the reader: the posted call holds it.
std::shared_ptr<ChannelReader> watchedReader(boost::asio::io_context& loop,
                                             std::shared_ptr<Channel> channel,
                                             std::shared_ptr<ReaderWatch> watch) {
  struct Holder {
    Holder(std::shared_ptr<ChannelReader> reader, boost::asio::io_context& loop,
           std::shared_ptr<ReaderWatch> watch)
        : reader(std::move(reader)), loop(loop), watch(std::move(watch)) {}
    Holder(const Holder&) = delete;
    Holder& operator=(const Holder&) = delete;
    ~Holder() {
      reader.reset();  // leaves the channel first
      boost::asio::post(loop, [watch = std::move(watch)] { readerGone(*watch); });
    }
    std::shared_ptr<ChannelReader> reader;
    boost::asio::io_context& loop;
    std::shared_ptr<ReaderWatch> watch;
  };
  auto holder = std::make_shared<Holder>(ChannelReader::open(std::move(channel), Strength::Strong),
                                         loop, std::move(watch));
  ChannelReader* reader = holder->reader.get();
  return std::shared_ptr<ChannelReader>(std::move(holder), reader);
}

// A stream's two channels (the guest holds a reader of `in` and a writer of `out`) and the watch
// on its reader.
struct Pipes {
  std::shared_ptr<Channel> in;   // received bytes: the guest reads
  std::shared_ptr<Channel> out;  // bytes to send: the guest writes
  std::shared_ptr<ReaderWatch> watch;

  void close() const {
    in->close();
    out->close();
  }
};

void bindStream(boost::asio::io_context& loop, const std::shared_ptr<quic::Stream>& stream,
                const Pipes& pipes) {
  bindStream(loop, stream, pipes.in, pipes.out, pipes.watch);
}

// The tasks waiting on one object. A guest's tasks may wait on one handle at once (several opens
// of one connection while it connects), so there is one entry per handle and waker token, not
// per handle. Bounded per handle: past kMaxPerHandle the oldest is woken early, which is harmless
// (it asks again). Guarded by its owner's mutex.
class WaiterList {
 public:
  static constexpr std::size_t kMaxPerHandle = 256;

  // Records `waker` for `key`; a waker to fire (after the owner's lock is released) if one had to
  // make room.
  [[nodiscard]] Waker add(const void* key, Waker waker) {
    std::size_t of_key = 0;
    auto oldest = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first != key) continue;
      if (it->second.token == waker.token && it->second.target == waker.target) {
        it->second = std::move(waker);  // the same task asking again
        return {};
      }
      if (of_key++ == 0) oldest = it;
    }
    Waker evicted;
    if (of_key >= kMaxPerHandle) {
      evicted = std::move(oldest->second);
      entries_.erase(oldest);
    }
    entries_.emplace_back(key, std::move(waker));
    return evicted;
  }
  void cancel(const void* key) {
    std::erase_if(entries_, [key](const auto& entry) { return entry.first == key; });
  }
  void takeAll(std::vector<Waker>& out) {
    for (auto& entry : entries_) out.push_back(std::move(entry.second));
    entries_.clear();
  }

 private:
  std::vector<std::pair<const void*, Waker>> entries_;
};

}  // namespace

class QuicPort;

// One QUIC connection handed to guests: accepted from a listener, or connected. Its connection and
// streams live on `loop`; the rest is thread-safe.
class QuicConnectionObject final : public Shareable {
 public:
  // Opens waiting for the loop or for the peer's stream credit; more make quic_stream_open wait.
  static constexpr std::size_t kMaxPendingOpens = 64;

  enum class State { Connecting, Established, Closed };

  QuicConnectionObject(boost::asio::io_context& loop, bool accepted, std::shared_ptr<QuicPort> port,
                       std::string peer)
      : loop(loop), accepted(accepted), port(std::move(port)), peer(std::move(peer)) {}
  ~QuicConnectionObject() override {
    // Released on the loop (never inside a callback of the connection that is being released):
    // streams nobody accepted are reset, opens still waiting fail, the connection closes.
    boost::asio::post(loop, [connection = std::move(connection_), incoming = std::move(incoming_),
                             waiting = std::move(waiting_opens_)] {
      for (const auto& stream : incoming) stream->reset(kNoError);
      for (const Pipes& pipes : waiting) pipes.close();
      if (connection) connection->close(kNoError, "closed");
    });
  }
  HandleKind kind() const override { return HandleKind::QuicConnection; }
  std::unique_ptr<Resource> attach(Process& process) override;
  bool alive() const override {
    std::lock_guard lock(mutex_);
    return state_ != State::Closed;
  }

  std::shared_ptr<QuicConnectionObject> self() {
    return std::static_pointer_cast<QuicConnectionObject>(shared_from_this());
  }

  // On the loop: the handshake is done.
  void established(const std::shared_ptr<quic::Connection>& connection) {
    connection_ = connection;
    auto info =
        netmsg::encodeQuicConnectionInfo(connection->remoteAddress(), connection->serverName(),
                                         connection->alpn(), connection->peerCertificateSubject());
    std::vector<Waker> wake;
    {
      std::lock_guard lock(mutex_);
      if (state_ == State::Connecting) state_ = State::Established;
      info_ = std::move(info);
      takeWaiters(wake);
    }
    for (const Waker& waker : wake) waker.fire();
    std::weak_ptr<QuicConnectionObject> weak = self();
    connection->onStream([weak](std::shared_ptr<quic::Stream> stream) {
      if (auto object = weak.lock()) {
        object->incoming(std::move(stream));
      } else {
        stream->reset(kRefused);
      }
    });
    connection->onStreamCredit([weak] {
      if (auto object = weak.lock()) object->streamCredit();
    });
    // Last: it runs at once if the connection has ended already.
    connection->onClosed([weak, what = "the QUIC connection with " + peer](std::string reason) {
      if (auto object = weak.lock()) object->ended(what + " is closed: " + reason);
    });
  }

  // On the loop: the connection failed or ended; `reason` is what stream calls report now.
  void ended(std::string reason) {
    std::vector<Waker> wake;
    {
      std::lock_guard lock(mutex_);
      if (state_ == State::Closed) return;
      state_ = State::Closed;
      reason_ = std::move(reason);
      takeWaiters(wake);
    }
    for (const Waker& waker : wake) waker.fire();
    auto waiting = std::move(waiting_opens_);
    waiting_opens_.clear();
    for (const Pipes& pipes : waiting) {
      pipes.close();
      openDone();
    }
  }

  bool closed() const {
    std::lock_guard lock(mutex_);
    return state_ == State::Closed;
  }

  enum class Take { Ready, Wait, Closed };

  // The next stream the peer opened; Wait with `waker` recorded for `key`;
  // Closed with `reason` once the connection is over and every stream was taken.
  Take nextStream(const void* key, Waker waker, std::shared_ptr<quic::Stream>& stream,
                  std::string& reason) {
    std::unique_lock lock(mutex_);
    if (!incoming_.empty()) {
      stream = std::move(incoming_.front());
      incoming_.pop_front();
      return Take::Ready;
    }
    if (state_ == State::Closed) {
      reason = reason_;
      return Take::Closed;
    }
    const Waker evicted = accept_waiters_.add(key, std::move(waker));
    lock.unlock();
    evicted.fire();
    return Take::Wait;
  }

  // Reserves an open (undo with openDone()); Wait while the handshake runs or kMaxPendingOpens
  // opens are on their way.
  Take reserveOpen(const void* key, Waker waker, std::string& reason) {
    std::unique_lock lock(mutex_);
    if (state_ == State::Closed) {
      reason = reason_;
      return Take::Closed;
    }
    if (state_ == State::Connecting || pending_opens_ >= kMaxPendingOpens) {
      const Waker evicted = open_waiters_.add(key, std::move(waker));
      lock.unlock();
      evicted.fire();
      return Take::Wait;
    }
    ++pending_opens_;
    return Take::Ready;
  }

  // On the loop: opens a stream (reserved with reserveOpen) for `pipes`, now or once the peer
  // gives stream credit.
  void openOnLoop(Pipes pipes) {
    if (connection_ == nullptr || connection_->isClosed()) {
      pipes.close();
      openDone();
      return;
    }
    if (waiting_opens_.empty()) {
      auto opened = connection_->openStream();
      if (opened) {
        bindStream(loop, *opened, pipes);
        openDone();
        return;
      }
    }
    waiting_opens_.push_back(std::move(pipes));
  }

  // An open is over (done, or failed): one more may start.
  void openDone() {
    std::vector<Waker> wake;
    {
      std::lock_guard lock(mutex_);
      if (pending_opens_ > 0) --pending_opens_;
      open_waiters_.takeAll(wake);
    }
    for (const Waker& waker : wake) waker.fire();
  }

  // The encoded QuicConnectionInfo, with the state (Connecting: none yet).
  State info(std::vector<uint8_t>& out, std::string& reason) const {
    std::lock_guard lock(mutex_);
    out = info_;
    reason = reason_;
    return state_;
  }

  void cancel(const void* key) {
    std::lock_guard lock(mutex_);
    accept_waiters_.cancel(key);
    open_waiters_.cancel(key);
  }

  boost::asio::io_context& loop;
  const bool accepted;                   // from a listener (else connected by a guest)
  const std::shared_ptr<QuicPort> port;  // an accepted connection's: keeps its socket open
  const std::string peer;                // "host:port" connected to, or the client's address
  // A connection this side made has a UDP socket of its own, counted in the maker's max_sockets
  // until the object goes (its close is posted then).
  std::shared_ptr<void> socket_token;

 private:
  void takeWaiters(std::vector<Waker>& wake) {
    accept_waiters_.takeAll(wake);
    open_waiters_.takeAll(wake);
  }

  // On the loop: a stream the peer opened. Queued until accepted; the transport bounds how many
  // (the peer's stream limit counts them until they are accepted and read).
  void incoming(std::shared_ptr<quic::Stream> stream) {
    std::vector<Waker> wake;
    {
      std::lock_guard lock(mutex_);
      incoming_.push_back(std::move(stream));
      accept_waiters_.takeAll(wake);
    }
    for (const Waker& waker : wake) waker.fire();
  }

  // On the loop: the peer allows more streams.
  void streamCredit() {
    while (!waiting_opens_.empty() && connection_ != nullptr) {
      auto opened = connection_->openStream();
      if (!opened) return;
      Pipes pipes = std::move(waiting_opens_.front());
      waiting_opens_.pop_front();
      bindStream(loop, *opened, pipes);
      openDone();
    }
  }

  mutable std::mutex mutex_;
  State state_ = State::Connecting;
  std::string reason_;
  std::vector<uint8_t> info_;  // FlatBuffers QuicConnectionInfo, once established
  // Streams the peer opened, not accepted yet: released on the loop only.
  std::deque<std::shared_ptr<quic::Stream>> incoming_;
  WaiterList accept_waiters_;
  WaiterList open_waiters_;
  std::size_t pending_opens_ = 0;

  // On the loop only.
  std::shared_ptr<quic::Connection> connection_;
  std::deque<Pipes> waiting_opens_;
};

namespace {

class ConnectionHandle final : public Resource {
 public:
  static constexpr HandleKind kKind = HandleKind::QuicConnection;
  explicit ConnectionHandle(std::shared_ptr<QuicConnectionObject> object)
      : object(std::move(object)) {}
  ~ConnectionHandle() override { object->cancel(this); }
  HandleKind kind() const override { return kKind; }
  std::shared_ptr<Shareable> shareable() override { return object; }
  bool cancelWait() override {
    object->cancel(this);
    return true;
  }
  const std::shared_ptr<QuicConnectionObject> object;
};

}  // namespace

std::unique_ptr<Resource> QuicConnectionObject::attach(Process&) {
  return std::make_unique<ConnectionHandle>(self());
}

// One domain of a port: its queue of connections and the accepts waiting for one.
class QuicRoute final : public Shareable {
 public:
  static constexpr std::size_t kMaxQueued = 256;

  QuicRoute(std::shared_ptr<QuicPort> port, std::string domain)
      : port(std::move(port)), domain(std::move(domain)) {}
  ~QuicRoute() override;
  HandleKind kind() const override { return HandleKind::QuicListener; }
  std::unique_ptr<Resource> attach(Process& process) override;

  // On the port's loop: queues a connection (false: the queue is full).
  bool push(std::shared_ptr<QuicConnectionObject> connection) {
    std::vector<Waker> wake;
    {
      std::lock_guard lock(mutex_);
      if (queue_.size() >= kMaxQueued) return false;
      queue_.push_back(std::move(connection));
      waiters_.takeAll(wake);
    }
    for (const Waker& waker : wake) waker.fire();
    return true;
  }

  // The next live connection, or null with `waker` recorded for `key` (several may wait).
  // Under the lock: each connection goes to exactly one caller.
  std::shared_ptr<QuicConnectionObject> pop(const void* key, Waker waker) {
    std::shared_ptr<QuicConnectionObject> taken;
    std::vector<std::shared_ptr<QuicConnectionObject>> gone;  // released outside the lock
    Waker evicted;
    {
      std::lock_guard lock(mutex_);
      while (!queue_.empty() && !taken) {
        auto next = std::move(queue_.front());
        queue_.pop_front();
        if (next->closed()) {
          gone.push_back(std::move(next));  // its client went away while it waited
        } else {
          taken = std::move(next);
        }
      }
      if (!taken) evicted = waiters_.add(key, std::move(waker));
    }
    evicted.fire();
    return taken;
  }

  void cancel(const void* key) {
    std::lock_guard lock(mutex_);
    waiters_.cancel(key);
  }

  const std::shared_ptr<QuicPort> port;
  const std::string domain;

 private:
  std::mutex mutex_;
  std::deque<std::shared_ptr<QuicConnectionObject>> queue_;
  WaiterList waiters_;
};

// One UDP socket (a server Endpoint) shared by every bind of its address:port.
class QuicPort : public std::enable_shared_from_this<QuicPort> {
 public:
  QuicPort(NetContext& context, boost::asio::io_context& loop) : context(context), loop(loop) {}
  ~QuicPort() {
    if (!key.empty()) {
      std::lock_guard lock(context.quic_mutex);
      auto it = context.quic_ports.find(key);
      if (it != context.quic_ports.end() && it->second.expired()) context.quic_ports.erase(it);
    }
    // Every connection of the port is gone (each held the port): the socket closes.
    if (endpoint) boost::asio::post(loop, [endpoint = endpoint] { endpoint->close(); });
  }

  // The route of `domain`, made if missing.
  std::shared_ptr<QuicRoute> route(const std::string& domain) {
    std::lock_guard lock(mutex_);
    auto& slot = routes_[domain];
    if (auto existing = slot.lock()) return existing;
    auto made = std::make_shared<QuicRoute>(shared_from_this(), domain);
    slot = made;
    return made;
  }

  void forget(const std::string& domain, const QuicRoute* route) {
    std::lock_guard lock(mutex_);
    auto it = routes_.find(domain);
    if (it != routes_.end() && (it->second.expired() || it->second.lock().get() == route)) {
      routes_.erase(it);
    }
  }

  // True the first time for `domain`: its certificate is to be added to the endpoint.
  bool claimIdentity(const std::string& domain) {
    std::lock_guard lock(mutex_);
    return identified_.insert(domain).second;
  }

  // On the loop: a connection whose handshake is done goes to its domain's queue.
  void dispatch(const std::shared_ptr<quic::Connection>& connection) {
    const std::string name = util::toLower(connection->serverName());
    std::shared_ptr<QuicRoute> target;
    {
      std::lock_guard lock(mutex_);
      auto it = routes_.find(name);
      if (it != routes_.end()) target = it->second.lock();
      if (!target) {
        auto any = routes_.find("");
        if (any != routes_.end()) target = any->second.lock();
      }
    }
    if (!target) {
      connection->close(kRefused, "no service here for server name \"" +
                                      util::escapeControl(name.substr(0, 200)) + "\"");
      return;
    }
    auto object = std::make_shared<QuicConnectionObject>(
        loop, /*accepted=*/true, shared_from_this(), connection->remoteAddress());
    object->established(connection);
    if (!target->push(object)) {
      connection->close(kRefused, std::to_string(QuicRoute::kMaxQueued) +
                                      " connections are already waiting for an accept");
    }
  }

  NetContext& context;
  boost::asio::io_context& loop;
  std::string key;  // "address:port" in NetContext::quic_ports (set before it is published)
  std::shared_ptr<quic::Endpoint> endpoint;  // set once, on the loop
  std::shared_ptr<void> socket_token;        // counts the socket in its opener's max_sockets
  uint16_t port = 0;
  // The TLS settings every domain of the port shares (the first bind's).
  std::string client_ca_pem;
  bool require_client_auth = false;
  std::vector<std::string> alpn;

 private:
  std::mutex mutex_;
  std::map<std::string, std::weak_ptr<QuicRoute>> routes_;
  std::set<std::string> identified_;  // domains whose certificate the endpoint has
};

QuicRoute::~QuicRoute() { port->forget(domain, this); }

namespace {

class ListenerHandle final : public Resource {
 public:
  static constexpr HandleKind kKind = HandleKind::QuicListener;
  explicit ListenerHandle(std::shared_ptr<QuicRoute> route) : route(std::move(route)) {}
  ~ListenerHandle() override { route->cancel(this); }
  HandleKind kind() const override { return kKind; }
  std::shared_ptr<Shareable> shareable() override { return route; }
  bool cancelWait() override {
    route->cancel(this);
    return true;
  }
  const std::shared_ptr<QuicRoute> route;
};

}  // namespace

std::unique_ptr<Resource> QuicRoute::attach(Process&) {
  return std::make_unique<ListenerHandle>(std::static_pointer_cast<QuicRoute>(shared_from_this()));
}

namespace {

// Stream calls on a connection need the capability it was had with: NetQuicAccept for one a
// listener accepted, NetQuicConnect for one this side connected.
bool mayUse(CallContext& ctx, const QuicConnectionObject& object) {
  return requireCapability(
      ctx, object.accepted ? Capability::NetQuicAccept : Capability::NetQuicConnect);
}

// The certificate a domain is served with: named for the domain, or (the catch-all domain) for
// every DNS name of the certificate.
quic::Identity identityFor(const std::string& domain, const net::tls::ServerConfig& config) {
  quic::Identity identity;
  identity.cert_chain_pem = config.material().cert_chain_pem;
  identity.key_pem = config.material().key_pem;
  if (!domain.empty()) {
    identity.names.push_back(domain);
  } else {
    for (const std::string& name : config.names()) {
      if (net::isDnsName(name, /*allow_wildcard=*/true)) identity.names.push_back(name);
    }
  }
  return identity;
}

struct PortTls {
  std::shared_ptr<const net::tls::ServerConfig> config;
  std::vector<std::string> alpn;
};

// A new port: binds its socket on the calling process's loop.
Result<std::shared_ptr<QuicPort>> openPort(CallContext& ctx, const netmsg::QuicListenRequest& req,
                                           const boost::asio::ip::address& address,
                                           const PortTls& tls, std::shared_ptr<void> socket_token) {
  // Its key is set once it is bound: a port that fails to open never touches the table (whose
  // lock the caller may hold).
  auto port = std::make_shared<QuicPort>(ctx.process.network(), ctx.process.loop());
  port->socket_token = std::move(socket_token);
  const net::tls::ServerMaterial& material = tls.config->material();
  port->client_ca_pem = material.client_ca_pem;
  port->require_client_auth = material.require_client_auth;
  port->alpn = tls.alpn;
  port->claimIdentity(req.domain);
  quic::ServerTls server_tls;
  server_tls.identities.push_back(identityFor(req.domain, *tls.config));
  server_tls.client_ca_pem = port->client_ca_pem;
  server_tls.require_client_auth = port->require_client_auth;
  server_tls.alpn = port->alpn;
  quic::Limits limits = req.limits;
  // HTTP/3 clients refuse a server that lets them open fewer than 3 unidirectional streams (their
  // control and QPACK streams); their bytes are read and dropped.
  if (std::find(port->alpn.begin(), port->alpn.end(), "h3") != port->alpn.end()) {
    limits.peer_uni_streams = 3;
  }
  std::weak_ptr<QuicPort> weak = port;
  auto endpoint =
      quic::Endpoint::listen(ctx.process.loop(), {address, req.port}, std::move(server_tls), limits,
                             [weak](std::shared_ptr<quic::Connection> connection) {
                               if (auto self = weak.lock()) {
                                 self->dispatch(connection);
                               } else {
                                 connection->close(kRefused, "the listener is closing");
                               }
                             });
  if (!endpoint) return endpoint.error();
  port->endpoint = *endpoint;
  port->port = port->endpoint->port();
  return port;
}

// Joins an existing port: its TLS settings must match, and a new domain's certificate is added.
Status joinPort(const std::shared_ptr<QuicPort>& port, const netmsg::QuicListenRequest& req,
                const PortTls& tls, const std::string& where) {
  const net::tls::ServerMaterial& material = tls.config->material();
  if (material.client_ca_pem != port->client_ca_pem ||
      material.require_client_auth != port->require_client_auth || tls.alpn != port->alpn) {
    return Error{where +
                 " is bound for QUIC with other client certificate or ALPN settings; a listener "
                 "with these needs another port"};
  }
  if (!port->claimIdentity(req.domain)) return Ok{};
  quic::Identity identity = identityFor(req.domain, *tls.config);
  if (port->loop.get_executor().running_in_this_thread()) {
    return port->endpoint->addIdentity(std::move(identity));
  }
  boost::asio::post(port->loop, [port, identity = std::move(identity), where]() mutable {
    auto added = port->endpoint->addIdentity(std::move(identity));
    if (!added) {
      log::warn("QUIC certificate not added",
                {{"address", where}, {"error", added.error().message}});
    }
  });
  return Ok{};
}

// A stream's two channels and the caller's reader and writer handles for them, written to `out`
// (reader first, little-endian i32s); the reader is watched on `loop` (the stream's). The error
// result to return if that fails.
std::variant<Pipes, int32_t> makePipes(CallContext& ctx, GuestOut out,
                                       boost::asio::io_context& loop) {
  auto created_in = createChargedChannel(ctx, SELIUM_BODY_RING_BYTES, Backpressure::Park);
  if (const int32_t* failed = std::get_if<int32_t>(&created_in)) return *failed;
  auto in = std::get<std::shared_ptr<Channel>>(std::move(created_in));
  auto created_out = createChargedChannel(ctx, SELIUM_BODY_RING_BYTES, Backpressure::Park);
  if (const int32_t* failed = std::get_if<int32_t>(&created_out)) {
    in->close();
    return *failed;
  }
  auto sent = std::get<std::shared_ptr<Channel>>(std::move(created_out));
  in->markByteStream(Capability::NetQuicRead, Capability::NetQuicWrite);
  sent->markByteStream(Capability::NetQuicRead, Capability::NetQuicWrite);
  auto watch = std::make_shared<ReaderWatch>();
  const int32_t reader = insert(ctx, makeReaderResource(watchedReader(loop, in, watch)));
  if (reader < 0) {
    in->close();
    sent->close();
    return reader;
  }
  std::weak_ptr<Channel> weak = sent;
  // A writer that goes away without stream_finish resets the stream.
  auto writer_cursor = ChannelWriter::open(sent, Strength::Strong, [weak] {
    if (auto c = weak.lock(); c && !c->draining()) c->close();
  });
  const int32_t writer = insert(ctx, makeWriterResource(std::move(writer_cursor)));
  if (writer < 0) {
    ctx.process.handles().remove(reader);
    in->close();
    sent->close();
    return writer;
  }
  for (int i = 0; i < 4; ++i) {
    out.bytes[i] = static_cast<uint8_t>(static_cast<uint32_t>(reader) >> (8 * i));
    out.bytes[4 + i] = static_cast<uint8_t>(static_cast<uint32_t>(writer) >> (8 * i));
  }
  return Pipes{std::move(in), std::move(sent), std::move(watch)};
}

int32_t checkOut(CallContext& ctx, GuestOut out) {
  if (out.bytes.size() >= 8) return 0;
  return fail(ctx, ErrorCode::InvalidArgument,
              "out is " + std::to_string(out.bytes.size()) +
                  " bytes; a stream's reader and writer handles take 8");
}

}  // namespace

namespace hostcalls {

int32_t quic_listen(CallContext& ctx, GuestIn request) {
  auto decoded = netmsg::decodeQuicListen(request.bytes);
  if (!decoded) return fail(ctx, ErrorCode::InvalidArgument, decoded.error().message);
  const netmsg::QuicListenRequest& req = *decoded;
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(req.address, ec);
  if (ec) {
    return fail(
        ctx, ErrorCode::InvalidArgument,
        "address \"" + util::escapeControl(req.address.substr(0, 200)) + "\" is not an IP address");
  }
  PortTls tls;
  if (req.tls == SELIUM_TLS_DEFAULT_MUTUAL) {
    // The work dir's certificate; clients must present one certs/ca.crt signed.
    auto loaded = ctx.process.network().defaultMutualQuicConfig();
    if (!loaded) return fail(ctx, ErrorCode::InvalidArgument, loaded.error().message);
    tls.config = *loaded;
  } else if (req.tls <= 0) {
    // The work dir's certificate, without the HTTPS ALPN list: QUIC listeners use none.
    auto loaded = ctx.process.network().defaultHttpsConfig();
    if (!loaded) return fail(ctx, ErrorCode::InvalidArgument, loaded.error().message);
    tls.config = *loaded;
  } else {
    int32_t error = 0;
    tls.config = serverTlsConfig(ctx, req.tls, error);
    if (!tls.config) return error;
    tls.alpn = tls.config->material().alpn;
  }
  if (!req.domain.empty() && !tls.config->covers(req.domain)) {
    return fail(ctx, ErrorCode::InvalidArgument,
                "the TLS certificate (" + tls.config->subject() + ") does not cover domain \"" +
                    req.domain + "\"");
  }
  const std::string where = net::formatAddress(address, req.port);
  NetContext& context = ctx.process.network();
  std::shared_ptr<QuicPort> port;  // outlives the table's lock (its destructor takes it)
  if (req.port != 0) {
    std::lock_guard lock(context.quic_mutex);
    auto it = context.quic_ports.find(where);
    if (it != context.quic_ports.end()) port = it->second.lock();
    if (port) {
      auto joined = joinPort(port, req, tls, where);
      if (!joined) return fail(ctx, ErrorCode::InvalidArgument, joined.error().message);
    } else {
      auto reserved = net_driver::reserveSocket(ctx, "listening for QUIC on " + where);
      if (const int32_t* failed = std::get_if<int32_t>(&reserved)) return *failed;
      auto opened =
          openPort(ctx, req, address, tls, std::get<std::shared_ptr<void>>(std::move(reserved)));
      if (!opened) {
        const std::string& why = opened.error().message;
        const bool in_use = why.find("in use") != std::string::npos;
        return fail(ctx, in_use ? ErrorCode::AlreadyExists : ErrorCode::InvalidArgument,
                    "cannot listen for QUIC on " + where + ": " + why);
      }
      port = *opened;
      port->key = where;
      context.quic_ports[where] = port;
      log::info("listening for QUIC", {{"address", net::formatAddress(address, port->port)},
                                       {"pid", ctx.process.id()},
                                       {"module", ctx.process.module()}});
    }
  } else {
    // The system picks the port; later binds of address:port join it like any other.
    auto reserved = net_driver::reserveSocket(ctx, "listening for QUIC on " + where);
    if (const int32_t* failed = std::get_if<int32_t>(&reserved)) return *failed;
    auto opened =
        openPort(ctx, req, address, tls, std::get<std::shared_ptr<void>>(std::move(reserved)));
    if (!opened) {
      return fail(ctx, ErrorCode::InvalidArgument,
                  "cannot listen for QUIC on " + where + ": " + opened.error().message);
    }
    port = *opened;
    port->key = net::formatAddress(address, port->port);
    std::lock_guard lock(context.quic_mutex);
    context.quic_ports[port->key] = port;
    log::info(
        "listening for QUIC",
        {{"address", port->key}, {"pid", ctx.process.id()}, {"module", ctx.process.module()}});
  }
  return insert(ctx, std::make_unique<ListenerHandle>(port->route(req.domain)));
}

int32_t quic_listener_port(CallContext& ctx, int32_t listener) {
  int32_t error = 0;
  auto* handle = find<ListenerHandle>(ctx, listener, "QUIC listener", error);
  if (handle == nullptr) return error;
  return handle->route->port->port;
}

int32_t quic_accept(CallContext& ctx, int32_t listener, int32_t waker) {
  int32_t error = 0;
  auto* handle = find<ListenerHandle>(ctx, listener, "QUIC listener", error);
  if (handle == nullptr) return error;
  auto connection = handle->route->pop(handle, ctx.process.waker(waker));
  if (!connection) return wouldBlock();
  return insert(ctx, std::make_unique<ConnectionHandle>(std::move(connection)));
}

int32_t quic_connect(CallContext& ctx, GuestIn request) {
  auto decoded = netmsg::decodeQuicConnect(request.bytes);
  if (!decoded) return fail(ctx, ErrorCode::InvalidArgument, decoded.error().message);
  netmsg::QuicConnectRequest& req = *decoded;
  std::shared_ptr<const net::tls::ClientConfig> config;
  if (req.tls <= 0) {
    auto loaded = ctx.process.network().defaultClientConfig({});
    if (!loaded) return fail(ctx, ErrorCode::InvalidArgument, loaded.error().message);
    config = *loaded;
  } else {
    int32_t error = 0;
    config = clientTlsConfig(ctx, req.tls, error);
    if (!config) return error;
  }
  const net::tls::ClientMaterial& material = config->material();
  quic::ClientTls tls;
  tls.ca_pem = material.ca_pem;
  tls.cert_pem = material.cert_pem;
  tls.key_pem = material.key_pem;
  tls.alpn = material.alpn;
  tls.server_name = material.server_name;
  const std::string where = net::formatHostPort(req.host, req.port);
  // A connection this side makes has a UDP socket of its own.
  auto reserved = net_driver::reserveSocket(ctx, "a QUIC connection to " + where);
  if (const int32_t* failed = std::get_if<int32_t>(&reserved)) return *failed;
  boost::asio::io_context& loop = ctx.process.loop();
  auto object = std::make_shared<QuicConnectionObject>(loop, /*accepted=*/false, nullptr, where);
  object->socket_token = std::get<std::shared_ptr<void>>(std::move(reserved));
  const int32_t result = insert(ctx, std::make_unique<ConnectionHandle>(object));
  if (result < 0) return result;
  std::weak_ptr<QuicConnectionObject> weak = object;
  onLoop(loop, [&loop, weak, host = std::move(req.host), port = req.port, tls = std::move(tls),
                limits = req.limits, where]() mutable {
    quic::Endpoint::connect(
        loop, std::move(host), port, std::move(tls), limits,
        [weak, where](Result<std::shared_ptr<quic::Connection>> connected) {
          auto object = weak.lock();
          if (!connected) {
            if (object) {
              object->ended("connection to " + where + " failed: " + connected.error().message);
            }
            return;
          }
          if (!object) {
            // Its handles were closed while it connected.
            (*connected)->close(kNoError, "closed");
            return;
          }
          object->established(*connected);
        });
  });
  return result;
}

int32_t quic_stream_accept(CallContext& ctx, int32_t connection, GuestOut out, int32_t waker) {
  int32_t error = 0;
  auto* handle = find<ConnectionHandle>(ctx, connection, "QUIC connection", error);
  if (handle == nullptr) return error;
  QuicConnectionObject& object = *handle->object;
  if (!mayUse(ctx, object)) return denied();
  if (const int32_t bad = checkOut(ctx, out); bad < 0) return bad;
  std::shared_ptr<quic::Stream> stream;
  std::string reason;
  switch (object.nextStream(handle, ctx.process.waker(waker), stream, reason)) {
    case QuicConnectionObject::Take::Wait:
      return wouldBlock();
    case QuicConnectionObject::Take::Closed:
      return fail(ctx, ErrorCode::Closed, reason);
    case QuicConnectionObject::Take::Ready:
      break;
  }
  auto made = makePipes(ctx, out, object.loop);
  if (const int32_t* failed = std::get_if<int32_t>(&made)) {
    onLoop(object.loop, [stream = std::move(stream)] { stream->reset(kRefused); });
    return *failed;
  }
  onLoop(object.loop,
         [&loop = object.loop, stream = std::move(stream),
          pipes = std::get<Pipes>(std::move(made))] { bindStream(loop, stream, pipes); });
  return 0;
}

int32_t quic_stream_open(CallContext& ctx, int32_t connection, GuestOut out, int32_t waker) {
  int32_t error = 0;
  auto* handle = find<ConnectionHandle>(ctx, connection, "QUIC connection", error);
  if (handle == nullptr) return error;
  QuicConnectionObject& object = *handle->object;
  if (!mayUse(ctx, object)) return denied();
  if (const int32_t bad = checkOut(ctx, out); bad < 0) return bad;
  std::string reason;
  switch (object.reserveOpen(handle, ctx.process.waker(waker), reason)) {
    case QuicConnectionObject::Take::Wait:
      return wouldBlock();
    case QuicConnectionObject::Take::Closed:
      return fail(ctx, ErrorCode::Closed, reason);
    case QuicConnectionObject::Take::Ready:
      break;
  }
  auto made = makePipes(ctx, out, object.loop);
  if (const int32_t* failed = std::get_if<int32_t>(&made)) {
    object.openDone();
    return *failed;
  }
  onLoop(object.loop, [object = handle->object, pipes = std::get<Pipes>(std::move(made))] {
    object->openOnLoop(pipes);
  });
  return 0;
}

int32_t quic_connection_info(CallContext& ctx, int32_t connection, GuestOut buf) {
  int32_t error = 0;
  auto* handle = find<ConnectionHandle>(ctx, connection, "QUIC connection", error);
  if (handle == nullptr) return error;
  QuicConnectionObject& object = *handle->object;
  if (!mayUse(ctx, object)) return denied();
  std::vector<uint8_t> info;
  std::string reason;
  const auto state = object.info(info, reason);
  if (info.empty()) {
    if (state == QuicConnectionObject::State::Closed) return fail(ctx, ErrorCode::Closed, reason);
    return fail(ctx, ErrorCode::NotFound,
                "the QUIC connection to " + object.peer + " is still connecting");
  }
  if (info.size() <= buf.bytes.size()) std::memcpy(buf.bytes.data(), info.data(), info.size());
  return static_cast<int32_t>(info.size());
}

}  // namespace hostcalls
}  // namespace selium::kernel
