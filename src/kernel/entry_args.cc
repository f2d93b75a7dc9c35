// Parameter kind names and aliases.
#include "kernel/entry_args.h"

#include <array>
#include <charconv>
#include <type_traits>

#include "util/strings.h"

namespace selium::kernel {
namespace {

struct KindName {
  ParamKind kind;
  std::string_view name;
};

constexpr std::array<KindName, 22> kKindNames = {{
    {ParamKind::I8, "i8"},
    {ParamKind::U8, "u8"},
    {ParamKind::I16, "i16"},
    {ParamKind::U16, "u16"},
    {ParamKind::I32, "i32"},
    {ParamKind::U32, "u32"},
    {ParamKind::I64, "i64"},
    {ParamKind::U64, "u64"},
    {ParamKind::F32, "f32"},
    {ParamKind::F64, "f64"},
    {ParamKind::Utf8, "utf8"},
    {ParamKind::Buffer, "buffer"},
    {ParamKind::Hex, "hex"},
    {ParamKind::Resource, "resource"},
    // aliases (after the canonical names, which paramKindName returns)
    {ParamKind::Utf8, "utf-8"},
    {ParamKind::Utf8, "string"},
    {ParamKind::Utf8, "str"},
    {ParamKind::Utf8, "text"},
    {ParamKind::Buffer, "bytes"},
    {ParamKind::Buffer, "byte"},
    {ParamKind::Buffer, "data"},
    {ParamKind::Resource, "handle"},
}};

}  // namespace

std::string_view paramKindName(ParamKind kind) {
  for (const auto& k : kKindNames) {
    if (k.kind == kind) return k.name;
  }
  return "?";
}

std::optional<ParamKind> parseParamKind(std::string_view text) {
  for (const auto& k : kKindNames) {
    if (util::equalsIgnoreCase(text, k.name)) return k.kind;
  }
  return std::nullopt;
}

bool isBytesKind(ParamKind kind) { return kind == ParamKind::Buffer || kind == ParamKind::Hex; }

std::string argText(const EntrypointArg& arg) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return v;
        } else if constexpr (std::is_same_v<T, std::vector<uint8_t>>) {
          return std::string(v.begin(), v.end());
        } else {
          char buffer[64];
          auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
          return ec == std::errc() ? std::string(buffer, end) : std::string();
        }
      },
      arg.value);
}

}  // namespace selium::kernel
