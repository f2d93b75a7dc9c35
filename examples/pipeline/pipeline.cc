// A pipeline with a fan-out stage, run by an orchestrator that starts its stages as child
// processes, hands them channels and collects their exit statuses.
//
//   run(u32 workers, u32 items)   the orchestrator: makes a `work` and a `results` channel,
//                                 starts `workers` worker processes that all share ONE reader of
//                                 `work` (so each item goes to exactly one worker) and a writer
//                                 of `results`, feeds items 1..items, sums the results, drains
//                                 `work`, waits for every worker. Info "pipeline done"
//                                 {items, sum, expected, workers_ok}. Status 0 when the sum is
//                                 right and every worker exited 0. A worker that ends before the
//                                 work is done (a trap, a failed start) fails the run: it stops
//                                 the other workers and exits 1.
//   run_poisoned(u32 workers, u32 items, u32 poison)
//                                 as run, but the worker that takes item `poison` traps while it
//                                 holds its batch: a run that must fail, not hang.
//   worker(resource work, resource results, u32 index, u32 poison)
//                                 reads items until the channel is drained (EndOfStream) and
//                                 writes item * item for each; traps on item `poison` (0: none).
//                                 Info "worker done" {index, items}.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <selium/selium.hpp>

namespace {

constexpr selium::log::Logger kLog{"examples.pipeline"};
constexpr std::size_t kFramesPerBatch = 256;

// Sums of up to 2^32 - 1 squares need up to 96 bits.
using Uint128 = unsigned __int128;

int32_t failed(std::string_view what, selium::Error error) {
  kLog.error(what, {{"error", error.name()}, {"detail", selium::lastError()}});
  return 1;
}

std::vector<uint8_t> u64Frame(uint64_t v) {
  std::vector<uint8_t> out(8);
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
  return out;
}

uint64_t u64Of(std::span<const uint8_t> frame) {
  uint64_t v = 0;
  for (std::size_t i = 0; i < 8 && i < frame.size(); ++i) v |= uint64_t{frame[i]} << (8 * i);
  return v;
}

std::string decimal(Uint128 v) {
  std::string digits;
  do {
    // No `v % 10`: the toolchain's __umodti3 needs stack-protector symbols wasi-libc lacks.
    Uint128 rest = v / 10;
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(v - rest * 10)));
    v = rest;
  } while (v != 0);
  return digits;
}

// 1² + 2² + ... + n² = n(n+1)(2n+1)/6. For n < 2^32 the product is below 2^97: exact in 128 bits.
Uint128 sumOfSquares(uint64_t n) { return Uint128{n} * (n + 1) * (2 * n + 1) / 6; }

const char* reasonName(int32_t reason) {
  switch (reason) {
    case SELIUM_EXIT_NORMAL:
      return "normal";
    case SELIUM_EXIT_ERROR:
      return "error";
    case SELIUM_EXIT_TRAP:
      return "trap";
    case SELIUM_EXIT_TERMINATED:
      return "terminated";
    case SELIUM_EXIT_FAILED:
      return "failed";
  }
  return "unknown";
}

// What feeding and collecting share with the orchestrator.
struct Progress {
  Uint128 sum = 0;
  uint64_t received = 0;
  int32_t status = 0;   // non-zero once a stage failed
  selium::Event error;  // set when a stage fails: the other stage may then wait for ever
};

selium::Task<void> feed(selium::Writer writer, uint32_t items, std::shared_ptr<Progress> progress) {
  selium::Batch batch;
  for (uint64_t n = 1; n <= items; ++n) {
    batch.add(u64Frame(n));
    if (batch.frames() == kFramesPerBatch || n == items) {
      auto written = co_await writer.write(batch);
      if (!written) {
        progress->status = failed("feeding work failed", written.error());
        progress->error.set();
        co_return;
      }
      batch.clear();
    }
  }
}

selium::Task<void> collect(selium::Reader reader, uint32_t items,
                           std::shared_ptr<Progress> progress) {
  std::vector<uint8_t> buffer;
  while (progress->received < items) {
    auto got = co_await reader.readBatch(buffer);
    if (!got) {
      progress->status = failed("results channel failed", got.error());
      progress->error.set();
      co_return;
    }
    for (std::span<const uint8_t> r : *got) {
      progress->sum += u64Of(r);
      ++progress->received;
    }
  }
}

selium::Task<void> untilSet(selium::Event& event) { co_await event.wait(); }

// How `child` ended (a failed wait, which only a broken handle causes, counts as a failure).
selium::Task<selium::Exit> exitOf(selium::ChildProcess& child) {
  auto exit = co_await child.exit();
  if (!exit) {
    co_return selium::Exit{SELIUM_EXIT_FAILED, 0,
                           "cannot wait for it: " + std::string(exit.error().name())};
  }
  co_return std::move(*exit);
}

struct Ended {
  std::size_t index = 0;
  selium::Exit exit;
};

selium::Task<void> watchExit(selium::ChildProcess& child, std::size_t index,
                             std::optional<Ended>& out) {
  selium::Exit exit = co_await exitOf(child);
  out = Ended{index, std::move(exit)};
}

// Finishes when the first of `children` ends, saying which and how.
selium::Task<void> firstExit(std::vector<selium::ChildProcess>& children,
                             std::optional<Ended>& out) {
  std::vector<selium::Task<void>> watches;
  for (std::size_t i = 0; i < children.size(); ++i) {
    watches.push_back(watchExit(children[i], i, out));
  }
  (void)co_await selium::race(std::move(watches));
}

// Stops every child and waits until each has ended: children outlive their parent, so a run
// that gives up must not leave its workers waiting for work that never comes.
selium::Task<void> stopAll(std::vector<selium::ChildProcess>& children) {
  for (selium::ChildProcess& child : children) (void)child.stop();
  for (selium::ChildProcess& child : children) (void)co_await exitOf(child);
}

selium::Task<int32_t> runPipeline(uint32_t workers, uint32_t items, uint32_t poison) {
  if (workers == 0) {
    kLog.error("a pipeline needs at least one worker", {{"workers", workers}});
    co_return 1;
  }
  auto work = selium::Channel::create(64 * 1024);
  if (!work) co_return failed("cannot create the work channel", work.error());
  auto results = selium::Channel::create(64 * 1024);
  if (!results) co_return failed("cannot create the results channel", results.error());
  auto work_writer = work->writer();
  if (!work_writer) co_return failed("cannot write the work channel", work_writer.error());
  auto shared_reader = work->reader();  // one cursor for every worker: work sharing
  if (!shared_reader) co_return failed("cannot read the work channel", shared_reader.error());
  auto results_reader = results->reader();
  if (!results_reader) co_return failed("cannot read results", results_reader.error());
  auto results_writer = results->writer(selium::Strength::Weak);
  if (!results_writer) co_return failed("cannot write results", results_writer.error());

  std::vector<selium::ChildProcess> children;
  for (uint32_t i = 0; i < workers; ++i) {
    auto child = selium::ProcessBuilder("pipeline.wasm")
                     .entrypoint("worker")
                     .capability(SELIUM_CAP_ChannelReader)
                     .capability(SELIUM_CAP_ChannelWriter)
                     .arg(selium::Arg::resource(shared_reader->handle()))
                     .arg(selium::Arg::resource(results_writer->handle()))
                     .arg(selium::Arg::u32(i))
                     .arg(selium::Arg::u32(poison))
                     .start();
    if (!child) {
      int32_t status = failed("cannot start a worker", child.error());
      co_await stopAll(children);
      co_return status;
    }
    children.push_back(std::move(*child));
  }
  // The workers hold their own handles now; ours would compete for items and hold results open.
  shared_reader->handle().close();
  results_writer->handle().close();

  // Feed and collect at once (a results channel left unread would stall the workers, and then
  // the feeding), until both are done, one fails, or a worker ends: none may end before `work`
  // is drained, so one that does took items whose results will never come.
  auto progress = std::make_shared<Progress>();
  std::vector<selium::Task<void>> stages;
  stages.push_back(feed(std::move(*work_writer), items, progress));
  stages.push_back(collect(std::move(*results_reader), items, progress));
  std::optional<Ended> ended;
  std::vector<selium::Task<void>> outcome;
  outcome.push_back(selium::whenAll(std::move(stages)));
  outcome.push_back(untilSet(progress->error));
  outcome.push_back(firstExit(children, ended));
  std::size_t first = co_await selium::race(std::move(outcome));  // cancels the others
  if (first == 2) {
    kLog.error("a worker ended before the work was done",
               {{"index", ended->index},
                {"reason", reasonName(ended->exit.reason)},
                {"status", ended->exit.status},
                {"detail", ended->exit.message},
                {"received", progress->received}});
    co_await stopAll(children);
    co_return 1;
  }
  if (progress->status != 0) {
    co_await stopAll(children);
    co_return progress->status;
  }

  // Every result is in: the workers' next read after the drain is EndOfStream.
  (void)work->drain();
  uint32_t ok = 0;
  for (std::size_t i = 0; i < children.size(); ++i) {
    selium::Exit exit = co_await exitOf(children[i]);
    if (exit.ok()) {
      ++ok;
    } else {
      kLog.warn("worker failed", {{"index", i},
                                  {"reason", reasonName(exit.reason)},
                                  {"status", exit.status},
                                  {"detail", exit.message}});
    }
  }
  Uint128 expected = sumOfSquares(items);
  kLog.info("pipeline done", {{"items", progress->received},
                              {"sum", decimal(progress->sum)},
                              {"expected", decimal(expected)},
                              {"workers_ok", ok}});
  co_return progress->sum == expected&& ok == workers ? 0 : 1;
}

}  // namespace

SELIUM_ENTRYPOINT(worker, (resource, work_handle), (resource, results_handle), (u32, index),
                  (u32, poison)) {
  // `resource` arguments arrive as this process's own handles.
  selium::Reader work(selium::Handle(static_cast<selium_handle_t>(work_handle.value)));
  selium::Writer results(selium::Handle(static_cast<selium_handle_t>(results_handle.value)));
  uint64_t done = 0;
  std::vector<uint8_t> buffer;
  for (;;) {
    auto batch = co_await work.readBatch(buffer);
    if (!batch) {
      if (batch.error() == selium::ErrorCode::EndOfStream) break;  // drained: all work handed out
      co_return failed("work channel failed", batch.error());
    }
    selium::Batch out;
    for (std::span<const uint8_t> item : *batch) {
      uint64_t n = u64Of(item);
      if (poison != 0 && n == poison) {
        kLog.warn("poisoned item: trapping", {{"index", index}, {"item", n}});
        __builtin_trap();  // the items of this batch are lost with it
      }
      out.add(u64Frame(n * n));  // n < 2^32, so n * n < 2^64
      ++done;
    }
    auto written = co_await results.write(out);
    if (!written) co_return failed("results channel failed", written.error());
  }
  kLog.info("worker done", {{"index", index}, {"items", done}});
  co_return 0;
}

SELIUM_ENTRYPOINT(run, (u32, workers), (u32, items)) {
  co_return co_await runPipeline(workers, items, 0);
}

SELIUM_ENTRYPOINT(run_poisoned, (u32, workers), (u32, items), (u32, poison)) {
  co_return co_await runPipeline(workers, items, poison);
}
