#include "processes.h"

#include <algorithm>
#include <charconv>

namespace selium::remote {

namespace {

constexpr log::Logger kLog{"selium.remote_client"};
// How long start waits for a module to load before giving up on reporting its pid.
constexpr auto kStartTimeout = std::chrono::seconds(30);
// The pid is polled (nothing wakes a parent when its child starts): first soon, since a module
// already compiled starts in a fraction of a millisecond, then less and less often. (A fixed
// 2 ms poll made every start through the control plane take at least 2 ms.)
constexpr auto kFirstStartPoll = std::chrono::microseconds(50);
constexpr auto kMaxStartPoll = std::chrono::milliseconds(2);

std::string number(uint64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  (void)ec;
  return std::string(buf, end);
}

std::chrono::nanoseconds monotonicNow() {
  auto now = selium::now(Clock::Monotonic);
  return now ? *now : std::chrono::nanoseconds(0);
}

Arg toArg(const control::Arg& in) {
  switch (in.kind) {
    case control::ArgKind::I8:
      return Arg::i8(static_cast<int8_t>(in.int_value));
    case control::ArgKind::I16:
      return Arg::i16(static_cast<int16_t>(in.int_value));
    case control::ArgKind::I32:
      return Arg::i32(static_cast<int32_t>(in.int_value));
    case control::ArgKind::I64:
      return Arg::i64(in.int_value);
    case control::ArgKind::U8:
      return Arg::u8(static_cast<uint8_t>(in.uint_value));
    case control::ArgKind::U16:
      return Arg::u16(static_cast<uint16_t>(in.uint_value));
    case control::ArgKind::U32:
      return Arg::u32(static_cast<uint32_t>(in.uint_value));
    case control::ArgKind::U64:
      return Arg::u64(in.uint_value);
    case control::ArgKind::F32:
      return Arg::f32(in.f32);
    case control::ArgKind::F64:
      return Arg::f64(in.f64);
    case control::ArgKind::Utf8:
      return Arg::utf8(
          std::string_view(reinterpret_cast<const char*>(in.bytes.data()), in.bytes.size()));
    case control::ArgKind::Buffer:
      return Arg::buffer(in.bytes);
    case control::ArgKind::Hex:
      return Arg::hex(in.bytes);
    case control::ArgKind::Resource:
      break;  // the caller attaches the shared id
  }
  return Arg::u32(0);
}

}  // namespace

bool ProcessTable::init(std::string& error) {
  for (uint32_t cap = 0; cap < SELIUM_CAPABILITY_COUNT; ++cap) {
    if (SessionBuilder().entitleAny(cap).create()) held_.push_back(cap);
  }
  bool sessions = false;
  for (uint32_t cap : held_) sessions = sessions || cap == SELIUM_CAP_SessionLifecycle;
  if (!sessions) {
    error =
        "the module needs SessionLifecycle (each client gets a session) and ProcessLifecycle: "
        "add them to its capabilities";
    return false;
  }
  return true;
}

Outcome<Session*> ProcessTable::sessionFor(const SessionRights& rights) {
  if (auto it = sessions_.find(rights.name); it != sessions_.end()) {
    return Outcome<Session*>{&it->second, {}};
  }
  if (sessions_.size() >= kMaxSessions) {
    return Outcome<Session*>{std::nullopt, "the server has " + number(sessions_.size()) +
                                               " client sessions, the most it keeps"};
  }
  SessionBuilder builder;
  for (uint32_t cap : held_) {
    if (cap == SELIUM_CAP_ProcessLifecycle) {
      // The processes it covers: every one with all-processes, else those it starts (the stop
      // right itself is the policy's ProcessLifecycle, checked before any stop).
      if (rights.all_processes) {
        builder.entitleAny(cap);
      } else {
        builder.entitle(cap);
      }
    } else if (rights.allows(cap)) {
      builder.entitleAny(cap);
    }
  }
  auto session = builder.create();
  if (!session) {
    return Outcome<Session*>{
        std::nullopt, "cannot make a session for client \"" + rights.name + "\": " + lastError()};
  }
  auto [it, inserted] = sessions_.emplace(rights.name, std::move(*session));
  (void)inserted;
  return Outcome<Session*>{&it->second, {}};
}

Task<Outcome<Started>> ProcessTable::start(const SessionRights& rights,
                                           const control::StartRequest& req) {
  const std::string& client = rights.name;
  std::size_t mine = 0;
  for (const auto& [pid, e] : started_) mine += e->started_by == client ? 1 : 0;
  if (mine >= kMaxProcessesPerClient) {
    co_return Outcome<Started>{std::nullopt, "client \"" + client + "\" runs " + number(mine) +
                                                 " processes already, the most it may"};
  }
  auto session = sessionFor(rights);
  if (!session.value) co_return Outcome<Started>{std::nullopt, session.error};
  const std::string entrypoint = req.entrypoint.empty() ? "start" : req.entrypoint;
  ProcessBuilder builder(req.module);
  builder.entrypoint(entrypoint);
  for (uint32_t cap : req.capabilities) builder.capability(cap);
  if (!req.log_uri.empty()) builder.logUri(req.log_uri);
  builder.followLogs();  // `selium logs` and --attach read from the first record
  // Resource arguments name channels by shared id: this process attaches them for the start
  // (the child gets its own handles), then lets them go.
  std::vector<Handle> attached;
  for (std::size_t i = 0; i < req.args.size(); ++i) {
    const control::Arg& arg = req.args[i];
    if (arg.kind != control::ArgKind::Resource) {
      builder.arg(toArg(arg));
      continue;
    }
    auto handle = Handle::attach(static_cast<SharedId>(arg.shared_id), Kind::Channel);
    if (!handle) {
      co_return Outcome<Started>{
          std::nullopt,
          "argument " + number(i + 1) + ": no channel has shared id " + number(arg.shared_id)};
    }
    builder.arg(Arg::resource(*handle));
    attached.push_back(std::move(*handle));
  }
  auto child = (*session.value)->start(builder);
  attached.clear();
  if (!child) {
    co_return Outcome<Started>{std::nullopt, "cannot start " + req.module + ": " +
                                                 std::string(child.error().name()) + ": " +
                                                 lastError()};
  }
  auto entry = std::make_shared<ProcessEntry>(std::move(*child));
  entry->started_by = client;
  spawn(watch(entry));

  // The pid exists once the module has loaded; a module that cannot load ends instead.
  const auto deadline = monotonicNow() + kStartTimeout;
  std::chrono::nanoseconds poll = kFirstStartPoll;
  for (;;) {
    if (auto pid = entry->child.pid()) {
      entry->pid = static_cast<uint64_t>(*pid);
      break;
    }
    // A child that ended without a pid never ran (the runtime records the pid before the exit).
    if (entry->ended) {
      co_return Outcome<Started>{std::nullopt,
                                 "cannot start " + req.module + ": " + entry->exit_message};
    }
    if (monotonicNow() > deadline) {
      (void)entry->child.stop();
      co_return Outcome<Started>{std::nullopt,
                                 "cannot start " + req.module + ": it did not start within 30 s"};
    }
    (void)co_await selium::sleep(poll);
    poll = std::min<std::chrono::nanoseconds>(poll * 2, kMaxStartPoll);
  }
  if (auto logs = entry->child.logs()) entry->log_keepalive.emplace(std::move(*logs));
  Started started{entry->pid, std::nullopt};
  if (req.attach) {
    if (auto logs = entry->child.logs()) started.logs.emplace(std::move(*logs));
  }
  if (!entry->ended) started_[entry->pid] = entry;
  kLog.info("process started", {{"pid", entry->pid},
                                {"module", req.module},
                                {"entrypoint", entrypoint},
                                {"client", client}});
  co_return Outcome<Started>{std::move(started), {}};
}

Task<void> ProcessTable::watch(std::shared_ptr<ProcessEntry> entry) {
  auto exit = co_await entry->child.exit();
  entry->ended = true;
  if (exit) {
    entry->exit_message = exit->message.empty() ? "it ended" : exit->message;
  } else {
    entry->exit_message = lastError();
  }
  if (auto it = started_.find(entry->pid); it != started_.end() && it->second == entry) {
    started_.erase(it);
  }
  entry->log_keepalive.reset();
  if (entry->pid != 0) {
    kLog.info("process ended",
              {{"pid", entry->pid}, {"client", entry->started_by}, {"exit", entry->exit_message}});
  }
  entry->ended_event.set();
}

Outcome<Attached> ProcessTable::attach(uint64_t pid, const SessionRights& rights) {
  auto session = sessionFor(rights);
  if (!session.value) return Outcome<Attached>{std::nullopt, session.error};
  auto process = (*session.value)->attach(static_cast<int64_t>(pid));
  if (!process) {
    if (process.error() == ErrorCode::NotFound) {
      return Outcome<Attached>{std::nullopt, "no process " + number(pid) + " is running"};
    }
    return Outcome<Attached>{std::nullopt, "process " + number(pid) + " is not one client \"" +
                                               rights.name +
                                               "\" may see: it sees only the processes it "
                                               "started"};
  }
  std::shared_ptr<ProcessEntry> entry;
  if (auto it = started_.find(pid); it != started_.end()) entry = it->second;
  return Outcome<Attached>{Attached{std::move(*process), std::move(entry)}, {}};
}

Outcome<std::vector<control::ProcessInfo>> ProcessTable::list(const SessionRights& rights) {
  using Out = Outcome<std::vector<control::ProcessInfo>>;
  auto session = sessionFor(rights);
  if (!session.value) return Out{std::nullopt, session.error};
  auto processes = (*session.value)->list();
  if (!processes) return Out{std::nullopt, "cannot list processes: " + lastError()};
  std::vector<control::ProcessInfo> out;
  for (const ProcessInfo& p : *processes) {
    control::ProcessInfo info;
    info.pid = static_cast<uint64_t>(p.pid);
    info.module = p.module;
    info.entrypoint = p.entrypoint;
    info.state = p.stopping ? control::ProcessState::Stopping : control::ProcessState::Running;
    info.uptime_ms = p.uptime_ms;
    if (auto it = started_.find(info.pid); it != started_.end()) {
      info.started_by = it->second->started_by;
    }
    info.capabilities.assign(p.capabilities.begin(), p.capabilities.end());
    info.log_uri = p.log_uri;
    out.push_back(std::move(info));
  }
  return Out{std::move(out), {}};
}

}  // namespace selium::remote
