// Fuzz target for the --module spec parser, which sees untrusted command-line text. Beyond "no
// crash", it checks the parser's contract on every input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "runtime/module_spec.h"
#include "util/strings.h"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace selium::runtime;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  ModuleSpecParse parsed = parseModuleSpec(text, 7);
  // Exactly one of spec and errors.
  check(parsed.spec.has_value() == parsed.errors.empty());
  for (const SpecError& e : parsed.errors) {
    check(e.number == 7);
    check(!e.key.empty() && !e.message.empty());
    std::string line = e.toString();
    check(line.rfind("--module #7: ", 0) == 0);
    for (char c : line) check(static_cast<unsigned char>(c) >= 0x20 || c == '\t');
  }
  if (parsed.spec) {
    const ModuleSpec& spec = *parsed.spec;
    check(!spec.path.empty() && spec.path.front() != '/');
    for (std::string_view segment : selium::util::split(spec.path, "/")) check(segment != "..");
    check(!spec.entrypoint.empty() && selium::util::isValidUtf8(spec.entrypoint));
    check(!spec.log_uri || !spec.log_uri->empty());
    for (const EntrypointArg& arg : spec.args) {
      if (arg.kind == ParamKind::Utf8) {
        check(selium::util::isValidUtf8(std::get<std::string>(arg.value)));
      }
    }
  }
  return 0;
}
