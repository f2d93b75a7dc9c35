// End-to-end tests of the Switchboard examples (examples/sb_request_reply, examples/sb_pipeline):
// the real selium-runtime runs the real Switchboard module (selium_switchboard_server.wasm) and an
// example's orchestrator side by side, as their READMEs say; the outcome is read from the JSON log
// records: exits, children, and the examples' own summaries.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
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
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr std::string_view kSwitchboardSpec =
    "path=selium_switchboard_server.wasm;capabilities=ChannelLifecycle,ChannelReader,"
    "ChannelWriter,SingletonRegistry,TimeRead";
// What an endpoint process needs, and an orchestrator too (it starts children).
constexpr std::string_view kEndpointCaps =
    "capabilities=SingletonLookup,ChannelLifecycle,ChannelReader,ChannelWriter,TimeRead";
constexpr std::string_view kOrchestratorCaps =
    "capabilities=ProcessLifecycle,SingletonLookup,ChannelLifecycle,ChannelReader,ChannelWriter,"
    "TimeRead";

enum class WithSwitchboard { Yes, No };

class SwitchboardExamplesE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    work_ = temp_.path() / "work";
    fs::create_directories(work_ / "modules");
    for (const char* guest :
         {"selium_switchboard_server.wasm", "sb_request_reply.wasm", "sb_pipeline.wasm"}) {
      fs::copy_file(fs::path(SELIUM_GUEST_DIR) / guest, work_ / "modules" / guest);
    }
  }

  // Runs `specs` (after the Switchboard's) until `count` processes started with `entrypoint`
  // have exited.
  ExampleRun run(std::vector<std::string> specs, const std::string& entrypoint,
                 std::size_t count = 1, WithSwitchboard with = WithSwitchboard::Yes) {
    if (with == WithSwitchboard::Yes) specs.insert(specs.begin(), std::string(kSwitchboardSpec));
    ExampleRun run = runExample({SELIUM_RUNTIME_BIN, work_, temp_.path(), std::move(specs),
                                 [entrypoint](const json& started) {
                                   return started.value("entrypoint", "") == entrypoint;
                                 },
                                 count});
    EXPECT_EQ(run.orchestrators.size(), count);
    if (with == WithSwitchboard::Yes) {
      // The Switchboard served the whole run: it ended only once the runtime shut down.
      EXPECT_EQ(run.guest("switchboard ready").size(), 1u);
      bool shutting_down = false;
      for (const json& record : run.records) {
        if (record.value("message", "") == "shutdown requested; stopping processes") {
          shutting_down = true;
        }
        if (record.value("message", "") == "process exited" &&
            record["fields"].value("module", "") == "selium_switchboard_server.wasm") {
          EXPECT_TRUE(shutting_down) << "the Switchboard ended during the run: " << record;
        }
      }
    }
    return run;
  }

  // The orchestrator's exit record (reason, status, detail).
  static json exitOf(const ExampleRun& run, int64_t pid) {
    json exit = run.fieldsOf("process exited", pid);
    EXPECT_FALSE(exit.is_null()) << "process " << pid << " has no exit record";
    return exit;
  }

  TempDir temp_{"e2e-sb-examples"};
  fs::path work_;
};

// ---- sb_request_reply ----

std::string demoSpec(uint32_t clients, uint32_t requests) {
  return "path=sb_request_reply.wasm;entrypoint=demo;" + std::string(kOrchestratorCaps) +
         ";params=u32,u32;args=" + std::to_string(clients) + "," + std::to_string(requests);
}

// Each "client done" record: all `requests` replies were the client's own, from distinct clients
// and endpoints, each logged by one of `pids`.
void expectEveryReplyItsCallers(const ExampleRun& run, const std::set<int64_t>& pids,
                                uint32_t requests) {
  auto done = run.guest("client done");
  ASSERT_EQ(done.size(), pids.size());
  std::set<uint32_t> ids;
  std::set<uint64_t> endpoints;
  for (const json& client : done) {
    EXPECT_TRUE(pids.count(client["pid"].get<int64_t>())) << client;
    EXPECT_EQ(client["requests"], requests) << client;
    EXPECT_EQ(client["ok"], requests) << client;
    EXPECT_EQ(client["wrong"], 0) << client;
    EXPECT_EQ(client["failed"], 0) << client;
    ids.insert(client["client"].get<uint32_t>());
    endpoints.insert(client["endpoint"].get<uint64_t>());
  }
  EXPECT_EQ(ids.size(), pids.size());
  EXPECT_EQ(endpoints.size(), pids.size());
  EXPECT_TRUE(run.guest("wrong reply").empty());
  EXPECT_TRUE(run.guest("request failed").empty());
  EXPECT_TRUE(run.guest("reply lost").empty());
}

TEST_F(SwitchboardExamplesE2E, RequestReplyDemoAnswersEveryClientWithItsOwnReplies) {
  constexpr uint32_t kClients = 8;
  constexpr uint32_t kRequests = 100;
  ExampleRun r = run({demoSpec(kClients, kRequests)}, "demo");
  ASSERT_GE(r.orchestrator, 0);
  json demo_exit = exitOf(r, r.orchestrator);
  EXPECT_EQ(demo_exit["reason"], "normal") << demo_exit;
  EXPECT_EQ(demo_exit["status"], 0);

  std::vector<int64_t> children = r.childrenOf(r.orchestrator);
  ASSERT_EQ(children.size(), kClients + 1);
  std::set<int64_t> clients;
  int64_t server = -1;
  for (int64_t pid : children) {
    json exit = exitOf(r, pid);
    if (r.entrypointOf(pid) == "serve") {
      EXPECT_EQ(server, -1) << "two servers";
      server = pid;
      EXPECT_EQ(exit["reason"], "terminated");
      EXPECT_EQ(exit["detail"], "stopped");
    } else {
      EXPECT_EQ(r.entrypointOf(pid), "client");
      EXPECT_EQ(exit["reason"], "normal") << exit;
      EXPECT_EQ(exit["status"], 0);
      clients.insert(pid);
    }
  }
  ASSERT_NE(server, -1);
  EXPECT_EQ(clients.size(), kClients);
  expectEveryReplyItsCallers(r, clients, kRequests);

  // The server served under the demo's own name, and the demo said every client succeeded.
  std::string service = "examples.sb_echo." + std::to_string(r.orchestrator);
  auto serving = r.guest("serving");
  ASSERT_EQ(serving.size(), 1u);
  EXPECT_EQ(serving[0]["pid"], server);
  EXPECT_EQ(serving[0]["service"], service);
  auto demo_done = r.guest("demo done");
  ASSERT_EQ(demo_done.size(), 1u);
  EXPECT_EQ(demo_done[0]["service"], service);
  EXPECT_EQ(demo_done[0]["clients"], kClients);
  EXPECT_EQ(demo_done[0]["succeeded"], kClients);
  EXPECT_EQ(demo_done[0]["requests"], kClients * kRequests);
  EXPECT_EQ(demo_done[0]["server"], "stopped");
  r.expectNothingLeftRunning(1);  // the Switchboard
}

// Two demos at once: each has its own server (no "already has a server" refusal), and every
// client still gets only its own replies.
TEST_F(SwitchboardExamplesE2E, TwoRequestReplyDemosRunSideBySide) {
  ExampleRun r = run({demoSpec(4, 50), demoSpec(4, 50)}, "demo", 2);
  std::set<int64_t> clients;
  for (int64_t demo : r.orchestrators) {
    json exit = exitOf(r, demo);
    EXPECT_EQ(exit["reason"], "normal") << exit;
    EXPECT_EQ(exit["status"], 0);
    for (int64_t pid : r.childrenOf(demo)) {
      if (r.entrypointOf(pid) == "client") clients.insert(pid);
    }
  }
  EXPECT_EQ(clients.size(), 8u);
  auto done = r.guest("client done");
  ASSERT_EQ(done.size(), 8u);
  for (const json& client : done) {
    EXPECT_TRUE(clients.count(client["pid"].get<int64_t>())) << client;
    EXPECT_EQ(client["ok"], 50) << client;
    EXPECT_EQ(client["wrong"], 0) << client;
  }
  std::set<std::string> services;
  for (const json& serving : r.guest("serving")) services.insert(serving["service"]);
  EXPECT_EQ(services.size(), 2u);
  r.expectNothingLeftRunning(1);
}

// The server and the clients as separate specs, the clients given first: a client may start
// before its server, and waits until the Switchboard wires it.
TEST_F(SwitchboardExamplesE2E, RequestReplyClientsBeforeTheServerAsSeparateSpecs) {
  std::string caps = std::string(kEndpointCaps);
  ExampleRun r =
      run({"path=sb_request_reply.wasm;entrypoint=client;" + caps + ";args=utf8:echo,u32:1,u32:200",
           "path=sb_request_reply.wasm;entrypoint=client;" + caps + ";args=utf8:echo,u32:2,u32:200",
           "path=sb_request_reply.wasm;entrypoint=serve;" + caps + ";args=utf8:echo"},
          "client", 2);
  std::set<int64_t> clients(r.orchestrators.begin(), r.orchestrators.end());
  ASSERT_EQ(clients.size(), 2u);
  for (int64_t pid : clients) {
    json exit = exitOf(r, pid);
    EXPECT_EQ(exit["reason"], "normal") << exit;
    EXPECT_EQ(exit["status"], 0);
  }
  expectEveryReplyItsCallers(r, clients, 200);
  ASSERT_EQ(r.guest("serving").size(), 1u);
  EXPECT_EQ(r.guest("serving")[0]["service"], "echo");
  r.expectNothingLeftRunning(2);  // the Switchboard and the server
}

// Without the Switchboard the demo says so and fails, having started nothing.
TEST_F(SwitchboardExamplesE2E, RequestReplyDemoFailsCleanlyWithoutTheSwitchboard) {
  ExampleRun r = run({demoSpec(2, 10)}, "demo", 1, WithSwitchboard::No);
  ASSERT_GE(r.orchestrator, 0);
  json exit = exitOf(r, r.orchestrator);
  EXPECT_EQ(exit["reason"], "error");
  EXPECT_EQ(exit["status"], 1);
  auto unreachable = r.guest("cannot reach the Switchboard");
  ASSERT_EQ(unreachable.size(), 1u);
  EXPECT_THAT(unreachable[0]["error"].get<std::string>(),
              AllOf(HasSubstr("selium.switchboard"), HasSubstr("NotFound"),
                    HasSubstr("selium_switchboard_server.wasm")));
  EXPECT_TRUE(r.childrenOf(r.orchestrator).empty());
  r.expectNothingLeftRunning();
}

// ---- sb_pipeline ----

std::string pipelineSpec(std::string_view entrypoint, const std::string& args) {
  return "path=sb_pipeline.wasm;entrypoint=" + std::string(entrypoint) + ";" +
         std::string(kOrchestratorCaps) + ";" + args;
}

// A run that succeeded: every job exactly once, every child exited 0, the workers' own counts
// add up.
void expectEveryJobOnce(const ExampleRun& run, int64_t orchestrator, uint32_t workers,
                        uint32_t items) {
  json run_exit = run.fieldsOf("process exited", orchestrator);
  ASSERT_FALSE(run_exit.is_null());
  EXPECT_EQ(run_exit["reason"], "normal") << run_exit;
  EXPECT_EQ(run_exit["status"], 0);

  json done;
  for (const json& d : run.guest("pipeline done")) {
    if (d["pid"] == orchestrator) done = d;
  }
  ASSERT_FALSE(done.is_null()) << "no pipeline done from " << orchestrator;
  EXPECT_EQ(done["items"], items);
  EXPECT_EQ(done["results"], items);
  EXPECT_EQ(done["duplicates"], 0);
  EXPECT_EQ(done["missing"], 0);
  EXPECT_EQ(done["wrong"], 0);
  EXPECT_EQ(done["reported"], items);
  EXPECT_EQ(done["miscounted_workers"], 0);
  EXPECT_EQ(done["workers"], workers);
  EXPECT_EQ(done["children_ok"], workers + 1);

  // The children: `workers` workers and one producer, all exited 0; the workers' own counts add
  // up to every job, each worker index once.
  std::vector<int64_t> children = run.childrenOf(orchestrator);
  ASSERT_EQ(children.size(), workers + 1u);
  std::set<int64_t> worker_pids;
  int producers = 0;
  for (int64_t pid : children) {
    json exit = run.fieldsOf("process exited", pid);
    ASSERT_FALSE(exit.is_null()) << "child " << pid << " has no exit record";
    EXPECT_EQ(exit["reason"], "normal") << exit;
    EXPECT_EQ(exit["status"], 0);
    if (run.entrypointOf(pid) == "work") {
      worker_pids.insert(pid);
    } else {
      EXPECT_EQ(run.entrypointOf(pid), "produce");
      ++producers;
    }
  }
  EXPECT_EQ(producers, 1);
  uint64_t jobs = 0;
  std::set<uint32_t> indexes;
  for (const json& worker : run.guest("worker done")) {
    if (!worker_pids.count(worker["pid"].get<int64_t>())) continue;
    jobs += worker["jobs"].get<uint64_t>();
    indexes.insert(worker["index"].get<uint32_t>());
  }
  EXPECT_EQ(jobs, items);
  EXPECT_EQ(indexes.size(), workers);
  bool produced = false;
  for (const json& p : run.guest("produced")) {
    if (!std::count(children.begin(), children.end(), p["pid"].get<int64_t>())) continue;
    produced = true;
    EXPECT_EQ(p["jobs"], items);
    EXPECT_EQ(p["workers"], workers);
  }
  EXPECT_TRUE(produced);
}

TEST_F(SwitchboardExamplesE2E, PipelineProcessesEveryJobExactlyOnce) {
  ExampleRun r = run({pipelineSpec("run", "params=u32,u32;args=4,10000")}, "run");
  ASSERT_GE(r.orchestrator, 0);
  expectEveryJobOnce(r, r.orchestrator, 4, 10000);
  EXPECT_TRUE(r.guest("a child ended before the work was done").empty());
  r.expectNothingLeftRunning(1);  // the Switchboard
}

// Two pipelines at once: their names are their own, so neither takes the other's jobs or results
// (a result of the other run would count as wrong or duplicate).
TEST_F(SwitchboardExamplesE2E, TwoPipelinesSideBySideKeepTheirJobsApart) {
  ExampleRun r = run({pipelineSpec("run", "params=u32,u32;args=3,3000"),
                      pipelineSpec("run", "params=u32,u32;args=2,2000")},
                     "run", 2);
  ASSERT_EQ(r.orchestrators.size(), 2u);
  for (int64_t orchestrator : r.orchestrators) {
    uint32_t workers = r.childrenOf(orchestrator).size() == 4 ? 3 : 2;
    expectEveryJobOnce(r, orchestrator, workers, workers * 1000);
  }
  r.expectNothingLeftRunning(1);
}

TEST_F(SwitchboardExamplesE2E, PipelineWorkerTrapFailsTheRunAndStopsTheOthers) {
  ExampleRun r =
      run({pipelineSpec("run_poisoned", "params=u32,u32,u32;args=4,10000,5000")}, "run_poisoned");
  ASSERT_GE(r.orchestrator, 0);
  json run_exit = exitOf(r, r.orchestrator);
  EXPECT_EQ(run_exit["reason"], "error");
  EXPECT_EQ(run_exit["status"], 1);
  EXPECT_TRUE(r.guest("pipeline done").empty());

  auto poisoned = r.guest("poisoned job: trapping");
  ASSERT_EQ(poisoned.size(), 1u);
  EXPECT_EQ(poisoned[0]["seq"], 5000);
  int64_t trapped = poisoned[0]["pid"].get<int64_t>();

  auto ended = r.guest("a child ended before the work was done");
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0]["child"], "worker");
  EXPECT_EQ(ended[0]["reason"], "trap");
  EXPECT_EQ(ended[0]["index"], poisoned[0]["index"]);
  EXPECT_LT(ended[0]["results"].get<uint64_t>(), 10000u);

  // The trapped worker trapped; every other child has ended, none left waiting for work (the
  // producer may have sent its last job just before it was stopped).
  std::vector<int64_t> children = r.childrenOf(r.orchestrator);
  ASSERT_EQ(children.size(), 5u);
  int stopped = 0;
  for (int64_t pid : children) {
    json exit = exitOf(r, pid);
    if (pid == trapped) {
      EXPECT_EQ(exit["reason"], "trap");
    } else if (exit["reason"] == "terminated") {
      EXPECT_EQ(exit["detail"], "stopped");
      ++stopped;
    } else {
      EXPECT_EQ(r.entrypointOf(pid), "produce") << "a worker ended by itself: " << exit;
      EXPECT_EQ(exit["reason"], "normal") << exit;
    }
  }
  EXPECT_GE(stopped, 3);  // the other workers at least
  r.expectNothingLeftRunning(1);
}

// Refused before it looks for the Switchboard, so none runs here.
TEST_F(SwitchboardExamplesE2E, PipelineRefusesZeroWorkers) {
  ExampleRun r =
      run({pipelineSpec("run", "params=u32,u32;args=0,10")}, "run", 1, WithSwitchboard::No);
  ASSERT_GE(r.orchestrator, 0);
  json exit = exitOf(r, r.orchestrator);
  EXPECT_EQ(exit["reason"], "error");
  EXPECT_EQ(exit["status"], 1);
  EXPECT_EQ(r.guest("a pipeline needs 1 to 256 workers").size(), 1u);
  EXPECT_TRUE(r.childrenOf(r.orchestrator).empty());
  r.expectNothingLeftRunning();
}

}  // namespace
}  // namespace selium::testing
