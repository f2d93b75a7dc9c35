// A child process start request (process_start): the FlatBuffers selium.abi.StartRequest of
// schemas/process.fbs, verified and checked field by field. Guest bytes: nothing is trusted.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kernel/capability.h"
#include "kernel/entry_args.h"
#include "util/result.h"

namespace selium::kernel {

struct StartRequest {
  std::string module;  // relative path under modules/, checked like a spec's path
  std::string entrypoint = "start";
  CapabilitySet capabilities;
  // Resource args hold the starting process's handle number (uint64_t) until the driver turns
  // them into resources.
  std::vector<EntrypointArg> args;
  std::optional<std::string> log_uri;
  bool follow_logs = false;  // start the log stream before the child runs
  std::vector<std::string> env;
};

// Limits on a request besides its size (SELIUM_START_REQUEST_MAX_BYTES).
inline constexpr std::size_t kMaxStartArgs = 64;
inline constexpr std::size_t kMaxStartEnv = 256;
inline constexpr std::size_t kMaxModulePathBytes = 4096;
inline constexpr std::size_t kMaxEntrypointBytes = 256;

// Decodes and checks a request; the error names the field and what is wrong with it.
Result<StartRequest> decodeStartRequest(std::span<const uint8_t> bytes);

}  // namespace selium::kernel
