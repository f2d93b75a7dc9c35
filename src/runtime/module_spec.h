// The `--module SPEC` grammar: parsing and validation into the plain struct the engine consumes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "kernel/capability.h"

namespace selium::runtime {

// The ABI kind of one entrypoint parameter.
enum class ParamKind {
  I8,
  U8,
  I16,
  U16,
  I32,
  U32,
  I64,
  U64,
  F32,
  F64,
  Utf8,
  Buffer,
  Hex,
  Resource
};

// Canonical spelling: "i8" … "f64", "utf8", "buffer", "hex", "resource".
std::string_view paramKindName(ParamKind kind);

// Accepts canonical names and aliases, case-insensitively: buffer|bytes|byte|data,
// utf8|utf-8|string|str|text, resource|handle, hex.
std::optional<ParamKind> parseParamKind(std::string_view text);

// Byte-carrying kinds (buffer, hex) share one wasm shape: (ptr, len) of raw bytes. `hex` only
// says how the text of a value is decoded.
bool isBytesKind(ParamKind kind);

// A decoded argument. Holds int64_t for i8…i64, uint64_t for u8…u64 and resource, float for f32,
// double for f64, std::string for utf8 (valid UTF-8), bytes for buffer and hex.
using ArgValue = std::variant<int64_t, uint64_t, float, double, std::string, std::vector<uint8_t>>;

struct EntrypointArg {
  ParamKind kind;  // the parameter's kind (from params, or from the arg's own type prefix)
  ArgValue value;
  friend bool operator==(const EntrypointArg&, const EntrypointArg&) = default;
};

// One module to start, as written in a --module flag.
struct ModuleSpec {
  std::size_t number = 0;  // 1-based position among the --module flags, for messages
  std::string path;        // relative to the work dir's modules/; never absolute, no ".."
  std::string entrypoint = "start";
  kernel::CapabilitySet capabilities;  // may be empty: a process with no capabilities
  std::vector<EntrypointArg> args;     // one per parameter, in order
  std::optional<std::string> log_uri;
};

// One problem with a spec. `key` is the spec key (or "entry N" for a malformed entry); `value`
// is the offending text (may be empty when the problem is an absence).
struct SpecError {
  std::size_t number = 0;
  std::string key;
  std::string value;
  std::string message;
  // "--module #2: capabilities "NetFoo": unknown capability"
  std::string toString() const;
  friend bool operator==(const SpecError&, const SpecError&) = default;
};

struct ModuleSpecParse {
  std::optional<ModuleSpec> spec;  // set exactly when `errors` is empty
  std::vector<SpecError> errors;   // every problem found, not just the first
};

// Parses the text of the `number`-th --module flag.
ModuleSpecParse parseModuleSpec(std::string_view text, std::size_t number);

}  // namespace selium::runtime
