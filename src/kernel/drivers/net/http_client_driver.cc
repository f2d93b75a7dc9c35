#include "kernel/drivers/net/http_client_driver.h"

#include <selium/abi/hostcalls.h>

#include <cstring>
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
#include "net/address.h"
#include "net/http/client.h"
#include "util/log.h"

namespace selium::kernel {

using net_driver::denied;
using net_driver::find;
using net_driver::handleText;
using net_driver::insert;
using net_driver::onLoop;
using net_driver::wouldBlock;

namespace http = net::http;

namespace {

// Wakers of one process-side wait, by the handle that waits (one each).
class WaitList {
 public:
  void add(const void* key, Waker waker) { waiters_[key] = std::move(waker); }
  void cancel(const void* key) { waiters_.erase(key); }
  std::vector<Waker> take() {
    std::vector<Waker> out;
    out.reserve(waiters_.size());
    for (auto& [key, waker] : waiters_) out.push_back(std::move(waker));
    waiters_.clear();
    return out;
  }

 private:
  std::map<const void*, Waker> waiters_;
};

void fireAll(const std::vector<Waker>& wakers) {
  for (const Waker& waker : wakers) waker.fire();
}

}  // namespace

// One client handle's object: the protocol client on its loop, and how many of its requests are
// unfinished (at most SELIUM_HTTP_CLIENT_MAX_PENDING).
class HttpClientObject final : public Shareable {
 public:
  HttpClientObject(boost::asio::io_context& loop, std::shared_ptr<http::Client> client, bool tls,
                   std::string origin, std::size_t head_limit, std::shared_ptr<void> charge,
                   std::shared_ptr<void> socket)
      : loop(loop),
        tls(tls),
        origin(std::move(origin)),
        head_limit(head_limit),
        client_(std::move(client)),
        charge_(std::move(charge)),
        socket_(std::move(socket)) {}
  ~HttpClientObject() override {
    // The socket is counted out once the connection is closed, on the loop.
    onLoop(loop, [client = std::move(client_), socket = std::move(socket_)] { client->close(); });
  }
  HandleKind kind() const override { return HandleKind::HttpClient; }
  std::unique_ptr<Resource> attach(Process& process) override;

  std::shared_ptr<HttpClientObject> self() {
    return std::static_pointer_cast<HttpClientObject>(shared_from_this());
  }
  // The protocol client: touched on `loop` only.
  const std::shared_ptr<http::Client>& client() const { return client_; }

  // Takes a pending slot, or records `waker` for `key` and says no.
  bool reserve(const void* key, Waker waker) {
    std::lock_guard lock(mutex_);
    if (pending_ < SELIUM_HTTP_CLIENT_MAX_PENDING) {
      ++pending_;
      return true;
    }
    waiters_.add(key, std::move(waker));
    return false;
  }
  void release() {
    std::vector<Waker> wake;
    {
      std::lock_guard lock(mutex_);
      --pending_;
      wake = waiters_.take();
    }
    fireAll(wake);
  }
  void cancel(const void* key) {
    std::lock_guard lock(mutex_);
    waiters_.cancel(key);
  }

  boost::asio::io_context& loop;
  const bool tls;
  const std::string origin;      // "host:port", for messages
  const std::size_t head_limit;  // the response head limit each request counts in the budget

 private:
  std::shared_ptr<http::Client> client_;
  std::shared_ptr<void> charge_;  // SELIUM_HTTP_CLIENT_BYTES of the creator's budget
  std::shared_ptr<void> socket_;  // its connection, in the creator's max_sockets
  std::mutex mutex_;
  std::size_t pending_ = 0;
  WaitList waiters_;
};

// One request sent and its response.
class HttpExchangeObject final : public Shareable {
 public:
  HttpExchangeObject(std::shared_ptr<HttpClientObject> client, std::string what,
                     std::shared_ptr<void> charge)
      : client(std::move(client)), what(std::move(what)), charge_(std::move(charge)) {}
  ~HttpExchangeObject() override {
    // Nobody holds it any more: a request still running is abandoned; an unwritten body is cut.
    onLoop(client->loop, [exchange = std::move(exchange), writer = std::move(body_writer_)] {
      if (exchange && !exchange->finished()) exchange->reset();
    });
  }
  HandleKind kind() const override { return HandleKind::HttpExchange; }
  std::unique_ptr<Resource> attach(Process& process) override;

  std::shared_ptr<HttpExchangeObject> self() {
    return std::static_pointer_cast<HttpExchangeObject>(shared_from_this());
  }

  // On the loop: the response head, or why the request failed first.
  void answered(Result<http::ClientResponse> response) {
    std::vector<Waker> wake;
    {
      std::lock_guard lock(mutex_);
      if (response) {
        head_ = netmsg::encodeResponseHead(response->head, response->version);
      } else {
        error_ = response.error().message;
      }
      wake = waiters_.take();
    }
    fireAll(wake);
  }

  enum class Head { Waiting, Ready, Failed };
  Head head(const void* key, Waker waker, std::vector<uint8_t>& out, std::string& error) {
    std::lock_guard lock(mutex_);
    if (!head_.empty()) {
      out = head_;
      return Head::Ready;
    }
    if (!error_.empty()) {
      error = error_;
      return Head::Failed;
    }
    waiters_.add(key, std::move(waker));
    return Head::Waiting;
  }
  void cancel(const void* key) {
    std::lock_guard lock(mutex_);
    waiters_.cancel(key);
  }

  // The writer of a streamed request body, held until http_send_body hands it out.
  void holdBodyWriter(std::shared_ptr<ChannelWriter> writer) {
    std::lock_guard lock(mutex_);
    body_writer_ = std::move(writer);
  }
  std::shared_ptr<ChannelWriter> takeBodyWriter() {
    std::lock_guard lock(mutex_);
    return std::move(body_writer_);
  }

  const std::shared_ptr<HttpClientObject> client;
  const std::string what;  // "GET http://host:port/path", for messages
  bool streamed = false;   // the request body is written through http_send_body
  Capability read_cap = Capability::NetHttpRead;
  Capability write_cap = Capability::NetHttpWrite;
  // Touched on the client's loop only (set by the send, posted before any other use).
  std::shared_ptr<http::ClientExchange> exchange;
  std::atomic<bool> body_taken{false};

 private:
  std::shared_ptr<void> charge_;  // the request's share of the creator's budget
  std::mutex mutex_;
  std::vector<uint8_t> head_;  // FlatBuffers HttpResponseHead once it arrived
  std::string error_;          // why the request failed, if it did
  WaitList waiters_;
  std::shared_ptr<ChannelWriter> body_writer_;
};

namespace {

using ClientHandle = net_driver::WaitingHandle<HttpClientObject, HandleKind::HttpClient>;
using ExchangeHandle = net_driver::WaitingHandle<HttpExchangeObject, HandleKind::HttpExchange>;

Capability pick(bool tls, Capability plain, Capability secure) { return tls ? secure : plain; }

}  // namespace

std::unique_ptr<Resource> HttpClientObject::attach(Process&) {
  return std::make_unique<ClientHandle>(self());
}

std::unique_ptr<Resource> HttpExchangeObject::attach(Process&) {
  return std::make_unique<ExchangeHandle>(self());
}

namespace hostcalls {

int32_t http_connect(CallContext& ctx, GuestIn request) {
  auto decoded = netmsg::decodeHttpConnect(request.bytes);
  if (!decoded) return fail(ctx, ErrorCode::InvalidArgument, decoded.error().message);
  netmsg::HttpConnectRequest& req = *decoded;
  const bool tls = req.tls != SELIUM_TLS_NONE;
  if (!requireCapability(ctx, pick(tls, Capability::NetHttpConnect, Capability::NetHttpsConnect))) {
    return denied();
  }
  http::Origin origin;
  origin.host = req.host;
  origin.port = req.port;
  if (req.tls == SELIUM_TLS_DEFAULT) {
    auto loaded = ctx.process.network().defaultClientConfig({"h2", "http/1.1"});
    if (!loaded) return fail(ctx, ErrorCode::InvalidArgument, loaded.error().message);
    origin.tls = *loaded;
  } else if (tls) {
    int32_t error = 0;
    origin.tls = clientTlsConfig(ctx, req.tls, error);
    if (!origin.tls) return error;
  }
  std::string where = net::formatHostPort(req.host, req.port);
  auto socket = net_driver::reserveSocket(ctx, "an HTTP client of " + where);
  if (const int32_t* failed = std::get_if<int32_t>(&socket)) return *failed;
  auto charged = chargeChannelBudget(ctx, SELIUM_HTTP_CLIENT_BYTES, "an HTTP client");
  if (const int32_t* failed = std::get_if<int32_t>(&charged)) return *failed;
  const std::size_t head_limit = req.limits.max_header_bytes;
  auto client = http::Client::create(ctx.process.loop(), std::move(origin), req.limits);
  auto object = std::make_shared<HttpClientObject>(
      ctx.process.loop(), std::move(client), tls, (tls ? "https://" : "http://") + where,
      head_limit, std::get<std::shared_ptr<void>>(std::move(charged)),
      std::get<std::shared_ptr<void>>(std::move(socket)));
  return insert(ctx, std::make_unique<ClientHandle>(std::move(object)));
}

int32_t http_send(CallContext& ctx, int32_t client, GuestIn request, int32_t waker) {
  int32_t error = 0;
  auto* handle = find<ClientHandle>(ctx, client, "HTTP client", error);
  if (handle == nullptr) return error;
  const std::shared_ptr<HttpClientObject>& object = handle->object;
  if (!requireCapability(ctx,
                         pick(object->tls, Capability::NetHttpWrite, Capability::NetHttpsWrite))) {
    return denied();
  }
  auto decoded = netmsg::decodeHttpRequest(request.bytes);
  if (!decoded) return fail(ctx, ErrorCode::InvalidArgument, decoded.error().message);
  http::RequestHead head = std::move(decoded->head);
  const bool streamed = !decoded->body && head.content_length != std::optional<uint64_t>(0);

  // What the request makes the host hold: its head and inline body, the response head (up to the
  // client's limit) and, for a streamed body, its ring.
  std::size_t held = head.method.size() + head.target.size() + head.authority.size() +
                     object->head_limit + (decoded->body ? decoded->body->size() : 0);
  for (const http::Header& h : head.headers) held += h.name.size() + h.value.size() + 32;
  auto charged = chargeChannelBudget(ctx, held, "an HTTP request");
  if (const int32_t* failed = std::get_if<int32_t>(&charged)) return *failed;
  std::shared_ptr<Channel> channel;
  if (streamed) {
    auto created = createChargedChannel(ctx, SELIUM_BODY_RING_BYTES, Backpressure::Park);
    if (const int32_t* failed = std::get_if<int32_t>(&created)) return *failed;
    channel = std::get<std::shared_ptr<Channel>>(std::move(created));
  }
  if (!object->reserve(handle, ctx.process.waker(waker))) return wouldBlock();

  auto exchange = std::make_shared<HttpExchangeObject>(
      object, head.method + " " + object->origin + head.target.substr(0, 200),
      std::get<std::shared_ptr<void>>(std::move(charged)));
  exchange->streamed = streamed;
  exchange->read_cap = pick(object->tls, Capability::NetHttpRead, Capability::NetHttpsRead);
  exchange->write_cap = pick(object->tls, Capability::NetHttpWrite, Capability::NetHttpsWrite);
  const int32_t result = insert(ctx, std::make_unique<ExchangeHandle>(exchange));
  if (result < 0) {
    object->release();
    return result;
  }

  std::shared_ptr<ChannelSource> source;
  auto resume = std::make_shared<std::weak_ptr<http::ClientExchange>>();
  if (streamed) {
    channel->markByteStream(exchange->read_cap, exchange->write_cap);
    std::weak_ptr<Channel> weak_channel = channel;
    // A writer that goes away without stream_finish aborts the request.
    exchange->holdBodyWriter(ChannelWriter::open(channel, Strength::Strong, [weak_channel] {
      if (auto c = weak_channel.lock(); c && !c->draining()) c->close();
    }));
    // Set by the send (below), on the loop: until then there is nothing to resume.
    source = ChannelSource::create(object->loop, channel, head.content_length, [resume] {
      if (auto e = resume->lock()) e->resumeRequest();
    });
  }
  std::shared_ptr<net::ByteProducer> body;
  if (decoded->body && !decoded->body->empty()) {
    body = std::make_shared<net::StaticBytes>(std::move(*decoded->body));
  } else if (source) {
    body = source;
  }
  std::weak_ptr<HttpExchangeObject> weak = exchange;
  onLoop(object->loop, [object, exchange, weak, head = std::move(head), body = std::move(body),
                        source, resume]() mutable {
    auto sent = object->client()->send(std::move(head), std::move(body),
                                       [weak](Result<http::ClientResponse> response) {
                                         if (auto e = weak.lock()) e->answered(std::move(response));
                                       });
    if (!sent) {
      if (source) source->close();
      exchange->answered(Error{"cannot send " + exchange->what + ": " + sent.error().message});
      object->release();
      return;
    }
    exchange->exchange = *sent;
    *resume = *sent;
    (*sent)->onFinished([object, source](bool) {
      if (source) source->close();
      object->release();
    });
  });
  return result;
}

int32_t http_send_body(CallContext& ctx, int32_t exchange) {
  int32_t error = 0;
  auto* handle = find<ExchangeHandle>(ctx, exchange, "HTTP exchange", error);
  if (handle == nullptr) return error;
  HttpExchangeObject& object = *handle->object;
  if (!requireCapability(ctx, object.write_cap)) return denied();
  if (!object.streamed) {
    return fail(ctx, ErrorCode::InvalidArgument,
                "the request of " + handleText(exchange) +
                    " has no body to stream: it was sent whole, or with content_length 0");
  }
  auto writer = object.takeBodyWriter();
  if (!writer) {
    return fail(ctx, ErrorCode::AlreadyExists,
                "the body writer of the request of " + handleText(exchange) +
                    " was taken already (share that writer to write from elsewhere)");
  }
  return insert(ctx, makeWriterResource(std::move(writer)));
}

int32_t http_response_head(CallContext& ctx, int32_t exchange, GuestOut buf, int32_t waker) {
  int32_t error = 0;
  auto* handle = find<ExchangeHandle>(ctx, exchange, "HTTP exchange", error);
  if (handle == nullptr) return error;
  HttpExchangeObject& object = *handle->object;
  if (!requireCapability(ctx, object.read_cap)) return denied();
  std::vector<uint8_t> head;
  std::string why;
  switch (object.head(handle, ctx.process.waker(waker), head, why)) {
    case HttpExchangeObject::Head::Waiting:
      return wouldBlock();
    case HttpExchangeObject::Head::Failed:
      return fail(ctx, ErrorCode::Closed, why);
    case HttpExchangeObject::Head::Ready:
      break;
  }
  if (head.size() <= buf.bytes.size()) std::memcpy(buf.bytes.data(), head.data(), head.size());
  return static_cast<int32_t>(head.size());
}

int32_t http_response_body(CallContext& ctx, int32_t exchange) {
  int32_t error = 0;
  auto* handle = find<ExchangeHandle>(ctx, exchange, "HTTP exchange", error);
  if (handle == nullptr) return error;
  HttpExchangeObject& object = *handle->object;
  if (!requireCapability(ctx, object.read_cap)) return denied();
  if (object.body_taken.exchange(true)) {
    return fail(ctx, ErrorCode::AlreadyExists,
                "the response body of " + handleText(exchange) +
                    " has a reader already (share that reader to read it elsewhere)");
  }
  auto created = createChargedChannel(ctx, SELIUM_BODY_RING_BYTES, Backpressure::Park);
  if (const int32_t* failed = std::get_if<int32_t>(&created)) {
    object.body_taken.store(false);
    return *failed;
  }
  auto channel = std::get<std::shared_ptr<Channel>>(std::move(created));
  channel->markByteStream(object.read_cap, object.write_cap);
  auto reader = ChannelReader::open(channel, Strength::Strong);
  const int32_t result = insert(ctx, makeReaderResource(reader));
  if (result < 0) {
    channel->close();
    return result;
  }
  auto& loop = object.client->loop;
  onLoop(loop, [&loop, object = handle->object, channel] {
    if (!object->exchange) {
      // The send failed: there is no body.
      channel->close();
      return;
    }
    std::weak_ptr<http::ClientExchange> weak = object->exchange;
    object->exchange->setBodyConsumer(ChannelSink::create(loop, channel, [weak] {
      if (auto e = weak.lock()) e->resumeBody();
    }));
  });
  return result;
}

}  // namespace hostcalls
}  // namespace selium::kernel
