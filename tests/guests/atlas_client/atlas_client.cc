// Test guest for the Atlas service (tests/integration/atlas_test.cc): clients that use
// selium::Atlas, and one that talks the wire protocol by hand to send malformed requests.
// Each entrypoint checks what it can itself (a failed check logs "check failed" with `what` and
// the process ends with status 1) and logs the values the test asserts.
//
//   basic()                         insert, get, lookup, remove, a bad pattern: "basic done"
//   basic_when_ready()              basic() once the Atlas has registered (TimeRead)
//   hold(utf8 uri, u64 id)          inserts uri -> id, logs "held", then waits until stopped
//   contend(utf8 uri, u64 id)       tries to replace and remove an entry another process holds:
//                                   "contended" {insert_error, remove_error, detail, value}
//   await_gone(utf8 uri, u64 id)    polls get(uri) until the entry is gone (TimeRead), then
//                                   inserts uri -> id: "taken over" {polls}
//   churn(u32 client, u32 count)    count entries under sel://many/c<client>, inserted and
//                                   checked concurrently (more than kMaxInFlight), looked up,
//                                   removed: "churn done"
//   lookup_all(utf8 pattern)        "looked up" {count, ids}
//   malformed()                     hand-built bad requests; each must get its ErrorResponse,
//                                   junk and replies none: "malformed done" {replies}
//   outlive()                       gets until the service has ended: "atlas gone" {error,
//                                   detail} (TimeRead)
//   stall(u32 requests)             sends requests naming a small reply channel it never
//                                   reads: "stalled" {sent}, then waits until stopped
//   chatter()                       logs "chatter" {i} every 20 ms until stopped (TimeRead)
//   follow_log(utf8 uri)            polls get(uri) until the runtime has published a log stream
//                                   there, attaches it as a reader and reads until a "chatter"
//                                   record: "followed" {polls, writer_error (attaching the id as
//                                   a writer)} (TimeRead)
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <selium/atlas.hpp>
#include <selium/atlas_protocol.hpp>
#include <selium/selium.hpp>

namespace {

constexpr selium::log::Logger kLog{"atlas_client"};

// Counts failed checks; logs each with what was expected.
struct Checks {
  int failed = 0;
  void operator()(bool ok, std::string_view what) {
    if (ok) return;
    ++failed;
    kLog.error("check failed", {{"what", what}});
  }
  int32_t status() const { return failed == 0 ? 0 : 1; }
};

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

std::optional<selium::Atlas> connectOrLog() {
  auto atlas = selium::Atlas::connect();
  if (!atlas) {
    kLog.error("cannot connect",
               {{"error", atlas.error().name()}, {"detail", selium::lastError()}});
    return std::nullopt;
  }
  return std::move(*atlas);
}

selium::Uri uriOf(std::string_view text) {
  auto uri = selium::Uri::parse(text);
  if (!uri) {
    kLog.error("bad uri in the test", {{"uri", text}, {"detail", uri.error().text()}});
    selium::exit(3);
  }
  return *uri;
}

std::string idsText(const std::vector<uint64_t>& ids) {
  std::string out;
  for (uint64_t id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
  return out;
}

selium::Task<int32_t> basic() {
  auto atlas = connectOrLog();
  if (!atlas) co_return 2;
  Checks check;
  selium::Uri uri = uriOf("sel://acme/team/orders.app/runner:rpc");
  auto inserted = co_await atlas->insert(uri, 5);
  check(inserted.ok(), "insert");
  auto got = co_await atlas->get(uri);
  check(got && *got == std::optional<uint64_t>(5), "get after insert gives 5");
  auto spelt = co_await atlas->get(uriOf("SEL://acme//team/./orders.app/runner:rpc"));
  check(spelt && *spelt == std::optional<uint64_t>(5), "another spelling finds the entry");
  auto replaced = co_await atlas->insert(uri, 6);
  check(replaced.ok(), "the owner replaces its entry");
  auto missing = co_await atlas->get(uriOf("sel://acme/team/orders.app/runner"));
  check(missing && !missing->has_value(), "get of another URI finds nothing");
  check((co_await atlas->insert(uriOf("sel://acme/team/billing"), 7)).ok(), "insert 2");
  check((co_await atlas->insert(uriOf("sel://acme/other"), 8)).ok(), "insert 3");
  auto team = co_await atlas->lookup("sel://acme/team");
  check(team && *team == std::vector<uint64_t>{7, 6}, "lookup in URI text order");
  auto apps = co_await atlas->lookup(uriOf("sel://acme/orders.app"));
  check(apps && *apps == std::vector<uint64_t>{6}, "lookup by application");
  auto bad = co_await atlas->lookup("http://acme");
  check(!bad && bad.error() == selium::ErrorCode::InvalidArgument, "bad pattern refused");
  std::string bad_detail = atlas->lastError();
  check(contains(bad_detail, "atlas error: uri error: URI must use Selium scheme"),
        "bad pattern detail");
  auto removed = co_await atlas->remove(uri);
  check(removed && *removed == std::optional<uint64_t>(6), "remove gives the old value");
  auto again = co_await atlas->remove(uri);
  check(again && !again->has_value(), "remove again finds nothing");
  auto after = co_await atlas->get(uri);
  check(after && !after->has_value(), "get after remove finds nothing");
  auto rest = co_await atlas->lookup("sel://acme");
  check(rest && *rest == std::vector<uint64_t>{8, 7}, "what is left");
  kLog.info("basic done", {{"failed", check.failed}, {"bad_pattern_detail", bad_detail}});
  co_return check.status();
}

// For runs where the Atlas starts alongside: waits (up to 10 s) until it has registered.
selium::Task<int32_t> basicWhenReady() {
  for (int round = 0;; ++round) {
    auto found = selium::lookupSingleton(selium::singletonId(selium::atlas::kSingletonName),
                                         selium::Kind::Writer);
    if (found) break;
    if (found.error() != selium::ErrorCode::NotFound || round == 500) {
      kLog.error("no Atlas", {{"error", found.error().name()}, {"detail", selium::lastError()}});
      co_return 2;
    }
    auto slept = co_await selium::sleep(std::chrono::milliseconds(20));
    if (!slept) co_return 2;
  }
  co_return co_await basic();
}

selium::Task<int32_t> hold(std::string_view text, uint64_t id) {
  auto atlas = connectOrLog();
  if (!atlas) co_return 2;
  auto inserted = co_await atlas->insert(uriOf(text), id);
  if (!inserted) {
    kLog.error("insert failed",
               {{"error", inserted.error().name()}, {"detail", atlas->lastError()}});
    co_return 1;
  }
  kLog.info("held", {{"uri", text}, {"id", id}});
  selium::Event never;
  co_await never.wait();
  co_return 0;
}

selium::Task<int32_t> contend(std::string_view text, uint64_t id) {
  auto atlas = connectOrLog();
  if (!atlas) co_return 2;
  Checks check;
  selium::Uri uri = uriOf(text);
  auto inserted = co_await atlas->insert(uri, id);
  check(!inserted && inserted.error() == selium::ErrorCode::PermissionDenied,
        "replacing another's entry is refused");
  std::string detail = atlas->lastError();
  auto removed = co_await atlas->remove(uri);
  check(!removed && removed.error() == selium::ErrorCode::PermissionDenied,
        "removing another's entry is refused");
  auto got = co_await atlas->get(uri);
  check(got && got->has_value(), "the entry is still there");
  kLog.info("contended", {{"insert_error", inserted ? "none" : inserted.error().name()},
                          {"remove_error", removed ? "none" : removed.error().name()},
                          {"detail", detail},
                          {"value", got && got->has_value() ? **got : uint64_t{0}}});
  co_return check.status();
}

selium::Task<int32_t> awaitGone(std::string_view text, uint64_t id) {
  auto atlas = connectOrLog();
  if (!atlas) co_return 2;
  selium::Uri uri = uriOf(text);
  uint32_t polls = 0;
  for (;; ++polls) {
    auto got = co_await atlas->get(uri);
    if (!got) {
      kLog.error("get failed", {{"error", got.error().name()}, {"detail", atlas->lastError()}});
      co_return 1;
    }
    if (!got->has_value()) break;
    if (polls == 2000) {
      kLog.error("the entry never went", {{"uri", text}});
      co_return 1;
    }
    auto slept = co_await selium::sleep(std::chrono::milliseconds(10));
    if (!slept) co_return 2;
  }
  auto inserted = co_await atlas->insert(uri, id);
  if (!inserted) {
    kLog.error("insert after the owner ended failed",
               {{"error", inserted.error().name()}, {"detail", atlas->lastError()}});
    co_return 1;
  }
  kLog.info("taken over", {{"polls", polls}});
  co_return 0;
}

selium::Task<void> insertAndCheck(selium::Atlas& atlas, std::string text, uint64_t id,
                                  Checks& check) {
  selium::Uri uri = uriOf(text);
  auto inserted = co_await atlas.insert(uri, id);
  check(inserted.ok(), "churn insert");
  auto got = co_await atlas.get(uri);
  check(got && *got == std::optional<uint64_t>(id), "churn get");
}

selium::Task<int32_t> churn(uint32_t client, uint32_t count) {
  auto atlas = connectOrLog();
  if (!atlas) co_return 2;
  Checks check;
  std::string base = "sel://many/c" + std::to_string(client);
  std::vector<std::pair<std::string, uint64_t>> entries;
  for (uint32_t i = 0; i < count; ++i) {
    entries.emplace_back(base + "/e" + std::to_string(i), uint64_t{client} * 100000 + i);
  }
  std::vector<selium::Task<void>> tasks;
  for (const auto& [text, id] : entries) tasks.push_back(insertAndCheck(*atlas, text, id, check));
  co_await selium::whenAll(std::move(tasks));
  std::sort(entries.begin(), entries.end());  // URI text order
  std::vector<uint64_t> expected;
  for (const auto& entry : entries) expected.push_back(entry.second);
  auto mine = co_await atlas->lookup(base);
  check(mine && *mine == expected, "churn lookup gives every id in URI text order");
  uint32_t removed = 0;
  for (const auto& entry : entries) {
    auto gone = co_await atlas->remove(uriOf(entry.first));
    removed += gone && *gone == std::optional<uint64_t>(entry.second);
  }
  check(removed == count, "churn removes each");
  auto left = co_await atlas->lookup(base);
  check(left && left->empty(), "churn leaves nothing");
  kLog.info("churn done", {{"client", client}, {"entries", count}, {"removed", removed}});
  co_return check.status();
}

selium::Task<int32_t> lookupAll(std::string_view pattern) {
  auto atlas = connectOrLog();
  if (!atlas) co_return 2;
  auto ids = co_await atlas->lookup(std::string(pattern));
  if (!ids) {
    kLog.error("lookup failed", {{"error", ids.error().name()}, {"detail", atlas->lastError()}});
    co_return 1;
  }
  kLog.info("looked up", {{"count", ids->size()}, {"ids", idsText(*ids)}});
  co_return 0;
}

// ---- the wire protocol by hand ----

struct Raw {
  selium::Writer requests;
  selium::Channel replies;
  selium::Reader reader;
  selium::SharedId reply_id;
};

selium::Task<void> sendRaw(Raw& raw, std::span<const uint8_t> bytes, Checks& check) {
  auto sent = co_await raw.requests.write(bytes);
  check(sent.ok(), "raw send");
}

selium::atlas::Message request(selium::atlas::MessageKind kind, uint64_t id, Raw& raw) {
  selium::atlas::Message m;
  m.kind = kind;
  m.requestId = id;
  m.replyChannel = static_cast<uint64_t>(raw.reply_id);
  return m;
}

selium::Task<int32_t> malformed() {
  using selium::atlas::MessageKind;
  Checks check;
  // The service exposes a writer only: not its channel, which a client could delete.
  auto as_channel = selium::lookupSingleton(selium::singletonId(selium::atlas::kSingletonName),
                                            selium::Kind::Channel);
  check(!as_channel && as_channel.error() == selium::ErrorCode::InvalidHandle,
        "the request channel itself is not exposed");
  auto service = selium::lookupSingleton(selium::singletonId(selium::atlas::kSingletonName),
                                         selium::Kind::Writer);
  if (!service) co_return 2;
  std::optional<selium::Writer> writer(selium::Writer(std::move(*service)));
  auto replies = selium::Channel::create(256 * 1024);
  if (!replies) co_return 2;
  auto reader = replies->reader();
  auto reply_id = replies->share();
  if (!reader || !reply_id) co_return 2;
  Raw raw{std::move(*writer), std::move(*replies), std::move(*reader), *reply_id};
  selium::Handle lifetime(selium_process_lifetime());
  auto lifetime_id = lifetime.share();
  if (!lifetime_id) co_return 2;

  // a: a GetRequest without a uri.
  co_await sendRaw(raw, selium::atlas::encode(request(MessageKind::Get, 101, raw)), check);
  // b: an InsertRequest without a lifetime.
  auto b = request(MessageKind::Insert, 102, raw);
  b.uri = uriOf("sel://bad/b");
  co_await sendRaw(raw, selium::atlas::encode(b), check);
  // c: an InsertRequest with a lifetime nobody shared.
  auto c = request(MessageKind::Insert, 103, raw);
  c.uri = uriOf("sel://bad/c");
  c.lifetime = 0x1234567;
  co_await sendRaw(raw, selium::atlas::encode(c), check);
  // d: a body the verifier refuses (the tenant's length runs past the end).
  auto d = request(MessageKind::Insert, 104, raw);
  d.uri = uriOf("sel://corrupt-tenant-xyz/d");
  d.lifetime = static_cast<uint64_t>(*lifetime_id);
  std::vector<uint8_t> bytes = selium::atlas::encode(d);
  std::string_view tenant = "corrupt-tenant-xyz";
  auto at = std::search(bytes.begin(), bytes.end(), tenant.begin(), tenant.end());
  check(at != bytes.end() && at - bytes.begin() >= 4, "the tenant is in the frame");
  if (at != bytes.end() && at - bytes.begin() >= 4) {
    at[-4] = 0xFF, at[-3] = 0xFF, at[-2] = 0x00, at[-1] = 0x00;
  }
  co_await sendRaw(raw, bytes, check);
  // e: a request over the size limit.
  auto e = request(MessageKind::Lookup, 105, raw);
  e.pattern = std::string(selium::atlas::kMaxRequestBytes, 'x');
  co_await sendRaw(raw, selium::atlas::encode(e), check);
  // f: junk, g: a reply: nobody to answer.
  co_await sendRaw(raw, std::vector<uint8_t>(32, 0xAB), check);
  auto g = request(MessageKind::Ok, 106, raw);
  co_await sendRaw(raw, selium::atlas::encode(g), check);
  // h: a pattern that is not a URI; i: a good request, answered after all of them.
  auto h = request(MessageKind::Lookup, 107, raw);
  h.pattern = "http://x";
  co_await sendRaw(raw, selium::atlas::encode(h), check);
  auto i = request(MessageKind::Get, 108, raw);
  i.uri = uriOf("sel://nothing/here");
  co_await sendRaw(raw, selium::atlas::encode(i), check);

  struct Expected {
    uint64_t id;
    MessageKind kind;
    int32_t code;
    std::string_view text;
  };
  std::vector<Expected> expected = {
      {101, MessageKind::Error, SELIUM_ERR_InvalidArgument, "GetRequest has no uri"},
      {102, MessageKind::Error, SELIUM_ERR_InvalidArgument, "InsertRequest has no lifetime"},
      {103, MessageKind::Error, SELIUM_ERR_InvalidArgument, "cannot be attached"},
      {104, MessageKind::Error, SELIUM_ERR_InvalidArgument, "verifier refused"},
      {105, MessageKind::Error, SELIUM_ERR_TooLarge, "more than the 16384 allowed"},
      {107, MessageKind::Error, SELIUM_ERR_InvalidArgument, "uri error: URI must use Selium"},
      {108, MessageKind::GetResponse, 0, ""},
  };
  uint32_t replies_read = 0;
  for (const Expected& want : expected) {
    auto frame = co_await raw.reader.read();
    if (!frame) co_return 2;
    ++replies_read;
    auto decoded = selium::atlas::decode(*frame, selium::atlas::kMaxReplyBytes);
    check(decoded.index() == 0, "a reply decodes");
    if (decoded.index() != 0) continue;
    const auto& reply = std::get<0>(decoded);
    std::string what = "reply " + std::to_string(want.id);
    check(reply.requestId == want.id,
          what + ": request id (got " + std::to_string(reply.requestId) + ")");
    check(reply.kind == want.kind,
          what + ": kind (got " + std::string(selium::atlas::kindName(reply.kind)) + ")");
    if (want.kind == MessageKind::Error) {
      check(reply.code == static_cast<uint32_t>(want.code), what + ": code");
      check(contains(reply.message, want.text), what + ": message " + reply.message);
    } else {
      check(!reply.found, what + ": nothing found");
    }
  }
  kLog.info("malformed done", {{"replies", replies_read}, {"failed", check.failed}});
  co_return check.status();
}

// A client that stops reading: its reply channel fills, and the service must not wait for it.
selium::Task<int32_t> stall(uint32_t requests) {
  Checks check;
  auto service = selium::lookupSingleton(selium::singletonId(selium::atlas::kSingletonName),
                                         selium::Kind::Writer);
  if (!service) co_return 2;
  std::optional<selium::Writer> writer(selium::Writer(std::move(*service)));
  auto replies = selium::Channel::create(1024);
  if (!replies) co_return 2;
  auto reader = replies->reader();  // strong, never read: the channel fills and stays full
  auto reply_id = replies->share();
  if (!reader || !reply_id) co_return 2;
  Raw raw{std::move(*writer), std::move(*replies), std::move(*reader), *reply_id};
  uint32_t sent = 0;
  for (uint32_t n = 0; n < requests; ++n) {
    auto get = request(selium::atlas::MessageKind::Get, n + 1, raw);
    get.uri = uriOf("sel://stall/x");
    co_await sendRaw(raw, selium::atlas::encode(get), check);
    ++sent;
  }
  kLog.info("stalled", {{"sent", sent}, {"failed", check.failed}});
  selium::Event never;
  co_await never.wait();
  co_return 0;
}

selium::Task<int32_t> outlive() {
  auto atlas = connectOrLog();
  if (!atlas) co_return 2;
  kLog.info("connected", {});
  selium::Uri uri = uriOf("sel://outlive/x");
  for (int round = 0; round < 3000; ++round) {
    auto got = co_await atlas->get(uri);
    if (!got) {
      kLog.info("atlas gone", {{"error", got.error().name()}, {"detail", atlas->lastError()}});
      co_return got.error() == selium::ErrorCode::Closed ? 0 : 1;
    }
    auto slept = co_await selium::sleep(std::chrono::milliseconds(20));
    if (!slept) co_return 2;
  }
  co_return 1;
}

}  // namespace

SELIUM_ENTRYPOINT(basic) { co_return co_await basic(); }
namespace {

selium::Task<int32_t> followLog(std::string_view text) {
  std::optional<uint64_t> id;
  int polls = 0;
  for (; polls < 1000 && !id; ++polls) {
    auto atlas = selium::Atlas::connect();
    if (atlas) {
      auto got = co_await atlas->get(uriOf(text));
      if (got && *got) id = **got;
    }
    if (!id) (void)co_await selium::sleep(std::chrono::milliseconds(20));
  }
  if (!id) {
    kLog.error("no log stream published", {{"uri", text}});
    co_return 1;
  }
  auto writer = selium::Handle::attach(static_cast<selium::SharedId>(*id), selium::Kind::Writer);
  std::string_view writer_error = writer ? std::string_view("none") : writer.error().name();
  auto reader = selium::Reader::attach(static_cast<selium::SharedId>(*id));
  if (!reader) {
    kLog.error("cannot attach",
               {{"error", reader.error().name()}, {"detail", selium::lastError()}});
    co_return 1;
  }
  for (int frames = 0; frames < 1000; ++frames) {
    auto frame = co_await reader->read();
    if (!frame && frame.error() == selium::ErrorCode::Lagged) continue;
    if (!frame) {
      kLog.error("read failed", {{"error", frame.error().name()}});
      co_return 1;
    }
    std::string_view bytes(reinterpret_cast<const char*>(frame->data()), frame->size());
    if (contains(bytes, "chatter")) {
      kLog.info("followed", {{"polls", polls}, {"writer_error", writer_error}});
      co_return 0;
    }
  }
  kLog.error("no chatter record read");
  co_return 1;
}

}  // namespace

SELIUM_ENTRYPOINT(chatter) {
  for (uint32_t i = 0;; ++i) {
    kLog.info("chatter", {{"i", i}});
    (void)co_await selium::sleep(std::chrono::milliseconds(20));
  }
}

SELIUM_ENTRYPOINT(follow_log, (utf8, uri)) { co_return co_await followLog(uri); }

SELIUM_ENTRYPOINT(basic_when_ready) { co_return co_await basicWhenReady(); }
SELIUM_ENTRYPOINT(hold, (utf8, uri), (u64, id)) { co_return co_await hold(uri, id); }
SELIUM_ENTRYPOINT(contend, (utf8, uri), (u64, id)) { co_return co_await contend(uri, id); }
SELIUM_ENTRYPOINT(await_gone, (utf8, uri), (u64, id)) { co_return co_await awaitGone(uri, id); }
SELIUM_ENTRYPOINT(churn, (u32, client), (u32, count)) { co_return co_await churn(client, count); }
SELIUM_ENTRYPOINT(lookup_all, (utf8, pattern)) { co_return co_await lookupAll(pattern); }
SELIUM_ENTRYPOINT(malformed) { co_return co_await malformed(); }
SELIUM_ENTRYPOINT(outlive) { co_return co_await outlive(); }
SELIUM_ENTRYPOINT(stall, (u32, requests)) { co_return co_await stall(requests); }
