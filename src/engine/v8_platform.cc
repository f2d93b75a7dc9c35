// Process-wide V8 start-up: flags, platform and V8::Initialize, done once.
#include "engine/v8_platform.h"

#include <libplatform/libplatform.h>
#include <v8.h>

#include <memory>
#include <mutex>

namespace selium::engine {
namespace {

// Without dynamic tiering V8 compiles every function with Liftoff at once and then with TurboFan
// in the background, and reports when TurboFan is done. With it (V8's default) only hot functions
// ever reach TurboFan, and V8 serializes nothing but TurboFan code: the compile cache would be
// empty for most modules. Eager tier-up costs background CPU once per module content, which the
// compile cache then saves on every later start.
//
// --turbo-fast-api-calls lets wasm call a C++ function directly (a few ns) instead of through
// V8's API callback path (about 30 ns): every hostcall goes that way (engine/hostcall_shim.h).
constexpr char kCodeFlags[] = "--no-wasm-dynamic-tiering --turbo-fast-api-calls";

}  // namespace

v8::Platform& v8Platform() {
  static std::once_flag once;
  static std::unique_ptr<v8::Platform> platform;
  std::call_once(once, [] {
    v8::V8::SetFlagsFromString(kCodeFlags);
    // One background thread for V8's own work (TurboFan tier-up, GC helpers): guest code runs on
    // our worker threads, so a big V8 pool would only compete with them on a small machine.
    platform = v8::platform::NewDefaultPlatform(1);
    v8::V8::InitializePlatform(platform.get());
    v8::V8::Initialize();
  });
  return *platform;
}

const char* v8Version() { return v8::V8::GetVersion(); }

std::string_view v8CodeFlags() { return kCodeFlags; }

}  // namespace selium::engine
