// The `selium` command line: parsing (CLI11) into an Invocation, and running it against a
// Remote Client server. docs/control-plane.md and `selium --help` describe the commands.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "cli/args.h"
#include "control/protocol.h"

namespace selium::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct StartCommand {
  control::StartRequest request;
  bool attach = false;
};
struct StopCommand {
  uint64_t pid = 0;
};
struct ListCommand {
  bool json = false;
};
struct LogsCommand {
  uint64_t pid = 0;
  bool follow = false;
};
struct ChannelCreateCommand {
  uint32_t capacity = 0;
};
struct ChannelDeleteCommand {
  uint64_t channel = 0;
};
struct PublishCommand {
  uint64_t channel = 0;
  std::vector<std::string> messages;  // empty: stdin, one frame per line
};
struct SubscribeCommand {
  uint64_t channel = 0;
  uint64_t count = 0;  // 0: until the channel ends
  bool weak = false;
};
using Command =
    std::variant<StartCommand, StopCommand, ListCommand, LogsCommand, ChannelCreateCommand,
                 ChannelDeleteCommand, PublishCommand, SubscribeCommand>;

struct Invocation {
  ServerAddress server;
  std::filesystem::path cert_dir;
  std::chrono::milliseconds timeout{15000};
  Command command;
};

// Either an invocation to run, or an exit code with what to print (help, version, usage errors).
struct Parsed {
  std::optional<Invocation> invocation;
  int exit_code = kExitOk;
  std::string out;
  std::string err;
};

// `env` looks up SELIUM_SERVER, SELIUM_CERT_DIR and SELIUM_WORK_DIR (nullptr: unset).
Parsed parseCommandLine(int argc, const char* const* argv,
                        const std::function<const char*(const char*)>& env);

// Runs it: prints results to stdout, errors to stderr; returns the exit code.
int execute(const Invocation& invocation);

std::string versionText();

// "2h03m", "4m05s", "12s", "850ms": uptime as `selium list` prints it.
std::string formatUptime(uint64_t ms);

}  // namespace selium::cli
