// The real selium-runtime for end-to-end tests: RuntimeTest, a GoogleTest fixture with a temporary
// work dir (guests copied in, certificates generated), and RuntimeProcess, one running runtime
// whose log a test reads. Every wait is bounded; nothing here measures time.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "subprocess.h"
#include "support/temp_dir.h"

namespace selium::testing {

// Generous: a loaded machine may be slow to start processes.
inline constexpr std::chrono::milliseconds kRuntimeStartTimeout = std::chrono::seconds(60);

// The built selium-runtime binary and the build's directory of guests (SELIUM_GUEST_DIR).
const char* runtimeBinary();
std::filesystem::path guestDir();

enum class LogFormat { Json, Text };

// What RuntimeProcess::stop() expects of the runtime's exit after SIGTERM (it always expects the
// runtime to exit before the deadline).
enum class ExitCheck { ExpectZero, AnyStatus };

// How to run selium-runtime: `-w <work> [--log-format json] [--log-level L] [--workers N]
// <extra_args...> --module <spec>...`.
// Every member has a default, so designated initializers may name only what they set.
struct RuntimeOptions {
  std::vector<std::string> modules = {};  // one --module spec each
  LogFormat log_format = LogFormat::Json;
  std::string log_level = {};  // empty: the runtime's default
  int workers = 0;             // 0: the runtime's default
  std::vector<std::string> extra_args = {};
  ExitCheck exit_check = ExitCheck::ExpectZero;
};

// One selium-runtime process and its stdout. The JSON readers (waitForGuest, waitForRecord,
// guestRecords, waitListening) need LogFormat::Json; each reads from the first line again. The
// runtime is stopped when the object goes, if the test did not stop it.
class RuntimeProcess {
 public:
  using JsonMatch = std::function<bool(const nlohmann::json&)>;

  RuntimeProcess(const std::filesystem::path& work, const std::filesystem::path& cwd,
                 const RuntimeOptions& options);
  ~RuntimeProcess();
  RuntimeProcess(const RuntimeProcess&) = delete;
  RuntimeProcess& operator=(const RuntimeProcess&) = delete;

  // The fields of the first guest record with `message` that `match` accepts (null json at the
  // deadline).
  nlohmann::json waitForGuest(std::string_view message, const JsonMatch& match = {},
                              std::chrono::milliseconds timeout = kRuntimeStartTimeout);

  // The fields of the first record with `message` from anyone, the runtime included ({} when it
  // has none; null json at the deadline), e.g. the runtime's "process exited".
  nlohmann::json waitForRecord(std::string_view message,
                               std::chrono::milliseconds timeout = kRuntimeStartTimeout);

  // The fields of every guest record with `message` printed so far (reads 200 ms for more).
  std::vector<nlohmann::json> guestRecords(std::string_view message);

  // The port of the first guest "listening" record's `port` field; 0 and a test failure (with
  // what the runtime printed, having stopped it) if there is none.
  uint16_t waitListening();

  // The first output line `match` accepts (any log format), or nullopt at the deadline.
  std::optional<std::string> waitForLine(const std::function<bool(std::string_view)>& match,
                                         std::chrono::milliseconds timeout = kRuntimeStartTimeout);

  // Sends SIGTERM and waits (30 s) for the exit, checked as the options said; what it printed.
  SubprocessResult stop();

  Subprocess& process() { return process_; }

 private:
  Subprocess process_;
  ExitCheck exit_check_;
  bool stopped_ = false;
};

// The bytes of a file ("" if it cannot be read).
std::string readFile(const std::filesystem::path& path);

// Lower-case hex of `bytes`, as a module spec's `hex:` arguments take them (keys, certificates).
std::string hexOf(std::string_view bytes);

// Matches a (text log) line that contains every one of `parts`.
std::function<bool(std::string_view)> lineContaining(std::vector<std::string> parts);

// A fixture with a temporary directory `temp_` holding the work dir `work_` (with an empty
// modules/). Runtimes run with `temp_` as their working directory.
class RuntimeTest : public ::testing::Test {
 protected:
  // `name` names the temporary directory (selium-<name>-XXXXXX).
  explicit RuntimeTest(std::string_view name);

  // Copies the built guest `guest` (e.g. "sleeper.wasm") into work_/modules.
  void addModule(const std::string& guest) { addModule(work_, guest); }
  static void addModule(const std::filesystem::path& work, const std::string& guest);

  // Another work dir, temp_/<name>, with modules/ holding `guests`.
  std::filesystem::path makeWorkDir(const std::string& name,
                                    const std::vector<std::string>& guests);

  // A CA with server and client certificates in `dir` (selium-runtime generate-certs); a fatal
  // test failure if the runtime refuses.
  void generateCerts(const std::filesystem::path& dir);

  // Starts selium-runtime on work_ (or on `work`).
  std::unique_ptr<RuntimeProcess> startRuntime(const RuntimeOptions& options) {
    return startRuntime(work_, options);
  }
  std::unique_ptr<RuntimeProcess> startRuntime(const std::filesystem::path& work,
                                               const RuntimeOptions& options);

  TempDir temp_;
  std::filesystem::path work_;
};

}  // namespace selium::testing
