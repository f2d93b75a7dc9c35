// What processes share: shared ids (handle_share / handle_attach) and singletons. One per engine,
// thread-safe. It holds weak references only: an id or a singleton dies with its resource, and a
// process's singletons go when it ends.
#pragma once

#include <array>
#include <map>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "kernel/error_code.h"
#include "kernel/handle_table.h"
#include "kernel/waker.h"

namespace selium::kernel {

class Process;

// A resource that more than one handle (of one or several processes) can name: a channel, a
// reader's cursor, a writer. A handle's Resource points at one; attaching makes another handle
// for the same object.
class Shareable : public std::enable_shared_from_this<Shareable> {
 public:
  virtual ~Shareable();  // removes the object's shared id from its registry, if it has one
  virtual HandleKind kind() const = 0;
  // A new handle resource of `process` for this object.
  virtual std::unique_ptr<Resource> attach(Process& process) = 0;
  // False once the object is dead for sharing although handles still name it (a deleted
  // channel): lookups then say NotFound.
  virtual bool alive() const { return true; }

 private:
  friend class Registry;
  class Registry* registry_ = nullptr;  // where shared_id_ is registered (guarded by its mutex)
  int64_t shared_id_ = 0;
};

class Registry {
 public:
  using SingletonId = std::array<uint8_t, 16>;

  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The object's shared id: random, > 0, at most 2^63 - 1; the same one each time for the same
  // object; removed when the object is destroyed.
  int64_t share(const std::shared_ptr<Shareable>& object);

  // The object behind a shared id: NotFound (no such id, or the object is gone) or InvalidHandle
  // (its kind is not `kind`; nullopt: any kind). Nothing is changed on failure.
  struct Found {
    std::shared_ptr<Shareable> object;
    ErrorCode error = ErrorCode::NotFound;  // when object is null
  };
  Found lookup(int64_t id, std::optional<HandleKind> kind) const;

  // Registers `object` under `id` for process `owner`: AlreadyExists if the id is taken by a live
  // object. The entry is removed by releaseSingletons(owner) or when the object dies.
  // nullopt: registered.
  std::optional<ErrorCode> registerSingleton(const SingletonId& id,
                                             const std::shared_ptr<Shareable>& object,
                                             ProcessId owner);
  Found lookupSingleton(const SingletonId& id, std::optional<HandleKind> kind) const;
  // Drops every singleton `owner` registered (its process ended).
  void releaseSingletons(ProcessId owner);

  std::size_t sharedCount() const;     // live shared ids (tests: back to baseline)
  std::size_t singletonCount() const;  // live singleton entries

  // A registry for hosts that share nothing between processes (unit tests).
  static Registry& standalone();

 private:
  friend class Shareable;
  void forget(int64_t id);  // called by ~Shareable with mutex_ not held

  mutable std::mutex mutex_;
  std::unordered_map<int64_t, std::weak_ptr<Shareable>> shared_;
  struct Singleton {
    std::weak_ptr<Shareable> object;
    ProcessId owner = 0;
  };
  std::map<SingletonId, Singleton> singletons_;
};

}  // namespace selium::kernel
