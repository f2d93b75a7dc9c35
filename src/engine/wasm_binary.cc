// Parser of the WebAssembly binary format for the runtime's checks before instantiation. Every
// read is bounds-checked against the end of the current section, and every declared count is
// checked against the bytes left to hold it, so a lying size or count is an error, never an
// out-of-bounds read or a huge allocation.
#include "engine/wasm_binary.h"

#include <fmt/format.h>
#include <selium/abi/entrypoints.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <unordered_set>
#include <utility>

#include "util/strings.h"

namespace selium::engine {
namespace {

// wasm32 addresses at most 4 GiB: 65536 pages of 64 KiB.
constexpr uint32_t kMaxMemoryPages = 65536;

// Section ids of the core specification (ids past kDataCount are skipped as unknown).
enum SectionId : uint8_t {
  kCustom = 0,
  kType = 1,
  kImport = 2,
  kFunction = 3,
  kTable = 4,
  kMemory = 5,
  kGlobal = 6,
  kExport = 7,
  kStart = 8,
  kElement = 9,
  kCode = 10,
  kData = 11,
  kDataCount = 12,
};
constexpr std::size_t kKnownSections = 13;

// Where each non-custom known section must appear: the order is by id, except that the data
// count section (12) sits between the element (9) and code (10) sections.
constexpr int sectionRank(uint8_t id) {
  switch (id) {
    case kDataCount:
      return kElement * 2 + 1;
    default:
      return id * 2;
  }
}

std::string sectionName(uint8_t id) {
  static constexpr std::array<std::string_view, kKnownSections> kNames = {
      "custom", "type",  "import",  "function", "table", "memory",    "global",
      "export", "start", "element", "code",     "data",  "data count"};
  if (id < kNames.size()) return fmt::format("{} section", kNames[id]);
  return fmt::format("section {}", id);
}

enum class LimitsOf { Table, Memory };

// Fallible reads return false after recording the first error; callers return false in turn.
class Parser {
 public:
  explicit Parser(std::span<const uint8_t> bytes) : bytes_(bytes), end_(bytes.size()) {}

  Result<WasmModuleInfo> parse() && {
    if (!parseHeader() || !parseSections() || !checkFunctionsHaveBodies()) {
      return std::move(error_);
    }
    return std::move(info_);
  }

 private:
  bool fail(std::size_t offset, std::string_view problem) {
    error_.message = fmt::format("wasm {} at offset {}: {}", where_, offset, problem);
    return false;
  }

  bool failTruncated(std::size_t offset, std::string_view what) {
    return fail(offset, fmt::format("unexpected end of {} reading {}",
                                    in_section_ ? "section" : "module", what));
  }

  std::size_t remaining() const { return end_ - pos_; }

  bool readByte(uint8_t& out, std::string_view what) {
    if (pos_ >= end_) return failTruncated(pos_, what);
    out = bytes_[pos_++];
    return true;
  }

  // Unsigned LEB128 of at most 5 bytes whose last byte sets no bits beyond 32, as the spec
  // requires; non-minimal encodings within 5 bytes are allowed.
  bool readU32(uint32_t& out, std::string_view what) {
    const std::size_t start = pos_;
    uint32_t value = 0;
    // Ends by the fifth byte: a fifth byte that continues fails the check on bits beyond 32.
    for (int i = 0;; ++i) {
      if (pos_ >= end_) return failTruncated(start, what);
      const uint8_t byte = bytes_[pos_++];
      if (i == 4 && (byte & 0xF0) != 0) {
        return fail(start, (byte & 0x80) != 0
                               ? fmt::format("over-long LEB128 for {} (more than 5 bytes)", what)
                               : fmt::format("LEB128 for {} overflows 32 bits", what));
      }
      value |= static_cast<uint32_t>(byte & 0x7F) << (7 * i);
      if ((byte & 0x80) == 0) {
        out = value;
        return true;
      }
    }
  }

  // A vector length, rejected at once when the remaining bytes cannot hold that many elements of
  // at least `min_element_size` bytes; this is what keeps reserve() proportional to the input.
  bool readCount(uint32_t& out, std::string_view what, std::size_t min_element_size) {
    const std::size_t start = pos_;
    if (!readU32(out, what)) return false;
    if (out > remaining() / min_element_size) {
      return fail(start, fmt::format("{} {} is more than the remaining {} bytes can hold", what,
                                     out, remaining()));
    }
    return true;
  }

  // A UTF-8 name. The view points into the input, so it outlives any copies made of it.
  bool readName(std::string_view& out, std::string_view what) {
    const std::size_t start = pos_;
    uint32_t length = 0;
    if (!readU32(length, what)) return false;
    if (length > remaining()) {
      return fail(start, fmt::format("{} length {} exceeds the {} bytes left in the section", what,
                                     length, remaining()));
    }
    out = std::string_view(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
    if (!util::isValidUtf8(out)) return fail(pos_, fmt::format("{} is not valid UTF-8", what));
    pos_ += length;
    return true;
  }

  bool readValType(ValType& out, std::string_view what) {
    const std::size_t start = pos_;
    uint8_t byte = 0;
    if (!readByte(byte, what)) return false;
    switch (byte) {
      case 0x7F:
        out = ValType::I32;
        return true;
      case 0x7E:
        out = ValType::I64;
        return true;
      case 0x7D:
        out = ValType::F32;
        return true;
      case 0x7C:
        out = ValType::F64;
        return true;
      case 0x7B:
        out = ValType::V128;
        return true;
      case 0x70:
        out = ValType::FuncRef;
        return true;
      case 0x6F:
        out = ValType::ExternRef;
        return true;
      default:
        return fail(start, fmt::format("invalid {} 0x{:02x}", what, byte));
    }
  }

  bool readRefType(ValType& out, std::string_view what) {
    const std::size_t start = pos_;
    if (!readValType(out, what)) return false;
    if (out != ValType::FuncRef && out != ValType::ExternRef) {
      return fail(start,
                  fmt::format("{} must be a reference type, not {}", what, valTypeName(out)));
    }
    return true;
  }

  bool readTypeIndex(uint32_t& out) {
    const std::size_t start = pos_;
    if (!readU32(out, "type index")) return false;
    if (out >= info_.types.size()) {
      return fail(start, fmt::format("type index {} out of range (the module has {} types)", out,
                                     info_.types.size()));
    }
    return true;
  }

  bool readLimits(Limits& out, LimitsOf of) {
    const std::size_t flags_at = pos_;
    uint8_t flags = 0;
    if (!readByte(flags, "limits flags")) return false;
    bool has_max = false;
    if (flags == 0x00 || flags == 0x01) {
      has_max = flags == 0x01;
    } else if (of == LimitsOf::Memory && flags == 0x03) {
      has_max = true;
      out.shared = true;
    } else if (of == LimitsOf::Memory && flags == 0x02) {
      // The threads proposal encodes this, but a shared memory must be able to tell other
      // threads its final size, so engines (V8 included) reject it.
      return fail(flags_at, "shared memory must declare a maximum (limits flags 0x02)");
    } else if (of == LimitsOf::Memory && flags >= 0x04 && flags <= 0x07) {
      return fail(flags_at,
                  fmt::format("64-bit memory (limits flags 0x{:02x}) is not supported", flags));
    } else {
      return fail(flags_at, fmt::format("invalid limits flags 0x{:02x}", flags));
    }
    const std::size_t min_at = pos_;
    if (!readU32(out.min, "limits minimum")) return false;
    if (of == LimitsOf::Memory && out.min > kMaxMemoryPages) {
      return fail(min_at, fmt::format("minimum of {} pages exceeds the limit of {} pages", out.min,
                                      kMaxMemoryPages));
    }
    if (!has_max) return true;
    const std::size_t max_at = pos_;
    uint32_t max = 0;
    if (!readU32(max, "limits maximum")) return false;
    if (max < out.min) {
      return fail(max_at, fmt::format("maximum {} is less than minimum {}", max, out.min));
    }
    if (of == LimitsOf::Memory && max > kMaxMemoryPages) {
      return fail(max_at, fmt::format("maximum of {} pages exceeds the limit of {} pages", max,
                                      kMaxMemoryPages));
    }
    out.max = max;
    return true;
  }

  bool parseHeader() {
    static constexpr std::array<uint8_t, 4> kMagic = {0x00, 0x61, 0x73, 0x6D};
    const std::size_t have = std::min(bytes_.size(), kMagic.size());
    if (!std::equal(bytes_.begin(), bytes_.begin() + have, kMagic.begin())) {
      std::string found;
      for (std::size_t i = 0; i < have; ++i) found += fmt::format(" {:02x}", bytes_[i]);
      return fail(0, fmt::format("bad magic number{} (expected 00 61 73 6d, \"\\0asm\")", found));
    }
    if (bytes_.size() < 8) {
      return fail(
          0, fmt::format("the module is {} bytes, shorter than the 8-byte header", bytes_.size()));
    }
    const uint32_t version =
        bytes_[4] | (bytes_[5] << 8) | (bytes_[6] << 16) | (static_cast<uint32_t>(bytes_[7]) << 24);
    if (version != 1) return fail(4, fmt::format("unsupported version {} (expected 1)", version));
    pos_ = 8;
    return true;
  }

  bool parseSections() {
    std::array<bool, kKnownSections> seen{};
    uint8_t last_id = kCustom;
    while (pos_ < bytes_.size()) {
      const std::size_t section_at = pos_;
      const uint8_t id = bytes_[pos_++];
      where_ = sectionName(id);
      in_section_ = false;
      end_ = bytes_.size();
      const std::size_t size_at = pos_;
      uint32_t size = 0;
      if (!readU32(size, "section size")) return false;
      if (size > remaining()) {
        return fail(size_at, fmt::format("section size {} exceeds the {} bytes left in the module",
                                         size, remaining()));
      }
      if (id != kCustom && id < kKnownSections) {
        if (seen[id]) return fail(section_at, "duplicate section");
        if (last_id != kCustom && sectionRank(id) < sectionRank(last_id)) {
          return fail(section_at,
                      fmt::format("out of order: must come before the {}", sectionName(last_id)));
        }
        seen[id] = true;
        last_id = id;
      }
      in_section_ = true;
      end_ = pos_ + size;
      if (!parseSectionBody(id)) return false;
      if (pos_ != end_) {
        return fail(pos_, fmt::format("section size {} leaves {} bytes after its contents", size,
                                      end_ - pos_));
      }
    }
    where_ = "module";
    in_section_ = false;
    end_ = bytes_.size();
    return true;
  }

  bool parseSectionBody(uint8_t id) {
    switch (id) {
      case kCustom: {
        std::string_view name;
        if (!readName(name, "custom section name")) return false;
        if (name == SELIUM_ENTRYPOINTS_SECTION) return parseEntrypointsSection();
        pos_ = end_;
        return true;
      }
      case kType:
        return parseTypeSection();
      case kImport:
        return parseImportSection();
      case kFunction:
        return parseFunctionSection();
      case kTable:
        return parseTableSection();
      case kMemory:
        return parseMemorySection();
      case kGlobal:
        // Only the count is needed (to range-check global exports); the entries hold constant
        // expressions that V8 validates anyway. A global takes at least 4 bytes: type,
        // mutability, one instruction and `end`.
        if (!readCount(defined_globals_, "global count", 4)) return false;
        info_.globals = defined_globals_;
        pos_ = end_;
        return true;
      case kExport:
        return parseExportSection();
      case kCode:
        return parseCodeSection();
      default:
        // Start, element, data, data count and sections this parser does not know.
        pos_ = end_;
        return true;
    }
  }

  bool parseValTypes(std::vector<ValType>& out, std::string_view count_what,
                     std::string_view type_what) {
    uint32_t count = 0;
    if (!readCount(count, count_what, 1)) return false;
    out.resize(count);
    for (ValType& type : out) {
      if (!readValType(type, type_what)) return false;
    }
    return true;
  }

  bool parseTypeSection() {
    uint32_t count = 0;
    // Form byte plus two empty vectors.
    if (!readCount(count, "type count", 3)) return false;
    info_.types.reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
      const std::size_t form_at = pos_;
      uint8_t form = 0;
      if (!readByte(form, "function type form")) return false;
      if (form != 0x60) {
        return fail(form_at,
                    fmt::format("invalid function type form 0x{:02x} (expected 0x60)", form));
      }
      FuncType& type = info_.types.emplace_back();
      if (!parseValTypes(type.params, "parameter count", "parameter type") ||
          !parseValTypes(type.results, "result count", "result type")) {
        return false;
      }
    }
    return true;
  }

  bool parseImportSection() {
    uint32_t count = 0;
    // Two empty names, the kind and a one-byte descriptor.
    if (!readCount(count, "import count", 4)) return false;
    info_.imports.reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
      std::string_view module, name;
      if (!readName(module, "import module name") || !readName(name, "import name")) return false;
      Import& import = info_.imports.emplace_back();
      import.module = module;
      import.name = name;
      const std::size_t kind_at = pos_;
      uint8_t kind = 0;
      if (!readByte(kind, "import kind")) return false;
      switch (kind) {
        case 0x00:
          import.kind = ExternKind::Func;
          if (!readTypeIndex(import.type_index)) return false;
          ++imported_functions_;
          break;
        case 0x01:
          import.kind = ExternKind::Table;
          if (!readRefType(import.value_type, "table element type") ||
              !readLimits(import.limits, LimitsOf::Table)) {
            return false;
          }
          ++imported_tables_;
          break;
        case 0x02:
          import.kind = ExternKind::Memory;
          if (!readLimits(import.limits, LimitsOf::Memory)) return false;
          ++imported_memories_;
          break;
        case 0x03: {
          import.kind = ExternKind::Global;
          if (!readValType(import.value_type, "global type")) return false;
          const std::size_t mut_at = pos_;
          uint8_t mut = 0;
          if (!readByte(mut, "global mutability")) return false;
          if (mut > 1) return fail(mut_at, fmt::format("invalid global mutability 0x{:02x}", mut));
          import.mutable_global = mut == 1;
          ++imported_globals_;
          break;
        }
        case 0x04: {
          import.kind = ExternKind::Tag;
          const std::size_t attribute_at = pos_;
          uint8_t attribute = 0;
          if (!readByte(attribute, "tag attribute")) return false;
          if (attribute != 0) {
            return fail(attribute_at,
                        fmt::format("invalid tag attribute 0x{:02x} (expected 0)", attribute));
          }
          const std::size_t type_at = pos_;
          if (!readTypeIndex(import.type_index)) return false;
          if (!info_.types[import.type_index].results.empty()) {
            return fail(type_at, fmt::format("tag type {} has results", import.type_index));
          }
          break;
        }
        default:
          return fail(kind_at, fmt::format("invalid import kind 0x{:02x}", kind));
      }
    }
    return true;
  }

  bool parseFunctionSection() {
    uint32_t count = 0;
    if (!readCount(count, "function count", 1)) return false;
    info_.function_types.resize(count);
    for (uint32_t& type_index : info_.function_types) {
      if (!readTypeIndex(type_index)) return false;
    }
    return true;
  }

  bool parseTableSection() {
    uint32_t count = 0;
    // Element type, limits flags and minimum.
    if (!readCount(count, "table count", 3)) return false;
    info_.tables.resize(count);
    for (Limits& limits : info_.tables) {
      ValType element = ValType::FuncRef;
      if (!readRefType(element, "table element type") || !readLimits(limits, LimitsOf::Table)) {
        return false;
      }
    }
    defined_tables_ = count;
    return true;
  }

  bool parseMemorySection() {
    uint32_t count = 0;
    // Limits flags and minimum.
    if (!readCount(count, "memory count", 2)) return false;
    info_.memories.resize(count);
    for (Limits& limits : info_.memories) {
      if (!readLimits(limits, LimitsOf::Memory)) return false;
    }
    return true;
  }

  bool parseExportSection() {
    uint32_t count = 0;
    // An empty name, the kind and a one-byte index.
    if (!readCount(count, "export count", 3)) return false;
    info_.exports.reserve(count);
    // Views into the input, which stay put while the exports vector grows.
    std::unordered_set<std::string_view> names;
    names.reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
      const std::size_t name_at = pos_;
      std::string_view name;
      if (!readName(name, "export name")) return false;
      if (!names.insert(name).second) {
        return fail(name_at, fmt::format("duplicate export name {}", util::quote(name)));
      }
      const std::size_t kind_at = pos_;
      uint8_t kind = 0;
      if (!readByte(kind, "export kind")) return false;
      if (kind > static_cast<uint8_t>(ExternKind::Tag)) {
        return fail(kind_at, fmt::format("invalid export kind 0x{:02x}", kind));
      }
      Export& exported = info_.exports.emplace_back();
      exported.name = name;
      exported.kind = static_cast<ExternKind>(kind);
      const std::size_t index_at = pos_;
      if (!readU32(exported.index, "export index")) return false;
      std::size_t bound = 0;
      switch (exported.kind) {
        case ExternKind::Func:
          bound = std::size_t{imported_functions_} + info_.function_types.size();
          break;
        case ExternKind::Table:
          bound = std::size_t{imported_tables_} + defined_tables_;
          break;
        case ExternKind::Memory:
          bound = std::size_t{imported_memories_} + info_.memories.size();
          break;
        case ExternKind::Global:
          bound = std::size_t{imported_globals_} + defined_globals_;
          break;
        case ExternKind::Tag:
          continue;  // the tag section is not parsed, so its size is unknown
      }
      if (exported.index >= bound) {
        return fail(index_at, fmt::format("exported {} index {} out of range (the module has {})",
                                          externKindName(exported.kind), exported.index, bound));
      }
    }
    return true;
  }

  // A name of the entrypoints section: a one-byte length, then that many bytes of UTF-8.
  bool readShortName(std::string& out, std::string_view what) {
    const std::size_t start = pos_;
    uint8_t length = 0;
    if (!readByte(length, fmt::format("{} length", what))) return false;
    if (length > remaining()) {
      return fail(start, fmt::format("{} length {} exceeds the {} bytes left in the section", what,
                                     length, remaining()));
    }
    std::string_view text(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
    if (!util::isValidUtf8(text)) return fail(pos_, fmt::format("{} is not valid UTF-8", what));
    out = text;
    pos_ += length;
    return true;
  }

  // Records as include/selium/abi/entrypoints.h describes them. Zero bytes between records are
  // the padding a linker may put between the pieces of several object files.
  bool parseEntrypointsSection() {
    where_ = fmt::format("custom section {}", util::quote(SELIUM_ENTRYPOINTS_SECTION));
    if (!info_.declared_entrypoints) info_.declared_entrypoints.emplace();
    std::vector<DeclaredEntrypoint>& declared = *info_.declared_entrypoints;
    while (pos_ < end_) {
      if (bytes_[pos_] == 0) {
        ++pos_;
        continue;
      }
      const std::size_t record_at = pos_;
      const uint8_t version = bytes_[pos_++];
      if (version != SELIUM_ENTRYPOINTS_RECORD_VERSION) {
        return fail(record_at, fmt::format("unsupported entrypoint record version {} (expected {})",
                                           version, SELIUM_ENTRYPOINTS_RECORD_VERSION));
      }
      const std::size_t name_at = pos_;
      DeclaredEntrypoint entry;
      if (!readShortName(entry.name, "entrypoint name")) return false;
      if (entry.name.empty()) return fail(name_at, "empty entrypoint name");
      // A set, not a search of `declared`: a section of tiny records must stay linear.
      if (!declared_names_.insert(entry.name).second) {
        return fail(name_at, fmt::format("duplicate entrypoint {}", util::quote(entry.name)));
      }
      const std::size_t count_at = pos_;
      uint8_t count = 0;
      if (!readByte(count, "parameter count")) return false;
      // A parameter takes at least its kind and an empty name's length.
      if (count > remaining() / 2) {
        return fail(count_at, fmt::format("parameter count {} is more than the remaining {} bytes "
                                          "can hold",
                                          count, remaining()));
      }
      entry.params.resize(count);
      for (DeclaredParam& param : entry.params) {
        const std::size_t kind_at = pos_;
        if (!readByte(param.kind, "parameter kind")) return false;
        if (param.kind >= SELIUM_PARAM_KIND_COUNT) {
          return fail(kind_at, fmt::format("unknown parameter kind {} in entrypoint {}", param.kind,
                                           util::quote(entry.name)));
        }
        if (!readShortName(param.name, "parameter name")) return false;
      }
      declared.push_back(std::move(entry));
    }
    return true;
  }

  bool parseCodeSection() {
    const std::size_t count_at = pos_;
    uint32_t count = 0;
    if (!readU32(count, "function body count")) return false;
    if (count != info_.function_types.size()) {
      return fail(count_at, fmt::format("{} function bodies for the {} functions declared", count,
                                        info_.function_types.size()));
    }
    has_code_ = true;
    pos_ = end_;
    return true;
  }

  bool checkFunctionsHaveBodies() {
    if (has_code_ || info_.function_types.empty()) return true;
    return fail(bytes_.size(), fmt::format("{} functions declared but no code section",
                                           info_.function_types.size()));
  }

  std::span<const uint8_t> bytes_;
  std::size_t pos_ = 0;
  std::size_t end_;          // reads stop here: the end of the current section or of the module
  bool in_section_ = false;  // whether end_ is a section's end, for error messages
  std::string where_ = "header";
  Error error_;
  WasmModuleInfo info_;
  uint32_t imported_functions_ = 0;
  uint32_t imported_tables_ = 0;
  uint32_t imported_memories_ = 0;
  uint32_t imported_globals_ = 0;
  uint32_t defined_tables_ = 0;
  uint32_t defined_globals_ = 0;
  bool has_code_ = false;
  std::unordered_set<std::string> declared_names_;  // of declared_entrypoints
};

}  // namespace

std::string_view valTypeName(ValType type) {
  switch (type) {
    case ValType::I32:
      return "i32";
    case ValType::I64:
      return "i64";
    case ValType::F32:
      return "f32";
    case ValType::F64:
      return "f64";
    case ValType::V128:
      return "v128";
    case ValType::FuncRef:
      return "funcref";
    case ValType::ExternRef:
      return "externref";
  }
  return "invalid";
}

std::string_view externKindName(ExternKind kind) {
  switch (kind) {
    case ExternKind::Func:
      return "func";
    case ExternKind::Table:
      return "table";
    case ExternKind::Memory:
      return "memory";
    case ExternKind::Global:
      return "global";
    case ExternKind::Tag:
      return "tag";
  }
  return "invalid";
}

std::string FuncType::toString() const {
  auto list = [](const std::vector<ValType>& types) {
    std::string out = "(";
    for (std::size_t i = 0; i < types.size(); ++i) {
      if (i > 0) out += ", ";
      out += valTypeName(types[i]);
    }
    return out + ")";
  };
  return list(params) + " -> " + list(results);
}

const Export* WasmModuleInfo::findExport(std::string_view name) const {
  auto it =
      std::find_if(exports.begin(), exports.end(), [&](const Export& e) { return e.name == name; });
  return it == exports.end() ? nullptr : &*it;
}

uint32_t WasmModuleInfo::importedFunctionCount() const {
  return static_cast<uint32_t>(std::count_if(
      imports.begin(), imports.end(), [](const Import& i) { return i.kind == ExternKind::Func; }));
}

std::optional<uint32_t> WasmModuleInfo::functionTypeIndex(uint32_t function_index) const {
  // Imported functions take the first indices, in import order.
  uint32_t imported = 0;
  for (const Import& import : imports) {
    if (import.kind != ExternKind::Func) continue;
    if (imported == function_index) return import.type_index;
    ++imported;
  }
  const std::size_t defined = function_index - imported;
  if (defined >= function_types.size()) return std::nullopt;
  return function_types[defined];
}

std::optional<FuncType> WasmModuleInfo::exportedFunctionType(std::string_view name) const {
  const Export* exported = findExport(name);
  if (exported == nullptr || exported->kind != ExternKind::Func) return std::nullopt;
  std::optional<uint32_t> type_index = functionTypeIndex(exported->index);
  // Range-checked again because a WasmModuleInfo need not come from the parser.
  if (!type_index || *type_index >= types.size()) return std::nullopt;
  return types[*type_index];
}

std::optional<Limits> WasmModuleInfo::memoryLimits() const {
  for (const Import& import : imports) {
    if (import.kind == ExternKind::Memory) return import.limits;
  }
  if (!memories.empty()) return memories.front();
  return std::nullopt;
}

const DeclaredEntrypoint* WasmModuleInfo::findDeclaredEntrypoint(std::string_view name) const {
  if (!declared_entrypoints) return nullptr;
  auto it = std::find_if(declared_entrypoints->begin(), declared_entrypoints->end(),
                         [&](const DeclaredEntrypoint& e) { return e.name == name; });
  return it == declared_entrypoints->end() ? nullptr : &*it;
}

Result<WasmModuleInfo> parseWasmModule(std::span<const uint8_t> bytes) {
  return Parser(bytes).parse();
}

}  // namespace selium::engine
