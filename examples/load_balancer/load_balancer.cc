// A load balancer: one process accepts HTTP requests and hands each to one of its worker
// processes, which read and answer it.
//
//   balance(utf8 address, u16 port, u32 workers)
//       listens on address:port (port 0: the system picks), starts `workers` `work` processes
//       from load_balancer.wasm sharing ONE strong reader of a channel, logs Info "listening"
//       {address, port, workers}, then for each request: request.transfer() and the shared id
//       (u64 little-endian) written as one frame, which exactly one worker reads. A worker that
//       ends is logged ("worker ended" {index, reason, status, detail}) and the others go on;
//       once none is left the balancer answers 503 itself, the requests still queued for the
//       workers included. Status 1 if the listen or a worker's start fails (it stops the
//       workers it started), 2 if accepting fails.
//   balance_crashing(utf8 address, u16 port, u32 workers, u32 crash_at)
//       as balance, but worker 0 traps when it takes its crash_at-th request (before answering
//       it: that client gets the host's 500): a worker dying while the service runs.
//   work(resource reader, u32 index)
//       reads shared ids from `reader`, attaches each request (selium::Request::attach) and
//       answers "worker {index}: {method} {path}\n" followed by the request body, streamed back
//       as it arrives. Up to 64 requests at once. Status 0 when the channel is drained.
//   work_crashing(resource reader, u32 index, u32 crash_at)
//       as work, trapping on its crash_at-th request.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <selium/selium.hpp>

namespace {

constexpr selium::log::Logger kLog{"examples.load_balancer"};

// Frames waiting for a worker: 16 bytes each (8 of id, 8 of framing), so 256 requests. When it is
// full the balancer stops accepting and requests wait in the host's queue (1,024, then 503).
constexpr uint32_t kQueueBytes = 4096;
// Requests one worker answers at once: each holds a body ring of SELIUM_BODY_RING_BYTES in its
// channel budget, and a slow client must not make a worker take requests it cannot serve.
constexpr uint32_t kMaxInFlight = 64;

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

int32_t failed(std::string_view what, selium::Error error) {
  kLog.error(what, {{"error", error.name()}, {"detail", selium::lastError()}});
  return 1;
}

void answer(selium::Request& request, const selium::Response& response) {
  auto sent = request.respond(response);
  if (!sent && sent.error() != selium::ErrorCode::Closed) {
    kLog.warn("cannot answer", {{"status", response.status()},
                                {"error", sent.error().name()},
                                {"detail", selium::lastError()}});
  }
}

selium::Response unavailable() {
  return selium::Response(503)
      .header("content-type", "text/plain")
      .header("retry-after", "1")
      .body("no worker is available\n");
}

// ---- the balancer ----

struct Pool {
  std::vector<selium::ChildProcess> workers;
  uint32_t live = 0;
  selium::Event all_gone;  // set when the last worker has ended
};

selium::Task<void> watch(std::shared_ptr<Pool> pool, std::size_t index) {
  auto exit = co_await pool->workers[index].exit();
  if (exit) {
    kLog.warn("worker ended", {{"index", index},
                               {"reason", reasonName(exit->reason)},
                               {"status", exit->status},
                               {"detail", exit->message}});
  } else {
    kLog.warn("worker ended",
              {{"index", index}, {"reason", "unknown"}, {"detail", exit.error().name()}});
  }
  if (--pool->live == 0) {
    kLog.error("every worker has ended; answering 503 from now on");
    pool->all_gone.set();
  }
}

// Once every worker has ended, frames still in the channel name requests nobody will attach: the
// balancer reads them through its own handle of the workers' reader and answers them itself
// (before that it never reads, so it takes no request from a worker).
selium::Task<void> answerOrphans(std::shared_ptr<Pool> pool, selium::Reader reader) {
  co_await pool->all_gone.wait();
  for (;;) {
    auto frame = co_await reader.read();
    if (!frame) co_return;
    auto request = selium::Request::attach(static_cast<selium::SharedId>(u64Of(*frame)));
    if (request) answer(*request, unavailable());  // else: it waited past the transfer limit
  }
}

selium::Task<void> stopAll(Pool& pool) {
  for (auto& worker : pool.workers) (void)worker.stop();
  for (auto& worker : pool.workers) (void)co_await worker.exit();
}

selium::Task<int32_t> runBalancer(std::string_view address, uint16_t port, uint32_t workers,
                                  uint32_t crash_at) {
  if (workers == 0) {
    kLog.error("a balancer needs at least one worker");
    co_return 1;
  }
  selium::ListenOptions options;
  options.address = address;
  options.port = port;
  auto server = selium::HttpServer::listen(options);
  if (!server) {
    kLog.error("listen failed", {{"address", address},
                                 {"port", port},
                                 {"error", server.error().name()},
                                 {"detail", selium::lastError()}});
    co_return 1;
  }

  auto queue = selium::Channel::create(kQueueBytes);
  if (!queue) co_return failed("cannot create the request queue", queue.error());
  auto writer = queue->writer();
  if (!writer) co_return failed("cannot write the request queue", writer.error());
  // One strong reader for every worker: one cursor, so each frame goes to exactly one of them.
  auto reader = queue->reader();
  if (!reader) co_return failed("cannot read the request queue", reader.error());

  auto pool = std::make_shared<Pool>();
  for (uint32_t i = 0; i < workers; ++i) {
    selium::ProcessBuilder builder("load_balancer.wasm");
    builder.entrypoint(crash_at != 0 && i == 0 ? "work_crashing" : "work")
        .capability(SELIUM_CAP_NetHttpRead)
        .capability(SELIUM_CAP_NetHttpWrite)
        .capability(SELIUM_CAP_ChannelReader)
        .arg(selium::Arg::resource(reader->handle()))
        .arg(selium::Arg::u32(i));
    if (crash_at != 0 && i == 0) builder.arg(selium::Arg::u32(crash_at));
    auto child = builder.start();
    if (!child) {
      int32_t status = failed("cannot start a worker", child.error());
      co_await stopAll(*pool);
      co_return status;
    }
    pool->workers.push_back(std::move(*child));
  }
  pool->live = workers;
  for (std::size_t i = 0; i < pool->workers.size(); ++i) selium::spawn(watch(pool, i));
  selium::spawn(answerOrphans(pool, std::move(*reader)));

  kLog.info("listening", {{"address", address.empty() ? "0.0.0.0" : address},
                          {"port", server->port()},
                          {"workers", workers}});
  for (;;) {
    auto request = co_await server->accept();
    if (!request) {
      int32_t status = failed("accept failed", request.error());
      co_await stopAll(*pool);
      co_return status + 1;
    }
    if (pool->live == 0) {
      answer(*request, unavailable());
      continue;
    }
    // The request now lives without any handle of ours until a worker attaches the id (at most
    // SELIUM_TRANSFER_TIMEOUT_MS): the balancer is not involved in its answer at all.
    auto id = request->transfer();
    if (!id) {
      kLog.warn("cannot hand a request over",
                {{"error", id.error().name()}, {"detail", selium::lastError()}});
      answer(*request, unavailable());  // a failed transfer leaves our handle open
      continue;
    }
    auto written = co_await writer->write(u64Frame(static_cast<uint64_t>(*id)));
    if (!written) {
      kLog.warn("cannot queue a request",
                {{"error", written.error().name()}, {"detail", selium::lastError()}});
      auto back = selium::Request::attach(*id);
      if (back) answer(*back, unavailable());
    }
  }
}

// ---- a worker ----

struct Slots {
  uint32_t in_flight = 0;
  selium::Event freed;
};

selium::Task<void> answerRequest(selium::Request request, uint32_t index,
                                 std::shared_ptr<Slots> slots) {
  struct Release {
    Slots& slots;
    ~Release() {
      --slots.in_flight;
      slots.freed.set();
    }
  } release{*slots};

  std::string head = "worker " + std::to_string(index) + ": " + std::string(request.method()) +
                     " " + std::string(request.path()) + "\n";
  auto body = request.body();
  auto writer =
      request.respondStreaming(200, {{"content-type", "application/octet-stream"}},
                               request.contentLength().has_value()
                                   ? std::optional<uint64_t>(head.size() + *request.contentLength())
                                   : std::nullopt);
  if (!writer) {
    if (writer.error() != selium::ErrorCode::Closed) (void)failed("cannot answer", writer.error());
    co_return;
  }
  if (!co_await writer->write(head)) co_return;
  if (body) {  // the body streams back as it arrives; a body cut short cuts the answer short
    std::vector<uint8_t> buffer(16 * 1024);
    for (;;) {
      auto n = co_await body->read(buffer);
      if (!n) {
        if (n.error() != selium::ErrorCode::EndOfStream) co_return;
        break;
      }
      if (!co_await writer->write(std::span<const uint8_t>(buffer.data(), *n))) co_return;
    }
  }
  (void)writer->finish();
}

selium::Task<int32_t> runWorker(selium::ResourceId reader_handle, uint32_t index,
                                uint32_t crash_at) {
  // `resource` arguments arrive as this process's own handles.
  selium::Reader queue(selium::Handle(static_cast<selium_handle_t>(reader_handle.value)));
  auto slots = std::make_shared<Slots>();
  uint64_t taken = 0;
  for (;;) {
    while (slots->in_flight >= kMaxInFlight) {
      slots->freed.reset();
      co_await slots->freed.wait();
    }
    auto frame = co_await queue.read();
    if (!frame) {
      if (frame.error() == selium::ErrorCode::EndOfStream) {
        kLog.info("worker done", {{"index", index}, {"requests", taken}});
        co_return 0;
      }
      co_return failed("the request queue failed", frame.error());
    }
    auto request = selium::Request::attach(static_cast<selium::SharedId>(u64Of(*frame)));
    if (!request) {  // NotFound: it waited past SELIUM_TRANSFER_TIMEOUT_MS and is gone
      kLog.warn("a queued request is gone", {{"index", index}, {"error", request.error().name()}});
      continue;
    }
    ++taken;
    if (crash_at != 0 && taken == crash_at) {
      kLog.warn("crashing as asked", {{"index", index}, {"request", taken}});
      __builtin_trap();  // the request is closed unanswered: the host answers it 500
    }
    ++slots->in_flight;
    selium::spawn(answerRequest(std::move(*request), index, slots));
  }
}

}  // namespace

SELIUM_ENTRYPOINT(balance, (utf8, address), (u16, port), (u32, workers)) {
  co_return co_await runBalancer(address, port, workers, 0);
}

SELIUM_ENTRYPOINT(balance_crashing, (utf8, address), (u16, port), (u32, workers), (u32, crash_at)) {
  co_return co_await runBalancer(address, port, workers, crash_at);
}

SELIUM_ENTRYPOINT(work, (resource, reader), (u32, index)) {
  co_return co_await runWorker(reader, index, 0);
}

SELIUM_ENTRYPOINT(work_crashing, (resource, reader), (u32, index), (u32, crash_at)) {
  co_return co_await runWorker(reader, index, crash_at);
}
