// Stand-in for the product documentation's miner.wasm: entrypoint start(resource input) logs the
// resource id it was handed ("miner started", field resource) and ends with status 0.
#include <selium/selium.hpp>

SELIUM_ENTRYPOINT(start, (resource, input)) {
  selium::log::info("miner started", {{"resource", input.value}});
  co_return 0;
}
