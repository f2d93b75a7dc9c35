#include "runtime_fixture.h"

#include <signal.h>

#include <fstream>
#include <iterator>
#include <utility>

namespace selium::testing {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> runtimeArgv(const fs::path& work, const RuntimeOptions& options) {
  std::vector<std::string> argv = {runtimeBinary(), "-w", work.string()};
  if (options.log_format == LogFormat::Json) argv.insert(argv.end(), {"--log-format", "json"});
  if (!options.log_level.empty()) argv.insert(argv.end(), {"--log-level", options.log_level});
  if (options.workers > 0) argv.insert(argv.end(), {"--workers", std::to_string(options.workers)});
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
  for (const std::string& spec : options.modules) argv.insert(argv.end(), {"--module", spec});
  return argv;
}

json parseRecord(std::string_view line) {
  return json::parse(line, nullptr, /*allow_exceptions=*/false);
}

bool isGuestRecord(const json& record, std::string_view message) {
  return !record.is_discarded() && record.contains("fields") &&
         record.value("message", "") == message &&
         record.value("target", "").starts_with("selium.guest");
}

}  // namespace

const char* runtimeBinary() { return SELIUM_RUNTIME_BIN; }
fs::path guestDir() { return SELIUM_GUEST_DIR; }

// ---- RuntimeProcess ----

RuntimeProcess::RuntimeProcess(const fs::path& work, const fs::path& cwd,
                               const RuntimeOptions& options)
    : process_(SubprocessOptions{runtimeArgv(work, options), {}, cwd}),
      exit_check_(options.exit_check) {}

RuntimeProcess::~RuntimeProcess() {
  if (!stopped_) (void)stop();
}

json RuntimeProcess::waitForGuest(std::string_view message, const JsonMatch& match,
                                  std::chrono::milliseconds timeout) {
  json found;
  waitForLine(
      [&](std::string_view line) {
        json record = parseRecord(line);
        if (!isGuestRecord(record, message)) return false;
        if (match && !match(record["fields"])) return false;
        found = record["fields"];
        return true;
      },
      timeout);
  return found;
}

json RuntimeProcess::waitForRecord(std::string_view message, std::chrono::milliseconds timeout) {
  json found;
  waitForLine(
      [&](std::string_view line) {
        json record = parseRecord(line);
        if (record.is_discarded() || record.value("message", "") != message) return false;
        found = record.value("fields", json::object());
        return true;
      },
      timeout);
  return found;
}

std::vector<json> RuntimeProcess::guestRecords(std::string_view message) {
  std::vector<json> out;
  waitForLine(
      [&](std::string_view line) {
        json record = parseRecord(line);
        if (isGuestRecord(record, message)) out.push_back(record["fields"]);
        return false;
      },
      200ms);
  return out;
}

uint16_t RuntimeProcess::waitListening() {
  json listening = waitForGuest("listening");
  if (listening.is_null() || !listening.contains("port")) {
    ADD_FAILURE() << "the module never logged \"listening\"; the runtime printed:\n" << stop().out;
    return 0;
  }
  return listening["port"].get<uint16_t>();
}

std::optional<std::string> RuntimeProcess::waitForLine(
    const std::function<bool(std::string_view)>& match, std::chrono::milliseconds timeout) {
  process_.rewind();
  return process_.waitForLine(match, timeout);
}

SubprocessResult RuntimeProcess::stop() {
  stopped_ = true;
  process_.signal(SIGTERM);
  SubprocessResult result = process_.wait(30s);
  EXPECT_FALSE(result.timed_out);
  if (exit_check_ == ExitCheck::ExpectZero) {
    EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  }
  return result;
}

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::string hexOf(std::string_view bytes) {
  constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 0xf];
  }
  return out;
}

std::function<bool(std::string_view)> lineContaining(std::vector<std::string> parts) {
  return [parts = std::move(parts)](std::string_view line) {
    for (const std::string& part : parts) {
      if (line.find(part) == std::string_view::npos) return false;
    }
    return true;
  };
}

// ---- RuntimeTest ----

RuntimeTest::RuntimeTest(std::string_view name) : temp_(name), work_(temp_.path() / "work") {
  fs::create_directories(work_ / "modules");
}

void RuntimeTest::addModule(const fs::path& work, const std::string& guest) {
  fs::copy_file(guestDir() / guest, work / "modules" / guest, fs::copy_options::overwrite_existing);
}

fs::path RuntimeTest::makeWorkDir(const std::string& name, const std::vector<std::string>& guests) {
  const fs::path work = temp_.path() / name;
  fs::create_directories(work / "modules");
  for (const std::string& guest : guests) addModule(work, guest);
  return work;
}

void RuntimeTest::generateCerts(const fs::path& dir) {
  SubprocessResult r = runProcess(
      SubprocessOptions{
          {runtimeBinary(), "generate-certs", "--output-dir", dir.string()}, {}, temp_.path()},
      60s);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_TRUE(fs::exists(dir / "client.key"));
}

std::unique_ptr<RuntimeProcess> RuntimeTest::startRuntime(const fs::path& work,
                                                          const RuntimeOptions& options) {
  return std::make_unique<RuntimeProcess>(work, temp_.path(), options);
}

}  // namespace selium::testing
