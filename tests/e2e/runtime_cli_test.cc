// End-to-end tests of the selium-runtime binary: flags, env vars, dry runs, certificates,
// log formats and signal handling, observed through its exit code and output.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "subprocess.h"
#include "support/memory_usage.h"
#include "support/temp_dir.h"

namespace selium::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

class RuntimeE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_.path();
    work_ = dir_ / "work";
    fs::create_directories(work_ / "modules");
  }

  // Copies guest `guest` (default: dev_null.wasm, entrypoint start()) to modules/<path>.
  void addModule(const std::string& path, const std::string& guest = "dev_null.wasm") {
    fs::create_directories((work_ / "modules" / path).parent_path());
    fs::copy_file(fs::path(SELIUM_GUEST_DIR) / guest, work_ / "modules" / path,
                  fs::copy_options::overwrite_existing);
  }

  // Starts the runtime and waits for "runtime ready".
  std::unique_ptr<Subprocess> startRuntime(std::vector<std::string> args,
                                           std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), SELIUM_RUNTIME_BIN);
    auto p = std::make_unique<Subprocess>(SubprocessOptions{args, env, dir_});
    auto ready = p->waitForLine(
        [](std::string_view line) { return line.find("runtime ready") != std::string_view::npos; },
        30s);
    EXPECT_TRUE(ready.has_value()) << "runtime never became ready";
    p->rewind();  // guests log during start-up, before "runtime ready"
    return p;
  }

  SubprocessResult run(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), SELIUM_RUNTIME_BIN);
    return runProcess({args, env, dir_}, 60s);
  }

  static std::string fileBytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }

  TempDir temp_{"e2e"};
  fs::path dir_;
  fs::path work_;
};

TEST_F(RuntimeE2E, HelpDescribesFlagsEnvAndCapabilities) {
  auto r = run({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(
      r.out,
      AllOf(HasSubstr("-w,--work-dir"), HasSubstr("SELIUM_WORK_DIR"), HasSubstr("--module"),
            HasSubstr("--log-format"), HasSubstr("SELIUM_LOG_FORMAT"), HasSubstr("--log-level"),
            HasSubstr("SELIUM_LOG"), HasSubstr("--dry-run"), HasSubstr("generate-certs"),
            HasSubstr("NetHttpsWrite"), HasSubstr("TimeRead"), HasSubstr("Exit codes")));
  EXPECT_EQ(r.err, "");
}

TEST_F(RuntimeE2E, GenerateCertsHelpListsItsOptions) {
  auto r = run({"generate-certs", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out,
              AllOf(HasSubstr("--output-dir"), HasSubstr("--ca-common-name"),
                    HasSubstr("--server-name"), HasSubstr("--client-name"), HasSubstr("--force"),
                    HasSubstr("Selium Local CA"), HasSubstr("client.localhost")));
}

TEST_F(RuntimeE2E, VersionNamesRuntimeAndEngine) {
  auto r = run({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("selium-runtime 0.1.0 (V8 10.2."));
}

TEST_F(RuntimeE2E, UnknownFlagIsUsageErrorOnStderr) {
  auto r = run({"--bogus"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("--bogus"), HasSubstr("--help")));
  EXPECT_EQ(r.out, "");
}

TEST_F(RuntimeE2E, BadFlagValuesAreUsageErrors) {
  auto format = run({"--log-format", "xml"});
  EXPECT_EQ(format.exit_code, 2);
  EXPECT_THAT(format.err, HasSubstr("xml"));
  auto level = run({"--log-level", "info,selium.guest=loud"});
  EXPECT_EQ(level.exit_code, 2);
  EXPECT_THAT(level.err, HasSubstr("unknown level \"loud\""));
  auto env_level = run({}, {{"SELIUM_LOG", "chatty"}});
  EXPECT_EQ(env_level.exit_code, 2);
  EXPECT_THAT(env_level.err, HasSubstr("chatty"));
  auto memory = run({"--max-memory", "lots"});
  EXPECT_EQ(memory.exit_code, 2);
  EXPECT_THAT(memory.err, HasSubstr("--max-memory \"lots\": expected a size from 64KiB to 4GiB"));
  auto slice = run({"--max-slice", "-5"});
  EXPECT_EQ(slice.exit_code, 2);
  auto missing_value = run({"--module"});
  EXPECT_EQ(missing_value.exit_code, 2);
  EXPECT_THAT(missing_value.err, HasSubstr("--module"));
}

TEST_F(RuntimeE2E, DryRunAcceptsTheProductDocExamples) {
  addModule("myproj/waf.wasm", "waf.wasm");
  addModule("dev_null.wasm");
  auto r = run({"--dry-run", "-w", work_.string(), "--module",
                "path=myproj/waf.wasm;entrypoint=init;capabilities=NetHttpsAccept,NetHttpsRead;"
                "params=utf8,u16;args=localhost,7000",
                "--module", "path=dev_null.wasm;capabilities="});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out,
              AllOf(HasSubstr("module spec ok spec=1 module=myproj/waf.wasm entrypoint=init"),
                    HasSubstr("module spec ok spec=2 module=dev_null.wasm"),
                    HasSubstr("dry run: configuration is valid")));
}

TEST_F(RuntimeE2E, ProductDocExamplesRun) {
  addModule("myproj/waf.wasm", "waf.wasm");
  addModule("dev_null.wasm");
  auto p = startRuntime({"-w", work_.string(), "--module",
                         "path=myproj/waf.wasm;entrypoint=init;capabilities=NetHttpsAccept,"
                         "NetHttpsRead;params=utf8,u16;args=localhost,7000",
                         "--module", "path=dev_null.wasm;capabilities="});
  auto waf = p->waitForLine(
      [](std::string_view l) {
        return l.find("module=myproj/waf.wasm") != std::string_view::npos &&
               l.find("selium.guest") != std::string_view::npos;
      },
      30s);
  ASSERT_TRUE(waf.has_value());
  EXPECT_THAT(*waf, AllOf(HasSubstr("host=localhost"), HasSubstr("port=7000")));
  p->rewind();  // the two modules run concurrently: dev_null may have ended first
  auto dev_null = p->waitForLine(
      [](std::string_view l) {
        return l.find("process exited") != std::string_view::npos &&
               l.find("module=dev_null.wasm") != std::string_view::npos;
      },
      30s);
  ASSERT_TRUE(dev_null.has_value());
  EXPECT_THAT(*dev_null, AllOf(HasSubstr("reason=normal"), HasSubstr("status=0")));
  p->signal(SIGTERM);
  auto r = p->wait(30s);
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

TEST_F(RuntimeE2E, MinerExampleNeedsItsSharedResourceToExist) {
  addModule("miner.wasm", "miner.wasm");
  auto r = run({"-w", work_.string(), "--module",
                "path=miner.wasm;capabilities=ChannelLifecycle,ChannelWriter;args=resource:14;"
                "log_uri=sel://miner/logs"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("argument resource:14 does not exist: no resource has been shared "
                               "under that id"));
}

TEST_F(RuntimeE2E, DryRunChecksEntrypointSignatures) {
  addModule("a.wasm");
  auto r = run({"--dry-run", "-w", work_.string(), "--module",
                "path=a.wasm;entrypoint=begin;capabilities=", "--module",
                "path=a.wasm;capabilities=;args=u8:1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, AllOf(HasSubstr(R"(a.wasm has no export \"begin\")"),
                           HasSubstr("has signature () -> (), but the spec's params (u8) need "
                                     "(i32) -> ()")));
}

TEST_F(RuntimeE2E, GuestLogsAppearWithGuestTargetInText) {
  addModule("hello.wasm", "hello.wasm");
  auto p = startRuntime(
      {"-w", work_.string(), "--module", "path=hello.wasm;capabilities=;log_uri=sel://hello/logs"});
  auto line = p->waitForLine(
      [](std::string_view l) { return l.find(" selium.guest: ") != std::string_view::npos; }, 30s);
  ASSERT_TRUE(line.has_value());
  EXPECT_THAT(*line, AllOf(HasSubstr(" INFO selium.guest: hello from Selium"), HasSubstr("pid="),
                           HasSubstr("module=hello.wasm")));
  // The guest reads its log_uri through the hostcall and logs it (it may still be running
  // when "runtime ready" is printed, so wait for the record rather than the exit).
  auto about = p->waitForLine(
      [](std::string_view l) { return l.find("about me") != std::string_view::npos; }, 30s);
  ASSERT_TRUE(about.has_value());
  EXPECT_THAT(*about, HasSubstr("log_uri=sel://hello/logs"));
  p->signal(SIGTERM);
  auto r = p->wait(30s);
  EXPECT_EQ(r.exit_code, 0);
}

TEST_F(RuntimeE2E, GuestLogsAppearWithGuestTargetInJson) {
  addModule("hello.wasm", "hello.wasm");
  auto p = startRuntime(
      {"-w", work_.string(), "--log-format", "json", "--module", "path=hello.wasm;capabilities="});
  auto line = p->waitForLine(
      [](std::string_view l) { return l.find("\"selium.guest\"") != std::string_view::npos; }, 30s);
  ASSERT_TRUE(line.has_value());
  auto json = nlohmann::json::parse(*line);
  EXPECT_EQ(json["target"], "selium.guest");
  EXPECT_EQ(json["message"], "hello from Selium");
  EXPECT_EQ(json["fields"]["module"], "hello.wasm");
  EXPECT_TRUE(json["fields"]["pid"].is_number());
  p->signal(SIGTERM);
  EXPECT_EQ(p->wait(30s).exit_code, 0);
}

TEST_F(RuntimeE2E, SigtermStopsAGuestLoopingForever) {
  addModule("traps.wasm", "traps.wasm");
  auto p = startRuntime({"-w", work_.string(), "--shutdown-timeout", "5", "--module",
                         "path=traps.wasm;entrypoint=loop_forever;capabilities="});
  p->signal(SIGTERM);
  auto r = p->wait(20s);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, AllOf(HasSubstr("process exited"), HasSubstr("reason=terminated"),
                           HasSubstr("runtime stopped")));
}

// With one worker, a guest that never yields keeps the specs after it from starting: the
// runtime says so while it happens, naming the process, instead of only once it is stopped.
TEST_F(RuntimeE2E, WarnsWhileAGuestHoldsItsWorkerNamingIt) {
  addModule("traps.wasm", "traps.wasm");
  addModule("dev_null.wasm");
  // Not startRuntime: the runtime never becomes ready, the second spec waits for the worker.
  auto p = std::make_unique<Subprocess>(SubprocessOptions{
      {SELIUM_RUNTIME_BIN, "-w", work_.string(), "--workers", "1", "--shutdown-timeout", "5",
       "--module", "path=traps.wasm;entrypoint=loop_forever;capabilities=", "--module",
       "path=dev_null.wasm;capabilities="},
      {},
      dir_});
  auto warning = p->waitForLine(
      [](std::string_view line) {
        return line.find("guest call is holding its worker") != std::string_view::npos;
      },
      30s);
  ASSERT_TRUE(warning.has_value());
  EXPECT_THAT(*warning, AllOf(HasSubstr(" WARN selium.runtime: "), HasSubstr("pid=1"),
                              HasSubstr("module=traps.wasm"), HasSubstr("worker=0")));
  p->signal(SIGTERM);
  auto r = p->wait(20s);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

TEST_F(RuntimeE2E, ModuleThatFailsToLoadStopsStartup) {
  addModule("ok.wasm");
  addModule("bad.wasm", "unknown_import.wasm");
  auto r = run({"-w", work_.string(), "--module", "path=ok.wasm;capabilities=", "--module",
                "path=bad.wasm;capabilities="});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, AllOf(HasSubstr("module cannot start"), HasSubstr("selium.no_such_call"),
                           Not(HasSubstr("runtime ready"))));
}

TEST_F(RuntimeE2E, DryRunListsEveryErrorOfEverySpec) {
  addModule("ok.wasm");
  auto r = run({"--dry-run", "-w", work_.string(), "--module",
                "path=ok.wasm;capabilities=TimeRaed;args=u8:300", "--module",
                "path=missing.wasm;capabilities=", "--module", "path=../x.wasm"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out,
              AllOf(HasSubstr("--module #1: capabilities \\\"TimeRaed\\\": unknown capability; "
                              "did you mean TimeRead?"),
                    HasSubstr("--module #1: args \\\"u8:300\\\": argument 1 (u8): out of range"),
                    HasSubstr("--module #2: path \\\"missing.wasm\\\": module file not found"),
                    HasSubstr("--module #3: path \\\"../x.wasm\\\": module path must not contain"),
                    HasSubstr("--module #3: capabilities: required key is missing"),
                    HasSubstr("configuration has problems; nothing was started problems=5")));
}

TEST_F(RuntimeE2E, SpecMistakesSayWhatToDo) {
  auto r = run({"--dry-run", "-w", work_.string(), "--module",
                "path=/home/me/app.wasm;capabilities=", "--module",
                "path=../build/app.wasm;capabilities=", "--module",
                "path=a.wasm;capabilities=;args=7000,-3,1.5,0x00ff,localhost"});
  EXPECT_EQ(r.exit_code, 1);
  std::string modules = (work_ / "modules").string() + "/";
  EXPECT_THAT(
      r.out,
      AllOf(HasSubstr("--module #1: path \\\"/home/me/app.wasm\\\": module path must be relative "
                      "to the work dir's modules/ folder; copy the file into " +
                      modules + " and write path=app.wasm"),
            HasSubstr("--module #2: path \\\"../build/app.wasm\\\": module path must not contain "
                      "\\\"..\\\" segments; copy the file into " +
                      modules + " and write path=app.wasm"),
            HasSubstr("argument 1 is missing a type: give params, or prefix the value with its "
                      "kind, e.g. u16:7000 or u32:7000"),
            HasSubstr("argument 2 is missing a type: give params, or prefix the value with its "
                      "kind, e.g. i32:-3"),
            HasSubstr("argument 3 is missing a type: give params, or prefix the value with its "
                      "kind, e.g. f64:1.5"),
            HasSubstr("argument 4 is missing a type: give params, or prefix the value with its "
                      "kind, e.g. hex:0x00ff"),
            HasSubstr("argument 5 is missing a type: give params, or prefix the value with its "
                      "kind, e.g. utf8:localhost")));
}

TEST_F(RuntimeE2E, ModuleMistakesSayWhatToDo) {
  addModule("a.wasm");
  addModule("sig.wasm", "signatures.wasm");
  addModule("no_alloc.wasm", "no_alloc.wasm");
  auto typo = run({"--dry-run", "-w", work_.string(), "--module",
                   "path=a.wasm;entrypoint=strat;capabilities="});
  EXPECT_EQ(typo.exit_code, 1);
  EXPECT_THAT(typo.out, HasSubstr(R"(a.wasm has no export \"strat\"; did you mean \"start\"? )"
                                  R"(The functions it exports to start are: start")"));
  auto no_args = run({"--dry-run", "-w", work_.string(), "--module",
                      "path=sig.wasm;entrypoint=takes_i32;capabilities="});
  EXPECT_EQ(no_args.exit_code, 1);
  EXPECT_THAT(no_args.out,
              HasSubstr(R"(sig.wasm: entrypoint \"takes_i32\" has signature (i32) -> (), but the )"
                        "spec gives no args; add params=i32 and args= with one value each (a "
                        "utf8, buffer or hex param takes two i32s, pointer and length)"));
  auto alloc = run({"--dry-run", "-w", work_.string(), "--module",
                    "path=no_alloc.wasm;entrypoint=takes_utf8;capabilities=;args=utf8:hi"});
  EXPECT_EQ(alloc.exit_code, 1);
  EXPECT_THAT(alloc.out, HasSubstr("no_alloc.wasm: byte and string arguments need an exported "
                                   "allocator, which it lacks; link the guest SDK "
                                   "(selium_add_guest in sdk/cmake/SeliumGuest.cmake) or export "
                                   "one with the signature `selium_alloc(size: i32, align: i32) "
                                   "-> i32`"));
}

TEST_F(RuntimeE2E, DeniedHostcallWarningSaysHowToGrantTheCapability) {
  addModule("cap_denied.wasm", "cap_denied.wasm");
  auto p = startRuntime({"-w", work_.string(), "--module", "path=cap_denied.wasm;capabilities="});
  auto line = p->waitForLine(
      [](std::string_view l) { return l.find("hostcall denied") != std::string_view::npos; }, 30s);
  ASSERT_TRUE(line.has_value());
  EXPECT_THAT(*line, HasSubstr(" WARN selium.runtime: hostcall denied: time_now needs capability "
                               "TimeRead; grant it in the module's spec with "
                               "capabilities=TimeRead (comma-separated with any others) pid="));
  p->signal(SIGTERM);
  EXPECT_EQ(p->wait(30s).exit_code, 0);
}

TEST_F(RuntimeE2E, MissingWorkDirOrModulesFolderIsAClearError) {
  auto no_dir = run({"--dry-run", "-w", (dir_ / "nowhere").string()});
  EXPECT_EQ(no_dir.exit_code, 1);
  EXPECT_THAT(no_dir.out, HasSubstr("does not exist (set --work-dir or SELIUM_WORK_DIR)"));
  fs::create_directories(dir_ / "empty");
  auto no_modules = run({"-w", (dir_ / "empty").string()});
  EXPECT_EQ(no_modules.exit_code, 1);
  EXPECT_THAT(no_modules.out, HasSubstr("has no modules/ folder"));
}

TEST_F(RuntimeE2E, WorkDirComesFromEnvAndFlagWins) {
  addModule("a.wasm");
  auto from_env = run({"--dry-run", "--module", "path=a.wasm;capabilities="},
                      {{"SELIUM_WORK_DIR", work_.string()}});
  EXPECT_EQ(from_env.exit_code, 0) << from_env.out;
  EXPECT_THAT(from_env.out, HasSubstr("work_dir=" + work_.string()));
  auto flag_wins =
      run({"--dry-run", "-w", (dir_ / "nowhere").string()}, {{"SELIUM_WORK_DIR", work_.string()}});
  EXPECT_EQ(flag_wins.exit_code, 1);
  // Default is the current directory: dir_ has no modules/.
  auto default_dir = run({"--dry-run"});
  EXPECT_EQ(default_dir.exit_code, 1);
  EXPECT_THAT(default_dir.out, HasSubstr("has no modules/ folder"));
}

TEST_F(RuntimeE2E, JsonLogLinesParse) {
  addModule("a.wasm");
  auto r = run({"--dry-run", "-w", work_.string(), "--module", "path=a.wasm;capabilities=TimeRead"},
               {{"SELIUM_LOG_FORMAT", "json"}});
  EXPECT_EQ(r.exit_code, 0);
  auto lines = r.outLines();
  ASSERT_GE(lines.size(), 2u);
  for (const auto& line : lines) {
    auto json = nlohmann::json::parse(line);  // throws (fails the test) on a bad line
    EXPECT_TRUE(json["timestamp"].is_string());
    EXPECT_THAT(json["timestamp"].get<std::string>(),
                ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{6}Z"));
    EXPECT_EQ(json["target"], "selium.runtime");
    EXPECT_TRUE(json["fields"].is_object());
  }
  auto first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["level"], "INFO");
  EXPECT_EQ(first["message"], "module spec ok");
  EXPECT_EQ(first["fields"]["module"], "a.wasm");
  EXPECT_EQ(first["fields"]["spec"], 1);
}

TEST_F(RuntimeE2E, LogFormatFlagOverridesEnv) {
  addModule("a.wasm");
  auto r = run({"--dry-run", "--log-format", "text", "-w", work_.string(), "--module",
                "path=a.wasm;capabilities="},
               {{"SELIUM_LOG_FORMAT", "json"}});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, AllOf(HasSubstr(" INFO selium.runtime: module spec ok"), Not(HasSubstr("{"))));
}

TEST_F(RuntimeE2E, LogLevelFilterHidesInfo) {
  addModule("a.wasm");
  auto quiet = run({"--dry-run", "-w", work_.string(), "--module", "path=a.wasm;capabilities="},
                   {{"SELIUM_LOG", "warn"}});
  EXPECT_EQ(quiet.exit_code, 0);
  EXPECT_EQ(quiet.out, "");
  auto targeted = run({"--dry-run", "--log-level", "off,selium.runtime=info", "-w", work_.string(),
                       "--module", "path=a.wasm;capabilities="});
  EXPECT_THAT(targeted.out, HasSubstr("dry run: configuration is valid"));
}

TEST_F(RuntimeE2E, GenerateCertsWritesFilesAndRefusesToOverwrite) {
  auto r = run({"generate-certs", "--output-dir", "out/certs"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const char* name :
       {"ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key"}) {
    fs::path file = dir_ / "out/certs" / name;
    ASSERT_TRUE(fs::exists(file)) << name;
    EXPECT_THAT(r.out,
                HasSubstr(std::string("wrote certificate file path=") + "out/certs/" + name));
    if (std::string_view(name).ends_with(".key")) {
      struct stat st {};
      ASSERT_EQ(stat(file.c_str(), &st), 0);
      EXPECT_EQ(st.st_mode & 0777, 0600u) << name;
    }
  }
  std::string ca_before = fileBytes(dir_ / "out/certs/ca.crt");
  auto again = run({"generate-certs", "--output-dir", "out/certs"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.out, AllOf(HasSubstr("--force"), HasSubstr("ca.key")));
  EXPECT_EQ(fileBytes(dir_ / "out/certs/ca.crt"), ca_before);
  auto forced = run(
      {"generate-certs", "--output-dir", "out/certs", "--force", "--server-name", "svc.internal"});
  EXPECT_EQ(forced.exit_code, 0) << forced.out;
  EXPECT_NE(fileBytes(dir_ / "out/certs/ca.crt"), ca_before);
}

TEST_F(RuntimeE2E, GenerateCertsDefaultsToCertsInCurrentDirectory) {
  auto r = run({"generate-certs"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(fs::exists(dir_ / "certs/server.key"));
}

TEST_F(RuntimeE2E, SigtermShutsDownGracefullyWithExitZero) {
  addModule("a.wasm", "sleeper.wasm");
  for (int signo : {SIGTERM, SIGINT}) {
    Subprocess p({{SELIUM_RUNTIME_BIN, "-w", work_.string(), "--module",
                   "path=a.wasm;capabilities=TimeRead;args=u32:600000"},
                  {},
                  dir_});
    auto ready = p.waitForLine(
        [](std::string_view line) { return line.find("runtime ready") != std::string_view::npos; },
        30s);
    ASSERT_TRUE(ready.has_value()) << "runtime never became ready";
    EXPECT_THAT(*ready, HasSubstr("modules=1"));
    p.signal(signo);
    auto r = p.wait(30s);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_THAT(r.out,
                AllOf(HasSubstr(std::string("shutdown requested; stopping processes signal=") +
                                (signo == SIGTERM ? "SIGTERM" : "SIGINT")),
                      HasSubstr("runtime stopped")));
  }
}

TEST_F(RuntimeE2E, WasiCommandStdoutBecomesGuestRecords) {
  addModule("wasi_hello.wasm", "wasi_hello.wasm");
  auto p = startRuntime({"-w", work_.string(), "--module",
                         "path=wasi_hello.wasm;capabilities=TimeRead;args=utf8:one,u16:7;"
                         "env=GREETING=hi"});
  auto exited = p->waitForLine(
      [](std::string_view l) {
        return l.find("process exited") != std::string_view::npos &&
               l.find("module=wasi_hello.wasm") != std::string_view::npos;
      },
      30s);
  ASSERT_TRUE(exited.has_value());
  EXPECT_THAT(*exited, AllOf(HasSubstr("reason=error"), HasSubstr("status=3")));
  p->signal(SIGTERM);
  auto r = p->wait(30s);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  // No entrypoint in the spec: the command's _start is the default.
  EXPECT_THAT(r.out, HasSubstr("process started pid=1 module=wasi_hello.wasm entrypoint=_start"));
  // Text lines: "<time>  INFO selium.guest: hello from wasi pid=1 module=wasi_hello.wasm
  // stream=stdout".
  std::vector<std::string> stdout_lines;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(" selium.guest: ") != std::string::npos &&
        line.find(" stream=stdout") != std::string::npos) {
      EXPECT_THAT(line, AllOf(HasSubstr(" INFO "), HasSubstr("module=wasi_hello.wasm")));
      stdout_lines.push_back(line);
    }
  }
  ASSERT_GE(stdout_lines.size(), 5u) << r.out;
  EXPECT_THAT(stdout_lines[0], HasSubstr("selium.guest: hello from wasi pid="));
  EXPECT_THAT(stdout_lines[1], HasSubstr("selium.guest: argc=3 "));
  EXPECT_THAT(stdout_lines[2], HasSubstr("selium.guest: argv[0]=wasi_hello.wasm "));
  EXPECT_THAT(stdout_lines[3], HasSubstr("selium.guest: argv[1]=one "));
  EXPECT_THAT(stdout_lines[4], HasSubstr("selium.guest: argv[2]=7 "));
  EXPECT_THAT(
      r.out,
      AllOf(HasSubstr("selium.guest: GREETING=hi "),
            HasSubstr("selium.guest: realtime rc=0 errno=0"), HasSubstr("selium.guest: bye "),
            HasSubstr(" WARN selium.guest: to stderr argc=3 "), HasSubstr("stream=stderr")));
}

TEST_F(RuntimeE2E, WasiStdoutInJsonCarriesTheStreamField) {
  addModule("wasi_hello.wasm", "wasi_hello.wasm");
  auto p = startRuntime({"-w", work_.string(), "--log-format", "json", "--module",
                         "path=wasi_hello.wasm;capabilities="});
  auto line = p->waitForLine(
      [](std::string_view l) { return l.find("hello from wasi") != std::string_view::npos; }, 30s);
  ASSERT_TRUE(line.has_value());
  auto json = nlohmann::json::parse(*line);
  EXPECT_EQ(json["target"], "selium.guest");
  EXPECT_EQ(json["level"], "INFO");
  EXPECT_EQ(json["fields"]["stream"], "stdout");
  EXPECT_EQ(json["fields"]["module"], "wasi_hello.wasm");
  p->signal(SIGTERM);
  EXPECT_EQ(p->wait(30s).exit_code, 0);
}

TEST_F(RuntimeE2E, DryRunChecksTheEnvKey) {
  addModule("wasi_hello.wasm", "wasi_hello.wasm");
  auto ok = run({"--dry-run", "-w", work_.string(), "--module",
                 "path=wasi_hello.wasm;capabilities=;env=A=1,B=two words;args=utf8:x"});
  EXPECT_EQ(ok.exit_code, 0) << ok.out;
  auto bad = run({"--dry-run", "-w", work_.string(), "--module",
                  "path=wasi_hello.wasm;capabilities=;env=9LIVES=1"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.out, HasSubstr("--module #1: env \\\"9LIVES=1\\\": invalid variable name"));
}

TEST_F(RuntimeE2E, CompileCacheLivesInTheWorkDirAndCanBeTurnedOff) {
  EXPECT_THAT(run({"--help"}).out, HasSubstr("--no-compile-cache"));
  addModule("hello.wasm", "hello.wasm");
  std::vector<std::string> dry_run = {"--dry-run", "--log-level", "debug", "-w", work_.string()};
  dry_run.insert(dry_run.end(), {"--module", "path=hello.wasm;capabilities="});
  auto entries = [&] {
    std::vector<fs::path> found;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(work_ / "cache", ec)) found.push_back(e.path());
    return found;
  };

  std::vector<std::string> off = dry_run;
  off.push_back("--no-compile-cache");
  auto uncached = run(off);
  EXPECT_EQ(uncached.exit_code, 0) << uncached.out;
  EXPECT_FALSE(fs::exists(work_ / "cache"));
  EXPECT_THAT(uncached.out, Not(HasSubstr("compile cache")));

  // A dry run compiles, so it fills the cache (the entry is written before the runtime exits).
  auto cold = run(dry_run);
  EXPECT_EQ(cold.exit_code, 0) << cold.out;
  EXPECT_THAT(cold.out, HasSubstr("module compiled; its compile cache entry follows"));
  ASSERT_EQ(entries().size(), 1u);
  EXPECT_EQ(entries()[0].extension(), ".wcache");
  struct stat st {};
  ASSERT_EQ(::stat((work_ / "cache").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  auto warm = run(dry_run);
  EXPECT_EQ(warm.exit_code, 0) << warm.out;
  EXPECT_THAT(warm.out, HasSubstr("module loaded from the compile cache"));
  EXPECT_THAT(warm.out, Not(HasSubstr("module compiled")));
}

// A dry run on a warm cache loads the module from its entry; the runtime must still free
// everything the compile cache made. Run under LeakSanitizer's defaults, as a user runs the ASan
// build: tests/lsan.supp hides every leak reachable from a libnode.so allocation, and this one
// was reachable only from V8's streaming decoder. (Without ASan the variable is ignored.)
TEST_F(RuntimeE2E, WarmCacheDryRunExitsCleanly) {
  addModule("hello.wasm", "hello.wasm");
  std::vector<std::string> dry_run = {"--dry-run", "-w", work_.string(), "--module",
                                      "path=hello.wasm;capabilities="};
  std::map<std::string, std::string> lsan_defaults = {{"LSAN_OPTIONS", "print_suppressions=0"}};
  auto noSanitizerReport = [](const SubprocessResult& r) {
    return r.err.find("Sanitizer") == std::string::npos &&
           r.err.find("runtime error:") == std::string::npos;
  };

  auto cold = run(dry_run, lsan_defaults);
  EXPECT_EQ(cold.exit_code, 0) << cold.out << cold.err;
  EXPECT_TRUE(noSanitizerReport(cold)) << cold.err;
  ASSERT_TRUE(fs::exists(work_ / "cache")) << cold.out;
  ASSERT_FALSE(fs::is_empty(work_ / "cache")) << "the cold run wrote no entry";

  auto warm = run(dry_run, lsan_defaults);
  EXPECT_EQ(warm.exit_code, 0) << warm.out << warm.err;
  EXPECT_TRUE(noSanitizerReport(warm)) << warm.err;
  EXPECT_THAT(warm.out, HasSubstr("dry run: configuration is valid"));
}

TEST_F(RuntimeE2E, TableBudgetComesFromTheFlagOrTheSpec) {
  addModule("t.wasm", "tables32.wasm");
  std::string spec = "path=t.wasm;entrypoint=grow;capabilities=;args=u32:1";
  auto r = run({"--dry-run", "-w", work_.string(), "--max-table-elements", "16", "--module", spec});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("declares tables of 32 elements in all, over the limit of 16"));
  r = run({"--dry-run", "-w", work_.string(), "--max-table-elements", "16", "--module",
           spec + ";max_table_elements=32"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  r = run({"--help"});
  EXPECT_THAT(r.out, HasSubstr("--max-table-elements"));
  r = run({"--max-table-elements", "100000001"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--max-table-elements"));
}

// A guest's own target extends its records' target, so a filter can select one guest.
TEST_F(RuntimeE2E, LogLevelSelectsOneGuestByItsTarget) {
  addModule("hello.wasm", "hello.wasm");
  addModule("flood.wasm", "log_hostile.wasm");
  auto p = std::make_unique<Subprocess>(SubprocessOptions{
      {SELIUM_RUNTIME_BIN, "-w", work_.string(), "--log-level", "off,selium.guest.flood=info",
       "--module", "path=hello.wasm;capabilities=", "--module",
       "path=flood.wasm;entrypoint=flood;capabilities="},
      {},
      dir_});
  auto flood = p->waitForLine(
      [](std::string_view l) { return l.find(" selium.guest.flood: ") != std::string_view::npos; },
      30s);
  ASSERT_TRUE(flood.has_value());
  EXPECT_THAT(*flood, AllOf(HasSubstr(" INFO selium.guest.flood: flooding the log output"),
                            HasSubstr("guest_target=flood")));
  p->signal(SIGTERM);
  auto r = p->wait(30s);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, Not(HasSubstr("hello from Selium")));  // selium.guest: off
  EXPECT_THAT(r.out, Not(HasSubstr("selium.runtime")));     // off
}

TEST_F(RuntimeE2E, LogDirectiveThatMatchesNothingIsAWarning) {
  addModule("a.wasm");
  auto r = run({"--dry-run", "-w", work_.string(), "--log-level",
                "info,selium.gest=debug,selium.guest.mine=debug", "--module",
                "path=a.wasm;capabilities="});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("WARN selium.runtime: log directive matches no target; it has no "
                               "effect directive_target=selium.gest"));
  EXPECT_THAT(r.out, Not(HasSubstr("directive_target=selium.guest.mine")));
}

// The pid in a process's own lines (not the runtime's OS pid in "runtime ready"); -1 if none.
int processPid(const std::string& line) {
  if (line.find("runtime ready") != std::string::npos) return -1;
  std::smatch m;
  static const std::regex kPid(" pid=([0-9]+)");
  return std::regex_search(line, m, kPid) ? std::stoi(m[1]) : -1;
}

// Every process is reported started before anything it logs, and exited after; all are started
// before "runtime ready". Processes are placed in spec order (pids follow it), but start on two
// workers at once, so their lines may interleave.
TEST_F(RuntimeE2E, EveryProcessIsReportedStartedBeforeItsRecordsAndExitedAfter) {
  addModule("dev_null.wasm");
  constexpr int kSpecs = 300;
  std::vector<std::string> args = {"-w", work_.string()};
  for (int i = 0; i < kSpecs; ++i) {
    args.push_back("--module");
    args.push_back("path=dev_null.wasm;capabilities=");
  }
  auto p = startRuntime(args);
  // Each dev_null logs one record and ends by itself: wait for every exit before stopping, or
  // the shutdown would end some before they log.
  int exits = 0;
  auto all_exited = p->waitForLine(
      [&](std::string_view l) {
        return l.find("process exited") != std::string_view::npos && ++exits == kSpecs;
      },
      60s);
  ASSERT_TRUE(all_exited.has_value()) << exits << " exits";
  p->signal(SIGINT);
  auto r = p->wait(30s);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  std::map<int, std::size_t> started, first_record, exited;
  std::size_t ready = 0;
  std::vector<std::string> lines = r.outLines();
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.find("runtime ready") != std::string::npos) {
      EXPECT_THAT(line, HasSubstr("modules=300"));
      ready = i;
    }
    int pid = processPid(line);
    if (pid < 0) continue;
    if (line.find("process started") != std::string::npos) {
      EXPECT_TRUE(started.emplace(pid, i).second) << "pid " << pid << " started twice";
      EXPECT_THAT(line, HasSubstr("module=dev_null.wasm entrypoint=start"));
    } else if (line.find("process exited") != std::string::npos) {
      exited.emplace(pid, i);
    } else if (line.find(" selium.guest") != std::string::npos) {
      first_record.emplace(pid, i);
    }
  }
  ASSERT_EQ(started.size(), static_cast<std::size_t>(kSpecs));
  EXPECT_EQ(started.begin()->first, 1);
  EXPECT_EQ(started.rbegin()->first, kSpecs);
  for (const auto& [pid, at] : started) {
    EXPECT_LT(at, ready) << "pid " << pid << " reported started after runtime ready";
    ASSERT_TRUE(first_record.count(pid)) << "pid " << pid << " logged nothing";
    EXPECT_LT(at, first_record[pid]) << "pid " << pid << " logged before it was reported started";
    ASSERT_TRUE(exited.count(pid)) << "pid " << pid << " never reported exited";
    EXPECT_LT(first_record[pid], exited[pid]) << "pid " << pid << " logged after its exit";
  }
}

// A module whose start fails stops start-up, naming its spec, even when later specs' processes
// were already placed: those that started are stopped (each reported exited), and the runtime
// exits 1.
TEST_F(RuntimeE2E, AModuleThatFailsToStartStopsStartUpNamingItsSpec) {
  addModule("dev_null.wasm");
  addModule("start_trap.wasm", "start_trap.wasm");
  std::vector<std::string> args = {"-w",       work_.string(),
                                   "--module", "path=dev_null.wasm;capabilities=",
                                   "--module", "path=start_trap.wasm;capabilities="};
  for (int i = 0; i < 50; ++i) {
    args.push_back("--module");
    args.push_back("path=dev_null.wasm;capabilities=");
  }
  auto r = run(args);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("process started pid=1 module=dev_null.wasm"));
  EXPECT_THAT(r.out, HasSubstr("module failed to start; stopping spec=2 module=start_trap.wasm"));
  EXPECT_THAT(r.out, HasSubstr("start-up failed; stopping"));
  EXPECT_THAT(r.out, Not(HasSubstr("process started pid=2 ")));
  EXPECT_THAT(r.out, Not(HasSubstr("runtime ready")));
  std::set<int> started, exited;
  for (const std::string& line : r.outLines()) {
    int pid = processPid(line);
    if (line.find("process started") != std::string::npos) started.insert(pid);
    if (line.find("process exited") != std::string::npos) exited.insert(pid);
  }
  for (int pid : started) EXPECT_TRUE(exited.count(pid)) << "pid " << pid << " never exited";
}

// CPU time (user + system) of process `pid` so far, from /proc/<pid>/stat.
std::chrono::milliseconds cpuTime(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));  // after "pid (comm) "
  std::string skip;
  for (int i = 0; i < 11; ++i) fields >> skip;  // state .. cmajflt: fields 3 to 13
  uint64_t utime = 0, stime = 0;
  fields >> utime >> stime;
  return std::chrono::milliseconds((utime + stime) * 1000 / sysconf(_SC_CLK_TCK));
}

uint64_t rssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  return procStatusKib(std::string((std::istreambuf_iterator<char>(in)), {}), "VmRSS");
}

// Starts the runtime with a guest flooding the log and nobody reading its stdout, and waits
// until the pipe is full: from then on every write of the runtime's blocks.
std::unique_ptr<Subprocess> startWithStalledStdout(const fs::path& dir, const fs::path& work,
                                                   const std::string& shutdown_timeout) {
  auto p = std::make_unique<Subprocess>(SubprocessOptions{
      {SELIUM_RUNTIME_BIN, "-w", work.string(), "--shutdown-timeout", shutdown_timeout, "--module",
       "path=flood.wasm;entrypoint=flood;capabilities="},
      {},
      dir,
      StdoutMode::Stall});
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (p->stdoutUnread() < p->stdoutCapacity() / 2 && !p->exited() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);  // polling for the pipe to fill, bounded by the deadline
  }
  EXPECT_GE(p->stdoutUnread(), p->stdoutCapacity() / 2) << "stdout never filled";
  // How full a full pipe is depends on how the writes fell into its pages; but half a second of
  // the runtime's CPU time spent flooding writes far more than the rest, so from then on its
  // writer is blocked and records wait in its queue.
  auto start = cpuTime(p->pid());
  while (cpuTime(p->pid()) - start < 500ms && !p->exited() &&
         std::chrono::steady_clock::now() < deadline + 30s) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_FALSE(p->exited());
  return p;
}

TEST_F(RuntimeE2E, SigtermExitsWithinTheShutdownTimeoutWhileStdoutIsStalled) {
  addModule("flood.wasm", "log_hostile.wasm");
  auto p = startWithStalledStdout(dir_, work_, "2");
  p->signal(SIGTERM);
  // Processes stop, the log gets the rest of the 2 s; no reader ever comes. Before the fix the
  // signal path blocked in the logger and only SIGKILL (at this deadline) ended the runtime.
  auto r = p->wait(30s);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, AllOf(HasSubstr("selium-runtime: log output stalled at exit; "),
                           HasSubstr(" were not written")));
}

// A reader that goes away (`selium-runtime | head`, a log shipper that died) costs the log
// writer its EPIPE, not the runtime its life: SIGPIPE used to kill it with every process.
TEST_F(RuntimeE2E, ClosedStdoutDoesNotKillTheRuntime) {
  addModule("flood.wasm", "log_hostile.wasm");
  auto p = startRuntime(
      {"-w", work_.string(), "--module", "path=flood.wasm;entrypoint=flood;capabilities="});
  p->closeStdout();
  // The guest keeps logging; wait until the runtime has spent CPU time writing into the closed
  // pipe (polling, bounded by the deadline).
  auto start = cpuTime(p->pid());
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (cpuTime(p->pid()) - start < 300ms && !p->exited() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_FALSE(p->exited()) << "the runtime died when its stdout closed";
  p->signal(SIGTERM);
  auto r = p->wait(30s);
  EXPECT_EQ(r.term_signal, 0);
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(RuntimeE2E, StalledStdoutKeepsTheRuntimesMemoryBounded) {
  addModule("flood.wasm", "log_hostile.wasm");
  auto p = startWithStalledStdout(dir_, work_, "2");
  uint64_t before = rssKib(p->pid());
  // The guest keeps logging into the stalled output: wait until the runtime has done a good
  // deal of work (CPU time, not wall time), enough for far more records than the queue holds.
  auto start = cpuTime(p->pid());
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (cpuTime(p->pid()) - start < 2s && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  uint64_t after = rssKib(p->pid());
  // The queue holds 8 MiB; ASan's quarantine of freed blocks (up to 256 MiB) grows on its own.
#ifdef SELIUM_TESTING_ASAN
  constexpr uint64_t kSlackKib = 320 * 1024;
#else
  constexpr uint64_t kSlackKib = 48 * 1024;
#endif
  EXPECT_LE(after, before + kSlackKib) << "VmRSS " << before << " KiB -> " << after << " KiB";
  p->signal(SIGTERM);
  EXPECT_EQ(p->wait(30s).exit_code, 0);
}

TEST_F(RuntimeE2E, SecondSignalWhileStdoutIsStalledExitsAtOnceSayingWhatWasNotWritten) {
  addModule("flood.wasm", "log_hostile.wasm");
  // A long timeout: the first SIGTERM would wait for the log until then; the second cuts it short.
  auto p = startWithStalledStdout(dir_, work_, "300");
  // Standard signals do not queue: repeat until one arrives while the shutdown is under way.
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!p->exited() && std::chrono::steady_clock::now() < deadline) {
    p->signal(SIGTERM);
    std::this_thread::sleep_for(100ms);
  }
  auto r = p->wait(1s);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 128 + SIGTERM) << r.err;
  EXPECT_THAT(r.err, AllOf(HasSubstr("selium-runtime: log output stalled at exit; "),
                           HasSubstr(" were not written")));
}

TEST_F(RuntimeE2E, GuestRecordsCannotForgeLinesOrShadowTheRuntimesFields) {
  for (std::string entry : {"forged", "bad_key", "control", "misaligned"}) {
    addModule(entry + ".wasm", "log_hostile.wasm");
  }
  std::vector<std::string> args = {"-w", work_.string()};
  for (std::string entry : {"forged", "bad_key", "control", "misaligned"}) {
    args.insert(args.end(),
                {"--module", "path=" + entry + ".wasm;entrypoint=" + entry + ";capabilities="});
  }
  auto p = startRuntime(args);
  int exited = 0;
  auto all_exited = p->waitForLine(
      [&](std::string_view l) {
        return l.find("process exited") != std::string_view::npos && ++exited == 4;
      },
      30s);
  ASSERT_TRUE(all_exited.has_value()) << exited;
  p->signal(SIGTERM);
  auto r = p->wait(30s);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto lines = r.outLines();
  auto find = [&](std::string_view what, std::string_view module) -> std::string {
    for (const auto& line : lines) {
      if (line.find(what) != std::string::npos &&
          line.find("module=" + std::string(module)) != std::string::npos) {
        return line;
      }
    }
    return "";
  };
  // Every line is a record of its own: none starts with the guest's fake timestamp.
  for (const auto& line : lines) {
    EXPECT_THAT(line, Not(::testing::StartsWith("2026-01-01T00:00:00"))) << line;
    EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
  }
  EXPECT_THAT(
      find("selium.guest: forged ", "forged.wasm"),
      ::testing::MatchesRegex(".* WARN selium\\.guest: forged pid=[0-9]+ module=forged\\.wasm "
                              "guest\\.pid=1 guest\\.module=evil\\.wasm "
                              "guest\\.stream=stdout guest\\.guest_target=x"));
  EXPECT_THAT(find("process exited", "forged.wasm"), HasSubstr("status=0"));
  // The bad key is refused (-InvalidArgument), not printed.
  EXPECT_THAT(find("process exited", "bad_key.wasm"), HasSubstr("status=-4"));
  EXPECT_EQ(find("selium.guest: bad key", "bad_key.wasm"), "");
  EXPECT_THAT(find("selium.guest: line one", "control.wasm"),
              HasSubstr("selium.guest: line one\\x0a2026-01-01T00:00:00.000000Z ERROR "
                        "selium.runtime: forged \\x1b[31m pid="));
  EXPECT_THAT(find("selium.guest: line one", "control.wasm"), HasSubstr(" v=\"a\\x0ab\""));
  // A valid record at an odd guest address is read (UBSan aborted the runtime before).
  EXPECT_THAT(find("selium.guest.flood: flooding the log", "misaligned.wasm"),
              AllOf(HasSubstr("guest_target=flood"), HasSubstr(" n=7")));
  EXPECT_THAT(find("process exited", "misaligned.wasm"), HasSubstr("status=0"));
}

TEST_F(RuntimeE2E, GuestFieldsCannotShadowTheRuntimesInJson) {
  addModule("forged.wasm", "log_hostile.wasm");
  auto p = startRuntime({"-w", work_.string(), "--log-format", "json", "--module",
                         "path=forged.wasm;entrypoint=forged;capabilities="});
  auto line = p->waitForLine(
      [](std::string_view l) { return l.find("\"message\":\"forged\"") != std::string_view::npos; },
      30s);
  ASSERT_TRUE(line.has_value());
  auto json = nlohmann::json::parse(*line);
  EXPECT_TRUE(json["fields"]["pid"].is_number());
  EXPECT_EQ(json["fields"]["module"], "forged.wasm");
  EXPECT_EQ(json["fields"]["guest.pid"], "1");
  EXPECT_EQ(json["fields"]["guest.module"], "evil.wasm");
  EXPECT_EQ(json["fields"]["guest.stream"], "stdout");
  EXPECT_FALSE(json["fields"].contains("stream"));
  p->signal(SIGTERM);
  EXPECT_EQ(p->wait(30s).exit_code, 0);
}

TEST_F(RuntimeE2E, LogUriIntoAModuleWithoutMemoryCopiesNothing) {
  addModule("no_memory.wasm", "log_uri_no_memory.wasm");
  auto p =
      startRuntime({"-w", work_.string(), "--module",
                    "path=no_memory.wasm;entrypoint=start;capabilities=;log_uri=sel://x/logs"});
  // log_uri(0, 0) returns the URI's length, 12; under UBSan the null memcpy aborted the runtime.
  auto exited = p->waitForLine(
      [](std::string_view l) { return l.find("process exited") != std::string_view::npos; }, 30s);
  ASSERT_TRUE(exited.has_value());
  EXPECT_THAT(*exited, AllOf(HasSubstr("module=no_memory.wasm"), HasSubstr("status=12")));
  p->signal(SIGTERM);
  EXPECT_EQ(p->wait(30s).exit_code, 0);
}

// `selium-runtime run`: a module file anywhere, run to completion; the runtime exits with the
// guest's status and its stdout/stderr carry the guest's bytes.
std::string guestFile(const std::string& name) {
  return (fs::path(SELIUM_GUEST_DIR) / name).string();
}

TEST_F(RuntimeE2E, RunWasiCommandGetsArgsAsArgvAndExitsWithItsStatus) {
  std::string file = guestFile("wasi_hello.wasm");
  // Everything after FILE is the guest's, even words that look like our flags.
  auto r = run({"run", file, "two words", "--help", "--cap", "TimeRead"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "hello from wasi\nargc=5\nargv[0]=" + file +
                       "\nargv[1]=two words\nargv[2]=--help\nargv[3]=--cap\nargv[4]=TimeRead\n"
                       "stdin=eof\nmalloc=ok\nrealtime rc=-1 errno=76 sec=0\n"
                       "monotonic rc=-1 errno=76 sec=0\nentropy rc=0 nonzero=1 differs=1\n"
                       "GREETING=(unset)\nenviron=0\nusleep rc=-1 errno=58\nfsync rc=-1 errno=52\n"
                       "fsync rc=-1 errno=52\nbye\n");
  EXPECT_THAT(r.err, HasSubstr("to stderr argc=5\n"));
  // The runtime's own warnings (the denied clock) are on stderr, never on stdout.
  EXPECT_THAT(r.err, HasSubstr("hostcall denied: clock_time_get needs capability TimeRead"));
}

TEST_F(RuntimeE2E, RunCopiesStdoutAndStderrByteForByte) {
  auto r = run({"run", guestFile("wasi_hello.wasm"), "bytes"});
  EXPECT_EQ(r.exit_code, 0);
  std::string all(256, '\0');
  std::iota(all.begin(), all.end(), '\0');
  EXPECT_EQ(r.out, all + "\r\n\n\r");
  // A clean run adds nothing: no log records at the default level (warn).
  EXPECT_EQ(r.err, std::string("err\0\xff\r\n\n\nend", 12));
}

TEST_F(RuntimeE2E, RunExitStatusIsTheGuestsLowEightBits) {
  auto seven = run({"run", guestFile("wasi_hello.wasm"), "exit", "7"});
  EXPECT_EQ(seven.exit_code, 7);
  EXPECT_EQ(seven.out, "");
  EXPECT_EQ(seven.err, "");
  auto big = run({"run", guestFile("wasi_hello.wasm"), "exit", "300"});
  EXPECT_EQ(big.exit_code, 300 & 0xFF);
  auto zero = run({"run", guestFile("wasi_hello.wasm"), "exit", "0"});
  EXPECT_EQ(zero.exit_code, 0);
}

TEST_F(RuntimeE2E, RunEnvValuesAreTakenAsGiven) {
  auto r = run({"run", "--env", "A=x=y, z \xc3\xbc ", "--env", "EMPTY=", "--env", "B= lead",
                guestFile("wasi_hello.wasm"), "env"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "A=x=y, z \xc3\xbc \nEMPTY=\nB= lead\n");

  auto bad = run({"run", "--env", "1X=a", guestFile("wasi_hello.wasm"), "env"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.out, "");
  EXPECT_THAT(bad.err, HasSubstr("--env \"1X=a\": invalid variable name"));
}

TEST_F(RuntimeE2E, RunTrapExitsWith134AndSaysWhyOnStderr) {
  auto r = run({"run", guestFile("wasi_hello.wasm"), "trap"});
  EXPECT_EQ(r.exit_code, 134);
  EXPECT_EQ(r.out, "before trap\nunterminated");
  EXPECT_THAT(r.err, AllOf(HasSubstr("ERROR selium.runtime: process exited"),
                           HasSubstr("reason=trap"), HasSubstr("RuntimeError: unreachable")));
}

TEST_F(RuntimeE2E, RunReportsBadInputsOnStderr) {
  auto missing = run({"run", (dir_ / "nope.wasm").string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(missing.out, "");
  EXPECT_EQ(missing.err, "selium-runtime run: error: cannot read module \"" +
                             (dir_ / "nope.wasm").string() + "\": no such file\n");

  auto cap = run({"run", "--cap", "TimeRaed", guestFile("wasi_hello.wasm")});
  EXPECT_EQ(cap.exit_code, 2);
  EXPECT_EQ(cap.out, "");
  EXPECT_THAT(cap.err, HasSubstr("--cap \"TimeRaed\": unknown capability"));

  std::ofstream(dir_ / "bad.wasm") << "not wasm";
  auto bad = run({"run", (dir_ / "bad.wasm").string()});
  EXPECT_EQ(bad.exit_code, 125);
  EXPECT_EQ(bad.out, "");
  EXPECT_THAT(bad.err, AllOf(HasSubstr("selium-runtime run: error: cannot load module"),
                             HasSubstr("bad magic number")));

  auto no_file = run({"run"});
  EXPECT_EQ(no_file.exit_code, 2);
  EXPECT_THAT(no_file.err, HasSubstr("FILE is required"));
}

TEST_F(RuntimeE2E, RunSdkEntrypointTakesTypedArgs) {
  std::string file = guestFile("echo_args.wasm");
  auto r = run({"run", "--entrypoint", "ints", file, "i8:-1", "u8:255", "i16:-3", "u16:4", "i32:-5",
                "u32:6", "i64:-7", "u64:8"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  // The guest's log record is printed on stderr, as the server prints it on stdout.
  EXPECT_THAT(r.err, HasSubstr("INFO selium.guest.echo_args: ints pid=1 module=" + file +
                               " guest_target=echo_args i8=-1 u8=255 i16=-3 u16=4 i32=-5 u32=6 "
                               "i64=-7 u64=8\n"));

  auto json = run({"run", "--log-format", "json", "--entrypoint", "bytes", "--params",
                   "utf8,buffer,hex", file, "a, b", "", "00ff"});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  auto record = nlohmann::json::parse(json.err.substr(0, json.err.find('\n')));
  EXPECT_EQ(record["message"], "bytes");
  EXPECT_EQ(record["fields"]["utf8"], "a, b");
  EXPECT_EQ(record["fields"]["hex"], "00ff");

  auto untyped = run({"run", "--entrypoint", "ints", file, "5"});
  EXPECT_EQ(untyped.exit_code, 2);
  EXPECT_THAT(untyped.err, HasSubstr("ARGS \"5\": argument 1 is missing a type"));
}

TEST_F(RuntimeE2E, RunCapTimeReadGrantsTheClock) {
  auto r = run({"run", "--cap", "TimeRead", guestFile("wasi_hello.wasm")});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.out, AllOf(HasSubstr("\nrealtime rc=0 errno=0 sec="),
                           HasSubstr("\nmonotonic rc=0 errno=0 sec=")));
  EXPECT_THAT(r.err, Not(HasSubstr("hostcall denied")));
}

TEST_F(RuntimeE2E, RunHelpDescribesOptionsAndExitCodes) {
  auto r = run({"run", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, AllOf(HasSubstr("FILE"), HasSubstr("--cap"), HasSubstr("--env"),
                           HasSubstr("--entrypoint"), HasSubstr("--params"),
                           HasSubstr("--max-memory"), HasSubstr("--max-slice"), HasSubstr("125"),
                           HasSubstr("134"), HasSubstr("130/143"), HasSubstr("byte for byte")));
}

TEST_F(RuntimeE2E, RunMaxSliceTerminationExitsWith134AndSaysWhy) {
  // start_loop's wasm start function never returns; the watchdog ends it.
  auto r = run({"run", "--max-slice", "100", guestFile("start_loop.wasm")});
  EXPECT_EQ(r.exit_code, 134);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, AllOf(HasSubstr("ERROR selium.runtime: process exited"),
                           HasSubstr("reason=terminated"), HasSubstr("(--max-slice)")));
}

TEST_F(RuntimeE2E, RunSignalStopsTheGuestAndExitsWith128PlusIt) {
  for (int signo : {SIGTERM, SIGINT}) {
    auto p = std::make_unique<Subprocess>(SubprocessOptions{
        {SELIUM_RUNTIME_BIN, "run", guestFile("wasi_hello.wasm"), "spin"}, {}, dir_});
    // The guest is running (its handler installed before it was spawned) once it has printed.
    ASSERT_TRUE(
        p->waitForLine([](std::string_view l) { return l == "spinning"; }, 30s).has_value());
    p->signal(signo);
    auto r = p->wait(30s);
    EXPECT_EQ(r.exit_code, 128 + signo);
    EXPECT_FALSE(r.timed_out);
    // A stop the user asked for is not an error.
    EXPECT_THAT(r.err, Not(HasSubstr("ERROR")));
  }
}

TEST_F(RuntimeE2E, RunTakesServerLimitsAndLoggingFlagsButNotModuleSpecs) {
  std::string file = guestFile("wasi_hello.wasm");
  // Shared flags after `run`, and `--` before FILE.
  auto r = run({"run", "--log-level", "debug", "--max-memory", "64MiB", "--", file, "exit", "0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, AllOf(HasSubstr("DEBUG selium.runtime: process started module=" + file +
                                     " entrypoint=_start"),
                           HasSubstr("reason=normal status=0")));

  auto spec = run({"--module", "path=x.wasm;capabilities=", "run", file});
  EXPECT_EQ(spec.exit_code, 2);
  EXPECT_EQ(spec.err, "selium-runtime: error: run does not take --module or --dry-run\n");
  auto dry = run({"run", "--dry-run", file});
  EXPECT_EQ(dry.exit_code, 2);
  EXPECT_EQ(dry.err, "selium-runtime: error: run does not take --module or --dry-run\n");
}

// (buffer, utf8, hex) and (utf8, buffer, hex) are the same six i32s; the kinds the SDK records in
// the module tell them apart, and --dry-run says so with both sides.
TEST_F(RuntimeE2E, DryRunRefusesSwappedParamsTheModuleDeclares) {
  addModule("echo.wasm", "echo_args.wasm");
  auto r = run({"--dry-run", "-w", work_.string(), "--module",
                "path=echo.wasm;entrypoint=bytes;capabilities=;args=buffer:x,utf8:y,hex:01"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr(R"x(error="echo.wasm: entrypoint \"bytes\" takes (utf8 text, )x"
                               R"x(buffer buf, hex hx), but the spec's params are (buffer, utf8, )x"
                               R"x(hex)")x"));
}

TEST_F(RuntimeE2E, DryRunListsTheEntrypointsAModuleDeclares) {
  addModule("echo.wasm", "echo_args.wasm");
  addModule("sig.wasm", "signatures.wasm");
  auto r = run({"--dry-run", "-w", work_.string(), "--module",
                "path=echo.wasm;entrypoint=bytes;capabilities=;args=utf8:y,hex:01,buffer:x",
                "--module", "path=sig.wasm;entrypoint=no_params;capabilities="});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("module entrypoints spec=1 module=echo.wasm entrypoints=\"start(), "
                               "ints(i8 a, u8 b, i16 c, u16 d, i32 e, u32 f, i64 g, u64 h), "
                               "floats(f32 a, f64 b), bytes(utf8 text, buffer buf, hex hx), "
                               "resource(resource r), all("));
  // A module without the section (hand-written WAT here) is checked as before, listing nothing.
  EXPECT_THAT(r.out, HasSubstr("module spec ok spec=2 module=sig.wasm"));
  EXPECT_THAT(r.out, Not(HasSubstr("module entrypoints spec=2")));
}

}  // namespace
}  // namespace selium::testing
