// What the Client (client.cc) and its protocol connections (HTTP/1.1: client_h1.cc, HTTP/2:
// client_h2.cc) share: the exchange object both hold, and the connection interface. Loop thread
// only.
//
// The rule that keeps this re-entrancy-free (as in the server's connections): application calls
// on a ClientExchange only record what changed and call ClientConnection::wake(), which posts the
// connection's work; connections call the exchange's connection-side functions (deliver, finish)
// from their own completions, and those post every application callback (the response handler,
// the consumer's end(), onFinished) instead of running it inside the connection.
#pragma once

#include <boost/asio/post.hpp>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "net/http/client.h"
#include "net/http/connection.h"

namespace selium::net::http::detail {

class ClientExchangeImpl;

// One connection to the origin, whatever its protocol.
class ClientConnection {
 public:
  virtual ~ClientConnection() = default;
  // Whether start() may be called now (HTTP/1.1: no exchange running and the connection is
  // reusable; HTTP/2: fewer streams open than the server allows, no GOAWAY received).
  virtual bool canStart() const = 0;
  // Whether it may ever take another exchange (false once closed, after GOAWAY, or after an
  // HTTP/1.1 response that ends the connection): the Client stops using it and, when it has
  // queued exchanges, connects anew.
  virtual bool reusable() const = 0;
  // Runs an exchange (canStart() was true). The connection sends the head and the body, then
  // delivers the response head and feeds the body to exchange->consumer() with backpressure, and
  // ends with exchange->finish().
  virtual void start(std::shared_ptr<ClientExchangeImpl> exchange) = 0;
  // The application changed something on a running exchange (consumer set, resumeBody,
  // resumeRequest, reset): post a look at it (never act inside this call).
  virtual void wake() = 0;
  // Closes the socket; every running exchange finishes with `reason`. Idempotent.
  virtual void close(const std::string& reason) = 0;
  virtual const ClientConnectionInfo& info() const = 0;
};

// What a connection tells its Client (posted calls, never inside a Client call).
struct ClientConnectionEvents {
  // An exchange finished, or the connection can take more (HTTP/2 SETTINGS raised the limit):
  // the Client starts queued exchanges, or drops the connection if !reusable().
  std::function<void()> on_ready;
  // The connection is closed (socket gone); reusable() is false from now on.
  std::function<void()> on_closed;
};

struct ClientConnectionContext {
  boost::asio::io_context* loop = nullptr;
  ClientLimits limits;
  ClientConnectionInfo info;  // remote address; alpn as negotiated
  std::string origin;         // "host:port" (IPv6 in brackets), for error messages
  ClientConnectionEvents events;
};

// HTTP/1.1 over a connected socket, or a TLS stream whose handshake is done (client_h1.cc).
std::shared_ptr<ClientConnection> startH1ClientConnection(TcpSocket socket,
                                                          ClientConnectionContext context);
std::shared_ptr<ClientConnection> startH1ClientConnection(std::unique_ptr<TlsStream> stream,
                                                          ClientConnectionContext context);
// HTTP/2 over a TLS stream that negotiated ALPN "h2" (client_h2.cc).
std::shared_ptr<ClientConnection> startH2ClientConnection(std::unique_ptr<TlsStream> stream,
                                                          ClientConnectionContext context);

// One request and its response, held by the application (as ClientExchange), the Client's queue
// and then the connection running it.
class ClientExchangeImpl final : public ClientExchange,
                                 public std::enable_shared_from_this<ClientExchangeImpl> {
 public:
  ClientExchangeImpl(boost::asio::io_context& loop, RequestHead head,
                     std::shared_ptr<ByteProducer> body, ResponseHandler on_response)
      : loop_(loop),
        head_(std::move(head)),
        body_(std::move(body)),
        on_response_(std::move(on_response)) {}

  // --- application side (ClientExchange) ---
  void setBodyConsumer(std::shared_ptr<ByteConsumer> consumer) override {
    if (consumer_ || !consumer) return;
    consumer_ = std::move(consumer);
    if (finished_) {
      endConsumer();
      return;
    }
    poke();
  }
  void resumeBody() override { poke(); }
  void resumeRequest() override { poke(); }
  void reset() override {
    if (finished_ || reset_) return;
    reset_ = true;
    on_response_ = nullptr;
    poke();
    // A queued exchange has no connection to notice: the Client drops it when it looks (and
    // finish() runs here so that onFinished fires either way).
    if (connection_.expired()) finish(false, "reset by the application");
  }
  bool finished() const override { return finished_; }
  void onFinished(std::function<void(bool clean)> callback) override {
    if (!callback) return;
    if (!finished_) {
      on_finished_ = std::move(callback);
      return;
    }
    boost::asio::post(loop_, [callback = std::move(callback), clean = clean_] { callback(clean); });
  }

  // --- connection side ---
  boost::asio::io_context& loop() { return loop_; }
  // Head as the Client completed it: authority filled in, headers validated.
  const RequestHead& head() const { return head_; }
  // The request body (null: none). The connection pulls it while it can send.
  ByteProducer* body() const { return body_.get(); }
  // Null until the application sets one: hold response body bytes until then.
  ByteConsumer* consumer() const { return consumer_.get(); }
  // The application reset it: the connection stops it (h1: close; h2: RST_STREAM CANCEL) and
  // calls finish(false, ...).
  bool abandoned() const { return reset_; }
  bool headDelivered() const { return head_delivered_; }

  // The connection running it (set by start(); wake() goes there).
  void bind(std::weak_ptr<ClientConnection> connection) { connection_ = std::move(connection); }

  // The response head (once; posted to the handler). For a response without a body (HEAD, 204,
  // 304, content-length 0) the connection calls finish(true) right after.
  void deliver(ClientResponse response) {
    if (head_delivered_ || finished_) return;
    head_delivered_ = true;
    if (auto handler = std::move(on_response_)) {
      on_response_ = nullptr;
      boost::asio::post(loop_, [handler = std::move(handler), response = std::move(response),
                                self = shared_from_this()]() mutable {
        if (!self->reset_) handler(std::move(response));
      });
    }
  }

  // The exchange is over. Before the head: the handler gets Error{reason}. After it: the
  // consumer's end(clean) (every body byte must have been offered and taken before a clean
  // finish). Idempotent; the first call decides.
  void finish(bool clean, const std::string& reason) {
    if (finished_) return;
    finished_ = true;
    clean_ = clean && head_delivered_;
    connection_.reset();
    if (!head_delivered_) {
      if (auto handler = std::move(on_response_)) {
        on_response_ = nullptr;
        boost::asio::post(loop_,
                          [handler = std::move(handler), reason] { handler(Error{reason}); });
      }
    }
    if (consumer_) endConsumer();
    if (auto callback = std::move(on_finished_)) {
      on_finished_ = nullptr;
      boost::asio::post(loop_,
                        [callback = std::move(callback), clean = clean_] { callback(clean); });
    }
    body_.reset();
  }

 private:
  void poke() {
    if (auto connection = connection_.lock()) connection->wake();
  }
  void endConsumer() {
    if (consumer_ended_) return;
    consumer_ended_ = true;
    boost::asio::post(loop_, [consumer = consumer_, clean = clean_] { consumer->end(clean); });
  }

  boost::asio::io_context& loop_;
  RequestHead head_;
  std::shared_ptr<ByteProducer> body_;
  ResponseHandler on_response_;
  std::shared_ptr<ByteConsumer> consumer_;
  std::function<void(bool)> on_finished_;
  std::weak_ptr<ClientConnection> connection_;
  bool head_delivered_ = false;
  bool reset_ = false;
  bool finished_ = false;
  bool clean_ = false;
  bool consumer_ended_ = false;
};

}  // namespace selium::net::http::detail
