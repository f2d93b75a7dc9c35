// selium: the control-plane CLI (src/cli/README.md).
#include <cstdlib>
#include <iostream>

#include "cli/cli.h"

int main(int argc, char** argv) {
  auto parsed =
      selium::cli::parseCommandLine(argc, argv, [](const char* name) { return std::getenv(name); });
  std::cout << parsed.out;
  std::cerr << parsed.err;
  if (!parsed.invocation) return parsed.exit_code;
  return selium::cli::execute(*parsed.invocation);
}
