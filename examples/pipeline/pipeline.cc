// A pipeline with a fan-out stage, run by an orchestrator that starts its stages as child
// processes, hands them channels and collects their exit statuses.
//
//   run(u32 workers, u32 items)   the orchestrator: makes a `work` and a `results` channel,
//                                 starts `workers` worker processes that all share ONE reader of
//                                 `work` (so each item goes to exactly one worker) and a writer
//                                 of `results`, feeds items 1..items, drains `work`, sums the
//                                 results, waits for every worker. Info "pipeline done"
//                                 {items, sum, expected, workers_ok}. Status 0 when the sum is
//                                 right and every worker exited 0.
//   worker(resource work, resource results, u32 index)
//                                 reads items until the channel is drained (EndOfStream) and
//                                 writes item * item for each. Info "worker done" {index, items}.
#include <cstdint>
#include <memory>
#include <vector>

#include <selium/selium.hpp>

namespace {

constexpr selium::log::Logger kLog{"examples.pipeline"};

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

struct Totals {
  uint64_t sum = 0;
  uint64_t received = 0;
  int32_t status = 0;
};

selium::Task<void> feed(selium::Writer writer, uint32_t items, std::shared_ptr<Totals> totals) {
  selium::Batch batch;
  for (uint32_t n = 1; n <= items; ++n) {
    batch.add(u64Frame(n));
    if (batch.frames() == 256 || n == items) {
      auto written = co_await writer.write(batch);
      if (!written) {
        totals->status = failed("feeding work failed", written.error());
        co_return;
      }
      batch.clear();
    }
  }
}

selium::Task<void> collect(selium::Reader reader, uint32_t items, std::shared_ptr<Totals> totals) {
  std::vector<uint8_t> buffer;
  while (totals->received < items) {
    auto got = co_await reader.readBatch(buffer);
    if (!got) {
      totals->status = failed("results channel failed", got.error());
      co_return;
    }
    for (std::span<const uint8_t> r : *got) {
      totals->sum += u64Of(r);
      ++totals->received;
    }
  }
}

}  // namespace

SELIUM_ENTRYPOINT(worker, (resource, work_handle), (resource, results_handle), (u32, index)) {
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
      out.add(u64Frame(n * n));
      ++done;
    }
    auto written = co_await results.write(out);
    if (!written) co_return failed("results channel failed", written.error());
  }
  kLog.info("worker done", {{"index", index}, {"items", done}});
  co_return 0;
}

SELIUM_ENTRYPOINT(run, (u32, workers), (u32, items)) {
  auto work = selium::Channel::create(64 * 1024);
  auto results = selium::Channel::create(64 * 1024);
  if (!work || !results)
    co_return failed("cannot create channels", work ? results.error() : work.error());
  auto work_writer = work->writer();
  auto shared_reader = work->reader();  // one cursor for every worker: work sharing
  auto results_reader = results->reader();
  auto results_writer = results->writer(selium::Strength::Weak);
  if (!work_writer || !shared_reader || !results_reader || !results_writer) {
    co_return failed("cannot open channels", selium::Error(selium::ErrorCode::Internal));
  }
  std::vector<selium::ChildProcess> children;
  for (uint32_t i = 0; i < workers; ++i) {
    auto child = selium::ProcessBuilder("pipeline.wasm")
                     .entrypoint("worker")
                     .capability(SELIUM_CAP_ChannelReader)
                     .capability(SELIUM_CAP_ChannelWriter)
                     .arg(selium::Arg::resource(shared_reader->handle()))
                     .arg(selium::Arg::resource(results_writer->handle()))
                     .arg(selium::Arg::u32(i))
                     .start();
    if (!child) co_return failed("cannot start a worker", child.error());
    children.push_back(std::move(*child));
  }
  // The workers hold their own handles now; ours would compete for items and hold results open.
  shared_reader->handle().close();
  results_writer->handle().close();

  // Feed and collect at once: a results channel left unread would stall the workers, and then
  // the feeding.
  auto state = std::make_shared<Totals>();
  std::vector<selium::Task<void>> stages;
  stages.push_back(feed(std::move(*work_writer), items, state));
  stages.push_back(collect(std::move(*results_reader), items, state));
  co_await selium::whenAll(std::move(stages));
  if (state->status != 0) co_return state->status;
  (void)work->drain();
  uint64_t sum = state->sum;
  uint64_t received = state->received;
  uint32_t ok = 0;
  for (selium::ChildProcess& child : children) {
    auto exit = co_await child.exit();
    if (exit && exit->ok()) ++ok;
  }
  uint64_t n = items;
  uint64_t expected = n * (n + 1) * (2 * n + 1) / 6;
  kLog.info("pipeline done",
            {{"items", received}, {"sum", sum}, {"expected", expected}, {"workers_ok", ok}});
  co_return sum == expected&& ok == workers ? 0 : 1;
}
