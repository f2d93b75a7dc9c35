// Atlas run by the real selium-runtime binary from module specs, as a user would: the service
// and a client started side by side, with the capabilities docs/atlas.md lists.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "runtime_fixture.h"

namespace selium::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr std::string_view kAtlasSpec =
    "path=selium_atlas_server.wasm;capabilities=ChannelLifecycle,ChannelReader,ChannelWriter,"
    "SingletonRegistry";
constexpr std::string_view kClientSpec =
    "path=atlas_client.wasm;entrypoint=basic_when_ready;capabilities=SingletonLookup,"
    "ChannelLifecycle,ChannelReader,ChannelWriter,TimeRead";

class AtlasE2E : public RuntimeTest {
 protected:
  AtlasE2E() : RuntimeTest("atlas_e2e") {
    addModule("selium_atlas_server.wasm");
    addModule("atlas_client.wasm");
  }
  // A runtime with the text log; each test checks the exit itself.
  std::unique_ptr<RuntimeProcess> start(std::vector<std::string> modules) {
    return startRuntime(RuntimeOptions{.modules = std::move(modules),
                                       .log_format = LogFormat::Text,
                                       .exit_check = ExitCheck::AnyStatus});
  }
};

TEST_F(AtlasE2E, ServiceAndClientFromModuleSpecs) {
  auto p = start({std::string(kAtlasSpec), std::string(kClientSpec)});
  auto serving =
      p->waitForLine(lineContaining({"atlas serving", "module=selium_atlas_server.wasm"}), 60s);
  ASSERT_TRUE(serving.has_value()) << "the Atlas never served";
  auto done = p->waitForLine(lineContaining({"basic done", "module=atlas_client.wasm"}), 60s);
  ASSERT_TRUE(done.has_value()) << "the client never finished";
  EXPECT_THAT(*done, HasSubstr("failed=0"));
  auto exited = p->waitForLine(
      lineContaining({"process exited", "module=atlas_client.wasm", "reason=normal"}), 60s);
  ASSERT_TRUE(exited.has_value());
  EXPECT_THAT(*exited, HasSubstr("status=0"));
  auto r = p->stop();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(AtlasE2E, TwoAtlasesCannotBothRun) {
  auto p = start({std::string(kAtlasSpec), std::string(kAtlasSpec)});
  auto refused = p->waitForLine(lineContaining({"another Atlas is running"}), 60s);
  ASSERT_TRUE(refused.has_value());
  EXPECT_THAT(*refused, HasSubstr("AlreadyExists"));
  (void)p->stop();
}

// A process started with a log_uri has its log stream published in Atlas by the runtime, even
// when it starts before Atlas has registered; a reader attached from the entry reads its records
// and the entry cannot be attached as a writer.
TEST_F(AtlasE2E, ALogUriPublishesTheLogStream) {
  auto p =
      start({"path=atlas_client.wasm;entrypoint=chatter;capabilities=TimeRead;"
             "log_uri=sel://tests/logs.app/chatter",
             std::string(kAtlasSpec),
             "path=atlas_client.wasm;entrypoint=follow_log;capabilities=SingletonLookup,"
             "ChannelLifecycle,ChannelReader,ChannelWriter,TimeRead;"
             "args=utf8:sel://tests/logs.app/chatter"});
  auto followed = p->waitForLine(lineContaining({"followed", "module=atlas_client.wasm"}), 60s);
  if (!followed) {
    auto r = p->stop();
    FAIL() << "the follower never read the published stream\n" << r.out << r.err;
  }
  EXPECT_THAT(*followed, HasSubstr("writer_error=InvalidHandle"));
  auto r = p->stop();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

}  // namespace
}  // namespace selium::testing
