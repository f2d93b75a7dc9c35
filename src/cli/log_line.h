// One log record (selium.abi.LogRecord, schemas/log.fbs) from a process's log stream as the
// line `selium logs` prints: "[LEVEL] target: message key=value ...".
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace selium::cli {

// nullopt when the bytes are not a valid LogRecord (untrusted: they come from the server).
std::optional<std::string> formatLogRecord(std::span<const uint8_t> bytes);

}  // namespace selium::cli
