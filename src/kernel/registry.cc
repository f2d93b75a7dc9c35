// Shared ids and singletons.
#include "kernel/registry.h"

#include <sys/random.h>

#include <cerrno>
#include <map>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

namespace selium::kernel {

struct RegistryState {
  struct Singleton {
    std::weak_ptr<Shareable> object;
    const Shareable* identity = nullptr;  // which object, also once `object` has expired
    ProcessId owner = 0;
  };
  std::mutex mutex;
  std::unordered_map<int64_t, std::weak_ptr<Shareable>> shared;  // guarded by mutex
  std::map<Registry::SingletonId, Singleton> singletons;         // guarded by mutex
};

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

// The object if it is alive for sharing and of `kind` (nullopt: any kind); else why not. Called
// without the lock: if `object` is the last reference, dropping it runs ~Shareable, which locks.
Registry::Found checked(std::shared_ptr<Shareable> object, std::optional<HandleKind> kind) {
  Registry::Found found;
  if (object == nullptr || !object->alive()) return found;
  if (kind && object->kind() != *kind) {
    found.error = ErrorCode::InvalidHandle;
    found.actual = object->kind();
    return found;
  }
  found.object = std::move(object);
  return found;
}

}  // namespace

Shareable::~Shareable() {
  if (registry_ != nullptr) Registry::forget(*registry_, *this);
}

Registry::Registry() : state_(std::make_shared<RegistryState>()) {}

// The tables stay while objects they name are alive (those objects hold them); nothing to do.
Registry::~Registry() = default;

int64_t Registry::share(const std::shared_ptr<Shareable>& object) {
  std::lock_guard lock(state_->mutex);
  if (object->registry_ != nullptr && object->registry_ != state_) {
    throw std::logic_error("an object is shared in one registry only");
  }
  if (object->shared_id_ != 0) return object->shared_id_;
  int64_t id = randomId();
  while (state_->shared.count(id) > 0) id = randomId();
  state_->shared.emplace(id, object);
  object->registry_ = state_;
  object->shared_id_ = id;
  return id;
}

Registry::Found Registry::lookup(int64_t id, std::optional<HandleKind> kind) const {
  std::shared_ptr<Shareable> object;
  {
    std::lock_guard lock(state_->mutex);
    auto it = state_->shared.find(id);
    if (it == state_->shared.end()) return {};
    object = it->second.lock();
  }
  return checked(std::move(object), kind);
}

void Registry::forget(RegistryState& state, const Shareable& object) {
  std::lock_guard lock(state.mutex);
  if (object.shared_id_ != 0) state.shared.erase(object.shared_id_);
  if (object.singleton_) {
    // Only its own entries: an id it held may have gone to another object since (released with
    // its owner, or replaced while this one was dead for sharing).
    std::erase_if(state.singletons,
                  [&object](const auto& entry) { return entry.second.identity == &object; });
  }
}

std::optional<ErrorCode> Registry::registerSingleton(const SingletonId& id,
                                                     const std::shared_ptr<Shareable>& object,
                                                     ProcessId owner) {
  std::shared_ptr<Shareable> current;  // destroyed after the lock is released (declared first)
  std::lock_guard lock(state_->mutex);
  if (object->registry_ != nullptr && object->registry_ != state_) {
    throw std::logic_error("an object is registered in one registry only");
  }
  auto it = state_->singletons.find(id);
  if (it != state_->singletons.end()) {
    current = it->second.object.lock();
    if (current != nullptr && current->alive()) return ErrorCode::AlreadyExists;
    state_->singletons.erase(it);  // its object died (or is dead for sharing): the id is free
  }
  state_->singletons.emplace(id, RegistryState::Singleton{object, object.get(), owner});
  object->registry_ = state_;
  object->singleton_ = true;
  return std::nullopt;
}

Registry::Found Registry::lookupSingleton(const SingletonId& id,
                                          std::optional<HandleKind> kind) const {
  std::shared_ptr<Shareable> object;
  {
    std::lock_guard lock(state_->mutex);
    auto it = state_->singletons.find(id);
    if (it == state_->singletons.end()) return {};
    object = it->second.object.lock();
  }
  return checked(std::move(object), kind);
}

void Registry::releaseSingletons(ProcessId owner) {
  std::lock_guard lock(state_->mutex);
  std::erase_if(state_->singletons, [owner](const auto& entry) {
    return entry.second.owner == owner || entry.second.object.expired();
  });
}

std::size_t Registry::sharedCount() const {
  std::lock_guard lock(state_->mutex);
  return state_->shared.size();
}

std::size_t Registry::singletonCount() const {
  std::lock_guard lock(state_->mutex);
  std::size_t live = 0;
  for (const auto& [id, entry] : state_->singletons) live += entry.object.expired() ? 0 : 1;
  return live;
}

Registry& Registry::standalone() {
  static Registry* registry = new Registry();  // never destroyed: outlives every test process
  return *registry;
}

}  // namespace selium::kernel
