// The runtime's work directory: modules/ holds guest modules, certs/ holds TLS material.
#pragma once

#include <filesystem>

#include "runtime/module_spec.h"
#include "util/result.h"

namespace selium::runtime {

struct WorkDir {
  std::filesystem::path root;     // absolute
  std::filesystem::path modules;  // root/modules, absolute and canonical
  std::filesystem::path certs;    // root/certs (may not exist yet)
  std::filesystem::path cache;    // root/cache: the compile cache (created when first used)
};

// Checks that `root` and its modules/ folder exist and are directories.
Result<WorkDir> openWorkDir(const std::filesystem::path& root);

// Resolves a spec's module file under modules/: it must exist, be a regular file, stay inside
// modules/ once symlinks are followed, be readable, and start with the wasm binary header.
// Errors are in SpecError form (they name the spec number, key "path" and the value).
Result<std::filesystem::path> resolveModulePath(const WorkDir& work_dir, const ModuleSpec& spec);

}  // namespace selium::runtime
