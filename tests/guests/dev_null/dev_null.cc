// The smallest SDK guest: logs one info record from `start` and ends with status 0.
// Record: level Info, message "dev_null started", no target, no fields.
#include <selium/selium.hpp>

SELIUM_ENTRYPOINT(start) {
  selium::log::info("dev_null started");
  co_return 0;
}
