// Stand-in for the product documentation's myproj/waf.wasm: entrypoint init(utf8 host, u16 port)
// logs what it was given ("waf configured" with fields host and port) and ends with status 0.
#include <selium/selium.hpp>

SELIUM_ENTRYPOINT(init, (utf8, host), (u16, port)) {
  selium::log::info("waf configured", {{"host", host}, {"port", port}});
  co_return 0;
}
