// Proves the V8 from libnode links and runs: start the platform, compile wasm, call an export.
#include "engine/v8_platform.h"

#include <gtest/gtest.h>
#include <v8.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace selium::engine {
namespace {

// (module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
const std::vector<uint8_t> kAddModule = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07, 0x01, 0x60, 0x02, 0x7f,
    0x7f, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x07, 0x07, 0x01, 0x03, 0x61, 0x64, 0x64,
    0x00, 0x00, 0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b};

class V8Test : public ::testing::Test {
 protected:
  void SetUp() override {
    v8Platform();
    allocator_.reset(v8::ArrayBuffer::Allocator::NewDefaultAllocator());
    v8::Isolate::CreateParams params;
    params.array_buffer_allocator = allocator_.get();
    isolate_ = v8::Isolate::New(params);
  }
  void TearDown() override { isolate_->Dispose(); }

  // Compiles `bytes`, instantiates it with no imports and calls export `name`(a, b).
  int32_t callAdd(const std::vector<uint8_t>& bytes, const char* name, int32_t a, int32_t b) {
    v8::Isolate::Scope isolate_scope(isolate_);
    v8::HandleScope handles(isolate_);
    v8::Local<v8::Context> context = v8::Context::New(isolate_);
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(isolate_);

    auto module = v8::WasmModuleObject::Compile(
        isolate_, v8::MemorySpan<const uint8_t>(bytes.data(), bytes.size()));
    EXPECT_FALSE(module.IsEmpty()) << "compile failed";
    if (module.IsEmpty()) return INT32_MIN;

    // Instances are created through the JS API: new WebAssembly.Instance(module, {}).
    auto global = context->Global();
    auto wasm = global->Get(context, v8::String::NewFromUtf8Literal(isolate_, "WebAssembly"))
                    .ToLocalChecked()
                    .As<v8::Object>();
    auto ctor = wasm->Get(context, v8::String::NewFromUtf8Literal(isolate_, "Instance"))
                    .ToLocalChecked()
                    .As<v8::Function>();
    v8::Local<v8::Value> args[] = {module.ToLocalChecked(), v8::Object::New(isolate_)};
    auto instance = ctor->NewInstance(context, 2, args);
    EXPECT_FALSE(instance.IsEmpty()) << "instantiation failed";
    if (instance.IsEmpty()) return INT32_MIN;

    auto exports = instance.ToLocalChecked()
                       ->Get(context, v8::String::NewFromUtf8Literal(isolate_, "exports"))
                       .ToLocalChecked()
                       .As<v8::Object>();
    auto fn = exports->Get(context, v8::String::NewFromUtf8(isolate_, name).ToLocalChecked())
                  .ToLocalChecked();
    EXPECT_TRUE(fn->IsFunction()) << "export " << name << " missing";
    if (!fn->IsFunction()) return INT32_MIN;
    v8::Local<v8::Value> call_args[] = {v8::Integer::New(isolate_, a),
                                        v8::Integer::New(isolate_, b)};
    auto result = fn.As<v8::Function>()->Call(context, v8::Undefined(isolate_), 2, call_args);
    EXPECT_FALSE(result.IsEmpty());
    if (result.IsEmpty()) return INT32_MIN;
    return result.ToLocalChecked()->Int32Value(context).FromJust();
  }

  std::unique_ptr<v8::ArrayBuffer::Allocator> allocator_;
  v8::Isolate* isolate_ = nullptr;
};

TEST_F(V8Test, ReportsVersion10_2) { EXPECT_EQ(std::string(v8Version()).rfind("10.2.", 0), 0u); }

TEST_F(V8Test, CompilesAndCallsHandWrittenModule) {
  EXPECT_EQ(callAdd(kAddModule, "add", 2, 40), 42);
  EXPECT_EQ(callAdd(kAddModule, "add", INT32_MAX, 1), INT32_MIN);  // wasm i32 wraps
}

TEST_F(V8Test, RejectsMalformedModule) {
  std::vector<uint8_t> truncated(kAddModule.begin(), kAddModule.begin() + 20);
  v8::Isolate::Scope isolate_scope(isolate_);
  v8::HandleScope handles(isolate_);
  v8::Local<v8::Context> context = v8::Context::New(isolate_);
  v8::Context::Scope context_scope(context);
  v8::TryCatch try_catch(isolate_);
  auto module = v8::WasmModuleObject::Compile(
      isolate_, v8::MemorySpan<const uint8_t>(truncated.data(), truncated.size()));
  EXPECT_TRUE(module.IsEmpty());
  EXPECT_TRUE(try_catch.HasCaught());
}

// The trivial guest comes out of the wasm32 build (clang-14, wasi-libc, libc++): this checks the
// whole guest pipeline produces modules V8 runs.
TEST_F(V8Test, RunsTrivialGuestFromWasmBuild) {
  std::ifstream in(SELIUM_TRIVIAL_GUEST, std::ios::binary);
  ASSERT_TRUE(in) << "missing " << SELIUM_TRIVIAL_GUEST;
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(callAdd(bytes, "add", 20, 22), 42);
  EXPECT_EQ(callAdd(bytes, "sum_to", 100, 0), 5050);
}

}  // namespace
}  // namespace selium::engine
