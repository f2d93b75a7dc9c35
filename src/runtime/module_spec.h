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
#include "kernel/entry_args.h"

namespace selium::runtime {

using kernel::ArgValue;
using kernel::EntrypointArg;
using kernel::isBytesKind;
using kernel::ParamKind;
using kernel::paramKindName;
using kernel::parseParamKind;

// One module to start, as written in a --module flag.
struct ModuleSpec {
  std::size_t number = 0;  // 1-based position among the --module flags, for messages
  std::string path;        // relative to the work dir's modules/; never absolute, no ".."
  std::string entrypoint = "start";
  kernel::CapabilitySet capabilities;  // may be empty: a process with no capabilities
  std::vector<EntrypointArg> args;     // one per parameter, in order
  std::optional<std::string> log_uri;
  std::optional<uint64_t> max_memory;  // bytes; overrides --max-memory for this module
  // All tables together, in elements; overrides --max-table-elements for this module.
  std::optional<uint32_t> max_table_elements;
  std::vector<std::string> env;  // WASI environment: "NAME=value", unique names, in order
};

// The smallest memory limit a spec or --max-memory may set: one wasm page.
inline constexpr uint64_t kMinMaxMemory = 64 * 1024;
// The largest table budget a spec or --max-table-elements may set: 3.2 GB of engine memory.
inline constexpr uint32_t kMaxTableElements = 100'000'000;

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

// Parses the text of the `number`-th --module flag. `modules_dir` is the work dir's modules/
// folder as the user should see it, named where a path leads out of it.
ModuleSpecParse parseModuleSpec(std::string_view text, std::size_t number,
                                std::string_view modules_dir = "<work-dir>/modules/");

// `selium-runtime run`'s --cap (each a comma list, like `capabilities`), --params (like
// `params`), typed ARGS and --env values, one item per command-line word (no comma splitting,
// no trimming), checked under the spec's rules for those keys.
struct RunParts {
  std::vector<std::string> capabilities;
  std::optional<std::string> params;
  std::vector<std::string> args;
  std::vector<std::string> env;
};
// Fills spec.capabilities, spec.args and spec.env; returns every problem (key: capabilities,
// params, args or env; number 0).
std::vector<SpecError> parseRunParts(const RunParts& parts, ModuleSpec& spec);

}  // namespace selium::runtime
