// Process-wide V8 start-up. The engine layer is the only code that includes V8 headers.
#pragma once

#include <string_view>

namespace v8 {
class Platform;
}

namespace selium::engine {

// Starts the V8 platform the first time it is called; later calls return the same platform.
// Thread-safe. The platform lives until the process exits (V8 cannot be re-initialised).
v8::Platform& v8Platform();

// The V8 version string, e.g. "10.2.154.26-node.36".
const char* v8Version();

// The V8 flags the engine sets that change the code V8 generates (part of the compile cache key).
std::string_view v8CodeFlags();

}  // namespace selium::engine
