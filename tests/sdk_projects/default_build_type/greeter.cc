// The first guest of examples/hello, built here by a stand-alone project without a build type.
#include <selium/selium.hpp>

SELIUM_ENTRYPOINT(start) {
  selium::log::info("hello from Selium", {{"language", "C++20"}, {"answer", 42}});

  // Read-only facts about this process; neither needs a capability.
  int64_t pid = selium::processId();
  std::optional<std::string> uri = selium::logUri();
  selium::log::info("about me", {{"process_id", pid}, {"log_uri", uri.value_or("(none)")}});

  co_return 0;  // the process ends with status 0
}
