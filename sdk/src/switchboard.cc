// The Switchboard client (selium/switchboard.hpp): registers endpoints, applies the wiring the
// Switchboard sends, and moves messages over the wired channels directly.
#include "selium/switchboard.hpp"

#include <charconv>
#include <deque>
#include <map>

#include "selium/child.hpp"
#include "selium/log.hpp"
#include "selium/process.hpp"

namespace selium {
namespace switchboard::detail {

std::string decimal(uint64_t n) {
  char buf[24];
  auto end = std::to_chars(buf, buf + sizeof buf, n).ptr;
  return std::string(buf, end);
}

namespace {

constexpr log::Logger kLog{"selium.switchboard"};
// Updates name up to kMaxLinks peers each way (about 32 bytes a link).
constexpr uint32_t kUpdatesCapacity = 256 * 1024;
constexpr uint32_t kMinCapacity = 1024;
constexpr uint32_t kMaxCapacity = 16 * 1024 * 1024;
constexpr std::size_t kMaxRetiring = kMaxLinks;
constexpr std::size_t kMaxHeld = 256;
constexpr std::size_t kMaxHeldBytes = 1024 * 1024;
// Endpoints that are wired look at their updates channel once every this many messages sent,
// received or requested (and a Subscriber, Server or Client whenever it waits): a rewiring is
// noticed within that many messages, and the messages between cost no hostcalls for it.
constexpr uint32_t kUpdateCheckEvery = 64;

Failure hostFailure(std::string_view what, Error error) {
  std::string detail = lastError();
  return Failure{error.code(), std::string(what) + ": " + std::string(error.name()) +
                                   (detail.empty() ? "" : " (" + detail + ")")};
}

// Reads one frame without waiting (SELIUM_WAKER_NONE): nothing when none is there. Small
// frames are read onto the stack first, so finding nothing allocates nothing.
std::optional<Result<std::vector<uint8_t>>> tryRead(const Reader& reader) {
  selium_handle_t handle = reader.handle().get();
  uint8_t small[512];
  std::span<uint8_t> into(small);
  std::vector<uint8_t> large;
  for (;;) {
    int32_t rc = selium_channel_read(handle, SELIUM_ADDR(into.data()),
                                     static_cast<uint32_t>(into.size()), SELIUM_WAKER_NONE);
    if (rc == -SELIUM_ERR_WouldBlock) return std::nullopt;
    if (rc < 0) return Result<std::vector<uint8_t>>(Error::fromResult(rc));
    auto length = static_cast<std::size_t>(rc);
    if (length > into.size()) {
      large.resize(length);  // the frame stays next: read it again
      into = large;
      continue;
    }
    if (into.data() == small)
      return Result<std::vector<uint8_t>>(std::vector<uint8_t>(small, small + length));
    large.resize(length);
    return Result<std::vector<uint8_t>>(std::move(large));
  }
}

using Slot = std::optional<Result<std::vector<uint8_t>>>;

Task<void> readInto(Reader* reader, Slot* out) { out->emplace(co_await reader->read()); }

Task<void> untilSet(Event& event) { co_await event.wait(); }

// An async mutex for one writer handle that several tasks use (a handle has one waiter).
class Gate {
 public:
  Task<void> acquire() {
    while (held_) co_await released_.wait();
    held_ = true;
  }
  void release() noexcept {
    held_ = false;
    released_.set();
    released_.reset();
  }

 private:
  bool held_ = false;
  Event released_;
};

struct GateLock {
  Gate* gate;
  ~GateLock() { gate->release(); }
};

}  // namespace

Result<void> trySend(const Writer& writer, std::span<const uint8_t> frame) {
  selium_handle_t handle = writer.handle().get();
  int32_t rc = selium_channel_write(handle, SELIUM_ADDR(frame.data()),
                                    static_cast<uint32_t>(frame.size()), SELIUM_WAKER_NONE);
  if (rc == -SELIUM_ERR_WouldBlock) return Error(ErrorCode::Dropped);
  if (rc < 0) return Error::fromResult(rc);
  return Result<void>();
}

namespace {

// Whether the Switchboard still runs: a task watches its lifetime, so that calls that wait for
// the Switchboard (registrations, wiring, connects) fail once it has ended instead of waiting
// for ever. Wired endpoints go on talking without it.
struct ServiceWatch {
  explicit ServiceWatch(Lifetime l) noexcept : service(std::move(l)) {}
  Lifetime service;
  Event gone;       // set once the Switchboard has ended (or cannot be watched)
  std::string why;  // names it
  Event stop;       // the connection went: stop watching
};

Task<void> untilEnded(Lifetime& lifetime, std::optional<Result<int64_t>>& out) {
  out.emplace(co_await lifetime.ended());
}

Task<void> watchService(std::shared_ptr<ServiceWatch> w) {
  std::optional<Result<int64_t>> ended;
  std::vector<Task<void>> tasks;
  tasks.push_back(untilEnded(w->service, ended));
  tasks.push_back(untilSet(w->stop));
  if (co_await race(std::move(tasks)) != 0) co_return;  // the connection went first
  if (ended && *ended) {
    w->why = "the Switchboard (process " + decimal(static_cast<uint64_t>(**ended)) + ") has ended";
  } else {
    w->why = hostFailure("cannot watch the Switchboard's lifetime",
                         ended ? ended->error() : Error(ErrorCode::Internal))
                 .message;
  }
  w->gone.set();
}

template <typename T>
Task<void> finishInto(Task<T> task, std::optional<T>& out) {
  out.emplace(co_await std::move(task));
}

}  // namespace

struct Connection {
  Connection(Writer w, std::shared_ptr<ServiceWatch> s) noexcept
      : requests(std::move(w)), service(std::move(s)) {}
  ~Connection() { service->stop.set(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Writer requests;  // Park: a request waits for room rather than being lost
  Gate writing;
  SharedId lifetime = 0;
  std::optional<Lifetime> lifetime_handle;
  uint64_t next_request = 1;
  std::shared_ptr<ServiceWatch> service;

  Failure gone() const { return Failure{ErrorCode::Closed, service->why}; }

  // Runs `task` unless the Switchboard ends first: then nothing.
  template <typename T>
  Task<std::optional<T>> unlessGone(Task<T> task) {
    std::optional<T> out;
    if (service->gone.isSet()) co_return out;
    std::vector<Task<void>> tasks;
    tasks.push_back(finishInto(std::move(task), out));
    tasks.push_back(untilSet(service->gone));
    (void)co_await race(std::move(tasks));
    co_return out;  // the task's result if it finished, even together with the end
  }

  // Sends one request (tasks take turns on the writer).
  Task<Result<void>> send(const wire::Message& message) {
    std::vector<uint8_t> frame = wire::encode(message);
    co_await writing.acquire();
    GateLock lock{&writing};
    co_return co_await requests.write(frame);
  }
};

struct Inbound {
  EndpointId peer = 0;
  uint64_t reader_id = 0;
  std::shared_ptr<Reader> reader;
};
struct Outbound {
  EndpointId peer = 0;
  uint64_t channel_id = 0;
  std::shared_ptr<Writer> writer;  // tasks writing keep a reference across a rewiring
};
struct Pending {
  EndpointId server = 0;
  std::optional<Outcome<std::vector<uint8_t>>> result;
};

struct Endpoint::State {
  std::shared_ptr<Connection> connection;
  EndpointKind kind = EndpointKind::Publisher;
  std::string name;
  EndpointId id = 0;
  Channel updates{Handle()};
  Reader updates_reader{Handle()};
  SharedId updates_id = 0;
  std::optional<Channel> own;
  SharedId own_id = 0;               // Client: the reply channel, its credential in requests
  std::optional<Writer> own_writer;  // Publisher, Fanout
  std::optional<Reader> own_reader;  // Server (requests), Client (replies)
  uint64_t generation = 0;
  std::vector<Inbound> inbound;  // Subscriber
  // Subscriber: readers of producers no longer wired, read until empty so that what a producer
  // sent before it went is still delivered.
  std::vector<Inbound> retiring;
  // Subscriber: frames read but not yet returned (reads that completed together); at most one
  // per inbound reader.
  std::deque<std::vector<uint8_t>> stash;
  std::vector<Outbound> outbound;  // Publisher/Fanout: peers only; Server: clients; Client: server
  std::size_t next_inbound = 0;
  // Client: requests in flight, and the task that reads for all of them.
  std::map<uint64_t, std::shared_ptr<Pending>> pending;
  uint64_t next_correlation = 1;
  bool reading = false;
  Event progress;  // set (and reset) whenever the reading task has dispatched something
  Gate writing;    // Client: tasks take turns writing requests
  // Server: requests whose reply channel is not wired to it yet (the update wiring their
  // client is on its way), oldest first.
  std::deque<rpc::RequestHead> held_heads;
  std::deque<std::vector<uint8_t>> held;
  std::size_t held_bytes = 0;
  uint32_t unchecked = 0;  // messages since the updates channel was last looked at

  // Whether a message call that need not wait should look at the updates channel now.
  bool updateCheckDue() { return ++unchecked >= kUpdateCheckEvery; }

  std::string describe() const {
    std::string out = std::string(kindName(kind));
    if (!name.empty()) out += " '" + name + "'";
    if (id != 0) out += " (endpoint " + decimal(id) + ")";
    return out;
  }

  void failPending(EndpointId gone) {
    for (auto& [correlation, pending] : pending) {
      if (pending->server == gone && !pending->result) {
        pending->result.emplace(Failure{
            ErrorCode::Closed, "server endpoint " + decimal(gone) + " went away before replying"});
      }
    }
  }

  void applyOutbound(const std::vector<wire::Link>& links) {
    std::vector<Outbound> next;
    for (const wire::Link& link : links) {
      auto kept = std::find_if(outbound.begin(), outbound.end(), [&](const Outbound& o) {
        return o.peer == link.peer && o.channel_id == link.channel;
      });
      if (kept != outbound.end()) {
        next.push_back(std::move(*kept));
        continue;
      }
      Outbound out{link.peer, link.channel, nullptr};
      if (kind == EndpointKind::Server || kind == EndpointKind::Client) {
        auto channel = Channel::attach(static_cast<SharedId>(link.channel));
        // A client's replies go through a weak writer: a client that stops reading never
        // holds the server back.
        auto writer = channel ? channel->writer(kind == EndpointKind::Server ? Strength::Weak
                                                                             : Strength::Strong)
                              : Result<Writer>(channel.error());
        if (!writer) {
          kLog.warn("could not attach a wired channel",
                    {{"endpoint", id}, {"peer", link.peer}, {"error", writer.error().name()}});
          continue;  // the peer is going; the next update drops it
        }
        out.writer = std::make_shared<Writer>(std::move(*writer));
      }
      next.push_back(std::move(out));
    }
    if (kind == EndpointKind::Client) {
      EndpointId before = outbound.empty() ? 0 : outbound.front().peer;
      EndpointId after = next.empty() ? 0 : next.front().peer;
      if (before != 0 && before != after) failPending(before);
    }
    outbound = std::move(next);
  }

  void applyInbound(const std::vector<wire::Link>& links) {
    std::vector<Inbound> next;
    for (const wire::Link& link : links) {
      auto kept = std::find_if(inbound.begin(), inbound.end(), [&](const Inbound& i) {
        return i.peer == link.peer && i.reader_id == link.reader;
      });
      if (kept != inbound.end()) {
        next.push_back(std::move(*kept));
        continue;
      }
      auto reader = Reader::attach(static_cast<SharedId>(link.reader));
      if (!reader) {
        kLog.warn("could not attach a wired reader", {{"endpoint", id},
                                                      {"peer", link.peer},
                                                      {"error", reader.error().name()},
                                                      {"detail", lastError()}});
        continue;
      }
      next.push_back(Inbound{link.peer, link.reader, std::make_shared<Reader>(std::move(*reader))});
    }
    for (Inbound& old : inbound) {
      if (old.reader == nullptr) continue;  // kept (moved into next)
      if (retiring.size() >= kMaxRetiring) retiring.erase(retiring.begin());
      retiring.push_back(std::move(old));
    }
    inbound = std::move(next);
  }

  // Cursors of producers that went, which an update this endpoint never saw may have wired: the
  // ones not attached yet are read until empty too (one already emptied reads empty again).
  void applyRetired(const std::vector<wire::Link>& links) {
    auto known = [&](const std::vector<Inbound>& list, uint64_t reader) {
      return std::any_of(list.begin(), list.end(),
                         [&](const Inbound& i) { return i.reader_id == reader; });
    };
    for (const wire::Link& link : links) {
      if (known(inbound, link.reader) || known(retiring, link.reader)) continue;
      if (retiring.size() >= kMaxRetiring) break;
      auto reader = Reader::attach(static_cast<SharedId>(link.reader));
      if (!reader) continue;  // closed since: nothing left to read
      retiring.push_back(
          Inbound{link.peer, link.reader, std::make_shared<Reader>(std::move(*reader))});
    }
  }

  void apply(const wire::Wiring& wiring) {
    if (wiring.endpoint_id != id || wiring.generation <= generation) return;
    generation = wiring.generation;
    applyInbound(wiring.inbound);
    applyRetired(wiring.retired);
    applyOutbound(wiring.outbound);
  }

  // Server: the client whose reply channel is `reply`, when the Switchboard has wired it here.
  const Outbound* clientOf(uint64_t reply) const {
    auto route = std::find_if(outbound.begin(), outbound.end(),
                              [&](const Outbound& o) { return o.channel_id == reply; });
    return route == outbound.end() || !route->writer ? nullptr : &*route;
  }

  // Server: the oldest held request whose client is wired now.
  std::optional<RawRequest> takeHeld() {
    for (std::size_t i = 0; i < held.size(); ++i) {
      const Outbound* client = clientOf(held_heads[i].reply);
      if (client == nullptr) continue;
      RawRequest out{client->peer, held_heads[i].reply, held_heads[i].correlation,
                     std::move(held[i])};
      held_bytes -= out.payload.size();
      held.erase(held.begin() + static_cast<std::ptrdiff_t>(i));
      held_heads.erase(held_heads.begin() + static_cast<std::ptrdiff_t>(i));
      return out;
    }
    return std::nullopt;
  }

  // Server: keeps a request from a reply channel not wired yet, the oldest going when full.
  void hold(rpc::RequestHead head, std::vector<uint8_t> payload) {
    while (!held.empty() &&
           (held.size() >= kMaxHeld || held_bytes + payload.size() > kMaxHeldBytes)) {
      kLog.warn("dropped a request from a reply channel never wired to this server",
                {{"endpoint", id}, {"bytes", held.front().size()}});
      held_bytes -= held.front().size();
      held.pop_front();
      held_heads.pop_front();
    }
    if (payload.size() > kMaxHeldBytes) return;
    held_bytes += payload.size();
    held_heads.push_back(head);
    held.push_back(std::move(payload));
  }

  // Handles one frame of the updates channel.
  Outcome<void> onUpdate(Result<std::vector<uint8_t>> frame) {
    if (!frame)
      return hostFailure("the updates channel of " + describe() + " failed", frame.error());
    wire::Decoded decoded = wire::decode(*frame);
    if (!decoded.ok()) {
      kLog.warn("undecodable switchboard update", {{"endpoint", id}, {"error", decoded.error}});
      return Outcome<void>();
    }
    if (auto* wiring = std::get_if<wire::Wiring>(&decoded.message.payload)) apply(*wiring);
    return Outcome<void>();
  }

  // Applies every update waiting, without waiting.
  Outcome<void> drainUpdates() {
    unchecked = 0;
    while (auto frame = tryRead(updates_reader)) {
      auto applied = onUpdate(std::move(*frame));
      if (!applied) return applied;
    }
    return Outcome<void>();
  }

  Task<Outcome<void>> waitUpdate() { co_return onUpdate(co_await updates_reader.read()); }

  // Waits for the next update from the Switchboard (a Client also handles replies meanwhile);
  // fails Closed once the Switchboard has ended.
  Task<Outcome<void>> wiringStep() {
    auto step =
        co_await connection->unlessGone(kind == EndpointKind::Client ? clientStep() : waitUpdate());
    if (!step) co_return connection->gone();
    co_return std::move(*step);
  }

  std::size_t peers() const {
    return kind == EndpointKind::Subscriber ? inbound.size() : outbound.size();
  }

  // Client: one step of the task reading for everyone (replies and updates), or waiting for it.
  Task<Outcome<void>> clientStep() {
    if (reading) {
      co_await progress.wait();
      co_return Outcome<void>();
    }
    reading = true;
    struct Leader {
      State* s;
      ~Leader() {
        s->reading = false;
        s->progress.set();
        s->progress.reset();
      }
    } leader{this};
    Slot update, reply;
    std::vector<Task<void>> tasks;
    tasks.push_back(readInto(&updates_reader, &update));
    tasks.push_back(readInto(&*own_reader, &reply));
    (void)co_await race(std::move(tasks));
    // Both reads may have completed before the race ended: handle whatever arrived.
    if (update) {
      auto applied = onUpdate(std::move(*update));
      if (!applied) co_return applied;
    }
    if (!reply) co_return Outcome<void>();
    auto handled = onReply(std::move(*reply));
    // With other requests in flight, their replies may be there already: hand them out too
    // before the waiting tasks look, rather than one race per reply.
    while (handled && awaitingReplies()) {
      auto more = tryRead(*own_reader);
      if (!more) break;
      handled = onReply(std::move(*more));
    }
    co_return handled;
  }

  bool awaitingReplies() const {
    return std::any_of(pending.begin(), pending.end(),
                       [](const auto& p) { return !p.second->result; });
  }

  Outcome<void> onReply(Result<std::vector<uint8_t>> reply) {
    if (!reply) return hostFailure("the reply channel of " + describe() + " failed", reply.error());
    std::span<const uint8_t> frame = *reply;
    auto head = rpc::decodeReply(frame);
    if (!head) {
      kLog.warn("dropped a malformed reply", {{"endpoint", id}, {"bytes", frame.size()}});
      return Outcome<void>();
    }
    auto found = pending.find(head->correlation);
    if (found == pending.end() || found->second->result) {
      kLog.debug("dropped a reply to no request in flight",
                 {{"endpoint", id}, {"correlation", head->correlation}});
      return Outcome<void>();
    }
    std::span<const uint8_t> payload = frame.subspan(rpc::kReplyHeader);
    if (head->status == rpc::Status::Ok) {
      found->second->result.emplace(std::vector<uint8_t>(payload.begin(), payload.end()));
    } else {
      found->second->result.emplace(
          Failure{ErrorCode::Internal,
                  "server endpoint " + decimal(found->second->server) + " replied with an error: " +
                      std::string(reinterpret_cast<const char*>(payload.data()), payload.size())});
    }
    return Outcome<void>();
  }
};

Endpoint::Endpoint(std::unique_ptr<State> state) noexcept : state_(std::move(state)) {}

Endpoint::~Endpoint() {
  if (!state_ || state_->id == 0) return;
  // Never waits: if the request channel is full now, the Switchboard removes the endpoint when
  // this process ends instead.
  wire::Message message{state_->connection->next_request++, 0,
                        wire::Unregister{state_->id, static_cast<uint64_t>(state_->updates_id)}};
  std::vector<uint8_t> frame = wire::encode(message);
  auto sent = trySend(state_->connection->requests, frame);
  if (!sent) {
    kLog.debug("unregister not sent now",
               {{"endpoint", state_->id}, {"error", sent.error().name()}});
  }
}

EndpointId Endpoint::id() const noexcept { return state_->id; }

std::size_t Endpoint::peers() const noexcept { return state_->peers(); }

Task<Outcome<std::unique_ptr<Endpoint>>> Endpoint::open(std::shared_ptr<Connection> connection,
                                                        EndpointKind kind, std::string name,
                                                        SchemaId schema, SchemaId reply_schema,
                                                        EndpointOptions options) {
  if (options.capacity < kMinCapacity || options.capacity > kMaxCapacity) {
    co_return Failure{ErrorCode::InvalidArgument, "endpoint capacity " + decimal(options.capacity) +
                                                      " is outside " + decimal(kMinCapacity) +
                                                      " to " + decimal(kMaxCapacity) + " bytes"};
  }
  if (name.size() > kMaxNameBytes) {
    co_return Failure{ErrorCode::InvalidArgument, "endpoint name is " + decimal(name.size()) +
                                                      " bytes; at most " + decimal(kMaxNameBytes) +
                                                      " are allowed"};
  }
  if (connection->service->gone.isSet()) co_return connection->gone();
  auto state = std::make_unique<State>();
  State& s = *state;
  s.connection = connection;
  s.kind = kind;
  s.name = name;
  auto updates = Channel::create(kUpdatesCapacity);
  if (!updates)
    co_return hostFailure("creating the updates channel of " + s.describe(), updates.error());
  s.updates = std::move(*updates);
  auto updates_reader = s.updates.reader();
  if (!updates_reader) co_return hostFailure("reading the updates channel", updates_reader.error());
  s.updates_reader = std::move(*updates_reader);
  auto updates_id = s.updates.share();
  if (!updates_id) co_return hostFailure("sharing the updates channel", updates_id.error());
  s.updates_id = *updates_id;

  SharedId own_id = 0;
  if (kind != EndpointKind::Subscriber) {
    Backpressure backpressure = kind == EndpointKind::Client   ? Backpressure::Drop
                                : kind == EndpointKind::Server ? Backpressure::Park
                                                               : options.backpressure;
    auto own = Channel::create(options.capacity, backpressure);
    if (!own) co_return hostFailure("creating the channel of " + s.describe(), own.error());
    s.own = std::move(*own);
    auto shared = s.own->share();
    if (!shared) co_return hostFailure("sharing the channel of " + s.describe(), shared.error());
    own_id = *shared;
    s.own_id = own_id;
    if (kind == EndpointKind::Publisher || kind == EndpointKind::Fanout) {
      auto writer = s.own->writer();
      if (!writer) co_return hostFailure("writing the channel of " + s.describe(), writer.error());
      s.own_writer = std::move(*writer);
    } else {
      auto reader = s.own->reader();
      if (!reader) co_return hostFailure("reading the channel of " + s.describe(), reader.error());
      s.own_reader = std::move(*reader);
    }
  }

  wire::Register request{kind,
                         name,
                         schema,
                         std::nullopt,
                         static_cast<uint64_t>(own_id),
                         static_cast<uint64_t>(connection->lifetime)};
  if (kind == EndpointKind::Server || kind == EndpointKind::Client) {
    request.reply_schema = reply_schema;
  }
  uint64_t request_id = connection->next_request++;
  auto sent = co_await connection->send(
      wire::Message{request_id, static_cast<uint64_t>(s.updates_id), std::move(request)});
  if (!sent) co_return hostFailure("sending a registration to the Switchboard", sent.error());

  // The answer comes on the updates channel; a wiring update may come first.
  std::vector<wire::Wiring> early;
  while (s.id == 0) {
    auto answer = co_await connection->unlessGone(s.updates_reader.read());
    if (!answer) co_return connection->gone();
    auto& frame = *answer;
    if (!frame) co_return hostFailure("waiting for the Switchboard's answer", frame.error());
    wire::Decoded decoded = wire::decode(*frame);
    if (!decoded.ok())
      co_return Failure{ErrorCode::Internal,
                        "the Switchboard answered with an undecodable message: " + decoded.error};
    if (auto* wiring = std::get_if<wire::Wiring>(&decoded.message.payload)) {
      if (early.size() < 4) early.push_back(std::move(*wiring));
      continue;
    }
    if (decoded.message.request_id != request_id) continue;
    if (auto* registered = std::get_if<wire::Registered>(&decoded.message.payload)) {
      s.id = registered->endpoint_id;
    } else if (auto* failure = std::get_if<wire::Failure>(&decoded.message.payload)) {
      co_return Failure{ErrorCode::InvalidArgument,
                        "the Switchboard refused the " + s.describe() + ": " + failure->message};
    } else {
      co_return Failure{ErrorCode::Internal,
                        "the Switchboard answered a registration with "
                        "neither RegisterResponse nor ErrorResponse"};
    }
  }
  for (const wire::Wiring& wiring : early) s.apply(wiring);
  co_return std::make_unique<Endpoint>(std::move(state));
}

Task<Outcome<void>> Endpoint::ready(std::size_t peers) {
  State& s = *state_;
  if (auto drained = s.drainUpdates(); !drained) co_return drained;
  // A subscriber whose producers already went is ready too while their messages remain.
  while (s.peers() + s.retiring.size() < std::max<std::size_t>(peers, 1)) {
    auto step = co_await s.wiringStep();
    if (!step) co_return step;
  }
  co_return Outcome<void>();
}

Task<Outcome<std::size_t>> Endpoint::rewired() {
  State& s = *state_;
  uint64_t before = s.generation;
  if (auto drained = s.drainUpdates(); !drained) co_return drained.error();
  while (s.generation == before) {
    auto step = co_await s.wiringStep();
    if (!step) co_return step.error();
  }
  co_return s.peers();
}

Task<Outcome<void>> Endpoint::publish(std::vector<uint8_t> frame) {
  State& s = *state_;
  if (s.peers() == 0 || s.updateCheckDue()) {
    auto wired = co_await ready(1);
    if (!wired) co_return wired;
  }
  auto written = co_await s.own_writer->write(frame);
  if (!written) co_return hostFailure("sending a message of " + s.describe(), written.error());
  co_return Outcome<void>();
}

Task<Outcome<std::vector<uint8_t>>> Endpoint::receive() {
  State& s = *state_;
  for (;;) {
    if (!s.stash.empty()) {
      std::vector<uint8_t> frame = std::move(s.stash.front());
      s.stash.pop_front();
      co_return frame;
    }
    if (s.inbound.empty() || s.updateCheckDue()) {
      if (auto drained = s.drainUpdates(); !drained) co_return drained.error();
    }
    while (!s.retiring.empty()) {
      auto got = tryRead(*s.retiring.front().reader);
      if (got && *got) co_return std::move(**got);
      s.retiring.erase(s.retiring.begin());  // empty (or ended): done with it
    }
    if (s.inbound.empty()) {
      auto wired = co_await ready(1);
      if (!wired) co_return wired.error();
    }
    // Whatever is there already, taking the inbound channels in turn. `broken` is a reader
    // whose channel ended, by identity: an update applied below may reorder the inbound list.
    std::size_t n = s.inbound.size();
    std::shared_ptr<Reader> broken;
    for (std::size_t k = 0; k < n && !broken; ++k) {
      std::size_t i = (s.next_inbound + k) % n;
      auto got = tryRead(*s.inbound[i].reader);
      if (!got) continue;
      if (*got) {
        s.next_inbound = i + 1;
        co_return std::move(**got);
      }
      broken = s.inbound[i].reader;
    }
    if (!broken) {
      std::vector<Slot> slots(n + 1);
      std::vector<std::shared_ptr<Reader>> raced;
      std::vector<Task<void>> tasks;
      tasks.push_back(readInto(&s.updates_reader, &slots[0]));
      for (std::size_t i = 0; i < n; ++i) {
        raced.push_back(s.inbound[i].reader);
        tasks.push_back(readInto(raced.back().get(), &slots[i + 1]));
      }
      (void)co_await race(std::move(tasks));
      // Several reads may have completed before the race ended: keep every frame.
      if (slots[0]) {
        auto applied = s.onUpdate(std::move(*slots[0]));
        if (!applied) co_return applied.error();
      }
      for (std::size_t i = 1; i <= n; ++i) {
        if (!slots[i]) continue;
        if (*slots[i]) {
          s.stash.push_back(std::move(**slots[i]));
        } else if (!broken) {
          broken = raced[i - 1];
        }
      }
      if (!s.stash.empty()) continue;
      if (!broken) continue;
    }
    // A producer's channel ended (drained or deleted): read the others until the update comes.
    // (If the update came already, the reader is retiring instead, and goes once read empty.)
    auto ended = std::find_if(s.inbound.begin(), s.inbound.end(),
                              [&](const Inbound& i) { return i.reader == broken; });
    if (ended != s.inbound.end()) {
      kLog.debug("an inbound channel ended", {{"endpoint", s.id}, {"peer", ended->peer}});
      s.inbound.erase(ended);
    }
  }
}

Task<Outcome<RawRequest>> Endpoint::accept() {
  State& s = *state_;
  for (;;) {
    if (s.updateCheckDue()) {
      if (auto drained = s.drainUpdates(); !drained) co_return drained.error();
    }
    if (auto ready = s.takeHeld()) co_return std::move(*ready);
    std::optional<Result<std::vector<uint8_t>>> got = tryRead(*s.own_reader);
    if (!got) {
      Slot update, request;
      std::vector<Task<void>> tasks;
      tasks.push_back(readInto(&s.updates_reader, &update));
      tasks.push_back(readInto(&*s.own_reader, &request));
      (void)co_await race(std::move(tasks));
      if (update) {
        auto applied = s.onUpdate(std::move(*update));
        if (!applied) co_return applied.error();
      }
      if (!request) continue;
      got = std::move(request);
    }
    if (!*got) co_return hostFailure("reading the requests of " + s.describe(), got->error());
    std::vector<uint8_t>& frame = **got;
    auto head = rpc::decodeRequest(frame);
    if (!head) {
      // No reply channel to answer: nothing can be replied.
      kLog.warn("dropped a request without a valid header",
                {{"endpoint", s.id}, {"bytes", frame.size()}});
      continue;
    }
    frame.erase(frame.begin(), frame.begin() + rpc::kRequestHeader);
    // Replies go only to reply channels the Switchboard wired here. The update wiring a new
    // client may still be on its way: apply what has come, and hold the request until it does.
    const Outbound* client = s.clientOf(head->reply);
    if (client == nullptr) {
      if (auto drained = s.drainUpdates(); !drained) co_return drained.error();
      client = s.clientOf(head->reply);
    }
    if (client != nullptr) {
      co_return RawRequest{client->peer, head->reply, head->correlation, std::move(frame)};
    }
    s.hold(*head, std::move(frame));
  }
}

Outcome<void> Endpoint::respond(EndpointId client, uint64_t reply, uint64_t correlation, bool ok,
                                std::span<const uint8_t> payload) {
  State& s = *state_;
  const Outbound* route = s.clientOf(reply);
  if (route == nullptr) {
    if (auto drained = s.drainUpdates(); !drained) return drained;
    route = s.clientOf(reply);
  }
  if (route == nullptr) {
    return Failure{ErrorCode::NotFound,
                   "client endpoint " + decimal(client) + " is no longer wired to " + s.describe()};
  }
  std::vector<uint8_t> frame =
      rpc::encodeReply({correlation, ok ? rpc::Status::Ok : rpc::Status::Error}, payload);
  auto sent = trySend(*route->writer, frame);
  if (!sent) {
    return hostFailure(
        "replying to client endpoint " + decimal(client) +
            (sent.error() == ErrorCode::Dropped ? " (its reply channel is full)" : ""),
        sent.error());
  }
  return Outcome<void>();
}

Task<Outcome<std::vector<uint8_t>>> Endpoint::call(std::vector<uint8_t> payload) {
  State& s = *state_;
  if (s.outbound.empty() || s.updateCheckDue()) {
    auto wired = co_await ready(1);
    if (!wired) co_return wired.error();
  }
  uint64_t correlation = s.next_correlation++;
  auto pending = std::make_shared<Pending>();
  pending->server = s.outbound.front().peer;
  s.pending.emplace(correlation, pending);
  struct Forget {
    State* s;
    uint64_t correlation;
    ~Forget() { s->pending.erase(correlation); }
  } forget{&s, correlation};
  std::shared_ptr<Writer> writer = s.outbound.front().writer;
  std::vector<uint8_t> frame =
      rpc::encodeRequest({static_cast<uint64_t>(s.own_id), correlation}, payload);
  {
    co_await s.writing.acquire();
    GateLock lock{&s.writing};
    auto written = co_await writer->write(frame);
    if (!written) co_return hostFailure("sending a request of " + s.describe(), written.error());
  }
  while (!pending->result) {
    auto step = co_await s.clientStep();
    if (!step) co_return step.error();
  }
  co_return std::move(*pending->result);
}

}  // namespace switchboard::detail

switchboard::Outcome<Switchboard> Switchboard::connect() {
  using switchboard::Failure;
  using switchboard::detail::hostFailure;
  auto handle = lookupSingleton(singletonId(switchboard::kSingletonName), Kind::Writer);
  if (!handle) {
    return hostFailure("the Switchboard is not reachable (singleton \"selium.switchboard\")",
                       handle.error());
  }
  // Registered before the request writer: found whenever the writer is.
  auto service_handle = lookupSingleton(singletonId(switchboard::kLifetimeSingletonName),
                                        static_cast<Kind>(SELIUM_KIND_LIFETIME));
  if (!service_handle) return hostFailure("the Switchboard's lifetime", service_handle.error());
  // The singleton gives a handle; a Lifetime is attached from a shared id.
  auto service_id = service_handle->share();
  if (!service_id) return hostFailure("sharing the Switchboard's lifetime", service_id.error());
  auto service = Lifetime::attach(*service_id);
  if (!service) return hostFailure("attaching the Switchboard's lifetime", service.error());
  auto watch = std::make_shared<switchboard::detail::ServiceWatch>(std::move(*service));
  spawn(switchboard::detail::watchService(watch));
  auto connection =
      std::make_shared<switchboard::detail::Connection>(Writer(std::move(*handle)), watch);
  auto lifetime = Lifetime::self();
  if (!lifetime) return hostFailure("this process's lifetime", lifetime.error());
  auto shared = lifetime->share();
  if (!shared) return hostFailure("sharing this process's lifetime", shared.error());
  connection->lifetime = *shared;
  connection->lifetime_handle = std::move(*lifetime);
  return Switchboard(std::move(connection));
}

Task<switchboard::Outcome<void>> Switchboard::connectIds(EndpointId from, EndpointId to) {
  using switchboard::Failure;
  using switchboard::detail::hostFailure;
  if (connection_->service->gone.isSet()) co_return connection_->gone();
  auto replies = Channel::create(4096);
  if (!replies) co_return hostFailure("creating a reply channel", replies.error());
  auto reader = replies->reader();
  if (!reader) co_return hostFailure("reading the reply channel", reader.error());
  auto shared = replies->share();
  if (!shared) co_return hostFailure("sharing the reply channel", shared.error());
  uint64_t request_id = connection_->next_request++;
  auto sent = co_await connection_->send(switchboard::wire::Message{
      request_id, static_cast<uint64_t>(*shared), switchboard::wire::Connect{from, to}});
  if (!sent) co_return hostFailure("sending a connect to the Switchboard", sent.error());
  for (;;) {
    auto answer = co_await connection_->unlessGone(reader->read());
    if (!answer) co_return connection_->gone();
    auto& frame = *answer;
    if (!frame) co_return hostFailure("waiting for the Switchboard's answer", frame.error());
    auto decoded = switchboard::wire::decode(*frame);
    if (!decoded.ok() || decoded.message.request_id != request_id) continue;
    if (std::get_if<switchboard::wire::Ok>(&decoded.message.payload) != nullptr) {
      co_return switchboard::Outcome<void>();
    }
    if (auto* failure = std::get_if<switchboard::wire::Failure>(&decoded.message.payload)) {
      co_return Failure{ErrorCode::InvalidArgument,
                        "the Switchboard refused to connect " + switchboard::detail::decimal(from) +
                            " to " + switchboard::detail::decimal(to) + ": " + failure->message};
    }
  }
}

}  // namespace selium
