#include "cli/log_line.h"

#include <flatbuffers/flatbuffers.h>
#include <selium/schemas/log_generated.h>

#include <cmath>
#include <sstream>

namespace selium::cli {

namespace {

std::string_view levelName(abi::LogLevel level) {
  switch (level) {
    case abi::LogLevel::Trace:
      return "TRACE";
    case abi::LogLevel::Debug:
      return "DEBUG";
    case abi::LogLevel::Info:
      return "INFO";
    case abi::LogLevel::Warn:
      return "WARN";
    case abi::LogLevel::Error:
      return "ERROR";
  }
  return "UNKNOWN";
}

// Text as printed: control characters escaped so a record cannot forge lines.
void appendText(std::string& out, std::string_view text, bool quote_spaces) {
  const bool quote =
      quote_spaces && (text.empty() || text.find_first_of(" \"=") != std::string_view::npos);
  if (quote) out += '"';
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (quote && (c == '"' || c == '\\')) {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  if (quote) out += '"';
}

std::string_view view(const flatbuffers::String* s) {
  return s == nullptr ? std::string_view() : std::string_view(s->data(), s->size());
}

}  // namespace

std::optional<std::string> formatLogRecord(std::span<const uint8_t> bytes) {
  flatbuffers::Verifier verifier(bytes.data(), bytes.size(), 16, 10000);
  if (!verifier.VerifyBuffer<abi::LogRecord>(nullptr)) return std::nullopt;
  const auto* record = flatbuffers::GetRoot<abi::LogRecord>(bytes.data());
  std::string line = "[";
  line += levelName(record->level());
  line += "] ";
  appendText(line, view(record->target()), false);
  if (!view(record->message()).empty()) {
    if (!view(record->target()).empty()) line += ": ";
    appendText(line, view(record->message()), false);
  }
  if (record->fields() != nullptr) {
    for (const abi::LogField* field : *record->fields()) {
      if (field == nullptr) continue;
      line += ' ';
      appendText(line, view(field->key()), false);
      line += '=';
      switch (field->kind()) {
        case abi::FieldKind::Str:
          appendText(line, view(field->str()), true);
          break;
        case abi::FieldKind::Int:
          line += std::to_string(field->int_());
          break;
        case abi::FieldKind::Uint:
          line += std::to_string(field->uint());
          break;
        case abi::FieldKind::Float: {
          std::ostringstream f;
          f << field->float_();
          line += f.str();
          break;
        }
        case abi::FieldKind::Bool:
          line += field->bool_() ? "true" : "false";
          break;
        default:
          line += '?';
      }
    }
  }
  return line;
}

}  // namespace selium::cli
