// Per-process handle table: small integers naming the resources a process holds. Owned by the
// process's worker thread; never shared, so no locks.
#pragma once

#include <selium/abi/hostcalls.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

#include "kernel/error_code.h"

namespace selium::kernel {

// The guest ABI's SELIUM_KIND_* values (include/selium/abi/hostcalls.h).
enum class HandleKind : uint8_t {
  Timer = SELIUM_KIND_TIMER,
  Channel = SELIUM_KIND_CHANNEL,
  Reader = SELIUM_KIND_READER,
  Writer = SELIUM_KIND_WRITER,
  Process = SELIUM_KIND_PROCESS,
  TlsConfig = SELIUM_KIND_TLS_CONFIG,
  HttpListener = SELIUM_KIND_HTTP_LISTENER,
  HttpRequest = SELIUM_KIND_HTTP_REQUEST,
  QuicListener = SELIUM_KIND_QUIC_LISTENER,
  QuicConnection = SELIUM_KIND_QUIC_CONNECTION,
  HttpClient = SELIUM_KIND_HTTP_CLIENT,
  HttpExchange = SELIUM_KIND_HTTP_EXCHANGE,
  Lifetime = SELIUM_KIND_LIFETIME,
  Session = SELIUM_KIND_SESSION,
  Test = 255,  // used by tests to hold a handle of a kind no hostcall accepts
};

// "timer", "channel", "reader", "writer", "process", ...: for messages.
std::string_view kindName(HandleKind kind);

// The kind a guest passed (SELIUM_KIND_*): nullopt for SELIUM_KIND_ANY, InvalidArgument for a
// number that names no kind a guest can ask for.
std::variant<std::optional<HandleKind>, ErrorCode> guestKind(int32_t kind);

// Something a handle names. Destroying it releases whatever it holds (timers are cancelled, ...).
class Resource {
 public:
  Resource() { live_.fetch_add(1, std::memory_order_relaxed); }
  Resource(const Resource&) = delete;
  Resource& operator=(const Resource&) = delete;
  virtual ~Resource() { live_.fetch_sub(1, std::memory_order_relaxed); }
  virtual HandleKind kind() const = 0;
  // The object other handles may name too (handle_share / handle_attach); nullptr: this kind
  // cannot be shared (a timer lives on its process's loop).
  virtual std::shared_ptr<class Shareable> shareable() { return nullptr; }
  // handle_cancel_wait: forget the waker a WouldBlock recorded; false if this kind never waits.
  virtual bool cancelWait() { return false; }

  // Resources alive in this host process, all processes together: tests check that it returns
  // to its baseline once processes end, however they end.
  static std::size_t liveCount() { return live_.load(std::memory_order_relaxed); }

 private:
  static inline std::atomic<std::size_t> live_{0};
};

// A handle is (generation << kIndexBits) | index, always > 0 and < 2^31 so it is a non-negative
// i32 on the wire. A slot's generation goes up each time it is freed, and a slot whose 11-bit
// generation is used up is retired instead of wrapping, so a stale handle never names a newer
// resource. Retiring costs the slot's 16-byte entry and one of `max_handles` indexes: a process
// gets max_handles * kMaxGeneration handles in its life (134M at the default 2^16), after which
// inserts fail with LimitExceeded as if the table were full.
class HandleTable {
 public:
  static constexpr int kIndexBits = 20;
  static constexpr uint32_t kMaxGeneration = (1u << (31 - kIndexBits)) - 1;

  explicit HandleTable(std::size_t max_handles = 1u << 16);
  ~HandleTable();
  HandleTable(const HandleTable&) = delete;
  HandleTable& operator=(const HandleTable&) = delete;

  // Stores `resource`; returns its handle, or LimitExceeded when every index is live or retired
  // (the resource is then destroyed).
  std::variant<int32_t, ErrorCode> insert(std::unique_ptr<Resource> resource);

  // The resource behind `handle` if it is live and of `kind`; else nullptr.
  Resource* get(int32_t handle, HandleKind kind) const;

  // The resource behind `handle` if it is live, whatever its kind; else nullptr.
  Resource* get(int32_t handle) const;

  template <typename T>
  T* get(int32_t handle) const {
    return static_cast<T*>(get(handle, T::kKind));
  }

  // Releases the resource; false if `handle` is not live.
  bool remove(int32_t handle);

  // Releases every resource (process exit).
  void clear();

  std::size_t size() const { return live_; }

 private:
  struct Slot {
    uint32_t generation = 1;
    std::unique_ptr<Resource> resource;
  };
  const Slot* find(int32_t handle) const;

  std::size_t max_handles_;
  std::vector<Slot> slots_;     // at most max_handles_ entries, retired slots included
  std::vector<uint32_t> free_;  // free slots that still have a generation to give out
  std::size_t live_ = 0;
};

}  // namespace selium::kernel
