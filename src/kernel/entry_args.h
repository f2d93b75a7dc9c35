// Entrypoint parameter kinds and argument values: what a module spec passes to a guest's
// entrypoint, in the form the engine marshals into wasm arguments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace selium::kernel {

// The ABI kind of one entrypoint parameter.
enum class ParamKind {
  I8,
  U8,
  I16,
  U16,
  I32,
  U32,
  I64,
  U64,
  F32,
  F64,
  Utf8,
  Buffer,
  Hex,
  Resource
};

// Canonical spelling: "i8" … "f64", "utf8", "buffer", "hex", "resource".
std::string_view paramKindName(ParamKind kind);

// Accepts canonical names and aliases, case-insensitively: buffer|bytes|byte|data,
// utf8|utf-8|string|str|text, resource|handle, hex.
std::optional<ParamKind> parseParamKind(std::string_view text);

// Byte-carrying kinds (buffer, hex) share one wasm shape: (ptr, len) of raw bytes. `hex` only
// says how the text of a value is decoded.
bool isBytesKind(ParamKind kind);

// A decoded argument. Holds int64_t for i8…i64, uint64_t for u8…u64 and resource, float for f32,
// double for f64, std::string for utf8 (valid UTF-8), bytes for buffer and hex.
using ArgValue = std::variant<int64_t, uint64_t, float, double, std::string, std::vector<uint8_t>>;

struct EntrypointArg {
  ParamKind kind;  // the parameter's kind (from params, or from the arg's own type prefix)
  ArgValue value;
  friend bool operator==(const EntrypointArg&, const EntrypointArg&) = default;
};

// The argument as a WASI command sees it in argv: utf8 as is, integers and resource ids in
// decimal, floats in their shortest round-trip form ("1.5", "1e+300", "inf"), bytes raw (a NUL
// byte ends the C string the guest sees).
std::string argText(const EntrypointArg& arg);

}  // namespace selium::kernel
