// The C++ view of the guest error codes in include/selium/abi/errors.h.
#pragma once

#include <selium/abi/errors.h>

#include <cstdint>
#include <string_view>

namespace selium::kernel {

enum class ErrorCode : int32_t {
#define SELIUM_ERROR_CXX_(name, code, text) name = code,
  SELIUM_ERRORS(SELIUM_ERROR_CXX_)
#undef SELIUM_ERROR_CXX_
};

// "WouldBlock", "PermissionDenied", ...
std::string_view errorName(ErrorCode code);

// The value a hostcall returns for `code`: its negation.
constexpr int32_t errorResult(ErrorCode code) { return -static_cast<int32_t>(code); }

}  // namespace selium::kernel
