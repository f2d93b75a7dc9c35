// The Remote Client module: the control plane's server (docs/control-plane.md). Listens for QUIC
// with the work dir's certificates and REQUIRES client certificates signed by certs/ca.crt
// (SELIUM_TLS_DEFAULT_MUTUAL: others fail the handshake). A client's certificate CN names its
// session (policy.h); each bidirectional stream carries one request (schemas/control.fbs), served
// in a task of its own, so a slow or vanished client holds up nobody else.
//
//   start(utf8 address, u16 port, utf8 policy)
//       listens on address:port (port 0: the system picks); logs Info "listening" {address,
//       port}; status 1 if the policy or the listen is refused, 2 if an accept fails.
#include <flatbuffers/flatbuffers.h>

#include <charconv>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <selium/selium.hpp>

#include "control/protocol.h"
#include "net_generated.h"
#include "policy.h"
#include "processes.h"

namespace {

using namespace selium;
using namespace std::chrono_literals;
namespace ctl = selium::control;
using remote::SessionRights;

constexpr log::Logger kLog{"selium.remote_client"};

// Bounds: connections at once; streams (requests) at once per connection; a connection silent
// this long is closed (the CLI sends a QUIC PING after 3 s without sending); a request
// must arrive this soon after its stream opens; a stop waits this long for the process to end.
constexpr uint32_t kMaxConnections = 256;
constexpr uint32_t kMaxStreamsPerConnection = 16;
constexpr uint32_t kIdleTimeoutMs = 10000;
constexpr auto kRequestTimeout = 5s;  // under the idle timeout, so the error is sent
constexpr auto kStopTimeout = 10s;
constexpr std::size_t kMaxChannelsPerClient = 64;

std::string number(uint64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  (void)ec;
  return std::string(buf, end);
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// One channel a client created through this server: kept until a client deletes it.
struct ChannelEntry {
  uint64_t shared_id = 0;
  Channel channel;
  std::string owner;
};

struct Server {
  remote::Policy policy;
  remote::ProcessTable processes;
  std::vector<ChannelEntry> channels;
};
Server* g_server = nullptr;  // owned by the entrypoint's frame, which outlives every task

// One client connection: who it is and whether it has a session.
struct ClientConnection {
  std::string remote;
  std::string name;                     // certificate CN
  std::optional<SessionRights> rights;  // none: the policy does not know this client
  Event closed;                         // set when the connection is over
};

// Frames read from a stream's reader, bounded in size.
class StreamIn {
 public:
  StreamIn(Reader& reader, std::size_t max_frame) : reader_(reader), frames_(max_frame) {}

  // The next frame; nullopt at the end of the stream (finished(): the client's FIN with nothing
  // pending), when the client reset it (reset()), or on a framing error (error() says which).
  Task<std::optional<std::vector<uint8_t>>> next() {
    for (;;) {
      if (auto f = frames_.next()) co_return f;
      if (frames_.failed()) {
        error_ = frames_.error();
        co_return std::nullopt;
      }
      auto piece = co_await reader_.read();
      if (!piece) {
        if (piece.error() == ErrorCode::EndOfStream) {
          finished_ = true;
          if (frames_.pending() > 0) error_ = "the stream ended inside a frame";
        } else {
          reset_ = true;
        }
        co_return std::nullopt;
      }
      frames_.push(*piece);
    }
  }
  bool finished() const { return finished_; }
  bool reset() const { return reset_; }
  const std::string& error() const { return error_; }

 private:
  Reader& reader_;
  ctl::FrameDecoder frames_;
  bool finished_ = false;
  bool reset_ = false;
  std::string error_;
};

Task<bool> send(StreamWriter& out, const std::vector<uint8_t>& bytes) {
  co_return (co_await out.write(std::span<const uint8_t>(bytes))).ok();
}

Task<bool> sendResponse(StreamWriter& out, uint64_t id, ctl::ResponseBody body) {
  co_return co_await send(out, ctl::responseFrame(ctl::Response{id, std::move(body)}));
}

Task<bool> sendError(StreamWriter& out, uint64_t id, std::string message) {
  co_return co_await send(out, ctl::errorFrame(id, std::move(message)));
}

// ---- Tasks raced against each other ----------------------------------------------------------

Task<void> sleepFor(std::chrono::nanoseconds d) { (void)co_await selium::sleep(d); }

Task<void> waitFor(Event* event) { co_await event->wait(); }

Task<void> readRequest(StreamIn* in, std::optional<std::vector<uint8_t>>* out) {
  *out = co_await in->next();
}

// Returns when the client resets its side of the stream or the connection ends; the bytes it
// sends meanwhile (keep-alive frames) are read and dropped. After the client's FIN it waits
// until cancelled.
Task<void> watchPeer(Reader* reader) {
  for (;;) {
    auto piece = co_await reader->read();
    if (!piece) {
      if (piece.error() != ErrorCode::EndOfStream) co_return;
      Event never;
      co_await never.wait();
    }
  }
}

Task<void> readOne(Reader* reader, std::optional<Result<std::vector<uint8_t>>>* out) {
  out->emplace(co_await reader->read());
}

Task<void> yieldOnce() { co_await selium::yield(); }

// Copies a reader's frames to the stream, each framed, until the reader ends (or, without
// `follow`, until no frame is ready now) or the client stops taking them. A weak reader that
// fell behind carries on from the oldest frame still held.
Task<void> pump(Reader* reader, StreamWriter* out, bool follow) {
  for (;;) {
    std::optional<Result<std::vector<uint8_t>>> frame;
    if (follow) {
      frame.emplace(co_await reader->read());
    } else {
      // A frame ready now wins; otherwise the yield does and the read is cancelled.
      std::vector<Task<void>> tasks;
      tasks.push_back(readOne(reader, &frame));
      tasks.push_back(yieldOnce());
      (void)co_await race(std::move(tasks));
      if (!frame || (!*frame && frame->error() == ErrorCode::WouldBlock))
        co_return;  // nothing ready: the records held have all been sent
    }
    if (!*frame) {
      if (frame->error() == ErrorCode::Lagged) continue;
      co_return;  // EndOfStream, Closed: the source is gone
    }
    if (!co_await send(*out, ctl::frame(frame->value()))) co_return;
  }
}

// Streams `reader` to the client until it ends, the client goes away, or the connection ends.
Task<void> streamOut(ClientConnection& client, QuicStream& stream, Reader& reader, bool follow) {
  std::vector<Task<void>> tasks;
  tasks.push_back(pump(&reader, &stream.writer, follow));
  tasks.push_back(watchPeer(&stream.reader));
  tasks.push_back(waitFor(&client.closed));
  (void)co_await race(std::move(tasks));
}

// ---- Requests --------------------------------------------------------------------------------

std::string capabilityList(const SessionRights& rights) {
  if (rights.capabilities.empty()) return "none";
  std::string out;
  for (uint32_t cap : rights.capabilities) {
    if (!out.empty()) out += ", ";
    out += ctl::capabilityName(cap);
  }
  return out;
}

std::optional<std::string> requireCapability(const SessionRights& rights, uint32_t cap,
                                             std::string_view action) {
  if (rights.allows(cap)) return std::nullopt;
  return "client " + quoted(rights.name) + " may not " + std::string(action) +
         ": its session lacks " + std::string(ctl::capabilityName(cap)) +
         " (the server's policy grants it: " + capabilityList(rights) + ")";
}

Task<void> handleStart(ClientConnection& client, uint64_t id, const ctl::StartRequest& req,
                       QuicStream& stream) {
  const SessionRights& rights = *client.rights;
  StreamWriter& out = stream.writer;
  if (auto denied = requireCapability(rights, SELIUM_CAP_ProcessLifecycle, "start processes")) {
    co_await sendError(out, id, std::move(*denied));
    co_return;
  }
  for (uint32_t cap : req.capabilities) {
    if (!rights.allows(cap)) {
      co_await sendError(out, id,
                         "client " + quoted(rights.name) + " may not grant capability " +
                             std::string(ctl::capabilityName(cap)) + " to " + req.module +
                             ": its session allows " + capabilityList(rights));
      co_return;
    }
  }
  auto started = co_await g_server->processes.start(rights, req);
  if (!started.value) {
    co_await sendError(out, id, std::move(started.error));
    co_return;
  }
  if (!co_await sendResponse(out, id, ctl::StartResponse{started.value->pid})) co_return;
  if (started.value->logs) co_await streamOut(client, stream, *started.value->logs, true);
}

Task<void> waitExit(ChildProcess* process) { (void)co_await process->exit(); }

Task<void> handleStop(const SessionRights& rights, uint64_t id, uint64_t pid, StreamWriter& out) {
  if (auto denied = requireCapability(rights, SELIUM_CAP_ProcessLifecycle, "stop processes")) {
    co_await sendError(out, id, std::move(*denied));
    co_return;
  }
  if (pid == static_cast<uint64_t>(processId())) {
    co_await sendError(out, id,
                       "process " + number(pid) +
                           " is the control plane itself (the Remote Client module): stop the "
                           "runtime instead");
    co_return;
  }
  auto attached = g_server->processes.attach(pid, rights);
  if (!attached.value) {
    co_await sendError(out, id, std::move(attached.error));
    co_return;
  }
  if (auto stopped = attached.value->process.stop(); !stopped) {
    co_await sendError(out, id, "cannot stop process " + number(pid) + ": " + lastError());
    co_return;
  }
  std::vector<Task<void>> tasks;
  if (attached.value->entry) {
    tasks.push_back(waitFor(&attached.value->entry->ended_event));
  } else {
    tasks.push_back(waitExit(&attached.value->process));
  }
  tasks.push_back(sleepFor(kStopTimeout));
  if (co_await race(std::move(tasks)) != 0) {
    co_await sendError(out, id, "process " + number(pid) + " is still stopping after 10 s");
    co_return;
  }
  kLog.info("process stopped", {{"pid", pid}, {"client", rights.name}});
  co_await sendResponse(out, id, ctl::OkResponse{});
}

Task<void> handleLogs(ClientConnection& client, uint64_t id, const ctl::LogsRequest& req,
                      QuicStream& stream) {
  const SessionRights& rights = *client.rights;
  auto attached = g_server->processes.attach(req.pid, rights);
  if (!attached.value) {
    co_await sendError(stream.writer, id, std::move(attached.error));
    co_return;
  }
  auto reader = attached.value->process.logs();
  if (!reader) {
    co_await sendError(stream.writer, id,
                       "process " + number(req.pid) + " has no log stream: " + lastError());
    co_return;
  }
  if (!co_await sendResponse(stream.writer, id, ctl::OkResponse{})) co_return;
  co_await streamOut(client, stream, *reader, req.follow);
}

Task<void> handleChannelCreate(const SessionRights& rights, uint64_t id, uint32_t capacity,
                               StreamWriter& out) {
  if (auto denied = requireCapability(rights, SELIUM_CAP_ChannelLifecycle, "create channels")) {
    co_await sendError(out, id, std::move(*denied));
    co_return;
  }
  std::size_t mine = 0;
  for (const auto& c : g_server->channels) mine += c.owner == rights.name ? 1 : 0;
  if (mine >= kMaxChannelsPerClient) {
    co_await sendError(out, id,
                       "client " + quoted(rights.name) + " has " + number(mine) +
                           " channels already, the most it may; delete one first");
    co_return;
  }
  auto channel = Channel::create(capacity);
  if (!channel) {
    co_await sendError(out, id,
                       "cannot create a channel of " + number(capacity) + " bytes: " + lastError());
    co_return;
  }
  auto shared = channel->share();
  if (!shared) {
    co_await sendError(out, id, "cannot share the new channel: " + lastError());
    co_return;
  }
  const auto shared_id = static_cast<uint64_t>(*shared);
  g_server->channels.push_back(ChannelEntry{shared_id, std::move(*channel), rights.name});
  kLog.info("channel created",
            {{"channel", shared_id}, {"capacity", capacity}, {"client", rights.name}});
  co_await sendResponse(out, id, ctl::ChannelCreateResponse{shared_id});
}

Task<void> handleChannelDelete(const SessionRights& rights, uint64_t id, uint64_t shared_id,
                               StreamWriter& out) {
  if (auto denied = requireCapability(rights, SELIUM_CAP_ChannelLifecycle, "delete channels")) {
    co_await sendError(out, id, std::move(*denied));
    co_return;
  }
  auto& channels = g_server->channels;
  for (auto it = channels.begin(); it != channels.end(); ++it) {
    if (it->shared_id != shared_id) continue;
    if (it->owner != rights.name && !rights.all_capabilities) break;
    (void)it->channel.remove();
    channels.erase(it);
    kLog.info("channel deleted", {{"channel", shared_id}, {"client", rights.name}});
    co_await sendResponse(out, id, ctl::OkResponse{});
    co_return;
  }
  co_await sendError(out, id,
                     "no channel " + number(shared_id) + " that client " + quoted(rights.name) +
                         " created through this server");
}

Task<void> publishLoop(StreamIn* in, Writer* writer, StreamWriter* out, uint64_t id) {
  for (;;) {
    auto frame = co_await in->next();
    if (!frame) {
      if (!in->error().empty()) {
        co_await sendError(*out, id, "publish: " + in->error());
      }
      co_return;
    }
    if (frame->empty()) continue;  // a keep-alive
    auto written = co_await writer->write(std::span<const uint8_t>(*frame));
    if (!written) {
      co_await sendError(*out, id,
                         "publish: the channel refused a frame of " + number(frame->size()) +
                             " bytes: " + std::string(written.error().name()) + ": " + lastError());
      co_return;
    }
  }
}

Task<void> handlePublish(ClientConnection& client, uint64_t id, uint64_t shared_id, StreamIn& in,
                         QuicStream& stream) {
  const SessionRights& rights = *client.rights;
  if (auto denied = requireCapability(rights, SELIUM_CAP_ChannelWriter, "publish")) {
    co_await sendError(stream.writer, id, std::move(*denied));
    co_return;
  }
  auto channel = Channel::attach(static_cast<SharedId>(shared_id));
  if (!channel) {
    co_await sendError(stream.writer, id, "no channel has shared id " + number(shared_id));
    co_return;
  }
  auto writer = channel->writer(Strength::Strong);
  if (!writer) {
    co_await sendError(stream.writer, id,
                       "cannot write to channel " + number(shared_id) + ": " + lastError());
    co_return;
  }
  if (!co_await sendResponse(stream.writer, id, ctl::OkResponse{})) co_return;
  std::vector<Task<void>> tasks;
  tasks.push_back(publishLoop(&in, &*writer, &stream.writer, id));
  tasks.push_back(waitFor(&client.closed));
  (void)co_await race(std::move(tasks));
}

Task<void> handleSubscribe(ClientConnection& client, uint64_t id, const ctl::SubscribeRequest& req,
                           QuicStream& stream) {
  const SessionRights& rights = *client.rights;
  if (auto denied = requireCapability(rights, SELIUM_CAP_ChannelReader, "subscribe")) {
    co_await sendError(stream.writer, id, std::move(*denied));
    co_return;
  }
  auto channel = Channel::attach(static_cast<SharedId>(req.channel));
  if (!channel) {
    co_await sendError(stream.writer, id, "no channel has shared id " + number(req.channel));
    co_return;
  }
  auto reader =
      channel->reader(req.strength == ctl::Strength::Weak ? Strength::Weak : Strength::Strong);
  if (!reader) {
    co_await sendError(stream.writer, id,
                       "cannot read channel " + number(req.channel) + ": " + lastError());
    co_return;
  }
  if (!co_await sendResponse(stream.writer, id, ctl::OkResponse{})) co_return;
  co_await streamOut(client, stream, *reader, /*follow=*/true);
}

Task<void> serveStream(std::shared_ptr<ClientConnection> client, QuicStream stream) {
  StreamIn in(stream.reader, ctl::kMaxRequestBytes);
  std::optional<std::vector<uint8_t>> bytes;
  {
    std::vector<Task<void>> tasks;
    tasks.push_back(readRequest(&in, &bytes));
    tasks.push_back(sleepFor(kRequestTimeout));
    tasks.push_back(waitFor(&client->closed));
    const std::size_t winner = co_await race(std::move(tasks));
    if (!bytes) {
      if (winner == 1) {
        co_await sendError(stream.writer, 0, "no request arrived within 5 s");
      } else if (winner == 0 && !in.error().empty()) {
        co_await sendError(stream.writer, 0, "bad request frame: " + in.error());
      }
      (void)stream.writer.finish();
      co_return;
    }
  }
  auto decoded = ctl::decodeRequest(*bytes);
  bytes.reset();
  if (const auto* bad = std::get_if<ctl::RequestError>(&decoded)) {
    kLog.debug("bad request", {{"client", client->name}, {"error", bad->message}});
    co_await sendError(stream.writer, bad->request_id, "bad request: " + bad->message);
    (void)stream.writer.finish();
    co_return;
  }
  const ctl::Request& request = std::get<ctl::Request>(decoded);
  const uint64_t id = request.request_id;
  if (!client->rights) {
    co_await sendError(stream.writer, id,
                       client->name.empty()
                           ? std::string("the client certificate names no CN: no session")
                           : "client " + quoted(client->name) +
                                 " has no session: the server's policy does not name it");
    (void)stream.writer.finish();
    co_return;
  }
  const SessionRights& rights = *client->rights;
  kLog.debug("request",
             {{"client", rights.name}, {"request", ctl::requestName(request.body)}, {"id", id}});
  const auto& body = request.body;
  if (const auto* start = std::get_if<ctl::StartRequest>(&body)) {
    co_await handleStart(*client, id, *start, stream);
  } else if (const auto* stop = std::get_if<ctl::StopRequest>(&body)) {
    co_await handleStop(rights, id, stop->pid, stream.writer);
  } else if (std::get_if<ctl::ListRequest>(&body) != nullptr) {
    auto listed = g_server->processes.list(rights);
    if (listed.value) {
      co_await sendResponse(stream.writer, id, ctl::ListResponse{std::move(*listed.value)});
    } else {
      co_await sendError(stream.writer, id, std::move(listed.error));
    }
  } else if (const auto* logs = std::get_if<ctl::LogsRequest>(&body)) {
    co_await handleLogs(*client, id, *logs, stream);
  } else if (const auto* create = std::get_if<ctl::ChannelCreateRequest>(&body)) {
    co_await handleChannelCreate(rights, id, create->capacity, stream.writer);
  } else if (const auto* del = std::get_if<ctl::ChannelDeleteRequest>(&body)) {
    co_await handleChannelDelete(rights, id, del->channel, stream.writer);
  } else if (const auto* publish = std::get_if<ctl::PublishRequest>(&body)) {
    co_await handlePublish(*client, id, publish->channel, in, stream);
  } else if (const auto* subscribe = std::get_if<ctl::SubscribeRequest>(&body)) {
    co_await handleSubscribe(*client, id, *subscribe, stream);
  }
  (void)stream.writer.finish();
}

Task<void> serveConnection(QuicConnection connection) {
  auto client = std::make_shared<ClientConnection>();
  if (auto info = connection.info()) {
    client->remote = info->remote_address;
    client->name = remote::commonName(info->peer_subject);
    client->rights = g_server->policy.sessionFor(client->name);
  }
  kLog.info("client connected", {{"remote", client->remote},
                                 {"client", client->name},
                                 {"session", client->rights ? "granted" : "refused"}});
  for (;;) {
    auto stream = co_await connection.acceptStream();
    if (!stream) break;
    spawn(serveStream(client, std::move(*stream)));
  }
  client->closed.set();
  kLog.info("client disconnected", {{"remote", client->remote}, {"client", client->name}});
}

// quic_listen with SELIUM_TLS_DEFAULT_MUTUAL (the SDK's QuicListenOptions has no field for it).
Result<QuicListener> listenMutual(std::string_view address, uint16_t port) {
  flatbuffers::FlatBufferBuilder b(256);
  auto domain = b.CreateString("");
  auto addr = b.CreateString(address.data(), address.size());
  auto limits = abi::CreateQuicLimits(b, kMaxConnections, kMaxStreamsPerConnection, kIdleTimeoutMs);
  b.Finish(abi::CreateQuicListen(b, domain, addr, port, SELIUM_TLS_DEFAULT_MUTUAL, limits));
  const int32_t handle = selium_quic_listen(SELIUM_ADDR(b.GetBufferPointer()), b.GetSize());
  if (handle < 0) return Error::fromResult(handle);
  return QuicListener(Handle(handle));
}

}  // namespace

SELIUM_ENTRYPOINT(start, (utf8, address), (u16, port), (utf8, policy_text)) {
  std::string why;
  auto policy = remote::Policy::parse(policy_text, why);
  if (!policy) {
    kLog.error("bad policy", {{"policy", policy_text}, {"error", why}});
    co_return 1;
  }
  Server server{std::move(*policy), {}, {}};
  g_server = &server;
  if (!server.processes.init(why)) {
    kLog.error("missing capability", {{"error", why}});
    co_return 1;
  }
  auto listener = listenMutual(address, port);
  if (!listener) {
    kLog.error("listen failed", {{"address", address},
                                 {"port", port},
                                 {"error", listener.error().name()},
                                 {"detail", lastError()}});
    co_return 1;
  }
  kLog.info("listening", {{"address", address.empty() ? "0.0.0.0" : address},
                          {"port", listener->port()},
                          {"policy", policy_text.empty() ? "*=*" : policy_text}});
  for (;;) {
    auto connection = co_await listener->accept();
    if (!connection) {
      kLog.error("accept failed", {{"error", connection.error().name()}, {"detail", lastError()}});
      co_return 2;
    }
    spawn(serveConnection(std::move(*connection)));
  }
}
