// Log records from guests: verified with the FlatBuffers verifier before any field is read.
#include "kernel/drivers/log/log_driver.h"

#include <flatbuffers/flatbuffers.h>
#include <selium/abi/hostcalls.h>

#include <algorithm>
#include <cstring>

#include "selium/schemas/log_generated.h"
#include "util/strings.h"

namespace selium::kernel {
namespace {

// FlatBuffers scalars are at most 8 bytes; the verifier checks alignment relative to the buffer,
// so the buffer itself must start this aligned.
constexpr std::size_t kRecordAlignment = 8;

std::optional<log::Level> levelOf(int32_t level) {
  switch (level) {
    case SELIUM_LOG_TRACE:
      return log::Level::Trace;
    case SELIUM_LOG_DEBUG:
      return log::Level::Debug;
    case SELIUM_LOG_INFO:
      return log::Level::Info;
    case SELIUM_LOG_WARN:
      return log::Level::Warn;
    case SELIUM_LOG_ERROR:
      return log::Level::Error;
    default:
      return std::nullopt;
  }
}

std::string text(const flatbuffers::String* s) { return s == nullptr ? std::string() : s->str(); }

std::size_t sizeOf(const flatbuffers::String* s) { return s == nullptr ? 0 : s->size(); }

bool isKeyByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

// Sums the decoded size before any string is copied: FlatBuffers lets many fields share one
// string, so the encoded size says nothing about what the record becomes.
Status checkBudget(const abi::LogRecord& record) {
  std::size_t fields = record.fields() == nullptr ? 0 : record.fields()->size();
  if (fields > kMaxLogFields) {
    return Error{"log record has " + std::to_string(fields) + " fields; the limit is " +
                 std::to_string(kMaxLogFields)};
  }
  std::size_t total = sizeOf(record.target()) + sizeOf(record.message());
  for (std::size_t i = 0; i < fields; ++i) {
    const abi::LogField* field = record.fields()->Get(i);
    total += sizeOf(field->key());
    if (field->kind() == abi::FieldKind::Str) total += sizeOf(field->str());
  }
  if (total > kMaxDecodedLogBytes) {
    return Error{"log record decodes to " + std::to_string(total) +
                 " bytes of strings; the limit is " + std::to_string(kMaxDecodedLogBytes)};
  }
  return Ok{};
}

}  // namespace

Status checkLogKey(std::string_view key) {
  bool ok = !key.empty() && key.size() <= kMaxLogKeyBytes &&
            std::all_of(key.begin(), key.end(), [](char c) { return isKeyByte(c); });
  if (ok) return Ok{};
  // The key is the guest's: quoted with its control bytes escaped, and cut to stay short.
  std::string shown = util::quote(key.substr(0, kMaxLogKeyBytes));
  if (key.size() > kMaxLogKeyBytes) shown += "...";
  return Error{"log field key " + shown + " must be 1 to " + std::to_string(kMaxLogKeyBytes) +
               " bytes of A-Z a-z 0-9 _ . -"};
}

std::string guestFieldKey(std::string_view key) {
  for (std::string_view reserved : kRuntimeFieldKeys) {
    if (key == reserved) return std::string(kGuestFieldPrefix) + std::string(key);
  }
  return std::string(key);
}

Result<GuestLogRecord> decodeLogRecord(std::span<const uint8_t> bytes) {
  if (bytes.size() > kMaxRecordBytes) {
    return Error{"log record of " + std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                 std::to_string(kMaxRecordBytes)};
  }
  if (bytes.empty()) return Error{"log record is empty"};
  // Guest memory may hold the record at any address; the verifier and every read below need it
  // aligned as the buffer is, so a misaligned record is read from a copy.
  std::vector<uint8_t> aligned;
  if (reinterpret_cast<std::uintptr_t>(bytes.data()) % kRecordAlignment != 0) {
    aligned.assign(bytes.begin(), bytes.end());  // operator new aligns to at least 16
    bytes = aligned;
  }
  // Shallow and small: a log record is one table and a vector of field tables.
  flatbuffers::Verifier verifier(bytes.data(), bytes.size(), /*max_depth=*/8,
                                 /*max_tables=*/1024, /*check_alignment=*/true);
  if (!abi::VerifyLogRecordBuffer(verifier)) {
    return Error{"log record is not a valid selium.abi.LogRecord FlatBuffer (" +
                 std::to_string(bytes.size()) + " bytes)"};
  }
  const abi::LogRecord* record = abi::GetLogRecord(bytes.data());
  if (auto within = checkBudget(*record); !within) return within.error();
  GuestLogRecord out;
  auto level = levelOf(static_cast<int32_t>(record->level()));
  if (!level) return Error{"log record has unknown level " + std::to_string(int(record->level()))};
  out.level = *level;
  out.target = text(record->target());
  out.message = text(record->message());
  if (!util::isValidUtf8(out.target) || !util::isValidUtf8(out.message)) {
    return Error{"log record target or message is not valid UTF-8"};
  }
  if (record->fields() != nullptr) {
    out.fields.reserve(record->fields()->size());
    for (const abi::LogField* field : *record->fields()) {
      std::string_view raw_key = field->key()->string_view();  // required: verified present
      if (auto valid = checkLogKey(raw_key); !valid) return valid.error();
      // The runtime's own fields cannot be shadowed: a guest's `pid` becomes `guest.pid`.
      std::string key = guestFieldKey(raw_key);
      for (const log::Field& earlier : out.fields) {
        if (earlier.key == key) {
          return Error{"log record has field key " + util::quote(key) + " more than once"};
        }
      }
      switch (field->kind()) {
        case abi::FieldKind::Str: {
          std::string value = text(field->str());
          if (!util::isValidUtf8(value)) {
            return Error{"log field " + util::quote(key) + " is not valid UTF-8"};
          }
          out.fields.emplace_back(key, std::move(value));
          break;
        }
        case abi::FieldKind::Int:
          out.fields.emplace_back(key, field->int_());
          break;
        case abi::FieldKind::Uint:
          out.fields.emplace_back(key, field->uint());
          break;
        case abi::FieldKind::Float:
          out.fields.emplace_back(key, field->float_());
          break;
        case abi::FieldKind::Bool:
          out.fields.emplace_back(key, field->bool_());
          break;
        default:
          return Error{"log field " + util::quote(key) + " has unknown kind " +
                       std::to_string(int(field->kind()))};
      }
    }
  }
  return out;
}

std::string guestPrintTarget(std::string_view target) {
  std::string out(kGuestTarget);
  if (!target.empty()) {
    out += '.';
    out += target;
  }
  return out;
}

namespace hostcalls {

int32_t log_write(CallContext& ctx, GuestIn record) {
  auto decoded = decodeLogRecord(record.bytes);
  if (!decoded) return fail(ctx, ErrorCode::InvalidArgument, decoded.error().message);
  ctx.process.emitLog(*decoded);
  return 0;
}

int32_t log_enabled(CallContext& ctx, int32_t level, GuestIn target) {
  auto parsed = levelOf(level);
  if (!parsed)
    return fail(ctx, ErrorCode::InvalidArgument, "unknown log level " + std::to_string(level));
  std::string_view name(reinterpret_cast<const char*>(target.bytes.data()), target.bytes.size());
  return log::enabled(guestPrintTarget(name), *parsed) ? 1 : 0;
}

int32_t log_uri(CallContext& ctx, GuestOut buffer) {
  const auto& uri = ctx.process.logUri();
  if (!uri) return fail(ctx, ErrorCode::NotFound, "this process was started without a log_uri");
  std::size_t n = std::min(uri->size(), buffer.bytes.size());
  // An empty span may have no memory behind it at all (a module without memory): no memcpy.
  if (n > 0) std::memcpy(buffer.bytes.data(), uri->data(), n);
  return static_cast<int32_t>(uri->size());
}

}  // namespace hostcalls
}  // namespace selium::kernel
