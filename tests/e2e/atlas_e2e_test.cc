// Atlas run by the real selium-runtime binary from module specs, as a user would: the service
// and a client started side by side, with the capabilities docs/atlas.md lists.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <string>
#include <vector>

#include "subprocess.h"
#include "support/temp_dir.h"

namespace selium::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr std::string_view kAtlasSpec =
    "path=selium_atlas_server.wasm;capabilities=ChannelLifecycle,ChannelReader,ChannelWriter,"
    "SingletonRegistry";
constexpr std::string_view kClientSpec =
    "path=atlas_client.wasm;entrypoint=basic_when_ready;capabilities=SingletonLookup,"
    "ChannelLifecycle,ChannelReader,ChannelWriter,TimeRead";

class AtlasE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    work_ = temp_.path() / "work";
    fs::create_directories(work_ / "modules");
    for (const char* guest : {"selium_atlas_server.wasm", "atlas_client.wasm"}) {
      fs::copy_file(fs::path(SELIUM_GUEST_DIR) / guest, work_ / "modules" / guest);
    }
  }
  std::unique_ptr<Subprocess> start(std::vector<std::string> args) {
    args.insert(args.begin(), {SELIUM_RUNTIME_BIN, "-w", work_.string()});
    return std::make_unique<Subprocess>(SubprocessOptions{args, {}, temp_.path()});
  }
  static auto lineWith(std::vector<std::string> parts) {
    return [parts = std::move(parts)](std::string_view line) {
      for (const std::string& part : parts) {
        if (line.find(part) == std::string_view::npos) return false;
      }
      return true;
    };
  }

  TempDir temp_{"atlas_e2e"};
  fs::path work_;
};

TEST_F(AtlasE2E, ServiceAndClientFromModuleSpecs) {
  auto p = start({"--module", std::string(kAtlasSpec), "--module", std::string(kClientSpec)});
  auto serving =
      p->waitForLine(lineWith({"atlas serving", "module=selium_atlas_server.wasm"}), 60s);
  ASSERT_TRUE(serving.has_value()) << "the Atlas never served";
  p->rewind();
  auto done = p->waitForLine(lineWith({"basic done", "module=atlas_client.wasm"}), 60s);
  ASSERT_TRUE(done.has_value()) << "the client never finished";
  EXPECT_THAT(*done, HasSubstr("failed=0"));
  p->rewind();
  auto exited = p->waitForLine(
      lineWith({"process exited", "module=atlas_client.wasm", "reason=normal"}), 60s);
  ASSERT_TRUE(exited.has_value());
  EXPECT_THAT(*exited, HasSubstr("status=0"));
  p->signal(SIGTERM);
  auto r = p->wait(30s);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(AtlasE2E, TwoAtlasesCannotBothRun) {
  auto p = start({"--module", std::string(kAtlasSpec), "--module", std::string(kAtlasSpec)});
  auto refused = p->waitForLine(lineWith({"another Atlas is running"}), 60s);
  ASSERT_TRUE(refused.has_value());
  EXPECT_THAT(*refused, HasSubstr("AlreadyExists"));
  p->signal(SIGTERM);
  (void)p->wait(30s);
}

// A process started with a log_uri has its log stream published in Atlas by the runtime, even
// when it starts before Atlas has registered; a reader attached from the entry reads its records
// and the entry cannot be attached as a writer.
TEST_F(AtlasE2E, ALogUriPublishesTheLogStream) {
  auto p = start({"--module",
                  "path=atlas_client.wasm;entrypoint=chatter;capabilities=TimeRead;"
                  "log_uri=sel://tests/logs.app/chatter",
                  "--module", std::string(kAtlasSpec), "--module",
                  "path=atlas_client.wasm;entrypoint=follow_log;capabilities=SingletonLookup,"
                  "ChannelLifecycle,ChannelReader,ChannelWriter,TimeRead;"
                  "args=utf8:sel://tests/logs.app/chatter"});
  auto followed = p->waitForLine(lineWith({"followed", "module=atlas_client.wasm"}), 60s);
  if (!followed) {
    p->signal(SIGTERM);
    auto r = p->wait(30s);
    FAIL() << "the follower never read the published stream\n" << r.out << r.err;
  }
  EXPECT_THAT(*followed, HasSubstr("writer_error=InvalidHandle"));
  p->signal(SIGTERM);
  auto r = p->wait(30s);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

}  // namespace
}  // namespace selium::testing
