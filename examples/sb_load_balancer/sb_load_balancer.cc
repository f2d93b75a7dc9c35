// A load balancer fed through the Switchboard: one process accepts HTTP requests and publishes
// each into a Switchboard Fanout; worker processes subscribe to it (each request goes to exactly
// one of them) and publish their answers, which the balancer's Subscriber matches to the waiting
// connection by request id.
//
//   balance(utf8 address, u16 port, u32 workers)
//       listens on address:port (port 0: the system picks), starts `workers` `work` processes
//       from sb_load_balancer.wasm, logs Info "listening" {address, port, workers}, then turns
//       every request into a Job on the fanout "examples.sb_load_balancer.jobs" and answers it
//       with the worker's Answer from "examples.sb_load_balancer.answers". 413 for a body over
//       16 KiB, 504 when no answer came within 10 s, 503 once every worker has ended. It waits
//       up to 5 s for the Switchboard to start. Status 1 if it cannot reach the Switchboard,
//       listen or start a worker, 2 if accepting fails.
//   balance_crashing(utf8 address, u16 port, u32 workers)
//       as balance, but the workers trap on a request for the path /crash, before answering it.
//   work(u32 index)
//       subscribes to the jobs, logs "worker ready" {index} once wired both ways, and answers
//       each job "worker {index}: {method} {path}\n" followed by the request body.
//   work_crashing(u32 index)
//       as work, trapping on /crash.
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <selium/selium.hpp>
#include <selium/switchboard.hpp>

#include "../common/children.hpp"

namespace {

using examples::reasonName;

using namespace std::chrono_literals;

constexpr selium::log::Logger kLog{"examples.sb_load_balancer"};
constexpr std::string_view kJobs = "examples.sb_load_balancer.jobs";
constexpr std::string_view kAnswers = "examples.sb_load_balancer.answers";
// Largest request body the balancer forwards: a Job is one Switchboard message, read whole.
constexpr std::size_t kMaxBody = 16 * 1024;
// The fanout's and each worker's answer channel: room for 15 of the largest messages.
constexpr uint32_t kChannelBytes = 256 * 1024;
// Requests the balancer holds at once (reading their bodies or waiting for their answers); past
// it new ones are answered 503 at once. Each open body is a ring in the balancer's channel budget.
constexpr std::size_t kMaxPending = 64;
// A request without an answer after this long is answered 504: its worker died holding it (the
// fanout does not say which subscriber took a message), or all are that slow.
constexpr std::chrono::nanoseconds kAnswerTimeout = 10s;

// ---- the messages ----

void putU64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void putU16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
}
void putText(std::vector<uint8_t>& out, std::string_view text) {  // at most 65,535 bytes
  putU16(out, static_cast<uint16_t>(text.size()));
  out.insert(out.end(), text.begin(), text.end());
}

// Reads a message front to back; any read past the end makes it invalid.
class Cursor {
 public:
  explicit Cursor(std::span<const uint8_t> bytes) noexcept : bytes_(bytes) {}
  uint64_t u64() { return number(8); }
  uint16_t u16() { return static_cast<uint16_t>(number(2)); }
  std::string text() {
    std::size_t n = u16();
    if (!take(n)) return {};
    return std::string(reinterpret_cast<const char*>(bytes_.data()) + at_ - n, n);
  }
  std::vector<uint8_t> rest() {
    std::vector<uint8_t> out(bytes_.begin() + static_cast<std::ptrdiff_t>(at_), bytes_.end());
    at_ = bytes_.size();
    return out;
  }
  bool ok() const noexcept { return ok_; }

 private:
  bool take(std::size_t n) {
    if (!ok_ || bytes_.size() - at_ < n) return ok_ = false;
    at_ += n;
    return true;
  }
  uint64_t number(std::size_t n) {
    if (!take(n)) return 0;
    uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v |= uint64_t{bytes_[at_ - n + i]} << (8 * i);
    return v;
  }
  std::span<const uint8_t> bytes_;
  std::size_t at_ = 0;
  bool ok_ = true;
};

// A request for a worker: u64 id | u16 length, method | u16 length, path | body.
struct Job {
  static constexpr std::string_view kSchemaName = "examples.sb_load_balancer.Job";
  uint64_t id = 0;
  std::string method;
  std::string path;
  std::vector<uint8_t> body;

  static std::vector<uint8_t> encode(const Job& job) {
    std::vector<uint8_t> out;
    out.reserve(12 + job.method.size() + job.path.size() + job.body.size());
    putU64(out, job.id);
    putText(out, job.method);
    putText(out, job.path);
    out.insert(out.end(), job.body.begin(), job.body.end());
    return out;
  }
  static std::optional<Job> decode(std::span<const uint8_t> bytes) {
    Cursor in(bytes);
    Job job{0, {}, {}, {}};
    job.id = in.u64();
    job.method = in.text();
    job.path = in.text();
    job.body = in.rest();
    if (!in.ok()) return std::nullopt;
    return job;
  }
};

// A worker's answer to the Job of the same id: u64 id | u16 status | body.
struct Answer {
  static constexpr std::string_view kSchemaName = "examples.sb_load_balancer.Answer";
  uint64_t id = 0;
  uint16_t status = 200;
  std::vector<uint8_t> body;

  static std::vector<uint8_t> encode(const Answer& answer) {
    std::vector<uint8_t> out;
    out.reserve(10 + answer.body.size());
    putU64(out, answer.id);
    putU16(out, answer.status);
    out.insert(out.end(), answer.body.begin(), answer.body.end());
    return out;
  }
  static std::optional<Answer> decode(std::span<const uint8_t> bytes) {
    Cursor in(bytes);
    Answer answer{0, 0, {}};
    answer.id = in.u64();
    answer.status = in.u16();
    answer.body = in.rest();
    if (!in.ok() || answer.status < 100 || answer.status > 599) return std::nullopt;
    return answer;
  }
};

// ---- helpers ----

int32_t failed(std::string_view what, selium::Error error) {
  kLog.error(what, {{"error", error.name()}, {"detail", selium::lastError()}});
  return 1;
}

int32_t refused(std::string_view what, const selium::switchboard::Failure& failure) {
  kLog.error(what, {{"error", selium::Error(failure.code).name()}, {"detail", failure.message}});
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

selium::Response plain(int status, std::string_view text) {
  selium::Response response(status);
  response.header("content-type", "text/plain").body(text);
  if (status == 503) response.header("retry-after", "1");
  return response;
}

// ---- the balancer ----

struct Pending {
  selium::Request request;
  std::chrono::nanoseconds deadline;
};

// Shared by the balancer's tasks (one thread: no locks).
struct Balancer {
  std::vector<selium::ChildProcess> workers;
  uint32_t live = 0;
  std::size_t admitting = 0;           // requests whose body is being read
  std::map<uint64_t, Pending> answer;  // by id, which is also arrival (and deadline) order
  uint64_t next_id = 1;
  std::deque<Job> outbox;  // jobs the dispatcher has not sent yet
  selium::Event queued;    // set when a job joins the outbox
  selium::Event waiting;   // set when a request joins `answer`
};

// Answers every request still waiting `status`: once no worker is left.
void answerAll(Balancer& b, int status, std::string_view text) {
  for (auto& [id, pending] : b.answer) answer(pending.request, plain(status, text));
  b.answer.clear();
  b.outbox.clear();
}

selium::Task<void> watch(std::shared_ptr<Balancer> b, std::size_t index) {
  auto exit = co_await b->workers[index].exit();
  if (exit) {
    kLog.warn("worker ended", {{"index", index},
                               {"reason", reasonName(exit->reason)},
                               {"status", exit->status},
                               {"detail", exit->message}});
  } else {
    kLog.warn("worker ended",
              {{"index", index}, {"reason", "unknown"}, {"detail", exit.error().name()}});
  }
  if (--b->live == 0) {
    kLog.error("every worker has ended; answering 503 from now on",
               {{"waiting", b->answer.size()}});
    answerAll(*b, 503, "no worker is available\n");
  }
}

// Reads the request's body, then queues its job for the dispatcher.
selium::Task<void> admit(std::shared_ptr<Balancer> b, selium::Request request) {
  auto body = co_await request.readBody(kMaxBody);
  --b->admitting;
  if (!body) {
    if (body.error() == selium::ErrorCode::TooLarge) {
      answer(request, plain(413, "the body is larger than 16384 bytes\n"));
    }  // else the client went away, or the body was cut short: nobody to answer
    co_return;
  }
  if (b->live == 0) {
    answer(request, plain(503, "no worker is available\n"));
    co_return;
  }
  auto now = selium::now();
  if (!now) {
    answer(request, plain(500, "no clock\n"));
    co_return;
  }
  Job job{b->next_id++, std::string(request.method()), std::string(request.path()),
          std::move(*body)};
  b->answer.emplace(job.id, Pending{std::move(request), *now + kAnswerTimeout});
  b->waiting.set();
  b->outbox.push_back(std::move(job));
  b->queued.set();
}

// The only task that uses the fanout (an endpoint is used from one task at a time). A send waits
// while no worker is wired, or while the fanout's channel is full.
selium::Task<void> dispatch(std::shared_ptr<Balancer> b, selium::Fanout<Job> jobs) {
  for (;;) {
    while (b->outbox.empty()) {
      b->queued.reset();
      co_await b->queued.wait();
    }
    Job job = std::move(b->outbox.front());
    b->outbox.pop_front();
    if (!b->answer.contains(job.id)) continue;  // answered meanwhile (503)
    auto sent = co_await jobs.send(job);
    if (!sent) {
      kLog.warn("cannot publish a request", {{"detail", sent.error().message}});
      auto it = b->answer.find(job.id);
      if (it != b->answer.end()) {
        answer(it->second.request, plain(503, "no worker is available\n"));
        b->answer.erase(it);
      }
    }
  }
}

// Hands each worker's answer to the connection that waits for it.
selium::Task<void> collect(std::shared_ptr<Balancer> b, selium::Subscriber<Answer> answers) {
  for (;;) {
    auto got = co_await answers.recv();
    if (!got) {
      if (got.error().code == selium::ErrorCode::InvalidArgument) {
        kLog.warn("an answer did not decode", {{"detail", got.error().message}});
        continue;
      }
      kLog.error("the answers stopped", {{"detail", got.error().message}});
      co_return;
    }
    auto it = b->answer.find(got->id);
    if (it == b->answer.end()) continue;  // already answered 504 or 503
    selium::Response response(got->status);
    response.header("content-type", "application/octet-stream").body(got->body);
    answer(it->second.request, response);
    b->answer.erase(it);
  }
}

// Answers 504 to each request whose answer is overdue. The oldest request has the nearest
// deadline, so it sleeps until that one's.
selium::Task<void> expire(std::shared_ptr<Balancer> b) {
  for (;;) {
    if (b->answer.empty()) {
      b->waiting.reset();
      co_await b->waiting.wait();
      continue;
    }
    auto now = selium::now();
    if (!now) co_return;
    auto oldest = b->answer.begin();
    if (oldest->second.deadline <= *now) {
      kLog.warn("no answer in time", {{"request", oldest->first}});
      answer(oldest->second.request, plain(504, "no worker answered within 10 s\n"));
      b->answer.erase(oldest);
      continue;
    }
    if (!co_await selium::sleep(oldest->second.deadline - *now)) co_return;
  }
}

// Connects to the Switchboard, waiting up to 5 s for it while it is still starting (module
// specs start together).
selium::Task<selium::Switchboard::Outcome<selium::Switchboard>> connectSwitchboard() {
  for (int poll = 0;; ++poll) {
    auto board = selium::Switchboard::connect();
    if (board || board.error().code != selium::ErrorCode::NotFound || poll == 500) co_return board;
    if (!co_await selium::sleep(10ms)) co_return board;
  }
}

selium::Task<void> stopAll(Balancer& b) {
  for (auto& worker : b.workers) (void)worker.stop();
  for (auto& worker : b.workers) (void)co_await worker.exit();
}

enum class Crash { No, OnCrashPath };

selium::Task<int32_t> runBalancer(std::string_view address, uint16_t port, uint32_t workers,
                                  Crash crash) {
  if (workers == 0) {
    kLog.error("a balancer needs at least one worker");
    co_return 1;
  }
  auto board = co_await connectSwitchboard();
  if (!board) co_return refused("the Switchboard is not running", board.error());
  selium::EndpointOptions options;
  options.capacity = kChannelBytes;
  auto jobs = co_await board->fanout<Job>(std::string(kJobs), options);
  if (!jobs) co_return refused("the Switchboard refused the jobs fanout", jobs.error());
  auto answers = co_await board->subscriber<Answer>(std::string(kAnswers));
  if (!answers)
    co_return refused("the Switchboard refused the answers subscriber", answers.error());

  selium::ListenOptions listen;
  listen.address = address;
  listen.port = port;
  auto server = selium::HttpServer::listen(listen);
  if (!server) {
    kLog.error("listen failed", {{"address", address},
                                 {"port", port},
                                 {"error", server.error().name()},
                                 {"detail", selium::lastError()}});
    co_return 1;
  }

  auto b = std::make_shared<Balancer>();
  for (uint32_t i = 0; i < workers; ++i) {
    auto child = selium::ProcessBuilder("sb_load_balancer.wasm")
                     .entrypoint(crash == Crash::OnCrashPath ? "work_crashing" : "work")
                     .capability(SELIUM_CAP_SingletonLookup)
                     .capability(SELIUM_CAP_ChannelLifecycle)
                     .capability(SELIUM_CAP_ChannelReader)
                     .capability(SELIUM_CAP_ChannelWriter)
                     .arg(selium::Arg::u32(i))
                     .start();
    if (!child) {
      int32_t status = failed("cannot start a worker", child.error());
      co_await stopAll(*b);
      co_return status;
    }
    b->workers.push_back(std::move(*child));
  }
  b->live = workers;
  for (std::size_t i = 0; i < b->workers.size(); ++i) selium::spawn(watch(b, i));
  selium::spawn(dispatch(b, std::move(*jobs)));
  selium::spawn(collect(b, std::move(*answers)));
  selium::spawn(expire(b));

  kLog.info("listening", {{"address", address.empty() ? "0.0.0.0" : address},
                          {"port", server->port()},
                          {"workers", workers}});
  for (;;) {
    auto request = co_await server->accept();
    if (!request) {
      int32_t status = failed("accept failed", request.error());
      co_await stopAll(*b);
      co_return status + 1;
    }
    if (b->live == 0) {
      answer(*request, plain(503, "no worker is available\n"));
      continue;
    }
    if (b->admitting + b->answer.size() >= kMaxPending) {
      answer(*request, plain(503, "too many requests in flight\n"));
      continue;
    }
    ++b->admitting;
    selium::spawn(admit(b, std::move(*request)));
  }
}

// ---- a worker ----

std::vector<uint8_t> work(const Job& job, uint32_t index) {
  std::string head = "worker " + std::to_string(index) + ": " + job.method + " " + job.path + "\n";
  std::vector<uint8_t> body(head.begin(), head.end());
  body.insert(body.end(), job.body.begin(), job.body.end());
  return body;
}

selium::Task<int32_t> runWorker(uint32_t index, Crash crash) {
  auto board = selium::Switchboard::connect();
  if (!board) co_return refused("the Switchboard is not running", board.error());
  auto jobs = co_await board->subscriber<Job>(std::string(kJobs));
  if (!jobs) co_return refused("the Switchboard refused the jobs subscriber", jobs.error());
  selium::EndpointOptions options;
  options.capacity = kChannelBytes;
  auto answers = co_await board->publisher<Answer>(std::string(kAnswers), options);
  if (!answers) co_return refused("the Switchboard refused the answers publisher", answers.error());
  // Wired both ways: to the balancer's fanout, and its subscriber to this publisher.
  if (auto wired = co_await jobs->ready(); !wired) co_return refused("no jobs", wired.error());
  if (auto wired = co_await answers->ready(); !wired) co_return refused("no one", wired.error());
  kLog.info("worker ready", {{"index", index}});

  uint64_t answered = 0;
  for (;;) {
    auto job = co_await jobs->recv();
    if (!job) {
      if (job.error().code == selium::ErrorCode::InvalidArgument) continue;  // not a Job
      kLog.info("worker done",
                {{"index", index}, {"requests", answered}, {"detail", job.error().message}});
      co_return 0;
    }
    if (crash == Crash::OnCrashPath && job->path == "/crash") {
      kLog.warn("crashing as asked", {{"index", index}, {"request", job->id}});
      __builtin_trap();  // the balancer answers this request 504, or 503 if no worker is left
    }
    auto sent = co_await answers->send(Answer{job->id, 200, work(*job, index)});
    if (!sent) {
      kLog.error("cannot answer", {{"index", index}, {"detail", sent.error().message}});
      co_return 1;
    }
    ++answered;
  }
}

}  // namespace

SELIUM_ENTRYPOINT(balance, (utf8, address), (u16, port), (u32, workers)) {
  co_return co_await runBalancer(address, port, workers, Crash::No);
}

SELIUM_ENTRYPOINT(balance_crashing, (utf8, address), (u16, port), (u32, workers)) {
  co_return co_await runBalancer(address, port, workers, Crash::OnCrashPath);
}

SELIUM_ENTRYPOINT(work, (u32, index)) { co_return co_await runWorker(index, Crash::No); }

SELIUM_ENTRYPOINT(work_crashing, (u32, index)) {
  co_return co_await runWorker(index, Crash::OnCrashPath);
}
