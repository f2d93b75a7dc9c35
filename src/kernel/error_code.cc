// Error code names for messages and logs.
#include "kernel/error_code.h"

namespace selium::kernel {

std::string_view errorName(ErrorCode code) {
  switch (code) {
#define SELIUM_ERROR_NAME_(name, value, text) \
  case ErrorCode::name:                       \
    return #name;
    SELIUM_ERRORS(SELIUM_ERROR_NAME_)
#undef SELIUM_ERROR_NAME_
  }
  return "Unknown";
}

}  // namespace selium::kernel
