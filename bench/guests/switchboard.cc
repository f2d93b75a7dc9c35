// switchboard_bench's endpoints (bench_switchboard.wasm): each Switchboard endpoint pair
// (selium/switchboard.hpp, through the running selium_switchboard_server) next to the same pair
// over channels made by hand, with the same message type and codec, one co_await per message.
// Needs ChannelLifecycle, ChannelReader, ChannelWriter and TimeRead; SingletonLookup for the
// sb_* entrypoints.
//
// Every message is a Msg: 32 bytes, [u64 n][24 filler bytes], little-endian. Times are the
// monotonic clock in nanoseconds.
//
//   sb_subscribe(utf8 name, u32 count)
//       Subscriber<Msg>: info "ready" once wired to a publisher, then receives `count` messages,
//       which must be n = 0, 1, 2, ...: info "received" {end} (the time after the last one).
//   sb_publish(utf8 name, u32 count, u32 capacity)
//       Publisher<Msg> with a channel of `capacity` bytes: waits for a subscriber, then sends
//       `count` messages: info "sent" {start} (the time before the first one).
//   ch_subscribe(u32 capacity, u32 count)
//       creates a Park channel of `capacity` bytes, opens a strong reader, shares the channel:
//       info "ready" {channel}; then reads and decodes `count` messages as sb_subscribe does.
//   ch_publish(resource channel, u32 count)
//       a strong writer of that channel; writes `count` encoded messages as sb_publish does.
//   sb_serve(utf8 name, u32 requests)
//       Server<Msg, Msg>: info "serving", then replies to `requests` requests (n -> 2n + 1,
//       at once) and returns.
//   sb_call(utf8 name, u32 rounds, u32 warmup, u32 inflight)
//       Client<Msg, Msg>: waits until wired to its server, then sends `warmup` requests, then
//       `rounds`. With `inflight` 1, each round trip is timed: info "rtt" {p50, p99, mean}.
//       Otherwise `inflight` tasks share the rounds: info "rate" {nanos} from the first to the
//       last reply.
//   ch_serve(u32 capacity, u32 requests)
//       creates a request and a reply channel of `capacity` bytes (Park) with a strong reader
//       of requests and a strong writer of replies, shares both: info "ready" {requests,
//       replies}; then answers `requests` requests as sb_serve does.
//   ch_call(resource requests, resource replies, u32 rounds, u32 warmup, u32 inflight)
//       sb_call over those channels; with `inflight` above 1, one task keeps that many
//       requests written ahead of the replies it reads (the server answers in order).
//
// Every reply is checked. Status: 0; 1 with Error "failed" {step, error} when a call fails;
// 2 with Error "wrong message" {expected, got} when a message is out of order or a reply wrong.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <selium/selium.hpp>
#include <selium/switchboard.hpp>

namespace {

constexpr selium::log::Logger kLog{"bench"};

struct Msg {
  static constexpr std::string_view kSchemaName = "selium.bench.Msg";
  static constexpr std::size_t kSize = 32;
  uint64_t n = 0;

  static std::vector<uint8_t> encode(const Msg& m) {
    std::vector<uint8_t> out(kSize);
    for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(m.n >> (8 * i));
    for (std::size_t i = 8; i < kSize; ++i) out[i] = static_cast<uint8_t>(i);
    return out;
  }
  static std::optional<Msg> decode(std::span<const uint8_t> bytes) {
    if (bytes.size() != kSize) return std::nullopt;
    Msg m;
    for (std::size_t i = 0; i < 8; ++i) m.n |= uint64_t{bytes[i]} << (8 * i);
    return m;
  }
};

Msg answer(const Msg& request) { return Msg{2 * request.n + 1}; }

int32_t failed(std::string_view step, std::string_view error) {
  kLog.error("failed", {{"step", step}, {"error", error}});
  return 1;
}
int32_t failed(std::string_view step, const selium::switchboard::Failure& f) {
  return failed(step, f.message);
}
int32_t failed(std::string_view step, selium::Error e) { return failed(step, e.name()); }

int32_t wrong(uint64_t expected, uint64_t got) {
  kLog.error("wrong message", {{"expected", expected}, {"got", got}});
  return 2;
}

uint64_t nowNanos() {
  auto t = selium::now(selium::Clock::Monotonic);
  return t ? static_cast<uint64_t>(t->count()) : 0;
}

std::optional<selium::Switchboard> board() {
  auto connected = selium::Switchboard::connect();
  if (!connected) {
    failed("connect", connected.error());
    return std::nullopt;
  }
  return std::move(*connected);
}

selium::Channel adopt(selium::ResourceId id) {
  return selium::Channel(selium::Handle(static_cast<selium_handle_t>(id.value)));
}

// The next message from either kind of source, or the failure's text.
selium::Task<selium::switchboard::Outcome<Msg>> next(selium::Subscriber<Msg>& sub) {
  return sub.recv();
}
selium::Task<selium::switchboard::Outcome<Msg>> next(selium::Reader& reader) {
  auto frame = co_await reader.read();
  if (!frame)
    co_return selium::switchboard::Failure{frame.error().code(), std::string(frame.error().name())};
  std::optional<Msg> m = Msg::decode(*frame);
  if (!m) co_return selium::switchboard::Failure{selium::ErrorCode::InvalidArgument, "not a Msg"};
  co_return *m;
}

template <typename Source>
selium::Task<int32_t> receive(Source& source, uint32_t count) {
  for (uint64_t i = 0; i < count; ++i) {
    auto m = co_await next(source);
    if (!m) co_return failed("receive", m.error());
    if (m->n != i) co_return wrong(i, m->n);
  }
  kLog.info("received", {{"end", nowNanos()}});
  co_return 0;
}

// One request -> reply through either kind of client; the reply checked.
selium::Task<int32_t> roundTrip(selium::Client<Msg, Msg>& client, uint64_t n) {
  auto reply = co_await client.request(Msg{n});
  if (!reply) co_return failed("request", reply.error());
  co_return reply->n == 2 * n + 1 ? 0 : wrong(2 * n + 1, reply->n);
}

struct Pipe {  // a client's channels made by hand
  selium::Writer out;
  selium::Reader in;
};

selium::Task<int32_t> roundTrip(Pipe& pipe, uint64_t n) {
  auto written = co_await pipe.out.write(Msg::encode(Msg{n}));
  if (!written) co_return failed("write", written.error());
  auto reply = co_await next(pipe.in);
  if (!reply) co_return failed("read", reply.error());
  co_return reply->n == 2 * n + 1 ? 0 : wrong(2 * n + 1, reply->n);
}

// `rounds` round trips after `warmup`, each timed: info "rtt" {p50, p99, mean}.
template <typename Client>
selium::Task<int32_t> timeRoundTrips(Client& client, uint32_t rounds, uint32_t warmup) {
  std::vector<uint64_t> samples;
  samples.reserve(rounds);
  for (uint64_t n = 0; n < uint64_t{warmup} + rounds; ++n) {
    uint64_t start = nowNanos();
    int32_t status = co_await roundTrip(client, n);
    if (status != 0) co_return status;
    if (n >= warmup) samples.push_back(nowNanos() - start);
  }
  if (samples.empty()) co_return 0;
  uint64_t total = 0;
  for (uint64_t s : samples) total += s;
  std::sort(samples.begin(), samples.end());
  std::size_t count = samples.size();
  kLog.info("rtt", {{"p50", samples[count / 2]},
                    {"p99", samples[std::min(count - 1, count * 99 / 100)]},
                    {"mean", total / count}});
  co_return 0;
}

void logRate(uint64_t start) { kLog.info("rate", {{"nanos", nowNanos() - start}}); }

// One of `inflight` tasks of sb_call: requests n = first, first + step, ... below `end`.
selium::Task<void> caller(selium::Client<Msg, Msg>* client, uint64_t first, uint64_t end,
                          uint64_t step, int32_t* status) {
  for (uint64_t n = first; n < end && *status == 0; n += step) {
    int32_t s = co_await roundTrip(*client, n);
    if (s != 0) *status = s;
  }
}

}  // namespace

SELIUM_ENTRYPOINT(sb_subscribe, (utf8, name), (u32, count)) {
  auto sb = board();
  if (!sb) co_return 1;
  auto sub = co_await sb->subscriber<Msg>(std::string(name));
  if (!sub) co_return failed("register", sub.error());
  auto wired = co_await sub->ready();
  if (!wired) co_return failed("ready", wired.error());
  kLog.info("ready");
  co_return co_await receive(*sub, count);
}

SELIUM_ENTRYPOINT(sb_publish, (utf8, name), (u32, count), (u32, capacity)) {
  auto sb = board();
  if (!sb) co_return 1;
  auto pub = co_await sb->publisher<Msg>(std::string(name), {capacity});
  if (!pub) co_return failed("register", pub.error());
  auto wired = co_await pub->ready();
  if (!wired) co_return failed("ready", wired.error());
  uint64_t start = nowNanos();
  for (uint64_t n = 0; n < count; ++n) {
    auto sent = co_await pub->send(Msg{n});
    if (!sent) co_return failed("send", sent.error());
  }
  kLog.info("sent", {{"start", start}});
  co_return 0;
}

SELIUM_ENTRYPOINT(ch_subscribe, (u32, capacity), (u32, count)) {
  auto channel = selium::Channel::create(capacity);
  if (!channel) co_return failed("create", channel.error());
  auto reader = channel->reader();
  if (!reader) co_return failed("reader", reader.error());
  auto shared = channel->share();
  if (!shared) co_return failed("share", shared.error());
  kLog.info("ready", {{"channel", static_cast<uint64_t>(*shared)}});
  co_return co_await receive(*reader, count);
}

SELIUM_ENTRYPOINT(ch_publish, (resource, channel), (u32, count)) {
  selium::Channel given = adopt(channel);
  auto writer = given.writer();
  if (!writer) co_return failed("writer", writer.error());
  uint64_t start = nowNanos();
  for (uint64_t n = 0; n < count; ++n) {
    auto written = co_await writer->write(Msg::encode(Msg{n}));
    if (!written) co_return failed("write", written.error());
  }
  kLog.info("sent", {{"start", start}});
  co_return 0;
}

SELIUM_ENTRYPOINT(sb_serve, (utf8, name), (u32, requests)) {
  auto sb = board();
  if (!sb) co_return 1;
  auto server = co_await sb->server<Msg, Msg>(std::string(name));
  if (!server) co_return failed("register", server.error());
  kLog.info("serving");
  for (uint32_t i = 0; i < requests; ++i) {
    auto request = co_await server->recv();
    if (!request) co_return failed("recv", request.error());
    auto replied = server->reply(*request, answer(request->value));
    if (!replied) co_return failed("reply", replied.error());
  }
  co_return 0;
}

SELIUM_ENTRYPOINT(sb_call, (utf8, name), (u32, rounds), (u32, warmup), (u32, inflight)) {
  auto sb = board();
  if (!sb) co_return 1;
  auto client = co_await sb->client<Msg, Msg>(std::string(name));
  if (!client) co_return failed("register", client.error());
  auto wired = co_await client->ready();
  if (!wired) co_return failed("ready", wired.error());
  if (inflight <= 1) co_return co_await timeRoundTrips(*client, rounds, warmup);
  for (uint64_t n = 0; n < warmup; ++n) {
    int32_t status = co_await roundTrip(*client, n);
    if (status != 0) co_return status;
  }
  int32_t status = 0;
  uint64_t start = nowNanos();
  std::vector<selium::Task<void>> tasks;
  for (uint64_t t = 0; t < inflight; ++t) {
    tasks.push_back(caller(&*client, warmup + t, uint64_t{warmup} + rounds, inflight, &status));
  }
  co_await selium::whenAll(std::move(tasks));
  if (status != 0) co_return status;
  logRate(start);
  co_return 0;
}

SELIUM_ENTRYPOINT(ch_serve, (u32, capacity), (u32, requests)) {
  auto request_channel = selium::Channel::create(capacity);
  auto reply_channel = selium::Channel::create(capacity);
  if (!request_channel) co_return failed("create", request_channel.error());
  if (!reply_channel) co_return failed("create", reply_channel.error());
  auto in = request_channel->reader();
  auto out = reply_channel->writer();
  if (!in) co_return failed("reader", in.error());
  if (!out) co_return failed("writer", out.error());
  auto request_id = request_channel->share();
  auto reply_id = reply_channel->share();
  if (!request_id) co_return failed("share", request_id.error());
  if (!reply_id) co_return failed("share", reply_id.error());
  kLog.info("ready", {{"requests", static_cast<uint64_t>(*request_id)},
                      {"replies", static_cast<uint64_t>(*reply_id)}});
  for (uint32_t i = 0; i < requests; ++i) {
    auto request = co_await next(*in);
    if (!request) co_return failed("read", request.error());
    auto written = co_await out->write(Msg::encode(answer(*request)));
    if (!written) co_return failed("write", written.error());
  }
  co_return 0;
}

SELIUM_ENTRYPOINT(ch_call, (resource, requests), (resource, replies), (u32, rounds), (u32, warmup),
                  (u32, inflight)) {
  auto out = adopt(requests).writer();
  auto in = adopt(replies).reader();
  if (!out) co_return failed("writer", out.error());
  if (!in) co_return failed("reader", in.error());
  Pipe pipe{std::move(*out), std::move(*in)};
  if (inflight <= 1) co_return co_await timeRoundTrips(pipe, rounds, warmup);
  for (uint64_t n = 0; n < warmup; ++n) {
    int32_t status = co_await roundTrip(pipe, n);
    if (status != 0) co_return status;
  }
  // A window of `inflight` requests ahead of the replies, which come in order.
  const uint64_t end = uint64_t{warmup} + rounds;
  uint64_t start = nowNanos();
  uint64_t sent = warmup;
  for (uint64_t n = warmup; n < end; ++n) {
    for (; sent < end && sent < n + inflight; ++sent) {
      auto written = co_await pipe.out.write(Msg::encode(Msg{sent}));
      if (!written) co_return failed("write", written.error());
    }
    auto reply = co_await next(pipe.in);
    if (!reply) co_return failed("read", reply.error());
    if (reply->n != 2 * n + 1) co_return wrong(2 * n + 1, reply->n);
  }
  logRate(start);
  co_return 0;
}
