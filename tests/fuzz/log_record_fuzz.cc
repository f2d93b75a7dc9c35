// Fuzz target for guest log records (FlatBuffers from guest memory, verified before use), and for
// printing what the decoder accepts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "kernel/drivers/log/log_driver.h"
#include "util/log.h"
#include "util/strings.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace selium;
  // Odd addresses too: guest memory holds records anywhere.
  std::vector<uint8_t> shifted(size + 1);
  if (size > 0) std::copy(data, data + size, shifted.begin() + 1);
  for (std::span<const uint8_t> bytes :
       {std::span<const uint8_t>(data, size), std::span<const uint8_t>(shifted).subspan(1)}) {
    auto record = kernel::decodeLogRecord(bytes);
    if (!record.ok()) {
      if (record.error().message.empty()) std::abort();
      continue;
    }
    // Whatever is accepted is valid UTF-8 within the decoded budget, with keys from the safe
    // alphabet, none repeated and none of the runtime's own: safe to print and to put in JSON.
    if (!util::isValidUtf8(record->message) || !util::isValidUtf8(record->target)) std::abort();
    if (record->fields.size() > kernel::kMaxLogFields) std::abort();
    std::size_t total = record->target.size() + record->message.size();
    for (std::size_t i = 0; i < record->fields.size(); ++i) {
      const log::Field& field = record->fields[i];
      if (!kernel::checkLogKey(field.key).ok()) std::abort();
      for (std::string_view reserved : kernel::kRuntimeFieldKeys) {
        if (field.key == reserved) std::abort();
      }
      for (std::size_t j = 0; j < i; ++j) {
        if (record->fields[j].key == field.key) std::abort();
      }
      total += field.key.size();
      if (auto* s = std::get_if<std::string>(&field.value)) total += s->size();
    }
    if (total > kernel::kMaxDecodedLogBytes) std::abort();
    // Printed, a record is one line, bounded by a small multiple of its decoded size.
    log::Record printed{{}, record->level, log::kGuestTarget, record->message, record->fields};
    for (const std::string& line : {log::formatText(printed), log::formatJson(printed)}) {
      for (char c : line) {
        if (c == '\n' || c == '\r') std::abort();
      }
      if (line.size() > 6 * total + 64 * record->fields.size() + 256) std::abort();
    }
  }
  return 0;
}
