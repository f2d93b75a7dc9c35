// Request/reply over channels, with many clients talking to one server at once.
//
//   server()                    registers its request channel as the singleton "examples.echo",
//                               then answers each request on the reply channel the request names.
//   client(u32 id, u32 count)   finds the server, sends `count` requests and checks each reply.
//   demo(u32 clients, u32 count)
//                               starts a server and `clients` clients as child processes, waits
//                               for every client, stops the server. Status 0 when all succeeded.
//   demo_stalled(u32 clients, u32 count)
//                               as demo, but first sends the server a flood of requests on a
//                               reply channel it never reads: the other clients must not notice.
//
// A request frame is [u64 LE shared id of the client's reply channel][payload]; the reply is the
// payload upper-cased. Every client has its own reply channel, so replies reach only the client
// that asked. The server's one strong reader hears every client, and it never waits for any
// client: each client's replies are written by a task of its own, from a bounded backlog, so a
// client that stops reading holds up nobody but itself.
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <selium/selium.hpp>

namespace {

constexpr selium::log::Logger kLog{"examples.request_reply"};
constexpr std::string_view kServiceName = "examples.echo";
// Most clients the server keeps a reply writer for; past it the least recently heard is dropped
// (its writer reopens on demand when it asks again).
constexpr std::size_t kMaxSessions = 1024;
// Most bytes of replies the server holds for one client that is not reading them. Past it, that
// client's further replies are dropped: the server's memory stays bounded whatever clients do.
constexpr std::size_t kMaxBacklogBytes = 16 * 1024;
constexpr std::size_t kReplyOverhead = 16;  // what a queued reply costs besides its bytes
constexpr uint32_t kReplyChannelBytes = 16 * 1024;
// demo_stalled's flood: well past what the reply channel and the server's backlog hold together.
constexpr uint32_t kStalledRequests = 4096;

int32_t failed(std::string_view what, selium::Error error) {
  kLog.error(what, {{"error", error.name()}, {"detail", selium::lastError()}});
  return 1;
}

void putU64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

uint64_t getU64(std::span<const uint8_t> in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{in[i]} << (8 * i);
  return v;
}

std::vector<uint8_t> requestFrame(selium::SharedId reply_id, std::string_view payload) {
  std::vector<uint8_t> request;
  request.reserve(8 + payload.size());
  putU64(request, static_cast<uint64_t>(reply_id));
  request.insert(request.end(), payload.begin(), payload.end());
  return request;
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

// ---- server ----

// One client's replies: the backlog the server owes it and the task that writes them. Shared by
// the server's table and that task, so either may let go first.
struct Session {
  explicit Session(selium::Writer w) noexcept : writer(std::move(w)) {}

  selium::Writer writer;  // weak: the server is never served ahead of anyone
  std::deque<std::string> backlog;
  std::size_t backlog_bytes = 0;
  uint64_t last_heard = 0;
  uint64_t dropped = 0;
  bool ended = false;     // its task has finished: the channel is gone, or it was evicted
  selium::Event queued;   // set when a reply joins the backlog
  selium::Event evicted;  // ends the task, even while a write waits
};

selium::Task<void> writeReplies(Session& session) {
  for (;;) {
    while (session.backlog.empty()) {
      session.queued.reset();
      co_await session.queued.wait();
    }
    std::string reply = std::move(session.backlog.front());
    session.backlog.pop_front();
    session.backlog_bytes -= reply.size() + kReplyOverhead;
    // Waits while this client's channel is full: only this task waits, nobody else.
    auto written = co_await session.writer.write(reply);
    if (!written && written.error() != selium::ErrorCode::TooLarge) co_return;  // channel gone
  }
}

selium::Task<void> untilSet(selium::Event& event) { co_await event.wait(); }

// Runs one session until its channel goes or it is evicted; owns it meanwhile.
selium::Task<void> serveSession(std::shared_ptr<Session> session) {
  std::vector<selium::Task<void>> tasks;
  tasks.push_back(writeReplies(*session));
  tasks.push_back(untilSet(session->evicted));
  (void)co_await selium::race(std::move(tasks));  // the loser is cancelled: its wait withdrawn
  session->ended = true;
}

using Sessions = std::map<uint64_t, std::shared_ptr<Session>>;

// Makes room for one more session: forgets ended ones, then evicts the least recently heard.
void makeRoom(Sessions& sessions) {
  std::erase_if(sessions, [](const auto& entry) { return entry.second->ended; });
  if (sessions.size() < kMaxSessions) return;
  auto oldest = sessions.begin();
  for (auto it = sessions.begin(); it != sessions.end(); ++it) {
    if (it->second->last_heard < oldest->second->last_heard) oldest = it;
  }
  oldest->second->evicted.set();
  sessions.erase(oldest);
}

// The session of the reply channel `reply_id`, opened on its first request; null when the
// channel cannot be written (its client has gone, or sent a bad id).
Session* sessionFor(Sessions& sessions, uint64_t reply_id) {
  auto it = sessions.find(reply_id);
  if (it != sessions.end() && !it->second->ended) return it->second.get();
  if (it != sessions.end()) sessions.erase(it);
  auto channel = selium::Channel::attach(static_cast<selium::SharedId>(reply_id));
  if (!channel) return nullptr;
  auto writer = channel->writer(selium::Strength::Weak);
  if (!writer) return nullptr;
  if (sessions.size() >= kMaxSessions) makeRoom(sessions);
  auto session = std::make_shared<Session>(std::move(*writer));
  sessions.emplace(reply_id, session);
  selium::spawn(serveSession(session));
  return session.get();
}

// ---- demo ----

const char* reasonName(int32_t reason) {
  switch (reason) {
    case SELIUM_EXIT_NORMAL:
      return "normal";
    case SELIUM_EXIT_ERROR:
      return "error";
    case SELIUM_EXIT_TRAP:
      return "trap";
    case SELIUM_EXIT_TERMINATED:
      return "terminated";
    case SELIUM_EXIT_FAILED:
      return "failed";
  }
  return "unknown";
}

// How `child` ended (a failed wait, which only a broken handle causes, counts as a failure).
selium::Task<selium::Exit> exitOf(selium::ChildProcess& child) {
  auto exit = co_await child.exit();
  if (!exit) {
    co_return selium::Exit{SELIUM_EXIT_FAILED, 0,
                           "cannot wait for it: " + std::string(exit.error().name())};
  }
  co_return std::move(*exit);
}

selium::Task<void> watchExit(selium::ChildProcess& child, std::optional<selium::Exit>& out) {
  out = co_await exitOf(child);
}

// Stops every child and waits until each has ended.
selium::Task<void> stopAll(std::vector<selium::ChildProcess>& children) {
  for (selium::ChildProcess& child : children) (void)child.stop();
  for (selium::ChildProcess& child : children) (void)co_await exitOf(child);
}

// Looks the service up until the server has registered it (or a lookup fails otherwise).
selium::Task<void> findService(std::optional<selium::Result<selium::Handle>>& out) {
  for (;;) {
    auto found = selium::lookupSingleton(selium::singletonId(kServiceName), selium::Kind::Channel);
    if (found || found.error() != selium::ErrorCode::NotFound) {
      out.emplace(std::move(found));
      co_return;
    }
    auto slept = co_await selium::sleep(std::chrono::milliseconds(10));
    if (!slept) {
      out.emplace(slept.error());
      co_return;
    }
  }
}

selium::Task<void> awaitClients(std::vector<selium::ChildProcess>& clients, uint32_t& succeeded) {
  for (std::size_t id = 0; id < clients.size(); ++id) {
    selium::Exit exit = co_await exitOf(clients[id]);
    if (exit.ok()) {
      ++succeeded;
    } else {
      kLog.warn("client failed", {{"client", id},
                                  {"reason", reasonName(exit.reason)},
                                  {"status", exit.status},
                                  {"detail", exit.message}});
    }
  }
}

enum class Stalled { No, Yes };

// A client that never reads its replies: a reply channel whose strong reader is never read.
struct Unread {
  std::optional<selium::Channel> channel;
  std::optional<selium::Reader> reader;
};

// Sends kStalledRequests requests naming `unread`'s channel, so that it fills and the server's
// writes to it wait for ever.
selium::Task<int32_t> stallReplies(selium::Channel& requests, Unread& unread) {
  auto channel = selium::Channel::create(kReplyChannelBytes);
  if (!channel) co_return failed("cannot create a reply channel", channel.error());
  auto reader = channel->reader();
  if (!reader) co_return failed("cannot read the reply channel", reader.error());
  auto reply_id = channel->share();
  if (!reply_id) co_return failed("cannot share the reply channel", reply_id.error());
  unread.channel.emplace(std::move(*channel));
  unread.reader.emplace(std::move(*reader));
  auto writer = requests.writer(selium::Strength::Weak);
  if (!writer) co_return failed("cannot write requests", writer.error());
  for (uint32_t i = 0; i < kStalledRequests; ++i) {
    auto sent = co_await writer->write(requestFrame(*reply_id, "unread " + std::to_string(i)));
    if (!sent) co_return failed("request failed", sent.error());
  }
  kLog.info("stalled client sent its requests", {{"requests", kStalledRequests}});
  co_return 0;
}

selium::Task<int32_t> runDemo(uint32_t clients, uint32_t count, Stalled stalled) {
  auto started = selium::ProcessBuilder("request_reply.wasm")
                     .entrypoint("server")
                     .capability(SELIUM_CAP_ChannelLifecycle)
                     .capability(SELIUM_CAP_ChannelReader)
                     .capability(SELIUM_CAP_ChannelWriter)
                     .capability(SELIUM_CAP_SingletonRegistry)
                     .start();
  if (!started) co_return failed("cannot start the server", started.error());
  std::vector<selium::ChildProcess> server;  // one, in a vector for stopAll
  server.push_back(std::move(*started));

  // Wait until the server serves, or has ended without ever serving.
  std::optional<selium::Result<selium::Handle>> found;
  std::optional<selium::Exit> server_exit;
  std::vector<selium::Task<void>> first;
  first.push_back(findService(found));
  first.push_back(watchExit(server[0], server_exit));
  if (co_await selium::race(std::move(first)) == 1) {
    kLog.error("the server ended before it served", {{"reason", reasonName(server_exit->reason)},
                                                     {"status", server_exit->status},
                                                     {"detail", server_exit->message}});
    co_return 1;
  }
  if (!*found) {
    int32_t status = failed("cannot find the service", found->error());
    co_await stopAll(server);
    co_return status;
  }
  selium::Channel requests(std::move(**found));

  // demo_stalled: the channel nobody reads lives until the demo ends.
  Unread unread;
  if (stalled == Stalled::Yes) {
    if (int32_t status = co_await stallReplies(requests, unread); status != 0) {
      co_await stopAll(server);
      co_return status;
    }
  }

  std::vector<selium::ChildProcess> children;
  for (uint32_t id = 0; id < clients; ++id) {
    auto child = selium::ProcessBuilder("request_reply.wasm")
                     .entrypoint("client")
                     .capability(SELIUM_CAP_ChannelLifecycle)
                     .capability(SELIUM_CAP_ChannelReader)
                     .capability(SELIUM_CAP_ChannelWriter)
                     .capability(SELIUM_CAP_SingletonLookup)
                     .capability(SELIUM_CAP_TimeRead)
                     .arg(selium::Arg::u32(id))
                     .arg(selium::Arg::u32(count))
                     .start();
    if (!child) {
      int32_t status = failed("cannot start a client", child.error());
      co_await stopAll(children);
      co_await stopAll(server);
      co_return status;
    }
    children.push_back(std::move(*child));
  }

  // Wait for every client, unless the server ends first: then they would wait for ever.
  uint32_t succeeded = 0;
  std::vector<selium::Task<void>> outcome;
  outcome.push_back(awaitClients(children, succeeded));
  outcome.push_back(watchExit(server[0], server_exit));
  if (co_await selium::race(std::move(outcome)) == 1) {
    kLog.error("the server ended while clients were running",
               {{"reason", reasonName(server_exit->reason)},
                {"status", server_exit->status},
                {"detail", server_exit->message}});
    co_await stopAll(children);
    co_return 1;
  }
  (void)server[0].stop();
  selium::Exit stopped = co_await exitOf(server[0]);
  kLog.info("demo done",
            {{"clients", clients}, {"succeeded", succeeded}, {"server", stopped.message}});
  co_return succeeded == clients ? 0 : 1;
}

}  // namespace

SELIUM_ENTRYPOINT(server) {
  auto requests = selium::Channel::create(256 * 1024);
  if (!requests) co_return failed("cannot create the request channel", requests.error());
  auto reader = requests->reader();
  if (!reader) co_return failed("cannot read the request channel", reader.error());
  auto registered =
      selium::registerSingleton(selium::singletonId(kServiceName), requests->handle());
  if (!registered) co_return failed("cannot register the service", registered.error());
  kLog.info("serving", {{"service", kServiceName}});

  // This loop never waits for a client: it only queues replies, and each client's task writes
  // them. A client that does not read its replies fills its own channel and backlog, and then
  // loses replies; the others are served as before.
  Sessions sessions;
  uint64_t heard = 0;
  std::vector<uint8_t> buffer;
  for (;;) {
    auto batch = co_await reader->readBatch(buffer);
    if (!batch) co_return failed("request channel failed", batch.error());
    for (std::span<const uint8_t> frame : *batch) {
      if (frame.size() < 8) continue;  // not a request
      Session* session = sessionFor(sessions, getU64(frame));
      if (session == nullptr) continue;
      session->last_heard = ++heard;
      std::string reply = upper(
          std::string_view(reinterpret_cast<const char*>(frame.data()) + 8, frame.size() - 8));
      std::size_t cost = reply.size() + kReplyOverhead;
      if (!session->backlog.empty() && session->backlog_bytes + cost > kMaxBacklogBytes) {
        if (session->dropped++ == 0) {
          kLog.warn("a client is not reading its replies; dropping what does not fit its backlog",
                    {{"backlog_bytes", session->backlog_bytes}});
        }
        continue;
      }
      session->backlog_bytes += cost;
      session->backlog.push_back(std::move(reply));
      session->queued.set();
    }
  }
}

SELIUM_ENTRYPOINT(client, (u32, id), (u32, count)) {
  // The server may still be starting: look it up until it is there (for up to 5 s).
  selium::Result<selium::Handle> service = selium::Error(selium::ErrorCode::NotFound);
  for (int attempt = 0; attempt < 500; ++attempt) {
    service = selium::lookupSingleton(selium::singletonId(kServiceName), selium::Kind::Channel);
    if (service || service.error() != selium::ErrorCode::NotFound) break;
    (void)co_await selium::sleep(std::chrono::milliseconds(10));
  }
  if (!service) co_return failed("cannot find the service", service.error());
  selium::Channel requests(std::move(*service));
  auto writer = requests.writer(selium::Strength::Weak);
  if (!writer) co_return failed("cannot write requests", writer.error());

  auto replies = selium::Channel::create(kReplyChannelBytes);
  if (!replies) co_return failed("cannot create a reply channel", replies.error());
  auto reader = replies->reader();
  if (!reader) co_return failed("cannot read the reply channel", reader.error());
  auto reply_id = replies->share();
  if (!reply_id) co_return failed("cannot share the reply channel", reply_id.error());

  for (uint32_t i = 0; i < count; ++i) {
    std::string text = "client " + std::to_string(id) + " request " + std::to_string(i);
    auto sent = co_await writer->write(requestFrame(*reply_id, text));
    if (!sent) co_return failed("request failed", sent.error());
    auto reply = co_await reader->read();
    if (!reply) co_return failed("reply failed", reply.error());
    std::string got(reply->begin(), reply->end());
    if (got != upper(text)) {
      kLog.error("wrong reply", {{"expected", upper(text)}, {"got", got}});
      co_return 2;
    }
  }
  // Deleting the reply channel frees its ring now, not when the server's writer goes, and ends
  // the server's session for it at its next write.
  (void)replies->remove();
  kLog.info("client done", {{"client", id}, {"requests", count}});
  co_return 0;
}

SELIUM_ENTRYPOINT(demo, (u32, clients), (u32, count)) {
  co_return co_await runDemo(clients, count, Stalled::No);
}

SELIUM_ENTRYPOINT(demo_stalled, (u32, clients), (u32, count)) {
  co_return co_await runDemo(clients, count, Stalled::Yes);
}
