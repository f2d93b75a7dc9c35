// A small parser of the WebAssembly binary format (MVP, tolerating custom and unknown sections)
// that reads what the runtime checks before instantiating: imports, exports, function signatures,
// memory limits and the entrypoints' declared kinds (the `selium.entrypoints` custom section).
// Plain C++ with no V8, so it can run on untrusted bytes under a fuzzer.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace selium::engine {

enum class ValType : uint8_t { I32, I64, F32, F64, V128, FuncRef, ExternRef };

// The text-format name: "i32", "i64", "f32", "f64", "v128", "funcref", "externref".
std::string_view valTypeName(ValType type);

struct FuncType {
  std::vector<ValType> params;
  std::vector<ValType> results;

  // "(i32, i64) -> (i32)"; "() -> ()" for a function without parameters or results.
  std::string toString() const;

  friend bool operator==(const FuncType&, const FuncType&) = default;
};

// Limits of a memory (in 64 KiB pages) or a table (in elements).
struct Limits {
  uint32_t min = 0;
  std::optional<uint32_t> max;
  bool shared = false;  // memories only (threads proposal); a shared memory always has a max

  friend bool operator==(const Limits&, const Limits&) = default;
};

enum class ExternKind : uint8_t { Func, Table, Memory, Global, Tag };

// "func", "table", "memory", "global", "tag".
std::string_view externKindName(ExternKind kind);

// One import. Which fields are meaningful depends on `kind`; the others keep their defaults.
struct Import {
  std::string module;
  std::string name;
  ExternKind kind = ExternKind::Func;
  uint32_t type_index = 0;            // Func, Tag: index into WasmModuleInfo::types
  Limits limits;                      // Memory, Table
  ValType value_type = ValType::I32;  // Table: element type; Global: value type
  bool mutable_global = false;        // Global
};

struct Export {
  std::string name;
  ExternKind kind = ExternKind::Func;
  uint32_t index = 0;  // into the kind's index space, where imports come first
};

// One parameter of an entrypoint as the module's `selium.entrypoints` section declares it.
struct DeclaredParam {
  uint8_t kind = 0;  // SELIUM_PARAM_KIND_* (include/selium/abi/entrypoints.h), always in range
  std::string name;  // for messages only; may be empty

  friend bool operator==(const DeclaredParam&, const DeclaredParam&) = default;
};

// An entrypoint and its parameters, from the `selium.entrypoints` section.
struct DeclaredEntrypoint {
  std::string name;
  std::vector<DeclaredParam> params;

  friend bool operator==(const DeclaredEntrypoint&, const DeclaredEntrypoint&) = default;
};

// What parseWasmModule read. Every type index and every Func/Memory/Table/Global export index in
// a parsed module is in range; Tag export indices are not checked (the tag section is skipped).
struct WasmModuleInfo {
  std::vector<FuncType> types;
  std::vector<Import> imports;
  std::vector<uint32_t> function_types;  // type index of each defined (non-imported) function
  std::vector<Limits> memories;          // defined (non-imported) memories
  std::vector<Limits> tables;            // defined (non-imported) tables, in elements
  uint32_t globals = 0;                  // defined (non-imported) globals
  std::vector<Export> exports;           // names are unique
  // The records of the `selium.entrypoints` custom sections, in order; names are unique.
  // Nullopt when the module has no such section (modules built before it existed, other
  // toolchains): its entrypoints are then checked by wasm types alone.
  std::optional<std::vector<DeclaredEntrypoint>> declared_entrypoints;

  // The export called `name`, or nullptr. The pointer lives as long as this object.
  const Export* findExport(std::string_view name) const;

  // Number of imported functions: the first defined function's index.
  uint32_t importedFunctionCount() const;

  // Type index of function `function_index` (imported or defined); nullopt when out of range.
  std::optional<uint32_t> functionTypeIndex(uint32_t function_index) const;

  // Signature of the exported function `name`; nullopt if there is no such export or it is not
  // a function.
  std::optional<FuncType> exportedFunctionType(std::string_view name) const;

  // Limits of memory 0 (imported or defined); nullopt when the module has no memory.
  std::optional<Limits> memoryLimits() const;

  // The declared entrypoint called `name`, or nullptr (also without the section).
  const DeclaredEntrypoint* findDeclaredEntrypoint(std::string_view name) const;
};

// Parses and checks the structure of a module. Never reads outside `bytes` and allocates in
// proportion to its size. Errors read "wasm <where> at offset <N>: <problem>", where <where> is
// "header", "module" or the section ("import section", "section 13", "custom section
// \"selium.entrypoints\"") and N is the byte offset into `bytes` of the field at fault. Custom
// sections other than `selium.entrypoints` are skipped unread.
Result<WasmModuleInfo> parseWasmModule(std::span<const uint8_t> bytes);

}  // namespace selium::engine
