// Typed messaging through the Switchboard system module (docs/switchboard.md): endpoints
// register a name and a schema, and the Switchboard wires them to their peers. Messages travel
// over channels between the endpoints directly; the Switchboard is only the control plane.
//
//   auto board = selium::Switchboard::connect();                 // SingletonLookup
//   auto orders = co_await board->publisher<Order>("orders");    // ChannelLifecycle, ...
//   co_await orders->ready();                                     // a subscriber is wired
//   co_await orders->send(order);
//
//   auto calc = co_await board->client<Sum, Total>("calc");
//   auto total = co_await calc->request(Sum{2, 3});               // only this client's reply
//
// A message type T names its schema and codes itself (or specialise MessageTraits<T>):
//
//   struct Order {
//     static constexpr std::string_view kSchemaName = "shop.Order";  // the FlatBuffers table
//     static std::vector<uint8_t> encode(const Order&);
//     static std::optional<Order> decode(std::span<const uint8_t>);
//   };
//
// std::string (schema "selium.Text") and std::vector<uint8_t> ("selium.Bytes") work as they
// are. Failures are Outcome<T>: a code and a message naming the problem.
//
// Endpoint objects are used from one task at a time, except that several tasks may call
// Client::request and Server::reply concurrently. Destroying an endpoint unregisters it; when
// the process ends, the Switchboard removes every endpoint it registered.
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "selium/channel.hpp"
#include "selium/result.hpp"
#include "selium/switchboard_protocol.hpp"
#include "selium/task.hpp"

namespace selium {

using switchboard::EndpointId;
using switchboard::EndpointKind;
using switchboard::SchemaId;

// The schema id of a fully qualified type name ("shop.Order"): two FNV-1a 64-bit hashes, of the
// name and of "selium.schema:" + the name, little-endian. Stable across builds and languages.
constexpr SchemaId schemaId(std::string_view name) noexcept {
  auto fnv = [](std::string_view prefix, std::string_view text) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (char c : prefix) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
    for (char c : text) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
    return h;
  };
  uint64_t a = fnv("", name);
  uint64_t b = fnv("selium.schema:", name);
  SchemaId id{};
  for (int i = 0; i < 8; ++i) {
    id[static_cast<std::size_t>(i)] = static_cast<uint8_t>(a >> (8 * i));
    id[static_cast<std::size_t>(8 + i)] = static_cast<uint8_t>(b >> (8 * i));
  }
  return id;
}

namespace switchboard {

// A failure with the message that names it: the Switchboard's refusal, a server's error reply,
// or the host's last_error() for a failed hostcall.
struct Failure {
  ErrorCode code = ErrorCode::Internal;
  std::string message;
};

// A value or a Failure. Reading the wrong one traps.
template <typename T>
class [[nodiscard]] Outcome {
 public:
  Outcome(T value) noexcept : value_(std::move(value)) {}
  Outcome(Failure failure) noexcept : failure_(std::move(failure)) {}

  bool ok() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & noexcept { return check(), *value_; }
  T&& value() && noexcept { return check(), std::move(*value_); }
  T& operator*() & noexcept { return value(); }
  T* operator->() noexcept { return &value(); }
  const Failure& error() const noexcept {
    if (ok()) detail::fatal("selium::switchboard::Outcome::error() on a value");
    return failure_;
  }

 private:
  void check() const noexcept {
    if (!ok()) detail::fatal("selium::switchboard::Outcome::value() on a failure");
  }
  std::optional<T> value_;
  Failure failure_;
};

template <>
class [[nodiscard]] Outcome<void> {
 public:
  Outcome() noexcept = default;
  Outcome(Failure failure) noexcept : failure_(std::move(failure)) {}
  bool ok() const noexcept { return !failure_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  const Failure& error() const noexcept {
    if (ok()) detail::fatal("selium::switchboard::Outcome::error() on success");
    return *failure_;
  }

 private:
  std::optional<Failure> failure_;
};

}  // namespace switchboard

// How a message type is identified and coded. The default uses T's own static members
// (kSchemaName or kSchemaId, encode, decode); specialise it for types you cannot change.
template <typename T>
struct MessageTraits {
  static constexpr SchemaId schema() noexcept {
    if constexpr (requires { T::kSchemaId; }) {
      return T::kSchemaId;
    } else {
      return schemaId(T::kSchemaName);
    }
  }
  static std::vector<uint8_t> encode(const T& value) { return T::encode(value); }
  static std::optional<T> decode(std::span<const uint8_t> bytes) { return T::decode(bytes); }
};

// UTF-8 text, sent as its bytes (not checked).
template <>
struct MessageTraits<std::string> {
  static constexpr SchemaId schema() noexcept { return schemaId("selium.Text"); }
  static std::vector<uint8_t> encode(const std::string& v) { return {v.begin(), v.end()}; }
  static std::optional<std::string> decode(std::span<const uint8_t> b) {
    return std::string(b.begin(), b.end());
  }
};

// Raw bytes.
template <>
struct MessageTraits<std::vector<uint8_t>> {
  static constexpr SchemaId schema() noexcept { return schemaId("selium.Bytes"); }
  static std::vector<uint8_t> encode(const std::vector<uint8_t>& v) { return v; }
  static std::optional<std::vector<uint8_t>> decode(std::span<const uint8_t> b) {
    return std::vector<uint8_t>(b.begin(), b.end());
  }
};

template <typename T>
concept SwitchboardMessage = requires(const T& value, std::span<const uint8_t> bytes) {
  { MessageTraits<T>::schema() } -> std::same_as<SchemaId>;
  { MessageTraits<T>::encode(value) } -> std::same_as<std::vector<uint8_t>>;
  { MessageTraits<T>::decode(bytes) } -> std::same_as<std::optional<T>>;
};

// Per-endpoint choices.
struct EndpointOptions {
  // The endpoint's own channel (Publisher, Fanout: its messages; Server: its requests; Client:
  // its replies), 1 KiB to 16 MiB. A message must fit it.
  uint32_t capacity = 64 * 1024;
  // Publisher and Fanout: Park waits for slow subscribers, Drop discards what does not fit.
  Backpressure backpressure = Backpressure::Park;
};

namespace switchboard::detail {

struct Connection;

// Decimal digits of n (no std::to_string: guests stay off printf).
std::string decimal(uint64_t n);
// Writes one frame without ever waiting: Dropped when the channel has no room now.
Result<void> trySend(const Writer& writer, std::span<const uint8_t> frame);

// A request as the Server received it: who asked (the client endpoint the Switchboard wired to
// the reply channel the request names), which of its requests, the payload.
struct RawRequest {
  EndpointId client = 0;
  uint64_t reply = 0;  // the client's reply channel (its shared id)
  uint64_t correlation = 0;
  std::vector<uint8_t> payload;
};

// The untyped endpoint under the typed classes below (sdk/src/switchboard.cc).
class Endpoint {
 public:
  struct State;
  static Task<Outcome<std::unique_ptr<Endpoint>>> open(std::shared_ptr<Connection> connection,
                                                       EndpointKind kind, std::string name,
                                                       SchemaId schema, SchemaId reply_schema,
                                                       EndpointOptions options);
  explicit Endpoint(std::unique_ptr<State> state) noexcept;
  ~Endpoint();  // unregisters (never waits)
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  EndpointId id() const noexcept;
  // Peers it is wired to now, as the latest update applied says.
  std::size_t peers() const noexcept;
  Task<Outcome<void>> ready(std::size_t peers);
  Task<Outcome<std::size_t>> rewired();
  Task<Outcome<void>> publish(std::vector<uint8_t> frame);                 // Publisher, Fanout
  Task<Outcome<std::vector<uint8_t>>> receive();                           // Subscriber
  Task<Outcome<std::vector<uint8_t>>> call(std::vector<uint8_t> payload);  // Client
  Task<Outcome<RawRequest>> accept();                                      // Server
  // Server: never waits; a full reply channel drops the reply (Dropped).
  Outcome<void> respond(EndpointId client, uint64_t reply, uint64_t correlation, bool ok,
                        std::span<const uint8_t> payload);

 private:
  std::unique_ptr<State> state_;
};

}  // namespace switchboard::detail

template <SwitchboardMessage T>
class Publisher;
template <SwitchboardMessage T>
class Subscriber;
template <SwitchboardMessage T>
class Fanout;
template <SwitchboardMessage Req, SwitchboardMessage Rep>
class Server;
template <SwitchboardMessage Req, SwitchboardMessage Rep>
class Client;

// A connection to the Switchboard: finds its singleton and registers endpoints.
class Switchboard {
 public:
  template <typename T>
  using Outcome = switchboard::Outcome<T>;

  // Looks up the "selium.switchboard" singleton (capability SingletonLookup; NotFound when the
  // module is not running).
  static Outcome<Switchboard> connect();

  // Endpoints: each registers, waits for the Switchboard's answer (a refusal names the
  // conflict) and is then wired as peers come and go. Capabilities: ChannelLifecycle,
  // ChannelReader, ChannelWriter.
  template <SwitchboardMessage T>
  Task<Outcome<Publisher<T>>> publisher(std::string name, EndpointOptions options = {});
  template <SwitchboardMessage T>
  Task<Outcome<Subscriber<T>>> subscriber(std::string name, EndpointOptions options = {});
  template <SwitchboardMessage T>
  Task<Outcome<Fanout<T>>> fanout(std::string name, EndpointOptions options = {});
  template <SwitchboardMessage Req, SwitchboardMessage Rep>
  Task<Outcome<Server<Req, Rep>>> server(std::string name, EndpointOptions options = {});
  template <SwitchboardMessage Req, SwitchboardMessage Rep>
  Task<Outcome<Client<Req, Rep>>> client(std::string name, EndpointOptions options = {});

  // Wires two endpoints by id whatever their names: a Publisher or Fanout to a Subscriber, or a
  // Client and a Server (either order). Schemas must match.
  Task<Outcome<void>> connectIds(EndpointId from, EndpointId to);

 private:
  explicit Switchboard(std::shared_ptr<switchboard::detail::Connection> c) noexcept
      : connection_(std::move(c)) {}
  template <typename E>
  Task<Outcome<E>> open(EndpointKind kind, std::string name, SchemaId schema, SchemaId reply,
                        EndpointOptions options);

  std::shared_ptr<switchboard::detail::Connection> connection_;
};

namespace switchboard::detail {
// What the typed endpoints share: the untyped endpoint and the calls every kind has.
class EndpointBase {
 public:
  explicit EndpointBase(std::unique_ptr<Endpoint> core) noexcept : core_(std::move(core)) {}
  EndpointId id() const noexcept { return core_->id(); }
  std::size_t peers() const noexcept { return core_->peers(); }
  // Waits until wired to at least `peers` peers: a Publisher or Fanout to subscribers, a
  // Subscriber to producers, a Client to its server, a Server to clients.
  Task<Outcome<void>> ready(std::size_t peers = 1) { return core_->ready(peers); }
  // Waits for the Switchboard's next change to this endpoint's wiring; the peers it has then.
  Task<Outcome<std::size_t>> rewired() { return core_->rewired(); }

 protected:
  std::unique_ptr<Endpoint> core_;
};
}  // namespace switchboard::detail

// Sends every message to every wired Subscriber (each reads its own copy).
template <SwitchboardMessage T>
class Publisher : public switchboard::detail::EndpointBase {
 public:
  using EndpointBase::EndpointBase;
  // Waits for a subscriber, then for room (Park) in the channel.
  Task<switchboard::Outcome<void>> send(const T& message) {
    return core_->publish(MessageTraits<T>::encode(message));
  }
};

// Sends each message to exactly one of its wired Subscribers (work sharing).
template <SwitchboardMessage T>
class Fanout : public switchboard::detail::EndpointBase {
 public:
  using EndpointBase::EndpointBase;
  Task<switchboard::Outcome<void>> send(const T& message) {
    return core_->publish(MessageTraits<T>::encode(message));
  }
};

// Receives from every Publisher and Fanout it is wired to.
template <SwitchboardMessage T>
class Subscriber : public switchboard::detail::EndpointBase {
 public:
  using EndpointBase::EndpointBase;
  // The next message; one that does not decode as T fails InvalidArgument (the next call goes
  // on with the message after it).
  Task<switchboard::Outcome<T>> recv() {
    auto frame = co_await core_->receive();
    if (!frame) co_return frame.error();
    std::optional<T> value = MessageTraits<T>::decode(*frame);
    if (!value) {
      co_return switchboard::Failure{ErrorCode::InvalidArgument,
                                     "a message of " + switchboard::detail::decimal(frame->size()) +
                                         " bytes did not decode as its schema"};
    }
    co_return std::move(*value);
  }
};

// A request a Server received; reply with Server::reply. `client` is the endpoint the
// Switchboard wired to the reply channel the request came with: a client cannot claim another's.
template <typename Req>
struct RpcRequest {
  EndpointId client = 0;
  uint64_t correlation = 0;
  Req value;
  uint64_t reply = 0;  // where the reply goes (the client's reply channel)
};

template <SwitchboardMessage Req, SwitchboardMessage Rep>
class Server : public switchboard::detail::EndpointBase {
 public:
  using EndpointBase::EndpointBase;
  // The next request. One that does not decode as Req is answered with an error reply here and
  // skipped.
  Task<switchboard::Outcome<RpcRequest<Req>>> recv() {
    for (;;) {
      auto raw = co_await core_->accept();
      if (!raw) co_return raw.error();
      std::optional<Req> value = MessageTraits<Req>::decode(raw->payload);
      if (value) {
        co_return RpcRequest<Req>{raw->client, raw->correlation, std::move(*value), raw->reply};
      }
      std::string message = "the request of " + switchboard::detail::decimal(raw->payload.size()) +
                            " bytes did not decode as the server's request schema";
      (void)core_->respond(
          raw->client, raw->reply, raw->correlation, false,
          std::span(reinterpret_cast<const uint8_t*>(message.data()), message.size()));
    }
  }
  // Replies to the client that asked, never waiting: Dropped if its reply channel is full,
  // NotFound if it is gone.
  switchboard::Outcome<void> reply(const RpcRequest<Req>& request, const Rep& reply) {
    std::vector<uint8_t> bytes = MessageTraits<Rep>::encode(reply);
    return core_->respond(request.client, request.reply, request.correlation, true, bytes);
  }
  // An error reply: the client's request() fails with this message.
  switchboard::Outcome<void> replyError(const RpcRequest<Req>& request, std::string_view message) {
    return core_->respond(
        request.client, request.reply, request.correlation, false,
        std::span(reinterpret_cast<const uint8_t*>(message.data()), message.size()));
  }
};

template <SwitchboardMessage Req, SwitchboardMessage Rep>
class Client : public switchboard::detail::EndpointBase {
 public:
  using EndpointBase::EndpointBase;
  // Sends a request and waits for its reply (several may be in flight). Fails with the
  // server's message on an error reply, Closed if the server goes away first.
  Task<switchboard::Outcome<Rep>> request(const Req& request) {
    return decodeReply(core_->call(MessageTraits<Req>::encode(request)));
  }

 private:
  static Task<switchboard::Outcome<Rep>> decodeReply(
      Task<switchboard::Outcome<std::vector<uint8_t>>> call) {
    auto frame = co_await call;
    if (!frame) co_return frame.error();
    std::optional<Rep> value = MessageTraits<Rep>::decode(*frame);
    if (!value) {
      co_return switchboard::Failure{ErrorCode::InvalidArgument,
                                     "a reply of " + switchboard::detail::decimal(frame->size()) +
                                         " bytes did not decode as the reply schema"};
    }
    co_return std::move(*value);
  }
};

template <typename E>
Task<switchboard::Outcome<E>> Switchboard::open(EndpointKind kind, std::string name,
                                                SchemaId schema, SchemaId reply,
                                                EndpointOptions options) {
  auto core = co_await switchboard::detail::Endpoint::open(connection_, kind, std::move(name),
                                                           schema, reply, options);
  if (!core) co_return core.error();
  co_return E(std::move(*core));
}

template <SwitchboardMessage T>
Task<switchboard::Outcome<Publisher<T>>> Switchboard::publisher(std::string name,
                                                                EndpointOptions options) {
  return open<Publisher<T>>(EndpointKind::Publisher, std::move(name), MessageTraits<T>::schema(),
                            {}, options);
}
template <SwitchboardMessage T>
Task<switchboard::Outcome<Subscriber<T>>> Switchboard::subscriber(std::string name,
                                                                  EndpointOptions options) {
  return open<Subscriber<T>>(EndpointKind::Subscriber, std::move(name), MessageTraits<T>::schema(),
                             {}, options);
}
template <SwitchboardMessage T>
Task<switchboard::Outcome<Fanout<T>>> Switchboard::fanout(std::string name,
                                                          EndpointOptions options) {
  return open<Fanout<T>>(EndpointKind::Fanout, std::move(name), MessageTraits<T>::schema(), {},
                         options);
}
template <SwitchboardMessage Req, SwitchboardMessage Rep>
Task<switchboard::Outcome<Server<Req, Rep>>> Switchboard::server(std::string name,
                                                                 EndpointOptions options) {
  return open<Server<Req, Rep>>(EndpointKind::Server, std::move(name), MessageTraits<Req>::schema(),
                                MessageTraits<Rep>::schema(), options);
}
template <SwitchboardMessage Req, SwitchboardMessage Rep>
Task<switchboard::Outcome<Client<Req, Rep>>> Switchboard::client(std::string name,
                                                                 EndpointOptions options) {
  return open<Client<Req, Rep>>(EndpointKind::Client, std::move(name), MessageTraits<Req>::schema(),
                                MessageTraits<Rep>::schema(), options);
}

}  // namespace selium
