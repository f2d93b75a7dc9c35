#include "kernel/drivers/net/http_driver.h"

#include <selium/abi/hostcalls.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
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
#include "net/http/server.h"
#include "net/tls/sni_context.h"
#include "util/log.h"
#include "util/strings.h"

namespace selium::kernel {

using net_driver::denied;
using net_driver::find;
using net_driver::handleText;
using net_driver::insert;
using net_driver::onLoop;

namespace http = net::http;

namespace {

// The host's own short answers (421, 503).
void answer(http::Exchange& exchange, int status, std::string_view text) {
  std::vector<uint8_t> body(text.begin(), text.end());
  body.push_back('\n');
  http::ResponseHead head;
  head.status = status;
  head.headers.push_back({"content-type", "text/plain; charset=utf-8"});
  head.content_length = body.size();
  exchange.respond(std::move(head), std::make_shared<net::StaticBytes>(std::move(body)));
}

}  // namespace

// One request handed to guests. Its exchange lives on the port's loop; the rest is thread-safe.
class HttpRequestObject final : public Shareable {
 public:
  HttpRequestObject(boost::asio::io_context& loop, std::shared_ptr<http::Exchange> exchange,
                    bool tls)
      : loop(loop),
        exchange(std::move(exchange)),
        head(netmsg::encodeRequestHead(this->exchange->head(), this->exchange->peer())),
        head_request(this->exchange->head().method == "HEAD"),
        tls(tls) {}
  ~HttpRequestObject() override {
    // Nobody answered (every handle closed, or the process ended): the client gets an error.
    if (!responded.load()) {
      onLoop(loop, [exchange = exchange] { exchange->reset(); });
    }
  }
  HandleKind kind() const override { return HandleKind::HttpRequest; }
  std::unique_ptr<Resource> attach(Process& process) override;
  bool alive() const override { return !finished.load(); }

  boost::asio::io_context& loop;
  const std::shared_ptr<http::Exchange> exchange;  // touched on `loop` only
  const std::vector<uint8_t> head;                 // FlatBuffers HttpRequestHead
  const bool head_request;                         // a HEAD request: its response has no body
  const bool tls;
  std::atomic<bool> finished{false};  // the exchange is over (set on the loop)
  std::atomic<bool> body_taken{false};
  std::atomic<bool> responded{false};
};

namespace {

class RequestHandle final : public Resource {
 public:
  static constexpr HandleKind kKind = HandleKind::HttpRequest;
  explicit RequestHandle(std::shared_ptr<HttpRequestObject> object) : object(std::move(object)) {}
  HandleKind kind() const override { return kKind; }
  std::shared_ptr<Shareable> shareable() override { return object; }
  const std::shared_ptr<HttpRequestObject> object;
};

}  // namespace

std::unique_ptr<Resource> HttpRequestObject::attach(Process&) {
  return std::make_unique<RequestHandle>(
      std::static_pointer_cast<HttpRequestObject>(shared_from_this()));
}

class HttpPort;

// One domain of a port: its queue of requests and the accepts waiting for one.
class HttpRoute final : public Shareable {
 public:
  static constexpr std::size_t kMaxQueued = 1024;
  // Request heads waiting, together: large heads (a listener may allow 1 MiB each) fill this
  // before the count.
  static constexpr std::size_t kMaxQueuedBytes = std::size_t{4} << 20;

  HttpRoute(std::shared_ptr<HttpPort> port, std::string domain)
      : port(std::move(port)), domain(std::move(domain)) {}
  ~HttpRoute() override;
  HandleKind kind() const override { return HandleKind::HttpListener; }
  std::unique_ptr<Resource> attach(Process& process) override;

  // On the port's loop: queues a request (false: the queue is full).
  bool push(std::shared_ptr<HttpRequestObject> request) {
    std::vector<Waker> wake;
    {
      std::lock_guard lock(mutex_);
      if (queue_.size() >= kMaxQueued || queued_bytes_ + request->head.size() > kMaxQueuedBytes) {
        return false;
      }
      queued_bytes_ += request->head.size();
      queue_.push_back(std::move(request));
      wake.reserve(waiters_.size());
      for (auto& [key, waker] : waiters_) wake.push_back(std::move(waker));
      waiters_.clear();
    }
    for (const Waker& waker : wake) waker.fire();
    return true;
  }

  // The next live request, or null with `waker` recorded for `key` (one per listener handle).
  std::shared_ptr<HttpRequestObject> pop(const void* key, Waker waker) {
    std::lock_guard lock(mutex_);
    while (!queue_.empty()) {
      auto request = std::move(queue_.front());
      queue_.pop_front();
      queued_bytes_ -= request->head.size();
      if (!request->finished.load()) return request;
      // Its client went away (or the host answered 504) while it waited: drop it.
      request->responded.store(true);
    }
    waiters_[key] = std::move(waker);
    return nullptr;
  }

  void cancel(const void* key) {
    std::lock_guard lock(mutex_);
    waiters_.erase(key);
  }

  const std::shared_ptr<HttpPort> port;
  const std::string domain;

 private:
  std::mutex mutex_;
  std::deque<std::shared_ptr<HttpRequestObject>> queue_;
  std::size_t queued_bytes_ = 0;
  std::map<const void*, Waker> waiters_;
};

// One listening socket shared by every bind of its address:port.
class HttpPort : public std::enable_shared_from_this<HttpPort> {
 public:
  HttpPort(NetContext& context, boost::asio::io_context& loop, std::string key, bool tls)
      : context(context), loop(loop), key(std::move(key)), tls(tls) {}
  ~HttpPort() {
    if (!key.empty()) {
      std::lock_guard lock(context.http_mutex);
      auto it = context.http_ports.find(key);
      if (it != context.http_ports.end() && it->second.expired()) context.http_ports.erase(it);
    }
    if (server) {
      // Nobody listens any more: the socket closes now, and the requests already answered (or
      // being answered) get their responses out before the connections close, within a grace.
      onLoop(loop, [&loop = loop, server = server, inflight = inflight, grace = grace] {
        server->stopAccepting();
        drainThenClose(loop, server, inflight, std::chrono::steady_clock::now() + grace);
      });
    }
  }

  // Closes `server` once no exchange of it is in flight, or at `deadline`.
  static void drainThenClose(boost::asio::io_context& loop, std::shared_ptr<http::Server> server,
                             std::shared_ptr<std::atomic<std::size_t>> inflight,
                             std::chrono::steady_clock::time_point deadline) {
    if (inflight->load() == 0 || std::chrono::steady_clock::now() >= deadline) {
      server->close();
      return;
    }
    auto timer = std::make_shared<boost::asio::steady_timer>(loop, std::chrono::milliseconds(20));
    timer->async_wait([&loop, timer, server, inflight, deadline](boost::system::error_code) {
      drainThenClose(loop, server, inflight, deadline);
    });
  }

  // The route of `domain`, made if missing.
  std::shared_ptr<HttpRoute> route(const std::string& domain) {
    std::lock_guard lock(mutex_);
    auto& slot = routes_[domain];
    if (auto existing = slot.lock()) return existing;
    auto made = std::make_shared<HttpRoute>(shared_from_this(), domain);
    slot = made;
    return made;
  }

  void forget(const std::string& domain, const HttpRoute* route) {
    std::lock_guard lock(mutex_);
    auto it = routes_.find(domain);
    if (it != routes_.end() && (it->second.expired() || it->second.lock().get() == route)) {
      routes_.erase(it);
    }
  }

  // On the loop: a request whose head is complete goes to its domain's queue.
  void dispatch(const std::shared_ptr<http::Exchange>& exchange) {
    std::string host = exchange->head().authority;
    if (auto hp = net::parseHostPort(host)) host = hp->host;
    if (host.empty()) host = exchange->peer().sni;
    std::shared_ptr<HttpRoute> target;
    {
      std::lock_guard lock(mutex_);
      auto it = routes_.find(host);
      if (it != routes_.end()) target = it->second.lock();
      if (!target) {
        auto any = routes_.find("");
        if (any != routes_.end()) target = any->second.lock();
      }
    }
    if (!target) {
      answer(*exchange, 421,
             "misdirected request: no service here for host \"" +
                 util::escapeControl(host.substr(0, 200)) + "\"");
      return;
    }
    auto request = std::make_shared<HttpRequestObject>(loop, exchange, tls);
    std::weak_ptr<HttpRequestObject> weak = request;
    inflight->fetch_add(1);
    exchange->onFinished([weak, inflight = inflight](bool) {
      inflight->fetch_sub(1);
      if (auto object = weak.lock()) object->finished.store(true);
    });
    if (!target->push(request)) {
      request->responded.store(true);
      answer(*exchange, 503,
             "service unavailable: too many requests are already waiting for this domain (" +
                 std::to_string(HttpRoute::kMaxQueued) + " or " +
                 std::to_string(HttpRoute::kMaxQueuedBytes >> 20) + " MiB of heads)");
    }
  }

  NetContext& context;
  boost::asio::io_context& loop;
  std::string key;  // "address:port" in NetContext::http_ports (set before it is published)
  const bool tls;
  std::shared_ptr<net::tls::SniContext> sni;  // TLS only
  std::shared_ptr<http::Server> server;       // set once, on the loop
  std::shared_ptr<void> socket_token;         // counts the socket in its opener's max_sockets
  uint16_t port = 0;
  // Exchanges handed to guests and not finished: the socket's connections outlive the last
  // listener until they are 0, or `grace` has passed.
  const std::shared_ptr<std::atomic<std::size_t>> inflight =
      std::make_shared<std::atomic<std::size_t>>(0);
  std::chrono::milliseconds grace{30000};

 private:
  std::mutex mutex_;
  std::map<std::string, std::weak_ptr<HttpRoute>> routes_;
};

HttpRoute::~HttpRoute() {
  port->forget(domain, this);
  if (port->sni && !domain.empty()) port->sni->remove(domain);
  // Requests still queued are answered by their objects' destructors (500 / reset).
}

namespace {

class ListenerHandle final : public Resource {
 public:
  static constexpr HandleKind kKind = HandleKind::HttpListener;
  explicit ListenerHandle(std::shared_ptr<HttpRoute> route) : route(std::move(route)) {}
  ~ListenerHandle() override { route->cancel(this); }
  HandleKind kind() const override { return kKind; }
  std::shared_ptr<Shareable> shareable() override { return route; }
  bool cancelWait() override {
    route->cancel(this);
    return true;
  }
  const std::shared_ptr<HttpRoute> route;
};

}  // namespace

std::unique_ptr<Resource> HttpRoute::attach(Process&) {
  return std::make_unique<ListenerHandle>(std::static_pointer_cast<HttpRoute>(shared_from_this()));
}

namespace {

bool allowed(CallContext& ctx, bool tls, Capability plain, Capability secure) {
  return requireCapability(ctx, tls ? secure : plain);
}

// Serves `domain` on a TLS port with `config`; the catch-all domain (empty) serves every DNS name
// of its certificate (and clients that send no server name, when it came first).
Status addDomain(net::tls::SniContext& sni, const std::string& domain,
                 const std::shared_ptr<const net::tls::ServerConfig>& config) {
  if (!domain.empty()) return sni.add(domain, config);
  bool any = false;
  for (const std::string& name : config->names()) {
    if (!net::isDnsName(name, /*allow_wildcard=*/true)) continue;
    if (sni.add(name, config)) any = true;
  }
  if (!any) {
    return Error{"the TLS certificate (" + config->subject() +
                 ") names no DNS name to serve; give the listener a domain"};
  }
  return Ok{};
}

// A new port: binds its socket on the calling process's loop.
Result<std::shared_ptr<HttpPort>> openPort(CallContext& ctx, const netmsg::HttpListenRequest& req,
                                           const boost::asio::ip::address& address,
                                           std::shared_ptr<const net::tls::ServerConfig> tls,
                                           std::shared_ptr<void> socket_token) {
  // Its key is set once it is bound: a port that fails to open never touches the table (whose
  // lock the caller may hold).
  NetContext& context = ctx.process.network();
  auto port = std::make_shared<HttpPort>(context, ctx.process.loop(), "", tls != nullptr);
  port->socket_token = std::move(socket_token);
  http::ServerOptions options;
  options.limits = req.limits;
  if (tls) {
    auto sni = net::tls::SniContext::create();
    if (!sni) return sni.error();
    port->sni = *sni;
    auto added = addDomain(*port->sni, req.domain, tls);
    if (!added) return added.error();
    options.tls = port->sni->context();
  }
  std::weak_ptr<HttpPort> weak = port;
  auto server = http::Server::listen(ctx.process.loop(), {address, req.port}, std::move(options),
                                     [weak](std::shared_ptr<http::Exchange> exchange) {
                                       if (auto self = weak.lock()) {
                                         self->dispatch(exchange);
                                       } else {
                                         exchange->reset();
                                       }
                                     });
  if (!server) return server.error();
  port->server = *server;
  port->port = port->server->port();
  port->grace = std::max(req.limits.response_timeout, req.limits.send_timeout);
  return port;
}

}  // namespace

namespace hostcalls {

int32_t http_listen(CallContext& ctx, GuestIn request) {
  auto decoded = netmsg::decodeHttpListen(request.bytes);
  if (!decoded) return fail(ctx, ErrorCode::InvalidArgument, decoded.error().message);
  const netmsg::HttpListenRequest& req = *decoded;
  const bool tls = req.tls != SELIUM_TLS_NONE;
  if (!requireCapability(ctx, tls ? Capability::NetHttpsBind : Capability::NetHttpBind)) {
    return denied();
  }
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(req.address, ec);
  if (ec) {
    return fail(
        ctx, ErrorCode::InvalidArgument,
        "address \"" + util::escapeControl(req.address.substr(0, 200)) + "\" is not an IP address");
  }
  std::shared_ptr<const net::tls::ServerConfig> config;
  if (req.tls == SELIUM_TLS_DEFAULT) {
    auto loaded = ctx.process.network().defaultHttpsConfig();
    if (!loaded) return fail(ctx, ErrorCode::InvalidArgument, loaded.error().message);
    config = *loaded;
  } else if (tls) {
    int32_t error = 0;
    config = serverTlsConfig(ctx, req.tls, error);
    if (!config) return error;
  }
  if (config && !req.domain.empty() && !config->covers(req.domain)) {
    return fail(ctx, ErrorCode::InvalidArgument,
                "the TLS certificate (" + config->subject() + ") does not cover domain \"" +
                    req.domain + "\"");
  }
  const std::string where = net::formatAddress(address, req.port);
  NetContext& context = ctx.process.network();
  std::shared_ptr<HttpPort> port;
  if (req.port != 0) {
    std::lock_guard lock(context.http_mutex);
    auto it = context.http_ports.find(where);
    if (it != context.http_ports.end()) port = it->second.lock();
    if (port && port->tls != tls) {
      return fail(ctx, ErrorCode::InvalidArgument,
                  where + " is bound for " + (port->tls ? "HTTPS" : "plain HTTP") + " already; a " +
                      (tls ? "TLS" : "plain") + " listener needs another port");
    }
    if (port && tls) {
      auto added = addDomain(*port->sni, req.domain, config);
      if (!added) return fail(ctx, ErrorCode::InvalidArgument, added.error().message);
    }
    if (!port) {
      auto reserved = net_driver::reserveSocket(ctx, "listening on " + where);
      if (const int32_t* failed = std::get_if<int32_t>(&reserved)) return *failed;
      auto opened =
          openPort(ctx, req, address, config, std::get<std::shared_ptr<void>>(std::move(reserved)));
      if (!opened) {
        const std::string& why = opened.error().message;
        const bool in_use = why.find("in use") != std::string::npos;
        return fail(ctx, in_use ? ErrorCode::AlreadyExists : ErrorCode::InvalidArgument,
                    "cannot listen on " + where + ": " + why);
      }
      port = *opened;
      port->key = where;
      context.http_ports[where] = port;
      log::info("listening for HTTP", {{"address", net::formatAddress(address, port->port)},
                                       {"tls", tls},
                                       {"pid", ctx.process.id()},
                                       {"module", ctx.process.module()}});
    }
  } else {
    // The system picks the port; later binds of address:port join it like any other.
    auto reserved = net_driver::reserveSocket(ctx, "listening on " + where);
    if (const int32_t* failed = std::get_if<int32_t>(&reserved)) return *failed;
    auto opened =
        openPort(ctx, req, address, config, std::get<std::shared_ptr<void>>(std::move(reserved)));
    if (!opened) {
      return fail(ctx, ErrorCode::InvalidArgument,
                  "cannot listen on " + where + ": " + opened.error().message);
    }
    port = *opened;
    port->key = net::formatAddress(address, port->port);
    std::lock_guard lock(context.http_mutex);
    context.http_ports[port->key] = port;
    log::info("listening for HTTP", {{"address", port->key},
                                     {"tls", tls},
                                     {"pid", ctx.process.id()},
                                     {"module", ctx.process.module()}});
  }
  return insert(ctx, std::make_unique<ListenerHandle>(port->route(req.domain)));
}

int32_t http_listener_port(CallContext& ctx, int32_t listener) {
  int32_t error = 0;
  auto* handle = find<ListenerHandle>(ctx, listener, "HTTP listener", error);
  if (handle == nullptr) return error;
  return handle->route->port->port;
}

int32_t http_accept(CallContext& ctx, int32_t listener, int32_t waker) {
  int32_t error = 0;
  auto* handle = find<ListenerHandle>(ctx, listener, "HTTP listener", error);
  if (handle == nullptr) return error;
  if (!allowed(ctx, handle->route->port->tls, Capability::NetHttpAccept,
               Capability::NetHttpsAccept)) {
    return denied();
  }
  auto request = handle->route->pop(handle, ctx.process.waker(waker));
  if (!request) return -static_cast<int32_t>(ErrorCode::WouldBlock);
  return insert(ctx, std::make_unique<RequestHandle>(std::move(request)));
}

int32_t http_request_head(CallContext& ctx, int32_t request, GuestOut buf) {
  int32_t error = 0;
  auto* handle = find<RequestHandle>(ctx, request, "HTTP request", error);
  if (handle == nullptr) return error;
  if (!allowed(ctx, handle->object->tls, Capability::NetHttpRead, Capability::NetHttpsRead)) {
    return denied();
  }
  const std::vector<uint8_t>& head = handle->object->head;
  if (head.size() <= buf.bytes.size()) std::memcpy(buf.bytes.data(), head.data(), head.size());
  return static_cast<int32_t>(head.size());
}

int32_t http_request_body(CallContext& ctx, int32_t request) {
  int32_t error = 0;
  auto* handle = find<RequestHandle>(ctx, request, "HTTP request", error);
  if (handle == nullptr) return error;
  HttpRequestObject& object = *handle->object;
  if (!allowed(ctx, object.tls, Capability::NetHttpRead, Capability::NetHttpsRead)) {
    return denied();
  }
  if (object.body_taken.exchange(true)) {
    return fail(ctx, ErrorCode::AlreadyExists,
                "the body of the request of " + handleText(request) +
                    " has a reader already (share that reader to read it elsewhere)");
  }
  auto created = createChargedChannel(ctx, SELIUM_BODY_RING_BYTES, Backpressure::Park);
  if (const int32_t* failed = std::get_if<int32_t>(&created)) {
    object.body_taken.store(false);
    return *failed;
  }
  auto channel = std::get<std::shared_ptr<Channel>>(std::move(created));
  channel->markByteStream(object.tls ? Capability::NetHttpsRead : Capability::NetHttpRead,
                          object.tls ? Capability::NetHttpsWrite : Capability::NetHttpWrite);
  // The guest's reader exists before the host writes: it holds every frame for the guest.
  auto reader = ChannelReader::open(channel, Strength::Strong);
  const int32_t result = insert(ctx, makeReaderResource(reader));
  if (result < 0) {
    channel->close();
    return result;
  }
  onLoop(object.loop, [&loop = object.loop, exchange = object.exchange, channel] {
    std::weak_ptr<http::Exchange> weak = exchange;
    exchange->setBodyConsumer(ChannelSink::create(loop, channel, [weak] {
      if (auto e = weak.lock()) e->resumeBody();
    }));
  });
  return result;
}

int32_t http_respond(CallContext& ctx, int32_t request, GuestIn head) {
  int32_t error = 0;
  auto* handle = find<RequestHandle>(ctx, request, "HTTP request", error);
  if (handle == nullptr) return error;
  HttpRequestObject& object = *handle->object;
  if (!allowed(ctx, object.tls, Capability::NetHttpWrite, Capability::NetHttpsWrite)) {
    return denied();
  }
  auto decoded = netmsg::decodeHttpResponseHead(head.bytes);
  if (!decoded) return fail(ctx, ErrorCode::InvalidArgument, decoded.error().message);
  if (object.finished.load()) {
    return fail(ctx, ErrorCode::Closed,
                "the request of " + handleText(request) +
                    " is over: its client went away, or it was answered with 504 after the "
                    "listener's response timeout");
  }
  if (object.responded.exchange(true)) {
    return fail(ctx, ErrorCode::AlreadyExists,
                "the request of " + handleText(request) + " was answered already");
  }
  http::ResponseHead response = std::move(decoded->head);
  const bool bodiless = object.head_request || response.status == 204 || response.status == 304;
  if (decoded->body || bodiless || response.content_length == std::optional<uint64_t>(0)) {
    std::shared_ptr<http::BodyProducer> body;
    if (decoded->body && !decoded->body->empty()) {
      // Held until sent (a client that does not read keeps it): counted like a body ring.
      auto charged = chargeChannelBudget(ctx, decoded->body->size(), "a response body");
      if (const int32_t* failed = std::get_if<int32_t>(&charged)) {
        object.responded.store(false);
        return *failed;
      }
      body = std::make_shared<net::StaticBytes>(
          std::move(*decoded->body), std::get<std::shared_ptr<void>>(std::move(charged)));
    }
    onLoop(object.loop, [exchange = object.exchange, response = std::move(response),
                         body = std::move(body)]() mutable {
      exchange->respond(std::move(response), std::move(body));
    });
    return 0;
  }
  auto created = createChargedChannel(ctx, SELIUM_BODY_RING_BYTES, Backpressure::Park);
  if (const int32_t* failed = std::get_if<int32_t>(&created)) {
    object.responded.store(false);
    return *failed;
  }
  auto channel = std::get<std::shared_ptr<Channel>>(std::move(created));
  channel->markByteStream(object.tls ? Capability::NetHttpsRead : Capability::NetHttpRead,
                          object.tls ? Capability::NetHttpsWrite : Capability::NetHttpWrite);
  std::weak_ptr<Channel> weak_channel = channel;
  // A writer that goes away without stream_finish cuts the body short.
  auto writer = ChannelWriter::open(channel, Strength::Strong, [weak_channel] {
    if (auto c = weak_channel.lock(); c && !c->draining()) c->close();
  });
  const int32_t result = insert(ctx, makeWriterResource(writer));
  if (result < 0) {
    object.responded.store(false);
    return result;
  }
  std::weak_ptr<http::Exchange> weak = object.exchange;
  auto source = ChannelSource::create(object.loop, channel, response.content_length, [weak] {
    if (auto e = weak.lock()) e->resumeResponse();
  });
  onLoop(object.loop, [exchange = object.exchange, response = std::move(response),
                       source = std::move(source)]() mutable {
    if (!exchange->respond(std::move(response), source)) source->close();
  });
  return result;
}

}  // namespace hostcalls
}  // namespace selium::kernel
