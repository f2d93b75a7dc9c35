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

constexpr std::size_t kMaxRecordBytes = 64 * 1024;

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

}  // namespace

Result<GuestLogRecord> decodeLogRecord(std::span<const uint8_t> bytes) {
  if (bytes.size() > kMaxRecordBytes) {
    return Error{"log record of " + std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                 std::to_string(kMaxRecordBytes)};
  }
  // Shallow and small: a log record is one table and a vector of field tables.
  flatbuffers::Verifier verifier(bytes.data(), bytes.size(), /*max_depth=*/8,
                                 /*max_tables=*/1024, /*check_alignment=*/true);
  if (bytes.empty() || !abi::VerifyLogRecordBuffer(verifier)) {
    return Error{"log record is not a valid selium.abi.LogRecord FlatBuffer (" +
                 std::to_string(bytes.size()) + " bytes)"};
  }
  const abi::LogRecord* record = abi::GetLogRecord(bytes.data());
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
    for (const abi::LogField* field : *record->fields()) {
      std::string key = text(field->key());
      if (key.empty() || !util::isValidUtf8(key)) {
        return Error{"log record has a field with an empty or non-UTF-8 key"};
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
  return log::enabled(kGuestTarget, *parsed) ? 1 : 0;
}

int32_t log_uri(CallContext& ctx, GuestOut buffer) {
  const auto& uri = ctx.process.logUri();
  if (!uri) return fail(ctx, ErrorCode::NotFound, "this process was started without a log_uri");
  std::size_t n = std::min(uri->size(), buffer.bytes.size());
  std::memcpy(buffer.bytes.data(), uri->data(), n);
  return static_cast<int32_t>(uri->size());
}

}  // namespace hostcalls
}  // namespace selium::kernel
