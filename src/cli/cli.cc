#include "cli/cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cli/client.h"
#include "cli/log_line.h"

namespace selium::cli {

namespace {

using namespace std::chrono_literals;

constexpr uint32_t kDefaultCapacity = 64 * 1024;
constexpr auto kKeepAlive = 3s;

std::string footer() {
  return "\nThe server is the Remote Client module (selium_remote_client_server.wasm) run by\n"
         "selium-runtime. Connections use mutual TLS: --cert-dir must hold ca.crt (the server's\n"
         "CA) and client.crt + client.key signed by it (selium-runtime generate-certs writes\n"
         "them); the certificate's CN names your session in the server's policy.\n\n"
         "Arguments (-a) are TYPE:VALUE: i8 u8 i16 u16 i32 u32 i64 u64 f32 f64, utf8 (string,\n"
         "str, text), buffer (bytes, data; buffer:hex:DIGITS for raw bytes), hex:DIGITS,\n"
         "resource:SHARED-ID (a channel from `selium channel create`).\n\n"
         "Examples:\n"
         "  selium --server localhost:7000 start echo.wasm start -c ChannelLifecycle "
         "-a utf8:hello --attach\n"
         "  selium list\n"
         "  selium logs 3 --follow\n"
         "  selium stop 3\n"
         "  selium channel create --capacity 65536\n"
         "  echo hi | selium channel publish 8123456789\n\n"
         "Exit status: 0 success, 1 the command failed, 2 usage error.\n";
}

// "selium: error: <what>: <why>" on stderr; exit 1.
int fail(const std::string& what, const std::string& why) {
  std::cerr << "selium: error: " << what << ": " << why << "\n";
  return kExitFailure;
}

// The request's response, or an error (printed, exit 1).
std::optional<control::Response> unary(Client& client, const control::Request& request,
                                       std::chrono::milliseconds timeout, const std::string& what,
                                       int& exit_code) {
  auto call = client.open(request, /*keep_open=*/false);
  if (!call) {
    exit_code = fail(what, call.error());
    return std::nullopt;
  }
  auto response = client.response(**call, timeout);
  if (!response) {
    exit_code = fail(what, response.error());
    return std::nullopt;
  }
  if (const auto* error = std::get_if<control::ErrorResponse>(&response->body)) {
    exit_code = fail(what, "the server refused: " + error->message);
    return std::nullopt;
  }
  return std::move(*response);
}

// Waits for a streaming request's first response: Ok (true) or an error (printed).
bool acknowledged(Client& client, Call& call, std::chrono::milliseconds timeout,
                  const std::string& what, int& exit_code) {
  auto response = client.response(call, timeout);
  if (!response) {
    exit_code = fail(what, response.error());
    return false;
  }
  if (const auto* error = std::get_if<control::ErrorResponse>(&response->body)) {
    exit_code = fail(what, "the server refused: " + error->message);
    return false;
  }
  if (std::get_if<control::OkResponse>(&response->body) == nullptr) {
    exit_code = fail(what, "the server answered with an unexpected response");
    return false;
  }
  return true;
}

// SIGINT / SIGTERM make the client's waits return (`selium logs --follow`, `start --attach`).
class Interrupts {
 public:
  explicit Interrupts(Client& client) : signals_(client.loop(), SIGINT, SIGTERM) {
    signals_.async_wait([&client](const boost::system::error_code& ec, int) {
      if (!ec) client.stop();
    });
  }

 private:
  boost::asio::signal_set signals_;
};

// Prints the log records arriving on `call` until the stream ends (or, following, until
// interrupted: then it detaches, and the process keeps running).
int printLogs(Client& client, const std::shared_ptr<Call>& call, uint64_t pid, bool follow,
              bool attached) {
  const std::string what = "logs of process " + std::to_string(pid);
  if (follow) client.keepAlive(call, kKeepAlive);
  Interrupts interrupts(client);
  for (;;) {
    auto frame = client.nextFrame(*call, std::nullopt);
    if (!frame) break;
    if (auto line = formatLogRecord(*frame)) {
      std::cout << *line << "\n" << std::flush;
    } else {
      std::cerr << "selium: warning: skipped a log frame that is not a LogRecord (" << frame->size()
                << " bytes)\n";
    }
  }
  if (client.stopped()) {
    if (attached) {
      std::cerr << "Detached from process " << pid << "; it keeps running (`selium stop " << pid
                << "` stops it)\n";
    }
    return kExitOk;
  }
  if (!call->framingError().empty()) return fail(what, call->framingError());
  if (!call->endedCleanly()) return fail(what, client.why());
  return kExitOk;
}

int runLogs(Client& client, uint64_t pid, bool follow, std::chrono::milliseconds timeout) {
  const std::string what = "logs of process " + std::to_string(pid);
  auto call = client.open({0, control::LogsRequest{pid, follow}}, /*keep_open=*/true);
  if (!call) return fail(what, call.error());
  int exit_code = kExitOk;
  if (!acknowledged(client, **call, timeout, what, exit_code)) return exit_code;
  return printLogs(client, *call, pid, follow, /*attached=*/false);
}

int runStart(Client& client, const StartCommand& cmd, std::chrono::milliseconds timeout) {
  const std::string what = "start " + cmd.request.module;
  control::StartRequest request = cmd.request;
  request.attach = cmd.attach;
  auto call = client.open({0, request}, /*keep_open=*/cmd.attach);
  if (!call) return fail(what, call.error());
  auto response = client.response(**call, timeout);
  if (!response) return fail(what, response.error());
  if (const auto* error = std::get_if<control::ErrorResponse>(&response->body)) {
    return fail(what, "the server refused: " + error->message);
  }
  const auto* started = std::get_if<control::StartResponse>(&response->body);
  if (started == nullptr) return fail(what, "the server answered without a process id");
  std::cout << "Started process " << started->pid << "\n" << std::flush;
  if (!cmd.attach) return kExitOk;
  return printLogs(client, *call, started->pid, /*follow=*/true, /*attached=*/true);
}

std::string stateName(control::ProcessState state) {
  return state == control::ProcessState::Stopping ? "stopping" : "running";
}

int runList(Client& client, const ListCommand& cmd, std::chrono::milliseconds timeout) {
  int exit_code = kExitOk;
  auto response = unary(client, {0, control::ListRequest{}}, timeout, "list processes", exit_code);
  if (!response) return exit_code;
  const auto* list = std::get_if<control::ListResponse>(&response->body);
  if (list == nullptr) return fail("list processes", "the server answered with no list");
  if (cmd.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& p : list->processes) {
      nlohmann::json caps = nlohmann::json::array();
      for (uint32_t c : p.capabilities) caps.push_back(std::string(control::capabilityName(c)));
      out.push_back({{"id", p.pid},
                     {"module", p.module},
                     {"entrypoint", p.entrypoint},
                     {"state", stateName(p.state)},
                     {"uptime_ms", p.uptime_ms},
                     {"started_by", p.started_by},
                     {"capabilities", caps},
                     {"log_uri", p.log_uri}});
    }
    // Replace invalid UTF-8 rather than throw: names come from the server.
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {{"ID", "MODULE", "STATE", "UPTIME", "STARTED-BY"}};
  for (const auto& p : list->processes) {
    rows.push_back({std::to_string(p.pid), p.module, stateName(p.state), formatUptime(p.uptime_ms),
                    p.started_by.empty() ? "-" : p.started_by});
  }
  std::vector<std::size_t> widths(5, 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
  return kExitOk;
}

// A way into the client's loop for another thread, closed before the loop goes: later posts
// are dropped.
class LoopOutlet {
 public:
  explicit LoopOutlet(boost::asio::io_context& loop) : loop_(&loop) {}
  void post(std::function<void()> f) {
    std::lock_guard lock(mutex_);
    if (loop_ != nullptr) boost::asio::post(*loop_, std::move(f));
  }
  void close() {
    std::lock_guard lock(mutex_);
    loop_ = nullptr;
  }

 private:
  std::mutex mutex_;
  boost::asio::io_context* loop_;
};

int runPublish(Client& client, const PublishCommand& cmd, std::chrono::milliseconds timeout) {
  const std::string what = "publish to channel " + std::to_string(cmd.channel);
  auto call = client.open({0, control::PublishRequest{cmd.channel}}, /*keep_open=*/true);
  if (!call) return fail(what, call.error());
  int exit_code = kExitOk;
  if (!acknowledged(client, **call, timeout, what, exit_code)) return exit_code;
  // The stdin thread's way into the loop, closed when this function returns.
  std::shared_ptr<LoopOutlet> outlet;
  struct CloseOutlet {
    std::shared_ptr<LoopOutlet>& outlet;
    ~CloseOutlet() {
      if (outlet) outlet->close();
    }
  } close_outlet{outlet};
  // Shared with the stdin thread's posted handlers, which may outlive this frame.
  auto sent = std::make_shared<uint64_t>(0);
  auto sendOne = [sent](Call& target, std::string_view text) {
    if (text.empty()) return;  // an empty frame is a keep-alive on the wire
    target.sendFrame(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
    ++*sent;
  };
  if (!cmd.messages.empty()) {
    for (const std::string& m : cmd.messages) sendOne(**call, m);
    (*call)->finish();
  } else {
    // stdin is read on a thread of its own so the connection is served meanwhile.
    client.keepAlive(*call, kKeepAlive);
    std::shared_ptr<Call> shared = *call;
    outlet = std::make_shared<LoopOutlet>(client.loop());
    std::thread reader([outlet, shared, sendOne] {
      std::string line;
      while (std::getline(std::cin, line)) {
        outlet->post([shared, sendOne, line] { sendOne(*shared, line); });
      }
      outlet->post([shared] { shared->finish(); });
    });
    reader.detach();
  }
  Interrupts interrupts(client);
  // The server's FIN says every frame was written; a frame from it is an error.
  auto frame = client.nextFrame(**call, std::nullopt);
  if (frame) {
    auto response = control::decodeResponse(*frame);
    if (response) {
      if (const auto* error = std::get_if<control::ErrorResponse>(&response->body)) {
        return fail(what, "the server refused: " + error->message);
      }
    }
    return fail(what, "the server sent an unexpected frame");
  }
  if (client.stopped()) {
    return fail(what, "interrupted after " + std::to_string(*sent) + " frames");
  }
  if (!(*call)->endedCleanly()) return fail(what, client.why());
  std::cout << "Published " << *sent << (*sent == 1 ? " frame" : " frames") << " to channel "
            << cmd.channel << "\n";
  return kExitOk;
}

int runSubscribe(Client& client, const SubscribeCommand& cmd, std::chrono::milliseconds timeout) {
  const std::string what = "subscribe to channel " + std::to_string(cmd.channel);
  auto call =
      client.open({0, control::SubscribeRequest{cmd.channel, cmd.weak ? control::Strength::Weak
                                                                      : control::Strength::Strong}},
                  /*keep_open=*/true);
  if (!call) return fail(what, call.error());
  int exit_code = kExitOk;
  if (!acknowledged(client, **call, timeout, what, exit_code)) return exit_code;
  client.keepAlive(*call, kKeepAlive);
  Interrupts interrupts(client);
  uint64_t received = 0;
  while (cmd.count == 0 || received < cmd.count) {
    auto frame = client.nextFrame(**call, std::nullopt);
    if (!frame) {
      if (client.stopped() || (*call)->endedCleanly()) return kExitOk;
      return fail(what, client.why());
    }
    std::cout.write(reinterpret_cast<const char*>(frame->data()),
                    static_cast<std::streamsize>(frame->size()));
    std::cout << "\n" << std::flush;
    ++received;
  }
  return kExitOk;
}

}  // namespace

std::string versionText() { return std::string("selium ") + SELIUM_VERSION; }

std::string formatUptime(uint64_t ms) {
  const uint64_t s = ms / 1000;
  auto two = [](uint64_t v) { return (v < 10 ? "0" : "") + std::to_string(v); };
  if (s == 0) return std::to_string(ms) + "ms";
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m" + two(s % 60) + "s";
  if (s < 86400) return std::to_string(s / 3600) + "h" + two(s / 60 % 60) + "m";
  return std::to_string(s / 86400) + "d" + two(s / 3600 % 24) + "h";
}

Parsed parseCommandLine(int argc, const char* const* argv,
                        const std::function<const char*(const char*)>& env) {
  CLI::App app{
      "Selium control plane: start, stop, list and follow processes, and use channels, "
      "on a Selium runtime through its Remote Client module (QUIC, mutual TLS).",
      "selium"};
  app.footer(footer());
  app.get_formatter()->column_width(36);
  app.set_version_flag("--version", versionText(), "Print the version and exit");
  app.require_subcommand(1);
  app.fallthrough();

  std::string server = "localhost:7000";
  std::string cert_dir;
  double timeout_seconds = 15;
  app.add_option("--server", server,
                 "Remote Client server, HOST:PORT (env SELIUM_SERVER; default localhost:7000)")
      ->type_name("HOST:PORT");
  app.add_option("--cert-dir", cert_dir,
                 "Directory with ca.crt, client.crt and client.key (env SELIUM_CERT_DIR; default "
                 "$SELIUM_WORK_DIR/certs, else ./certs)")
      ->type_name("DIR");
  app.add_option("--timeout", timeout_seconds,
                 "Seconds to wait for the server to connect and answer (default 15)")
      ->type_name("SECONDS")
      ->check(CLI::Range(0.1, 3600.0));

  Invocation inv;

  StartCommand start;
  std::vector<std::string> caps_single, caps_lists, args;
  CLI::App* start_cmd = app.add_subcommand("start", "Start a process from the server's modules/");
  start_cmd->add_option("module", start.request.module, "Module path under the work dir's modules/")
      ->required();
  start_cmd->add_option("entrypoint", start.request.entrypoint, "Entrypoint (default: start)");
  start_cmd->add_option("-c,--capability", caps_single, "Grant a capability (repeatable)")
      ->type_name("CAP")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  start_cmd->add_option("--capabilities", caps_lists, "Grant capabilities, comma-separated")
      ->type_name("CAP,CAP...")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  start_cmd->add_option("-a,--arg", args, "Entrypoint argument TYPE:VALUE (repeatable, in order)")
      ->type_name("TYPE:VALUE")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  start_cmd->add_option("--log-uri", start.request.log_uri, "The process's log URI")
      ->type_name("URI");
  start_cmd->add_flag("--attach", start.attach,
                      "Follow its logs after starting it; Ctrl-C detaches (it keeps running)");

  StopCommand stop;
  CLI::App* stop_cmd = app.add_subcommand("stop", "Stop a process");
  stop_cmd->add_option("id", stop.pid, "Process id (from `selium list`)")->required();

  ListCommand list;
  CLI::App* list_cmd = app.add_subcommand("list", "List the processes your session can see");
  list_cmd->alias("ps");
  list_cmd->add_flag("--json", list.json, "Print JSON instead of a table");

  LogsCommand logs;
  CLI::App* logs_cmd = app.add_subcommand("logs", "Print a process's log records");
  logs_cmd->add_option("id", logs.pid, "Process id")->required();
  logs_cmd->add_flag("-f,--follow", logs.follow,
                     "Keep printing until the process ends; Ctrl-C stops following");

  CLI::App* channel_cmd = app.add_subcommand("channel",
                                             "Create, delete, publish to, subscribe to "
                                             "channels");
  channel_cmd->require_subcommand(1);
  ChannelCreateCommand create{kDefaultCapacity};
  CLI::App* create_cmd = channel_cmd->add_subcommand("create", "Create a channel; prints its id");
  create_cmd->add_option("--capacity", create.capacity, "Bytes (default 65536)")
      ->check(CLI::Range(uint32_t{1}, control::kMaxChannelCapacity));
  ChannelDeleteCommand del;
  CLI::App* delete_cmd = channel_cmd->add_subcommand("delete", "Delete a channel you created");
  delete_cmd->add_option("id", del.channel, "Channel id")->required();
  PublishCommand publish;
  CLI::App* publish_cmd = channel_cmd->add_subcommand(
      "publish", "Write frames to a channel: each MESSAGE, or else each line of stdin");
  publish_cmd->add_option("id", publish.channel, "Channel id")->required();
  publish_cmd->add_option("messages", publish.messages, "Frames to write");
  SubscribeCommand subscribe;
  CLI::App* subscribe_cmd = channel_cmd->add_subcommand(
      "subscribe", "Print a channel's frames, one per line, until it ends");
  subscribe_cmd->add_option("id", subscribe.channel, "Channel id")->required();
  subscribe_cmd->add_option("--count", subscribe.count, "Exit after this many frames");
  subscribe_cmd->add_flag("--weak", subscribe.weak,
                          "Weak reader: never holds the channel's writers back (may skip frames)");

  Parsed parsed;
  std::ostringstream out, err;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    parsed.exit_code = app.exit(e, out, err);
  } catch (const CLI::CallForAllHelp& e) {
    parsed.exit_code = app.exit(e, out, err);
  } catch (const CLI::CallForVersion& e) {
    parsed.exit_code = app.exit(e, out, err);
  } catch (const CLI::ParseError& e) {
    // Name a mistyped command rather than CLI11's "A subcommand is required".
    std::string unknown;
    for (int i = 1; i < argc; ++i) {
      const std::string_view arg = argv[i];
      if (arg == "--server" || arg == "--cert-dir" || arg == "--timeout") {
        ++i;
        continue;
      }
      if (arg.starts_with("-")) continue;
      constexpr std::string_view kCommands[] = {"start", "stop", "list", "ps", "logs", "channel"};
      if (std::find(std::begin(kCommands), std::end(kCommands), arg) == std::end(kCommands)) {
        unknown = arg;
      }
      break;
    }
    if (!unknown.empty()) {
      err << "selium: error: unknown command \"" << unknown
          << "\" (commands: start, stop, list, logs, channel)\nRun `selium --help` for usage.\n";
    } else {
      err << "selium: error: " << e.what() << "\nRun `selium --help` for usage.\n";
    }
    parsed.exit_code = kExitUsage;
  }
  auto usage = [&](const std::string& message) {
    parsed.err = "selium: error: " + message + "\nRun `selium --help` for usage.\n";
    parsed.exit_code = kExitUsage;
    return parsed;
  };
  if (!err.str().empty() || !out.str().empty() || parsed.exit_code != kExitOk) {
    parsed.out = out.str();
    parsed.err = err.str();
    if (parsed.exit_code == kExitOk && !parsed.err.empty()) parsed.exit_code = kExitUsage;
    return parsed;
  }

  if (app.get_option("--server")->count() == 0) {
    if (const char* v = env("SELIUM_SERVER"); v != nullptr && *v != '\0') server = v;
  }
  auto address = parseServer(server);
  if (!address) return usage("--server: " + address.error());
  inv.server = *address;
  if (app.get_option("--cert-dir")->count() == 0) {
    if (const char* v = env("SELIUM_CERT_DIR"); v != nullptr && *v != '\0') {
      cert_dir = v;
    } else if (const char* w = env("SELIUM_WORK_DIR"); w != nullptr && *w != '\0') {
      cert_dir = (std::filesystem::path(w) / "certs").string();
    } else {
      cert_dir = "certs";
    }
  }
  inv.cert_dir = cert_dir;
  inv.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));

  if (start_cmd->parsed()) {
    auto caps = parseCapabilities(caps_single, caps_lists);
    if (!caps) return usage(caps.error());
    start.request.capabilities = std::move(*caps);
    for (std::size_t i = 0; i < args.size(); ++i) {
      auto arg = parseArg(args[i], i + 1);
      if (!arg) return usage(arg.error());
      start.request.args.push_back(std::move(*arg));
    }
    if (start.request.args.size() > control::kMaxArgs) {
      return usage("at most " + std::to_string(control::kMaxArgs) + " arguments");
    }
    inv.command = std::move(start);
  } else if (stop_cmd->parsed()) {
    inv.command = stop;
  } else if (list_cmd->parsed()) {
    inv.command = list;
  } else if (logs_cmd->parsed()) {
    inv.command = logs;
  } else if (create_cmd->parsed()) {
    inv.command = create;
  } else if (delete_cmd->parsed()) {
    inv.command = del;
  } else if (publish_cmd->parsed()) {
    inv.command = std::move(publish);
  } else if (subscribe_cmd->parsed()) {
    inv.command = subscribe;
  }
  parsed.invocation = std::move(inv);
  return parsed;
}

int execute(const Invocation& inv) {
  ConnectOptions options{inv.server.host, inv.server.port, inv.cert_dir, inv.timeout};
  auto client = Client::connect(options);
  if (!client) return fail("connect", client.error());
  Client& c = **client;
  int exit_code = kExitOk;
  if (const auto* start = std::get_if<StartCommand>(&inv.command)) {
    return runStart(c, *start, inv.timeout + 30s);
  }
  if (const auto* stop = std::get_if<StopCommand>(&inv.command)) {
    auto response = unary(c, {0, control::StopRequest{stop->pid}}, inv.timeout + 10s,
                          "stop process " + std::to_string(stop->pid), exit_code);
    if (!response) return exit_code;
    std::cout << "Stopped process " << stop->pid << "\n";
    return kExitOk;
  }
  if (const auto* list = std::get_if<ListCommand>(&inv.command)) {
    return runList(c, *list, inv.timeout);
  }
  if (const auto* logs = std::get_if<LogsCommand>(&inv.command)) {
    return runLogs(c, logs->pid, logs->follow, inv.timeout);
  }
  if (const auto* create = std::get_if<ChannelCreateCommand>(&inv.command)) {
    auto response = unary(c, {0, control::ChannelCreateRequest{create->capacity}}, inv.timeout,
                          "create a channel", exit_code);
    if (!response) return exit_code;
    const auto* created = std::get_if<control::ChannelCreateResponse>(&response->body);
    if (created == nullptr) return fail("create a channel", "the server answered without an id");
    std::cout << "Created channel " << created->channel << "\n";
    return kExitOk;
  }
  if (const auto* del = std::get_if<ChannelDeleteCommand>(&inv.command)) {
    auto response = unary(c, {0, control::ChannelDeleteRequest{del->channel}}, inv.timeout,
                          "delete channel " + std::to_string(del->channel), exit_code);
    if (!response) return exit_code;
    std::cout << "Deleted channel " << del->channel << "\n";
    return kExitOk;
  }
  if (const auto* publish = std::get_if<PublishCommand>(&inv.command)) {
    return runPublish(c, *publish, inv.timeout);
  }
  if (const auto* subscribe = std::get_if<SubscribeCommand>(&inv.command)) {
    return runSubscribe(c, *subscribe, inv.timeout);
  }
  return fail("run", "no command");
}

}  // namespace selium::cli
