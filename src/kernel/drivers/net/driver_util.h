// What the net drivers (http_driver, quic_driver) share: running on a socket's loop, and the
// handle-table chores every hostcall does.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>

#include "kernel/handle_table.h"
#include "kernel/hostcall.h"
#include "kernel/process.h"
#include "kernel/registry.h"

namespace selium::kernel::net_driver {

// Runs `fn` on `loop`: at once when called there, else posted.
template <typename F>
void onLoop(boost::asio::io_context& loop, F&& fn) {
  if (loop.get_executor().running_in_this_thread()) {
    fn();
  } else {
    boost::asio::post(loop, std::forward<F>(fn));
  }
}

inline std::string handleText(int32_t handle) { return "handle " + std::to_string(handle); }

// Inserts `resource` into the caller's table: its handle, or the error result.
inline int32_t insert(CallContext& ctx, std::unique_ptr<Resource> resource) {
  auto inserted = ctx.process.handles().insert(std::move(resource));
  if (auto* code = std::get_if<ErrorCode>(&inserted)) {
    return fail(ctx, *code, "too many open handles");
  }
  return std::get<int32_t>(inserted);
}

inline int32_t denied() { return -static_cast<int32_t>(ErrorCode::PermissionDenied); }
inline int32_t wouldBlock() { return -static_cast<int32_t>(ErrorCode::WouldBlock); }

// The caller's open handle of type H (its kind); null with the last error set in `error`.
template <typename H>
H* find(CallContext& ctx, int32_t handle, const char* what, int32_t& error) {
  auto* resource = ctx.process.handles().get<H>(handle);
  if (resource == nullptr) {
    error = fail(ctx, ErrorCode::InvalidHandle,
                 handleText(handle) + " is not an open " + what + " of this process");
  }
  return resource;
}

// A handle on a shared object whose waits are recorded per handle: the object's cancel(key)
// forgets this handle's waker when it is closed or its wait is cancelled.
template <typename Object, HandleKind Kind>
class WaitingHandle final : public Resource {
 public:
  static constexpr HandleKind kKind = Kind;
  explicit WaitingHandle(std::shared_ptr<Object> object) : object(std::move(object)) {}
  ~WaitingHandle() override { object->cancel(this); }
  HandleKind kind() const override { return kKind; }
  std::shared_ptr<Shareable> shareable() override { return object; }
  bool cancelWait() override {
    object->cancel(this);
    return true;
  }
  const std::shared_ptr<Object> object;
};

// Counts a socket the calling process opens (`what`: "an HTTP client", ...) against its
// max_sockets: a token that counts it out when released, or the error result (LimitExceeded, last
// error set) to return.
inline std::variant<std::shared_ptr<void>, int32_t> reserveSocket(CallContext& ctx,
                                                                  const std::string& what) {
  std::shared_ptr<std::atomic<std::size_t>> open = ctx.process.openSockets();
  const std::size_t limit = ctx.process.maxSockets();
  std::size_t before = open->load(std::memory_order_relaxed);
  do {
    if (before >= limit) {
      return fail(ctx, ErrorCode::LimitExceeded,
                  what + " would be this process's socket number " + std::to_string(before + 1) +
                      ", over its limit of " + std::to_string(limit) +
                      " (close listeners and clients it no longer needs)");
    }
  } while (!open->compare_exchange_weak(before, before + 1, std::memory_order_relaxed));
  return std::shared_ptr<void>(nullptr,
                               [open](void*) { open->fetch_sub(1, std::memory_order_relaxed); });
}

}  // namespace selium::kernel::net_driver
