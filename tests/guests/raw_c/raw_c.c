/* A guest in plain C11 on selium/selium.h: proves the C header and the SDK's C helpers work
 * without C++ code in the guest. Exports start() and selium_alloc; no selium_poll (the process
 * ends when start returns, status 0). Target "raw_c". Records, in order:
 *   Info  "hello from C"
 *   Info  "fields" {str: "text", int: -42, uint: 42, float: 1.5, bool: true}
 *   Warn  "expected failure" {result: -3 (InvalidHandle, from handle_close(0)),
 *                             error: "InvalidHandle", message: the host's last_error text} */
#include <selium/selium.h>

SELIUM_EXPORT(start) void start(void) {
  selium_log(SELIUM_LOG_INFO, "raw_c", "hello from C");

  selium_log_field_t fields[] = {
      SELIUM_FIELD_STR("str", "text"), SELIUM_FIELD_INT("int", -42),
      SELIUM_FIELD_UINT("uint", 42),   SELIUM_FIELD_FLOAT("float", 1.5),
      SELIUM_FIELD_BOOL("bool", true),
  };
  selium_log_fields(SELIUM_LOG_INFO, "raw_c", "fields", fields, sizeof fields / sizeof fields[0]);

  int32_t result = selium_handle_close(0); /* 0 is never a valid handle */
  char message[256];
  selium_last_error_message(message, sizeof message);
  selium_log_field_t failure[] = {
      SELIUM_FIELD_INT("result", result),
      SELIUM_FIELD_STR("error", selium_error_name(result)),
      SELIUM_FIELD_STR("message", message),
  };
  selium_log_fields(SELIUM_LOG_WARN, "raw_c", "expected failure", failure,
                    sizeof failure / sizeof failure[0]);
}
