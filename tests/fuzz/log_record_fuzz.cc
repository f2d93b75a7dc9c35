// Fuzz target for guest log records (FlatBuffers from guest memory, verified before use).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "kernel/drivers/log/log_driver.h"
#include "util/strings.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  auto record = selium::kernel::decodeLogRecord(std::span<const uint8_t>(data, size));
  if (record.ok()) {
    // Whatever is accepted is valid UTF-8 with non-empty keys: safe to print and to put in JSON.
    if (!selium::util::isValidUtf8(record->message) || !selium::util::isValidUtf8(record->target)) {
      std::abort();
    }
    for (const auto& field : record->fields) {
      if (field.key.empty() || !selium::util::isValidUtf8(field.key)) std::abort();
    }
  } else if (record.error().message.empty()) {
    std::abort();
  }
  return 0;
}
