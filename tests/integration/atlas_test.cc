// Atlas (modules/atlas) with real clients (tests/guests/atlas_client) in an in-process engine
// with two workers: insert/get/lookup/remove through the SDK client, ownership of entries,
// cleanup when an owner ends, many clients at once, malformed requests answered with errors,
// clients of an ended Atlas, one Atlas per runtime, and the capabilities each side needs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "runtime/log_uri.h"
#include "support/engine_fixture.h"

namespace selium::engine {
namespace {

using kernel::Capability;
using kernel::EntrypointArg;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

enum class Clock { No, Yes };

class AtlasTest : public EngineFixture {
 protected:
  void SetUp() override {
    startEngine();
    server_ = loadGuest("selium_atlas_server.wasm");
    ASSERT_TRUE(server_);
    client_ = loadGuest("atlas_client.wasm");
    ASSERT_TRUE(client_);
  }

  SpawnRequest atlasRequest() {
    SpawnRequest r;
    r.module = server_;
    r.entrypoint = "start";
    for (Capability c : {Capability::ChannelLifecycle, Capability::ChannelReader,
                         Capability::ChannelWriter, Capability::SingletonRegistry}) {
      r.capabilities.add(c);
    }
    return r;
  }

  // Starts the Atlas and waits until it serves.
  kernel::ProcessId startAtlas() {
    kernel::ProcessId pid = spawnOk(*engine_, atlasRequest());
    EXPECT_TRUE(recorder_.waitLogCount(pid, "atlas serving", 1, 30s)) << dump(pid);
    return pid;
  }

  SpawnRequest client(std::string entry, std::vector<EntrypointArg> args = {},
                      Clock clock = Clock::No) {
    SpawnRequest r;
    r.module = client_;
    r.entrypoint = std::move(entry);
    r.args = std::move(args);
    for (Capability c : {Capability::SingletonLookup, Capability::ChannelLifecycle,
                         Capability::ChannelReader, Capability::ChannelWriter}) {
      r.capabilities.add(c);
    }
    if (clock == Clock::Yes) r.capabilities.add(Capability::TimeRead);
    return r;
  }

  // Runs to its exit; expects `status` and returns the record `message` it logged.
  kernel::GuestLogRecord runFor(SpawnRequest r, const std::string& message, int32_t status = 0) {
    kernel::ProcessId pid = spawnOk(*engine_, std::move(r));
    return waitFor(pid, message, status);
  }
  kernel::GuestLogRecord waitFor(kernel::ProcessId pid, const std::string& message,
                                 int32_t status = 0) {
    return exitRecord(pid, message, status);
  }

  std::shared_ptr<const Module> server_;
  std::shared_ptr<const Module> client_;
};

TEST_F(AtlasTest, InsertGetLookupRemoveThroughTheClient) {
  kernel::ProcessId atlas = startAtlas();
  auto done = runFor(client("basic"), "basic done");
  EXPECT_EQ(intField(done, "failed"), 0);
  EXPECT_THAT(textField(done, "bad_pattern_detail"),
              HasSubstr("atlas error: uri error: URI must use Selium scheme: \"sel://\": the "
                        "scheme is \"http\""));
  EXPECT_FALSE(recorder_.waitExit(atlas, 0ms).has_value()) << "the Atlas must keep serving";
}

TEST_F(AtlasTest, AnotherProcessMayNotReplaceOrRemoveAnEntry) {
  startAtlas();
  const std::string uri = "sel://shared/billing.app/invoices:rpc";
  kernel::ProcessId holder = spawnOk(*engine_, client("hold", {utf8(uri), u64(11)}));
  ASSERT_TRUE(recorder_.waitLogCount(holder, "held", 1, 30s)) << dump(holder);
  auto contended = runFor(client("contend", {utf8(uri), u64(22)}), "contended");
  EXPECT_EQ(textField(contended, "insert_error"), "PermissionDenied");
  EXPECT_EQ(textField(contended, "remove_error"), "PermissionDenied");
  EXPECT_THAT(
      textField(contended, "detail"),
      HasSubstr("atlas error: " + uri + " is registered by process " + std::to_string(holder)));
  EXPECT_EQ(uintField(contended, "value"), 11u);  // unchanged
}

TEST_F(AtlasTest, EntriesVanishWhenTheirOwnerEnds) {
  kernel::ProcessId atlas = startAtlas();
  const std::string uri = "sel://cleanup/team/worker";
  kernel::ProcessId holder = spawnOk(*engine_, client("hold", {utf8(uri), u64(11)}));
  ASSERT_TRUE(recorder_.waitLogCount(holder, "held", 1, 30s)) << dump(holder);
  ASSERT_TRUE(engine_->stop(holder));
  ASSERT_TRUE(recorder_.waitExit(holder, 30s).has_value());
  // The Atlas notices the end and drops the entry; then the URI is free for another process.
  ASSERT_TRUE(recorder_.waitLogCount(atlas, "owner ended: its entries removed", 1, 30s))
      << dump(atlas);
  auto removed = recordOf(recorder_, atlas, "owner ended: its entries removed");
  EXPECT_EQ(uintField(removed, "owner"), holder);
  EXPECT_EQ(uintField(removed, "entries"), 1u);
  EXPECT_EQ(uintField(removed, "left"), 0u);
  runFor(client("await_gone", {utf8(uri), u64(33)}, Clock::Yes), "taken over");
  // await_gone has ended too, so its entry went with it.
  ASSERT_TRUE(recorder_.waitLogCount(atlas, "owner ended: its entries removed", 2, 30s));
  auto after = runFor(client("lookup_all", {utf8("sel://cleanup")}), "looked up");
  EXPECT_EQ(uintField(after, "count"), 0u);
}

// Eight clients on both workers, each with more calls in flight than its slots.
TEST_F(AtlasTest, ManyClientsAtOnce) {
  kernel::ProcessId atlas = startAtlas();
  constexpr uint32_t kClients = 8;
  constexpr uint32_t kEntries = 40;
  std::vector<kernel::ProcessId> clients;
  for (uint32_t c = 0; c < kClients; ++c) {
    clients.push_back(spawnOk(*engine_, client("churn", {u32(c), u32(kEntries)})));
  }
  for (kernel::ProcessId pid : clients) {
    auto done = waitFor(pid, "churn done");
    EXPECT_EQ(uintField(done, "removed"), kEntries);
  }
  auto after = runFor(client("lookup_all", {utf8("sel://many")}), "looked up");
  EXPECT_EQ(uintField(after, "count"), 0u);
  EXPECT_FALSE(recorder_.waitExit(atlas, 0ms).has_value());
}

// Entries many owners hold at once come back from one lookup in URI text order.
TEST_F(AtlasTest, LookupSpansOwnersInUriOrder) {
  startAtlas();
  std::vector<std::pair<std::string, uint64_t>> held = {
      {"sel://order/z", 3}, {"sel://order/a/x.app", 1}, {"sel://order/m", 2}, {"sel://other/a", 9}};
  for (const auto& [uri, id] : held) {
    kernel::ProcessId pid = spawnOk(*engine_, client("hold", {utf8(uri), u64(id)}));
    ASSERT_TRUE(recorder_.waitLogCount(pid, "held", 1, 30s)) << dump(pid);
  }
  auto found = runFor(client("lookup_all", {utf8("sel://order")}), "looked up");
  EXPECT_EQ(textField(found, "ids"), "1,2,3");
  auto app = runFor(client("lookup_all", {utf8("sel://order/x.app")}), "looked up");
  EXPECT_EQ(textField(app, "ids"), "1");
}

TEST_F(AtlasTest, MalformedRequestsGetErrorReplies) {
  kernel::ProcessId atlas = startAtlas();
  auto done = runFor(client("malformed"), "malformed done");
  EXPECT_EQ(uintField(done, "replies"), 7u);
  EXPECT_EQ(intField(done, "failed"), 0);
  // Undecodable requests (four answered, junk dropped) and a reply were logged, and the Atlas
  // serves on.
  EXPECT_TRUE(recorder_.waitLogCount(atlas, "bad request", 5, 10s)) << dump(atlas);
  EXPECT_TRUE(recorder_.waitLogCount(atlas, "not a request", 1, 10s));
  auto basic = runFor(client("basic"), "basic done");
  EXPECT_EQ(intField(basic, "failed"), 0);
}

// A client that never reads its replies loses them; nobody else notices.
TEST_F(AtlasTest, AClientThatStopsReadingStallsNobody) {
  kernel::ProcessId atlas = startAtlas();
  constexpr uint32_t kRequests = 3000;  // a 1 KiB reply channel holds a few dozen replies
  kernel::ProcessId staller = spawnOk(*engine_, client("stall", {u32(kRequests)}));
  ASSERT_TRUE(recorder_.waitLogCount(staller, "stalled", 1, 60s)) << dump(staller);
  auto stalled = recordOf(recorder_, staller, "stalled");
  EXPECT_EQ(uintField(stalled, "sent"), kRequests);
  EXPECT_EQ(intField(stalled, "failed"), 0);
  auto basic = runFor(client("basic"), "basic done");
  EXPECT_EQ(intField(basic, "failed"), 0);
  EXPECT_TRUE(recorder_.waitLogCount(atlas, "reply lost", 1, 10s));
  auto lost = recordOf(recorder_, atlas, "reply lost");
  EXPECT_EQ(textField(lost, "error"), "WouldBlock");
  EXPECT_EQ(textField(lost, "detail"), "the client's reply channel is full");
  EXPECT_FALSE(recorder_.waitExit(atlas, 0ms).has_value());
}

TEST_F(AtlasTest, ClientsOfAnEndedAtlasGetClosed) {
  kernel::ProcessId atlas = startAtlas();
  kernel::ProcessId outlive = spawnOk(*engine_, client("outlive", {}, Clock::Yes));
  ASSERT_TRUE(recorder_.waitLogCount(outlive, "connected", 1, 30s)) << dump(outlive);
  ASSERT_TRUE(engine_->stop(atlas));
  auto gone = waitFor(outlive, "atlas gone");
  EXPECT_EQ(textField(gone, "error"), "Closed");
  EXPECT_THAT(textField(gone, "detail"),
              HasSubstr("the Atlas service (process " + std::to_string(atlas) + ") has ended"));
  // And a client that connects once it has gone finds no Atlas.
  ASSERT_TRUE(recorder_.waitExit(atlas, 30s).has_value());
  auto late = runFor(client("basic"), "cannot connect", 2);
  EXPECT_EQ(textField(late, "error"), "NotFound");
}

TEST_F(AtlasTest, OnlyOneAtlasRuns) {
  startAtlas();
  kernel::ProcessId second = spawnOk(*engine_, atlasRequest());
  auto exit = recorder_.waitExit(second, 30s);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->status, 1);
  auto refused = recordOf(recorder_, second, "another Atlas is running");
  EXPECT_EQ(textField(refused, "error"), "AlreadyExists");
}

TEST_F(AtlasTest, TheAtlasNeedsItsCapabilities) {
  SpawnRequest r = atlasRequest();
  r.capabilities = {};
  for (Capability c :
       {Capability::ChannelLifecycle, Capability::ChannelReader, Capability::ChannelWriter}) {
    r.capabilities.add(c);
  }
  kernel::ProcessId pid = spawnOk(*engine_, std::move(r));
  auto refused = waitFor(pid, "cannot register the Atlas singletons", 1);
  EXPECT_EQ(textField(refused, "error"), "PermissionDenied");
}

TEST_F(AtlasTest, ClientsNeedSingletonLookup) {
  startAtlas();
  SpawnRequest r = client("basic");
  r.capabilities = {};
  for (Capability c :
       {Capability::ChannelLifecycle, Capability::ChannelReader, Capability::ChannelWriter}) {
    r.capabilities.add(c);
  }
  auto refused = runFor(std::move(r), "cannot connect", 2);
  EXPECT_EQ(textField(refused, "error"), "PermissionDenied");
}

// log_uri publications wait for Atlas within their bound: past it, those of processes that have
// ended go first, then the oldest; what is left is published once Atlas registers.
TEST_F(AtlasTest, LogUriPublicationsWaitingForAtlasAreBounded) {
  stopEngine();
  auto publisher = std::make_shared<runtime::LogUriPublisher>(/*max_pending=*/2);
  EngineOptions options;
  options.on_start = [publisher](kernel::Process& p) { publisher->publish(p); };
  startEngine(std::move(options));
  engine_->registry().onSingleton([publisher](const kernel::Registry::SingletonId& id,
                                              const std::shared_ptr<kernel::Shareable>& object) {
    publisher->registered(id, object);
  });
  auto sleeper = loadGuest("sleeper.wasm");
  ASSERT_TRUE(sleeper);
  auto sleep = [&](const std::string& uri) {
    SpawnRequest r;
    r.module = sleeper;
    r.entrypoint = "start";
    r.args = {u32(600000)};
    r.capabilities.add(Capability::TimeRead);
    r.log_uri = uri;
    kernel::ProcessId pid = spawnOk(*engine_, std::move(r));
    // Running: its publication was made (on_start), so they are made in this order.
    EXPECT_TRUE(recorder_.waitLogCount(pid, "sleeping", 1, 30s)) << dump(pid);
    return pid;
  };
  auto count = [&](const std::string& pattern) {
    return uintField(runFor(client("lookup_all", {utf8(pattern)}), "looked up"), "count");
  };
  // Full with a process that has ended: that one goes, not the oldest.
  sleep("sel://bounded/a");
  kernel::ProcessId b = sleep("sel://bounded/b");
  ASSERT_TRUE(engine_->stop(b));
  ASSERT_TRUE(recorder_.waitExit(b, 30s).has_value());
  sleep("sel://bounded/c");
  kernel::ProcessId atlas = startAtlas();
  EXPECT_EQ(count("sel://bounded"), 2u);
  EXPECT_EQ(count("sel://bounded/a"), 1u);
  EXPECT_EQ(count("sel://bounded/c"), 1u);
  // Atlas goes (and its entries); full with processes that all run: the oldest goes.
  ASSERT_TRUE(engine_->stop(atlas));
  ASSERT_TRUE(recorder_.waitExit(atlas, 30s).has_value());
  sleep("sel://again/e");
  sleep("sel://again/f");
  sleep("sel://again/g");
  startAtlas();
  EXPECT_EQ(count("sel://again"), 2u);
  EXPECT_EQ(count("sel://again/e"), 0u);
  EXPECT_EQ(count("sel://again/f"), 1u);
  EXPECT_EQ(count("sel://again/g"), 1u);
}

}  // namespace
}  // namespace selium::engine
