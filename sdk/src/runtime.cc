// The SDK's always-linked part: the selium_alloc export, one-time static construction, exiting
// and error names. Every SDK guest links this object (SeliumGuest.cmake forces selium_alloc).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "selium/process.hpp"
#include "selium/result.hpp"
#include "selium/selium.h"

// Defined by wasm-ld: runs the module's static constructors. Calling it ourselves (once) also
// tells wasm-ld not to wrap every export in constructor and destructor calls, which would re-run
// constructors on each selium_poll.
extern "C" void __wasm_call_ctors(void);

namespace {
bool initialized = false;

struct ErrorInfo {
  int32_t code;
  const char* name;
  const char* description;
};

constexpr ErrorInfo kErrors[] = {
#define SELIUM_ERROR_INFO_(name, code, text) {code, #name, text},
    SELIUM_ERRORS(SELIUM_ERROR_INFO_)
#undef SELIUM_ERROR_INFO_
};

const ErrorInfo* findError(int32_t code) {
  if (code < 0) code = -code;
  for (const ErrorInfo& info : kErrors) {
    if (info.code == code) return &info;
  }
  return nullptr;
}
}  // namespace

extern "C" {

void selium_init(void) {
  if (initialized) return;
  initialized = true;
  __wasm_call_ctors();
}

__attribute__((export_name(SELIUM_EXPORT_ALLOC))) uint32_t selium_alloc(uint32_t size,
                                                                        uint32_t align) {
  selium_init();
  if (align == 0) align = 1;
  if ((align & (align - 1)) != 0 || size > UINT32_MAX - align) return 0;
  void* memory = nullptr;
  if (align <= alignof(std::max_align_t)) {
    memory = std::malloc(size == 0 ? 1 : size);
  } else {
    memory = std::aligned_alloc(align, (size + align - 1) / align * align);
  }
  return SELIUM_ADDR(memory);
}

// libc++abi's versions print through stderr, which drags WASI fd_write into every module whose
// code keeps an abstract class's vtable (FlatBuffers' Allocator does in unoptimised builds).
// Being defined here, in an object every SDK guest links, they replace the library's.
void __cxa_pure_virtual() { __builtin_trap(); }
void __cxa_deleted_virtual() { __builtin_trap(); }

// compiler-rt's builtins for wasm32 are built with the stack protector, so some of them
// (__umodti3: `%` on unsigned __int128) need these, which wasi-libc does not define.
uintptr_t __stack_chk_guard = 0x5e1105e1u;
[[noreturn]] void __stack_chk_fail(void) { __builtin_trap(); }

void selium_exit(int32_t status) {
  selium_process_exit(status);
  __builtin_trap();  // process_exit does not return; if a broken host returns, stop anyway
}

const char* selium_error_name(int32_t code) {
  if (code == 0) return "Ok";
  const ErrorInfo* info = findError(code);
  return info != nullptr ? info->name : "Unknown";
}

const char* selium_error_description(int32_t code) {
  if (code == 0) return "success";
  const ErrorInfo* info = findError(code);
  return info != nullptr ? info->description : "an error code this SDK does not know";
}

}  // extern "C"

namespace selium {

void exit(int32_t status) noexcept { selium_exit(status); }

int64_t processId() noexcept { return selium_process_id(); }

namespace detail {
void fatal(const char* what) noexcept {
  selium_log(SELIUM_LOG_ERROR, "selium.sdk", what);
  __builtin_trap();
}
}  // namespace detail

}  // namespace selium
