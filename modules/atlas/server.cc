// Atlas, the sel:// directory service (docs/atlas.md), as a guest: entrypoint `start`.
//
// Registers the singletons "selium.atlas" (a weak writer of its request channel) and
// "selium.atlas.lifetime"
// (its LIFETIME, so clients notice when it ends), then serves requests one at a time. Every
// request that names a reply channel gets exactly one reply, errors included. The service never
// waits for a client: a reply is written once with a weak writer, and a client whose reply
// channel is full loses it. Entries belong to the process whose lifetime the insert carried; one
// task per owning process waits for its end and then removes its entries.
//
// Capabilities: ChannelLifecycle, ChannelReader, ChannelWriter, SingletonRegistry.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <selium/atlas.hpp>
#include <selium/atlas_protocol.hpp>
#include <selium/selium.hpp>

#include "store.h"

namespace {

using selium::atlas::DecodeFailure;
using selium::atlas::Message;
using selium::atlas::MessageKind;

constexpr selium::log::Logger kLog{"selium.atlas"};
// Room for many clients' requests at once; a request is at most kMaxRequestBytes (larger frames
// are answered with TooLarge, and frames larger than the ring are refused to their writer).
constexpr uint32_t kRequestChannelBytes = 256 * 1024;
// Requests served between yields to the host while a backlog lasts.
constexpr uint64_t kRequestsPerYield = 64;

// A process that owns entries: its lifetime (attached from the shared id its first insert
// carried) and the task that waits for its end.
struct Owner {
  explicit Owner(uint64_t p, selium::Lifetime l) noexcept : pid(p), lifetime(std::move(l)) {}
  uint64_t pid;
  selium::Lifetime lifetime;
  selium::Event released;  // set when it no longer owns anything: its task ends
};

class Server {
 public:
  void handleFrame(std::span<const uint8_t> frame);

 private:
  void handleRequest(Message request);
  void reply(uint64_t reply_channel, const Message& message);
  void adopt(uint64_t pid, selium::Lifetime lifetime);
  void releaseIfEmpty(uint64_t pid);
  selium::Task<void> watch(Owner& owner);

  selium::atlas::Store store_;
  std::map<uint64_t, std::unique_ptr<Owner>> owners_;  // by pid
};

// Writes `bytes` to the channel `reply_channel` names without waiting: the result of the one
// attempt (0, or -WouldBlock when the client's channel is full, -Closed, ...).
int32_t writeOnce(uint64_t reply_channel, std::span<const uint8_t> bytes) {
  auto channel = selium::Channel::attach(static_cast<selium::SharedId>(reply_channel));
  if (!channel) return channel.error().result();
  auto writer = channel->writer(selium::Strength::Weak);
  if (!writer) return writer.error().result();
  // One attempt (SELIUM_WAKER_NONE); the writer and channel handles close on return.
  return selium_channel_write(writer->handle().get(), SELIUM_ADDR(bytes.data()),
                              static_cast<uint32_t>(bytes.size()), SELIUM_WAKER_NONE);
}

void Server::reply(uint64_t reply_channel, const Message& message) {
  if (reply_channel == 0) {  // an Insert that asked for no reply: only a refusal is worth a word
    if (message.kind == MessageKind::Error) {
      kLog.warn("insert refused", {{"request_id", message.requestId}, {"error", message.message}});
    }
    return;
  }
  std::vector<uint8_t> bytes = selium::atlas::encode(message);
  int32_t result = writeOnce(reply_channel, bytes);
  if (result < 0) {
    kLog.warn("reply lost", {{"request_id", message.requestId},
                             {"reply_channel", reply_channel},
                             {"error", selium_error_name(result)},
                             {"detail", result == -SELIUM_ERR_WouldBlock
                                            ? std::string("the client's reply channel is full")
                                            : selium::lastError()}});
  }
}

void Server::handleFrame(std::span<const uint8_t> frame) {
  selium::atlas::Decoded decoded = selium::atlas::decode(frame, selium::atlas::kMaxRequestBytes);
  if (decoded.index() == 1) {
    const DecodeFailure& failure = std::get<1>(decoded);
    kLog.warn("bad request", {{"detail", failure.message},
                              {"bytes", frame.size()},
                              {"reply_channel", failure.replyChannel}});
    if (failure.replyChannel != 0) {
      reply(failure.replyChannel, selium::atlas::errorReply(failure.requestId, failure.code,
                                                            "bad request: " + failure.message));
    }
    return;
  }
  Message request = std::get<0>(std::move(decoded));
  if (!selium::atlas::isRequest(request.kind)) {
    kLog.warn("not a request",
              {{"kind", selium::atlas::kindName(request.kind)}, {"request_id", request.requestId}});
    return;  // replies carry no reply channel: there is nobody to answer
  }
  handleRequest(std::move(request));
}

void Server::handleRequest(Message request) {
  uint64_t requester = 0;
  std::optional<selium::Lifetime> lifetime;
  if (request.kind == MessageKind::Insert || request.kind == MessageKind::Remove) {
    // Who asks: the process the request's lifetime names.
    auto attached = selium::Lifetime::attach(static_cast<selium::SharedId>(request.lifetime));
    int64_t pid = attached ? attached->pid() : 0;
    if (!attached && attached.error() == selium::ErrorCode::NotFound && request.replyChannel == 0) {
      // The runtime published a log_uri for a process that has ended since: nothing to keep.
      kLog.debug("log_uri of an ended process", {{"lifetime", request.lifetime}});
      return;
    }
    if (!attached || pid <= 0) {
      std::string why = attached ? selium::lastError() : std::string(attached.error().name());
      reply(request.replyChannel,
            selium::atlas::errorReply(
                request.requestId, SELIUM_ERR_InvalidArgument,
                "bad request: the lifetime " + std::to_string(request.lifetime) +
                    " cannot be attached (" + why +
                    "): send the shared id of your own process_lifetime handle"));
      return;
    }
    requester = static_cast<uint64_t>(pid);
    lifetime.emplace(std::move(*attached));
  }
  Message answer = store_.handle(request, requester);
  if (request.kind == MessageKind::Insert && answer.kind == MessageKind::Ok) {
    adopt(requester, std::move(*lifetime));
  } else if (request.kind == MessageKind::Remove && answer.found) {
    releaseIfEmpty(requester);
  }
  if (answer.kind == MessageKind::Error) {
    kLog.debug("request refused", {{"request_id", request.requestId},
                                   {"kind", selium::atlas::kindName(request.kind)},
                                   {"detail", answer.message}});
  }
  reply(request.replyChannel, answer);
}

// Starts watching `pid` when it first owns an entry; a later lifetime of the same process is
// closed (the first one already names it).
void Server::adopt(uint64_t pid, selium::Lifetime lifetime) {
  if (owners_.contains(pid)) return;
  auto owner = std::make_unique<Owner>(pid, std::move(lifetime));
  Owner& watched = *owner;
  owners_.emplace(pid, std::move(owner));
  selium::spawn(watch(watched));
}

void Server::releaseIfEmpty(uint64_t pid) {
  auto it = owners_.find(pid);
  if (it != owners_.end() && store_.countOf(pid) == 0) it->second->released.set();
}

selium::Task<void> untilEnded(selium::Lifetime& lifetime,
                              std::optional<selium::Result<int64_t>>& out) {
  out.emplace(co_await lifetime.ended());
}

selium::Task<void> untilSet(selium::Event& event) { co_await event.wait(); }

// Waits for the owner's process to end, then removes its entries; stops early once it owns
// nothing (checked again on waking: it may have inserted since). Forgets the owner either way.
selium::Task<void> Server::watch(Owner& owner) {
  for (;;) {
    std::optional<selium::Result<int64_t>> ended;
    std::vector<selium::Task<void>> tasks;
    tasks.push_back(untilEnded(owner.lifetime, ended));
    tasks.push_back(untilSet(owner.released));
    if (co_await selium::race(std::move(tasks)) == 0) {
      std::size_t removed = store_.removeOwner(owner.pid);
      if (ended && *ended) {
        kLog.info("owner ended: its entries removed",
                  {{"owner", owner.pid}, {"entries", removed}, {"left", store_.size()}});
      } else {
        // Without a lifetime to wait on, keeping its entries would keep them for ever.
        kLog.warn("cannot wait for an owner's end: its entries removed",
                  {{"owner", owner.pid},
                   {"entries", removed},
                   {"error", ended ? ended->error().name() : "Internal"},
                   {"detail", selium::lastError()}});
      }
      break;
    }
    owner.released.reset();
    if (store_.countOf(owner.pid) == 0) break;
  }
  owners_.erase(owner.pid);  // destroys `owner`, closing its lifetime handle
}

selium::Task<int32_t> serve() {
  auto channel = selium::Channel::create(kRequestChannelBytes);
  if (!channel) {
    kLog.error("cannot create the request channel",
               {{"error", channel.error().name()}, {"detail", selium::lastError()}});
    co_return 1;
  }
  auto reader = channel->reader(selium::Strength::Strong);
  if (!reader) {
    kLog.error("cannot read the request channel",
               {{"error", reader.error().name()}, {"detail", selium::lastError()}});
    co_return 1;
  }
  auto lifetime = selium::Lifetime::self();
  if (!lifetime) {
    kLog.error("cannot get this process's lifetime",
               {{"error", lifetime.error().name()}, {"detail", selium::lastError()}});
    co_return 1;
  }
  // Clients get a weak writer, never the channel: a channel handle would let any client with
  // ChannelLifecycle (which they hold for their reply channels) drain or delete it.
  auto requests = channel->writer(selium::Strength::Weak);
  if (!requests) {
    kLog.error("cannot open the request writer",
               {{"error", requests.error().name()}, {"detail", selium::lastError()}});
    co_return 1;
  }
  // The lifetime first: a client that finds the request writer also finds the lifetime.
  auto registered = selium::registerSingleton(
      selium::singletonId(selium::atlas::kLifetimeSingletonName), lifetime->handle());
  if (registered) {
    registered = selium::registerSingleton(selium::singletonId(selium::atlas::kSingletonName),
                                           requests->handle());
  }
  if (!registered) {
    kLog.error(registered.error() == selium::ErrorCode::AlreadyExists
                   ? "another Atlas is running"
                   : "cannot register the Atlas singletons",
               {{"error", registered.error().name()}, {"detail", selium::lastError()}});
    co_return 1;
  }
  kLog.info("atlas serving", {{"request_channel_bytes", kRequestChannelBytes}});

  Server server;
  uint64_t handled = 0;
  for (;;) {
    auto frame = co_await reader->read();
    if (!frame) {
      kLog.error("the request channel failed",
                 {{"error", frame.error().name()}, {"detail", selium::lastError()}});
      co_return 1;
    }
    if (frame->empty()) continue;
    server.handleFrame(*frame);
    // Reads do not suspend while requests are queued: let the worker's other processes run.
    if (++handled % kRequestsPerYield == 0) co_await selium::yield();
  }
}

}  // namespace

SELIUM_ENTRYPOINT(start) { co_return co_await serve(); }
