// Handles across processes: a handle's kind, cancelling its wait, shared ids (share → id →
// attach) and singletons (a 16-byte id → the registrant's resource). Everything shared goes
// through the process's Registry; a process only ever gets new handles of its own.
#include "kernel/drivers/share/share_driver.h"

#include <selium/abi/hostcalls.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <variant>

#include "kernel/registry.h"

namespace selium::kernel {
namespace {

// A shared id as messages show it. Only ids the caller passed in or was given itself appear in
// its messages: another process's ids are never revealed.
std::string idText(int64_t id) {
  if (id < 0) return std::to_string(id);
  char text[32];
  std::snprintf(text, sizeof(text), "0x%" PRIx64, static_cast<uint64_t>(id));
  return text;
}

std::string singletonText(const Registry::SingletonId& id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  text.reserve(id.size() * 2);
  for (uint8_t byte : id) {
    text += kDigits[byte >> 4];
    text += kDigits[byte & 0xf];
  }
  return text;
}

std::string handleText(int32_t handle) { return "handle " + std::to_string(handle); }

std::string kindText(HandleKind kind) { return std::string(kindName(kind)); }

const char* const kKinds =
    "0 = any, 1 = timer, 2 = channel, 3 = reader, 4 = writer, 5 = process, 6 = TLS "
    "configuration, 7 = HTTP listener, 8 = HTTP request";

// The open resource behind `handle`, any kind; nullptr with the last error set.
Resource* openHandle(CallContext& ctx, int32_t handle) {
  Resource* resource = ctx.process.handles().get(handle);
  if (resource == nullptr) {
    fail(ctx, ErrorCode::InvalidHandle,
         handleText(handle) + " is not an open handle of this process");
  }
  return resource;
}

// The object `handle` names, for sharing; nullptr with the last error set (and `error` to
// return) when the handle is not open, its kind cannot be shared or its object is dead.
std::shared_ptr<Shareable> shareableOf(CallContext& ctx, int32_t handle, int32_t& error) {
  Resource* resource = openHandle(ctx, handle);
  if (resource == nullptr) {
    error = errorResult(ErrorCode::InvalidHandle);
    return nullptr;
  }
  std::shared_ptr<Shareable> object = resource->shareable();
  if (object == nullptr) {
    error = fail(ctx, ErrorCode::Unsupported,
                 handleText(handle) + " is a " + kindText(resource->kind()) +
                     ", which cannot be shared (channels, readers and writers can)");
    return nullptr;
  }
  if (!object->alive()) {
    error = fail(ctx, ErrorCode::Closed,
                 handleText(handle) + " names a " + kindText(resource->kind()) +
                     " that is closed for good; it cannot be shared");
    return nullptr;
  }
  return object;
}

// The kind a guest asked for; false with the last error set for an unknown number.
bool parseKind(CallContext& ctx, int32_t kind, std::optional<HandleKind>& out) {
  auto parsed = guestKind(kind);
  if (std::holds_alternative<ErrorCode>(parsed)) {
    fail(ctx, ErrorCode::InvalidArgument,
         "unknown handle kind " + std::to_string(kind) + " (" + kKinds + ")");
    return false;
  }
  out = std::get<std::optional<HandleKind>>(parsed);
  return true;
}

// The 16-byte singleton id at guest address `address`; nullopt with the last error set.
std::optional<Registry::SingletonId> readSingletonId(CallContext& ctx, uint32_t address) {
  auto bytes = detail::guestSpan(ctx, address, SELIUM_SINGLETON_ID_BYTES);
  if (!bytes) {
    fail(ctx, ErrorCode::OutOfBounds,
         "the " + std::to_string(SELIUM_SINGLETON_ID_BYTES) +
             "-byte singleton id at guest address " + std::to_string(address) +
             " lies outside the process's memory of " + std::to_string(ctx.guestMemory().size()) +
             " bytes");
    return std::nullopt;
  }
  Registry::SingletonId id;
  std::memcpy(id.data(), bytes->data(), id.size());
  return id;
}

// A new handle of the caller for `object` (found for `what`, which names it in messages).
int32_t attachNew(CallContext& ctx, Shareable& object, const std::string& what) {
  std::unique_ptr<Resource> resource = object.attach(ctx.process);
  if (resource == nullptr) {
    // It died between the lookup and now (a channel deleted on another worker).
    return fail(ctx, ErrorCode::NotFound, what + " is gone");
  }
  auto inserted = ctx.process.handles().insert(std::move(resource));
  if (auto* code = std::get_if<ErrorCode>(&inserted)) {
    return fail(ctx, *code,
                "too many open handles (" + std::to_string(ctx.process.handles().size()) +
                    "): close one before attaching " + what);
  }
  return std::get<int32_t>(inserted);
}

}  // namespace

namespace hostcalls {

int32_t handle_kind(CallContext& ctx, int32_t handle) {
  Resource* resource = openHandle(ctx, handle);
  if (resource == nullptr) return errorResult(ErrorCode::InvalidHandle);
  return static_cast<int32_t>(resource->kind());
}

int32_t handle_cancel_wait(CallContext& ctx, int32_t handle) {
  Resource* resource = openHandle(ctx, handle);
  if (resource == nullptr) return errorResult(ErrorCode::InvalidHandle);
  resource->cancelWait();  // false (a kind that never waits) is fine: nothing was pending
  return 0;
}

int64_t handle_share(CallContext& ctx, int32_t handle) {
  int32_t error = 0;
  std::shared_ptr<Shareable> object = shareableOf(ctx, handle, error);
  if (object == nullptr) return error;
  return ctx.process.registry().share(object);
}

int64_t handle_transfer(CallContext& ctx, int32_t handle) {
  int32_t error = 0;
  std::shared_ptr<Shareable> object = shareableOf(ctx, handle, error);
  if (object == nullptr) return error;
  auto id = ctx.process.registry().transfer(object,
                                            std::chrono::milliseconds(SELIUM_TRANSFER_TIMEOUT_MS));
  if (const ErrorCode* code = std::get_if<ErrorCode>(&id)) {
    return fail(ctx, *code,
                "too many handles are in transfer already (" +
                    std::to_string(Registry::kMaxParked) + "): attach some first");
  }
  ctx.process.handles().remove(handle);
  return std::get<int64_t>(id);
}

int32_t handle_attach(CallContext& ctx, int64_t shared_id, int32_t kind) {
  std::optional<HandleKind> wanted;
  if (!parseKind(ctx, kind, wanted)) return errorResult(ErrorCode::InvalidArgument);
  Registry::Found found = ctx.process.registry().lookup(shared_id, wanted);
  if (found.object == nullptr) {
    if (found.error == ErrorCode::InvalidHandle && found.actual && wanted) {
      return fail(ctx, ErrorCode::InvalidHandle,
                  "shared id " + idText(shared_id) + " names a " + kindText(*found.actual) +
                      ", not a " + kindText(*wanted));
    }
    return fail(
        ctx, ErrorCode::NotFound,
        "no shared resource has id " + idText(shared_id) + " (never shared, or gone since)");
  }
  const int32_t attached = attachNew(ctx, *found.object, "shared id " + idText(shared_id));
  if (attached > 0) ctx.process.registry().unpark(shared_id);
  return attached;
}

int32_t singleton_register(CallContext& ctx, uint32_t id, int32_t handle) {
  std::optional<Registry::SingletonId> key = readSingletonId(ctx, id);
  if (!key) return errorResult(ErrorCode::OutOfBounds);
  int32_t error = 0;
  std::shared_ptr<Shareable> object = shareableOf(ctx, handle, error);
  if (object == nullptr) return error;
  if (auto code = ctx.process.registry().registerSingleton(*key, object, ctx.process.id())) {
    if (*code == ErrorCode::AlreadyExists) {
      return fail(ctx, *code, "singleton id " + singletonText(*key) + " is registered already");
    }
    return fail(ctx, *code, "singleton id " + singletonText(*key) + " could not be registered");
  }
  return 0;
}

int32_t singleton_lookup(CallContext& ctx, uint32_t id, int32_t kind) {
  std::optional<Registry::SingletonId> key = readSingletonId(ctx, id);
  if (!key) return errorResult(ErrorCode::OutOfBounds);
  std::optional<HandleKind> wanted;
  if (!parseKind(ctx, kind, wanted)) return errorResult(ErrorCode::InvalidArgument);
  Registry::Found found = ctx.process.registry().lookupSingleton(*key, wanted);
  if (found.object == nullptr) {
    if (found.error == ErrorCode::InvalidHandle && found.actual && wanted) {
      return fail(ctx, ErrorCode::InvalidHandle,
                  "singleton " + singletonText(*key) + " is a " + kindText(*found.actual) +
                      ", not a " + kindText(*wanted));
    }
    return fail(ctx, ErrorCode::NotFound,
                "no singleton is registered under id " + singletonText(*key));
  }
  return attachNew(ctx, *found.object, "singleton " + singletonText(*key));
}

}  // namespace hostcalls
}  // namespace selium::kernel
