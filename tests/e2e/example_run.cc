// Runs example guests in the real selium-runtime and reads its JSON records (example_run.h).
#include "example_run.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>

#include "subprocess.h"

namespace selium::testing {

using nlohmann::json;
using namespace std::chrono_literals;

std::vector<json> ExampleRun::withMessage(std::string_view message) const {
  std::vector<json> found;
  for (const json& r : records) {
    if (r.value("message", "") == message) found.push_back(r);
  }
  return found;
}

json ExampleRun::fieldsOf(std::string_view message, int64_t pid) const {
  json found;
  int count = 0;
  for (const json& r : withMessage(message)) {
    if (r["fields"].value("pid", int64_t{-1}) == pid) {
      found = r["fields"];
      ++count;
    }
  }
  return count == 1 ? found : json();
}

std::vector<int64_t> ExampleRun::childrenOf(int64_t parent) const {
  std::vector<int64_t> pids;
  for (const json& r : withMessage("child process spawned")) {
    if (r["fields"]["parent"] == parent) pids.push_back(r["fields"]["pid"].get<int64_t>());
  }
  return pids;
}

std::string ExampleRun::entrypointOf(int64_t pid) const {
  json started = fieldsOf("process started", pid);
  return started.is_null() ? "" : started.value("entrypoint", "");
}

std::vector<json> ExampleRun::guest(std::string_view message) const {
  std::vector<json> found;
  for (const json& r : withMessage(message)) {
    if (r.value("target", "").starts_with("selium.guest")) found.push_back(r["fields"]);
  }
  return found;
}

void ExampleRun::expectNothingLeftRunning(int expected) const {
  auto shutdown = withMessage("shutdown requested; stopping processes");
  ASSERT_EQ(shutdown.size(), 1u);
  EXPECT_EQ(shutdown[0]["fields"]["processes"], expected);
  EXPECT_EQ(exit_code, 0);
}

ExampleRun runExample(const ExampleRunOptions& options) {
  std::vector<std::string> args = {
      options.runtime, "-w", options.work_dir.string(), "--log-format", "json", "--workers", "4"};
  for (const std::string& spec : options.specs) {
    args.push_back("--module");
    args.push_back(spec);
  }
  Subprocess runtime(SubprocessOptions{args, {}, options.cwd});
  ExampleRun run;
  std::size_t ended = 0;
  auto exited = runtime.waitForLine(
      [&](std::string_view line) {
        json record = json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (record.is_discarded() || !record.contains("fields")) return false;
        const json& fields = record["fields"];
        if (record["message"] == "process started" &&
            run.orchestrators.size() < options.orchestrators && options.is_orchestrator(fields)) {
          run.orchestrators.push_back(fields["pid"].get<int64_t>());
        }
        if (record["message"] == "process exited" &&
            std::count(run.orchestrators.begin(), run.orchestrators.end(),
                       fields.value("pid", int64_t{-1})) != 0) {
          ++ended;
        }
        return ended == options.orchestrators;
      },
      options.timeout);
  if (!run.orchestrators.empty()) run.orchestrator = run.orchestrators.front();
  runtime.signal(SIGTERM);
  SubprocessResult result = runtime.wait(30s);
  EXPECT_TRUE(exited.has_value()) << "an orchestrator never exited; the runtime printed:\n"
                                  << result.out << result.err;
  EXPECT_FALSE(result.timed_out);
  run.exit_code = result.exit_code;
  for (const std::string& line : result.outLines()) {
    json record = json::parse(line, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(record.is_discarded()) << "not a JSON record: " << line;
    if (!record.is_discarded()) run.records.push_back(std::move(record));
  }
  return run;
}

}  // namespace selium::testing
