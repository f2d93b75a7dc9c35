// The generated hostcall shim, read back with our own wasm parser: one import, and one export
// per hostcall with exactly the hostcall's signature. (That V8 accepts it and that every
// hostcall works through it is what the integration tests show.)
#include "engine/hostcall_shim.h"

#include <gtest/gtest.h>

#include "engine/wasm_binary.h"

namespace selium::engine {
namespace {

TEST(HostcallShim, ExportsEveryHostcallWithItsSignatureAndImportsOneFunction) {
  std::span<const kernel::HostcallSpec> table = kernel::hostcallTable();
  ASSERT_GT(table.size(), 40u);  // selium and all of WASI preview 1
  std::vector<uint8_t> bytes = shim::build(table);
  auto info = parseWasmModule(bytes);
  ASSERT_TRUE(info.ok()) << info.error().message;

  ASSERT_EQ(info->imports.size(), 1u);
  const Import& import = info->imports[0];
  EXPECT_EQ(import.module, shim::kImportModule);
  EXPECT_EQ(import.name, shim::kImportName);
  ASSERT_EQ(import.kind, ExternKind::Func);
  EXPECT_EQ(info->types[import.type_index].toString(), "(i32) -> (i32)");

  // One page, not growable: the host keeps a raw pointer to it.
  ASSERT_EQ(info->memories.size(), 1u);
  EXPECT_EQ(info->memories[0].min, 1u);
  EXPECT_EQ(info->memories[0].max, 1u);
  const Export* memory = info->findExport(shim::kMemoryExport);
  ASSERT_NE(memory, nullptr);
  EXPECT_EQ(memory->kind, ExternKind::Memory);

  EXPECT_EQ(info->exports.size(), table.size() + 1);
  for (const kernel::HostcallSpec& spec : table) {
    SCOPED_TRACE(std::string(spec.module) + "." + std::string(spec.name));
    FuncType expected = hostcallType(spec);
    EXPECT_EQ(expected.params.size(), spec.params.size());
    auto actual = info->exportedFunctionType(shim::exportName(spec));
    ASSERT_TRUE(actual.has_value());
    EXPECT_EQ(actual->toString(), expected.toString());
  }
}

TEST(HostcallShim, RefusesATableWhoseIndicesAreNotPositions) {
  std::vector<kernel::HostcallSpec> table(kernel::hostcallTable().begin(),
                                          kernel::hostcallTable().end());
  std::swap(table[0], table[1]);
  EXPECT_THROW(shim::build(table), std::logic_error);
}

}  // namespace
}  // namespace selium::engine
