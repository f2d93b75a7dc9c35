// Child processes through the SDK: a parent starts children from modules/children.wasm (this
// module), passes them handles, stops them, waits for their exits and follows their logs.
// Parents need ProcessLifecycle (and ChannelLifecycle, ChannelReader, ChannelWriter where they
// make channels).
//   grant(u32 cap)                 starts idle() granting capability `cap`: Info "denied"
//                                  {message} and status 10 when the start is refused with
//                                  PermissionDenied; else waits: status 0 if the child exited ok.
//   pass_reader(u32 frames)        starts sum_reader with a reader of a channel it then writes
//                                  frames 1..frames (u32 LE) to: Info "child exited" {reason,
//                                  status, parent_handle}; status 0 if the child's status was 0.
//   sum_reader(resource r, u32 frames)
//                                  reads `frames` frames from its reader r: Info "summed" {sum,
//                                  handle}; status 0 if sum == frames * (frames + 1) / 2, else 4.
//   stopper()                      starts spin(), stops it, waits: Info "stopped" {reason,
//                                  message}; status 0 if it was terminated.
//   spin()                         yields for ever.
//   trapper()                      starts trap() and waits: Info "trapped" {reason, message}.
//   trap()                         traps (unreachable).
//   exit_code(u32 code)            starts exit_with(code) and waits: Info "exit" {reason, status}.
//   exit_with(u32 code)            returns `code` as its status.
//   missing(utf8 module)           starts `module` and waits: Info "missing" {reason, message}.
//   follow(u32 count)              starts chatty(go reader, count), subscribes to its logs, tells
//                                  it to go, reads records until EndOfStream, decoding each:
//                                  Info "followed" {received, lost, bad (not a "line" record in
//                                  order), last (its i), end}. Status 0.
//   chatty(resource go, u32 count) waits for one frame on `go`, then logs `count` Info "line" {i}.
//   raw_start(u32 which)           process_start with hostile bytes: 0 garbage, 1 over the
//                                  size limit, 2 a pointer past its memory, 3 empty: Info "raw"
//                                  {result, message}. Status 0.
//   give_timer()                   starts idle() with a timer handle as a resource arg: Info
//                                  "give timer" {result, message}.
//   typed()                        starts typed_child(i8 -5, u8 200, i16 -300, u16 60000, f32 1.5,
//                                  hex 0xbeef) and waits: status 0 if it exited ok.
//   typed_child(i8 a, u8 b, i16 c, u16 d, f32 e, hex f)
//                                  Info "typed" {a, b, c, d, e, f: bytes as lowercase hex}.
//   hold_everything()              holds a timer, a channel (shared and registered as singleton
//                                  "children.everything"), a reader, a writer and a process handle
//                                  of spin() (Info "holding" {child}), then exits with status 7.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <selium/selium.hpp>

namespace {

constexpr selium::log::Logger kLog{"children"};
constexpr std::string_view kModule = "children.wasm";

int32_t fail(std::string_view what, selium::Error error, int32_t status = 1) {
  std::string message = selium::lastError();
  kLog.error(what, {{"error", error.name()}, {"message", message}});
  return status;
}

void putU32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

uint32_t getU32(std::span<const uint8_t> in) {
  uint32_t v = 0;
  for (int i = 0; i < 4 && i < static_cast<int>(in.size()); ++i) v |= uint32_t{in[i]} << (8 * i);
  return v;
}

selium::Task<selium::Result<selium::Exit>> runChild(selium::ProcessBuilder builder) {
  auto child = builder.start();
  if (!child) co_return child.error();
  co_return co_await child->exit();
}

}  // namespace

SELIUM_ENTRYPOINT(idle) { co_return 0; }

SELIUM_ENTRYPOINT(exit_with, (u32, code)) { co_return static_cast<int32_t>(code); }

SELIUM_ENTRYPOINT(spin) {
  for (;;) co_await selium::yield();
}

SELIUM_ENTRYPOINT(trap) {
  __builtin_trap();
  co_return 0;
}

SELIUM_ENTRYPOINT(grant, (u32, cap)) {
  auto child = selium::ProcessBuilder(std::string(kModule))
                   .entrypoint("idle")
                   .capability(static_cast<selium_capability_t>(cap))
                   .start();
  if (!child) {
    if (child.error() == selium::ErrorCode::PermissionDenied) {
      kLog.info("denied", {{"message", selium::lastError()}});
      co_return 10;
    }
    co_return fail("start failed", child.error());
  }
  auto exit = co_await child->exit();
  if (!exit) co_return fail("wait failed", exit.error());
  co_return exit->ok() ? 0 : 20;
}

SELIUM_ENTRYPOINT(pass_reader, (u32, frames)) {
  auto channel = selium::Channel::create(4096);
  if (!channel) co_return fail("create failed", channel.error());
  auto reader = channel->reader();
  auto writer = channel->writer();
  if (!reader || !writer) co_return fail("open failed", reader ? writer.error() : reader.error());
  selium_handle_t parent_handle = reader->handle().get();
  auto child = selium::ProcessBuilder(std::string(kModule))
                   .entrypoint("sum_reader")
                   .capability(SELIUM_CAP_ChannelReader)
                   .arg(selium::Arg::resource(reader->handle()))
                   .arg(selium::Arg::u32(frames))
                   .start();
  if (!child) co_return fail("start failed", child.error());
  reader->handle().close();  // the child holds its own handle to the reader
  for (uint32_t i = 1; i <= frames; ++i) {
    std::vector<uint8_t> frame;
    putU32(frame, i);
    auto written = co_await writer->write(frame);
    if (!written) co_return fail("write failed", written.error());
  }
  auto exit = co_await child->exit();
  if (!exit) co_return fail("wait failed", exit.error());
  kLog.info("child exited",
            {{"reason", exit->reason}, {"status", exit->status}, {"parent_handle", parent_handle}});
  co_return exit->status == 0 ? 0 : 3;
}

SELIUM_ENTRYPOINT(sum_reader, (resource, r), (u32, frames)) {
  selium::Reader reader{selium::Handle(static_cast<selium_handle_t>(r.value))};
  uint64_t sum = 0;
  for (uint32_t i = 0; i < frames; ++i) {
    auto frame = co_await reader.read();
    if (!frame) co_return fail("read failed", frame.error());
    sum += getU32(*frame);
  }
  kLog.info("summed", {{"sum", sum}, {"handle", r.value}});
  co_return sum == uint64_t{frames} * (frames + 1) / 2 ? 0 : 4;
}

SELIUM_ENTRYPOINT(stopper) {
  auto child = selium::ProcessBuilder(std::string(kModule)).entrypoint("spin").start();
  if (!child) co_return fail("start failed", child.error());
  // Stopping before it has started is remembered and applied when it starts.
  if (auto stopped = child->stop(); !stopped) co_return fail("stop failed", stopped.error());
  auto exit = co_await child->exit();
  if (!exit) co_return fail("wait failed", exit.error());
  kLog.info("stopped", {{"reason", exit->reason}, {"message", exit->message}});
  co_return exit->reason == SELIUM_EXIT_TERMINATED ? 0 : 5;
}

SELIUM_ENTRYPOINT(trapper) {
  auto exit = co_await runChild(selium::ProcessBuilder(std::string(kModule)).entrypoint("trap"));
  if (!exit) co_return fail("child failed", exit.error());
  kLog.info("trapped", {{"reason", exit->reason}, {"message", exit->message}});
  co_return 0;
}

SELIUM_ENTRYPOINT(exit_code, (u32, code)) {
  auto exit = co_await runChild(selium::ProcessBuilder(std::string(kModule))
                                    .entrypoint("exit_with")
                                    .arg(selium::Arg::u32(code)));
  if (!exit) co_return fail("child failed", exit.error());
  kLog.info("exit", {{"reason", exit->reason}, {"status", exit->status}});
  co_return 0;
}

SELIUM_ENTRYPOINT(missing, (utf8, module)) {
  auto exit = co_await runChild(selium::ProcessBuilder(std::string(module)).entrypoint("idle"));
  if (!exit) co_return fail("child failed", exit.error());
  kLog.info("missing", {{"reason", exit->reason}, {"message", exit->message}});
  co_return 0;
}

SELIUM_ENTRYPOINT(chatty, (resource, go), (u32, count)) {
  selium::Reader reader{selium::Handle(static_cast<selium_handle_t>(go.value))};
  auto frame = co_await reader.read();
  if (!frame) co_return fail("go failed", frame.error());
  for (uint32_t i = 0; i < count; ++i) kLog.info("line", {{"i", i}});
  co_return 0;
}

SELIUM_ENTRYPOINT(follow, (u32, count)) {
  auto channel = selium::Channel::create(256);
  if (!channel) co_return fail("create failed", channel.error());
  auto go = channel->reader();
  auto writer = channel->writer();
  if (!go || !writer) co_return fail("open failed", go ? writer.error() : go.error());
  auto child = selium::ProcessBuilder(std::string(kModule))
                   .entrypoint("chatty")
                   .capability(SELIUM_CAP_ChannelReader)
                   .arg(selium::Arg::resource(go->handle()))
                   .arg(selium::Arg::u32(count))
                   .start();
  if (!child) co_return fail("start failed", child.error());
  // The stream exists once the child has started: NotFound until then.
  selium::Result<selium::Reader> logs = child->logs();
  while (!logs && logs.error() == selium::ErrorCode::NotFound) {
    co_await selium::yield();
    logs = child->logs();
  }
  if (!logs) co_return fail("logs failed", logs.error());
  if (auto sent = co_await writer->write(std::string_view("go")); !sent) {
    co_return fail("go write failed", sent.error());
  }
  uint64_t received = 0;
  uint64_t lost = 0;
  uint64_t bad = 0;   // frames that were not the child's "line" records in order
  uint64_t last = 0;  // the last record's i
  std::vector<uint8_t> buffer;
  selium::Error end = selium::Error(selium::ErrorCode::Internal);
  for (;;) {
    auto batch = co_await logs->readBatch(buffer);
    if (!batch) {
      if (batch.error() == selium::ErrorCode::Lagged) {
        lost += logs->lost();
        continue;
      }
      end = batch.error();
      break;
    }
    for (std::span<const uint8_t> frame : *batch) {
      ++received;
      // Each frame is one record: "line" {i}, i counting up (with gaps where records were lost).
      auto record = selium::log::decode(frame);
      const selium::log::Record::Field* i = record ? record->field("i") : nullptr;
      if (record && record->message == "line" && record->target == "children" && i != nullptr &&
          i->kind == selium::log::Value::Kind::Uint && (received == 1 || i->u64 > last)) {
        last = i->u64;
      } else {
        ++bad;
      }
    }
  }
  auto exit = co_await child->exit();
  if (!exit) co_return fail("wait failed", exit.error());
  kLog.info(
      "followed",
      {{"received", received}, {"lost", lost}, {"bad", bad}, {"last", last}, {"end", end.name()}});
  co_return 0;
}

SELIUM_ENTRYPOINT(raw_start, (u32, which)) {
  int32_t result = 0;
  switch (which) {
    case 0: {
      std::vector<uint8_t> garbage(64, 0xff);
      result = selium_process_start(reinterpret_cast<uintptr_t>(garbage.data()),
                                    static_cast<uint32_t>(garbage.size()));
      break;
    }
    case 1: {
      std::vector<uint8_t> huge(SELIUM_START_REQUEST_MAX_BYTES + 1, 0);
      result = selium_process_start(reinterpret_cast<uintptr_t>(huge.data()),
                                    static_cast<uint32_t>(huge.size()));
      break;
    }
    case 2:
      result = selium_process_start(0xfffffff0u, 100);
      break;
    default:
      result = selium_process_start(0, 0);
      break;
  }
  kLog.info("raw", {{"result", result}, {"message", selium::lastError()}});
  co_return 0;
}

SELIUM_ENTRYPOINT(give_timer) {
  int32_t timer = selium_timer_create(1'000'000'000);
  if (timer < 0) co_return fail("timer failed", selium::Error(selium::ErrorCode::Internal));
  selium::Handle handle(timer);
  auto child = selium::ProcessBuilder(std::string(kModule))
                   .entrypoint("sum_reader")
                   .arg(selium::Arg::resource(handle))
                   .arg(selium::Arg::u32(0))
                   .start();
  kLog.info("give timer",
            {{"result", child ? std::string("started") : std::string(child.error().name())},
             {"message", selium::lastError()}});
  co_return 0;
}

SELIUM_ENTRYPOINT(hold_everything) {
  int32_t timer = selium_timer_create(60'000'000'000);
  auto channel = selium::Channel::create(1024);
  if (timer < 0 || !channel)
    co_return fail("create failed", selium::Error(selium::ErrorCode::Internal));
  auto reader = channel->reader();
  auto writer = channel->writer();
  auto shared = channel->share();
  auto registered =
      selium::registerSingleton(selium::singletonId("children.everything"), channel->handle());
  auto child = selium::ProcessBuilder(std::string(kModule)).entrypoint("spin").start();
  if (!reader || !writer || !shared || !registered || !child) {
    co_return fail("hold failed", selium::Error(selium::ErrorCode::Internal));
  }
  selium::Result<int64_t> pid = child->pid();
  while (!pid && pid.error() == selium::ErrorCode::NotFound) {
    co_await selium::yield();
    pid = child->pid();
  }
  kLog.info("holding", {{"child", pid ? *pid : int64_t{-1}}});
  selium_process_exit(7);
  co_return 0;
}

SELIUM_ENTRYPOINT(typed_child, (i8, a), (u8, b), (i16, c), (u16, d), (f32, e), (hex, f)) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (std::byte x : f) {
    hex += kDigits[static_cast<uint8_t>(x) >> 4];
    hex += kDigits[static_cast<uint8_t>(x) & 15];
  }
  kLog.info("typed", {{"a", int64_t{a}},
                      {"b", uint64_t{b}},
                      {"c", int64_t{c}},
                      {"d", uint64_t{d}},
                      {"e", double{e}},
                      {"f", hex}});
  co_return 0;
}

SELIUM_ENTRYPOINT(typed) {
  const uint8_t bytes[] = {0xbe, 0xef};
  auto exit = co_await runChild(selium::ProcessBuilder(std::string(kModule))
                                    .entrypoint("typed_child")
                                    .arg(selium::Arg::i8(-5))
                                    .arg(selium::Arg::u8(200))
                                    .arg(selium::Arg::i16(-300))
                                    .arg(selium::Arg::u16(60000))
                                    .arg(selium::Arg::f32(1.5f))
                                    .arg(selium::Arg::hex(bytes)));
  if (!exit) co_return fail("child failed", exit.error());
  co_return exit->ok() ? 0 : 6;
}

// Lifetimes, the process directory and sessions (docs/processes.md):
//   send_lifetime(resource w)      writes its lifetime's shared id (i64 LE) on writer w, then
//                                  yields for ever.
//   lifetime_watch()               starts send_lifetime, attaches the lifetime it sends, stops the
//                                  child and waits on the lifetime: Info "lifetime" {child, named,
//                                  ended}. Status 0.
//   list_children(u32 n)           starts n spin() children, lists processes, attaches one child
//                                  by pid and stops it through that handle: Info "listed" {count,
//                                  found (children listed), parent_ok (each lists this process as
//                                  parent), path, stopped_reason}. Stops the rest. Status 0.
//   attach_pid(u64 pid)            process_attach(pid): Info "attach" {result, message}.
//   sessions()                     tries every way to widen a session, and the narrowing ones:
//                                  Info "step" {name, result, message} for each; status = the
//                                  number of steps whose result was not the one expected.
namespace {

int64_t getI64(std::span<const uint8_t> in) {
  uint64_t v = 0;
  for (int i = 0; i < 8 && i < static_cast<int>(in.size()); ++i) v |= uint64_t{in[i]} << (8 * i);
  return static_cast<int64_t>(v);
}

selium::Result<selium::ChildProcess> startSpin() {
  return selium::ProcessBuilder(std::string(kModule)).entrypoint("spin").start();
}

// Waits (yielding) until the child has a pid.
selium::Task<int64_t> pidOf(const selium::ChildProcess& child) {
  for (int i = 0; i < 100000; ++i) {
    auto pid = child.pid();
    if (pid) co_return *pid;
    co_await selium::yield();
  }
  co_return -1;
}

}  // namespace

SELIUM_ENTRYPOINT(send_lifetime, (resource, w)) {
  selium::Writer writer{selium::Handle(static_cast<selium_handle_t>(w.value))};
  auto life = selium::Lifetime::self();
  if (!life) co_return fail("lifetime failed", life.error());
  auto id = life->share();
  if (!id) co_return fail("share failed", id.error());
  std::vector<uint8_t> frame;
  for (int i = 0; i < 8; ++i) frame.push_back(static_cast<uint8_t>(uint64_t(*id) >> (8 * i)));
  auto written = co_await writer.write(frame);
  if (!written) co_return fail("write failed", written.error());
  for (;;) co_await selium::yield();
}

SELIUM_ENTRYPOINT(lifetime_watch) {
  auto channel = selium::Channel::create(4096);
  if (!channel) co_return fail("create failed", channel.error());
  auto reader = channel->reader();
  auto writer = channel->writer();
  if (!reader || !writer) co_return fail("open failed", reader ? writer.error() : reader.error());
  auto child = selium::ProcessBuilder(std::string(kModule))
                   .entrypoint("send_lifetime")
                   .capability(SELIUM_CAP_ChannelWriter)
                   .arg(selium::Arg::resource(writer->handle()))
                   .start();
  if (!child) co_return fail("start failed", child.error());
  auto frame = co_await reader->read();
  if (!frame) co_return fail("read failed", frame.error());
  auto life = selium::Lifetime::attach(getI64(*frame));
  if (!life) co_return fail("attach failed", life.error());
  int64_t child_pid = co_await pidOf(*child);
  int64_t named = life->pid();
  if (auto stopped = child->stop(); !stopped) co_return fail("stop failed", stopped.error());
  auto ended = co_await life->ended();
  if (!ended) co_return fail("ended failed", ended.error());
  kLog.info("lifetime", {{"child", child_pid}, {"named", named}, {"ended", *ended}});
  co_return 0;
}

SELIUM_ENTRYPOINT(list_children, (u32, n)) {
  std::vector<selium::ChildProcess> children;
  std::vector<int64_t> pids;
  for (uint32_t i = 0; i < n; ++i) {
    auto child = startSpin();
    if (!child) co_return fail("start failed", child.error());
    pids.push_back(co_await pidOf(*child));
    children.push_back(std::move(*child));
  }
  auto listed = selium::listProcesses();
  if (!listed) co_return fail("list failed", listed.error());
  uint32_t found = 0;
  bool parent_ok = true;
  std::string module;
  for (const selium::ProcessInfo& info : *listed) {
    for (int64_t pid : pids) {
      if (info.pid == pid) {
        ++found;
        parent_ok = parent_ok && info.parent == selium::processId() && info.entrypoint == "spin";
        module = info.module;
      }
    }
  }
  auto attached = selium::ChildProcess::attach(pids.at(0));
  if (!attached) co_return fail("attach failed", attached.error());
  if (auto stopped = attached->stop(); !stopped) co_return fail("stop failed", stopped.error());
  auto exit = co_await children.at(0).exit();
  if (!exit) co_return fail("wait failed", exit.error());
  kLog.info("listed", {{"count", static_cast<uint64_t>(listed->size())},
                       {"found", found},
                       {"parent_ok", parent_ok},
                       {"path", module},
                       {"stopped_reason", exit->reason}});
  for (auto& child : children) (void)child.stop();
  co_return 0;
}

SELIUM_ENTRYPOINT(attach_pid, (u64, pid)) {
  auto attached = selium::ChildProcess::attach(static_cast<int64_t>(pid));
  kLog.info("attach", {{"result", attached ? std::string_view("ok") : attached.error().name()},
                       {"message", attached ? std::string() : selium::lastError()}});
  co_return 0;
}

namespace {

struct Steps {
  int32_t failed = 0;
  // Logs the step; counts it failed unless `code` is the expected outcome (0: success).
  void check(std::string_view name, int32_t code, int32_t expected) {
    kLog.info("step", {{"name", name},
                       {"result", code == 0 ? std::string_view("ok")
                                            : selium::Error::fromResult(code).name()},
                       {"message", code == 0 ? std::string() : selium::lastError()}});
    if (code != expected) ++failed;
  }
  template <typename T>
  void check(std::string_view name, const selium::Result<T>& result, int32_t expected) {
    check(name, result ? 0 : result.error().result(), expected);
  }
};

constexpr int32_t kDenied = -SELIUM_ERR_PermissionDenied;
constexpr int32_t kInvalid = -SELIUM_ERR_InvalidArgument;

}  // namespace

// Run with ProcessLifecycle, SessionLifecycle and ChannelReader (not ChannelWriter).
SELIUM_ENTRYPOINT(sessions) {
  Steps steps;
  using selium::SessionBuilder;
  // A session can hold only what the process holds.
  steps.check("root widens", SessionBuilder().entitleAny(SELIUM_CAP_ChannelWriter).create(),
              kDenied);
  steps.check("root widens by resource",
              SessionBuilder().entitle(SELIUM_CAP_ChannelWriter, {7}).create(), kDenied);
  steps.check("unknown capability", SessionBuilder().entitleAny(999).create(), kInvalid);
  auto root = SessionBuilder()
                  .entitle(SELIUM_CAP_ProcessLifecycle)
                  .entitle(SELIUM_CAP_ChannelReader, {1, 2, 3})
                  .create();
  steps.check("root", root, 0);
  if (!root) co_return steps.failed;
  // A session made from another holds only what that one covers.
  steps.check("child any over a set",
              SessionBuilder().entitleAny(SELIUM_CAP_ChannelReader).create(&*root), kDenied);
  steps.check("child resource outside the set",
              SessionBuilder().entitle(SELIUM_CAP_ChannelReader, {4}).create(&*root), kDenied);
  steps.check("child capability the parent lacks",
              SessionBuilder().entitle(SELIUM_CAP_TimeRead).create(&*root), kDenied);
  auto child = SessionBuilder()
                   .entitle(SELIUM_CAP_ProcessLifecycle)
                   .entitle(SELIUM_CAP_ChannelReader, {2})
                   .create(&*root);
  steps.check("child", child, 0);
  if (!child) co_return steps.failed;
  steps.check("grant beyond the parent", child->grant(SELIUM_CAP_ChannelReader, 9), kDenied);
  steps.check("grant any beyond the parent", child->grant(SELIUM_CAP_ChannelReader), kDenied);
  steps.check("grant within the parent", child->grant(SELIUM_CAP_ChannelReader, 3), 0);
  steps.check("covers 3", child->covers(SELIUM_CAP_ChannelReader, 3) ? 0 : kDenied, 0);
  steps.check("covers 1", child->covers(SELIUM_CAP_ChannelReader, 1) ? 0 : kDenied, kDenied);
  // Starting: ProcessLifecycle needed, and each capability granted on any resource.
  steps.check("start granting a set capability",
              child->start(selium::ProcessBuilder(std::string(kModule))
                               .entrypoint("spin")
                               .capability(SELIUM_CAP_ChannelReader)),
              kDenied);
  auto no_start = SessionBuilder().entitle(SELIUM_CAP_ChannelReader, {2}).create(&*root);
  steps.check("session without ProcessLifecycle", no_start, 0);
  if (no_start) {
    steps.check("start without ProcessLifecycle",
                no_start->start(selium::ProcessBuilder(std::string(kModule)).entrypoint("spin")),
                kDenied);
  }
  auto started = child->start(selium::ProcessBuilder(std::string(kModule)).entrypoint("spin"));
  steps.check("start", started, 0);
  if (!started) co_return steps.failed;
  int64_t pid = co_await pidOf(*started);
  auto outsider = startSpin();  // started by the process, not through a session
  steps.check("outsider", outsider, 0);
  if (!outsider) co_return steps.failed;
  int64_t outsider_pid = co_await pidOf(*outsider);
  steps.check("attach the started", child->attach(pid), 0);
  steps.check("parent attaches what its child started", root->attach(pid), 0);
  steps.check("attach an outsider", child->attach(outsider_pid), kDenied);
  auto listed = child->list();
  steps.check("list", listed, 0);
  if (listed) {
    bool only = listed->size() == 1 && listed->front().pid == pid;
    steps.check("list shows only the started", only ? 0 : kInvalid, 0);
  }
  // Narrowing the parent narrows the child.
  steps.check("revoke one resource of a set", root->revoke(SELIUM_CAP_ChannelReader, 3), 0);
  steps.check("child no longer covers 3", child->covers(SELIUM_CAP_ChannelReader, 3) ? 0 : kDenied,
              kDenied);
  steps.check("revoke ProcessLifecycle from the parent", root->revoke(SELIUM_CAP_ProcessLifecycle),
              0);
  steps.check("child attach after the parent's revoke", child->attach(pid), kDenied);
  steps.check("child start after the parent's revoke",
              child->start(selium::ProcessBuilder(std::string(kModule)).entrypoint("spin")),
              kDenied);
  auto any = SessionBuilder().entitleAny(SELIUM_CAP_ChannelReader).create();
  steps.check("any", any, 0);
  if (any) {
    steps.check("revoke one resource of any", any->revoke(SELIUM_CAP_ChannelReader, 5), kInvalid);
    steps.check("share a session", any->handle().share(), -SELIUM_ERR_Unsupported);
  }
  (void)started->stop();
  (void)outsider->stop();
  co_return steps.failed;
}
