// Parser for `--module` specs: `;`/newline-separated key=value entries, see README "Module specs".
#include "runtime/module_spec.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>

#include "util/strings.h"

namespace selium::runtime {
namespace {

using util::quote;
using util::trim;

// Canonical key names; aliases map onto them.
enum class Key {
  Path,
  Entrypoint,
  Capabilities,
  Params,
  Args,
  LogUri,
  MaxMemory,
  MaxTableElements,
  Env
};

struct KeyName {
  std::string_view text;
  Key key;
  std::string_view canonical;
};

constexpr std::array<KeyName, 13> kKeys = {{
    {"path", Key::Path, "path"},
    {"entrypoint", Key::Entrypoint, "entrypoint"},
    {"capabilities", Key::Capabilities, "capabilities"},
    {"params", Key::Params, "params"},
    {"param", Key::Params, "params"},
    {"args", Key::Args, "args"},
    {"log_uri", Key::LogUri, "log_uri"},
    {"log-uri", Key::LogUri, "log_uri"},
    {"max_memory", Key::MaxMemory, "max_memory"},
    {"max-memory", Key::MaxMemory, "max_memory"},
    {"max_table_elements", Key::MaxTableElements, "max_table_elements"},
    {"max-table-elements", Key::MaxTableElements, "max_table_elements"},
    {"env", Key::Env, "env"},
}};

struct Entry {
  std::size_t position;  // 1-based among the entries of this spec
  std::string_view value;
};

// Collects the errors of one spec.
class Errors {
 public:
  explicit Errors(std::size_t number) : number_(number) {}
  void add(std::string_view key, std::string_view value, std::string message) {
    list_.push_back({number_, std::string(key), std::string(value), std::move(message)});
  }
  bool empty() const { return list_.empty(); }
  std::size_t size() const { return list_.size(); }
  std::vector<SpecError> take() { return std::move(list_); }

 private:
  std::size_t number_;
  std::vector<SpecError> list_;
};

std::string ordinal(std::size_t i) { return std::to_string(i); }

template <typename Int>
std::string rangeText() {
  return std::to_string(std::numeric_limits<Int>::min()) + " to " +
         std::to_string(std::numeric_limits<Int>::max());
}

// Range of integer kind `kind` as text, and its bounds.
struct IntRange {
  bool is_signed;
  int64_t min;
  uint64_t max;
  std::string text;
};

IntRange intRange(ParamKind kind) {
  switch (kind) {
    case ParamKind::I8:
      return {true, INT8_MIN, INT8_MAX, rangeText<int8_t>()};
    case ParamKind::U8:
      return {false, 0, UINT8_MAX, rangeText<uint8_t>()};
    case ParamKind::I16:
      return {true, INT16_MIN, INT16_MAX, rangeText<int16_t>()};
    case ParamKind::U16:
      return {false, 0, UINT16_MAX, rangeText<uint16_t>()};
    case ParamKind::I32:
      return {true, INT32_MIN, INT32_MAX, rangeText<int32_t>()};
    case ParamKind::U32:
      return {false, 0, UINT32_MAX, rangeText<uint32_t>()};
    case ParamKind::I64:
      return {true, INT64_MIN, INT64_MAX, rangeText<int64_t>()};
    default:
      return {false, 0, UINT64_MAX, rangeText<uint64_t>()};  // u64, resource
  }
}

// Decimal integer with an optional sign. Returns an error message on failure.
std::variant<ArgValue, std::string> parseInteger(std::string_view text, ParamKind kind) {
  IntRange range = intRange(kind);
  std::string_view digits = text;
  bool negative = false;
  if (!digits.empty() && (digits.front() == '+' || digits.front() == '-')) {
    negative = digits.front() == '-';
    digits.remove_prefix(1);
  }
  bool all_digits = !digits.empty();
  for (char c : digits) all_digits = all_digits && c >= '0' && c <= '9';
  std::string expected = std::string("expected a decimal integer from ") + range.text;
  if (!all_digits) return "not a number: " + expected;
  uint64_t magnitude = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude);
  if (ec == std::errc::result_out_of_range) return "out of range: " + expected;
  if (!range.is_signed) {
    if (negative && magnitude != 0) return "out of range: " + expected;
    if (magnitude > range.max) return "out of range: " + expected;
    return ArgValue{magnitude};
  }
  uint64_t limit = negative ? static_cast<uint64_t>(-(range.min + 1)) + 1 : range.max;
  if (magnitude > limit) return "out of range: " + expected;
  int64_t value = negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
  return ArgValue{value};
}

template <typename Float>
std::variant<ArgValue, std::string> parseFloat(std::string_view text, const char* kind) {
  std::string_view body = text;
  bool plus = !body.empty() && body.front() == '+';
  if (plus) body.remove_prefix(1);
  Float value{};
  auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), value);
  if (body.empty() || (plus && !body.empty() && body.front() == '-') ||
      end != body.data() + body.size() || ec == std::errc::invalid_argument) {
    return std::string("not a number: expected a decimal ") + kind +
           " such as 1.5, -2e10, inf or nan";
  }
  if (ec == std::errc::result_out_of_range) {
    return std::string("out of range for ") + kind + " (too large, or too small to be represented)";
  }
  return ArgValue{value};
}

std::variant<ArgValue, std::string> parseHex(std::string_view text) {
  std::string_view digits = text;
  if (digits.size() >= 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    digits.remove_prefix(2);
  }
  std::vector<uint8_t> bytes;
  int pending = -1;
  std::size_t count = 0;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    char c = digits[i];
    if (c == '_' || c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    int nibble;
    if (c >= '0' && c <= '9') {
      nibble = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      nibble = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      nibble = c - 'A' + 10;
    } else {
      return "invalid hex digit " + quote(std::string_view(&c, 1)) + " at offset " +
             std::to_string(i + (text.size() - digits.size()));
    }
    ++count;
    if (pending < 0) {
      pending = nibble;
    } else {
      bytes.push_back(static_cast<uint8_t>(pending << 4 | nibble));
      pending = -1;
    }
  }
  if (pending >= 0) {
    return "hex payload must have an even number of digits (got " + std::to_string(count) + ")";
  }
  return ArgValue{std::move(bytes)};
}

// Decodes the text of one argument as `kind`.
std::variant<ArgValue, std::string> parseValue(std::string_view text, ParamKind kind) {
  switch (kind) {
    case ParamKind::F32:
      return parseFloat<float>(text, "f32");
    case ParamKind::F64:
      return parseFloat<double>(text, "f64");
    case ParamKind::Utf8:
      if (!util::isValidUtf8(text)) return std::string("not valid UTF-8");
      return ArgValue{std::string(text)};
    case ParamKind::Buffer:
      return ArgValue{std::vector<uint8_t>(text.begin(), text.end())};
    case ParamKind::Hex:
      return parseHex(text);
    default:
      return parseInteger(text, kind);
  }
}

// An arg as written: optional `kind:` prefix (split at the first colon) and the value.
struct RawArg {
  std::optional<ParamKind> kind;
  std::string_view value;
  std::string_view text;  // the whole item, for messages
};

RawArg splitTypedArg(std::string_view item) {
  std::size_t colon = item.find(':');
  if (colon != std::string_view::npos) {
    if (auto kind = parseParamKind(trim(item.substr(0, colon)))) {
      return {kind, item.substr(colon + 1), item};
    }
  }
  return {std::nullopt, item, item};
}

// `text` prefixed with the kind it most likely has, for the hint of an untyped arg: a value
// that reads as a number should not be suggested as a string, which the entrypoint would then
// receive as (ptr, len).
std::string likelyTypedArg(std::string_view text) {
  std::string value(text);
  auto fits = [&](ParamKind kind) {
    return std::holds_alternative<ArgValue>(parseInteger(text, kind));
  };
  if (fits(ParamKind::U16)) return "u16:" + value + " or u32:" + value;
  if (fits(ParamKind::U32)) return "u32:" + value;
  if (fits(ParamKind::I32)) return "i32:" + value;
  if (fits(ParamKind::U64)) return "u64:" + value;
  if (fits(ParamKind::I64)) return "i64:" + value;
  bool hex_prefix = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
  if (hex_prefix && std::holds_alternative<ArgValue>(parseHex(text))) return "hex:" + value;
  // Only texts with a digit: "inf" and "nan" are more likely words than floats.
  bool digit = std::any_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digit && std::holds_alternative<ArgValue>(parseFloat<double>(text, "f64"))) {
    return "f64:" + value;
  }
  return "utf8:" + value;
}

std::string knownKeysHint() {
  return "known keys: path, entrypoint, capabilities, params, args, log_uri, max_memory, "
         "max_table_elements, env";
}

std::string knownKindsHint() {
  return "known kinds: i8, u8, i16, u16, i32, u32, i64, u64, f32, f64, utf8, buffer, hex, resource";
}

// Splits a comma list value into trimmed items; an empty value gives no items.
std::vector<std::string_view> listItems(std::string_view value) {
  if (trim(value).empty()) return {};
  std::vector<std::string_view> items;
  for (auto item : util::split(value, ",")) items.push_back(trim(item));
  return items;
}

void parseCapabilities(std::string_view value, ModuleSpec& spec, Errors& errors) {
  for (std::string_view item : listItems(value)) {
    if (item.empty()) {
      errors.add("capabilities", value, "capability entry must not be empty (stray comma?)");
      continue;
    }
    if (auto cap = kernel::parseCapability(item)) {
      spec.capabilities.add(*cap);  // duplicates are dropped, first-seen order kept
      continue;
    }
    std::string message = "unknown capability";
    if (auto hint = kernel::suggestCapability(item)) {
      message += "; did you mean " + std::string(*hint) + "?";
    } else if (util::equalsIgnoreCase(item, "none")) {
      message += "; for no capabilities write `capabilities=` with nothing after it";
    } else {
      message += "; see `selium-runtime --help` for the list";
    }
    errors.add("capabilities", item, message);
  }
}

std::optional<std::vector<ParamKind>> parseParams(std::string_view value, Errors& errors) {
  std::vector<std::string_view> items = listItems(value);
  if (items.empty()) {
    errors.add("params", value, "params list must not be empty (omit the key for no params)");
    return std::nullopt;
  }
  std::vector<ParamKind> kinds;
  bool ok = true;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].empty()) {
      errors.add("params", value, "param " + ordinal(i + 1) + " must not be empty");
      ok = false;
    } else if (auto kind = parseParamKind(items[i])) {
      kinds.push_back(*kind);
    } else {
      errors.add("params", items[i], "unknown param kind; " + knownKindsHint());
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return kinds;
}

// Resolves args (the items of `value`) against params (if given) and decodes every value.
// An empty item is an error in a spec's comma list (a stray comma), but a `run` word "" is an
// empty utf8/buffer/hex value (`allow_empty`).
void parseArgItems(std::string_view value, const std::vector<std::string_view>& items,
                   const std::optional<std::vector<ParamKind>>& params, bool params_valid,
                   bool allow_empty, ModuleSpec& spec, Errors& errors) {
  std::vector<RawArg> raw;
  bool ok = true;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].empty() && !allow_empty) {
      errors.add("args", value, "argument " + ordinal(i + 1) + " must not be empty");
      ok = false;
      continue;
    }
    raw.push_back(splitTypedArg(items[i]));
  }
  if (!ok || !params_valid) return;

  std::vector<ParamKind> kinds;
  if (params) {
    if (params->size() != raw.size()) {
      errors.add("args", value,
                 "argument count mismatch: params declares " + std::to_string(params->size()) +
                     " but " + std::to_string(raw.size()) + " arguments were given");
      return;
    }
    kinds = *params;
  }
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const RawArg& arg = raw[i];
    std::string which = "argument " + ordinal(i + 1);
    ParamKind kind;
    ParamKind decode_as;
    if (params) {
      kind = kinds[i];
      decode_as = arg.kind.value_or(kind);
      bool agrees = arg.kind == std::nullopt || *arg.kind == kind ||
                    (isBytesKind(*arg.kind) && isBytesKind(kind));
      if (!agrees) {
        errors.add("args", arg.text,
                   which + " is typed " + std::string(paramKindName(*arg.kind)) +
                       " but params declares " + std::string(paramKindName(kind)));
        continue;
      }
    } else {
      if (!arg.kind) {
        errors.add("args", arg.text,
                   which +
                       " is missing a type: give params, or prefix the value with its kind, "
                       "e.g. " +
                       likelyTypedArg(arg.text));
        continue;
      }
      kind = decode_as = *arg.kind;
    }
    auto parsed = parseValue(arg.value, decode_as);
    if (auto* message = std::get_if<std::string>(&parsed)) {
      errors.add("args", arg.text,
                 which + " (" + std::string(paramKindName(decode_as)) + "): " + *message);
      continue;
    }
    spec.args.push_back({kind, std::get<ArgValue>(std::move(parsed))});
  }
}

void parseArgs(std::string_view value, const std::optional<std::vector<ParamKind>>& params,
               bool params_valid, ModuleSpec& spec, Errors& errors) {
  parseArgItems(value, listItems(value), params, params_valid, false, spec, errors);
}

// `env`: NAME=value items, the WASI environment of the process. A spec's comma list trims each
// value; `run`'s --env keeps it as given (`trim_values` false).
void parseEnvItems(std::string_view value, const std::vector<std::string_view>& items,
                   bool trim_values, ModuleSpec& spec, Errors& errors) {
  std::vector<std::string_view> names;
  for (std::string_view item : items) {
    if (item.empty()) {
      errors.add("env", value, "variable entry must not be empty (stray comma?)");
      continue;
    }
    std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      errors.add("env", item, "expected NAME=value");
      continue;
    }
    std::string_view name = trim(item.substr(0, eq));
    std::string_view text = item.substr(eq + 1);
    if (trim_values) text = trim(text);
    if (!util::isEnvName(name)) {
      errors.add("env", item,
                 "invalid variable name " + quote(name) +
                     ": a name starts with a letter or \"_\" and has only letters, digits and "
                     "\"_\"");
      continue;
    }
    if (!util::isValidUtf8(text) || text.find('\0') != std::string_view::npos) {
      errors.add("env", item, "value of " + std::string(name) + " is not valid UTF-8 text");
      continue;
    }
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      errors.add("env", item, "variable " + std::string(name) + " is given twice");
      continue;
    }
    names.push_back(name);
    spec.env.push_back(std::string(name) + "=" + std::string(text));
  }
}

void parseEnv(std::string_view value, ModuleSpec& spec, Errors& errors) {
  parseEnvItems(value, listItems(value), true, spec, errors);
}

// What to do about a path that leads out of modules/: modules are loaded only from there, so
// the file has to be copied in; `path=` then names it by its file name.
std::string copyIntoModulesHint(std::string_view path, std::string_view modules_dir) {
  std::string_view file = path.substr(path.find_last_of('/') + 1);
  std::string hint = "; copy the file into " + std::string(modules_dir);
  if (!file.empty() && file != "..") hint += " and write path=" + std::string(file);
  return hint;
}

void checkPath(std::string_view path, std::string_view modules_dir, Errors& errors) {
  if (path.empty()) {
    errors.add("path", path, "module path must not be empty");
    return;
  }
  if (!util::isValidUtf8(path)) errors.add("path", path, "module path is not valid UTF-8");
  if (path.front() == '/') {
    errors.add("path", path,
               "module path must be relative to the work dir's modules/ folder" +
                   copyIntoModulesHint(path, modules_dir));
  }
  for (std::string_view segment : util::split(path, "/")) {
    if (segment == "..") {
      errors.add(
          "path", path,
          "module path must not contain \"..\" segments" + copyIntoModulesHint(path, modules_dir));
      break;
    }
  }
}

}  // namespace

std::string SpecError::toString() const {
  std::string out = "--module #" + std::to_string(number) + ": " + key;
  if (!value.empty()) out += " " + quote(value);
  out += ": ";
  // Messages may repeat pieces of the input: keep control characters out of the terminal.
  out += util::escapeControl(message);
  return out;
}

ModuleSpecParse parseModuleSpec(std::string_view text, std::size_t number,
                                std::string_view modules_dir) {
  Errors errors(number);
  ModuleSpec spec;
  spec.number = number;

  // Pass 1: entries into keys, reporting malformed, unknown and duplicate entries.
  std::map<Key, Entry> found;
  std::size_t position = 0;
  bool any_entry = false;
  for (std::string_view raw : util::split(text, ";\n")) {
    ++position;
    std::string_view entry = trim(raw);
    if (entry.empty() || entry.front() == '#') continue;
    any_entry = true;
    std::string entry_name = "entry " + std::to_string(position);
    std::size_t eq = entry.find('=');
    if (eq == std::string_view::npos) {
      errors.add(entry_name, entry, "expected key=value");
      continue;
    }
    std::string_view key_text = trim(entry.substr(0, eq));
    std::string_view value = trim(entry.substr(eq + 1));
    const KeyName* key = nullptr;
    for (const auto& k : kKeys) {
      if (k.text == key_text) key = &k;
    }
    if (key == nullptr) {
      std::string hint = knownKeysHint();
      for (const auto& k : kKeys) {
        if (util::equalsIgnoreCase(k.text, key_text)) {
          hint = "keys are case-sensitive; did you mean " + std::string(k.canonical) + "?";
        }
      }
      errors.add(entry_name, key_text, "unknown key; " + hint);
      continue;
    }
    auto [it, inserted] = found.try_emplace(key->key, Entry{position, value});
    if (!inserted) {
      errors.add(
          std::string(key->canonical), value,
          "duplicate key (already given in entry " + std::to_string(it->second.position) + ")");
    }
  }
  if (!any_entry) {
    errors.add("spec", text, "module specification is empty");
    return {std::nullopt, errors.take()};
  }

  // Pass 2: each key's value.
  if (auto it = found.find(Key::Path); it != found.end()) {
    spec.path = std::string(it->second.value);
    checkPath(spec.path, modules_dir, errors);
  } else {
    errors.add("path", "", "required key is missing (the module's path under modules/)");
  }
  if (auto it = found.find(Key::Entrypoint); it != found.end()) {
    if (it->second.value.empty()) {
      errors.add("entrypoint", "", "entrypoint must not be empty (omit the key for \"start\")");
    } else if (!util::isValidUtf8(it->second.value)) {
      errors.add("entrypoint", it->second.value, "entrypoint is not valid UTF-8");
    } else {
      spec.entrypoint = std::string(it->second.value);
    }
  }
  if (auto it = found.find(Key::Capabilities); it != found.end()) {
    parseCapabilities(it->second.value, spec, errors);
  } else {
    errors.add("capabilities", "",
               "required key is missing (write `capabilities=` for a process with none)");
  }
  std::optional<std::vector<ParamKind>> params;
  bool params_valid = true;
  if (auto it = found.find(Key::Params); it != found.end()) {
    params = parseParams(it->second.value, errors);
    params_valid = params.has_value();
  }
  if (auto it = found.find(Key::Args); it != found.end()) {
    parseArgs(it->second.value, params, params_valid, spec, errors);
  } else if (params && !params->empty()) {
    errors.add("args", "",
               "argument count mismatch: params declares " + std::to_string(params->size()) +
                   " but no args were given");
  }
  if (auto it = found.find(Key::MaxMemory); it != found.end()) {
    auto bytes = util::parseByteSize(it->second.value);
    if (!bytes || *bytes < kMinMaxMemory) {
      errors.add("max_memory", it->second.value,
                 "expected a size of at least 64KiB, e.g. 65536, 512KiB, 64MiB or 1GiB");
    } else {
      spec.max_memory = *bytes;
    }
  }
  if (auto it = found.find(Key::MaxTableElements); it != found.end()) {
    std::string_view text = it->second.value;
    uint32_t elements = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), elements);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
        elements > kMaxTableElements) {
      errors.add("max_table_elements", text,
                 "expected a number of elements from 0 to " + std::to_string(kMaxTableElements));
    } else {
      spec.max_table_elements = elements;
    }
  }
  if (auto it = found.find(Key::Env); it != found.end()) {
    parseEnv(it->second.value, spec, errors);
  }
  if (auto it = found.find(Key::LogUri); it != found.end()) {
    if (it->second.value.empty()) {
      errors.add("log_uri", "", "log_uri must not be empty (omit the key for none)");
    } else if (!util::isValidUtf8(it->second.value)) {
      errors.add("log_uri", it->second.value, "log_uri is not valid UTF-8");
    } else {
      spec.log_uri = std::string(it->second.value);
    }
  }

  if (!errors.empty()) return {std::nullopt, errors.take()};
  return {std::move(spec), {}};
}

std::vector<SpecError> parseRunParts(const RunParts& parts, ModuleSpec& spec) {
  Errors errors(0);
  for (const std::string& item : parts.capabilities) parseCapabilities(item, spec, errors);
  std::optional<std::vector<ParamKind>> params;
  bool params_valid = true;
  if (parts.params) {
    params = parseParams(*parts.params, errors);
    params_valid = params.has_value();
  }
  // One item per command-line word, untrimmed: a utf8 value may hold commas and spaces.
  std::vector<std::string_view> args(parts.args.begin(), parts.args.end());
  parseArgItems("", args, params, params_valid, true, spec, errors);
  std::vector<std::string_view> env(parts.env.begin(), parts.env.end());
  parseEnvItems("", env, false, spec, errors);
  return errors.take();
}

}  // namespace selium::runtime
