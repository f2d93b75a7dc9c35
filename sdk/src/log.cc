// Log records: builds a FlatBuffers selium.abi.LogRecord (schemas/log.fbs) and hands it to the
// log_write hostcall. Serves both the C++ API (selium/log.hpp) and the C one (selium_log*).
#include "selium/log.hpp"

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "selium/selium.h"

// FlatBuffers' default assert is libc's, whose message path pulls in WASI fd_write.
#define FLATBUFFERS_ASSERT(x) ((x) ? (void)0 : __builtin_trap())
#include "log_generated.h"

namespace selium::log {
namespace {

namespace fb = ::selium::abi;

static_assert(static_cast<int>(Value::Kind::Str) == static_cast<int>(fb::FieldKind_Str));
static_assert(static_cast<int>(Value::Kind::Int) == static_cast<int>(fb::FieldKind_Int));
static_assert(static_cast<int>(Value::Kind::Uint) == static_cast<int>(fb::FieldKind_Uint));
static_assert(static_cast<int>(Value::Kind::Float) == static_cast<int>(fb::FieldKind_Float));
static_assert(static_cast<int>(Value::Kind::Bool) == static_cast<int>(fb::FieldKind_Bool));
static_assert(static_cast<int>(Level::Error) == static_cast<int>(fb::LogLevel_Error));
static_assert(static_cast<int>(Level::Trace) == static_cast<int>(fb::LogLevel_Trace));

// One builder and offset vector reused by every record: a guest is single-threaded and a record
// is written before the next one starts. Created on first use (no static constructor needed).
struct Scratch {
  flatbuffers::FlatBufferBuilder builder{256};
  std::vector<flatbuffers::Offset<fb::LogField>> fields;
};

Scratch& scratch() {
  static Scratch* instance = new Scratch();
  return *instance;
}

flatbuffers::Offset<flatbuffers::String> makeString(flatbuffers::FlatBufferBuilder& builder,
                                                    std::string_view text) {
  return builder.CreateString(text.data(), text.size());
}

flatbuffers::Offset<fb::LogField> makeField(flatbuffers::FlatBufferBuilder& builder,
                                            std::string_view key, const Value& value) {
  auto keyOffset = makeString(builder, key);
  flatbuffers::Offset<flatbuffers::String> strOffset;
  if (value.kind() == Value::Kind::Str) strOffset = makeString(builder, value.str());
  fb::LogFieldBuilder field(builder);
  field.add_key(keyOffset);
  field.add_kind(static_cast<fb::FieldKind>(value.kind()));
  switch (value.kind()) {
    case Value::Kind::Str:
      field.add_str(strOffset);
      break;
    case Value::Kind::Int:
      field.add_int_(value.i64());
      break;
    case Value::Kind::Uint:
      field.add_uint(value.u64());
      break;
    case Value::Kind::Float:
      field.add_float_(value.f64());
      break;
    case Value::Kind::Bool:
      field.add_bool_(value.boolean());
      break;
  }
  return field.Finish();
}

// What a record of the host's limits (SELIUM_LOG_MAX_*) may hold, handed out string by string:
// a string past what is left is cut at a UTF-8 character boundary, and the record is then marked.
class Budget {
 public:
  // Room for every string's bytes, less what FlatBuffers adds around them, so that the encoded
  // record also stays under SELIUM_LOG_MAX_RECORD_BYTES.
  explicit Budget(size_t fields)
      : left_(SELIUM_LOG_MAX_STRING_BYTES - kReserve - fields * kPerFieldOverhead) {}

  std::string_view take(std::string_view text) noexcept {
    if (text.size() <= left_) {
      left_ -= text.size();
      return text;
    }
    truncated_ = true;
    size_t cut = left_;
    // Back up to the start of a character: no continuation byte (10xxxxxx) may lead the rest.
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    left_ -= cut;
    return text.substr(0, cut);
  }
  bool truncated() const noexcept { return truncated_; }

  // Field table, offsets, key and value length prefixes, terminators and padding, generously.
  static constexpr size_t kPerFieldOverhead = 64;
  // The record table, target and message prefixes, and the marker appended to the message.
  static constexpr size_t kReserve = 256;

 private:
  size_t left_;
  bool truncated_ = false;
};

// Appended to the message of a record that was cut to fit.
constexpr std::string_view kTruncatedMarker = " [truncated: over the 64 KiB log record limit]";
static_assert(kTruncatedMarker.size() < Budget::kReserve / 2);

// Builds and writes one record; `fieldAt(i)` yields the i-th (key, Value). A record over the
// host's limits is cut to fit and marked rather than refused: fields past SELIUM_LOG_MAX_FIELDS
// are left out, and strings are cut (keys keep their room first, then the target, the message
// and the values in order).
template <typename FieldAt>
int32_t writeRecord(Level level, std::string_view target, std::string_view message, size_t count,
                    FieldAt fieldAt) noexcept {
  Scratch& s = scratch();
  flatbuffers::FlatBufferBuilder& builder = s.builder;
  builder.Clear();
  s.fields.clear();
  bool cut = count > SELIUM_LOG_MAX_FIELDS;
  if (cut) count = SELIUM_LOG_MAX_FIELDS;
  Budget budget(count);
  // Keys first: they are short (SELIUM_LOG_MAX_KEY_BYTES), and one cut to nothing would make the
  // host refuse the whole record.
  for (size_t i = 0; i < count; ++i) (void)budget.take(fieldAt(i).first);
  target = budget.take(target);
  message = budget.take(message);
  for (size_t i = 0; i < count; ++i) {
    auto [key, value] = fieldAt(i);
    if (value.kind() == Value::Kind::Str) {
      s.fields.push_back(makeField(builder, key, Value(budget.take(value.str()))));
    } else {
      s.fields.push_back(makeField(builder, key, value));
    }
  }
  cut = cut || budget.truncated();
  auto fieldsOffset =
      count > 0 ? builder.CreateVector(s.fields)
                : flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::LogField>>>();
  auto targetOffset =
      target.empty() ? flatbuffers::Offset<flatbuffers::String>() : makeString(builder, target);
  // The marker goes with the message (its room is in Budget::kReserve).
  auto messageOffset = cut ? makeString(builder, std::string(message).append(kTruncatedMarker))
                           : makeString(builder, message);
  fb::LogRecordBuilder record(builder);
  record.add_level(static_cast<fb::LogLevel>(level));
  if (!target.empty()) record.add_target(targetOffset);
  record.add_message(messageOffset);
  if (count > 0) record.add_fields(fieldsOffset);
  builder.Finish(record.Finish());
  return selium_log_write(SELIUM_ADDR(builder.GetBufferPointer()), builder.GetSize());
}

std::string_view cString(const char* text) {
  return text != nullptr ? std::string_view(text) : std::string_view();
}

// Whether a record is worth building: trace and debug are often filtered out, so ask the host
// first; the other levels are almost always printed, so skip the extra hostcall.
bool worthBuilding(Level level, std::string_view target) noexcept {
  return level > Level::Debug || enabled(level, target);
}

}  // namespace

int32_t write(Level level, std::string_view target, std::string_view message,
              std::span<const Field> fields) noexcept {
  return writeRecord(level, target, message, fields.size(), [&](size_t i) {
    return std::pair<std::string_view, const Value&>(fields[i].key, fields[i].value);
  });
}

bool enabled(Level level, std::string_view target) noexcept {
  return selium_log_enabled(static_cast<int32_t>(level), SELIUM_ADDR(target.data()),
                            static_cast<uint32_t>(target.size())) > 0;
}

void Logger::log(Level level, std::string_view message, Fields fields) const noexcept {
  if (worthBuilding(level, target_)) {
    write(level, target_, message, std::span<const Field>(fields.begin(), fields.size()));
  }
}

void trace(std::string_view message, Fields fields) noexcept {
  Logger({}).log(Level::Trace, message, fields);
}
void debug(std::string_view message, Fields fields) noexcept {
  Logger({}).log(Level::Debug, message, fields);
}
void info(std::string_view message, Fields fields) noexcept {
  Logger({}).log(Level::Info, message, fields);
}
void warn(std::string_view message, Fields fields) noexcept {
  Logger({}).log(Level::Warn, message, fields);
}
void error(std::string_view message, Fields fields) noexcept {
  Logger({}).log(Level::Error, message, fields);
}

const Record::Field* Record::field(std::string_view key) const noexcept {
  for (const Field& f : fields) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

std::optional<Record> decode(std::span<const uint8_t> frame) {
  flatbuffers::Verifier verifier(frame.data(), frame.size());
  if (!fb::VerifyLogRecordBuffer(verifier)) return std::nullopt;
  const fb::LogRecord* in = fb::GetLogRecord(frame.data());
  auto text = [](const flatbuffers::String* s) {
    return s != nullptr ? std::string(s->string_view()) : std::string();
  };
  Record out;
  out.level = static_cast<Level>(in->level());
  out.target = text(in->target());
  out.message = text(in->message());
  if (in->fields() != nullptr) {
    for (const fb::LogField* f : *in->fields()) {
      Record::Field field;
      field.key = text(f->key());
      field.kind = static_cast<Value::Kind>(f->kind());
      field.str = text(f->str());
      field.i64 = f->int_();
      field.u64 = f->uint();
      field.f64 = f->float_();
      field.boolean = f->bool_();
      out.fields.push_back(std::move(field));
    }
  }
  return out;
}

}  // namespace selium::log

namespace {
selium::log::Value cValue(const selium_log_field_t& field) {
  using selium::log::Value;
  switch (field.kind) {
    case SELIUM_LOG_FIELD_INT:
      return Value(field.value.i64);
    case SELIUM_LOG_FIELD_UINT:
      return Value(field.value.u64);
    case SELIUM_LOG_FIELD_FLOAT:
      return Value(field.value.f64);
    case SELIUM_LOG_FIELD_BOOL:
      return Value(field.value.b);
    default:
      return Value(field.value.str);
  }
}
}  // namespace

extern "C" int32_t selium_log(int32_t level, const char* target, const char* message) {
  return selium_log_fields(level, target, message, nullptr, 0);
}

extern "C" int32_t selium_log_fields(int32_t level, const char* target, const char* message,
                                     const selium_log_field_t* fields, size_t count) {
  using namespace selium::log;
  if (level < SELIUM_LOG_TRACE || level > SELIUM_LOG_ERROR) return -SELIUM_ERR_InvalidArgument;
  return writeRecord(
      static_cast<Level>(level), cString(target), cString(message), count, [&](size_t i) {
        return std::pair<std::string_view, Value>(cString(fields[i].key), cValue(fields[i]));
      });
}
