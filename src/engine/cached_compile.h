// The V8 side of the compile cache. V8 10.2's public API reads serialized code only through
// streaming compilation (v8::WasmStreaming::SetCompiledModuleBytes), so every module of an engine
// with a cache directory is compiled through WebAssembly.compileStreaming on the compile isolate:
// with a checked cache entry V8 deserializes it instead of compiling; without one V8 compiles
// (Liftoff at once, TurboFan in the background), and once its TurboFan tier-up has finished the
// module is serialized and its entry written by a writer thread. Internal to the engine.
#pragma once

#include <v8.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>

#include "engine/compile_cache.h"

namespace selium::engine {

struct CompileCacheStats {
  uint64_t hits = 0;            // modules loaded from an entry instead of being compiled
  uint64_t misses = 0;          // modules compiled: no entry, or one that was rejected
  uint64_t rejected = 0;        // entries ignored: corrupt, foreign, V8-refused, others may write
  uint64_t writes = 0;          // entries written
  uint64_t write_failures = 0;  // entries that could not be written
};

class CachedCompiler {
 public:
  // Uses the cache in `dir` for this engine build (engineTag()). Prepares the directory; if that
  // fails (including a directory others could write to, see CompileCache::prepare), logs one
  // warning and compiles every module as if there were no cache.
  // Entries unused for too long are removed once, `prune_delay` after construction (see
  // writerLoop).
  explicit CachedCompiler(const std::filesystem::path& dir,
                          std::chrono::milliseconds prune_delay = std::chrono::minutes(10));
  // Stops the writer thread; entries not written yet are dropped. Frees everything this object
  // made, including what V8 still holds of it: a tier-up report that arrives later is dropped.
  ~CachedCompiler();
  CachedCompiler(const CachedCompiler&) = delete;
  CachedCompiler& operator=(const CachedCompiler&) = delete;

  // Call on the compile isolate before creating its context: V8 installs
  // WebAssembly.compileStreaming only in contexts created after the callback is set.
  static void enableStreaming(v8::Isolate* isolate);

  // What an entry's code depends on besides the module: V8's version, the architecture and the
  // V8 flags that change generated code, e.g. "V8 10.2.154.26-node.37 x86_64
  // --no-wasm-dynamic-tiering". V8 checks its own flag hash and CPU features on top.
  static std::string engineTag();

  // Loads `wire` from its cache entry or compiles it. The caller holds the isolate's lock, has
  // entered it and `context`, and catches failures in its TryCatch (this rethrows V8's
  // CompileError). `label` names the module in log records.
  v8::MaybeLocal<v8::WasmModuleObject> compile(v8::Isolate* isolate, v8::Local<v8::Context> context,
                                               std::span<const uint8_t> wire,
                                               std::string_view label);

  // Waits until every module compiled here has had its entry written (or turned out to have
  // nothing to write), but not past `deadline`. True if nothing is left pending.
  bool flush(std::chrono::steady_clock::time_point deadline);

  CompileCacheStats stats() const;

  // The tier-up clients of every CachedCompiler in this process. compile() gives V8 one for each
  // module V8 compiles rather than deserializes; V8 reports the module's tier-up to it once, and
  // frees it with the module. For tests: nothing of ours may stay behind in V8, and a report
  // that comes after its compiler is gone must be dropped safely.
  struct TierUpClients {
    std::size_t alive = 0;
    std::size_t waiting = 0;  // alive and not reported to yet (or still in the report)
  };
  static TierUpClients tierUpClients();

  // What compile() and the V8 tier-up callbacks hand to the writer thread. Owned by this object;
  // the callbacks, which may outlive it, hold it weakly.
  struct Mailbox;

 private:
  void writerLoop();
  void prune();  // removes entries unused for too long (CompileCache::Retention), logs it
  void write(const Sha256& wire_sha256, v8::CompiledWasmModule& module);

  CompileCache cache_;
  std::shared_ptr<Mailbox> mailbox_;  // the only strong reference but for a report in progress
  std::thread writer_;
  std::atomic<uint64_t> hits_{0}, misses_{0}, rejected_{0}, writes_{0}, write_failures_{0};
  bool available_ = true;  // the directory could be prepared
  std::chrono::milliseconds prune_delay_;
  std::atomic<bool> closing_{false};  // the destructor has started: prune() stops early
  std::atomic<bool> warned_write_{false};
};

}  // namespace selium::engine
