// Process-wide V8 start-up: flags, platform and V8::Initialize, done once.
#include "engine/v8_platform.h"

#include <libplatform/libplatform.h>
#include <v8.h>

#include <memory>
#include <mutex>

namespace selium::engine {

v8::Platform& v8Platform() {
  static std::once_flag once;
  static std::unique_ptr<v8::Platform> platform;
  std::call_once(once, [] {
    // One background thread for V8's own work (TurboFan tier-up, GC helpers): guest code runs on
    // our worker threads, so a big V8 pool would only compete with them on a small machine.
    platform = v8::platform::NewDefaultPlatform(1);
    v8::V8::InitializePlatform(platform.get());
    v8::V8::Initialize();
  });
  return *platform;
}

const char* v8Version() { return v8::V8::GetVersion(); }

}  // namespace selium::engine
