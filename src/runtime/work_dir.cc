// Work directory checks, done before anything starts so a mistake is reported at once.
#include "runtime/work_dir.h"

#include <array>
#include <cstring>
#include <fstream>

#include "util/strings.h"

namespace selium::runtime {
namespace fs = std::filesystem;
namespace {

Error specError(const ModuleSpec& spec, std::string message) {
  return Error{SpecError{spec.number, "path", spec.path, std::move(message)}.toString()};
}

}  // namespace

Result<WorkDir> openWorkDir(const fs::path& root) {
  std::error_code ec;
  fs::path absolute = fs::absolute(root, ec);
  if (ec) return Error{"work dir " + util::quote(root.string()) + ": " + ec.message()};
  auto status = fs::status(absolute, ec);
  if (!fs::exists(status)) {
    return Error{"work dir " + util::quote(absolute.string()) +
                 " does not exist (set --work-dir or SELIUM_WORK_DIR)"};
  }
  if (!fs::is_directory(status)) {
    return Error{"work dir " + util::quote(absolute.string()) + " is not a directory"};
  }
  fs::path modules = absolute / "modules";
  auto modules_status = fs::status(modules, ec);
  if (!fs::exists(modules_status)) {
    return Error{"work dir " + util::quote(absolute.string()) +
                 " has no modules/ folder (create it and put the .wasm modules there)"};
  }
  if (!fs::is_directory(modules_status)) {
    return Error{util::quote(modules.string()) + " is not a directory"};
  }
  fs::path canonical = fs::canonical(modules, ec);
  if (ec) return Error{util::quote(modules.string()) + ": " + ec.message()};
  fs::path normal = absolute.lexically_normal();
  return WorkDir{normal, canonical, absolute / "certs", normal / "cache"};
}

Result<fs::path> resolveModulePath(const WorkDir& work_dir, const ModuleSpec& spec) {
  fs::path file = work_dir.modules / spec.path;
  std::error_code ec;
  auto status = fs::status(file, ec);
  if (!fs::exists(status)) return specError(spec, "module file not found: " + file.string());
  if (!fs::is_regular_file(status)) {
    return specError(spec, "module path is not a regular file: " + file.string());
  }
  fs::path canonical = fs::canonical(file, ec);
  if (ec) return specError(spec, file.string() + ": " + ec.message());
  // A symlink must not lead out of modules/: the spec grammar forbids "..", and this closes the
  // same hole through the file system.
  auto [mismatch, unused] = std::mismatch(work_dir.modules.begin(), work_dir.modules.end(),
                                          canonical.begin(), canonical.end());
  if (mismatch != work_dir.modules.end()) {
    return specError(spec, "module file resolves outside modules/: " + canonical.string());
  }
  std::ifstream in(canonical, std::ios::binary);
  if (!in) {
    return specError(spec,
                     "cannot read module file " + canonical.string() + ": " + std::strerror(errno));
  }
  std::array<char, 8> header{};
  in.read(header.data(), header.size());
  static constexpr std::array<char, 8> kWasmHeader = {0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00};
  if (in.gcount() != static_cast<std::streamsize>(header.size()) || header != kWasmHeader) {
    return specError(spec,
                     "not a WebAssembly binary module (missing the \\0asm version 1 header): " +
                         canonical.string());
  }
  return canonical;
}

}  // namespace selium::runtime
