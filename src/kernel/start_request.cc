// Decoding of process_start requests.
#include "kernel/start_request.h"

#include <selium/abi/hostcalls.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "selium/schemas/process_generated.h"
#include "util/strings.h"

namespace selium::kernel {
namespace {

std::string_view view(const flatbuffers::String* s) {
  return s == nullptr ? std::string_view() : std::string_view(s->data(), s->size());
}

// A spec-style module path: relative, no "..", no NUL, UTF-8.
std::optional<std::string> pathProblem(std::string_view path) {
  if (path.empty()) return "module path must not be empty";
  if (path.size() > kMaxModulePathBytes) {
    return "module path is " + std::to_string(path.size()) + " bytes, over the limit of " +
           std::to_string(kMaxModulePathBytes);
  }
  if (!util::isValidUtf8(path)) return "module path is not valid UTF-8";
  if (path.find('\0') != std::string_view::npos) return "module path contains a NUL byte";
  if (path.front() == '/') return "module path must be relative to the work dir's modules/ folder";
  for (std::string_view segment : util::split(path, "/")) {
    if (segment == "..") return "module path must not contain \"..\" segments";
  }
  return std::nullopt;
}

Result<EntrypointArg> decodeArg(const abi::Arg& arg, std::size_t index) {
  std::string where = "args[" + std::to_string(index) + "]";
  auto kind = static_cast<int>(arg.kind());
  if (kind < 0 || kind > static_cast<int>(ParamKind::Resource)) {
    return Error{where + ": unknown kind " + std::to_string(kind)};
  }
  auto param = static_cast<ParamKind>(kind);
  auto signedIn = [&](int64_t lo, int64_t hi) -> Result<EntrypointArg> {
    if (arg.int_() < lo || arg.int_() > hi) {
      return Error{where + ": " + std::string(paramKindName(param)) + " value " +
                   std::to_string(arg.int_()) + " is out of range"};
    }
    return EntrypointArg{param, ArgValue{int64_t{arg.int_()}}};
  };
  auto unsignedIn = [&](uint64_t hi) -> Result<EntrypointArg> {
    if (arg.uint() > hi) {
      return Error{where + ": " + std::string(paramKindName(param)) + " value " +
                   std::to_string(arg.uint()) + " is out of range"};
    }
    return EntrypointArg{param, ArgValue{uint64_t{arg.uint()}}};
  };
  auto bytes = [&]() {
    const auto* b = arg.bytes();
    return b == nullptr ? std::vector<uint8_t>() : std::vector<uint8_t>(b->begin(), b->end());
  };
  switch (param) {
    case ParamKind::I8:
      return signedIn(INT8_MIN, INT8_MAX);
    case ParamKind::I16:
      return signedIn(INT16_MIN, INT16_MAX);
    case ParamKind::I32:
      return signedIn(INT32_MIN, INT32_MAX);
    case ParamKind::I64:
      return signedIn(INT64_MIN, INT64_MAX);
    case ParamKind::U8:
      return unsignedIn(UINT8_MAX);
    case ParamKind::U16:
      return unsignedIn(UINT16_MAX);
    case ParamKind::U32:
      return unsignedIn(UINT32_MAX);
    case ParamKind::U64:
      return unsignedIn(UINT64_MAX);
    case ParamKind::F32:
      return EntrypointArg{param, ArgValue{arg.f32()}};
    case ParamKind::F64:
      return EntrypointArg{param, ArgValue{arg.f64()}};
    case ParamKind::Utf8: {
      std::vector<uint8_t> b = bytes();
      std::string text(b.begin(), b.end());
      if (!util::isValidUtf8(text)) return Error{where + ": utf8 value is not valid UTF-8"};
      return EntrypointArg{param, ArgValue{std::move(text)}};
    }
    case ParamKind::Buffer:
    case ParamKind::Hex:
      return EntrypointArg{param, ArgValue{bytes()}};
    case ParamKind::Resource:
      if (arg.handle() <= 0) {
        return Error{where + ": resource handle " + std::to_string(arg.handle()) +
                     " is not a handle (handles are > 0)"};
      }
      return EntrypointArg{param, ArgValue{static_cast<uint64_t>(arg.handle())}};
  }
  return Error{where + ": unknown kind " + std::to_string(kind)};
}

}  // namespace

Result<StartRequest> decodeStartRequest(std::span<const uint8_t> bytes) {
  if (bytes.size() > SELIUM_START_REQUEST_MAX_BYTES) {
    return Error{"start request is " + std::to_string(bytes.size()) + " bytes, over the limit of " +
                 std::to_string(SELIUM_START_REQUEST_MAX_BYTES)};
  }
  // The verifier reads scalars in place: give it an aligned copy (guest buffers may be at any
  // address).
  std::vector<uint8_t> aligned(bytes.begin(), bytes.end());
  flatbuffers::Verifier verifier(aligned.data(), aligned.size(), /*max_depth=*/8,
                                 /*max_tables=*/4096, /*check_alignment=*/true);
  if (!abi::VerifyStartRequestBuffer(verifier)) {
    return Error{"start request is not a valid selium.abi.StartRequest FlatBuffer (" +
                 std::to_string(bytes.size()) + " bytes; build it with schemas/process.fbs)"};
  }
  const abi::StartRequest* in = abi::GetStartRequest(aligned.data());
  StartRequest out;
  out.module = std::string(view(in->path()));
  if (auto problem = pathProblem(out.module)) {
    return Error{"module \"" + util::escapeControl(out.module.substr(0, 200)) + "\": " + *problem};
  }
  if (in->entrypoint() != nullptr) {
    out.entrypoint = std::string(view(in->entrypoint()));
    if (out.entrypoint.empty()) return Error{"entrypoint must not be empty (leave it out: start)"};
    if (out.entrypoint.size() > kMaxEntrypointBytes || !util::isValidUtf8(out.entrypoint)) {
      return Error{"entrypoint must be valid UTF-8 of at most " +
                   std::to_string(kMaxEntrypointBytes) + " bytes"};
    }
  }
  if (const auto* caps = in->capabilities(); caps != nullptr) {
    for (uint32_t id : *caps) {
      if (id >= kCapabilityCount) {
        return Error{"capabilities: " + std::to_string(id) + " is not a capability id (0-" +
                     std::to_string(kCapabilityCount - 1) + ")"};
      }
      out.capabilities.add(static_cast<Capability>(id));
    }
  }
  if (const auto* args = in->args(); args != nullptr) {
    if (args->size() > kMaxStartArgs) {
      return Error{"args: " + std::to_string(args->size()) + " arguments, over the limit of " +
                   std::to_string(kMaxStartArgs)};
    }
    for (std::size_t i = 0; i < args->size(); ++i) {
      auto arg = decodeArg(*args->Get(static_cast<flatbuffers::uoffset_t>(i)), i);
      if (!arg) return arg.error();
      out.args.push_back(std::move(*arg));
    }
  }
  out.follow_logs = in->follow_logs();
  if (in->log_uri() != nullptr) {
    std::string uri(view(in->log_uri()));
    if (uri.empty()) return Error{"log_uri must not be empty (leave it out instead)"};
    if (!util::isValidUtf8(uri)) return Error{"log_uri is not valid UTF-8"};
    out.log_uri = std::move(uri);
  }
  if (const auto* env = in->env(); env != nullptr) {
    if (env->size() > kMaxStartEnv) {
      return Error{"env: " + std::to_string(env->size()) + " entries, over the limit of " +
                   std::to_string(kMaxStartEnv)};
    }
    std::vector<std::string> names;
    for (const auto* entry : *env) {
      std::string text(view(entry));
      std::size_t eq = text.find('=');
      if (eq == std::string::npos || text.find('\0') != std::string::npos ||
          !util::isValidUtf8(text)) {
        return Error{"env: \"" + util::escapeControl(text.substr(0, 200)) +
                     "\" is not NAME=value (UTF-8 text)"};
      }
      std::string_view name = std::string_view(text).substr(0, eq);
      if (!util::isEnvName(name)) {
        return Error{"env: invalid variable name \"" +
                     util::escapeControl(text.substr(0, eq).substr(0, 200)) +
                     "\": a name starts with a letter or \"_\" and has only letters, digits and "
                     "\"_\""};
      }
      names.emplace_back(name);
      out.env.push_back(std::move(text));
    }
    std::sort(names.begin(), names.end());
    if (auto twice = std::adjacent_find(names.begin(), names.end()); twice != names.end()) {
      return Error{"env: variable " + *twice + " is given twice"};
    }
  }
  return out;
}

}  // namespace selium::kernel
