// A fan-out pipeline through the Switchboard. A producer sends jobs through a Fanout: each job
// goes to exactly one of the workers subscribed to its name (they share one cursor). Every worker
// publishes its results through a Publisher; the orchestrator's Subscriber of that name reads all
// of them and checks that every job was done exactly once.
//
//   run(u32 workers, u32 items)   the orchestrator and collector: registers the results
//                                 subscriber, starts `workers` workers and one producer as child
//                                 processes under names of its own, reads results until every
//                                 worker has said it is done, checks them and waits for every
//                                 child. Info "pipeline done". Status 0 when each job 1..items
//                                 came back exactly once, right, and every child exited 0; 1
//                                 otherwise (a child that fails stops the run at once).
//   run_poisoned(u32 workers, u32 items, u32 poison)
//                                 as run, but the worker that takes job `poison` traps: a run
//                                 that must fail, not hang.
//   produce(utf8 jobs, u32 items, u32 workers)
//                                 Fanout<Job> of `jobs`: waits for `workers` subscribers, sends
//                                 jobs 1..items, then one stop job per worker. Info "produced".
//   work(utf8 jobs, utf8 results, u32 index, u32 poison)
//                                 Subscriber<Job> of `jobs` and Publisher<JobResult> of
//                                 `results`: answers each job with its value squared until it
//                                 takes a stop job, then publishes how many it did. Traps on job
//                                 `poison` (0: none). Info "worker done".
//
// Every process needs the Switchboard (selium_switchboard_server.wasm) running in the runtime.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <selium/selium.hpp>
#include <selium/switchboard.hpp>

#include "../common/flatbuffers_codec.hpp"
#include "../common/switchboard_children.hpp"
#include "jobs_generated.h"

namespace {

namespace fb = selium::examples::pipeline;
using selium::switchboard::Failure;
using selium::switchboard::detail::decimal;

constexpr selium::log::Logger kLog{"examples.sb_pipeline"};
constexpr std::string_view kModule = "sb_pipeline.wasm";
// The collector keeps one bit per job: at most this many jobs in a run (1.25 MB of bits).
constexpr uint32_t kMaxItems = 10'000'000;
// Most workers a run starts (a Fanout has at most 1024 subscribers).
constexpr uint32_t kMaxWorkers = 256;
// Messages a loop handles before it yields its worker thread. Receiving and sending rarely wait
// when messages are there and channels have room, so without this a busy loop would hold its
// worker (and every process waiting for it) until the whole run was over.
constexpr uint64_t kMessagesPerYield = 64;
// The collector gives up when no result has come for this long (TimeRead): a run ends, it never
// hangs. Generous: results come every few microseconds while workers work.
constexpr std::chrono::milliseconds kStallLimit{10'000};
constexpr std::chrono::milliseconds kStallCheck{500};

// The message types: each names its FlatBuffers table (its schema id derives from that name) and
// codes itself, as selium::MessageTraits expects.
struct Job {
  static constexpr std::string_view kSchemaName = "selium.examples.pipeline.Job";
  uint64_t seq = 0;
  uint64_t value = 0;
  bool stop = false;

  static std::vector<uint8_t> encode(const Job& j) {
    flatbuffers::FlatBufferBuilder builder(64);
    builder.Finish(fb::CreateJob(builder, j.seq, j.value, j.stop));
    return examples::bytesOf(builder);
  }
  static std::optional<Job> decode(std::span<const uint8_t> bytes) {
    const auto* j = examples::verifiedRoot<fb::Job>(bytes);
    if (j == nullptr) return std::nullopt;
    return Job{j->seq(), j->value(), j->stop()};
  }
};

struct JobResult {
  static constexpr std::string_view kSchemaName = "selium.examples.pipeline.JobResult";
  uint32_t worker = 0;
  uint64_t seq = 0;
  uint64_t square = 0;
  bool done = false;
  uint64_t jobs = 0;

  static std::vector<uint8_t> encode(const JobResult& r) {
    flatbuffers::FlatBufferBuilder builder(64);
    builder.Finish(fb::CreateJobResult(builder, r.worker, r.seq, r.square, r.done, r.jobs));
    return examples::bytesOf(builder);
  }
  static std::optional<JobResult> decode(std::span<const uint8_t> bytes) {
    const auto* r = examples::verifiedRoot<fb::JobResult>(bytes);
    if (r == nullptr) return std::nullopt;
    return JobResult{r->worker(), r->seq(), r->square(), r->done(), r->jobs()};
  }
};

int32_t failed(std::string_view what, const Failure& failure) {
  return examples::logFailure(kLog, what, failure);
}
int32_t failed(std::string_view what, selium::Error error) {
  return examples::logFailure(kLog, what, error);
}

// ---- the collector ----

// What the collector has read so far. Bounded: one bit per job and a few counters per worker.
struct Collected {
  Collected(uint32_t workers, uint32_t items)
      : seen(items + uint64_t{1}, false),
        answered(workers, 0),
        reported(workers, 0),
        done(workers, false) {}

  std::vector<bool> seen;          // seen[seq]: a result for job seq came in
  std::vector<uint64_t> answered;  // results read from each worker
  std::vector<uint64_t> reported;  // the jobs each worker says it did (its done result)
  std::vector<bool> done;          // each worker's done result came in
  uint32_t workers_done = 0;
  uint64_t read = 0;        // messages read (or tried)
  uint64_t progress = 0;    // results and done results read: the watchdog's clock
  uint64_t results = 0;     // results of jobs 1..items, duplicates included
  uint64_t duplicates = 0;  // results of a job already answered
  uint64_t wrong = 0;       // a wrong square, a job or worker out of range, an undecodable result
  std::optional<Failure> failure;
};

// Reads results until every worker has sent its done result. A worker's results travel in order
// on its own channel, so by then every result it sent has been read.
selium::Task<void> collect(selium::Subscriber<JobResult>& subscriber, Collected& c) {
  const uint64_t items = c.seen.size() - 1;
  while (c.workers_done < c.done.size()) {
    if (++c.read % kMessagesPerYield == 0) co_await selium::yield();
    auto result = co_await subscriber.recv();
    if (!result) {
      if (result.error().code == selium::ErrorCode::InvalidArgument) {  // did not decode
        ++c.wrong;
        continue;
      }
      c.failure = result.error();
      co_return;
    }
    ++c.progress;
    if (result->worker >= c.done.size()) {
      ++c.wrong;
      continue;
    }
    if (result->done) {
      if (!c.done[result->worker]) {
        c.done[result->worker] = true;
        c.reported[result->worker] = result->jobs;
        ++c.workers_done;
      }
      continue;
    }
    ++c.answered[result->worker];
    if (result->seq == 0 || result->seq > items || result->square != result->seq * result->seq) {
      ++c.wrong;
      continue;
    }
    ++c.results;
    if (c.seen[result->seq]) {
      ++c.duplicates;
    } else {
      c.seen[result->seq] = true;
    }
  }
}

// Finishes when the collector has read nothing for kStallLimit: a run must end, never hang
// (a worker that can no longer be reached, results that never come).
selium::Task<void> stalled(const Collected& c) {
  uint64_t seen = c.progress;
  for (auto quiet = std::chrono::milliseconds(0); quiet < kStallLimit;) {
    if (!co_await selium::sleep(kStallCheck)) co_return;
    quiet = c.progress == seen ? quiet + kStallCheck : std::chrono::milliseconds(0);
    seen = c.progress;
  }
}

selium::Task<void> pause(std::chrono::milliseconds duration) {
  (void)co_await selium::sleep(duration);
}

// Waits for every child to end, counting those that ended normally with status 0.
selium::Task<void> awaitChildren(std::vector<selium::ChildProcess>& children, uint32_t workers,
                                 uint32_t& ok) {
  for (std::size_t i = 0; i < children.size(); ++i) {
    selium::Exit exit = co_await examples::exitOf(children[i]);
    if (exit.ok()) {
      ++ok;
    } else {
      kLog.warn("child failed", {{"child", i < workers ? "worker" : "producer"},
                                 {"index", i},
                                 {"reason", examples::reasonName(exit.reason)},
                                 {"status", exit.status},
                                 {"detail", exit.message}});
    }
  }
}

// Which workers the collector is still waiting for, and how many results it had from each.
std::string waitingFor(const Collected& c) {
  std::string out;
  for (std::size_t w = 0; w < c.done.size(); ++w) {
    if (c.done[w]) continue;
    out += (out.empty() ? "" : ", ") + std::string("worker ") + decimal(w) + " (" +
           decimal(c.answered[w]) + " results)";
  }
  return out;
}

// Waits until `producer` is wired to no subscriber any more. A producer stays until its
// subscribers have read everything and let go, rather than ending as soon as it has sent: see
// "Producers stay until their subscribers let go" in the README.
template <typename Producer>
selium::Task<selium::switchboard::Outcome<void>> untilAlone(Producer& producer) {
  while (producer.peers() > 0) {
    auto rewired = co_await producer.rewired();
    if (!rewired) co_return rewired.error();
  }
  co_return selium::switchboard::Outcome<void>();
}

selium::Task<int32_t> runPipeline(uint32_t workers, uint32_t items, uint32_t poison) {
  if (workers == 0 || workers > kMaxWorkers) {
    kLog.error("a pipeline needs 1 to 256 workers", {{"workers", workers}});
    co_return 1;
  }
  if (items > kMaxItems) {
    kLog.error("too many items: at most 10000000", {{"items", items}});
    co_return 1;
  }
  auto board = co_await examples::connectSwitchboard();
  if (!board) co_return failed("cannot reach the Switchboard", board.error());
  // Names of this run's own: runs side by side in one runtime never share jobs or results.
  std::string prefix = "examples.sb_pipeline." + decimal(selium::processId());
  std::string jobs_name = prefix + ".jobs";
  std::string results_name = prefix + ".results";

  // Subscribed before any worker starts: no worker waits long for a reader of its results.
  auto subscribed = co_await board->subscriber<JobResult>(results_name);
  if (!subscribed) co_return failed("cannot subscribe to the results", subscribed.error());
  std::optional<selium::Subscriber<JobResult>> results(std::move(*subscribed));

  // children[0..workers) are the workers, children[workers] the producer.
  std::vector<selium::ChildProcess> children;
  for (uint32_t i = 0; i <= workers; ++i) {
    auto builder = i < workers ? examples::switchboardPeer(std::string(kModule), "work")
                                     .arg(selium::Arg::utf8(jobs_name))
                                     .arg(selium::Arg::utf8(results_name))
                                     .arg(selium::Arg::u32(i))
                                     .arg(selium::Arg::u32(poison))
                               : examples::switchboardPeer(std::string(kModule), "produce")
                                     .arg(selium::Arg::utf8(jobs_name))
                                     .arg(selium::Arg::u32(items))
                                     .arg(selium::Arg::u32(workers));
    auto child = builder.start();
    if (!child) {
      int32_t status = failed(i < workers ? "cannot start a worker" : "cannot start the producer",
                              child.error());
      co_await examples::stopAll(children);
      co_return status;
    }
    children.push_back(std::move(*child));
  }

  // Collect until every worker is done, unless a child fails first: the jobs it held would never
  // be answered. A child that succeeds early (the producer, a worker that is done) is fine.
  Collected c(workers, items);
  std::optional<examples::Ended> ended;
  std::vector<selium::Task<void>> outcome;
  outcome.push_back(collect(*results, c));
  outcome.push_back(examples::firstFailure(children, ended));
  outcome.push_back(stalled(c));
  std::size_t first = co_await selium::race(std::move(outcome));
  if (first == 2) {
    kLog.error(
        "no result for 10 s: giving up",
        {{"results", c.results}, {"workers_done", c.workers_done}, {"waiting_for", waitingFor(c)}});
    co_await examples::stopAll(children);
    co_return 1;
  }
  if (first == 1) {
    kLog.error("a child ended before the work was done",
               {{"child", ended->index < workers ? "worker" : "producer"},
                {"index", ended->index},
                {"reason", examples::reasonName(ended->exit.reason)},
                {"status", ended->exit.status},
                {"detail", ended->exit.message},
                {"results", c.results}});
    co_await examples::stopAll(children);
    co_return 1;
  }
  if (c.failure) {
    int32_t status = failed("cannot read the results", *c.failure);
    co_await examples::stopAll(children);
    co_return status;
  }

  // Every worker is done. Letting go of the results lets the workers end, and then the producer
  // (see untilAlone).
  results.reset();
  uint32_t children_ok = 0;
  std::vector<selium::Task<void>> ending;
  ending.push_back(awaitChildren(children, workers, children_ok));
  ending.push_back(pause(kStallLimit));
  if (co_await selium::race(std::move(ending)) == 1) {
    kLog.error("the children did not end within 10 s of the last result", {});
    co_await examples::stopAll(children);
    co_return 1;
  }
  uint64_t missing = 0;
  for (uint64_t seq = 1; seq <= items; ++seq) missing += c.seen[seq] ? 0 : 1;
  // Each worker said how many jobs it did; the collector must have read exactly that many.
  uint64_t reported = 0;
  uint32_t miscounted = 0;
  uint64_t busiest = 0;
  uint64_t idlest = UINT64_MAX;
  for (uint32_t w = 0; w < workers; ++w) {
    reported += c.reported[w];
    miscounted += c.reported[w] != c.answered[w] ? 1 : 0;
    busiest = std::max(busiest, c.answered[w]);
    idlest = std::min(idlest, c.answered[w]);
  }
  bool exactly_once = missing == 0 && c.duplicates == 0 && c.wrong == 0 && c.results == items &&
                      reported == items && miscounted == 0;
  kLog.log(exactly_once ? selium::log::Level::Info : selium::log::Level::Error,
           exactly_once ? "pipeline done" : "pipeline done, but not every job exactly once",
           {{"items", items},
            {"results", c.results},
            {"duplicates", c.duplicates},
            {"missing", missing},
            {"wrong", c.wrong},
            {"reported", reported},
            {"miscounted_workers", miscounted},
            {"workers", workers},
            {"busiest_worker", busiest},
            {"idlest_worker", idlest},
            {"children_ok", children_ok}});
  co_return exactly_once&& children_ok == children.size() ? 0 : 1;
}

}  // namespace

SELIUM_ENTRYPOINT(produce, (utf8, jobs), (u32, items), (u32, workers)) {
  auto board = co_await examples::connectSwitchboard();
  if (!board) co_return failed("cannot reach the Switchboard", board.error());
  auto fanout = co_await board->fanout<Job>(std::string(jobs));
  if (!fanout) co_return failed("cannot register the fanout", fanout.error());
  // Every worker must be subscribed before the first stop job goes: a worker that subscribed
  // later would find none left for it.
  auto ready = co_await fanout->ready(workers);
  if (!ready) co_return failed("cannot wait for the workers", ready.error());
  for (uint64_t seq = 1; seq <= items; ++seq) {
    if (seq % kMessagesPerYield == 0) co_await selium::yield();
    // Waits while the channel is full (Park): the workers set the pace.
    auto sent = co_await fanout->send(Job{seq, seq, false});
    if (!sent) co_return failed("cannot send a job", sent.error());
  }
  // One stop job per worker: a worker stops reading at its first, so each takes exactly one.
  for (uint32_t w = 0; w < workers; ++w) {
    auto sent = co_await fanout->send(Job{0, 0, true});
    if (!sent) co_return failed("cannot send a stop job", sent.error());
  }
  kLog.info("produced", {{"jobs", items}, {"workers", workers}, {"endpoint", fanout->id()}});
  // Stay until every worker has let go of the jobs (each unsubscribes after its stop job): the
  // fanout then goes with nothing left in it for anyone.
  if (auto left = co_await untilAlone(*fanout); !left) {
    co_return failed("cannot wait for the workers to finish", left.error());
  }
  co_return 0;
}

SELIUM_ENTRYPOINT(work, (utf8, jobs), (utf8, results), (u32, index), (u32, poison)) {
  auto board = co_await examples::connectSwitchboard();
  if (!board) co_return failed("cannot reach the Switchboard", board.error());
  auto subscribed = co_await board->subscriber<Job>(std::string(jobs));
  if (!subscribed) co_return failed("cannot subscribe to the jobs", subscribed.error());
  std::optional<selium::Subscriber<Job>> subscriber(std::move(*subscribed));
  auto publisher = co_await board->publisher<JobResult>(std::string(results));
  if (!publisher) co_return failed("cannot register the results publisher", publisher.error());
  uint64_t done = 0;
  for (uint64_t taken = 1;; ++taken) {
    if (taken % kMessagesPerYield == 0) co_await selium::yield();
    auto job = co_await subscriber->recv();
    if (!job) co_return failed("cannot receive a job", job.error());
    if (job->stop) break;
    if (poison != 0 && job->seq == poison) {
      kLog.warn("poisoned job: trapping", {{"index", index}, {"seq", job->seq}});
      __builtin_trap();  // the job is lost with this worker
    }
    // send() waits for the collector's subscriber, then for room in the channel.
    auto sent = co_await publisher->send(JobResult{index, job->seq, job->value * job->value});
    if (!sent) co_return failed("cannot publish a result", sent.error());
    ++done;
  }
  subscriber.reset();  // unsubscribes: once all workers have, the producer may go
  // The last word, after every result on the same channel: the collector has them all by then.
  auto sent = co_await publisher->send(JobResult{index, 0, 0, true, done});
  if (!sent) co_return failed("cannot publish the done result", sent.error());
  kLog.info("worker done", {{"index", index}, {"jobs", done}});
  // Stay until the collector has let go of the results (it unsubscribes once every worker is
  // done): this publisher then goes with nothing left in it unread.
  if (auto left = co_await untilAlone(*publisher); !left) {
    co_return failed("cannot wait for the collector to finish", left.error());
  }
  co_return 0;
}

SELIUM_ENTRYPOINT(run, (u32, workers), (u32, items)) {
  co_return co_await runPipeline(workers, items, 0);
}

SELIUM_ENTRYPOINT(run_poisoned, (u32, workers), (u32, items), (u32, poison)) {
  co_return co_await runPipeline(workers, items, poison);
}
