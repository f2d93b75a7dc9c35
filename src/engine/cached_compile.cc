// Streaming compilation on the compile isolate with the disk compile cache: entries are checked
// here before V8 sees them, and written by one writer thread once V8 reports a module's TurboFan
// tier-up done.
#include "engine/cached_compile.h"

#include <libplatform/libplatform.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include "engine/v8_platform.h"
#include "engine/wasm_binary.h"
#include "util/log.h"

namespace selium::engine {

// Owned by the CachedCompiler alone. Tier-up clients hold it weakly: V8 keeps a client as long as
// the module it compiled (and for good after a failed compile: see streamingCallback), so a
// strong reference there would keep the mailbox, and the modules queued in it, alive for as long
// as V8 does. A client that reports while the destructor runs holds it for the length of its
// report, and finds it closed. Allocated on its own, not by make_shared, so that a weak reference
// keeps only the control block.
struct CachedCompiler::Mailbox {
  std::mutex mutex;
  std::condition_variable changed;
  bool closed = false;  // the compiler is closing: tier-up reports are dropped
  // Modules compiled here whose TurboFan tier-up has not been reported yet. Holding them keeps
  // V8 tiering up after every process of the module has ended, so the entry still gets written.
  std::map<Sha256, std::shared_ptr<v8::CompiledWasmModule>> tiering;
  // Tier-up done: modules to serialize and write, in report order.
  std::deque<std::pair<Sha256, v8::CompiledWasmModule>> ready;
  int writing = 0;  // entries the writer has taken from `ready` and not finished yet
};

namespace {

using Clock = std::chrono::steady_clock;

// Hears from V8 once TurboFan has compiled every function of a module compiled through streaming
// (never for one deserialized from an entry). Runs on a V8 background thread, or on the compiling
// thread inside Finish() for a small module; so it only queues the module for the writer.
class TierUpClient final : public v8::WasmStreaming::Client {
 public:
  TierUpClient(std::weak_ptr<CachedCompiler::Mailbox> mailbox, const Sha256& wire_sha256)
      : mailbox_(std::move(mailbox)), wire_sha256_(wire_sha256) {
    alive_count_.fetch_add(1, std::memory_order_relaxed);
    waiting_count_.fetch_add(1, std::memory_order_relaxed);
  }
  ~TierUpClient() override {
    if (!reported_.load(std::memory_order_relaxed)) {
      waiting_count_.fetch_sub(1, std::memory_order_relaxed);
    }
    alive_count_.fetch_sub(1, std::memory_order_relaxed);
  }
  TierUpClient(const TierUpClient&) = delete;
  TierUpClient& operator=(const TierUpClient&) = delete;

  void OnModuleCompiled(v8::CompiledWasmModule module) noexcept override {
    deliver(std::move(module));
    // Counted once the mailbox is no longer touched (see CachedCompiler::tierUpClients).
    if (!reported_.exchange(true)) waiting_count_.fetch_sub(1, std::memory_order_release);
  }

  // Whether OnModuleCompiled ran. Read under the mailbox's mutex, while the compiler lives.
  bool fired() const { return fired_; }

  static CachedCompiler::TierUpClients counts() {
    return {alive_count_.load(std::memory_order_relaxed),
            waiting_count_.load(std::memory_order_acquire)};
  }

 private:
  void deliver(v8::CompiledWasmModule module) noexcept {
    try {
      // Declared before the lock: if the compiler went meanwhile, this is the last reference,
      // and the mailbox (closed and emptied by then) must outlive the lock taken on its mutex.
      std::shared_ptr<CachedCompiler::Mailbox> mailbox = mailbox_.lock();
      if (!mailbox) return;  // the compiler is gone
      std::lock_guard lock(mailbox->mutex);
      fired_ = true;
      if (mailbox->closed) return;
      mailbox->ready.emplace_back(wire_sha256_, std::move(module));
      mailbox->changed.notify_all();
    } catch (...) {
      // Out of memory: the entry is not written, which only costs a compile next time.
    }
  }

  static inline std::atomic<std::size_t> alive_count_{0};
  static inline std::atomic<std::size_t> waiting_count_{0};

  std::weak_ptr<CachedCompiler::Mailbox> mailbox_;
  Sha256 wire_sha256_;
  bool fired_ = false;  // guarded by the mailbox's mutex
  std::atomic<bool> reported_{false};
};

// What the streaming callback feeds V8 for the compile() running on this thread.
struct StreamingRequest {
  double id = 0;  // passed to compileStreaming and checked by the callback
  std::span<const uint8_t> wire;
  std::span<const uint8_t> cached;  // a checked entry's payload, or empty
  std::shared_ptr<TierUpClient> client;
  bool started = false;          // the callback ran
  bool cached_accepted = false;  // V8 took the payload (its own header check passed)
};

// Set only while compile() calls WebAssembly.compileStreaming; the callback acts only on the
// request whose id it is given, so a stray call can never take another compile's bytes.
thread_local StreamingRequest* t_request = nullptr;
thread_local double t_next_id = 0;

class RequestScope {
 public:
  explicit RequestScope(StreamingRequest* request) { t_request = request; }
  ~RequestScope() { t_request = nullptr; }
  RequestScope(const RequestScope&) = delete;
  RequestScope& operator=(const RequestScope&) = delete;
};

v8::Local<v8::String> v8String(v8::Isolate* isolate, const char* text) {
  return v8::String::NewFromUtf8(isolate, text).ToLocalChecked();
}

// V8's WasmStreamingCallback. Every path ends the stream (Finish or Abort), so the promise that
// compile() waits for always settles. noexcept: nothing may unwind into V8.
void streamingCallback(const v8::FunctionCallbackInfo<v8::Value>& info) noexcept {
  v8::Isolate* isolate = info.GetIsolate();
  std::shared_ptr<v8::WasmStreaming> streaming;
  try {
    streaming = v8::WasmStreaming::Unpack(isolate, info.Data());
    StreamingRequest* request = t_request;
    if (request == nullptr || request->started || info.Length() < 1 || !info[0]->IsNumber() ||
        info[0].As<v8::Number>()->Value() != request->id) {
      streaming->Abort(v8::Exception::Error(
          v8String(isolate, "WebAssembly.compileStreaming is internal to the engine")));
      return;
    }
    request->started = true;
    if (!request->cached.empty()) {
      // V8 checks only its own header here (version, flags, CPU features); compile() has
      // already checked the rest, which V8 would trust blindly.
      request->cached_accepted =
          streaming->SetCompiledModuleBytes(request->cached.data(), request->cached.size());
    }
    // A tier-up client only for a module V8 compiles. V8 10.2 keeps the client in a callback
    // that also holds the streaming decoder itself, and lets go of it only when it hands the
    // callback to the module it compiled: for a module it deserializes the decoder, the client
    // and a copy of the module bytes would never be freed. (So are they after a failed compile,
    // which nothing here can foresee. Later V8s no longer capture the decoder.)
    if (!request->cached_accepted) streaming->SetClient(request->client);
    streaming->OnBytesReceived(request->wire.data(), request->wire.size());
    streaming->Finish();
  } catch (...) {
    if (streaming) {
      streaming->Abort(
          v8::Exception::Error(v8String(isolate, "internal error in streaming compilation")));
    }
  }
}

// Runs the compile isolate's tasks until `promise` settles. A cache hit settles inside Finish();
// a compile finishes in V8's background threads and settles from a foreground task.
void waitFor(v8::Isolate* isolate, v8::Local<v8::Promise> promise) {
  auto pause = std::chrono::microseconds(10);
  while (promise->State() == v8::Promise::kPending) {
    if (v8::platform::PumpMessageLoop(&v8Platform(), isolate)) {
      isolate->PerformMicrotaskCheckpoint();
      pause = std::chrono::microseconds(10);
      continue;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(500));
  }
}

double millisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

CachedCompiler::CachedCompiler(const std::filesystem::path& dir,
                               std::chrono::milliseconds prune_delay)
    : cache_(dir, engineTag()), mailbox_(new Mailbox()), prune_delay_(prune_delay) {
  if (auto ready = cache_.prepare(); !ready) {
    available_ = false;
    log::warn("compile cache unavailable; modules are compiled at every start",
              {{"dir", cache_.dir().string()}, {"error", ready.error().message}});
  }
  writer_ = std::thread([this] { writerLoop(); });
}

CachedCompiler::~CachedCompiler() {
  // Taken out under the lock and released after the writer stopped: dropping the last reference
  // to a module frees it in V8, which must not happen under our lock or inside a V8 callback.
  std::map<Sha256, std::shared_ptr<v8::CompiledWasmModule>> tiering;
  std::deque<std::pair<Sha256, v8::CompiledWasmModule>> ready;
  closing_.store(true, std::memory_order_relaxed);
  {
    std::lock_guard lock(mailbox_->mutex);
    mailbox_->closed = true;
    tiering.swap(mailbox_->tiering);
    ready.swap(mailbox_->ready);
    mailbox_->changed.notify_all();
  }
  if (writer_.joinable()) writer_.join();
  // The mailbox goes with mailbox_, after the modules: no client V8 still holds can keep it.
}

void CachedCompiler::enableStreaming(v8::Isolate* isolate) {
  isolate->SetWasmStreamingCallback(streamingCallback);
}

std::string CachedCompiler::engineTag() {
#if defined(__x86_64__)
  constexpr const char* kArch = "x86_64";
#elif defined(__aarch64__)
  constexpr const char* kArch = "aarch64";
#else
  constexpr const char* kArch = "other";
#endif
  return std::string("V8 ") + v8Version() + " " + kArch + " " + std::string(v8CodeFlags());
}

v8::MaybeLocal<v8::WasmModuleObject> CachedCompiler::compile(v8::Isolate* isolate,
                                                             v8::Local<v8::Context> context,
                                                             std::span<const uint8_t> wire,
                                                             std::string_view label) {
  if (!available_) {
    ++misses_;
    return v8::WasmModuleObject::Compile(isolate,
                                         v8::MemorySpan<const uint8_t>(wire.data(), wire.size()));
  }
  Clock::time_point start = Clock::now();
  // The key comes from exactly the bytes V8 compiles.
  Sha256 wire_sha256 = sha256(wire);
  std::optional<CompileCache::Entry> entry;
  if (auto loaded = cache_.load(wire_sha256); !loaded) {
    ++rejected_;
    log::warn("ignoring compile cache entry; compiling the module and rebuilding the entry",
              {{"module", label}, {"error", loaded.error().message}});
  } else {
    entry = std::move(*loaded);
  }

  StreamingRequest request;
  request.id = ++t_next_id;
  request.wire = wire;
  if (entry) request.cached = entry->payload();
  auto client = std::make_shared<TierUpClient>(mailbox_, wire_sha256);
  request.client = client;

  v8::EscapableHandleScope handles(isolate);
  v8::Local<v8::Value> webassembly;
  v8::Local<v8::Value> compile_streaming;
  if (!context->Global()->Get(context, v8String(isolate, "WebAssembly")).ToLocal(&webassembly) ||
      !webassembly->IsObject() ||
      !webassembly.As<v8::Object>()
           ->Get(context, v8String(isolate, "compileStreaming"))
           .ToLocal(&compile_streaming) ||
      !compile_streaming->IsFunction()) {
    isolate->ThrowException(v8::Exception::Error(
        v8String(isolate, "WebAssembly.compileStreaming is missing (enableStreaming not called)")));
    return {};
  }
  v8::Local<v8::Promise> promise;
  {
    RequestScope scope(&request);
    v8::Local<v8::Value> result;
    v8::Local<v8::Value> id = v8::Number::New(isolate, request.id);
    if (!compile_streaming.As<v8::Function>()
             ->Call(context, v8::Undefined(isolate), 1, &id)
             .ToLocal(&result) ||
        !result->IsPromise()) {
      return {};
    }
    promise = result.As<v8::Promise>();
    // The callback runs as a promise reaction, in this checkpoint at the latest.
    isolate->PerformMicrotaskCheckpoint();
  }
  if (!request.started) {
    isolate->ThrowException(
        v8::Exception::Error(v8String(isolate, "streaming compilation did not start")));
    return {};
  }
  // V8 deserializes a payload it took inside Finish(), which settles the promise. Still pending:
  // deserializing failed after all and V8 is compiling the module instead, with no tier-up
  // client (see streamingCallback).
  bool deserialized = request.cached_accepted && promise->State() == v8::Promise::kFulfilled;
  waitFor(isolate, promise);
  if (promise->State() == v8::Promise::kRejected) {
    isolate->ThrowException(promise->Result());
    return {};
  }
  if (!promise->Result()->IsWasmModuleObject()) {
    isolate->ThrowException(
        v8::Exception::Error(v8String(isolate, "streaming compilation gave no module")));
    return {};
  }
  v8::Local<v8::WasmModuleObject> module = promise->Result().As<v8::WasmModuleObject>();

  std::string path = cache_.entryPath(wire_sha256).string();
  if (deserialized) {
    ++hits_;
    log::debug("module loaded from the compile cache",
               {{"module", label}, {"entry", path}, {"ms", millisSince(start)}});
    return handles.Escape(module);
  }
  ++misses_;
  if (request.cached_accepted) {
    // Nothing will report this module's tier-up, so this run cannot rebuild the entry; without
    // it the next start compiles and writes a new one.
    ++rejected_;
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
    log::warn(
        "compile cache entry could not be deserialized by V8; compiled the module and removed "
        "the entry, which the next start rebuilds",
        {{"module", label}, {"entry", path}});
    return handles.Escape(module);
  }
  if (entry) {
    ++rejected_;
    log::warn(
        "compile cache entry refused by V8 (other CPU features or V8 flags); compiling "
        "the module and rebuilding the entry",
        {{"module", label}, {"entry", path}});
  }
  log::debug("module compiled; its compile cache entry follows TurboFan tier-up",
             {{"module", label}, {"entry", path}, {"ms", millisSince(start)}});
  // V8 reports tier-up only for modules with code of their own; waiting for any other would
  // only hold up flush().
  auto info = parseWasmModule(wire);
  if (info && !info->function_types.empty()) {
    auto compiled = std::make_shared<v8::CompiledWasmModule>(module->GetCompiledModule());
    std::lock_guard lock(mailbox_->mutex);
    if (!client->fired() && !mailbox_->closed) {
      mailbox_->tiering.emplace(wire_sha256, std::move(compiled));
    }
  }
  return handles.Escape(module);
}

bool CachedCompiler::flush(Clock::time_point deadline) {
  std::unique_lock lock(mailbox_->mutex);
  return mailbox_->changed.wait_until(lock, deadline, [&] {
    return mailbox_->tiering.empty() && mailbox_->ready.empty() && mailbox_->writing == 0;
  });
}

CachedCompiler::TierUpClients CachedCompiler::tierUpClients() { return TierUpClient::counts(); }

CompileCacheStats CachedCompiler::stats() const {
  return {hits_.load(), misses_.load(), rejected_.load(), writes_.load(), write_failures_.load()};
}

void CachedCompiler::prune() {
  // Stops between files when the compiler closes: shutdown must not wait for a slow disk.
  const CompileCache::Retention retention;
  CompileCache::PruneResult result =
      cache_.prune(std::filesystem::file_time_type::clock::now(), retention,
                   [this] { return closing_.load(std::memory_order_relaxed); });
  if (result.removed > 0) {
    auto days = [](std::chrono::hours h) { return static_cast<uint64_t>(h.count() / 24); };
    log::info("compile cache: removed entries unused for too long",
              {{"dir", cache_.dir().string()},
               {"removed", static_cast<uint64_t>(result.removed)},
               {"bytes", result.bytes},
               {"days_own", days(retention.own)},
               {"days_other_builds", days(retention.foreign)}});
  }
  if (!result.errors.empty()) {
    log::warn("compile cache: could not remove some old entries",
              {{"dir", cache_.dir().string()},
               {"failures", static_cast<uint64_t>(result.errors.size())},
               {"first", result.errors.front()}});
  }
}

void CachedCompiler::writerLoop() {
  // Old entries are removed once, in the background, after prune_delay_: by then the modules
  // this start loads have had their entries' times refreshed, so a runtime that ran for longer
  // than the retention does not delete the entries it is about to use.
  auto prune_at = Clock::now() + prune_delay_;
  bool pruned = !available_;
  std::unique_lock lock(mailbox_->mutex);
  for (;;) {
    auto work = [&] { return mailbox_->closed || !mailbox_->ready.empty(); };
    if (pruned) {
      mailbox_->changed.wait(lock, work);
    } else if (!mailbox_->changed.wait_until(lock, prune_at, work)) {
      lock.unlock();
      prune();
      pruned = true;
      lock.lock();
      continue;
    }
    if (mailbox_->closed) return;
    std::optional<std::pair<Sha256, v8::CompiledWasmModule>> item(
        std::move(mailbox_->ready.front()));
    mailbox_->ready.pop_front();
    ++mailbox_->writing;
    lock.unlock();
    write(item->first, item->second);
    lock.lock();
    std::shared_ptr<v8::CompiledWasmModule> held;
    if (auto it = mailbox_->tiering.find(item->first); it != mailbox_->tiering.end()) {
      held = std::move(it->second);
      mailbox_->tiering.erase(it);
    }
    // Released outside the lock (see the destructor).
    lock.unlock();
    held.reset();
    item.reset();
    lock.lock();
    --mailbox_->writing;
    mailbox_->changed.notify_all();
  }
}

void CachedCompiler::write(const Sha256& wire_sha256, v8::CompiledWasmModule& module) {
  v8::OwnedBuffer buffer = module.Serialize();
  if (buffer.size == 0) {
    // V8 serializes TurboFan code only; a module without any has nothing worth caching.
    log::debug("module has no optimized code to cache",
               {{"entry", cache_.entryPath(wire_sha256).string()}});
    return;
  }
  Status stored =
      cache_.store(wire_sha256, std::span<const uint8_t>(buffer.buffer.get(), buffer.size));
  if (stored) {
    ++writes_;
    log::debug("compile cache entry written", {{"entry", cache_.entryPath(wire_sha256).string()},
                                               {"bytes", static_cast<uint64_t>(buffer.size)}});
    return;
  }
  ++write_failures_;
  if (!warned_write_.exchange(true)) {
    log::warn(
        "cannot write to the compile cache; modules still load but are compiled again at "
        "the next start (further failures are not logged)",
        {{"dir", cache_.dir().string()}, {"error", stored.error().message}});
  }
}

}  // namespace selium::engine
