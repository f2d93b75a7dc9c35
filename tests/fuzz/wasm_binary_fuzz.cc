// Fuzz target for the wasm binary parser, which sees untrusted module bytes. Beyond "no crash",
// it checks the parser's contract: errors name an offset inside the input, and a parsed module's
// indices all resolve, with every way of looking up a signature agreeing, and its declared
// entrypoints (the selium.entrypoints section) are well-formed.
#include <selium/abi/entrypoints.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>

#include "engine/wasm_binary.h"
#include "util/strings.h"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

void checkError(const std::string& message, std::size_t size) {
  check(message.rfind("wasm ", 0) == 0);
  std::size_t at = message.find(" at offset ");
  check(at != std::string::npos);
  std::size_t digits = at + std::string_view(" at offset ").size();
  std::size_t end = message.find(':', digits);
  check(end != std::string::npos && end > digits);
  for (std::size_t i = digits; i < end; ++i) check(message[i] >= '0' && message[i] <= '9');
  std::size_t offset = std::stoull(message.substr(digits, end - digits));
  check(offset <= size);
  check(end + 2 < message.size());  // a problem follows the offset
  for (char c : message) check(static_cast<unsigned char>(c) >= 0x20);
}

void checkLimits(const selium::engine::Limits& limits) {
  check(!limits.max || *limits.max >= limits.min);
  check(!limits.shared || limits.max.has_value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace selium::engine;
  selium::Result<WasmModuleInfo> parsed = parseWasmModule(std::span<const uint8_t>(data, size));
  if (!parsed.ok()) {
    checkError(parsed.error().message, size);
    return 0;
  }
  const WasmModuleInfo& info = *parsed;

  uint32_t imported_functions = 0;
  const Limits* first_memory = nullptr;
  for (const Import& import : info.imports) {
    check(selium::util::isValidUtf8(import.module) && selium::util::isValidUtf8(import.name));
    switch (import.kind) {
      case ExternKind::Func:
        check(import.type_index < info.types.size());
        check(info.functionTypeIndex(imported_functions) == import.type_index);
        ++imported_functions;
        break;
      case ExternKind::Table:
        check(import.value_type == ValType::FuncRef || import.value_type == ValType::ExternRef);
        checkLimits(import.limits);
        check(!import.limits.shared);
        break;
      case ExternKind::Memory:
        checkLimits(import.limits);
        if (first_memory == nullptr) first_memory = &import.limits;
        break;
      case ExternKind::Global:
        check(!valTypeName(import.value_type).empty());
        break;
      case ExternKind::Tag:
        check(import.type_index < info.types.size());
        check(info.types[import.type_index].results.empty());
        break;
    }
  }
  check(info.importedFunctionCount() == imported_functions);

  for (std::size_t i = 0; i < info.function_types.size(); ++i) {
    check(info.function_types[i] < info.types.size());
    check(info.functionTypeIndex(static_cast<uint32_t>(imported_functions + i)) ==
          info.function_types[i]);
  }
  const std::size_t function_count = imported_functions + info.function_types.size();
  if (function_count < UINT32_MAX) {
    check(!info.functionTypeIndex(static_cast<uint32_t>(function_count)).has_value());
  }

  for (const Limits& limits : info.memories) checkLimits(limits);
  if (first_memory == nullptr && !info.memories.empty()) first_memory = &info.memories.front();
  check(info.memoryLimits().has_value() == (first_memory != nullptr));
  if (first_memory != nullptr) check(*info.memoryLimits() == *first_memory);

  for (const FuncType& type : info.types) {
    std::string text = type.toString();
    check(text.size() >= std::string_view("() -> ()").size());
  }

  std::unordered_set<std::string_view> names;
  for (const Export& exported : info.exports) {
    check(selium::util::isValidUtf8(exported.name));
    check(names.insert(exported.name).second);
    check(info.findExport(exported.name) == &exported);
    std::optional<FuncType> type = info.exportedFunctionType(exported.name);
    if (exported.kind == ExternKind::Func) {
      check(exported.index < function_count);
      std::optional<uint32_t> type_index = info.functionTypeIndex(exported.index);
      check(type_index.has_value() && *type_index < info.types.size());
      check(type.has_value() && *type == info.types[*type_index]);
    } else {
      check(!type.has_value());
    }
    if (exported.kind == ExternKind::Memory) check(first_memory != nullptr);
  }

  // The selium.entrypoints section: unique non-empty UTF-8 names, every kind in range.
  if (info.declared_entrypoints) {
    std::unordered_set<std::string_view> declared;
    for (const DeclaredEntrypoint& entry : *info.declared_entrypoints) {
      check(!entry.name.empty() && entry.name.size() <= 255);
      check(selium::util::isValidUtf8(entry.name));
      check(declared.insert(entry.name).second);
      check(info.findDeclaredEntrypoint(entry.name) == &entry);
      check(entry.params.size() <= 255);
      for (const DeclaredParam& param : entry.params) {
        check(param.kind < SELIUM_PARAM_KIND_COUNT);
        check(param.name.size() <= 255 && selium::util::isValidUtf8(param.name));
      }
    }
  } else {
    check(info.findDeclaredEntrypoint("start") == nullptr);
  }
  return 0;
}
