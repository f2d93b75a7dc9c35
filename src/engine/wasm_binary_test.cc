#include "engine/wasm_binary.h"

#include <gtest/gtest.h>
#include <selium/abi/entrypoints.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <initializer_list>
#include <iterator>
#include <new>
#include <string>
#include <vector>

// Counts heap bytes while a test asks, to prove that a lying vector count is rejected before any
// allocation sized by it. Replacing the global operator new is the only way to see allocations
// made inside std::vector; it forwards to malloc, which the sanitizers still watch.
namespace {

std::atomic<bool> counting{false};
std::atomic<std::size_t> counted_bytes{0};

}  // namespace

void* operator new(std::size_t size) {
  if (counting.load(std::memory_order_relaxed)) counted_bytes += size;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// Out of line: inlined, gcc's -Wmismatched-new-delete sees free() on memory from operator new and
// does not know that this operator new is malloc underneath.
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace selium::engine {
namespace {

using Bytes = std::vector<uint8_t>;

// The 8-byte header followed by `sections`, so a test spells out only the bytes it is about.
// Offsets in the tests count from the start of the module: the first section starts at 8.
Bytes module(std::initializer_list<uint8_t> sections) {
  static constexpr uint8_t kHeader[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
  // Sized up front: gcc 12 misreports vector::insert of an empty list as out of bounds.
  Bytes bytes(sizeof(kHeader) + sections.size());
  std::copy(std::begin(kHeader), std::end(kHeader), bytes.begin());
  std::copy(sections.begin(), sections.end(), bytes.begin() + sizeof(kHeader));
  return bytes;
}

std::string parseError(const Bytes& bytes) {
  Result<WasmModuleInfo> result = parseWasmModule(bytes);
  return result.ok() ? "<parsed>" : result.error().message;
}

// wat2wasm --enable-exceptions:
// (module
//   (type $sig (func (param i32 i64 f32 f64) (result i32)))
//   (import "env" "log" (func $log (param i32)))
//   (import "env" "table" (table 2 10 funcref))
//   (import "env" "memory" (memory 1 16))
//   (import "env" "counter" (global $g (mut i64)))
//   (import "env" "err" (tag $e (param i32)))
//   (func $f (type $sig) local.get 0)
//   (export "f" (func $f))
//   (export "log" (func $log))
//   (export "mem" (memory 0))
//   (export "tbl" (table 0))
//   (export "counter" (global $g)))
const Bytes kImportsModule = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0d, 0x02, 0x60, 0x04, 0x7f, 0x7e, 0x7d,
    0x7c, 0x01, 0x7f, 0x60, 0x01, 0x7f, 0x00, 0x02, 0x43, 0x05, 0x03, 0x65, 0x6e, 0x76, 0x03, 0x6c,
    0x6f, 0x67, 0x00, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x05, 0x74, 0x61, 0x62, 0x6c, 0x65, 0x01, 0x70,
    0x01, 0x02, 0x0a, 0x03, 0x65, 0x6e, 0x76, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x01,
    0x01, 0x10, 0x03, 0x65, 0x6e, 0x76, 0x07, 0x63, 0x6f, 0x75, 0x6e, 0x74, 0x65, 0x72, 0x03, 0x7e,
    0x01, 0x03, 0x65, 0x6e, 0x76, 0x03, 0x65, 0x72, 0x72, 0x04, 0x00, 0x01, 0x03, 0x02, 0x01, 0x00,
    0x07, 0x21, 0x05, 0x01, 0x66, 0x00, 0x01, 0x03, 0x6c, 0x6f, 0x67, 0x00, 0x00, 0x03, 0x6d, 0x65,
    0x6d, 0x02, 0x00, 0x03, 0x74, 0x62, 0x6c, 0x01, 0x00, 0x07, 0x63, 0x6f, 0x75, 0x6e, 0x74, 0x65,
    0x72, 0x03, 0x00, 0x0a, 0x06, 0x01, 0x04, 0x00, 0x20, 0x00, 0x0b};

// wat2wasm:
// (module
//   (memory 2 5)
//   (global $n i32 (i32.const 7))
//   (func $run)
//   (func $add (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
//   (export "run" (func $run))
//   (export "add" (func $add))
//   (export "memory" (memory 0))
//   (export "n" (global $n)))
const Bytes kDefinedModule = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x02, 0x60, 0x00, 0x00,
    0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x03, 0x03, 0x02, 0x00, 0x01, 0x05, 0x04, 0x01,
    0x01, 0x02, 0x05, 0x06, 0x06, 0x01, 0x7f, 0x00, 0x41, 0x07, 0x0b, 0x07, 0x1a, 0x04,
    0x03, 0x72, 0x75, 0x6e, 0x00, 0x00, 0x03, 0x61, 0x64, 0x64, 0x00, 0x01, 0x06, 0x6d,
    0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x01, 0x6e, 0x03, 0x00, 0x0a, 0x0c, 0x02,
    0x02, 0x00, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b};

// wat2wasm --debug-names (sections 1-9, data count, code, data and a "name" custom section):
// (module
//   (type $v (func))
//   (import "selium" "time_now" (func $now (result i64)))
//   (table 1 funcref)
//   (memory 1)
//   (global $g (mut i32) (i32.const 0))
//   (func $start)
//   (func $init (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 2)) (data.drop 0))
//   (export "init" (func $init))
//   (start $start)
//   (elem (i32.const 0) $start)
//   (data "hi"))
const Bytes kEverySectionModule = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x60, 0x00, 0x00, 0x60, 0x00,
    0x01, 0x7e, 0x02, 0x13, 0x01, 0x06, 0x73, 0x65, 0x6c, 0x69, 0x75, 0x6d, 0x08, 0x74, 0x69, 0x6d,
    0x65, 0x5f, 0x6e, 0x6f, 0x77, 0x00, 0x01, 0x03, 0x03, 0x02, 0x00, 0x00, 0x04, 0x04, 0x01, 0x70,
    0x00, 0x01, 0x05, 0x03, 0x01, 0x00, 0x01, 0x06, 0x06, 0x01, 0x7f, 0x01, 0x41, 0x00, 0x0b, 0x07,
    0x08, 0x01, 0x04, 0x69, 0x6e, 0x69, 0x74, 0x00, 0x02, 0x08, 0x01, 0x01, 0x09, 0x07, 0x01, 0x00,
    0x41, 0x00, 0x0b, 0x01, 0x01, 0x0c, 0x01, 0x01, 0x0a, 0x14, 0x02, 0x02, 0x00, 0x0b, 0x0f, 0x00,
    0x41, 0x00, 0x41, 0x00, 0x41, 0x02, 0xfc, 0x08, 0x00, 0x00, 0xfc, 0x09, 0x00, 0x0b, 0x0b, 0x05,
    0x01, 0x01, 0x02, 0x68, 0x69, 0x00, 0x2f, 0x04, 0x6e, 0x61, 0x6d, 0x65, 0x01, 0x13, 0x03, 0x00,
    0x03, 0x6e, 0x6f, 0x77, 0x01, 0x05, 0x73, 0x74, 0x61, 0x72, 0x74, 0x02, 0x04, 0x69, 0x6e, 0x69,
    0x74, 0x02, 0x07, 0x03, 0x00, 0x00, 0x01, 0x00, 0x02, 0x00, 0x04, 0x04, 0x01, 0x00, 0x01, 0x76,
    0x07, 0x04, 0x01, 0x00, 0x01, 0x67};

// wat2wasm --enable-threads:
// (module (import "env" "memory" (memory 1 4 shared)))
const Bytes kSharedMemoryModule = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x02,
                                   0x10, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x06, 0x6d, 0x65,
                                   0x6d, 0x6f, 0x72, 0x79, 0x02, 0x03, 0x01, 0x04};

TEST(WasmBinary, ParsesImportsOfEveryKind) {
  Result<WasmModuleInfo> info = parseWasmModule(kImportsModule);
  ASSERT_TRUE(info.ok()) << info.error().message;
  ASSERT_EQ(info->types.size(), 2u);
  ASSERT_EQ(info->imports.size(), 5u);

  const Import& log = info->imports[0];
  EXPECT_EQ(log.module, "env");
  EXPECT_EQ(log.name, "log");
  EXPECT_EQ(log.kind, ExternKind::Func);
  EXPECT_EQ(log.type_index, 1u);
  EXPECT_EQ(info->types[1], (FuncType{{ValType::I32}, {}}));

  const Import& table = info->imports[1];
  EXPECT_EQ(table.name, "table");
  EXPECT_EQ(table.kind, ExternKind::Table);
  EXPECT_EQ(table.value_type, ValType::FuncRef);
  EXPECT_EQ(table.limits, (Limits{2, 10, false}));

  const Import& memory = info->imports[2];
  EXPECT_EQ(memory.name, "memory");
  EXPECT_EQ(memory.kind, ExternKind::Memory);
  EXPECT_EQ(memory.limits, (Limits{1, 16, false}));

  const Import& counter = info->imports[3];
  EXPECT_EQ(counter.name, "counter");
  EXPECT_EQ(counter.kind, ExternKind::Global);
  EXPECT_EQ(counter.value_type, ValType::I64);
  EXPECT_TRUE(counter.mutable_global);

  const Import& tag = info->imports[4];
  EXPECT_EQ(tag.name, "err");
  EXPECT_EQ(tag.kind, ExternKind::Tag);
  EXPECT_EQ(tag.type_index, 1u);

  EXPECT_EQ(info->importedFunctionCount(), 1u);
  EXPECT_EQ(info->function_types, (std::vector<uint32_t>{0}));
  EXPECT_TRUE(info->memories.empty());
}

TEST(WasmBinary, ResolvesExportedFunctionSignatures) {
  Result<WasmModuleInfo> info = parseWasmModule(kImportsModule);
  ASSERT_TRUE(info.ok()) << info.error().message;
  ASSERT_EQ(info->exports.size(), 5u);

  const Export* f = info->findExport("f");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->kind, ExternKind::Func);
  EXPECT_EQ(f->index, 1u);  // after the imported function
  std::optional<FuncType> type = info->exportedFunctionType("f");
  ASSERT_TRUE(type.has_value());
  EXPECT_EQ(*type,
            (FuncType{{ValType::I32, ValType::I64, ValType::F32, ValType::F64}, {ValType::I32}}));
  EXPECT_EQ(type->toString(), "(i32, i64, f32, f64) -> (i32)");

  // A re-exported import resolves through the import's type.
  std::optional<FuncType> log = info->exportedFunctionType("log");
  ASSERT_TRUE(log.has_value());
  EXPECT_EQ(log->toString(), "(i32) -> ()");
  EXPECT_EQ(info->functionTypeIndex(0), 1u);
  EXPECT_EQ(info->functionTypeIndex(1), 0u);
  EXPECT_EQ(info->functionTypeIndex(2), std::nullopt);

  EXPECT_EQ(info->findExport("mem")->kind, ExternKind::Memory);
  EXPECT_EQ(info->findExport("tbl")->kind, ExternKind::Table);
  EXPECT_EQ(info->findExport("counter")->kind, ExternKind::Global);
}

TEST(WasmBinary, MissingOrNonFunctionExportHasNoFunctionType) {
  Result<WasmModuleInfo> info = parseWasmModule(kImportsModule);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->findExport("missing"), nullptr);
  EXPECT_EQ(info->exportedFunctionType("missing"), std::nullopt);
  EXPECT_EQ(info->exportedFunctionType("mem"), std::nullopt);
  EXPECT_EQ(info->exportedFunctionType("counter"), std::nullopt);
  EXPECT_EQ(info->exportedFunctionType(""), std::nullopt);
}

TEST(WasmBinary, ReadsImportedMemoryLimits) {
  Result<WasmModuleInfo> info = parseWasmModule(kImportsModule);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->memoryLimits(), (Limits{1, 16, false}));
}

TEST(WasmBinary, ReadsDefinedMemoryAndFunctions) {
  Result<WasmModuleInfo> info = parseWasmModule(kDefinedModule);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_TRUE(info->imports.empty());
  EXPECT_EQ(info->memories, (std::vector<Limits>{{2, 5, false}}));
  EXPECT_EQ(info->memoryLimits(), (Limits{2, 5, false}));
  EXPECT_EQ(info->function_types, (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(info->exportedFunctionType("run")->toString(), "() -> ()");
  EXPECT_EQ(info->exportedFunctionType("add")->toString(), "(i32, i32) -> (i32)");
  ASSERT_NE(info->findExport("n"), nullptr);
  EXPECT_EQ(info->findExport("n")->kind, ExternKind::Global);
  EXPECT_EQ(info->findExport("n")->index, 0u);
}

TEST(WasmBinary, SkipsSectionsItDoesNotNeed) {
  Result<WasmModuleInfo> info = parseWasmModule(kEverySectionModule);
  ASSERT_TRUE(info.ok()) << info.error().message;
  ASSERT_EQ(info->imports.size(), 1u);
  EXPECT_EQ(info->imports[0].module, "selium");
  EXPECT_EQ(info->imports[0].name, "time_now");
  EXPECT_EQ(info->types[info->imports[0].type_index].toString(), "() -> (i64)");
  EXPECT_EQ(info->function_types, (std::vector<uint32_t>{0, 0}));
  EXPECT_EQ(info->memoryLimits(), (Limits{1, std::nullopt, false}));
  ASSERT_EQ(info->exports.size(), 1u);
  EXPECT_EQ(info->exports[0].index, 2u);
  EXPECT_EQ(info->exportedFunctionType("init")->toString(), "() -> ()");
}

TEST(WasmBinary, ReadsSharedMemoryLimits) {
  Result<WasmModuleInfo> info = parseWasmModule(kSharedMemoryModule);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->memoryLimits(), (Limits{1, 4, true}));
}

TEST(WasmBinary, EmptyModuleHasNothing) {
  Result<WasmModuleInfo> info = parseWasmModule(module({}));
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_TRUE(info->types.empty());
  EXPECT_TRUE(info->imports.empty());
  EXPECT_TRUE(info->exports.empty());
  EXPECT_EQ(info->memoryLimits(), std::nullopt);
}

TEST(WasmBinary, AcceptsCustomAndUnknownSectionsAnywhere) {
  Result<WasmModuleInfo> info = parseWasmModule(module({
      0x00, 0x04, 0x03, 'a',  'b', 'c',  // custom "abc" before everything
      0x01, 0x01, 0x00,                  // type section, no types
      0x00, 0x02, 0x01, 'x',             // custom "x" between known sections
      0x0d, 0x02, 0xff, 0xff,            // section 13 (tags), skipped unread
      0x07, 0x01, 0x00,                  // export section, no exports
      0x0c, 0x01, 0x00,                  // data count sits before code
      0x0a, 0x01, 0x00,                  // code section, no bodies
  }));
  EXPECT_TRUE(info.ok()) << info.error().message;
}

TEST(WasmBinary, AcceptsNonMinimalLeb128WithinFiveBytes) {
  Result<WasmModuleInfo> info =
      parseWasmModule(module({0x01, 0x05, 0x80, 0x80, 0x80, 0x80, 0x00}));  // 0 types
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_TRUE(info->types.empty());
}

TEST(WasmBinary, NamesValueAndExternKinds) {
  EXPECT_EQ(valTypeName(ValType::I32), "i32");
  EXPECT_EQ(valTypeName(ValType::I64), "i64");
  EXPECT_EQ(valTypeName(ValType::F32), "f32");
  EXPECT_EQ(valTypeName(ValType::F64), "f64");
  EXPECT_EQ(valTypeName(ValType::V128), "v128");
  EXPECT_EQ(valTypeName(ValType::FuncRef), "funcref");
  EXPECT_EQ(valTypeName(ValType::ExternRef), "externref");
  EXPECT_EQ(externKindName(ExternKind::Func), "func");
  EXPECT_EQ(externKindName(ExternKind::Tag), "tag");
  EXPECT_EQ(FuncType{}.toString(), "() -> ()");
}

TEST(WasmBinary, RejectsBadMagic) {
  EXPECT_EQ(parseError({0x7f, 'E', 'L', 'F', 0x02, 0x01, 0x01, 0x00}),
            "wasm header at offset 0: bad magic number 7f 45 4c 46 (expected 00 61 73 6d, "
            "\"\\0asm\")");
  EXPECT_EQ(parseError({0x00, 0x62}),
            "wasm header at offset 0: bad magic number 00 62 (expected 00 61 73 6d, \"\\0asm\")");
}

TEST(WasmBinary, RejectsTruncatedHeader) {
  EXPECT_EQ(parseError({}),
            "wasm header at offset 0: the module is 0 bytes, shorter than the "
            "8-byte header");
  EXPECT_EQ(parseError({0x00, 0x61, 0x73, 0x6d, 0x01}),
            "wasm header at offset 0: the module is 5 bytes, shorter than the 8-byte header");
}

TEST(WasmBinary, RejectsBadVersion) {
  EXPECT_EQ(parseError({0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00}),
            "wasm header at offset 4: unsupported version 2 (expected 1)");
  // The component-model layer encoding shares the magic number.
  EXPECT_EQ(parseError({0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00}),
            "wasm header at offset 4: unsupported version 65549 (expected 1)");
}

TEST(WasmBinary, RejectsTruncatedSectionContents) {
  // One import "a" "b" whose kind byte is missing.
  EXPECT_EQ(parseError(module({0x02, 0x05, 0x01, 0x01, 'a', 0x01, 'b'})),
            "wasm import section at offset 15: unexpected end of section reading import kind");
  // A memory whose minimum is an unfinished LEB128.
  EXPECT_EQ(parseError(module({0x05, 0x03, 0x01, 0x00, 0x80})),
            "wasm memory section at offset 12: unexpected end of section reading limits minimum");
  // A section id with no size after it.
  EXPECT_EQ(parseError(module({0x01})),
            "wasm type section at offset 9: unexpected end of module reading section size");
  // A name whose length runs past the section.
  EXPECT_EQ(parseError(module({0x00, 0x02, 0x05, 'a'})),
            "wasm custom section at offset 10: custom section name length 5 exceeds the 1 bytes "
            "left in the section");
}

TEST(WasmBinary, RejectsSectionSizeBeyondEnd) {
  EXPECT_EQ(parseError(module({0x01, 0x05, 0x01, 0x60, 0x00, 0x00})),
            "wasm type section at offset 9: section size 5 exceeds the 4 bytes left in the module");
  EXPECT_EQ(parseError(module({0x0b, 0xff, 0xff, 0xff, 0xff, 0x0f})),
            "wasm data section at offset 9: section size 4294967295 exceeds the 0 bytes left in "
            "the module");
}

TEST(WasmBinary, RejectsSectionWithBytesLeftOver) {
  EXPECT_EQ(parseError(module({0x01, 0x02, 0x00, 0x00})),
            "wasm type section at offset 11: section size 2 leaves 1 bytes after its contents");
}

TEST(WasmBinary, RejectsOverLongAndOverflowingLeb128) {
  EXPECT_EQ(parseError(module({0x01, 0x06, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00})),
            "wasm type section at offset 10: over-long LEB128 for type count (more than 5 bytes)");
  EXPECT_EQ(parseError(module({0x01, 0x05, 0xff, 0xff, 0xff, 0xff, 0x1f})),
            "wasm type section at offset 10: LEB128 for type count overflows 32 bits");
  // Over-long section size, in the section header itself.
  EXPECT_EQ(parseError(module({0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00})),
            "wasm type section at offset 9: over-long LEB128 for section size (more than 5 bytes)");
}

TEST(WasmBinary, RejectsTypeIndexOutOfRange) {
  // One type; the function section names type 1.
  EXPECT_EQ(parseError(module({0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x01})),
            "wasm function section at offset 17: type index 1 out of range (the module has 1 "
            "types)");
  // No types; an imported function "a" "b" names type 0.
  EXPECT_EQ(parseError(module({0x02, 0x07, 0x01, 0x01, 'a', 0x01, 'b', 0x00, 0x00})),
            "wasm import section at offset 16: type index 0 out of range (the module has 0 "
            "types)");
}

TEST(WasmBinary, RejectsDuplicateSection) {
  EXPECT_EQ(parseError(module({0x01, 0x01, 0x00, 0x01, 0x01, 0x00})),
            "wasm type section at offset 11: duplicate section");
}

TEST(WasmBinary, RejectsOutOfOrderSection) {
  EXPECT_EQ(parseError(module({0x07, 0x01, 0x00, 0x01, 0x01, 0x00})),
            "wasm type section at offset 11: out of order: must come before the export section");
  // Data count goes between element and code, not by its id.
  EXPECT_EQ(parseError(module({0x0a, 0x01, 0x00, 0x0c, 0x01, 0x00})),
            "wasm data count section at offset 11: out of order: must come before the code "
            "section");
}

TEST(WasmBinary, RejectsInvalidUtf8Names) {
  // Export named C0 80, an overlong encoding of NUL.
  EXPECT_EQ(parseError(module({0x07, 0x05, 0x01, 0x02, 0xc0, 0x80, 0x00})),
            "wasm export section at offset 12: export name is not valid UTF-8");
  EXPECT_EQ(parseError(module({0x02, 0x06, 0x01, 0x01, 0xff, 0x00, 0x02, 0x00})),
            "wasm import section at offset 12: import module name is not valid UTF-8");
  EXPECT_EQ(parseError(module({0x00, 0x02, 0x01, 0xff})),
            "wasm custom section at offset 11: custom section name is not valid UTF-8");
}

TEST(WasmBinary, RejectsBadTypes) {
  EXPECT_EQ(parseError(module({0x01, 0x05, 0x01, 0x60, 0x01, 0x40, 0x00})),
            "wasm type section at offset 13: invalid parameter type 0x40");
  EXPECT_EQ(parseError(module({0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x00})),
            "wasm type section at offset 14: invalid result type 0x00");
  EXPECT_EQ(parseError(module({0x01, 0x04, 0x01, 0x5f, 0x00, 0x00})),
            "wasm type section at offset 11: invalid function type form 0x5f (expected 0x60)");
  // Table of i32.
  EXPECT_EQ(parseError(module({0x04, 0x04, 0x01, 0x7f, 0x00, 0x00})),
            "wasm table section at offset 11: table element type must be a reference type, not "
            "i32");
}

TEST(WasmBinary, RejectsBadLimits) {
  EXPECT_EQ(parseError(module({0x05, 0x04, 0x01, 0x01, 0x03, 0x02})),
            "wasm memory section at offset 13: maximum 2 is less than minimum 3");
  EXPECT_EQ(parseError(module({0x05, 0x05, 0x01, 0x00, 0x81, 0x80, 0x04})),
            "wasm memory section at offset 12: minimum of 65537 pages exceeds the limit of 65536 "
            "pages");
  EXPECT_EQ(parseError(module({0x05, 0x03, 0x01, 0x02, 0x01})),
            "wasm memory section at offset 11: shared memory must declare a maximum (limits "
            "flags 0x02)");
  EXPECT_EQ(parseError(module({0x05, 0x03, 0x01, 0x04, 0x01})),
            "wasm memory section at offset 11: 64-bit memory (limits flags 0x04) is not "
            "supported");
  // Tables cannot be shared.
  EXPECT_EQ(parseError(module({0x04, 0x05, 0x01, 0x70, 0x03, 0x01, 0x02})),
            "wasm table section at offset 12: invalid limits flags 0x03");
}

TEST(WasmBinary, RejectsBadImportDescriptors) {
  // import "a" "b" with kind 5.
  EXPECT_EQ(parseError(module({0x02, 0x07, 0x01, 0x01, 'a', 0x01, 'b', 0x05, 0x00})),
            "wasm import section at offset 15: invalid import kind 0x05");
  // Global i32 with mutability 2.
  EXPECT_EQ(parseError(module({0x02, 0x08, 0x01, 0x01, 'a', 0x01, 'b', 0x03, 0x7f, 0x02})),
            "wasm import section at offset 17: invalid global mutability 0x02");
  // Tag with attribute 1 (type section: one () -> () type first).
  EXPECT_EQ(parseError(module({0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x02, 0x08, 0x01, 0x01, 'a',
                               0x01, 'b', 0x04, 0x01, 0x00})),
            "wasm import section at offset 22: invalid tag attribute 0x01 (expected 0)");
  // Tag whose type () -> (i32) has a result.
  EXPECT_EQ(parseError(module({0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x02, 0x08, 0x01, 0x01,
                               'a', 0x01, 'b', 0x04, 0x00, 0x00})),
            "wasm import section at offset 24: tag type 0 has results");
}

TEST(WasmBinary, RejectsBadExports) {
  // Export "f" of function 0 in a module without functions.
  EXPECT_EQ(parseError(module({0x07, 0x05, 0x01, 0x01, 'f', 0x00, 0x00})),
            "wasm export section at offset 14: exported func index 0 out of range (the module "
            "has 0)");
  // Export of memory 1 when there is only memory 0.
  EXPECT_EQ(
      parseError(module({0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x05, 0x01, 0x01, 'm', 0x02, 0x01})),
      "wasm export section at offset 19: exported memory index 1 out of range (the module "
      "has 1)");
  // Kind 5.
  EXPECT_EQ(parseError(module({0x07, 0x05, 0x01, 0x01, 'f', 0x05, 0x00})),
            "wasm export section at offset 13: invalid export kind 0x05");
  // "m" exported twice.
  EXPECT_EQ(parseError(module({0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x09, 0x02, 0x01, 'm', 0x02,
                               0x00, 0x01, 'm', 0x02, 0x00})),
            "wasm export section at offset 20: duplicate export name \"m\"");
}

TEST(WasmBinary, RejectsFunctionsWithoutMatchingBodies) {
  // One type, one function, no code section.
  EXPECT_EQ(parseError(module({0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00})),
            "wasm module at offset 18: 1 functions declared but no code section");
  // The same with a code section of zero bodies.
  EXPECT_EQ(parseError(module(
                {0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x0a, 0x01, 0x00})),
            "wasm code section at offset 20: 0 function bodies for the 1 functions declared");
}

TEST(WasmBinary, HugeVectorCountsFailBeforeAllocating) {
  struct Case {
    Bytes bytes;
    std::string error;
  };
  const std::vector<Case> cases = {
      {module({0x02, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f}),
       "wasm import section at offset 10: import count 4294967295 is more than the remaining 0 "
       "bytes can hold"},
      {module({0x01, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f}),
       "wasm type section at offset 10: type count 4294967295 is more than the remaining 0 bytes "
       "can hold"},
      {module({0x01, 0x07, 0x01, 0x60, 0xff, 0xff, 0xff, 0xff, 0x0f}),
       "wasm type section at offset 12: parameter count 4294967295 is more than the remaining 0 "
       "bytes can hold"},
      {module({0x03, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f}),
       "wasm function section at offset 10: function count 4294967295 is more than the "
       "remaining 0 bytes can hold"},
      {module({0x05, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f}),
       "wasm memory section at offset 10: memory count 4294967295 is more than the remaining 0 "
       "bytes can hold"},
      {module({0x07, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f}),
       "wasm export section at offset 10: export count 4294967295 is more than the remaining 0 "
       "bytes can hold"},
      // Two imports need at least 8 bytes; 7 are left.
      {module({0x02, 0x08, 0x02, 0x01, 'a', 0x01, 'b', 0x02, 0x00, 0x00}),
       "wasm import section at offset 10: import count 2 is more than the remaining 7 bytes can "
       "hold"},
  };
  for (const Case& c : cases) {
    counted_bytes = 0;
    counting = true;
    std::string error = parseError(c.bytes);
    counting = false;
    EXPECT_EQ(error, c.error);
    // The error message and section label, nothing sized by the count.
    EXPECT_LT(counted_bytes.load(), 1024u) << c.error;
  }
}

// A module whose only section is a `selium.entrypoints` custom section holding `content`, which
// starts at offset 29: id at 8, size at 9, name length at 10, the 18-byte name at 11.
Bytes entrypointsModule(std::initializer_list<uint8_t> content) {
  static constexpr std::string_view kName = "selium.entrypoints";
  Bytes bytes = module({});
  bytes.push_back(0x00);
  bytes.push_back(static_cast<uint8_t>(1 + kName.size() + content.size()));  // < 128 in the tests
  bytes.push_back(static_cast<uint8_t>(kName.size()));
  bytes.insert(bytes.end(), kName.begin(), kName.end());
  bytes.insert(bytes.end(), content.begin(), content.end());
  return bytes;
}

TEST(WasmBinaryEntrypoints, ReadsRecordsAndSkipsZeroPaddingBetweenThem) {
  Result<WasmModuleInfo> info = parseWasmModule(entrypointsModule({
      0x00,                                                       // padding before a record
      0x01, 0x05, 's',  't',  'a',  'r',  't',                    // version 1, "start"
      0x02, 0x0a, 0x04, 'n',  'a',  'm',  'e',  0x05, 0x01, 'n',  // (utf8 name, u32 n)
      0x00, 0x00, 0x00,                                           // padding between pieces
      0x01, 0x04, 'i',  'd',  'l',  'e',  0x00,                   // "idle", no params
      0x01, 0x01, 'b',  0x01, 0x0c, 0x00,                         // "b": (hex) without a name
  }));
  ASSERT_TRUE(info.ok()) << info.error().message;
  ASSERT_TRUE(info->declared_entrypoints.has_value());
  std::vector<DeclaredEntrypoint> expected = {
      {"start", {{SELIUM_PARAM_KIND_utf8, "name"}, {SELIUM_PARAM_KIND_u32, "n"}}},
      {"idle", {}},
      {"b", {{SELIUM_PARAM_KIND_hex, ""}}},
  };
  EXPECT_EQ(*info->declared_entrypoints, expected);
  ASSERT_NE(info->findDeclaredEntrypoint("idle"), nullptr);
  EXPECT_EQ(info->findDeclaredEntrypoint("idle")->name, "idle");
  EXPECT_EQ(info->findDeclaredEntrypoint("other"), nullptr);
}

TEST(WasmBinaryEntrypoints, AbsentSectionIsNulloptAndOtherCustomSectionsAreSkipped) {
  // A custom section "selium.entrypointz": a near miss of the name is just another section.
  Bytes bytes = entrypointsModule({0xff, 0xff});
  bytes[10 + 18] = 'z';
  Result<WasmModuleInfo> info = parseWasmModule(bytes);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_FALSE(info->declared_entrypoints.has_value());
  EXPECT_EQ(info->findDeclaredEntrypoint("start"), nullptr);
  Result<WasmModuleInfo> empty = parseWasmModule(module({}));
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->declared_entrypoints.has_value());
  // Present but empty (or only padding): the module declares no entrypoints.
  Result<WasmModuleInfo> padding = parseWasmModule(entrypointsModule({0x00, 0x00}));
  ASSERT_TRUE(padding.ok()) << padding.error().message;
  ASSERT_TRUE(padding->declared_entrypoints.has_value());
  EXPECT_TRUE(padding->declared_entrypoints->empty());
}

TEST(WasmBinaryEntrypoints, TwoSectionsAreReadAsOne) {
  Bytes bytes = entrypointsModule({0x01, 0x01, 'a', 0x00});
  Bytes second = entrypointsModule({0x01, 0x01, 'b', 0x00});
  bytes.insert(bytes.end(), second.begin() + 8, second.end());
  Result<WasmModuleInfo> info = parseWasmModule(bytes);
  ASSERT_TRUE(info.ok()) << info.error().message;
  ASSERT_TRUE(info->declared_entrypoints.has_value());
  ASSERT_EQ(info->declared_entrypoints->size(), 2u);
  EXPECT_NE(info->findDeclaredEntrypoint("b"), nullptr);
}

TEST(WasmBinaryEntrypoints, MalformedSectionIsAnErrorNamingTheOffset) {
  struct Case {
    Bytes bytes;
    std::string error;
  };
  const std::string at = "wasm custom section \"selium.entrypoints\" at offset ";
  const std::vector<Case> cases = {
      {entrypointsModule({0x02, 0x01, 'a', 0x00}),
       at + "29: unsupported entrypoint record version 2 (expected 1)"},
      {entrypointsModule({0x01, 0x05, 's', 't'}),
       at + "30: entrypoint name length 5 exceeds the 2 bytes left in the section"},
      {entrypointsModule({0x01}),
       at + "30: unexpected end of section reading entrypoint name length"},
      {entrypointsModule({0x01, 0x00, 0x00}), at + "30: empty entrypoint name"},
      {entrypointsModule({0x01, 0x01, 0xff, 0x00}), at + "31: entrypoint name is not valid UTF-8"},
      {entrypointsModule({0x01, 0x01, 'a'}),
       at + "32: unexpected end of section reading parameter count"},
      {entrypointsModule({0x01, 0x01, 'a', 0xc8, 0x0a, 0x00}),
       at + "32: parameter count 200 is more than the remaining 2 bytes can hold"},
      {entrypointsModule({0x01, 0x01, 'a', 0x01, 0x0e, 0x00}),
       at + "33: unknown parameter kind 14 in entrypoint \"a\""},
      {entrypointsModule({0x01, 0x01, 'a', 0x02, 0x0a, 0x00, 0x05, 0x03, 'x'}),
       at + "36: parameter name length 3 exceeds the 1 bytes left in the section"},
      {entrypointsModule({0x01, 0x01, 'a', 0x00, 0x01, 0x01, 'a', 0x00}),
       at + "34: duplicate entrypoint \"a\""},
  };
  for (const Case& c : cases) EXPECT_EQ(parseError(c.bytes), c.error);
}

}  // namespace
}  // namespace selium::engine
