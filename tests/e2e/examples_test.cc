// End-to-end tests of the example guests (examples/request_reply, examples/pipeline): the real
// selium-runtime runs each orchestrator from a work dir holding the modules under the names the
// examples start their children by, and the outcome is read from its JSON log records.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "example_run.h"
#include "support/temp_dir.h"

namespace selium::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr std::string_view kRequestReplyCaps =
    "capabilities=ProcessLifecycle,ChannelLifecycle,ChannelReader,ChannelWriter,"
    "SingletonRegistry,SingletonLookup,TimeRead";
constexpr std::string_view kPipelineCaps =
    "capabilities=ProcessLifecycle,ChannelLifecycle,ChannelReader,ChannelWriter";

class ExamplesE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    work_ = temp_.path() / "work";
    fs::create_directories(work_ / "modules");
  }

  void addModule(const std::string& guest, const std::string& as) {
    fs::copy_file(fs::path(SELIUM_GUEST_DIR) / guest, work_ / "modules" / as,
                  fs::copy_options::overwrite_existing);
  }

  // Runs the runtime with one spec until that process has exited, then stops the runtime (a
  // server never exits by itself) and returns every record it printed.
  ExampleRun runExample(const std::string& spec) {
    // The spec's process is the first to start, before any of its children.
    return selium::testing::runExample(
        {SELIUM_RUNTIME_BIN, work_, temp_.path(), {spec}, [](const json&) { return true; }});
  }

  // The runtime had nothing left to stop when it was told to shut down: every process the
  // orchestrator started had ended.
  static void expectNothingLeftRunning(const ExampleRun& run) { run.expectNothingLeftRunning(); }

  TempDir temp_{"e2e-examples"};
  fs::path work_;
};

// ---- request_reply ----

std::string demoSpec(std::string_view entrypoint, uint32_t clients, uint32_t requests) {
  return "path=request_reply.wasm;entrypoint=" + std::string(entrypoint) + ";" +
         std::string(kRequestReplyCaps) + ";params=u32,u32;args=" + std::to_string(clients) + "," +
         std::to_string(requests);
}

// Every client of the demo exited 0 after all its requests, and the demo said so.
void expectEveryClientServed(const ExampleRun& run, uint32_t clients, uint32_t requests) {
  json demo_exit = run.fieldsOf("process exited", run.orchestrator);
  ASSERT_FALSE(demo_exit.is_null());
  EXPECT_EQ(demo_exit["reason"], "normal");
  EXPECT_EQ(demo_exit["status"], 0);

  std::vector<int64_t> children = run.childrenOf(run.orchestrator);
  ASSERT_EQ(children.size(), clients + 1u);
  std::set<int64_t> client_pids;
  int servers = 0;
  for (int64_t pid : children) {
    json exit = run.fieldsOf("process exited", pid);
    ASSERT_FALSE(exit.is_null()) << "child " << pid << " has no exit record";
    std::string entrypoint = run.entrypointOf(pid);
    if (entrypoint == "server") {
      ++servers;
      EXPECT_EQ(exit["reason"], "terminated");
      EXPECT_EQ(exit["detail"], "stopped");
    } else {
      EXPECT_EQ(entrypoint, "client");
      EXPECT_EQ(exit["reason"], "normal") << "client " << pid << ": " << exit["detail"];
      EXPECT_EQ(exit["status"], 0);
      client_pids.insert(pid);
    }
  }
  EXPECT_EQ(servers, 1);
  EXPECT_EQ(client_pids.size(), clients);

  // Each client id once, each after all its requests, each from one of the clients.
  std::set<uint32_t> ids;
  for (const json& done : run.guest("client done")) {
    EXPECT_EQ(done["requests"], requests);
    EXPECT_TRUE(client_pids.count(done["pid"].get<int64_t>())) << done;
    ids.insert(done["client"].get<uint32_t>());
  }
  EXPECT_EQ(ids.size(), clients);
  EXPECT_EQ(run.guest("client done").size(), clients);
  EXPECT_TRUE(run.guest("client failed").empty());

  auto demo_done = run.guest("demo done");
  ASSERT_EQ(demo_done.size(), 1u);
  EXPECT_EQ(demo_done[0]["clients"], clients);
  EXPECT_EQ(demo_done[0]["succeeded"], clients);
  EXPECT_EQ(demo_done[0]["server"], "stopped");
}

TEST_F(ExamplesE2E, RequestReplyDemoServesEveryClient) {
  addModule("request_reply.wasm", "request_reply.wasm");
  ExampleRun run = runExample(demoSpec("demo", 8, 100));
  ASSERT_GE(run.orchestrator, 0);
  EXPECT_EQ(run.entrypointOf(run.orchestrator), "demo");
  expectEveryClientServed(run, 8, 100);
  EXPECT_EQ(run.guest("serving").size(), 1u);
  expectNothingLeftRunning(run);
}

TEST_F(ExamplesE2E, RequestReplyClientThatNeverReadsDoesNotStallTheOthers) {
  addModule("request_reply.wasm", "request_reply.wasm");
  ExampleRun run = runExample(demoSpec("demo_stalled", 8, 100));
  ASSERT_GE(run.orchestrator, 0);
  // The stall happened: all of the unread requests went in ahead of the clients', and the
  // server ran out of room for that client's replies.
  auto sent = run.guest("stalled client sent its requests");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]["requests"], 4096);
  auto dropping =
      run.guest("a client is not reading its replies; dropping what does not fit its backlog");
  ASSERT_EQ(dropping.size(), 1u);
  EXPECT_GT(dropping[0]["backlog_bytes"].get<uint64_t>(), 0u);
  expectEveryClientServed(run, 8, 100);
  expectNothingLeftRunning(run);
}

// ---- pipeline ----

std::string pipelineSpec(uint32_t workers, uint32_t items) {
  return "path=pipeline.wasm;entrypoint=run;" + std::string(kPipelineCaps) +
         ";params=u32,u32;args=" + std::to_string(workers) + "," + std::to_string(items);
}

void expectPipelineTotal(const ExampleRun& run, uint32_t workers, uint32_t items,
                         const std::string& sum) {
  json run_exit = run.fieldsOf("process exited", run.orchestrator);
  ASSERT_FALSE(run_exit.is_null());
  EXPECT_EQ(run_exit["reason"], "normal");
  EXPECT_EQ(run_exit["status"], 0);

  auto done = run.guest("pipeline done");
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0]["items"], items);
  EXPECT_EQ(done[0]["sum"], sum);
  EXPECT_EQ(done[0]["expected"], sum);
  EXPECT_EQ(done[0]["workers_ok"], workers);

  std::vector<int64_t> children = run.childrenOf(run.orchestrator);
  ASSERT_EQ(children.size(), workers);
  for (int64_t pid : children) {
    EXPECT_EQ(run.entrypointOf(pid), "worker");
    json exit = run.fieldsOf("process exited", pid);
    ASSERT_FALSE(exit.is_null());
    EXPECT_EQ(exit["reason"], "normal") << exit["detail"];
    EXPECT_EQ(exit["status"], 0);
  }
  // Each item went to exactly one worker.
  uint64_t handled = 0;
  std::set<uint32_t> indexes;
  for (const json& worker : run.guest("worker done")) {
    handled += worker["items"].get<uint64_t>();
    indexes.insert(worker["index"].get<uint32_t>());
  }
  EXPECT_EQ(handled, items);
  EXPECT_EQ(indexes.size(), workers);
}

TEST_F(ExamplesE2E, PipelineRunSumsEveryItemOnce) {
  addModule("pipeline.wasm", "pipeline.wasm");
  ExampleRun run = runExample(pipelineSpec(4, 100000));
  ASSERT_GE(run.orchestrator, 0);
  EXPECT_EQ(run.entrypointOf(run.orchestrator), "run");
  expectPipelineTotal(run, 4, 100000, "333338333350000");  // n(n+1)(2n+1)/6
  expectNothingLeftRunning(run);
}

TEST_F(ExamplesE2E, PipelineSumsPastSixtyFourBits) {
  // The old 64-bit expected value overflowed from 2,097,152 items; this sum is over 2^64 too.
  addModule("pipeline.wasm", "pipeline.wasm");
  ExampleRun run = runExample(pipelineSpec(2, 5000000));
  ASSERT_GE(run.orchestrator, 0);
  expectPipelineTotal(run, 2, 5000000, "41666679166667500000");
  expectNothingLeftRunning(run);
}

TEST_F(ExamplesE2E, PipelineWorkerTrapFailsTheRunAndStopsTheOthers) {
  addModule("pipeline.wasm", "pipeline.wasm");
  ExampleRun run =
      runExample("path=pipeline.wasm;entrypoint=run_poisoned;" + std::string(kPipelineCaps) +
                 ";params=u32,u32,u32;args=4,100000,50000");
  ASSERT_GE(run.orchestrator, 0);
  json run_exit = run.fieldsOf("process exited", run.orchestrator);
  ASSERT_FALSE(run_exit.is_null());
  EXPECT_EQ(run_exit["reason"], "error");
  EXPECT_EQ(run_exit["status"], 1);
  EXPECT_TRUE(run.guest("pipeline done").empty());

  auto poisoned = run.guest("poisoned item: trapping");
  ASSERT_EQ(poisoned.size(), 1u);
  EXPECT_EQ(poisoned[0]["item"], 50000);
  int64_t trapped = poisoned[0]["pid"].get<int64_t>();

  auto ended = run.guest("a worker ended before the work was done");
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0]["reason"], "trap");
  EXPECT_EQ(ended[0]["index"], poisoned[0]["index"]);
  EXPECT_LT(ended[0]["received"].get<uint64_t>(), 100000u);

  // The trapped worker trapped; every other one was stopped, none left waiting for work.
  std::vector<int64_t> children = run.childrenOf(run.orchestrator);
  ASSERT_EQ(children.size(), 4u);
  for (int64_t pid : children) {
    json exit = run.fieldsOf("process exited", pid);
    ASSERT_FALSE(exit.is_null()) << "worker " << pid << " never ended";
    if (pid == trapped) {
      EXPECT_EQ(exit["reason"], "trap");
    } else {
      EXPECT_EQ(exit["reason"], "terminated") << exit["detail"];
      EXPECT_EQ(exit["detail"], "stopped");
    }
  }
  expectNothingLeftRunning(run);
}

TEST_F(ExamplesE2E, PipelineWithoutAnyWorkerFailsInsteadOfWaiting) {
  // The workers are started from modules/pipeline.wasm, which is not there: none starts.
  addModule("pipeline.wasm", "orchestrator.wasm");
  ExampleRun run = runExample("path=orchestrator.wasm;entrypoint=run;" +
                              std::string(kPipelineCaps) + ";params=u32,u32;args=3,1000");
  ASSERT_GE(run.orchestrator, 0);
  json run_exit = run.fieldsOf("process exited", run.orchestrator);
  ASSERT_FALSE(run_exit.is_null());
  EXPECT_EQ(run_exit["reason"], "error");
  EXPECT_EQ(run_exit["status"], 1);
  auto ended = run.guest("a worker ended before the work was done");
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0]["reason"], "failed");
  EXPECT_EQ(ended[0]["detail"], "module file not found: modules/pipeline.wasm");
  EXPECT_EQ(ended[0]["received"], 0);
  EXPECT_EQ(run.withMessage("child process could not start").size(), 3u);
  expectNothingLeftRunning(run);
}

TEST_F(ExamplesE2E, PipelineRefusesZeroWorkers) {
  addModule("pipeline.wasm", "pipeline.wasm");
  ExampleRun run = runExample(pipelineSpec(0, 10));
  ASSERT_GE(run.orchestrator, 0);
  json run_exit = run.fieldsOf("process exited", run.orchestrator);
  ASSERT_FALSE(run_exit.is_null());
  EXPECT_EQ(run_exit["reason"], "error");
  EXPECT_EQ(run_exit["status"], 1);
  EXPECT_EQ(run.guest("a pipeline needs at least one worker").size(), 1u);
  EXPECT_TRUE(run.childrenOf(run.orchestrator).empty());
  expectNothingLeftRunning(run);
}

}  // namespace
}  // namespace selium::testing
