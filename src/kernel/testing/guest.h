// A guest for kernel tests without V8: a real Process with a byte vector as its linear memory,
// calling hostcalls through the real dispatch path (capability check, argument decoding, bounds
// checks) as the engine does, with helpers for the channel hostcalls. Used only on the thread of
// its process's host.
#pragma once

#include <gtest/gtest.h>
#include <selium/abi/hostcalls.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kernel/hostcall.h"
#include "kernel/process.h"

namespace selium::kernel::testing {

inline WasmValue i32(int32_t v) {
  WasmValue w;
  w.i32 = v;
  return w;
}
inline WasmValue u32(uint32_t v) { return i32(static_cast<int32_t>(v)); }
inline WasmValue i64(int64_t v) {
  WasmValue w;
  w.i64 = v;
  return w;
}

// A batch in the ABI's encoding: each frame a little-endian u32 length, then its bytes.
inline std::vector<uint8_t> batchOf(const std::vector<std::string>& frames) {
  std::vector<uint8_t> batch;
  for (const std::string& frame : frames) {
    auto n = static_cast<uint32_t>(frame.size());
    for (int shift = 0; shift < 32; shift += 8) batch.push_back(static_cast<uint8_t>(n >> shift));
    batch.insert(batch.end(), frame.begin(), frame.end());
  }
  return batch;
}

// The frames of a batch; a malformed one fails the test.
inline std::vector<std::string> framesOf(std::span<const uint8_t> batch) {
  std::vector<std::string> frames;
  std::size_t at = 0;
  while (at < batch.size()) {
    if (batch.size() - at < SELIUM_BATCH_HEADER) {
      ADD_FAILURE() << "batch ends inside a header at " << at;
      break;
    }
    uint32_t n = uint32_t{batch[at]} | uint32_t{batch[at + 1]} << 8 |
                 uint32_t{batch[at + 2]} << 16 | uint32_t{batch[at + 3]} << 24;
    at += SELIUM_BATCH_HEADER;
    if (batch.size() - at < n) {
      ADD_FAILURE() << "frame of " << n << " bytes runs past the batch";
      break;
    }
    frames.emplace_back(reinterpret_cast<const char*>(batch.data() + at), n);
    at += n;
  }
  return frames;
}

inline constexpr uint32_t kIn = 0;            // where a guest puts what it writes
inline constexpr uint32_t kOut = 128 * 1024;  // where its reads land
inline constexpr std::size_t kMemory = 256 * 1024;

// One guest: a process and its linear memory, calling hostcalls as the engine does. Used only on
// the thread of its process's host.
class Guest {
 public:
  explicit Guest(Process& process, std::size_t memory = kMemory)
      : process_(&process), memory_(memory) {}

  Process& process() { return *process_; }
  ProcessId pid() const { return process_->id(); }
  std::vector<uint8_t>& memory() { return memory_; }
  const std::string& lastError() const { return process_->lastError(); }

  // Copies `bytes` into memory at `address`; returns the address.
  uint32_t put(uint32_t address, std::span<const uint8_t> bytes) {
    if (!bytes.empty()) std::memcpy(memory_.data() + address, bytes.data(), bytes.size());
    return address;
  }

  int64_t call(std::string_view name, std::vector<WasmValue> args) {
    const HostcallSpec* spec = findHostcall(SELIUM_IMPORT_MODULE, name);
    EXPECT_NE(spec, nullptr) << name;
    if (spec == nullptr) return std::numeric_limits<int64_t>::min();
    EXPECT_EQ(spec->params.size(), args.size()) << name;
    CallContext ctx{*process_, memory_};
    return dispatchHostcall(*spec, ctx, args.data());
  }
  int32_t call32(std::string_view name, std::vector<WasmValue> args) {
    return static_cast<int32_t>(call(name, std::move(args)));
  }

  int32_t create(uint32_t capacity, int32_t backpressure = SELIUM_BACKPRESSURE_PARK) {
    return call32("channel_create", {u32(capacity), i32(backpressure)});
  }
  int32_t openReader(int32_t channel, int32_t strength = SELIUM_STRONG) {
    return call32("channel_reader_open", {i32(channel), i32(strength)});
  }
  int32_t openWriter(int32_t channel, int32_t strength = SELIUM_STRONG) {
    return call32("channel_writer_open", {i32(channel), i32(strength)});
  }
  int32_t write(int32_t writer, std::string_view frame, int32_t waker = 0) {
    if (!frame.empty()) std::memcpy(memory_.data() + kIn, frame.data(), frame.size());
    return call32("channel_write",
                  {i32(writer), u32(kIn), u32(static_cast<uint32_t>(frame.size())), i32(waker)});
  }
  int32_t writeBatch(int32_t writer, const std::vector<uint8_t>& batch, int32_t waker = 0) {
    if (!batch.empty()) std::memcpy(memory_.data() + kIn, batch.data(), batch.size());
    return call32("channel_write_batch",
                  {i32(writer), u32(kIn), u32(static_cast<uint32_t>(batch.size())), i32(waker)});
  }
  // Reads one frame into a buffer of `cap` bytes: the result, and the frame in *frame when one
  // was read.
  int32_t read(int32_t reader, std::string* frame = nullptr, uint32_t cap = 4096,
               int32_t waker = 0) {
    int32_t n = call32("channel_read", {i32(reader), u32(kOut), u32(cap), i32(waker)});
    if (frame != nullptr && n >= 0 && static_cast<uint32_t>(n) <= cap) {
      frame->assign(reinterpret_cast<const char*>(memory_.data() + kOut), n);
    }
    return n;
  }
  int32_t readBatch(int32_t reader, std::vector<std::string>* frames = nullptr, uint32_t cap = 4096,
                    int32_t waker = 0) {
    int32_t n = call32("channel_read_batch", {i32(reader), u32(kOut), u32(cap), i32(waker)});
    if (frames != nullptr && n >= 0 && static_cast<uint32_t>(n) <= cap) {
      *frames = framesOf(std::span<const uint8_t>(memory_.data() + kOut, n));
    }
    return n;
  }
  // The frame read next (empty with a failure recorded if there is none).
  std::string next(int32_t reader) {
    std::string frame;
    int32_t n = read(reader, &frame);
    EXPECT_GE(n, 0) << lastError();
    return frame;
  }
  int64_t lost(int32_t reader) { return call("channel_reader_lost", {i32(reader)}); }
  int32_t drain(int32_t channel) { return call32("channel_drain", {i32(channel)}); }
  int32_t remove(int32_t channel) { return call32("channel_delete", {i32(channel)}); }
  int32_t downgrade(int32_t writer) { return call32("channel_writer_downgrade", {i32(writer)}); }
  int32_t close(int32_t handle) { return call32("handle_close", {i32(handle)}); }
  int32_t cancelWait(int32_t handle) { return call32("handle_cancel_wait", {i32(handle)}); }
  int32_t kind(int32_t handle) { return call32("handle_kind", {i32(handle)}); }
  int64_t share(int32_t handle) { return call("handle_share", {i32(handle)}); }
  int32_t attach(int64_t id, int32_t kind) { return call32("handle_attach", {i64(id), i32(kind)}); }

 private:
  Process* process_;
  std::vector<uint8_t> memory_;
};

}  // namespace selium::kernel::testing
