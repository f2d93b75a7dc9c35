// Hostcall failures as values: ErrorCode mirrors SELIUM_ERRORS, Result<T> holds a value or an
// Error. Nothing in the SDK throws (guests build with -fno-exceptions).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

#include "selium/selium.h"

namespace selium {

// Error codes of the guest ABI (selium/abi/errors.h); a hostcall's negative result is -code.
enum class ErrorCode : int32_t {
#define SELIUM_ERROR_CODE_(name, code, text) name = code,
  SELIUM_ERRORS(SELIUM_ERROR_CODE_)
#undef SELIUM_ERROR_CODE_
};

namespace detail {
// Traps the guest with a message for the host's trap report; for broken SDK invariants and
// misuse such as reading the value of a failed Result.
[[noreturn]] void fatal(const char* what) noexcept;
}  // namespace detail

// A failed hostcall. lastError() gives the host's detailed message for the latest one.
class Error {
 public:
  constexpr explicit Error(ErrorCode code) noexcept : code_(code) {}
  // From a hostcall's negative result.
  static constexpr Error fromResult(int64_t result) noexcept {
    return Error(static_cast<ErrorCode>(-result));
  }

  constexpr ErrorCode code() const noexcept { return code_; }
  // The negative hostcall result that carries this error: -code.
  constexpr int32_t result() const noexcept { return -static_cast<int32_t>(code_); }
  // "PermissionDenied", ...; "Unknown" for codes the SDK does not know.
  std::string_view name() const noexcept { return selium_error_name(result()); }
  // The ABI's one-line description of the code.
  std::string_view description() const noexcept { return selium_error_description(result()); }

  friend constexpr bool operator==(Error a, Error b) noexcept { return a.code_ == b.code_; }
  friend constexpr bool operator==(Error a, ErrorCode b) noexcept { return a.code_ == b; }

 private:
  ErrorCode code_;
};

// A value or an Error. Reading the wrong one traps.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) noexcept : value_(std::move(value)), error_(ErrorCode::Internal) {}
  Result(Error error) noexcept : error_(error) {}

  bool ok() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & noexcept { return check(), *value_; }
  const T& value() const& noexcept { return check(), *value_; }
  T&& value() && noexcept { return check(), std::move(*value_); }
  T& operator*() & noexcept { return value(); }
  const T& operator*() const& noexcept { return value(); }
  T* operator->() noexcept { return &value(); }
  const T* operator->() const noexcept { return &value(); }
  T valueOr(T fallback) const& noexcept { return ok() ? *value_ : std::move(fallback); }

  Error error() const noexcept {
    if (ok()) detail::fatal("selium::Result::error() on a value");
    return error_;
  }

 private:
  void check() const noexcept {
    if (!ok()) detail::fatal("selium::Result::value() on an error");
  }

  std::optional<T> value_;
  Error error_;
};

// Success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() noexcept = default;
  Result(Error error) noexcept : error_(error) {}

  bool ok() const noexcept { return !error_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  Error error() const noexcept {
    if (ok()) detail::fatal("selium::Result::error() on success");
    return *error_;
  }

 private:
  std::optional<Error> error_;
};

// A hostcall result as a Result: >= 0 is the value, < 0 the error.
inline Result<int32_t> check(int32_t result) noexcept {
  if (result < 0) return Error::fromResult(result);
  return result;
}

}  // namespace selium
