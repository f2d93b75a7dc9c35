// CachedCompiler on its own compile isolate: what it leaves in V8, and tier-up reports that
// arrive after it is gone. The cache's behaviour inside the engine is in
// tests/integration/engine_test.cc (CompileCacheTest).
#include "engine/cached_compile.h"

#include <gtest/gtest.h>
#include <libplatform/libplatform.h>
#include <v8.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <thread>
#include <vector>

#include "engine/v8_platform.h"
#include "support/temp_dir.h"

namespace selium::engine {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class CachedCompilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v8Platform();
    baseline_ = CachedCompiler::tierUpClients();
    std::ifstream in(SELIUM_HELLO_GUEST, std::ios::binary);
    ASSERT_TRUE(in) << "missing " << SELIUM_HELLO_GUEST;
    wire_.assign(std::istreambuf_iterator<char>(in), {});
    allocator_.reset(v8::ArrayBuffer::Allocator::NewDefaultAllocator());
    v8::Isolate::CreateParams params;
    params.array_buffer_allocator = allocator_.get();
    isolate_ = v8::Isolate::New(params);
    v8::Locker locker(isolate_);
    v8::Isolate::Scope isolate_scope(isolate_);
    v8::HandleScope handles(isolate_);
    CachedCompiler::enableStreaming(isolate_);
    context_.Reset(isolate_, v8::Context::New(isolate_));
  }

  void TearDown() override { disposeIsolate(); }

  // Frees the isolate and, with it, every module compiled in it.
  void disposeIsolate() {
    if (isolate_ == nullptr) return;
    {
      v8::Locker locker(isolate_);
      modules_.clear();
      context_.Reset();
    }
    isolate_->Dispose();
    isolate_ = nullptr;
  }

  // Compiles hello.wasm through `compiler` and keeps the module alive (as the engine's Module
  // does) until disposeIsolate().
  bool compile(CachedCompiler& compiler) {
    v8::Locker locker(isolate_);
    v8::Isolate::Scope isolate_scope(isolate_);
    v8::HandleScope handles(isolate_);
    v8::Local<v8::Context> context = context_.Get(isolate_);
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(isolate_);
    v8::Local<v8::WasmModuleObject> module;
    if (!compiler.compile(isolate_, context, wire_, "hello.wasm").ToLocal(&module)) {
      v8::String::Utf8Value message(isolate_, try_catch.Exception());
      ADD_FAILURE() << "compile failed: " << (*message ? *message : "(no message)");
      return false;
    }
    modules_.push_back(std::make_unique<v8::Global<v8::WasmModuleObject>>(isolate_, module));
    return true;
  }

  // Runs the isolate's tasks until `done` or the deadline; true if `done`.
  bool waitUntil(const std::function<bool()>& done, std::chrono::seconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (!done()) {
      if (Clock::now() >= deadline) return false;
      {
        v8::Locker locker(isolate_);
        v8::Isolate::Scope isolate_scope(isolate_);
        while (v8::platform::PumpMessageLoop(&v8Platform(), isolate_)) {
        }
      }
      std::this_thread::sleep_for(1ms);
    }
    return true;
  }

  // Whether TurboFan has compiled every function of modules_[i]: V8 serializes nothing before.
  bool tieredUp(std::size_t i) {
    v8::Locker locker(isolate_);
    v8::Isolate::Scope isolate_scope(isolate_);
    v8::HandleScope handles(isolate_);
    return modules_[i]->Get(isolate_)->GetCompiledModule().Serialize().size > 0;
  }

  selium::testing::TempDir temp_{"cached-compile"};
  std::vector<uint8_t> wire_;
  CachedCompiler::TierUpClients baseline_;  // of the tests that ran before in this process
  std::unique_ptr<v8::ArrayBuffer::Allocator> allocator_;
  v8::Isolate* isolate_ = nullptr;
  v8::Global<v8::Context> context_;
  std::vector<std::unique_ptr<v8::Global<v8::WasmModuleObject>>> modules_;
};

// V8 10.2 never frees a streaming decoder that was given a client and then deserialized its
// module (the client's callback holds the decoder). A client there kept the compiler's mailbox,
// and the modules queued in it, alive after the engine had gone: LeakSanitizer's report at the
// exit of every warm `selium-runtime --dry-run` under ASan.
TEST_F(CachedCompilerTest, ModuleLoadedFromItsEntryLeavesNothingOfOursInV8) {
  {
    CachedCompiler cold(temp_.path());
    ASSERT_TRUE(compile(cold));
    ASSERT_TRUE(cold.flush(Clock::now() + 60s)) << "the entry was not written in time";
    EXPECT_EQ(cold.stats().misses, 1u);
    EXPECT_EQ(cold.stats().writes, 1u);
  }
  std::size_t before_warm = CachedCompiler::tierUpClients().alive;
  {
    CachedCompiler warm(temp_.path());
    ASSERT_TRUE(compile(warm));
    CompileCacheStats stats = warm.stats();
    EXPECT_EQ(stats.hits, 1u);
    EXPECT_EQ(stats.misses, 0u);
    EXPECT_EQ(stats.rejected, 0u);
  }
  // The warm module is still alive, yet V8 holds no client of the compiler that loaded it.
  EXPECT_EQ(CachedCompiler::tierUpClients().alive, before_warm);
  disposeIsolate();
  // V8 may let go of the cold module's client on one of its own threads a moment later.
  auto deadline = Clock::now() + 10s;
  while (CachedCompiler::tierUpClients().alive != baseline_.alive && Clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(CachedCompiler::tierUpClients().alive, baseline_.alive);
}

// TurboFan finishes on a V8 thread, and reports it there, after the compiler (and the engine)
// may be gone. The late report must find nothing freed under it (ASan checks), and once the
// module is freed nothing of the compiler may be left.
TEST_F(CachedCompilerTest, TierUpReportedAfterTheCompilerIsGoneIsDroppedSafely) {
  {
    CachedCompiler compiler(temp_.path());
    ASSERT_TRUE(compile(compiler));
  }
  if (CachedCompiler::tierUpClients().waiting == baseline_.waiting) {
    GTEST_SKIP() << "TurboFan finished before the compiler was destroyed; nothing came late";
  }
  ASSERT_TRUE(
      waitUntil([&] { return CachedCompiler::tierUpClients().waiting == baseline_.waiting; }, 60s))
      << "V8 never reported the module's tier-up";
  EXPECT_TRUE(tieredUp(0));
  // V8 keeps the client for as long as the module lives, and frees it with the module.
  EXPECT_EQ(CachedCompiler::tierUpClients().alive, baseline_.alive + 1);
  disposeIsolate();
  EXPECT_EQ(CachedCompiler::tierUpClients().alive, baseline_.alive);
}

}  // namespace
}  // namespace selium::engine
