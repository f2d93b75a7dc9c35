// The Switchboard system module: registers typed endpoints, wires them by name and schema
// (core/graph.h) and tells each endpoint which channels to use (docs/switchboard.md). It is only
// the control plane: wired endpoints talk over channels directly.
//
//   start()   registers a writer of its request channel as the singleton "selium.switchboard"
//             (and its lifetime as "selium.switchboard.lifetime") and serves requests until the
//             process is stopped. Logs "switchboard ready" {channel}.
//
// Capabilities: ChannelLifecycle, ChannelReader, ChannelWriter, SingletonRegistry, TimeRead.
//
// It never waits on a client: replies are written without waiting (a full reply channel loses
// the reply), and each endpoint's updates are written by its own task that keeps only the latest
// wiring and retries a full channel on a timer. Every request with a readable envelope is
// answered, errors included.
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include <selium/selium.hpp>
#include <selium/switchboard.hpp>

#include "core/graph.h"

namespace selium::switchboard {
namespace {

constexpr log::Logger kLog{"selium.switchboard.server"};
constexpr uint32_t kRequestCapacity = 256 * 1024;
constexpr std::size_t kMaxEndpointsPerProcess = 256;
constexpr auto kRetryFirst = std::chrono::milliseconds(10);
constexpr auto kRetryMost = std::chrono::milliseconds(1000);
// How long the cursors of a producer that went away stay open for subscribers that have not
// attached them yet (a publisher that sends and ends at once), and how many may.
constexpr auto kLinger = std::chrono::seconds(10);
constexpr std::size_t kMaxLingering = 4096;

using detail::decimal;

// What goes to one endpoint's updates channel: its registration answer, then its latest
// wiring. Written by one task (flush) that never waits on the channel.
struct Outbox {
  explicit Outbox(Writer w) noexcept : writer(std::move(w)) {}
  Writer writer;
  std::deque<std::vector<uint8_t>> frames;  // answers; at most a few
  std::optional<std::vector<uint8_t>> wiring;
  Event wake;
  bool closed = false;
};

Task<void> flush(std::shared_ptr<Outbox> box, EndpointId id) {
  auto retry = kRetryFirst;
  while (!box->closed) {
    std::vector<uint8_t>* next = !box->frames.empty() ? &box->frames.front()
                                 : box->wiring        ? &*box->wiring
                                                      : nullptr;
    if (next == nullptr) {
      box->wake.reset();
      co_await box->wake.wait();
      continue;
    }
    auto sent = detail::trySend(box->writer, *next);
    if (sent) {
      if (!box->frames.empty()) {
        box->frames.pop_front();
      } else {
        box->wiring.reset();
      }
      retry = kRetryFirst;
      continue;
    }
    if (sent.error() != ErrorCode::Dropped) {
      // The endpoint's updates channel is gone: its process ended or deleted it.
      kLog.debug("updates channel closed", {{"endpoint", id}, {"error", sent.error().name()}});
      box->closed = true;
      break;
    }
    // Full: the endpoint is not reading now. Try again later; newer wiring replaces older.
    auto slept = co_await sleep(retry);
    if (!slept) {
      box->closed = true;
      break;
    }
    retry = std::min(retry * 2, kRetryMost);
  }
}

struct Record {
  EndpointSpec spec;
  int64_t pid = 0;                 // the registering process (0: no lifetime given)
  uint64_t token = 0;              // its updates channel's shared id
  std::optional<Channel> channel;  // the endpoint's own channel (not for subscribers)
  uint64_t channel_id = 0;
  std::optional<Reader> shared_reader;  // Fanout: the cursor its subscribers share
  uint64_t shared_reader_id = 0;
  std::shared_ptr<Outbox> outbox;
  std::vector<wire::Link> inbound, outbound, retired;
  uint64_t generation = 0;
};

// Publisher -> Subscriber: the subscriber's own cursor on the publisher's channel, opened here
// so that nothing is missed between wiring and the subscriber attaching it.
struct FlowReader {
  Reader reader;
  uint64_t id = 0;
};

// A cursor of a producer that went, kept open for the subscribers it was wired to.
struct Lingering {
  Reader reader;
  std::chrono::nanoseconds until;
  wire::Link link;                      // {producer, 0, the cursor's shared id}
  std::vector<EndpointId> subscribers;  // listed in their updates' `retired` while it lingers
};

struct Watch {
  explicit Watch(Lifetime l) noexcept : lifetime(std::move(l)) {}
  Lifetime lifetime;
};

Failure failed(std::string what, Error error) {
  std::string detail = lastError();
  return Failure{error.code(), what + ": " + std::string(error.name()) +
                                   (detail.empty() ? "" : " (" + detail + ")")};
}

class Service {
 public:
  Task<int32_t> run();
  // Removes every endpoint `pid` registered (its process ended).
  void processEnded(int64_t pid);

 private:
  void handle(std::span<const uint8_t> frame);
  void onRegister(const wire::Message& message, const wire::Register& request);
  void onUnregister(const wire::Message& message, const wire::Unregister& request);
  void onConnect(const wire::Message& message, const wire::Connect& request);
  // A one-off answer to a request (never waits; a full reply channel loses it).
  void answer(uint64_t reply_channel, uint64_t request_id, wire::Payload payload);
  void refuse(uint64_t reply_channel, uint64_t request_id, std::string message) {
    kLog.debug("refused", {{"request", request_id}, {"error", message}});
    answer(reply_channel, request_id, wire::Failure{std::move(message)});
  }
  void remove(EndpointId id);
  // Recomputes the wiring of `ids` and queues an update to each whose wiring changed.
  void reconcile(const std::set<EndpointId>& ids);
  std::optional<uint64_t> flowReader(EndpointId publisher, EndpointId subscriber);
  std::size_t endpointsOf(int64_t pid) const;
  // Keeps the cursor `reader_id` of `producer` open for kLinger more for `subscribers` (a
  // janitor task closes it then).
  void linger(Reader reader, EndpointId producer, uint64_t reader_id,
              std::vector<EndpointId> subscribers);
  Task<void> janitor();

  Graph graph_;
  std::map<EndpointId, Record> records_;
  std::map<std::pair<EndpointId, EndpointId>, FlowReader> flow_readers_;
  std::deque<Lingering> lingering_;
  bool janitor_running_ = false;
  std::map<int64_t, std::shared_ptr<Watch>> watches_;
  uint64_t undecodable_ = 0;
};

Service* g_service = nullptr;

Task<void> watch(std::shared_ptr<Watch> w, int64_t pid) {
  auto ended = co_await w->lifetime.ended();
  if (!ended) kLog.warn("lifetime wait failed", {{"pid", pid}, {"error", ended.error().name()}});
  if (g_service != nullptr) g_service->processEnded(pid);
}

Task<int32_t> Service::run() {
  auto channel = Channel::create(kRequestCapacity);
  if (!channel) co_return channel.error().result();
  auto shared = channel->share();
  if (!shared) co_return shared.error().result();
  auto lifetime = Lifetime::self();
  if (!lifetime) co_return lifetime.error().result();
  // Clients get a weak writer, never the channel: a channel handle would let any client with
  // ChannelLifecycle (which endpoints hold) drain or delete it.
  auto requests = channel->writer(Strength::Weak);
  if (!requests) co_return requests.error().result();
  // The lifetime first: a client that finds the request writer also finds the lifetime, and
  // its calls fail rather than wait for ever once this process has ended.
  auto registered = registerSingleton(singletonId(kLifetimeSingletonName), lifetime->handle());
  if (registered) registered = registerSingleton(singletonId(kSingletonName), requests->handle());
  if (!registered) {
    kLog.error(registered.error() == ErrorCode::AlreadyExists
                   ? "another Switchboard is running"
                   : "cannot register the Switchboard's singletons",
               {{"error", registered.error().name()}, {"detail", lastError()}});
    co_return registered.error().result();
  }
  auto reader = channel->reader();
  if (!reader) co_return reader.error().result();
  kLog.info("switchboard ready", {{"channel", *shared}});
  std::vector<uint8_t> buffer;
  for (;;) {
    auto frames = co_await reader->readBatch(buffer);
    if (!frames) {
      kLog.error("request channel failed", {{"error", frames.error().name()}});
      co_return frames.error().result();
    }
    for (std::span<const uint8_t> frame : *frames) handle(frame);
  }
}

void Service::handle(std::span<const uint8_t> frame) {
  wire::Decoded decoded = wire::decode(frame);
  const wire::Message& message = decoded.message;
  if (!decoded.ok()) {
    ++undecodable_;
    kLog.warn("malformed request",
              {{"error", decoded.error}, {"bytes", frame.size()}, {"malformed", undecodable_}});
    // With a readable envelope the requester hears why; without one there is nobody to tell.
    if (decoded.envelope) {
      refuse(message.reply_channel, message.request_id, "malformed request: " + decoded.error);
    }
    return;
  }
  if (auto* r = std::get_if<wire::Register>(&message.payload)) return onRegister(message, *r);
  if (auto* u = std::get_if<wire::Unregister>(&message.payload)) return onUnregister(message, *u);
  if (auto* c = std::get_if<wire::Connect>(&message.payload)) return onConnect(message, *c);
  refuse(message.reply_channel, message.request_id,
         "not a request: the Switchboard takes RegisterRequest, UnregisterRequest and "
         "ConnectRequest");
}

void Service::answer(uint64_t reply_channel, uint64_t request_id, wire::Payload payload) {
  if (reply_channel == 0) return;  // the requester asked for no answer
  auto channel = Channel::attach(static_cast<SharedId>(reply_channel));
  auto writer = channel ? channel->writer(Strength::Weak) : Result<Writer>(channel.error());
  if (!writer) {
    kLog.debug("no reply channel", {{"request", request_id}, {"error", writer.error().name()}});
    return;
  }
  std::vector<uint8_t> frame = wire::encode({request_id, 0, std::move(payload)});
  auto sent = detail::trySend(*writer, frame);
  if (!sent) kLog.debug("reply lost", {{"request", request_id}, {"error", sent.error().name()}});
}

std::size_t Service::endpointsOf(int64_t pid) const {
  std::size_t n = 0;
  for (const auto& [id, record] : records_) n += record.pid == pid ? 1 : 0;
  return n;
}

void Service::onRegister(const wire::Message& message, const wire::Register& request) {
  uint64_t reply_to = message.reply_channel;
  if (reply_to == 0) {
    kLog.warn("registration without an updates channel dropped", {{"request", message.request_id}});
    return;
  }
  auto updates = Channel::attach(static_cast<SharedId>(reply_to));
  auto writer = updates ? updates->writer(Strength::Weak) : Result<Writer>(updates.error());
  if (!writer) {
    kLog.warn("registration with an unusable updates channel dropped",
              {{"request", message.request_id}, {"error", writer.error().name()}});
    return;
  }
  Record record;
  record.spec = EndpointSpec{request.kind, request.name, request.schema,
                             request.reply_schema.value_or(SchemaId{})};
  record.token = reply_to;
  if (request.lifetime == 0) {
    return refuse(reply_to, message.request_id,
                  "RegisterRequest has no lifetime: share this process's LIFETIME handle "
                  "(selium::Lifetime::self().share()) so its endpoints go when it ends");
  }
  auto lifetime = Lifetime::attach(static_cast<SharedId>(request.lifetime));
  if (!lifetime) {
    return refuse(
        reply_to, message.request_id,
        failed("lifetime " + decimal(request.lifetime) + " cannot be attached", lifetime.error())
            .message);
  }
  record.pid = static_cast<int64_t>(lifetime->pid());
  if (record.pid != 0 && endpointsOf(record.pid) >= kMaxEndpointsPerProcess) {
    return refuse(reply_to, message.request_id,
                  "process " + decimal(static_cast<uint64_t>(record.pid)) + " has " +
                      decimal(kMaxEndpointsPerProcess) +
                      " endpoints, the most one process may register");
  }
  if (request.kind != EndpointKind::Subscriber) {
    auto channel = Channel::attach(static_cast<SharedId>(request.channel));
    if (!channel) {
      return refuse(
          reply_to, message.request_id,
          failed("channel " + decimal(request.channel) + " cannot be attached", channel.error())
              .message);
    }
    record.channel = std::move(*channel);
    record.channel_id = request.channel;
    if (request.kind == EndpointKind::Fanout) {
      auto reader = record.channel->reader();
      auto id = reader ? reader->handle().share() : Result<SharedId>(reader.error());
      if (!id) {
        return refuse(reply_to, message.request_id,
                      failed("cannot open the shared reader of the fanout", id.error()).message);
      }
      record.shared_reader = std::move(*reader);
      record.shared_reader_id = static_cast<uint64_t>(*id);
    }
  }
  std::string error;
  EndpointId id = graph_.add(record.spec, error);
  if (id == 0) return refuse(reply_to, message.request_id, std::move(error));

  record.outbox = std::make_shared<Outbox>(std::move(*writer));
  record.outbox->frames.push_back(wire::encode({message.request_id, 0, wire::Registered{id}}));
  spawn(flush(record.outbox, id));
  if (watches_.count(record.pid) == 0) {
    auto w = std::make_shared<Watch>(std::move(*lifetime));
    watches_.emplace(record.pid, w);
    spawn(watch(std::move(w), record.pid));
  }
  kLog.debug("registered", {{"endpoint", id},
                            {"kind", kindName(request.kind)},
                            {"name", request.name},
                            {"pid", record.pid}});
  records_.emplace(id, std::move(record));
  reconcile(graph_.neighbourhood(id));
}

void Service::onUnregister(const wire::Message& message, const wire::Unregister& request) {
  auto found = records_.find(request.endpoint_id);
  if (found == records_.end() || found->second.token != request.token) {
    return refuse(message.reply_channel, message.request_id,
                  "no endpoint " + decimal(request.endpoint_id) +
                      " registered with that token (the updates channel of its registration)");
  }
  remove(request.endpoint_id);
  answer(message.reply_channel, message.request_id, wire::Ok{});
}

void Service::onConnect(const wire::Message& message, const wire::Connect& request) {
  std::string error = graph_.connect(request.from, request.to);
  if (!error.empty()) return refuse(message.reply_channel, message.request_id, std::move(error));
  std::set<EndpointId> touched = graph_.neighbourhood(request.from);
  touched.merge(graph_.neighbourhood(request.to));
  reconcile(touched);
  answer(message.reply_channel, message.request_id, wire::Ok{});
}

void Service::remove(EndpointId id) {
  std::set<EndpointId> touched = graph_.neighbourhood(id);
  touched.erase(id);
  std::vector<EndpointId> subscribers = graph_.wiresOf(id).outbound;
  graph_.remove(id);
  auto found = records_.find(id);
  if (found != records_.end()) {
    found->second.outbox->closed = true;
    found->second.outbox->wake.set();
    // Subscribers of a producer that went away may not have attached their cursors yet, or even
    // heard of them: what it sent before it went is still theirs. A subscriber's own cursors
    // close at once (so they no longer hold its producers back).
    if (found->second.shared_reader) {
      linger(std::move(*found->second.shared_reader), id, found->second.shared_reader_id,
             subscribers);
    }
    records_.erase(found);
  }
  for (auto it = flow_readers_.begin(); it != flow_readers_.end();) {
    if (it->first.first == id) {
      linger(std::move(it->second.reader), id, it->second.id, {it->first.second});
      it = flow_readers_.erase(it);
    } else if (it->first.second == id) {
      it = flow_readers_.erase(it);
    } else {
      ++it;
    }
  }
  reconcile(touched);
}

void Service::processEnded(int64_t pid) {
  std::vector<EndpointId> gone;
  for (const auto& [id, record] : records_) {
    if (record.pid == pid) gone.push_back(id);
  }
  kLog.debug("process ended", {{"pid", pid}, {"endpoints", gone.size()}});
  for (EndpointId id : gone) remove(id);
  watches_.erase(pid);
}

void Service::linger(Reader reader, EndpointId producer, uint64_t reader_id,
                     std::vector<EndpointId> subscribers) {
  auto clock = now(Clock::Monotonic);
  if (!clock) return;  // no clock: close it now
  if (lingering_.size() >= kMaxLingering) lingering_.pop_front();
  lingering_.push_back(Lingering{std::move(reader), *clock + kLinger,
                                 wire::Link{producer, 0, reader_id}, std::move(subscribers)});
  if (!janitor_running_) {
    janitor_running_ = true;
    spawn(janitor());
  }
}

Task<void> Service::janitor() {
  while (!lingering_.empty()) {
    auto slept = co_await sleep(std::chrono::seconds(1));
    auto clock = now(Clock::Monotonic);
    if (!slept || !clock) {
      lingering_.clear();
      break;
    }
    while (!lingering_.empty() && lingering_.front().until <= *clock) lingering_.pop_front();
  }
  janitor_running_ = false;
}

std::optional<uint64_t> Service::flowReader(EndpointId publisher, EndpointId subscriber) {
  auto key = std::make_pair(publisher, subscriber);
  auto found = flow_readers_.find(key);
  if (found != flow_readers_.end()) return found->second.id;
  Record& source = records_.at(publisher);
  auto reader = source.channel->reader();
  auto id = reader ? reader->handle().share() : Result<SharedId>(reader.error());
  if (!id) {
    kLog.warn("cannot open a subscriber's reader", {{"publisher", publisher},
                                                    {"subscriber", subscriber},
                                                    {"error", id.error().name()},
                                                    {"detail", lastError()}});
    return std::nullopt;
  }
  flow_readers_.emplace(key, FlowReader{std::move(*reader), static_cast<uint64_t>(*id)});
  return static_cast<uint64_t>(*id);
}

void Service::reconcile(const std::set<EndpointId>& ids) {
  for (EndpointId id : ids) {
    auto found = records_.find(id);
    if (found == records_.end()) continue;
    Record& record = found->second;
    Wires wires = graph_.wiresOf(id);
    std::vector<wire::Link> inbound, outbound, retired;
    switch (record.spec.kind) {
      case EndpointKind::Publisher:
      case EndpointKind::Fanout:
        for (EndpointId peer : wires.outbound) outbound.push_back({peer, 0, 0});
        break;
      case EndpointKind::Subscriber:
        for (EndpointId peer : wires.inbound) {
          const Record& source = records_.at(peer);
          if (source.spec.kind == EndpointKind::Fanout) {
            inbound.push_back({peer, 0, source.shared_reader_id});
          } else if (auto reader = flowReader(peer, id)) {
            inbound.push_back({peer, 0, *reader});
          }
        }
        // Producers that went: their cursors while they linger (newest first, within bounds).
        for (auto it = lingering_.rbegin(); it != lingering_.rend() && retired.size() < kMaxLinks;
             ++it) {
          if (std::find(it->subscribers.begin(), it->subscribers.end(), id) !=
              it->subscribers.end()) {
            retired.push_back(it->link);
          }
        }
        // Cursors of publishers no longer wired to this subscriber go.
        std::erase_if(flow_readers_, [&](const auto& entry) {
          return entry.first.second == id && std::find(wires.inbound.begin(), wires.inbound.end(),
                                                       entry.first.first) == wires.inbound.end();
        });
        break;
      case EndpointKind::Server:
      case EndpointKind::Client:
        for (EndpointId peer : wires.outbound) {
          outbound.push_back({peer, records_.at(peer).channel_id, 0});
        }
        break;
    }
    if (record.generation != 0 && inbound == record.inbound && outbound == record.outbound &&
        retired == record.retired) {
      continue;
    }
    record.inbound = std::move(inbound);
    record.outbound = std::move(outbound);
    record.retired = std::move(retired);
    ++record.generation;
    wire::Wiring wiring{id, record.generation, record.inbound, record.outbound, record.retired};
    record.outbox->wiring = wire::encode({0, 0, std::move(wiring)});
    record.outbox->wake.set();
  }
}

}  // namespace
}  // namespace selium::switchboard

SELIUM_ENTRYPOINT(start) {
  static selium::switchboard::Service service;
  selium::switchboard::g_service = &service;
  co_return co_await service.run();
}
