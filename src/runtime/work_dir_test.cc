#include "runtime/work_dir.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "support/temp_dir.h"

namespace selium::runtime {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class WorkDirTest : public ::testing::Test {
 protected:
  void SetUp() override { root_ = temp_.path(); }

  void writeFile(const fs::path& path, std::string_view bytes) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << bytes;
  }

  ModuleSpec specFor(std::string path) {
    ModuleSpec spec;
    spec.number = 2;
    spec.path = std::move(path);
    return spec;
  }

  selium::testing::TempDir temp_{"workdir"};
  fs::path root_;
  static constexpr std::string_view kWasm{"\0asm\x01\0\0\0", 8};
};

TEST_F(WorkDirTest, MissingWorkDirIsAClearError) {
  auto result = openWorkDir(root_ / "nope");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.error().message, HasSubstr("does not exist"));
  EXPECT_THAT(result.error().message, HasSubstr("nope"));
}

TEST_F(WorkDirTest, WorkDirThatIsAFileIsRejected) {
  writeFile(root_ / "file", "x");
  auto result = openWorkDir(root_ / "file");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.error().message, HasSubstr("is not a directory"));
}

TEST_F(WorkDirTest, MissingModulesFolderIsAClearError) {
  auto result = openWorkDir(root_);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.error().message, HasSubstr("has no modules/ folder"));
}

TEST_F(WorkDirTest, OpensValidWorkDir) {
  fs::create_directory(root_ / "modules");
  auto result = openWorkDir(root_);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->modules, fs::canonical(root_ / "modules"));
  EXPECT_EQ(result->certs, result->root / "certs");
}

TEST_F(WorkDirTest, CompileCacheIsTheCacheFolderAndNeedNotExist) {
  fs::create_directory(root_ / "modules");
  auto result = openWorkDir(root_);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->cache, result->root / "cache");
  EXPECT_FALSE(fs::exists(result->cache));  // the engine creates it when first used
}

TEST_F(WorkDirTest, ResolvesModuleInSubfolder) {
  fs::create_directory(root_ / "modules");
  writeFile(root_ / "modules/myproj/waf.wasm", kWasm);
  auto work = openWorkDir(root_);
  ASSERT_TRUE(work.ok());
  auto file = resolveModulePath(*work, specFor("myproj/waf.wasm"));
  ASSERT_TRUE(file.ok()) << file.error().message;
  EXPECT_EQ(*file, fs::canonical(root_ / "modules/myproj/waf.wasm"));
}

TEST_F(WorkDirTest, ModuleErrorsNameSpecAndPath) {
  fs::create_directory(root_ / "modules");
  writeFile(root_ / "modules/text.wasm", "hello world");
  writeFile(root_ / "modules/short.wasm", std::string_view("\0as", 3));
  fs::create_directory(root_ / "modules/dir.wasm");
  auto work = openWorkDir(root_);
  ASSERT_TRUE(work.ok());

  auto missing = resolveModulePath(*work, specFor("gone.wasm"));
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message,
              HasSubstr("--module #2: path \"gone.wasm\": module file not found: "));
  auto text = resolveModulePath(*work, specFor("text.wasm"));
  ASSERT_FALSE(text.ok());
  EXPECT_THAT(text.error().message, HasSubstr("not a WebAssembly binary module"));
  auto truncated = resolveModulePath(*work, specFor("short.wasm"));
  ASSERT_FALSE(truncated.ok());
  EXPECT_THAT(truncated.error().message, HasSubstr("not a WebAssembly binary module"));
  auto dir = resolveModulePath(*work, specFor("dir.wasm"));
  ASSERT_FALSE(dir.ok());
  EXPECT_THAT(dir.error().message, HasSubstr("not a regular file"));
}

TEST_F(WorkDirTest, SymlinkOutOfModulesIsRejected) {
  fs::create_directory(root_ / "modules");
  writeFile(root_ / "outside.wasm", kWasm);
  fs::create_symlink(root_ / "outside.wasm", root_ / "modules/escape.wasm");
  writeFile(root_ / "modules/real.wasm", kWasm);
  fs::create_symlink("real.wasm", root_ / "modules/alias.wasm");
  auto work = openWorkDir(root_);
  ASSERT_TRUE(work.ok());
  auto escape = resolveModulePath(*work, specFor("escape.wasm"));
  ASSERT_FALSE(escape.ok());
  EXPECT_THAT(escape.error().message, HasSubstr("resolves outside modules/"));
  auto alias = resolveModulePath(*work, specFor("alias.wasm"));
  ASSERT_TRUE(alias.ok()) << alias.error().message;  // a link inside modules/ is fine
}

}  // namespace
}  // namespace selium::runtime
