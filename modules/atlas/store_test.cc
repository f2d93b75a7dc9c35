// The Atlas store's rules: upsert by the owner only, exact get/remove, lookup in URI text order
// with ids deduplicated, cleanup per owner, and every limit.
#include "store.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "selium/abi/errors.h"

namespace selium::atlas {
namespace {

constexpr uint64_t kAlice = 10;
constexpr uint64_t kBob = 20;

class StoreTest : public ::testing::Test {
 protected:
  Message call(MessageKind kind, std::string_view text, uint64_t requester, uint64_t id = 0) {
    Message m;
    m.requestId = ++next_id_;
    m.kind = kind;
    m.uri = *Uri::parse(text);
    m.id = id;
    m.replyChannel = 1;
    m.lifetime = 1;
    Message reply = store_.handle(m, requester);
    EXPECT_EQ(reply.requestId, m.requestId);
    return reply;
  }
  void insertOk(std::string_view text, uint64_t id, uint64_t owner = kAlice) {
    Message reply = call(MessageKind::Insert, text, owner, id);
    EXPECT_EQ(reply.kind, MessageKind::Ok) << text << ": " << reply.message;
  }
  Message get(std::string_view text) { return call(MessageKind::Get, text, 0); }
  Message lookup(std::string pattern) {
    Message m;
    m.requestId = ++next_id_;
    m.kind = MessageKind::Lookup;
    m.pattern = std::move(pattern);
    m.replyChannel = 1;
    return store_.handle(m, 0);
  }

  Store store_;
  uint64_t next_id_ = 0;
};

TEST_F(StoreTest, InsertThenGetExactly) {
  insertOk("sel://t/a.app/svc:ep", 5);
  Message hit = get("sel://t/a.app/svc:ep");
  EXPECT_EQ(hit.kind, MessageKind::GetResponse);
  EXPECT_TRUE(hit.found);
  EXPECT_EQ(hit.id, 5u);
  // Exact: neither the scope nor another spelling of a different URI.
  Message miss = get("sel://t/a.app/svc");
  EXPECT_FALSE(miss.found);
  EXPECT_EQ(miss.id, 0u);
  // The same URI spelt differently is the same entry.
  EXPECT_TRUE(get("SEL://t//a.app/./svc:ep").found);
}

TEST_F(StoreTest, OwnerMayReplaceItsEntry) {
  insertOk("sel://t/x", 1);
  insertOk("sel://t/x", 2);
  EXPECT_EQ(get("sel://t/x").id, 2u);
  EXPECT_EQ(store_.size(), 1u);
  EXPECT_EQ(store_.countOf(kAlice), 1u);
}

TEST_F(StoreTest, AnotherProcessMayNotReplaceOrRemove) {
  insertOk("sel://t/x", 1, kAlice);
  Message replace = call(MessageKind::Insert, "sel://t/x", kBob, 2);
  EXPECT_EQ(replace.kind, MessageKind::Error);
  EXPECT_EQ(replace.code, uint32_t{SELIUM_ERR_PermissionDenied});
  EXPECT_NE(replace.message.find("sel://t/x is registered by process 10"), std::string::npos)
      << replace.message;
  Message remove = call(MessageKind::Remove, "sel://t/x", kBob);
  EXPECT_EQ(remove.kind, MessageKind::Error);
  EXPECT_EQ(remove.code, uint32_t{SELIUM_ERR_PermissionDenied});
  EXPECT_NE(remove.message.find("sel://t/x"), std::string::npos);
  EXPECT_EQ(get("sel://t/x").id, 1u);  // unchanged
}

TEST_F(StoreTest, RemoveReportsTheOldValue) {
  insertOk("sel://t/x", 9);
  Message removed = call(MessageKind::Remove, "sel://t/x", kAlice);
  EXPECT_EQ(removed.kind, MessageKind::RemoveResponse);
  EXPECT_TRUE(removed.found);
  EXPECT_EQ(removed.id, 9u);
  EXPECT_FALSE(get("sel://t/x").found);
  EXPECT_EQ(store_.countOf(kAlice), 0u);
  Message again = call(MessageKind::Remove, "sel://t/x", kBob);
  EXPECT_EQ(again.kind, MessageKind::RemoveResponse);
  EXPECT_FALSE(again.found);
  EXPECT_EQ(again.id, 0u);
}

TEST_F(StoreTest, LookupIsSortedByUriTextAndDeduplicated) {
  insertOk("sel://t/team/payments/orders.app/runner:rpc", 3);
  insertOk("sel://t/team/a.app/x", 1);
  insertOk("sel://t/team/b", 3);  // the same id again
  insertOk("sel://t/other/c", 4);
  insertOk("sel://u/team/d", 5);   // another tenant
  insertOk("sel://tt/team/e", 6);  // a tenant that starts like this one
  Message all = lookup("sel://t/team");
  EXPECT_EQ(all.kind, MessageKind::LookupResponse);
  // Text order: .../team/a.app/x (1), .../team/b (3), .../team/payments/... (3, again).
  EXPECT_EQ(all.ids, (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(lookup("sel://t").ids, (std::vector<uint64_t>{4, 1, 3}));
  EXPECT_EQ(lookup("sel://t/orders.app").ids, (std::vector<uint64_t>{3}));
  EXPECT_EQ(lookup("sel://t/team/payments/orders.app/runner").ids, (std::vector<uint64_t>{3}));
  EXPECT_TRUE(lookup("sel://t/te").ids.empty());
  EXPECT_TRUE(lookup("sel://nobody").ids.empty());
}

TEST_F(StoreTest, LookupOfABadPatternIsAnError) {
  Message reply = lookup("http://t/x");
  EXPECT_EQ(reply.kind, MessageKind::Error);
  EXPECT_EQ(reply.code, uint32_t{SELIUM_ERR_InvalidArgument});
  EXPECT_EQ(reply.message.rfind("uri error: URI must use Selium scheme: \"sel://\"", 0), 0u)
      << reply.message;
}

TEST_F(StoreTest, RemoveOwnerDropsOnlyItsEntries) {
  insertOk("sel://t/a", 1, kAlice);
  insertOk("sel://t/b", 2, kAlice);
  insertOk("sel://t/c", 3, kBob);
  EXPECT_EQ(store_.removeOwner(kAlice), 2u);
  EXPECT_FALSE(get("sel://t/a").found);
  EXPECT_TRUE(get("sel://t/c").found);
  EXPECT_EQ(store_.countOf(kAlice), 0u);
  // Its URIs are free for others now.
  insertOk("sel://t/a", 7, kBob);
  EXPECT_EQ(store_.countOf(kBob), 2u);
}

TEST_F(StoreTest, ResponsesAreNotRequests) {
  Message m;
  m.requestId = 4;
  m.kind = MessageKind::GetResponse;
  Message reply = store_.handle(m, 0);
  EXPECT_EQ(reply.kind, MessageKind::Error);
  EXPECT_EQ(reply.requestId, 4u);
}

TEST(StoreLimitsTest, TotalEntriesAreBounded) {
  Store store(StoreLimits{4, 100, 100, 100});
  for (int i = 0; i < 6; ++i) {
    Message m;
    m.kind = MessageKind::Insert;
    m.uri = *Uri::parse("sel://t/" + std::to_string(i));
    m.id = i;
    Message reply = store.handle(m, kAlice + i);
    if (i < 4) {
      EXPECT_EQ(reply.kind, MessageKind::Ok);
    } else {
      EXPECT_EQ(reply.kind, MessageKind::Error);
      EXPECT_EQ(reply.code, uint32_t{SELIUM_ERR_LimitExceeded});
      EXPECT_NE(reply.message.find("sel://t/" + std::to_string(i) + " not inserted"),
                std::string::npos)
          << reply.message;
    }
  }
  EXPECT_EQ(store.size(), 4u);
  // Replacing an existing entry needs no room.
  Message m;
  m.kind = MessageKind::Insert;
  m.uri = *Uri::parse("sel://t/0");
  m.id = 99;
  EXPECT_EQ(store.handle(m, kAlice).kind, MessageKind::Ok);
}

TEST(StoreLimitsTest, EntriesPerOwnerAreBounded) {
  Store store(StoreLimits{100, 3, 100, 100});
  auto insert = [&](int i, uint64_t owner) {
    Message m;
    m.kind = MessageKind::Insert;
    m.uri = *Uri::parse("sel://t/" + std::to_string(i));
    return store.handle(m, owner);
  };
  for (int i = 0; i < 3; ++i) EXPECT_EQ(insert(i, kAlice).kind, MessageKind::Ok);
  Message over = insert(3, kAlice);
  EXPECT_EQ(over.code, uint32_t{SELIUM_ERR_LimitExceeded});
  EXPECT_NE(over.message.find("process 10 owns 3 entries"), std::string::npos) << over.message;
  EXPECT_EQ(insert(3, kBob).kind, MessageKind::Ok);  // others are not affected
}

TEST(StoreLimitsTest, OwnersAreBounded) {
  Store store(StoreLimits{100, 100, 100, 2});
  auto insert = [&](int i, uint64_t owner) {
    Message m;
    m.kind = MessageKind::Insert;
    m.uri = *Uri::parse("sel://t/" + std::to_string(i));
    return store.handle(m, owner);
  };
  EXPECT_EQ(insert(0, 1).kind, MessageKind::Ok);
  EXPECT_EQ(insert(1, 2).kind, MessageKind::Ok);
  Message third = insert(2, 3);
  EXPECT_EQ(third.code, uint32_t{SELIUM_ERR_LimitExceeded});
  EXPECT_NE(third.message.find("entries of 2 processes"), std::string::npos) << third.message;
  EXPECT_EQ(insert(3, 1).kind, MessageKind::Ok);  // an owner may add more
  EXPECT_EQ(store.removeOwner(2), 1u);
  EXPECT_EQ(insert(2, 3).kind, MessageKind::Ok);  // room again once one has gone
  EXPECT_EQ(store.owners(), 2u);
}

TEST(StoreLimitsTest, LookupResultsAreBounded) {
  Store store(StoreLimits{100, 100, 3, 100});
  for (int i = 0; i < 5; ++i) {
    Message m;
    m.kind = MessageKind::Insert;
    m.uri = *Uri::parse("sel://t/" + std::to_string(i));
    m.id = i % 4;  // ids 0,1,2,3,0
    ASSERT_EQ(store.handle(m, kAlice).kind, MessageKind::Ok);
  }
  Message m;
  m.kind = MessageKind::Lookup;
  m.pattern = "sel://t";
  Message reply = store.handle(m, 0);
  EXPECT_EQ(reply.kind, MessageKind::Error);
  EXPECT_EQ(reply.code, uint32_t{SELIUM_ERR_TooLarge});
  EXPECT_NE(reply.message.find("more than 3 distinct ids"), std::string::npos) << reply.message;
  m.pattern = "sel://t/1";
  EXPECT_EQ(store.handle(m, 0).ids, (std::vector<uint64_t>{1}));
}

}  // namespace
}  // namespace selium::atlas
