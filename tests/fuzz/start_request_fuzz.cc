// Fuzz target for process_start's request decoder (guest bytes). Beyond "no crash": a decoded
// request keeps every documented limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "kernel/start_request.h"
#include "util/strings.h"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace selium::kernel;
  auto decoded = decodeStartRequest(std::span<const uint8_t>(data, size));
  if (!decoded) {
    check(!decoded.error().message.empty());
    return 0;
  }
  const StartRequest& r = *decoded;
  check(!r.module.empty() && r.module.size() <= kMaxModulePathBytes);
  check(r.module.front() != '/');
  check(selium::util::isValidUtf8(r.module));
  check(!r.entrypoint.empty() && r.entrypoint.size() <= kMaxEntrypointBytes);
  check(r.args.size() <= kMaxStartArgs);
  check(r.env.size() <= kMaxStartEnv);
  for (const std::string& entry : r.env) {
    std::size_t eq = entry.find('=');
    check(eq != std::string::npos && selium::util::isEnvName(entry.substr(0, eq)));
    check(selium::util::isValidUtf8(entry));
  }
  for (const EntrypointArg& arg : r.args) {
    if (arg.kind == ParamKind::Resource) check(std::get<uint64_t>(arg.value) > 0);
    if (arg.kind == ParamKind::Utf8) {
      check(selium::util::isValidUtf8(std::get<std::string>(arg.value)));
    }
  }
  if (r.log_uri) check(!r.log_uri->empty());
  return 0;
}
