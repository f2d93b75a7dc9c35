// Endpoints of the Switchboard for tests/integration/switchboard_test.cc. Every entrypoint
// connects to the running Switchboard module; a failure logs "failed" {step, code, error} and
// exits 1.
//
//   publish(utf8 name, u32 count, u32 subscribers)
//       Publisher<Item>: waits for `subscribers` peers, sends items 1..count. Info "published".
//   subscribe(utf8 name, u32 count)
//       Subscriber<Item>: info "registered" {endpoint}, then "subscribed" once wired; receives
//       `count` items. Info "received" {count, sum, sumsq}.
//   fanout(utf8 name, u32 count, u32 workers)
//       Fanout<Item>: waits for `workers` peers, sends 1..count, then `workers` zeros (one stop
//       signal each). Info "fanned out".
//   work(utf8 name)
//       Subscriber<Item>: info "working" when wired; takes items until a 0, sleeping 1 ms per
//       item. Info "worked" {count, sum, sumsq}.
//   serve(utf8 name)
//       Server<Sum, Total>: replies a + b to each request after (a % 4) ms (so replies
//       overtake each other); a request with a == 999 gets an error reply "odd request". Info
//       "serving" at start; serves until stopped.
//   call(utf8 name, u32 index, u32 requests, u32 inflight)
//       Client<Sum, Total>: `inflight` tasks send `requests` requests in all, a = index * 1e6 +
//       n, b = n; each checks its own reply. Info "called" {ok, wrong}; exit 0 only if all ok.
//   call_errors(utf8 name)
//       Client<Sum, Total> sends a == 999 (error reply expected) and a Client<Junk, Total> of
//       the same schema sends 3 bytes the server cannot decode. Info "errors" {odd, malformed}
//       (the two failure messages).
//   mismatch(utf8 name)
//       Subscriber<std::string> under a name a Publisher<Item> holds. Info "refused" {error}.
//   bad_requests()
//       Raw requests to the Switchboard: a subscriber registration with a channel (malformed), a
//       response sent as a request, garbage bytes; then a good registration. Info "bad
//       answered" {malformed, response, good} (good: the endpoint id).
//   hold(utf8 name)
//       Subscriber<Item>: info "holding" {endpoint}, then waits for ever (a test stops it).
//   drop_after(utf8 name)
//       Subscriber<Item>: receives one item, drops the endpoint (unregisters), info "dropped",
//       then waits for ever.
//   watch(utf8 name)
//       Publisher<Item>: waits for a subscriber (info "wired" {peers}), sends item 7, then waits
//       until it has no peer left. Info "alone".
//   forge(utf8 name)
//       Registers a Client<Sum, Total> by hand, then writes requests straight into the server's
//       channel naming reply channels that are not its own (1 to 600, 0 and 2^63), then one
//       request of its own (40 + 2). Info "forged" {sent, total} (the reply to its own).
//   outlive(utf8 name)
//       Subscriber<Item> with no producer: info "registered", then ready() until the
//       Switchboard ends; then a new registration. Info "outlived" {ready, register} (the two
//       failure messages).
//   ghost(utf8 name, utf8 go)
//       Registers a Subscriber<Item> of `name` by hand and fills its updates channel so that the
//       Switchboard cannot write to it (info "full"); waits for an item on a Subscriber of `go`;
//       then empties the channel, applies the newest wiring (inbound and retired cursors) and
//       reads every item. Info "ghost" {received, sum, retired}.
//   grab()
//       Tries to take the Switchboard's request channel (not only a writer) from its singleton.
//       Info "grab" {channel} ("taken" or the error's name).
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <selium/selium.hpp>
#include <selium/switchboard.hpp>

namespace {

using selium::switchboard::Failure;
constexpr selium::log::Logger kLog{"tests.switchboard"};

struct Item {
  static constexpr std::string_view kSchemaName = "selium.test.Item";
  uint64_t value = 0;
  static std::vector<uint8_t> encode(const Item& item) {
    std::vector<uint8_t> out(8);
    for (int i = 0; i < 8; ++i)
      out[static_cast<std::size_t>(i)] = static_cast<uint8_t>(item.value >> (8 * i));
    return out;
  }
  static std::optional<Item> decode(std::span<const uint8_t> bytes) {
    if (bytes.size() != 8) return std::nullopt;
    Item item;
    for (int i = 0; i < 8; ++i)
      item.value |= uint64_t{bytes[static_cast<std::size_t>(i)]} << (8 * i);
    return item;
  }
};

struct Sum {
  static constexpr std::string_view kSchemaName = "selium.test.Sum";
  uint64_t a = 0, b = 0;
  static std::vector<uint8_t> encode(const Sum& s) {
    auto out = Item::encode({s.a});
    auto more = Item::encode({s.b});
    out.insert(out.end(), more.begin(), more.end());
    return out;
  }
  static std::optional<Sum> decode(std::span<const uint8_t> bytes) {
    if (bytes.size() != 16) return std::nullopt;
    return Sum{Item::decode(bytes.first(8))->value, Item::decode(bytes.subspan(8))->value};
  }
};

// The same schema as Sum, with an encoding the server cannot decode.
struct Junk {
  static constexpr std::string_view kSchemaName = "selium.test.Sum";
  static std::vector<uint8_t> encode(const Junk&) { return {1, 2, 3}; }
  static std::optional<Junk> decode(std::span<const uint8_t>) { return Junk{}; }
};

struct Total {
  static constexpr std::string_view kSchemaName = "selium.test.Total";
  uint64_t value = 0;
  static std::vector<uint8_t> encode(const Total& t) { return Item::encode({t.value}); }
  static std::optional<Total> decode(std::span<const uint8_t> bytes) {
    auto item = Item::decode(bytes);
    if (!item) return std::nullopt;
    return Total{item->value};
  }
};

int32_t failed(std::string_view step, const Failure& failure) {
  kLog.error(
      "failed",
      {{"step", step}, {"code", static_cast<int64_t>(failure.code)}, {"error", failure.message}});
  return 1;
}

std::optional<selium::Switchboard> board() {
  auto connected = selium::Switchboard::connect();
  if (!connected) {
    failed("connect", connected.error());
    return std::nullopt;
  }
  return std::move(*connected);
}

// Uint128-free sums: the counts here are small.
struct Tally {
  uint64_t count = 0, sum = 0, sumsq = 0;
  void add(uint64_t v) {
    ++count;
    sum += v;
    sumsq += v * v;
  }
};

selium::Task<void> forever() {
  selium::Event never;
  co_await never.wait();
}

}  // namespace

SELIUM_ENTRYPOINT(publish, (utf8, name), (u32, count), (u32, subscribers)) {
  auto sb = board();
  if (!sb) co_return 1;
  auto pub = co_await sb->publisher<Item>(std::string(name));
  if (!pub) co_return failed("register", pub.error());
  auto ready = co_await pub->ready(subscribers);
  if (!ready) co_return failed("ready", ready.error());
  for (uint64_t n = 1; n <= count; ++n) {
    auto sent = co_await pub->send(Item{n});
    if (!sent) co_return failed("send", sent.error());
  }
  kLog.info("published", {{"count", count}, {"endpoint", pub->id()}});
  co_return 0;
}

SELIUM_ENTRYPOINT(subscribe, (utf8, name), (u32, count)) {
  auto sb = board();
  if (!sb) co_return 1;
  auto sub = co_await sb->subscriber<Item>(std::string(name));
  if (!sub) co_return failed("register", sub.error());
  kLog.info("registered", {{"endpoint", sub->id()}});
  auto ready = co_await sub->ready();
  if (!ready) co_return failed("ready", ready.error());
  kLog.info("subscribed", {{"endpoint", sub->id()}});
  Tally tally;
  while (tally.count < count) {
    auto item = co_await sub->recv();
    if (!item) co_return failed("recv", item.error());
    tally.add(item->value);
  }
  kLog.info("received", {{"count", tally.count}, {"sum", tally.sum}, {"sumsq", tally.sumsq}});
  co_return 0;
}

SELIUM_ENTRYPOINT(fanout, (utf8, name), (u32, count), (u32, workers)) {
  auto sb = board();
  if (!sb) co_return 1;
  auto fan = co_await sb->fanout<Item>(std::string(name));
  if (!fan) co_return failed("register", fan.error());
  auto ready = co_await fan->ready(workers);
  if (!ready) co_return failed("ready", ready.error());
  for (uint64_t n = 1; n <= count + workers; ++n) {
    auto sent = co_await fan->send(Item{n <= count ? n : 0});
    if (!sent) co_return failed("send", sent.error());
  }
  kLog.info("fanned out", {{"count", count}});
  co_return 0;
}

SELIUM_ENTRYPOINT(work, (utf8, name)) {
  auto sb = board();
  if (!sb) co_return 1;
  auto sub = co_await sb->subscriber<Item>(std::string(name));
  if (!sub) co_return failed("register", sub.error());
  auto ready = co_await sub->ready();
  if (!ready) co_return failed("ready", ready.error());
  kLog.info("working", {{"endpoint", sub->id()}});
  Tally tally;
  for (;;) {
    auto item = co_await sub->recv();
    if (!item) co_return failed("recv", item.error());
    if (item->value == 0) break;
    tally.add(item->value);
    auto slept = co_await selium::sleep(std::chrono::milliseconds(1));
    if (!slept) co_return slept.error().result();
  }
  kLog.info("worked", {{"count", tally.count}, {"sum", tally.sum}, {"sumsq", tally.sumsq}});
  co_return 0;
}

namespace {
selium::Task<void> replyLater(selium::Server<Sum, Total>* server, selium::RpcRequest<Sum> request) {
  auto slept = co_await selium::sleep(std::chrono::milliseconds(request.value.a % 4));
  (void)slept;
  auto replied = request.value.a == 999
                     ? server->replyError(request, "odd request")
                     : server->reply(request, Total{request.value.a + request.value.b});
  if (!replied) failed("reply", replied.error());
}
}  // namespace

SELIUM_ENTRYPOINT(serve, (utf8, name)) {
  auto sb = board();
  if (!sb) co_return 1;
  auto server = co_await sb->server<Sum, Total>(std::string(name));
  if (!server) co_return failed("register", server.error());
  kLog.info("serving", {{"endpoint", server->id()}});
  for (;;) {
    auto request = co_await server->recv();
    if (!request) co_return failed("recv", request.error());
    selium::spawn(replyLater(&*server, std::move(*request)));
  }
}

namespace {
struct Calls {
  uint64_t ok = 0, wrong = 0;
  std::string first_error;
};

selium::Task<void> caller(selium::Client<Sum, Total>* client, uint64_t index, uint32_t from,
                          uint32_t to, Calls* calls) {
  for (uint32_t n = from; n < to; ++n) {
    Sum sum{index * 1000000 + n, n};
    auto total = co_await client->request(sum);
    if (total && total->value == sum.a + sum.b) {
      ++calls->ok;
    } else {
      ++calls->wrong;
      if (calls->first_error.empty()) {
        calls->first_error = total ? "wrong total" : total.error().message;
      }
    }
  }
}
}  // namespace

SELIUM_ENTRYPOINT(call, (utf8, name), (u32, index), (u32, requests), (u32, inflight)) {
  auto sb = board();
  if (!sb) co_return 1;
  auto client = co_await sb->client<Sum, Total>(std::string(name));
  if (!client) co_return failed("register", client.error());
  Calls calls;
  std::vector<selium::Task<void>> tasks;
  uint32_t per = requests / inflight;
  for (uint32_t t = 0; t < inflight; ++t) {
    uint32_t from = t * per;
    uint32_t to = t + 1 == inflight ? requests : from + per;
    tasks.push_back(caller(&*client, index, from, to, &calls));
  }
  co_await selium::whenAll(std::move(tasks));
  kLog.info("called", {{"ok", calls.ok}, {"wrong", calls.wrong}, {"error", calls.first_error}});
  co_return calls.wrong == 0 && calls.ok == requests ? 0 : 1;
}

SELIUM_ENTRYPOINT(call_errors, (utf8, name)) {
  auto sb = board();
  if (!sb) co_return 1;
  auto client = co_await sb->client<Sum, Total>(std::string(name));
  if (!client) co_return failed("register", client.error());
  auto odd = co_await client->request(Sum{999, 1});
  if (odd) co_return failed("odd", Failure{selium::ErrorCode::Internal, "no error reply"});
  auto junk = co_await sb->client<Junk, Total>(std::string(name));
  if (!junk) co_return failed("register junk", junk.error());
  auto malformed = co_await junk->request(Junk{});
  if (malformed)
    co_return failed("malformed", Failure{selium::ErrorCode::Internal, "no error reply"});
  kLog.info("errors", {{"odd", odd.error().message}, {"malformed", malformed.error().message}});
  co_return 0;
}

SELIUM_ENTRYPOINT(mismatch, (utf8, name)) {
  auto sb = board();
  if (!sb) co_return 1;
  auto sub = co_await sb->subscriber<std::string>(std::string(name));
  if (sub) co_return failed("mismatch", Failure{selium::ErrorCode::Internal, "accepted"});
  kLog.info("refused", {{"error", sub.error().message}});
  co_return 0;
}

namespace {
// One raw request to the Switchboard; the answer (its payload's message or endpoint id).
selium::Task<std::string> rawRequest(std::vector<uint8_t> frame, bool expect_answer) {
  auto handle =
      selium::lookupSingleton(selium::singletonId("selium.switchboard"), selium::Kind::Writer);
  if (!handle) co_return "no switchboard";
  selium::Writer writer(std::move(*handle));
  auto sent = co_await writer.write(frame);
  if (!sent) co_return "not sent";
  (void)expect_answer;
  co_return "sent";
}

selium::Task<std::string> answerOf(selium::Reader& reader) {
  auto frame = co_await reader.read();
  if (!frame) co_return "read failed";
  auto decoded = selium::switchboard::wire::decode(*frame);
  if (!decoded.ok()) co_return "undecodable answer: " + decoded.error;
  if (auto* f = std::get_if<selium::switchboard::wire::Failure>(&decoded.message.payload)) {
    co_return f->message;
  }
  if (auto* r = std::get_if<selium::switchboard::wire::Registered>(&decoded.message.payload)) {
    co_return "registered " + selium::switchboard::detail::decimal(r->endpoint_id);
  }
  co_return "other answer";
}
}  // namespace

SELIUM_ENTRYPOINT(bad_requests) {
  namespace wire = selium::switchboard::wire;
  auto replies = selium::Channel::create(64 * 1024);
  if (!replies) co_return 1;
  auto reader = replies->reader();
  auto id = replies->share();
  if (!reader || !id) co_return 1;
  auto reply_to = static_cast<uint64_t>(*id);
  // A subscriber registers no channel: this one does.
  wire::Register bad{
      selium::EndpointKind::Subscriber, "x", selium::schemaId("a"), std::nullopt, 42, 0};
  (void)co_await rawRequest(wire::encode({1, reply_to, bad}), true);
  std::string malformed = co_await answerOf(*reader);
  (void)co_await rawRequest(wire::encode({2, reply_to, wire::Ok{}}), true);
  std::string response = co_await answerOf(*reader);
  std::vector<uint8_t> garbage = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8};
  (void)co_await rawRequest(garbage, false);
  // Still serving: a good registration (a subscriber under a fresh name) is accepted.
  wire::Register good{selium::EndpointKind::Subscriber,
                      "bad_requests.good",
                      selium::schemaId("a"),
                      std::nullopt,
                      0,
                      0};
  auto lifetime = selium::Lifetime::self();
  auto lifetime_id =
      lifetime ? lifetime->share() : selium::Result<selium::SharedId>(lifetime.error());
  if (lifetime_id) good.lifetime = static_cast<uint64_t>(*lifetime_id);
  (void)co_await rawRequest(wire::encode({3, reply_to, good}), true);
  std::string registered = co_await answerOf(*reader);
  kLog.info("bad answered",
            {{"malformed", malformed}, {"response", response}, {"good", registered}});
  co_return 0;
}

SELIUM_ENTRYPOINT(hold, (utf8, name)) {
  auto sb = board();
  if (!sb) co_return 1;
  auto sub = co_await sb->subscriber<Item>(std::string(name));
  if (!sub) co_return failed("register", sub.error());
  kLog.info("holding", {{"endpoint", sub->id()}});
  co_await forever();
  co_return 0;
}

SELIUM_ENTRYPOINT(drop_after, (utf8, name)) {
  auto sb = board();
  if (!sb) co_return 1;
  {
    auto sub = co_await sb->subscriber<Item>(std::string(name));
    if (!sub) co_return failed("register", sub.error());
    auto item = co_await sub->recv();
    if (!item) co_return failed("recv", item.error());
  }
  kLog.info("dropped");
  co_await forever();
  co_return 0;
}

SELIUM_ENTRYPOINT(watch, (utf8, name)) {
  auto sb = board();
  if (!sb) co_return 1;
  auto pub = co_await sb->publisher<Item>(std::string(name));
  if (!pub) co_return failed("register", pub.error());
  auto ready = co_await pub->ready();
  if (!ready) co_return failed("ready", ready.error());
  kLog.info("wired", {{"peers", pub->peers()}});
  auto sent = co_await pub->send(Item{7});
  if (!sent) co_return failed("send", sent.error());
  while (pub->peers() > 0) {
    auto peers = co_await pub->rewired();
    if (!peers) co_return failed("rewired", peers.error());
  }
  kLog.info("alone");
  co_return 0;
}

namespace {
// An endpoint registered by hand: `request` (its lifetime filled in) sent with a new updates
// channel of `capacity` bytes as its reply channel. Nothing when a step fails.
struct RawEndpoint {
  selium::Channel updates;
  selium::Reader reader;
  selium::Writer writer;      // lets a test fill its own updates channel
  selium::Lifetime lifetime;  // open while the Switchboard may still attach its id
};

selium::Task<std::optional<RawEndpoint>> registerRaw(selium::switchboard::wire::Register request,
                                                     uint32_t capacity) {
  namespace wire = selium::switchboard::wire;
  auto updates = selium::Channel::create(capacity);
  if (!updates) co_return std::nullopt;
  auto reader = updates->reader();
  auto writer = updates->writer();
  auto updates_id = updates->share();
  auto lifetime = selium::Lifetime::self();
  auto lifetime_id =
      lifetime ? lifetime->share() : selium::Result<selium::SharedId>(lifetime.error());
  if (!reader || !writer || !updates_id || !lifetime_id) co_return std::nullopt;
  request.lifetime = static_cast<uint64_t>(*lifetime_id);
  (void)co_await rawRequest(wire::encode({1, static_cast<uint64_t>(*updates_id), request}), true);
  co_return RawEndpoint{std::move(*updates), std::move(*reader), std::move(*writer),
                        std::move(*lifetime)};
}

// Reads WiringUpdate/answers from `updates` until one wires the endpoint to a server: the
// server's channel (0 on failure).
selium::Task<uint64_t> serverChannel(selium::Reader& updates) {
  namespace wire = selium::switchboard::wire;
  for (;;) {
    auto frame = co_await updates.read();
    if (!frame) co_return 0;
    auto decoded = wire::decode(*frame);
    if (!decoded.ok()) co_return 0;
    if (auto* f = std::get_if<wire::Failure>(&decoded.message.payload)) {
      kLog.error("refused", {{"error", f->message}});
      co_return 0;
    }
    auto* wiring = std::get_if<wire::Wiring>(&decoded.message.payload);
    if (wiring != nullptr && !wiring->outbound.empty()) co_return wiring->outbound.front().channel;
  }
}
}  // namespace

SELIUM_ENTRYPOINT(forge, (utf8, name)) {
  namespace wire = selium::switchboard::wire;
  namespace rpc = selium::switchboard::rpc;
  auto replies = selium::Channel::create(64 * 1024, selium::Backpressure::Drop);
  if (!replies) co_return 1;
  auto replies_reader = replies->reader();
  auto replies_id = replies->share();
  if (!replies_reader || !replies_id) co_return 1;
  auto raw = co_await registerRaw(
      wire::Register{selium::EndpointKind::Client, std::string(name),
                     selium::schemaId(Sum::kSchemaName), selium::schemaId(Total::kSchemaName),
                     static_cast<uint64_t>(*replies_id), 0},
      256 * 1024);
  if (!raw) co_return 1;
  uint64_t server = co_await serverChannel(raw->reader);
  if (server == 0) co_return failed("wiring", Failure{selium::ErrorCode::Internal, "no server"});
  auto channel = selium::Channel::attach(static_cast<selium::SharedId>(server));
  if (!channel) co_return failed("attach", Failure{channel.error().code(), "server channel"});
  auto writer = channel->writer();
  if (!writer) co_return failed("writer", Failure{writer.error().code(), "server channel"});
  auto payload = Sum::encode(Sum{1, 1});
  uint64_t sent = 0;
  std::vector<uint64_t> forged_replies = {0, uint64_t{1} << 63};
  for (uint64_t r = 1; r <= 600; ++r) forged_replies.push_back(r);
  for (uint64_t reply : forged_replies) {
    if (reply == static_cast<uint64_t>(*replies_id)) continue;
    for (uint64_t correlation = 1; correlation <= 2; ++correlation) {
      auto written = co_await writer->write(rpc::encodeRequest({reply, correlation}, payload));
      if (!written) co_return failed("forge", Failure{written.error().code(), "write"});
      ++sent;
    }
  }
  auto own = co_await writer->write(
      rpc::encodeRequest({static_cast<uint64_t>(*replies_id), 77}, Sum::encode(Sum{40, 2})));
  if (!own) co_return failed("own request", Failure{own.error().code(), "write"});
  auto frame = co_await replies_reader->read();
  if (!frame) co_return failed("own reply", Failure{frame.error().code(), "read"});
  auto head = rpc::decodeReply(*frame);
  if (!head || head->correlation != 77 || head->status != rpc::Status::Ok) {
    co_return failed("own reply", Failure{selium::ErrorCode::Internal, "not the reply to 77"});
  }
  auto total = Total::decode(std::span(*frame).subspan(rpc::kReplyHeader));
  if (!total) co_return failed("own reply", Failure{selium::ErrorCode::Internal, "undecodable"});
  kLog.info("forged", {{"sent", sent}, {"total", total->value}});
  co_return 0;
}

SELIUM_ENTRYPOINT(outlive, (utf8, name)) {
  auto sb = board();
  if (!sb) co_return 1;
  auto sub = co_await sb->subscriber<Item>(std::string(name));
  if (!sub) co_return failed("register", sub.error());
  kLog.info("registered", {{"endpoint", sub->id()}});
  auto ready = co_await sub->ready();
  if (ready) co_return failed("ready", Failure{selium::ErrorCode::Internal, "wired"});
  auto again = co_await sb->publisher<Item>(std::string(name) + ".again");
  if (again) co_return failed("register again", Failure{selium::ErrorCode::Internal, "accepted"});
  kLog.info("outlived", {{"ready", ready.error().message},
                         {"ready_code", static_cast<int64_t>(ready.error().code)},
                         {"register", again.error().message}});
  co_return 0;
}

SELIUM_ENTRYPOINT(grab) {
  auto handle =
      selium::lookupSingleton(selium::singletonId("selium.switchboard"), selium::Kind::Channel);
  kLog.info("grab", {{"channel", handle ? std::string_view("taken") : handle.error().name()}});
  co_return 0;
}

SELIUM_ENTRYPOINT(ghost, (utf8, name), (utf8, go)) {
  namespace wire = selium::switchboard::wire;
  auto sb = board();
  if (!sb) co_return 1;
  auto raw =
      co_await registerRaw(wire::Register{selium::EndpointKind::Subscriber, std::string(name),
                                          selium::schemaId(Item::kSchemaName), std::nullopt, 0, 0},
                           4096);
  if (!raw) co_return 1;
  std::string answer = co_await answerOf(raw->reader);
  if (answer.rfind("registered ", 0) != 0) {
    co_return failed("register", Failure{selium::ErrorCode::Internal, answer});
  }
  // Full: the Switchboard keeps only the newest wiring for it from now on.
  std::vector<uint8_t> junk(256, 0xee);
  while (selium::switchboard::detail::trySend(raw->writer, junk)) {
  }
  auto go_sub = co_await sb->subscriber<Item>(std::string(go));
  if (!go_sub) co_return failed("go", go_sub.error());
  kLog.info("full");
  auto signal = co_await go_sub->recv();
  if (!signal) co_return failed("go recv", signal.error());
  // The newest wiring: the first update after the junk, written once there is room again.
  std::optional<wire::Wiring> wiring;
  bool after_junk = false;
  while (!wiring) {
    auto frame = co_await raw->reader.read();
    if (!frame) co_return failed("updates", Failure{frame.error().code(), "read"});
    auto decoded = wire::decode(*frame);
    if (!decoded.ok()) {
      after_junk = true;
    } else if (auto* w = std::get_if<wire::Wiring>(&decoded.message.payload); w && after_junk) {
      wiring = std::move(*w);
    }
  }
  if (!wiring) co_return failed("wiring", Failure{selium::ErrorCode::Internal, "no update"});
  std::vector<wire::Link> links = wiring->inbound;
  links.insert(links.end(), wiring->retired.begin(), wiring->retired.end());
  Tally tally;
  for (const wire::Link& link : links) {
    auto reader = selium::Reader::attach(static_cast<selium::SharedId>(link.reader));
    if (!reader) continue;
    for (;;) {
      std::vector<uint8_t> buffer(64);
      int32_t rc = selium_channel_read(reader->handle().get(), SELIUM_ADDR(buffer.data()),
                                       static_cast<uint32_t>(buffer.size()), SELIUM_WAKER_NONE);
      if (rc < 0) break;  // empty (or ended)
      auto item = Item::decode(std::span(buffer).first(static_cast<std::size_t>(rc)));
      if (item) tally.add(item->value);
    }
  }
  kLog.info("ghost", {{"received", tally.count},
                      {"sum", tally.sum},
                      {"retired", static_cast<uint64_t>(wiring->retired.size())}});
  co_return 0;
}
