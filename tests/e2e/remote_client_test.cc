// End-to-end tests of the control plane: the real selium-runtime serves the Remote Client module
// (selium_remote_client_server.wasm) from a temporary work dir on a UDP port the system picks,
// and the real `selium` CLI binary drives it: every command, mutual TLS refusals (no client
// certificate, one from another CA), session policies, many clients at once, and clients that
// vanish mid-stream.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "cli/client.h"
#include "control/protocol.h"
#include "runtime_fixture.h"

namespace selium::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

// Generous: a loaded machine may be slow to run processes. Nothing here measures time.
constexpr auto kCliTimeout = 90s;

constexpr std::string_view kServerCaps =
    "capabilities=SessionLifecycle,ChannelLifecycle,ChannelReader,ChannelWriter,ProcessLifecycle,"
    "NetQuicBind,"
    "NetQuicAccept,NetQuicRead,NetQuicWrite,TimeRead";

class RemoteClientE2E : public RuntimeTest {
 protected:
  RemoteClientE2E() : RuntimeTest("e2e-remote-client") {}
  void SetUp() override {
    for (const char* module :
         {"selium_remote_client_server.wasm", "sleeper.wasm", "echo_args.wasm", "ticker.wasm"}) {
      addModule(module);
    }
    generateCerts(work_ / "certs");
  }

  // A cert dir for a client named `cn`, signed by the work dir's CA (openssl).
  fs::path clientCertDir(const std::string& cn) {
    const fs::path dir = temp_.path() / ("client-" + cn);
    fs::create_directories(dir);
    fs::copy_file(work_ / "certs" / "ca.crt", dir / "ca.crt");
    std::ofstream(dir / "ext.cnf") << "extendedKeyUsage=clientAuth\n";
    SubprocessResult req =
        runProcess(SubprocessOptions{{"/usr/bin/openssl", "req", "-new", "-newkey", "ec",
                                      "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                                      (dir / "client.key").string(), "-subj", "/CN=" + cn, "-out",
                                      (dir / "client.csr").string()},
                                     {},
                                     dir},
                   60s);
    EXPECT_EQ(req.exit_code, 0) << req.err;
    SubprocessResult sign = runProcess(
        SubprocessOptions{
            {"/usr/bin/openssl", "x509", "-req", "-in", (dir / "client.csr").string(), "-CA",
             (work_ / "certs" / "ca.crt").string(), "-CAkey", (work_ / "certs" / "ca.key").string(),
             "-CAcreateserial", "-days", "2", "-extfile", (dir / "ext.cnf").string(), "-out",
             (dir / "client.crt").string()},
            {},
            dir},
        60s);
    EXPECT_EQ(sign.exit_code, 0) << sign.err;
    return dir;
  }

  std::vector<std::string> cliArgv(std::vector<std::string> args, const fs::path& cert_dir) {
    std::vector<std::string> argv = {SELIUM_CLI_BIN, "--server",
                                     "127.0.0.1:" + std::to_string(port_), "--cert-dir",
                                     cert_dir.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  SubprocessResult cli(std::vector<std::string> args, std::optional<fs::path> cert_dir = {}) {
    return runProcess(
        SubprocessOptions{
            cliArgv(std::move(args), cert_dir.value_or(work_ / "certs")), {}, temp_.path()},
        kCliTimeout);
  }

  std::unique_ptr<Subprocess> cliAsync(std::vector<std::string> args,
                                       std::optional<fs::path> cert_dir = {}) {
    return std::make_unique<Subprocess>(SubprocessOptions{
        cliArgv(std::move(args), cert_dir.value_or(work_ / "certs")), {}, temp_.path()});
  }

  // Serves the Remote Client module with the session `policy`.
  void serve(const std::string& policy = "client.localhost=*") {
    runtime_ = startRuntime(
        {.modules = {"path=selium_remote_client_server.wasm;entrypoint=start;" +
                     std::string(kServerCaps) + ";args=utf8:127.0.0.1,u16:0,utf8:" + policy},
         .log_level = "debug",
         .workers = 2,
         .exit_check = ExitCheck::AnyStatus});
    port_ = runtime_->waitListening();
    ASSERT_NE(port_, 0);
  }

  // "Started process N" -> N (0 if absent).
  static uint64_t startedPid(const std::string& out) {
    std::smatch m;
    if (!std::regex_search(out, m, std::regex("Started process ([0-9]+)"))) return 0;
    return std::stoull(m[1]);
  }

  uint64_t startSleeper(std::optional<fs::path> cert_dir = {}) {
    SubprocessResult r = cli({"start", "sleeper.wasm", "start", "-c", "TimeRead", "-a",
                              "u32:600000", "--log-uri", "sel://tests/sleeper"},
                             cert_dir);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return startedPid(r.out);
  }

  // A process that logs "tick" every 50 ms (its records all come after the log stream opened).
  uint64_t startTicker(std::optional<fs::path> cert_dir = {}) {
    SubprocessResult r =
        cli({"start", "ticker.wasm", "-c", "TimeRead", "-a", "u32:50", "-a", "utf8:t"}, cert_dir);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return startedPid(r.out);
  }

  // Follows pid's logs until a tick arrives, then interrupts: the tick line (empty if none).
  std::string followUntilTick(uint64_t pid, std::optional<fs::path> cert_dir = {}) {
    auto follower = cliAsync({"logs", std::to_string(pid), "--follow"}, cert_dir);
    auto line = follower->waitForLine(
        [](std::string_view l) { return l.find("tick n=") != std::string_view::npos; },
        kCliTimeout);
    follower->signal(SIGINT);
    SubprocessResult r = follower->wait(kCliTimeout);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return line.value_or("");
  }

  json listJson(std::optional<fs::path> cert_dir = {}) {
    SubprocessResult r = cli({"list", "--json"}, cert_dir);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    json parsed = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << r.out;
    return parsed;
  }

  static bool lists(const json& list, uint64_t pid) {
    if (!list.is_array()) return false;
    for (const auto& p : list) {
      if (p.value("id", uint64_t{0}) == pid) return true;
    }
    return false;
  }

  std::unique_ptr<RuntimeProcess> runtime_;
  uint16_t port_ = 0;
};

TEST_F(RemoteClientE2E, EveryProcessCommandThroughTheRealCli) {
  serve();

  SubprocessResult empty = cli({"list"});
  ASSERT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_THAT(empty.out, HasSubstr("ID"));
  EXPECT_THAT(empty.out, HasSubstr("STARTED-BY"));

  const uint64_t pid = startSleeper();
  ASSERT_NE(pid, 0u);

  SubprocessResult table = cli({"list"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out,
              ::testing::ContainsRegex(std::to_string(pid) + " +sleeper.wasm +running +[0-9]+m?s +"
                                                             "client.localhost"));
  json list = listJson();
  ASSERT_TRUE(list.is_array());
  // "*" sees every process of the runtime: the module itself (started by the runtime) too.
  ASSERT_EQ(list.size(), 2u) << list.dump();
  EXPECT_EQ(list[0]["module"], "selium_remote_client_server.wasm");
  EXPECT_EQ(list[0]["started_by"], "");
  EXPECT_EQ(list[1]["id"], pid);
  EXPECT_EQ(list[1]["module"], "sleeper.wasm");
  EXPECT_EQ(list[1]["entrypoint"], "start");
  EXPECT_EQ(list[1]["state"], "running");
  EXPECT_EQ(list[1]["started_by"], "client.localhost");
  EXPECT_EQ(list[1]["capabilities"], json::array({"TimeRead"}));
  EXPECT_EQ(list[1]["log_uri"], "sel://tests/sleeper");
  // It cannot be made to stop itself.
  SubprocessResult itself = cli({"stop", list[0]["id"].dump()});
  EXPECT_EQ(itself.exit_code, 1);
  EXPECT_THAT(itself.err, HasSubstr("the control plane itself"));

  SubprocessResult stop = cli({"stop", std::to_string(pid)});
  ASSERT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_EQ(stop.out, "Stopped process " + std::to_string(pid) + "\n");
  EXPECT_FALSE(lists(listJson(), pid));

  SubprocessResult again = cli({"stop", std::to_string(pid)});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("selium: error: stop process " + std::to_string(pid)));
  EXPECT_THAT(again.err, HasSubstr("no process " + std::to_string(pid)));

  SubprocessResult missing = cli({"logs", "999999"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("no process 999999"));

  SubprocessResult bad_module = cli({"start", "nope.wasm"});
  EXPECT_EQ(bad_module.exit_code, 1);
  EXPECT_THAT(bad_module.err, HasSubstr("cannot start nope.wasm"));

  SubprocessResult untyped = cli({"start", "sleeper.wasm", "-a", "600000"});
  EXPECT_EQ(untyped.exit_code, 2);
  EXPECT_THAT(untyped.err, HasSubstr("is missing a type"));
}

TEST_F(RemoteClientE2E, HelpVersionAndUsageErrorsNeedNoServer) {
  SubprocessResult help = runProcess(SubprocessOptions{{SELIUM_CLI_BIN, "--help"}, {}, {}});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("channel"));
  SubprocessResult start_help =
      runProcess(SubprocessOptions{{SELIUM_CLI_BIN, "start", "--help"}, {}, {}});
  EXPECT_EQ(start_help.exit_code, 0);
  EXPECT_THAT(start_help.out, HasSubstr("--attach"));
  SubprocessResult version = runProcess(SubprocessOptions{{SELIUM_CLI_BIN, "--version"}, {}, {}});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.out, ::testing::StartsWith("selium "));
  SubprocessResult usage = runProcess(SubprocessOptions{{SELIUM_CLI_BIN, "stop"}, {}, {}});
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_THAT(usage.err, HasSubstr("selium: error:"));
  // No server listening: exit 1 naming the server and what to check (no hang).
  SubprocessResult nobody =
      runProcess(SubprocessOptions{{SELIUM_CLI_BIN, "--server", "127.0.0.1:9", "--cert-dir",
                                    (work_ / "certs").string(), "--timeout", "2", "list"},
                                   {},
                                   {}});
  EXPECT_EQ(nobody.exit_code, 1);
  EXPECT_THAT(nobody.err, HasSubstr("cannot connect to 127.0.0.1:9"));
}

TEST_F(RemoteClientE2E, TypedArgumentsReachTheProcess) {
  serve();
  SubprocessResult r = cli({"start", "echo_args.wasm", "bytes", "-a", "string:hi there", "-a",
                            "buffer:hex:0102", "-a", "hex:ff"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(startedPid(r.out), 0u);
  json bytes = runtime_->waitForGuest("bytes");
  ASSERT_FALSE(bytes.is_null());
  EXPECT_EQ(bytes["utf8"], "hi there");
  EXPECT_EQ(bytes["buffer"], "0102");
  EXPECT_EQ(bytes["hex"], "ff");
  SubprocessResult ints = cli({"start", "echo_args.wasm", "ints", "-a", "i8:-8", "-a", "u8:8", "-a",
                               "I16:-16", "-a", "u16:16", "-a", "i32:-32", "-a", "u32:32", "-a",
                               "i64:-64", "-a", "u64:18446744073709551615"});
  ASSERT_EQ(ints.exit_code, 0) << ints.err;
  json values = runtime_->waitForGuest("ints");
  ASSERT_FALSE(values.is_null());
  EXPECT_EQ(values["i8"], -8);
  EXPECT_EQ(values["i64"], -64);
  EXPECT_EQ(values["u64"], UINT64_MAX);
  // A resource argument names a channel by its shared id: the process gets its own handle.
  SubprocessResult created = cli({"channel", "create"});
  std::smatch m;
  ASSERT_TRUE(std::regex_search(created.out, m, std::regex("Created channel ([0-9]+)")));
  SubprocessResult resource =
      cli({"start", "echo_args.wasm", "resource", "-a", "resource:" + std::string(m[1])});
  ASSERT_EQ(resource.exit_code, 0) << resource.err;
  json handle = runtime_->waitForGuest("resource");
  ASSERT_FALSE(handle.is_null());
  EXPECT_GT(handle["resource"].get<uint64_t>(), 0u);
  SubprocessResult unknown = cli({"start", "echo_args.wasm", "resource", "-a", "handle:12345"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("argument 1: no channel has shared id 12345"));
  // The runtime checks the entrypoint's signature: a wrong kind is refused with the reason.
  SubprocessResult mismatch = cli({"start", "echo_args.wasm", "bytes", "-a", "u32:1"});
  EXPECT_EQ(mismatch.exit_code, 1);
  EXPECT_THAT(mismatch.err, HasSubstr("cannot start echo_args.wasm"));
}

TEST_F(RemoteClientE2E, LogsPrintsHeldRecordsAndFollowingEndsWithTheProcess) {
  serve();
  const uint64_t pid = startTicker();
  ASSERT_NE(pid, 0u);
  auto follower = cliAsync({"logs", std::to_string(pid), "--follow"});
  ASSERT_TRUE(
      follower
          ->waitForLine([](std::string_view l) { return l.find("tick n=") != l.npos; }, kCliTimeout)
          .has_value());
  // Without --follow: the records held now, then it ends.
  SubprocessResult held = cli({"logs", std::to_string(pid)});
  ASSERT_EQ(held.exit_code, 0) << held.err;
  EXPECT_THAT(held.out, HasSubstr("[INFO] ticker: tick n="));
  EXPECT_THAT(held.out, HasSubstr("label=t"));
  // Stopping the process ends the follower's stream: it exits 0 on its own.
  ASSERT_EQ(cli({"stop", std::to_string(pid)}).exit_code, 0);
  SubprocessResult followed = follower->wait(kCliTimeout);
  EXPECT_FALSE(followed.timed_out);
  EXPECT_EQ(followed.exit_code, 0) << followed.err;
}

TEST_F(RemoteClientE2E, CtrlCDetachesFromAnAttachedProcessWhichKeepsRunning) {
  serve();
  auto attached = cliAsync({"start", "ticker.wasm", "-c", "TimeRead", "-a", "u32:50", "-a",
                            "utf8:attached", "--attach"});
  auto tick = attached->waitForLine(
      [](std::string_view line) { return line.find("tick n=") != std::string_view::npos; },
      kCliTimeout);
  ASSERT_TRUE(tick.has_value());
  // The stream starts before the process runs: the first record is there.
  EXPECT_THAT(*tick, HasSubstr("[INFO] ticker: tick n=1 "));
  EXPECT_THAT(*tick, HasSubstr("label=attached"));
  attached->signal(SIGINT);
  SubprocessResult r = attached->wait(kCliTimeout);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const uint64_t pid = startedPid(r.out);
  ASSERT_NE(pid, 0u) << r.out;
  EXPECT_THAT(r.err, HasSubstr("Detached from process " + std::to_string(pid)));
  EXPECT_TRUE(lists(listJson(), pid));
  EXPECT_EQ(cli({"stop", std::to_string(pid)}).exit_code, 0);
}

TEST_F(RemoteClientE2E, ChannelsCreatePublishSubscribeDelete) {
  serve();
  SubprocessResult created = cli({"channel", "create", "--capacity", "4096"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(created.out, m, std::regex("Created channel ([0-9]+)")));
  const std::string id = m[1];

  auto subscriber = cliAsync({"channel", "subscribe", id, "--count", "3"});
  SubprocessResult published = cli({"channel", "publish", id, "one", "two", "three"});
  ASSERT_EQ(published.exit_code, 0) << published.err;
  EXPECT_EQ(published.out, "Published 3 frames to channel " + id + "\n");
  SubprocessResult received = subscriber->wait(kCliTimeout);
  ASSERT_EQ(received.exit_code, 0) << received.err;
  EXPECT_EQ(received.out, "one\ntwo\nthree\n");

  // stdin, one frame per line (a fresh channel: a new reader starts at the oldest frame held).
  SubprocessResult created2 = cli({"channel", "create"});
  ASSERT_TRUE(std::regex_search(created2.out, m, std::regex("Created channel ([0-9]+)")));
  const std::string id2 = m[1];
  auto second = cliAsync({"channel", "subscribe", id2, "--count", "2"});
  SubprocessResult from_stdin = runProcess(
      SubprocessOptions{{"/bin/sh", "-c",
                         "printf 'from stdin\\nline two\\n' | \"$0\" --server 127.0.0.1:" +
                             std::to_string(port_) + " --cert-dir \"$1\" channel publish " + id2,
                         SELIUM_CLI_BIN, (work_ / "certs").string()},
                        {},
                        temp_.path()},
      kCliTimeout);
  EXPECT_EQ(from_stdin.exit_code, 0) << from_stdin.err;
  EXPECT_EQ(from_stdin.out, "Published 2 frames to channel " + id2 + "\n");
  SubprocessResult second_out = second->wait(kCliTimeout);
  EXPECT_EQ(second_out.out, "from stdin\nline two\n") << second_out.err;
  EXPECT_EQ(cli({"channel", "delete", id2}).exit_code, 0);

  SubprocessResult deleted = cli({"channel", "delete", id});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_EQ(deleted.out, "Deleted channel " + id + "\n");
  SubprocessResult gone = cli({"channel", "subscribe", id});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_THAT(gone.err, HasSubstr("no channel has shared id " + id));
  SubprocessResult twice = cli({"channel", "delete", id});
  EXPECT_EQ(twice.exit_code, 1);
  EXPECT_THAT(twice.err, HasSubstr("no channel " + id));
}

TEST_F(RemoteClientE2E, ClientsWithoutACertificateOrWithAForeignOneAreRefusedInTheHandshake) {
  serve();
  // Only the CA: the server requires a client certificate.
  const fs::path no_cert = temp_.path() / "no-cert";
  fs::create_directories(no_cert);
  fs::copy_file(work_ / "certs" / "ca.crt", no_cert / "ca.crt");
  SubprocessResult refused = cli({"list"}, no_cert);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("selium: error: connect: cannot connect to 127.0.0.1:"));
  EXPECT_THAT(refused.err, HasSubstr("requires a client certificate"));

  // A client certificate another CA signed (the server's CA is trusted, so only the client side
  // is foreign).
  const fs::path foreign = temp_.path() / "foreign";
  generateCerts(foreign / "all");
  fs::create_directories(foreign / "mixed");
  fs::copy_file(work_ / "certs" / "ca.crt", foreign / "mixed" / "ca.crt");
  fs::copy_file(foreign / "all" / "client.crt", foreign / "mixed" / "client.crt");
  fs::copy_file(foreign / "all" / "client.key", foreign / "mixed" / "client.key");
  SubprocessResult foreign_run = cli({"start", "sleeper.wasm", "-a", "u32:1"}, foreign / "mixed");
  EXPECT_EQ(foreign_run.exit_code, 1);
  EXPECT_THAT(foreign_run.err, HasSubstr("cannot connect"));

  // Neither reached the module: it saw no connection, and still serves a proper client.
  EXPECT_TRUE(runtime_->guestRecords("client connected").empty());
  EXPECT_EQ(cli({"list"}).exit_code, 0);
  EXPECT_EQ(runtime_->guestRecords("client connected").size(), 1u);
}

TEST_F(RemoteClientE2E, SessionsLimitCapabilitiesAndWhatAClientSeesAndStops) {
  serve(
      "client.localhost=ProcessLifecycle+TimeRead viewer=all-processes "
      "deployer=ProcessLifecycle+TimeRead");
  const fs::path viewer = clientCertDir("viewer");
  const fs::path deployer = clientCertDir("deployer");
  const fs::path stranger = clientCertDir("stranger");

  // A capability outside the session is refused before anything starts.
  SubprocessResult widened =
      cli({"start", "sleeper.wasm", "-c", "TimeRead", "-c", "NetQuicBind", "-a", "u32:600000"});
  EXPECT_EQ(widened.exit_code, 1);
  EXPECT_THAT(widened.err, HasSubstr("may not grant capability NetQuicBind"));
  EXPECT_TRUE(listJson().empty());

  const uint64_t mine = startSleeper();
  ASSERT_NE(mine, 0u);
  const uint64_t theirs = startTicker(deployer);
  ASSERT_NE(theirs, 0u);

  // Each sees its own; the viewer sees both but may stop neither.
  json own = listJson();
  EXPECT_TRUE(lists(own, mine));
  EXPECT_FALSE(lists(own, theirs));
  json all = listJson(viewer);
  EXPECT_TRUE(lists(all, mine));
  EXPECT_TRUE(lists(all, theirs));
  SubprocessResult viewer_stop = cli({"stop", std::to_string(mine)}, viewer);
  EXPECT_EQ(viewer_stop.exit_code, 1);
  EXPECT_THAT(viewer_stop.err, HasSubstr("lacks ProcessLifecycle"));
  SubprocessResult cross_stop = cli({"stop", std::to_string(theirs)});
  EXPECT_EQ(cross_stop.exit_code, 1);
  EXPECT_THAT(cross_stop.err, HasSubstr("process " + std::to_string(theirs) +
                                        " is not one client \"client.localhost\" may see"));
  EXPECT_THAT(followUntilTick(theirs, viewer), HasSubstr("tick n="));
  SubprocessResult viewer_channel = cli({"channel", "create"}, viewer);
  EXPECT_EQ(viewer_channel.exit_code, 1);
  EXPECT_THAT(viewer_channel.err, HasSubstr("lacks ChannelLifecycle"));

  // A client the CA signed but the policy does not name has no session.
  SubprocessResult strange = cli({"list"}, stranger);
  EXPECT_EQ(strange.exit_code, 1);
  EXPECT_THAT(strange.err, HasSubstr("client \"stranger\" has no session"));

  EXPECT_TRUE(lists(listJson(viewer), theirs));
  EXPECT_EQ(cli({"stop", std::to_string(theirs)}, deployer).exit_code, 0);
  EXPECT_EQ(cli({"stop", std::to_string(mine)}).exit_code, 0);
}

// Without SessionLifecycle (it gives each client a session) the module refuses to serve, and a
// policy it cannot read is refused naming the entry: each says so and ends with status 1.
TEST_F(RemoteClientE2E, TheModuleRefusesToServeWithoutSessionLifecycleOrWithABadPolicy) {
  std::string without_sessions(kServerCaps);
  without_sessions.replace(without_sessions.find("SessionLifecycle,"), 17, "");
  runtime_ = startRuntime(
      {.modules = {"path=selium_remote_client_server.wasm;entrypoint=start;" + without_sessions +
                       ";args=utf8:127.0.0.1,u16:0,utf8:client.localhost=*",
                   "path=selium_remote_client_server.wasm;entrypoint=start;" +
                       std::string(kServerCaps) +
                       ";args=utf8:127.0.0.1,u16:0,utf8:client.localhost=NoSuchCapability"},
       .exit_check = ExitCheck::AnyStatus});
  json missing = runtime_->waitForGuest("missing capability");
  ASSERT_FALSE(missing.is_null());
  EXPECT_THAT(missing["error"].get<std::string>(), HasSubstr("the module needs SessionLifecycle"));
  json bad = runtime_->waitForGuest("bad policy");
  ASSERT_FALSE(bad.is_null());
  EXPECT_THAT(bad["error"].get<std::string>(), HasSubstr("NoSuchCapability"));
  json exited = runtime_->waitForRecord("process exited");
  ASSERT_FALSE(exited.is_null());
  EXPECT_EQ(exited["status"], 1) << exited.dump();
  EXPECT_TRUE(runtime_->guestRecords("listening").empty());
}

TEST_F(RemoteClientE2E, ManyConcurrentClients) {
  serve();
  constexpr int kClients = 12;
  std::vector<std::unique_ptr<Subprocess>> running;
  for (int i = 0; i < kClients; ++i) {
    if (i % 2 == 0) {
      running.push_back(cliAsync({"start", "sleeper.wasm", "-c", "TimeRead", "-a", "u32:600000"}));
    } else {
      running.push_back(cliAsync({"list", "--json"}));
    }
  }
  std::vector<uint64_t> pids;
  for (int i = 0; i < kClients; ++i) {
    SubprocessResult r = running[i]->wait(kCliTimeout);
    ASSERT_EQ(r.exit_code, 0) << i << ": " << r.err;
    if (i % 2 == 0) pids.push_back(startedPid(r.out));
  }
  json list = listJson();
  for (uint64_t pid : pids) EXPECT_TRUE(lists(list, pid)) << pid;
  EXPECT_EQ(list.size(), pids.size() + 1);  // and the module itself
}

TEST_F(RemoteClientE2E, AClientKilledMidStreamLeavesTheServerServing) {
  serve();
  const uint64_t pid = startTicker();
  ASSERT_NE(pid, 0u);
  SubprocessResult created = cli({"channel", "create"});
  std::smatch m;
  ASSERT_TRUE(std::regex_search(created.out, m, std::regex("Created channel ([0-9]+)")));
  const std::string channel = m[1];

  for (int round = 0; round < 3; ++round) {
    auto follower = cliAsync({"logs", std::to_string(pid), "--follow"});
    ASSERT_TRUE(follower
                    ->waitForLine([](std::string_view l) { return l.find("tick n=") != l.npos; },
                                  kCliTimeout)
                    .has_value());
    auto subscriber = cliAsync({"channel", "subscribe", channel});
    follower->signal(SIGKILL);
    subscriber->signal(SIGKILL);
    EXPECT_EQ(follower->wait(kCliTimeout).term_signal, SIGKILL);
    EXPECT_EQ(subscriber->wait(kCliTimeout).term_signal, SIGKILL);
    // The server answers the next clients at once.
    EXPECT_EQ(cli({"channel", "publish", channel, "after-kill"}).exit_code, 0);
    EXPECT_TRUE(lists(listJson(), pid));
  }
  EXPECT_EQ(cli({"stop", std::to_string(pid)}).exit_code, 0);
  SubprocessResult logs_of_stopped = cli({"logs", std::to_string(pid)});
  EXPECT_EQ(logs_of_stopped.exit_code, 1);
}

// The server's defences against a misbehaving client, through the CLI's own client library: every
// malformed request gets an error reply (never silence), oversized frames are refused before
// their bytes are read, and one connection carries many requests at once.
TEST_F(RemoteClientE2E, MalformedRequestsGetErrorRepliesAndOneConnectionCarriesManyRequests) {
  serve();
  auto connected = cli::Client::connect({"127.0.0.1", port_, work_ / "certs", 30s});
  ASSERT_TRUE(connected.ok()) << connected.error();
  cli::Client& client = **connected;
  auto errorOf = [&](std::vector<uint8_t> bytes, bool keep_open = false) -> std::string {
    auto call = client.openRaw(bytes, keep_open);
    if (!call) return "open failed: " + call.error();
    auto response = client.response(**call, 30s);
    if (!response) return "no response: " + response.error();
    const auto* error = std::get_if<control::ErrorResponse>(&response->body);
    return error != nullptr ? error->message : "(not an error)";
  };
  const std::vector<uint8_t> garbage = {'n', 'o', 't', ' ', 'a', ' ', 'r', 'e',
                                        'q', 'u', 'e', 's', 't', '!', '!', '!'};
  EXPECT_THAT(errorOf(control::frame(garbage)), HasSubstr("bad request: the request is not a "
                                                          "control message"));
  // 2 MiB announced: refused from the prefix alone (the bytes never need to arrive).
  EXPECT_THAT(errorOf({0, 0, 0x20, 0}, /*keep_open=*/true),
              HasSubstr("a frame announces 2097152 bytes; at most 1048576"));
  // FIN inside a frame.
  EXPECT_THAT(errorOf({10, 0, 0, 0, 1, 2}), HasSubstr("the stream ended inside a frame"));
  // A bad field: named, and the reply carries the request id.
  control::StartRequest bad;
  bad.module = "sleeper.wasm";
  bad.capabilities = {999};
  auto call = client.openRaw(control::frame(control::encodeRequest({77, bad})), false);
  ASSERT_TRUE(call.ok());
  auto response = client.response(**call, 30s);
  ASSERT_TRUE(response.ok()) << response.error();
  EXPECT_EQ(response->request_id, 77u);
  ASSERT_NE(std::get_if<control::ErrorResponse>(&response->body), nullptr);
  EXPECT_THAT(std::get<control::ErrorResponse>(response->body).message,
              HasSubstr("999 is not a capability"));

  // A stream that never completes its request is answered (and closed) after 10 s.
  EXPECT_THAT(errorOf({5, 0}, /*keep_open=*/true), HasSubstr("no request arrived within 5 s"));

  // Sixteen requests in flight at once on the one connection, each answered on its own stream.
  std::vector<std::shared_ptr<cli::Call>> calls;
  for (int i = 0; i < 16; ++i) {
    auto c = client.open({0, control::ListRequest{}}, false);
    ASSERT_TRUE(c.ok()) << i << ": " << c.error();
    calls.push_back(*c);
  }
  for (auto& c : calls) {
    auto r = client.response(*c, 30s);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_NE(std::get_if<control::ListResponse>(&r->body), nullptr);
  }
  // The server still serves other clients normally.
  EXPECT_EQ(cli({"list"}).exit_code, 0);
}

}  // namespace
}  // namespace selium::testing
