// The worker's run queue: coalescing, limits, order, batching of cross-thread wakes, close.
#include "kernel/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <thread>

#include "kernel/testing/loop_host.h"

namespace selium::kernel {
namespace {

using ::testing::ElementsAre;
using Polled = std::vector<std::pair<ProcessId, int32_t>>;

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest() {
    scheduler_ = std::make_shared<Scheduler>(loop_, [this](ProcessId pid, std::vector<int32_t>& w) {
      ++polls_;
      for (int32_t waker : w) polled_.emplace_back(pid, waker);
      if (on_poll_) on_poll_(pid, w);
    });
    scheduler_->bindThread();
  }
  ~SchedulerTest() override { scheduler_->close(); }

  boost::asio::io_context loop_;
  std::shared_ptr<Scheduler> scheduler_;
  Polled polled_;
  int polls_ = 0;
  std::function<void(ProcessId, std::vector<int32_t>&)> on_poll_;
};

TEST_F(SchedulerTest, CoalescesWakesPerProcessIntoOnePoll) {
  scheduler_->add(1);
  EXPECT_TRUE(scheduler_->wake(1, 5));
  EXPECT_TRUE(scheduler_->wake(1, 5));
  EXPECT_TRUE(scheduler_->wake(1, 6));
  EXPECT_TRUE(scheduler_->wake(1, 5));
  EXPECT_EQ(scheduler_->pendingWakes(1), 2u);
  EXPECT_EQ(scheduler_->readyCount(), 1u);
  EXPECT_EQ(scheduler_->loopPosts(), 1u);
  EXPECT_TRUE(polled_.empty());  // never from inside wake
  loop_.poll();
  EXPECT_EQ(polls_, 1);
  EXPECT_THAT(polled_, ElementsAre(std::pair<ProcessId, int32_t>{1, 5},
                                   std::pair<ProcessId, int32_t>{1, 6}));
  EXPECT_EQ(scheduler_->pendingWakes(1), 0u);
  // Once polled, the same waker is queued anew.
  EXPECT_TRUE(scheduler_->wake(1, 5));
  EXPECT_EQ(scheduler_->pendingWakes(1), 1u);
}

TEST_F(SchedulerTest, LimitPendingRefusesBeyondMaxPendingDistinctWakers) {
  scheduler_->add(1);
  for (int32_t i = 0; i < static_cast<int32_t>(Scheduler::kMaxPending); ++i) {
    ASSERT_TRUE(scheduler_->wake(1, i, Scheduler::Limit::Pending)) << i;
  }
  EXPECT_FALSE(scheduler_->wake(1, -1, Scheduler::Limit::Pending));
  EXPECT_TRUE(scheduler_->wake(1, 0, Scheduler::Limit::Pending));  // already pending: coalesced
  EXPECT_EQ(scheduler_->pendingWakes(1), Scheduler::kMaxPending);
  // Drivers' wakes are never refused.
  EXPECT_TRUE(scheduler_->wake(1, -2));
  EXPECT_EQ(scheduler_->pendingWakes(1), Scheduler::kMaxPending + 1);
  loop_.poll();
  EXPECT_EQ(polled_.size(), Scheduler::kMaxPending + 1);
  EXPECT_TRUE(scheduler_->wake(1, -1, Scheduler::Limit::Pending));  // room again
}

TEST_F(SchedulerTest, PollsProcessesInTheOrderTheyBecameReady) {
  for (ProcessId pid : {1, 2, 3}) scheduler_->add(pid);
  scheduler_->wake(3, 30);
  scheduler_->wake(1, 10);
  scheduler_->wake(3, 31);  // already ready: keeps its place
  scheduler_->wake(2, 20);
  loop_.poll();
  EXPECT_THAT(
      polled_,
      ElementsAre(std::pair<ProcessId, int32_t>{3, 30}, std::pair<ProcessId, int32_t>{3, 31},
                  std::pair<ProcessId, int32_t>{1, 10}, std::pair<ProcessId, int32_t>{2, 20}));
  EXPECT_EQ(polls_, 3);
}

TEST_F(SchedulerTest, BatchesWakesFromAnotherThreadIntoOnePost) {
  for (ProcessId pid = 1; pid <= 10; ++pid) scheduler_->add(pid);
  // The loop is "busy" (nobody runs it) while another thread wakes many times.
  std::thread other([&] {
    for (int round = 0; round < 100; ++round) {
      for (ProcessId pid = 1; pid <= 10; ++pid) {
        scheduler_->wakeFromAnyThread(pid, round % 3);
      }
    }
  });
  other.join();
  EXPECT_EQ(scheduler_->loopPosts(), 1u);
  EXPECT_TRUE(polled_.empty());
  EXPECT_EQ(loop_.poll(), 1u);  // one handler polled them all
  EXPECT_EQ(polls_, 10);
  ASSERT_EQ(polled_.size(), 30u);  // three distinct wakers each, coalesced
  for (ProcessId pid = 1; pid <= 10; ++pid) {
    Polled mine;
    for (const auto& p : polled_) {
      if (p.first == pid) mine.push_back(p);
    }
    EXPECT_THAT(mine, ElementsAre(std::pair<ProcessId, int32_t>{pid, 0},
                                  std::pair<ProcessId, int32_t>{pid, 1},
                                  std::pair<ProcessId, int32_t>{pid, 2}));
  }
  // The next batch posts again.
  std::thread([&] { scheduler_->wakeFromAnyThread(4, 9); }).join();
  EXPECT_EQ(scheduler_->loopPosts(), 2u);
  loop_.restart();  // poll() stopped the loop when it ran out of work
  loop_.poll();
  EXPECT_EQ(polled_.back(), (std::pair<ProcessId, int32_t>{4, 9}));
}

TEST_F(SchedulerTest, WakesFromTheOwnerThreadSkipTheInbox) {
  scheduler_->add(1);
  scheduler_->wakeFromAnyThread(1, 3);
  EXPECT_EQ(scheduler_->pendingWakes(1), 1u);  // queued at once, not via a drain
  scheduler_->waker(1, 4).fire();
  EXPECT_EQ(scheduler_->pendingWakes(1), 2u);
  EXPECT_EQ(scheduler_->loopPosts(), 1u);
}

TEST_F(SchedulerTest, WakesAfterCloseAreIgnoredAndNeverTouchTheLoop) {
  scheduler_->add(1);
  Waker waker = scheduler_->waker(1, 7);
  scheduler_->close();
  EXPECT_TRUE(scheduler_->closed());
  std::thread([&] {
    waker.fire();
    scheduler_->wakeFromAnyThread(1, 8);
  }).join();
  EXPECT_TRUE(scheduler_->wake(1, 9));  // dropped, not refused
  EXPECT_EQ(scheduler_->pendingWakes(1), 0u);
  EXPECT_EQ(scheduler_->loopPosts(), 0u);
  EXPECT_EQ(loop_.poll(), 0u);
  EXPECT_TRUE(polled_.empty());
}

TEST_F(SchedulerTest, CloseDropsWakesAlreadyInTheInbox) {
  scheduler_->add(1);
  std::thread([&] { scheduler_->wakeFromAnyThread(1, 7); }).join();
  EXPECT_EQ(scheduler_->loopPosts(), 1u);
  scheduler_->close();
  loop_.poll();  // the drain posted before close() finds the scheduler closed
  EXPECT_TRUE(polled_.empty());
}

TEST_F(SchedulerTest, WakerOutlivesItsLoop) {
  Waker waker;
  {
    boost::asio::io_context loop;
    auto scheduler = std::make_shared<Scheduler>(loop, [](ProcessId, std::vector<int32_t>&) {});
    scheduler->bindThread();
    scheduler->add(1);
    waker = scheduler->waker(1, 1);
    scheduler->close();
  }
  std::thread([&] { waker.fire(); }).join();  // must not touch the destroyed loop (ASan)
  waker.fire();
  EXPECT_TRUE(waker);
}

TEST_F(SchedulerTest, IgnoresWakesForUnknownAndRemovedProcesses) {
  EXPECT_TRUE(scheduler_->wake(99, 1));
  EXPECT_EQ(scheduler_->readyCount(), 0u);
  EXPECT_EQ(scheduler_->loopPosts(), 0u);
  scheduler_->add(1);
  scheduler_->add(2);
  scheduler_->wake(1, 1);
  scheduler_->wake(2, 2);
  scheduler_->remove(1);  // ready, then ended
  std::thread([&] {
    scheduler_->wakeFromAnyThread(1, 3);
    scheduler_->wakeFromAnyThread(77, 4);
  }).join();
  loop_.poll();
  EXPECT_THAT(polled_, ElementsAre(std::pair<ProcessId, int32_t>{2, 2}));
  EXPECT_EQ(scheduler_->pendingWakes(1), 0u);
  EXPECT_EQ(scheduler_->readyCount(), 0u);
}

TEST_F(SchedulerTest, RunReadyStopsAfterItsBudget) {
  for (ProcessId pid : {1, 2, 3}) {
    scheduler_->add(pid);
    scheduler_->wake(pid, static_cast<int32_t>(pid));
  }
  EXPECT_EQ(scheduler_->runReady(2), 2u);
  EXPECT_THAT(polled_, ElementsAre(std::pair<ProcessId, int32_t>{1, 1},
                                   std::pair<ProcessId, int32_t>{2, 2}));
  EXPECT_EQ(scheduler_->readyCount(), 1u);
  EXPECT_EQ(scheduler_->runReady(), 1u);
  EXPECT_EQ(polled_.back(), (std::pair<ProcessId, int32_t>{3, 3}));
  EXPECT_EQ(scheduler_->runReady(), 0u);
}

TEST_F(SchedulerTest, RunReadyTakesWakesFromTheInbox) {
  scheduler_->add(1);
  std::thread([&] { scheduler_->wakeFromAnyThread(1, 5); }).join();
  EXPECT_EQ(scheduler_->runReady(), 1u);  // not waiting for the posted drain
  EXPECT_THAT(polled_, ElementsAre(std::pair<ProcessId, int32_t>{1, 5}));
  EXPECT_EQ(loop_.poll(), 1u);  // the drain finds nothing left
  EXPECT_EQ(polled_.size(), 1u);
}

TEST_F(SchedulerTest, ProcessWokenWhilePolledIsQueuedBehindTheOthers) {
  scheduler_->add(1);
  scheduler_->add(2);
  on_poll_ = [&](ProcessId pid, std::vector<int32_t>& wakers) {
    if (pid == 1 && wakers.front() == 10) {
      EXPECT_TRUE(scheduler_->wake(1, 10));  // the waker polled right now: queued anew
    }
  };
  scheduler_->wake(1, 10);
  scheduler_->wake(2, 20);
  EXPECT_EQ(scheduler_->runReady(3), 3u);
  on_poll_ = nullptr;
  EXPECT_THAT(polled_, ElementsAre(std::pair<ProcessId, int32_t>{1, 10},
                                   std::pair<ProcessId, int32_t>{2, 20},
                                   std::pair<ProcessId, int32_t>{1, 10}));
}

TEST_F(SchedulerTest, ALoopRunPollsOneRoundThenLetsOtherHandlersIn) {
  scheduler_->add(1);
  on_poll_ = [&](ProcessId pid, std::vector<int32_t>&) { scheduler_->wake(pid, 1); };  // yields
  scheduler_->wake(1, 1);
  int polls_when_other_ran = -1;
  boost::asio::post(loop_, [&] { polls_when_other_ran = polls_; });
  loop_.run_one();  // the scheduler's run: one poll, which re-queued the process
  EXPECT_EQ(polls_, 1);
  loop_.run_one();  // the other handler, before the next round
  EXPECT_EQ(polls_when_other_ran, 1);
  loop_.run_one();
  EXPECT_EQ(polls_, 2);
  on_poll_ = nullptr;
  loop_.poll();
}

TEST_F(SchedulerTest, ProcessEndedByItsOwnPollIsNotPolledAgain) {
  scheduler_->add(1);
  on_poll_ = [&](ProcessId pid, std::vector<int32_t>&) {
    scheduler_->wake(pid, 2);
    scheduler_->remove(pid);
  };
  scheduler_->wake(1, 1);
  loop_.poll();
  EXPECT_THAT(polled_, ElementsAre(std::pair<ProcessId, int32_t>{1, 1}));
}

TEST(LoopHost, DeliversWakersFromAnotherThreadToTheProcessOnItsLoop) {
  testing::LoopHost host;
  Process& a = host.makeProcess();
  Process& b = host.makeProcess();
  EXPECT_NE(a.id(), b.id());
  Waker waker = a.waker(42);
  ASSERT_TRUE(waker);
  std::thread([&] { waker.fire(); }).join();
  b.wake(7);
  EXPECT_TRUE(host.runUntil([&] { return host.polled().size() == 2; }));
  EXPECT_THAT(host.polled(), ElementsAre(std::pair<ProcessId, int32_t>{b.id(), 7},
                                         std::pair<ProcessId, int32_t>{a.id(), 42}));
  EXPECT_EQ(&a.registry(), &host.registry());
}

TEST(LoopHost, OnPollPlaysTheGuestAndEndedProcessesGetNoPolls) {
  testing::LoopHost host;
  Process& p = host.makeProcess();
  ProcessId pid = p.id();
  int yields = 0;
  host.onPoll([&](Process& process, int32_t waker) {
    if (++yields < 3) {
      EXPECT_TRUE(process.wakeYield(waker + 1));
    }
  });
  p.wake(0);
  EXPECT_TRUE(host.runUntil([&] { return yields == 3; }));
  EXPECT_THAT(host.polled(), ElementsAre(std::pair<ProcessId, int32_t>{pid, 0},
                                         std::pair<ProcessId, int32_t>{pid, 1},
                                         std::pair<ProcessId, int32_t>{pid, 2}));
  Waker late = p.waker(5);
  host.endProcess(pid);
  EXPECT_EQ(host.process(pid), nullptr);
  late.fire();
  host.poll();
  EXPECT_EQ(host.polled().size(), 3u);
}

}  // namespace
}  // namespace selium::kernel
