#include "cli/cli.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

namespace selium::cli {
namespace {

using ::testing::HasSubstr;

struct Env {
  std::map<std::string, std::string> vars;
  const char* operator()(const char* name) const {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  }
};

Parsed parse(std::vector<std::string> args, Env env = {}) {
  args.insert(args.begin(), "selium");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return parseCommandLine(static_cast<int>(argv.size()), argv.data(), env);
}

TEST(CliParse, StartCollectsModuleEntrypointCapabilitiesArgsAndFlags) {
  auto p = parse({"--server", "127.0.0.1:7100", "start", "echo.wasm", "serve", "-c",
                  "ChannelLifecycle", "--capabilities", "channel-reader,TimeRead", "-a", "utf8:hi",
                  "-a", "u16:8", "--log-uri", "sel://x", "--attach"});
  ASSERT_TRUE(p.invocation) << p.err;
  EXPECT_EQ(p.invocation->server.host, "127.0.0.1");
  EXPECT_EQ(p.invocation->server.port, 7100);
  const auto& start = std::get<StartCommand>(p.invocation->command);
  EXPECT_EQ(start.request.module, "echo.wasm");
  EXPECT_EQ(start.request.entrypoint, "serve");
  EXPECT_EQ(start.request.capabilities, (std::vector<uint32_t>{1, 2, 24}));
  ASSERT_EQ(start.request.args.size(), 2u);
  EXPECT_EQ(start.request.args[1].uint_value, 8u);
  EXPECT_EQ(start.request.log_uri, "sel://x");
  EXPECT_TRUE(start.attach);
}

TEST(CliParse, GlobalOptionsAlsoComeAfterTheCommand) {
  auto p = parse({"list", "--json", "--server", "h:1", "--cert-dir", "/c"});
  ASSERT_TRUE(p.invocation) << p.err;
  EXPECT_TRUE(std::get<ListCommand>(p.invocation->command).json);
  EXPECT_EQ(p.invocation->server.host, "h");
  EXPECT_EQ(p.invocation->cert_dir, "/c");
}

TEST(CliParse, DefaultsComeFromTheEnvironmentThenTheWorkDir) {
  auto defaults = parse({"list"});
  ASSERT_TRUE(defaults.invocation);
  EXPECT_EQ(defaults.invocation->server.host, "localhost");
  EXPECT_EQ(defaults.invocation->server.port, 7000);
  EXPECT_EQ(defaults.invocation->cert_dir, "certs");
  auto work = parse({"list"}, Env{{{"SELIUM_WORK_DIR", "/srv/selium"}}});
  EXPECT_EQ(work.invocation->cert_dir, "/srv/selium/certs");
  auto env = parse({"list"}, Env{{{"SELIUM_WORK_DIR", "/srv/selium"},
                                  {"SELIUM_CERT_DIR", "/etc/selium"},
                                  {"SELIUM_SERVER", "ctl.example:7001"}}});
  EXPECT_EQ(env.invocation->cert_dir, "/etc/selium");
  EXPECT_EQ(env.invocation->server.host, "ctl.example");
  EXPECT_EQ(env.invocation->server.port, 7001);
  // Flags win over the environment.
  auto flag = parse({"--cert-dir", "mine", "list"}, Env{{{"SELIUM_CERT_DIR", "/etc/selium"}}});
  EXPECT_EQ(flag.invocation->cert_dir, "mine");
}

TEST(CliParse, ChannelSubcommands) {
  auto create = parse({"channel", "create", "--capacity", "4096"});
  ASSERT_TRUE(create.invocation) << create.err;
  EXPECT_EQ(std::get<ChannelCreateCommand>(create.invocation->command).capacity, 4096u);
  auto publish = parse({"channel", "publish", "77", "a", "b"});
  ASSERT_TRUE(publish.invocation) << publish.err;
  const auto& pub = std::get<PublishCommand>(publish.invocation->command);
  EXPECT_EQ(pub.channel, 77u);
  EXPECT_EQ(pub.messages, (std::vector<std::string>{"a", "b"}));
  auto sub = parse({"channel", "subscribe", "77", "--count", "3", "--weak"});
  ASSERT_TRUE(sub.invocation) << sub.err;
  EXPECT_EQ(std::get<SubscribeCommand>(sub.invocation->command).count, 3u);
  EXPECT_TRUE(std::get<SubscribeCommand>(sub.invocation->command).weak);
  auto del = parse({"channel", "delete", "77"});
  EXPECT_EQ(std::get<ChannelDeleteCommand>(del.invocation->command).channel, 77u);
}

TEST(CliParse, UsageErrorsExit2WithAMessage) {
  auto cases = std::vector<std::pair<std::vector<std::string>, std::string>>{
      {{}, "A subcommand is required"},
      {{"start"}, "module is required"},
      {{"stop", "abc"}, "abc"},
      {{"start", "m.wasm", "-a", "hello"}, "is missing a type"},
      {{"start", "m.wasm", "-c", "Everything"}, "unknown capability \"Everything\""},
      {{"--server", "h:0", "list"}, "--server"},
      {{"channel"}, "subcommand"},
      {{"channel", "create", "--capacity", "0"}, "capacity"},
      {{"frobnicate"}, "frobnicate"},
  };
  for (const auto& [args, needle] : cases) {
    auto p = parse(args);
    EXPECT_FALSE(p.invocation.has_value()) << needle;
    EXPECT_EQ(p.exit_code, kExitUsage) << needle;
    EXPECT_THAT(p.err, HasSubstr(needle));
  }
}

TEST(CliParse, HelpAndVersionExit0) {
  auto help = parse({"--help"});
  EXPECT_FALSE(help.invocation);
  EXPECT_EQ(help.exit_code, kExitOk);
  EXPECT_THAT(help.out, HasSubstr("start"));
  EXPECT_THAT(help.out, HasSubstr("mutual TLS"));
  auto version = parse({"--version"});
  EXPECT_EQ(version.exit_code, kExitOk);
  EXPECT_THAT(version.out, HasSubstr("selium "));
}

TEST(CliFormat, Uptime) {
  EXPECT_EQ(formatUptime(850), "850ms");
  EXPECT_EQ(formatUptime(12'000), "12s");
  EXPECT_EQ(formatUptime(245'000), "4m05s");
  EXPECT_EQ(formatUptime(7'380'000), "2h03m");
  EXPECT_EQ(formatUptime(90'000'000), "1d01h");
}

}  // namespace
}  // namespace selium::cli
