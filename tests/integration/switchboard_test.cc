// The Switchboard module (selium_switchboard_server) with real endpoint guests
// (tests/guests/switchboard_peers) in an in-process engine with two workers: publish/subscribe,
// fanout work sharing, RPC routing with requests in flight, refusals, malformed requests, and
// endpoints that go away.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "support/engine_fixture.h"

namespace selium::engine {
namespace {

using kernel::Capability;
using kernel::EntrypointArg;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

// 1 + 2 + ... + n and 1² + ... + n².
uint64_t sumTo(uint64_t n) { return n * (n + 1) / 2; }
uint64_t squaresTo(uint64_t n) { return n * (n + 1) * (2 * n + 1) / 6; }

class SwitchboardTest : public EngineFixture {
 protected:
  void SetUp() override {
    startEngine();
    auto server = loadGuest("selium_switchboard_server.wasm", "switchboard");
    ASSERT_TRUE(server);
    peers_ = loadGuest("switchboard_peers.wasm", "switchboard_peers");
    ASSERT_TRUE(peers_);

    switchboard_ = spawnOk(
        *engine_,
        request(server, "start", {},
                {Capability::ChannelLifecycle, Capability::ChannelReader, Capability::ChannelWriter,
                 Capability::SingletonRegistry, Capability::TimeRead}));
    ASSERT_TRUE(recorder_.waitLogCount(switchboard_, "switchboard ready", 1, 20s))
        << dump(switchboard_);
  }
  void TearDown() override {
    // The Switchboard served everything without ending (unless the test stopped it).
    if (!switchboard_stopped_) {
      EXPECT_FALSE(recorder_.exits().count(switchboard_)) << dump(switchboard_);
    }
    EngineFixture::TearDown();
  }

  kernel::ProcessId start(std::string entry, std::vector<EntrypointArg> args) {
    return spawnOk(*engine_, request(peers_, std::move(entry), std::move(args),
                                     {Capability::ChannelLifecycle, Capability::ChannelReader,
                                      Capability::ChannelWriter, Capability::SingletonLookup,
                                      Capability::TimeRead}));
  }

  // Waits for `pid` to end with status 0; the record `message` it logged.
  kernel::GuestLogRecord finished(kernel::ProcessId pid, const std::string& message) {
    auto exit = recorder_.waitExit(pid, 60s);
    EXPECT_TRUE(exit.has_value()) << "process did not end" << dump(pid)
                                  << "\nswitchboard:" << dump(switchboard_);
    if (exit) {
      EXPECT_EQ(exit->reason, ExitReason::Normal) << exit->message << dump(pid);
      EXPECT_EQ(exit->status, 0) << dump(pid);
    }
    return recordOf(recorder_, pid, message);
  }
  void logged(kernel::ProcessId pid, const std::string& message) {
    ASSERT_TRUE(recorder_.waitLogCount(pid, message, 1, 30s))
        << message << dump(pid) << dump(switchboard_);
  }

  std::shared_ptr<const Module> peers_;
  kernel::ProcessId switchboard_ = 0;
  bool switchboard_stopped_ = false;
};

// Every subscriber of a name gets every message of its publisher.
TEST_F(SwitchboardTest, PublishReachesEverySubscriber) {
  constexpr uint32_t kCount = 3000;
  kernel::ProcessId s1 = start("subscribe", {utf8("orders"), u32(kCount)});
  kernel::ProcessId s2 = start("subscribe", {utf8("orders"), u32(kCount)});
  kernel::ProcessId other = start("subscribe", {utf8("invoices"), u32(1)});
  kernel::ProcessId p = start("publish", {utf8("orders"), u32(kCount), u32(2)});
  finished(p, "published");
  for (kernel::ProcessId s : {s1, s2}) {
    auto got = finished(s, "received");
    EXPECT_EQ(uintField(got, "count"), kCount);
    EXPECT_EQ(uintField(got, "sum"), sumTo(kCount));
    EXPECT_EQ(uintField(got, "sumsq"), squaresTo(kCount));
  }
  // A subscriber of another name got nothing.
  EXPECT_FALSE(recorder_.waitLogCount(other, "received", 1, 200ms));
}

// Two publishers of one name: the subscriber reads both.
TEST_F(SwitchboardTest, ASubscriberReadsEveryPublisherOfItsName) {
  kernel::ProcessId s = start("subscribe", {utf8("ticks"), u32(2000)});
  logged(s, "registered");
  kernel::ProcessId p1 = start("publish", {utf8("ticks"), u32(1000), u32(1)});
  kernel::ProcessId p2 = start("publish", {utf8("ticks"), u32(1000), u32(1)});
  finished(p1, "published");
  finished(p2, "published");
  auto got = finished(s, "received");
  EXPECT_EQ(uintField(got, "count"), 2000u);
  EXPECT_EQ(uintField(got, "sum"), 2 * sumTo(1000));
}

// A fanout shares its messages: each goes to exactly one worker, none is lost, and every worker
// gets some.
TEST_F(SwitchboardTest, FanoutDeliversEachMessageToExactlyOneWorker) {
  constexpr uint32_t kCount = 600;
  constexpr uint32_t kWorkers = 3;
  std::vector<kernel::ProcessId> workers;
  for (uint32_t w = 0; w < kWorkers; ++w) workers.push_back(start("work", {utf8("jobs")}));
  kernel::ProcessId f = start("fanout", {utf8("jobs"), u32(kCount), u32(kWorkers)});
  finished(f, "fanned out");
  uint64_t count = 0, sum = 0, sumsq = 0;
  for (kernel::ProcessId w : workers) {
    auto got = finished(w, "worked");
    EXPECT_GT(uintField(got, "count"), 0u) << "a worker got nothing";
    count += uintField(got, "count");
    sum += uintField(got, "sum");
    sumsq += uintField(got, "sumsq");
  }
  EXPECT_EQ(count, kCount);
  EXPECT_EQ(sum, sumTo(kCount));
  EXPECT_EQ(sumsq, squaresTo(kCount));  // no item twice in place of another
}

// Several clients, several requests in flight each, replies overtaking each other: every client
// gets exactly its own replies.
TEST_F(SwitchboardTest, RpcRepliesReachOnlyTheClientThatAsked) {
  kernel::ProcessId server = start("serve", {utf8("calc")});
  logged(server, "serving");
  std::vector<kernel::ProcessId> clients;
  for (uint32_t c = 1; c <= 3; ++c) {
    clients.push_back(start("call", {utf8("calc"), u32(c), u32(300), u32(8)}));
  }
  for (kernel::ProcessId c : clients) {
    auto called = finished(c, "called");
    EXPECT_EQ(uintField(called, "ok"), 300u) << textField(called, "error") << dump(server);
    EXPECT_EQ(uintField(called, "wrong"), 0u);
  }
  EXPECT_FALSE(recorder_.exits().count(server)) << dump(server);
}

// A server's error reply and a request the server cannot decode both come back as errors.
TEST_F(SwitchboardTest, ErrorRepliesAndMalformedRequestsAreAnswered) {
  kernel::ProcessId server = start("serve", {utf8("calc")});
  logged(server, "serving");
  auto errors = finished(start("call_errors", {utf8("calc")}), "errors");
  EXPECT_THAT(textField(errors, "odd"), HasSubstr("replied with an error: odd request"));
  EXPECT_THAT(textField(errors, "malformed"),
              HasSubstr("did not decode as the server's request schema"));
}

// Mismatched schemas under one name are refused with a message naming both.
TEST_F(SwitchboardTest, MismatchedSchemaIsRefused) {
  kernel::ProcessId holder = start("hold", {utf8("prices")});
  logged(holder, "holding");
  auto refused = finished(start("mismatch", {utf8("prices")}), "refused");
  EXPECT_THAT(textField(refused, "error"),
              AllOf(HasSubstr("the Switchboard refused the subscriber 'prices'"),
                    HasSubstr("schema mismatch under name 'prices'"),
                    HasSubstr("(subscriber 'prices') has schema")));
  engine_->stop(holder);
}

// Malformed control-plane requests get error replies; garbage is survived; service goes on.
TEST_F(SwitchboardTest, MalformedRequestsGetErrorReplies) {
  auto answered = finished(start("bad_requests", {}), "bad answered");
  EXPECT_THAT(textField(answered, "malformed"),
              HasSubstr("malformed request: RegisterRequest channel must be 0 for a subscriber"));
  EXPECT_THAT(textField(answered, "response"), HasSubstr("not a request"));
  EXPECT_THAT(textField(answered, "good"), HasSubstr("registered "));
}

// Dropping an endpoint unregisters it: its publisher is rewired to nobody.
TEST_F(SwitchboardTest, ADroppedEndpointIsUnwired) {
  kernel::ProcessId sub = start("drop_after", {utf8("gauges")});
  kernel::ProcessId pub = start("watch", {utf8("gauges")});
  logged(sub, "dropped");
  finished(pub, "alone");
  engine_->stop(sub);
}

// When a process ends, the Switchboard removes its endpoints and their wiring.
TEST_F(SwitchboardTest, EndpointsVanishWhenTheirProcessEnds) {
  kernel::ProcessId holder = start("hold", {utf8("meters")});
  logged(holder, "holding");
  kernel::ProcessId pub = start("watch", {utf8("meters")});
  logged(pub, "wired");
  ASSERT_TRUE(engine_->stop(holder));
  finished(pub, "alone");
}

// A client cannot have replies sent anywhere but its own reply channel: requests naming reply
// channels the Switchboard did not wire to the server are never answered (and never reach the
// server's code), while other clients' calls and the forger's own request go on as normal.
TEST_F(SwitchboardTest, ForgedReplyChannelsGetNoReply) {
  kernel::ProcessId server = start("serve", {utf8("calc")});
  logged(server, "serving");
  kernel::ProcessId victim = start("call", {utf8("calc"), u32(5), u32(2000), u32(8)});
  auto forged = finished(start("forge", {utf8("calc")}), "forged");
  EXPECT_EQ(uintField(forged, "sent"), 2u * 602u);  // 0, 2^63 (never decode) and 1..600
  EXPECT_EQ(uintField(forged, "total"), 42u);
  auto called = finished(victim, "called");
  EXPECT_EQ(uintField(called, "ok"), 2000u) << textField(called, "error");
  EXPECT_EQ(uintField(called, "wrong"), 0u);
  // The server held the forged requests (bounded) and let the oldest go, never replying.
  EXPECT_TRUE(recorder_.waitLogCount(
      server, "dropped a request from a reply channel never wired to this server", 1, 10s))
      << dump(server);
  EXPECT_TRUE(recorder_.waitLogCount(server, "dropped a request without a valid header", 2, 10s))
      << dump(server);
}

// Clients get a writer of the Switchboard's request channel, never the channel itself (which
// would let them drain or delete it).
TEST_F(SwitchboardTest, ClientsCannotTakeTheRequestChannel) {
  auto grab = finished(start("grab", {}), "grab");
  EXPECT_NE(textField(grab, "channel"), "taken");
}

// Calls that wait on the Switchboard fail, naming it, once it has ended: they do not wait for
// ever.
TEST_F(SwitchboardTest, CallsWaitingOnAnEndedSwitchboardFail) {
  kernel::ProcessId waiter = start("outlive", {utf8("nobody.publishes")});
  logged(waiter, "registered");
  switchboard_stopped_ = true;
  ASSERT_TRUE(engine_->stop(switchboard_));
  auto outlived = finished(waiter, "outlived");
  EXPECT_THAT(
      textField(outlived, "ready"),
      HasSubstr("the Switchboard (process " + std::to_string(switchboard_) + ") has ended"));
  EXPECT_EQ(uintField(outlived, "ready_code"), static_cast<uint64_t>(SELIUM_ERR_Closed));
  EXPECT_THAT(textField(outlived, "register"), HasSubstr("Switchboard"));
}

// A producer that sends and ends while its subscriber cannot take updates: the Switchboard
// keeps only the newest wiring for the subscriber, which no longer has the producer, yet lists
// the producer's cursor as retired, so every message it sent is still delivered.
TEST_F(SwitchboardTest, MessagesOfAProducerThatEndedReachASubscriberThatMissedItsWiring) {
  kernel::ProcessId ghost = start("ghost", {utf8("late.items"), utf8("late.go")});
  logged(ghost, "full");
  finished(start("publish", {utf8("late.items"), u32(50), u32(1)}), "published");
  finished(start("publish", {utf8("late.go"), u32(1), u32(1)}), "published");
  auto got = finished(ghost, "ghost");
  EXPECT_EQ(uintField(got, "received"), 50u);
  EXPECT_EQ(uintField(got, "sum"), sumTo(50));
  EXPECT_EQ(uintField(got, "retired"), 1u);
}

}  // namespace
}  // namespace selium::engine
