// Echoes entrypoint arguments into log records so tests can check that every ABI kind reaches
// the guest intact. Each entrypoint writes one Info record with target "echo_args", message =
// the entrypoint's name, and one field per argument:
//   integers     key = kind ("i8" ... "u64"): i8..i64 as Int fields, u8..u64 as Uint fields
//   f32, f64     key = kind: Float field (the f32 widened exactly); plus "<kind>_bits": its IEEE
//                bit pattern as lowercase hex, 8 (f32) or 16 (f64) digits, e.g. "3fc00000"
//   utf8         "utf8": Str field with the text; "utf8_len": Uint byte length
//   buffer, hex  "<kind>": Str field with the bytes as lowercase hex ("" when empty);
//                "<kind>_len": Uint byte length
//   resource     "resource": Uint field
// Exports: start() ("echo_args ready", no fields), ints(i8,u8,i16,u16,i32,u32,i64,u64),
// floats(f32,f64), bytes(utf8,buffer,hex), resource(resource),
// all(i8,u8,i16,u16,i32,u32,i64,u64,f32,f64,utf8,buffer,hex,resource) and
// sixteen(u32 x16: fields "p0".."p15" as Uint). All end with status 0 once the record is
// written; if log_write fails the status is its negative result instead. A record over the
// host's size limits is cut by the SDK to fit, and its message ends with
// " [truncated: over the 64 KiB log record limit]".
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <selium/selium.hpp>

namespace {

using selium::log::Field;

constexpr selium::log::Logger kLog{"echo_args"};

std::string hex(selium::Bytes bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::byte b : bytes) {
    out.push_back(kDigits[std::to_integer<unsigned>(b) >> 4]);
    out.push_back(kDigits[std::to_integer<unsigned>(b) & 0xF]);
  }
  return out;
}

template <typename Bits>
std::string hexBits(Bits bits) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(sizeof(Bits) * 2, '0');
  for (size_t i = out.size(); i-- > 0; bits >>= 4) out[i] = kDigits[bits & 0xF];
  return out;
}

// Strings a record borrows: they must outlive the write.
struct Floats {
  std::string f32Bits, f64Bits;
  Floats(float f32, double f64)
      : f32Bits(hexBits(std::bit_cast<uint32_t>(f32))),
        f64Bits(hexBits(std::bit_cast<uint64_t>(f64))) {}
  void append(std::vector<Field>& fields, float f32, double f64) const {
    fields.insert(fields.end(),
                  {{"f32", f32}, {"f32_bits", f32Bits}, {"f64", f64}, {"f64_bits", f64Bits}});
  }
};

struct ByteArgs {
  std::string buffer, hex;
  ByteArgs(selium::Bytes b, selium::Bytes h) : buffer(::hex(b)), hex(::hex(h)) {}
  void append(std::vector<Field>& fields, std::string_view text, selium::Bytes b,
              selium::Bytes h) const {
    fields.insert(fields.end(), {{"utf8", text},
                                 {"utf8_len", text.size()},
                                 {"buffer", buffer},
                                 {"buffer_len", b.size()},
                                 {"hex", hex},
                                 {"hex_len", h.size()}});
  }
};

// Writes the record; the entrypoint's exit status: 0, or log_write's error.
int32_t write(std::string_view message, const std::vector<Field>& fields) {
  int32_t result = selium::log::write(selium::log::Level::Info, kLog.target(), message, fields);
  return result < 0 ? result : 0;
}

}  // namespace

SELIUM_ENTRYPOINT(start) {
  kLog.info("echo_args ready");
  co_return 0;
}

SELIUM_ENTRYPOINT(ints, (i8, a), (u8, b), (i16, c), (u16, d), (i32, e), (u32, f), (i64, g),
                  (u64, h)) {
  co_return write("ints", {{"i8", a},
                           {"u8", b},
                           {"i16", c},
                           {"u16", d},
                           {"i32", e},
                           {"u32", f},
                           {"i64", g},
                           {"u64", h}});
}

SELIUM_ENTRYPOINT(floats, (f32, a), (f64, b)) {
  Floats floats(a, b);
  std::vector<Field> fields;
  floats.append(fields, a, b);
  co_return write("floats", fields);
}

SELIUM_ENTRYPOINT(bytes, (utf8, text), (buffer, buf), (hex, hx)) {
  ByteArgs bytes(buf, hx);
  std::vector<Field> fields;
  bytes.append(fields, text, buf, hx);
  co_return write("bytes", fields);
}

SELIUM_ENTRYPOINT(resource, (resource, r)) { co_return write("resource", {{"resource", r.value}}); }

SELIUM_ENTRYPOINT(all, (i8, a), (u8, b), (i16, c), (u16, d), (i32, e), (u32, f), (i64, g), (u64, h),
                  (f32, x), (f64, y), (utf8, text), (buffer, buf), (hex, hx), (resource, r)) {
  Floats floats(x, y);
  ByteArgs bytes(buf, hx);
  std::vector<Field> fields = {{"i8", a},  {"u8", b},  {"i16", c}, {"u16", d},
                               {"i32", e}, {"u32", f}, {"i64", g}, {"u64", h}};
  floats.append(fields, x, y);
  bytes.append(fields, text, buf, hx);
  fields.push_back({"resource", r.value});
  co_return write("all", fields);
}

SELIUM_ENTRYPOINT(sixteen, (u32, p0), (u32, p1), (u32, p2), (u32, p3), (u32, p4), (u32, p5),
                  (u32, p6), (u32, p7), (u32, p8), (u32, p9), (u32, p10), (u32, p11), (u32, p12),
                  (u32, p13), (u32, p14), (u32, p15)) {
  co_return write("sixteen", {{"p0", p0},
                              {"p1", p1},
                              {"p2", p2},
                              {"p3", p3},
                              {"p4", p4},
                              {"p5", p5},
                              {"p6", p6},
                              {"p7", p7},
                              {"p8", p8},
                              {"p9", p9},
                              {"p10", p10},
                              {"p11", p11},
                              {"p12", p12},
                              {"p13", p13},
                              {"p14", p14},
                              {"p15", p15}});
}
