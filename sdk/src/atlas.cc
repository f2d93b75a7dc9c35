// The Atlas client: one reply channel per client, read by one task that hands each reply to the
// call waiting for its request id; a second task watches the service's lifetime so that calls
// fail with Closed, instead of waiting for ever, once the service has ended.
#include "selium/atlas.hpp"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "selium/child.hpp"
#include "selium/log.hpp"
#include "selium/process.hpp"

namespace selium {
namespace {

constexpr log::Logger kLog{"selium.atlas.client"};

// The reply channel holds kMaxInFlight of the largest replies (each frame: overhead + payload
// rounded up to the frame alignment).
constexpr std::size_t kReplyFrameBytes =
    SELIUM_FRAME_OVERHEAD +
    (atlas::kMaxReplyBytes + SELIUM_FRAME_ALIGN - 1) / SELIUM_FRAME_ALIGN * SELIUM_FRAME_ALIGN;
constexpr uint32_t kReplyChannelBytes =
    static_cast<uint32_t>(Atlas::kMaxInFlight * kReplyFrameBytes);

ErrorCode codeOf(uint32_t code) {
  switch (code) {
#define SELIUM_ATLAS_CODE_(name, value, text) \
  case value:                                 \
    return ErrorCode::name;
    SELIUM_ERRORS(SELIUM_ATLAS_CODE_)
#undef SELIUM_ATLAS_CODE_
  }
  return ErrorCode::Internal;
}

std::string hostFailure(std::string_view what, Error error) {
  std::string out(what);
  out += ": ";
  out += error.name();
  std::string detail = lastError();
  if (!detail.empty()) out += " (" + detail + ")";
  return out;
}

}  // namespace

struct Atlas::State {
  State(Writer w, Channel c, Reader r, SharedId reply, Lifetime own, SharedId own_id,
        Lifetime service_life) noexcept
      : requests(std::move(w)),
        replies(std::move(c)),
        reader(std::move(r)),
        reply_id(reply),
        lifetime(std::move(own)),
        lifetime_id(own_id),
        service(std::move(service_life)) {}

  struct Pending {
    std::optional<atlas::Message> reply;
    Event arrived;
  };

  Writer requests;    // the service's weak request writer (its singleton)
  Channel replies;    // this client's reply channel (Park)
  Reader reader;      // strong: replies are never overwritten before they are read
  SharedId reply_id;  // sent in every request
  Lifetime lifetime;  // this process's: names the owner of what it inserts
  SharedId lifetime_id;
  Lifetime service;  // the service's
  uint64_t next_request_id = 1;
  std::size_t outstanding = 0;           // requests sent whose reply has not been read
  Event slot_free;                       // set whenever outstanding drops
  std::map<uint64_t, Pending*> pending;  // request id -> the call waiting for it
  std::set<uint64_t> abandoned;          // sent by calls that were cancelled: replies still due
  bool closed = false;
  std::string closed_why;
  Event stop;  // ends the task watching the service
  std::string last_error;

  void release() {
    --outstanding;
    slot_free.set();
  }

  void deliver(atlas::Message reply) {
    auto it = pending.find(reply.requestId);
    if (it != pending.end()) {
      Pending* call = it->second;
      pending.erase(it);
      call->reply = std::move(reply);
      call->arrived.set();
      release();
    } else if (abandoned.erase(reply.requestId) > 0) {
      release();
    } else {
      kLog.warn("reply to no request of this client", {{"request_id", reply.requestId}});
    }
  }

  // Ends the client: every waiting call fails with Closed and `why` as its lastError.
  void fail(std::string why) {
    if (closed) return;
    closed = true;
    closed_why = std::move(why);
    for (auto& [id, call] : pending) call->arrived.set();
    slot_free.set();
    stop.set();
    (void)replies.remove();  // ends the reading task
  }
};

namespace {

using State = Atlas::State;

Task<void> readReplies(std::shared_ptr<State> s) {
  for (;;) {
    auto frame = co_await s->reader.read();
    if (!frame) {
      s->fail("the Atlas client's reply channel closed (" + std::string(frame.error().name()) +
              ")");
      co_return;
    }
    atlas::Decoded decoded = atlas::decode(*frame, atlas::kMaxReplyBytes);
    if (decoded.index() == 1) {
      kLog.warn("unreadable reply", {{"detail", std::get<1>(decoded).message}});
      continue;
    }
    s->deliver(std::get<0>(std::move(decoded)));
  }
}

Task<void> untilEnded(Lifetime& lifetime, std::optional<Result<int64_t>>& out) {
  out.emplace(co_await lifetime.ended());
}

Task<void> untilSet(Event& event) { co_await event.wait(); }

Task<void> watchService(std::shared_ptr<State> s) {
  std::optional<Result<int64_t>> ended;
  std::vector<Task<void>> tasks;
  tasks.push_back(untilEnded(s->service, ended));
  tasks.push_back(untilSet(s->stop));
  if (co_await race(std::move(tasks)) != 0) co_return;  // the client closed first
  if (ended && *ended) {
    s->fail("the Atlas service (process " + std::to_string(**ended) + ") has ended");
  } else {
    s->fail(hostFailure("cannot watch the Atlas service's lifetime",
                        ended ? ended->error() : Error(ErrorCode::Internal)));
  }
}

// One call's registration: its slot and its entry in `pending`, given back however the call
// ends (reply, failure, or the calling task destroyed).
class CallGuard {
 public:
  CallGuard(State& s, uint64_t id, State::Pending& call) : s_(s), id_(id) {
    s_.pending.emplace(id, &call);
    ++s_.outstanding;
  }
  CallGuard(const CallGuard&) = delete;
  CallGuard& operator=(const CallGuard&) = delete;
  ~CallGuard() {
    auto it = s_.pending.find(id_);
    if (it == s_.pending.end()) return;  // delivered: its slot went with the reply
    s_.pending.erase(it);
    if (sent_ && !s_.closed) {
      s_.abandoned.insert(id_);  // the reply still comes and takes room until read
    } else {
      s_.release();
    }
  }
  void sent() noexcept { sent_ = true; }

 private:
  State& s_;
  uint64_t id_;
  bool sent_ = false;
};

// Sends `request` and waits for the reply with its request id.
Task<Result<atlas::Message>> exchange(std::shared_ptr<State> s, atlas::Message request) {
  if (!s) co_return Error(ErrorCode::Closed);
  while (!s->closed && s->outstanding >= Atlas::kMaxInFlight) {
    s->slot_free.reset();
    co_await s->slot_free.wait();
  }
  if (s->closed) {
    s->last_error = s->closed_why;
    co_return Error(ErrorCode::Closed);
  }
  request.requestId = s->next_request_id++;
  request.replyChannel = static_cast<uint64_t>(s->reply_id);
  if (request.kind == atlas::MessageKind::Insert || request.kind == atlas::MessageKind::Remove) {
    request.lifetime = static_cast<uint64_t>(s->lifetime_id);
  }
  std::vector<uint8_t> bytes = atlas::encode(request);
  State::Pending call;
  CallGuard guard(*s, request.requestId, call);
  auto written = co_await s->requests.write(bytes);
  if (!written) {
    s->last_error = hostFailure("cannot send the request to the Atlas", written.error());
    co_return written.error();
  }
  guard.sent();
  while (!call.reply && !s->closed) {
    call.arrived.reset();
    co_await call.arrived.wait();
  }
  if (!call.reply) {
    s->last_error = s->closed_why;
    co_return Error(ErrorCode::Closed);
  }
  co_return std::move(*call.reply);
}

// The reply as the kind `want`, or the error it carries.
Result<atlas::Message> expect(State& s, Result<atlas::Message> reply, atlas::MessageKind asked,
                              atlas::MessageKind want) {
  if (!reply) return reply.error();
  if (reply->kind == atlas::MessageKind::Error) {
    s.last_error = "atlas error: " + reply->message;
    return Error(codeOf(reply->code));
  }
  if (reply->kind != want) {
    s.last_error = "protocol error: " + std::string(atlas::kindName(reply->kind)) +
                   " in reply to a " + std::string(atlas::kindName(asked));
    return Error(ErrorCode::Internal);
  }
  return reply;
}

atlas::Message requestFor(atlas::MessageKind kind, std::optional<Uri> uri) {
  atlas::Message m;
  m.kind = kind;
  m.uri = std::move(uri);
  return m;
}

Task<Result<void>> doInsert(std::shared_ptr<State> s, Uri uri, uint64_t id) {
  atlas::Message request = requestFor(atlas::MessageKind::Insert, std::move(uri));
  request.id = id;
  auto reply = co_await exchange(s, std::move(request));
  if (!s) co_return Error(ErrorCode::Closed);
  auto ok = expect(*s, std::move(reply), atlas::MessageKind::Insert, atlas::MessageKind::Ok);
  if (!ok) co_return ok.error();
  co_return Result<void>();
}

Task<Result<std::optional<uint64_t>>> doFind(std::shared_ptr<State> s, atlas::MessageKind kind,
                                             Uri uri) {
  auto want = kind == atlas::MessageKind::Get ? atlas::MessageKind::GetResponse
                                              : atlas::MessageKind::RemoveResponse;
  auto reply = co_await exchange(s, requestFor(kind, std::move(uri)));
  if (!s) co_return Error(ErrorCode::Closed);
  auto found = expect(*s, std::move(reply), kind, want);
  if (!found) co_return found.error();
  co_return found->found ? std::optional<uint64_t>(found->id) : std::nullopt;
}

Task<Result<std::vector<uint64_t>>> doLookup(std::shared_ptr<State> s, std::string pattern) {
  atlas::Message request = requestFor(atlas::MessageKind::Lookup, std::nullopt);
  request.pattern = std::move(pattern);
  auto reply = co_await exchange(s, std::move(request));
  if (!s) co_return Error(ErrorCode::Closed);
  auto ids =
      expect(*s, std::move(reply), atlas::MessageKind::Lookup, atlas::MessageKind::LookupResponse);
  if (!ids) co_return ids.error();
  co_return std::move(ids->ids);
}

}  // namespace

Result<Atlas> Atlas::connect() noexcept {
  auto requests_handle = lookupSingleton(singletonId(atlas::kSingletonName), Kind::Writer);
  if (!requests_handle) return requests_handle.error();
  auto service_life = lookupSingleton(singletonId(atlas::kLifetimeSingletonName),
                                      static_cast<Kind>(SELIUM_KIND_LIFETIME));
  if (!service_life) return service_life.error();
  Writer requests(std::move(*requests_handle));
  auto replies = Channel::create(kReplyChannelBytes);
  if (!replies) return replies.error();
  auto reader = replies->reader(Strength::Strong);
  if (!reader) return reader.error();
  auto reply_id = replies->share();
  if (!reply_id) return reply_id.error();
  auto lifetime = Lifetime::self();
  if (!lifetime) return lifetime.error();
  auto lifetime_id = lifetime->share();
  if (!lifetime_id) return lifetime_id.error();
  // The singleton gives a handle; a Lifetime is attached from a shared id.
  auto service_id = service_life->share();
  if (!service_id) return service_id.error();
  auto service = Lifetime::attach(*service_id);
  if (!service) return service.error();
  auto state =
      std::make_shared<State>(std::move(requests), std::move(*replies), std::move(*reader),
                              *reply_id, std::move(*lifetime), *lifetime_id, std::move(*service));
  spawn(readReplies(state));
  spawn(watchService(state));
  return Atlas(std::move(state));
}

Atlas& Atlas::operator=(Atlas&& other) noexcept {
  if (this != &other) {
    close();
    state_ = std::move(other.state_);
  }
  return *this;
}

Atlas::~Atlas() { close(); }

void Atlas::close() noexcept {
  if (state_) state_->fail("this Atlas client was closed");
  state_.reset();
}

Task<Result<void>> Atlas::insert(Uri uri, uint64_t id) {
  return doInsert(state_, std::move(uri), id);
}

Task<Result<std::optional<uint64_t>>> Atlas::get(Uri uri) {
  return doFind(state_, atlas::MessageKind::Get, std::move(uri));
}

Task<Result<std::optional<uint64_t>>> Atlas::remove(Uri uri) {
  return doFind(state_, atlas::MessageKind::Remove, std::move(uri));
}

Task<Result<std::vector<uint64_t>>> Atlas::lookup(std::string pattern) {
  return doLookup(state_, std::move(pattern));
}

std::string Atlas::lastError() const {
  return state_ ? state_->last_error : std::string("this Atlas client was moved from");
}

}  // namespace selium
