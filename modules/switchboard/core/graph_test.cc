// The wiring rules: every row of upstream's worked-examples table (reference §2.4) with our
// outcomes, name-based wiring, refusals and limits.
#include "graph.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace selium::switchboard {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

SchemaId schema(uint8_t b) {
  SchemaId id{};
  id.fill(b);
  return id;
}

class GraphTest : public ::testing::Test {
 protected:
  EndpointId add(EndpointKind kind, std::string name = "", uint8_t s = 1, uint8_t r = 2) {
    std::string error;
    EndpointId id = graph_.add({kind, std::move(name), schema(s), schema(r)}, error);
    EXPECT_EQ(error, "");
    EXPECT_NE(id, 0u);
    return id;
  }
  std::string refused(EndpointKind kind, std::string name, uint8_t s = 1, uint8_t r = 2) {
    std::string error;
    EndpointId id = graph_.add({kind, std::move(name), schema(s), schema(r)}, error);
    EXPECT_EQ(id, 0u);
    return error;
  }
  void connect(EndpointId from, EndpointId to) { ASSERT_EQ(graph_.connect(from, to), ""); }
  // Connects each (from, to) pair in order.
  void connect(std::initializer_list<std::pair<EndpointId, EndpointId>> wires) {
    for (const auto& [from, to] : wires) connect(from, to);
  }
  std::vector<EndpointId> in(EndpointId id) { return graph_.wiresOf(id).inbound; }
  std::vector<EndpointId> out(EndpointId id) { return graph_.wiresOf(id).outbound; }

  // Expects each endpoint listed to have exactly these peers, in this order.
  using Peers = std::initializer_list<std::pair<EndpointId, std::vector<EndpointId>>>;
  void expectInbound(Peers expected) {
    for (const auto& [id, peers] : expected) EXPECT_EQ(in(id), peers) << "inbound of " << id;
  }
  void expectOutbound(Peers expected) {
    for (const auto& [id, peers] : expected) EXPECT_EQ(out(id), peers) << "outbound of " << id;
  }

  Graph graph_;
};

constexpr auto kPub = EndpointKind::Publisher;
constexpr auto kSub = EndpointKind::Subscriber;
constexpr auto kFan = EndpointKind::Fanout;
constexpr auto kServer = EndpointKind::Server;
constexpr auto kClient = EndpointKind::Client;

// Row 1: P -> S.
TEST_F(GraphTest, RowOnePublisherToSubscriber) {
  EndpointId p = add(kPub), s = add(kSub);
  connect(p, s);
  expectOutbound({{p, {s}}});
  expectInbound({{s, {p}}});
  EXPECT_EQ(Graph::flowKind(kPub), FlowKind::Broadcast);
}

// Row 2: P -> S1, P -> S2: one channel (P's), each subscriber its own cursor: broadcast.
TEST_F(GraphTest, RowTwoOnePublisherBroadcastsToTwoSubscribers) {
  EndpointId p = add(kPub), s1 = add(kSub), s2 = add(kSub);
  connect({{p, s1}, {p, s2}});
  expectOutbound({{p, {s1, s2}}});
  expectInbound({{s1, {p}}, {s2, {p}}});
}

// Row 3: P -> S, Q -> S: S reads both publishers' channels (upstream merged them into one).
TEST_F(GraphTest, RowThreeTwoPublishersIntoOneSubscriber) {
  EndpointId p = add(kPub), q = add(kPub), s = add(kSub);
  connect({{p, s}, {q, s}});
  expectInbound({{s, {p, q}}});
  expectOutbound({{p, {s}}, {q, {s}}});
}

// Row 4: F -> S1, F -> S2: fixed: a Share flow (one shared reader, each message to one of them).
TEST_F(GraphTest, RowFourFanoutSharesWorkBetweenItsSubscribers) {
  EndpointId f = add(kFan), s1 = add(kSub), s2 = add(kSub);
  connect({{f, s1}, {f, s2}});
  expectOutbound({{f, {s1, s2}}});
  expectInbound({{s1, {f}}, {s2, {f}}});
  EXPECT_EQ(Graph::flowKind(kFan), FlowKind::Share);
}

// Row 5: F -> S1, F -> S2, Q -> S2: F still shares between S1 and S2; S2 also reads Q.
TEST_F(GraphTest, RowFiveFanoutAndPublisherIntoOneSubscriber) {
  EndpointId f = add(kFan), q = add(kPub), s1 = add(kSub), s2 = add(kSub);
  connect({{f, s1}, {f, s2}, {q, s2}});
  expectOutbound({{f, {s1, s2}}, {q, {s2}}});
  expectInbound({{s1, {f}}, {s2, {f, q}}});
}

// Row 6: P -> S1, P -> S2, Q -> S2: upstream could not solve it; here it is wired.
TEST_F(GraphTest, RowSixIsSolvable) {
  EndpointId p = add(kPub), q = add(kPub), s1 = add(kSub), s2 = add(kSub);
  connect({{p, s1}, {p, s2}, {q, s2}});
  expectOutbound({{p, {s1, s2}}});
  expectInbound({{s1, {p}}, {s2, {p, q}}});
}

// Row 7: C <-> V: the client writes V's request channel; V replies on C's own channel.
TEST_F(GraphTest, RowSevenClientAndServer) {
  EndpointId c = add(kClient), v = add(kServer);
  connect(c, v);
  connect(v, c);  // upstream's second intent: the same pair, accepted
  expectOutbound({{c, {v}}, {v, {c}}});
  EXPECT_EQ(graph_.serverOf(c), v);
}

// Row 8: C1, C2 <-> V: fixed: V knows each client separately (a reply goes to one client).
TEST_F(GraphTest, RowEightTwoClientsEachHaveTheirOwnReplyPath) {
  EndpointId c1 = add(kClient), c2 = add(kClient), v = add(kServer);
  connect({{c1, v}, {v, c2}});
  expectOutbound({{v, {c1, c2}}, {c1, {v}}, {c2, {v}}});
}

// Row 9: a Park and a Drop producer into one subscriber: each producer has its own channel (its
// own backpressure), and the subscriber reads both.
TEST_F(GraphTest, RowNineProducersOfDifferentBackpressureIntoOneSubscriber) {
  EndpointId park = add(kPub), drop = add(kPub), s = add(kSub);
  connect({{park, s}, {drop, s}});
  expectInbound({{s, {park, drop}}});
}

// Row 10 (adopted channels) has no counterpart: adopting foreign channels is not offered. Two
// independent producers into one subscriber, the nearest case, is row 9.

TEST_F(GraphTest, NamesWireEveryPublisherAndFanoutToEverySubscriber) {
  EndpointId p = add(kPub, "orders"), s1 = add(kSub, "orders"), f = add(kFan, "orders");
  EndpointId s2 = add(kSub, "orders");
  EndpointId other = add(kSub, "invoices");
  expectOutbound({{p, {s1, s2}}, {f, {s1, s2}}});
  expectInbound({{s1, {p, f}}, {s2, {p, f}}, {other, {}}});
}

TEST_F(GraphTest, NamesWireClientsToTheServerOfTheirName) {
  EndpointId c1 = add(kClient, "calc");
  EXPECT_THAT(out(c1), IsEmpty());  // no server yet
  EndpointId v = add(kServer, "calc");
  EndpointId c2 = add(kClient, "calc");
  EXPECT_THAT(out(v), ElementsAre(c1, c2));
  EXPECT_THAT(out(c1), ElementsAre(v));
  EXPECT_THAT(graph_.neighbourhood(v), ElementsAre(c1, v, c2));
}

TEST_F(GraphTest, AnExplicitServerWinsOverTheName) {
  EndpointId named = add(kServer, "calc");
  EndpointId other = add(kServer, "calc2");
  EndpointId c = add(kClient, "calc");
  EXPECT_THAT(out(named), ElementsAre(c));
  connect(c, other);
  EXPECT_THAT(out(c), ElementsAre(other));
  EXPECT_THAT(out(named), IsEmpty());
  EXPECT_THAT(out(other), ElementsAre(c));
  EXPECT_THAT(graph_.connect(c, named), HasSubstr("connected to endpoint 2 (server 'calc2')"));
}

TEST_F(GraphTest, MismatchedSchemasUnderOneNameAreRefused) {
  add(kPub, "orders", 1);
  EXPECT_THAT(refused(kSub, "orders", 9), AllOf(HasSubstr("schema mismatch under name 'orders'"),
                                                HasSubstr("endpoint 1 (publisher 'orders')"),
                                                HasSubstr("01010101010101010101010101010101"),
                                                HasSubstr("09090909090909090909090909090909")));
  add(kServer, "calc", 1, 2);
  EXPECT_THAT(refused(kClient, "calc", 1, 3), HasSubstr("reply schema 0202"));
  EXPECT_THAT(refused(kClient, "calc", 4, 2), HasSubstr("request schema 0101"));
}

TEST_F(GraphTest, ANameBelongsToOneFamilyAndHasOneServer) {
  add(kPub, "orders");
  EXPECT_THAT(refused(kServer, "orders"),
              HasSubstr("name 'orders' is used by endpoint 1 (publisher 'orders'), a "
                        "publish/subscribe endpoint; a server cannot share it"));
  add(kServer, "calc");
  EXPECT_THAT(refused(kServer, "calc"), HasSubstr("already has a server: endpoint 2"));
  EXPECT_THAT(refused(kSub, "calc"), HasSubstr("an RPC endpoint"));
}

TEST_F(GraphTest, ConnectRefusesWrongDirectionsSchemasAndUnknownIds) {
  EndpointId p = add(kPub), s = add(kSub), s9 = add(kSub, "", 9), c = add(kClient);
  EXPECT_THAT(graph_.connect(s, p), HasSubstr("only a publisher or fanout to a subscriber"));
  EXPECT_THAT(graph_.connect(p, c), HasSubstr("cannot connect endpoint 1 (publisher)"));
  EXPECT_THAT(graph_.connect(p, s9), HasSubstr("schema 0101"));
  EXPECT_THAT(graph_.connect(p, 77), HasSubstr("no endpoint 77"));
  EXPECT_EQ(graph_.connect(p, s), "");
  EXPECT_EQ(graph_.connect(p, s), "");  // repeated: fine, stored once
  EXPECT_THAT(in(s), ElementsAre(p));
}

TEST_F(GraphTest, RemovingAnEndpointRemovesItsWiresAndConnects) {
  EndpointId p = add(kPub, "orders"), s = add(kSub, "orders"), x = add(kSub);
  connect(p, x);
  EXPECT_TRUE(graph_.remove(p));
  EXPECT_FALSE(graph_.remove(p));
  EXPECT_THAT(in(s), IsEmpty());
  EXPECT_THAT(in(x), IsEmpty());
  EndpointId q = add(kPub, "orders");
  EXPECT_GT(q, p);  // ids are never reused
  EXPECT_THAT(in(s), ElementsAre(q));
  EXPECT_THAT(in(x), IsEmpty());
}

TEST_F(GraphTest, LimitsAreEnforcedWithAMessage) {
  Graph small(GraphLimits{4, 1, 2});
  std::string error;
  EndpointId p = small.add({kPub, "t", schema(1), {}}, error);
  EXPECT_EQ(p, 1u);
  EXPECT_EQ(small.add({kSub, "t", schema(1), {}}, error), 2u);
  EXPECT_EQ(small.add({kSub, "t", schema(1), {}}, error), 3u);
  // A third subscriber would give the publisher 3 peers: refused, nothing kept.
  EXPECT_EQ(small.add({kSub, "t", schema(1), {}}, error), 0u);
  EXPECT_EQ(error, "endpoint 1 (publisher 't') would have 3 peers; an endpoint takes at most 2");
  EXPECT_EQ(small.size(), 3u);
  EXPECT_EQ(small.wiresOf(p).outbound.size(), 2u);
  EndpointId lone = small.add({kPub, "", schema(1), {}}, error);
  EXPECT_EQ(lone, 5u);  // the refused registration used id 4: ids are never reused
  EXPECT_EQ(small.add({kSub, "u", schema(1), {}}, error), 0u);
  EXPECT_THAT(error, HasSubstr("holds 4 endpoints"));
  EXPECT_EQ(small.connect(lone, 2), "");
  EXPECT_THAT(small.connect(lone, 3), HasSubstr("holds 1 explicit connects"));
}

TEST_F(GraphTest, ANameLongerThanTheLimitIsRefused) {
  EXPECT_THAT(refused(kPub, std::string(kMaxNameBytes + 1, 'x')), HasSubstr("257 bytes"));
}

}  // namespace
}  // namespace selium::switchboard
