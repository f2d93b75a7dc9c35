#include "kernel/timer_queue.h"

#include <gtest/gtest.h>

#include <vector>

namespace selium::kernel {
namespace {

using namespace std::chrono_literals;

struct Recorder : TimerQueue::Client {
  explicit Recorder(std::vector<int>& log, int id) : log(log), id(id) {}
  void expired() override { log.push_back(id); }
  std::vector<int>& log;
  int id;
};

TEST(TimerQueue, FiresInDeadlineOrderFromTheLoop) {
  boost::asio::io_context loop;
  TimerQueue queue(loop);
  std::vector<int> fired;
  Recorder a(fired, 1), b(fired, 2), c(fired, 3);
  queue.add(20ms, &a);
  queue.add(1ms, &b);
  queue.add(10ms, &c);
  EXPECT_TRUE(fired.empty());  // never from inside add
  while (queue.size() > 0 && loop.run_one_for(5s) > 0) {
  }
  EXPECT_EQ(fired, (std::vector<int>{2, 3, 1}));
}

TEST(TimerQueue, CancelledEntriesNeverFireAndQueueNoHandlersEach) {
  boost::asio::io_context loop;
  TimerQueue queue(loop);
  std::vector<int> fired;
  Recorder never(fired, 1), soon(fired, 2);
  // Deadlines that keep getting earlier would re-arm the asio timer each time if the queue did
  // not hold back: at most one cancelled wait may be outstanding.
  for (int i = 0; i < 100000; ++i) {
    TimerQueue::Key key = queue.add(std::chrono::hours(1000) - std::chrono::seconds(i), &never);
    queue.cancel(key);
  }
  EXPECT_EQ(queue.size(), 0u);
  EXPECT_LE(loop.poll(), 2u);  // the one wait (and the one cancelled wait), not 100000
  loop.restart();              // poll() ran out of work, which stops the loop
  queue.add(1ms, &soon);
  while (queue.size() > 0 && loop.run_one_for(5s) > 0) {
  }
  EXPECT_EQ(fired, (std::vector<int>{2}));
}

TEST(TimerQueue, HugeDurationsSaturateInsteadOfOverflowing) {
  boost::asio::io_context loop;
  TimerQueue queue(loop);
  std::vector<int> fired;
  Recorder far(fired, 1), near(fired, 2);
  TimerQueue::Key key = queue.add(std::chrono::nanoseconds(INT64_MAX), &far);
  EXPECT_EQ(key.first, TimerQueue::Clock::time_point::max());
  queue.add(1ms, &near);
  while (queue.size() > 1 && loop.run_one_for(5s) > 0) {
  }
  EXPECT_EQ(fired, (std::vector<int>{2}));
  queue.cancel(key);
}

TEST(TimerQueue, AHandlerThatRunsAfterTheQueueIsGoneDoesNothing) {
  boost::asio::io_context loop;
  std::vector<int> fired;
  Recorder r(fired, 1);
  {
    TimerQueue queue(loop);
    queue.add(1h, &r);
  }
  EXPECT_EQ(loop.poll(), 1u);  // the cancelled wait runs, touching nothing
  EXPECT_TRUE(fired.empty());
}

}  // namespace
}  // namespace selium::kernel
