// Generates the hostcall shim module (see hostcall_shim.h): a straight wasm binary encoding.
#include "engine/hostcall_shim.h"

#include <stdexcept>

namespace selium::engine {

FuncType hostcallType(const kernel::HostcallSpec& spec) {
  auto valType = [](kernel::WasmType type) {
    switch (type) {
      case kernel::WasmType::I32:
        return ValType::I32;
      case kernel::WasmType::I64:
        return ValType::I64;
      case kernel::WasmType::F32:
        return ValType::F32;
      case kernel::WasmType::F64:
        return ValType::F64;
    }
    return ValType::I32;
  };
  FuncType type;
  for (kernel::WasmType param : spec.params) type.params.push_back(valType(param));
  if (spec.result) type.results.push_back(valType(*spec.result));
  return type;
}

}  // namespace selium::engine

namespace selium::engine::shim {
namespace {

using kernel::WasmType;

// Wasm binary constants (the core spec, section 5).
constexpr uint8_t kTypeFunc = 0x60;
constexpr uint8_t kSectionType = 1;
constexpr uint8_t kSectionImport = 2;
constexpr uint8_t kSectionFunction = 3;
constexpr uint8_t kSectionMemory = 5;
constexpr uint8_t kSectionExport = 7;
constexpr uint8_t kSectionCode = 10;
constexpr uint8_t kExternFunc = 0x00;
constexpr uint8_t kExternMemory = 0x02;
constexpr uint8_t kLimitsMinMax = 0x01;
constexpr uint8_t kBlockEmpty = 0x40;
constexpr uint8_t kOpUnreachable = 0x00;
constexpr uint8_t kOpIf = 0x04;
constexpr uint8_t kOpEnd = 0x0b;
constexpr uint8_t kOpCall = 0x10;
constexpr uint8_t kOpLocalGet = 0x20;
constexpr uint8_t kOpI32Const = 0x41;

uint8_t valType(WasmType type) {
  switch (type) {
    case WasmType::I32:
      return 0x7f;
    case WasmType::I64:
      return 0x7e;
    case WasmType::F32:
      return 0x7d;
    case WasmType::F64:
      return 0x7c;
  }
  return 0x7f;
}

// i32.load .. f64.load are 0x28..0x2b, i32.store .. f64.store 0x36..0x39, in the same order.
uint8_t loadOp(WasmType type) { return static_cast<uint8_t>(0x28 + static_cast<int>(type)); }
uint8_t storeOp(WasmType type) { return static_cast<uint8_t>(0x36 + static_cast<int>(type)); }
uint8_t alignLog2(WasmType type) { return type == WasmType::I64 || type == WasmType::F64 ? 3 : 2; }

class Writer {
 public:
  std::vector<uint8_t>& bytes() { return bytes_; }
  void byte(uint8_t b) { bytes_.push_back(b); }
  void u32(uint64_t value) {
    do {
      uint8_t b = value & 0x7f;
      value >>= 7;
      byte(value != 0 ? (b | 0x80) : b);
    } while (value != 0);
  }
  void s32(int64_t value) {
    while (true) {
      uint8_t b = value & 0x7f;
      value >>= 7;  // arithmetic shift
      bool done = (value == 0 && (b & 0x40) == 0) || (value == -1 && (b & 0x40) != 0);
      byte(done ? b : (b | 0x80));
      if (done) return;
    }
  }
  void name(std::string_view text) {
    u32(text.size());
    bytes_.insert(bytes_.end(), text.begin(), text.end());
  }
  void append(const std::vector<uint8_t>& other) {
    bytes_.insert(bytes_.end(), other.begin(), other.end());
  }
  // A section: id, byte size, contents.
  void section(uint8_t id, const Writer& contents) {
    byte(id);
    u32(contents.bytes_.size());
    append(contents.bytes_);
  }

 private:
  std::vector<uint8_t> bytes_;
};

void memarg(Writer& w, WasmType type, uint32_t offset) {
  w.u32(alignLog2(type));
  w.u32(offset);
}

// One exported function's body: store the arguments, call the host, unwind or load the result.
Writer body(const kernel::HostcallSpec& spec) {
  Writer code;
  code.u32(0);  // no locals beyond the parameters
  for (std::size_t i = 0; i < spec.params.size(); ++i) {
    code.byte(kOpI32Const);
    code.s32(kArgsOffset + 8 * i);
    code.byte(kOpLocalGet);
    code.u32(i);
    code.byte(storeOp(spec.params[i]));
    memarg(code, spec.params[i], 0);
  }
  code.byte(kOpI32Const);
  code.s32(static_cast<int64_t>(spec.index));
  code.byte(kOpCall);
  code.u32(0);  // the import
  code.byte(kOpIf);
  code.byte(kBlockEmpty);
  code.byte(kOpUnreachable);
  code.byte(kOpEnd);
  if (spec.result) {
    code.byte(kOpI32Const);
    code.s32(kResultOffset);
    code.byte(loadOp(*spec.result));
    memarg(code, *spec.result, 0);
  }
  code.byte(kOpEnd);
  Writer sized;
  sized.u32(code.bytes().size());
  sized.append(code.bytes());
  return sized;
}

}  // namespace

std::string exportName(const kernel::HostcallSpec& spec) { return std::to_string(spec.index); }

std::vector<uint8_t> build(std::span<const kernel::HostcallSpec> table) {
  for (std::size_t i = 0; i < table.size(); ++i) {
    if (table[i].index != i) throw std::logic_error("hostcall table index out of order");
    if (table[i].params.size() > kMaxArgs) {
      throw std::logic_error("hostcall " + std::string(table[i].name) + " has more than " +
                             std::to_string(kMaxArgs) + " parameters");
    }
  }

  // Type 0 is the import's (i32) -> i32; type 1 + i is hostcall i's.
  Writer types;
  types.u32(table.size() + 1);
  types.byte(kTypeFunc);
  types.u32(1);
  types.byte(valType(WasmType::I32));
  types.u32(1);
  types.byte(valType(WasmType::I32));
  for (const kernel::HostcallSpec& spec : table) {
    types.byte(kTypeFunc);
    types.u32(spec.params.size());
    for (WasmType param : spec.params) types.byte(valType(param));
    types.u32(spec.result ? 1 : 0);
    if (spec.result) types.byte(valType(*spec.result));
  }

  Writer imports;
  imports.u32(1);
  imports.name(kImportModule);
  imports.name(kImportName);
  imports.byte(kExternFunc);
  imports.u32(0);

  Writer functions;
  functions.u32(table.size());
  for (std::size_t i = 0; i < table.size(); ++i) functions.u32(i + 1);

  Writer memory;
  memory.u32(1);
  memory.byte(kLimitsMinMax);
  memory.u32(1);
  memory.u32(1);

  Writer exports;
  exports.u32(table.size() + 1);
  exports.name(kMemoryExport);
  exports.byte(kExternMemory);
  exports.u32(0);
  for (const kernel::HostcallSpec& spec : table) {
    exports.name(exportName(spec));
    exports.byte(kExternFunc);
    exports.u32(spec.index + 1);  // after the one import
  }

  Writer code;
  code.u32(table.size());
  for (const kernel::HostcallSpec& spec : table) code.append(body(spec).bytes());

  Writer module;
  for (uint8_t b : {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}) module.byte(b);
  module.section(kSectionType, types);
  module.section(kSectionImport, imports);
  module.section(kSectionFunction, functions);
  module.section(kSectionMemory, memory);
  module.section(kSectionExport, exports);
  module.section(kSectionCode, code);
  return std::move(module.bytes());
}

}  // namespace selium::engine::shim
