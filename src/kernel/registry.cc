// Shared ids and singletons.
#include "kernel/registry.h"

#include <sys/random.h>

#include <stdexcept>

namespace selium::kernel {
namespace {

// 63 random bits, never 0: an id is a positive int64 on the wire and cannot be guessed.
int64_t randomId() {
  for (;;) {
    uint64_t bits = 0;
    auto* out = reinterpret_cast<uint8_t*>(&bits);
    std::size_t got = 0;
    while (got < sizeof(bits)) {
      ssize_t n = getrandom(out + got, sizeof(bits) - got, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error("getrandom failed: no randomness for a shared id");
      }
      got += static_cast<std::size_t>(n);
    }
    auto id = static_cast<int64_t>(bits >> 1);
    if (id != 0) return id;
  }
}

}  // namespace

Shareable::~Shareable() {
  if (registry_ != nullptr) registry_->forget(shared_id_);
}

Registry::Registry() = default;
Registry::~Registry() = default;

int64_t Registry::share(const std::shared_ptr<Shareable>& object) {
  std::lock_guard lock(mutex_);
  if (object->registry_ == this) return object->shared_id_;
  if (object->registry_ != nullptr) {
    throw std::logic_error("an object is shared in one registry only");
  }
  int64_t id = randomId();
  while (shared_.count(id) > 0) id = randomId();
  shared_.emplace(id, object);
  object->registry_ = this;
  object->shared_id_ = id;
  return id;
}

Registry::Found Registry::lookup(int64_t id, std::optional<HandleKind> kind) const {
  std::shared_ptr<Shareable> object;
  {
    std::lock_guard lock(mutex_);
    auto it = shared_.find(id);
    if (it == shared_.end()) return {};
    object = it->second.lock();
  }
  if (object == nullptr || !object->alive()) return {};
  if (kind && object->kind() != *kind) return {nullptr, ErrorCode::InvalidHandle};
  return {std::move(object)};
}

void Registry::forget(int64_t id) {
  std::lock_guard lock(mutex_);
  shared_.erase(id);
}

std::optional<ErrorCode> Registry::registerSingleton(const SingletonId& id,
                                                     const std::shared_ptr<Shareable>& object,
                                                     ProcessId owner) {
  std::shared_ptr<Shareable> current;  // released after the lock: it may be the last reference
  std::lock_guard lock(mutex_);
  auto it = singletons_.find(id);
  if (it != singletons_.end()) {
    current = it->second.object.lock();
    if (current != nullptr && current->alive()) return ErrorCode::AlreadyExists;
    singletons_.erase(it);  // its object died: the id is free again
  }
  singletons_.emplace(id, Singleton{object, owner});
  return std::nullopt;
}

Registry::Found Registry::lookupSingleton(const SingletonId& id,
                                          std::optional<HandleKind> kind) const {
  std::shared_ptr<Shareable> object;
  {
    std::lock_guard lock(mutex_);
    auto it = singletons_.find(id);
    if (it == singletons_.end()) return {};
    object = it->second.object.lock();
  }
  if (object == nullptr || !object->alive()) return {};
  if (kind && object->kind() != *kind) return {nullptr, ErrorCode::InvalidHandle};
  return {std::move(object)};
}

void Registry::releaseSingletons(ProcessId owner) {
  std::lock_guard lock(mutex_);
  std::erase_if(singletons_, [owner](const auto& entry) {
    return entry.second.owner == owner || entry.second.object.expired();
  });
}

std::size_t Registry::sharedCount() const {
  std::lock_guard lock(mutex_);
  return shared_.size();
}

std::size_t Registry::singletonCount() const {
  std::lock_guard lock(mutex_);
  std::size_t live = 0;
  for (const auto& [id, entry] : singletons_) live += entry.object.expired() ? 0 : 1;
  return live;
}

Registry& Registry::standalone() {
  static Registry* registry = new Registry();  // never destroyed: outlives every test process
  return *registry;
}

}  // namespace selium::kernel
