// What processes share: shared ids (handle_share / handle_attach) and singletons. One per engine,
// common to its workers, thread-safe. It holds weak references only: an id or a singleton dies
// with its object, and a process's singletons go when it ends.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <variant>

#include "kernel/error_code.h"
#include "kernel/handle_table.h"
#include "kernel/waker.h"

namespace selium::kernel {

class Process;
struct RegistryState;  // a Registry's tables, kept alive by the objects they name (registry.cc)

// A resource that more than one handle (of one or several processes) can name: a channel, a
// reader's cursor, a writer. A handle's Resource points at one; attaching makes another handle
// for the same object. Implementations are used from any worker: attach() and alive() must be
// thread-safe.
class Shareable : public std::enable_shared_from_this<Shareable> {
 public:
  Shareable() = default;
  Shareable(const Shareable&) = delete;
  Shareable& operator=(const Shareable&) = delete;
  // Removes the object's shared id and its singleton entries from its registry, if any.
  virtual ~Shareable();
  virtual HandleKind kind() const = 0;
  // A new handle resource of `process` for this object; nullptr if it can no longer be attached.
  virtual std::unique_ptr<Resource> attach(Process& process) = 0;
  // False once the object is dead for sharing although handles still name it (a deleted
  // channel): lookups then say NotFound.
  virtual bool alive() const { return true; }

 private:
  friend class Registry;
  // The tables that name this object (by a shared id, singleton entries or both), or null. Set
  // under their mutex; read without it only by the destructor, which runs after every other
  // reference is gone. Shared ownership: the tables outlive their Registry while objects they
  // name are alive, so a destructor never reaches freed memory.
  std::shared_ptr<RegistryState> registry_;
  int64_t shared_id_ = 0;   // 0: none
  bool singleton_ = false;  // it was registered as a singleton at least once
};

class Registry {
 public:
  using SingletonId = std::array<uint8_t, 16>;

  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The object's shared id: random (63 bits from the kernel's CSPRNG), > 0, at most 2^63 - 1;
  // the same one each time for the same object; removed when the object is destroyed. An object
  // belongs to one registry: sharing it in a second one is a host bug (std::logic_error).
  int64_t share(const std::shared_ptr<Shareable>& object);

  // The object behind a shared id: NotFound (no such id, or the object is gone or dead for
  // sharing) or InvalidHandle (its kind is not `kind`; nullopt: any kind). Nothing is changed
  // on failure.
  struct Found {
    std::shared_ptr<Shareable> object;
    ErrorCode error = ErrorCode::NotFound;  // when object is null
    std::optional<HandleKind> actual;       // InvalidHandle: the kind the object has
  };
  Found lookup(int64_t id, std::optional<HandleKind> kind) const;

  // handle_transfer: share() the object, and keep it alive (though its last handle closes) until
  // it is first attached (unpark) or `timeout` passes, whichever comes first. At most kMaxParked
  // objects are kept at once (LimitExceeded).
  static constexpr std::size_t kMaxParked = 65536;
  std::variant<int64_t, ErrorCode> transfer(const std::shared_ptr<Shareable>& object,
                                            std::chrono::milliseconds timeout);
  // An attach of `id` happened: a parked object is let go (its attacher holds it now).
  void unpark(int64_t id);
  std::size_t parkedCount() const;

  // Registers `object` under `id` for process `owner`: AlreadyExists if the id is taken by a live
  // object (an entry whose object is dead for sharing is replaced). The entry is removed by
  // releaseSingletons(owner) or when the object is destroyed. nullopt: registered. The same
  // one-registry rule as share().
  std::optional<ErrorCode> registerSingleton(const SingletonId& id,
                                             const std::shared_ptr<Shareable>& object,
                                             ProcessId owner);
  Found lookupSingleton(const SingletonId& id, std::optional<HandleKind> kind) const;
  // Drops every singleton `owner` registered (its process ended).
  void releaseSingletons(ProcessId owner);

  // Called after each successful registerSingleton, outside the registry's lock, on the
  // registering process's worker. Set once, before any process runs.
  using SingletonListener =
      std::function<void(const SingletonId& id, const std::shared_ptr<Shareable>& object)>;
  void onSingleton(SingletonListener listener) { listener_ = std::move(listener); }

  std::size_t sharedCount() const;     // shared ids in the table (tests: back to baseline)
  std::size_t singletonCount() const;  // singleton entries whose object is alive

  // A registry for hosts that share nothing between processes (unit tests).
  static Registry& standalone();

 private:
  friend class Shareable;
  // Called by ~Shareable: removes the object's entries from `state`.
  static void forget(RegistryState& state, const Shareable& object);

  std::shared_ptr<RegistryState> state_;
  SingletonListener listener_;
};

}  // namespace selium::kernel
