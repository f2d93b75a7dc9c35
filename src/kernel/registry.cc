// Shared ids and singletons.
#include "kernel/registry.h"

#include <sys/random.h>

#include <cerrno>
#include <chrono>
#include <deque>
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
  // Objects handed over with transfer(): kept alive until first attached or their deadline, in
  // deadline order (every transfer has the same timeout). Guarded by mutex.
  std::unordered_map<int64_t, std::shared_ptr<Shareable>> parked;
  std::deque<std::pair<std::chrono::steady_clock::time_point, int64_t>> parked_order;

  // Moves out the parked objects whose deadline has passed (destroy them unlocked: their
  // destructors come back here).
  void expire(std::chrono::steady_clock::time_point now,
              std::vector<std::shared_ptr<Shareable>>& out) {
    while (!parked_order.empty() && parked_order.front().first <= now) {
      auto it = parked.find(parked_order.front().second);
      if (it != parked.end()) {
        out.push_back(std::move(it->second));
        parked.erase(it);
      }
      parked_order.pop_front();
    }
  }
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

// The tables stay while objects they name are alive (those objects hold them); objects parked by
// transfer() are let go (outside the lock: their destructors come back to the tables).
Registry::~Registry() {
  std::unordered_map<int64_t, std::shared_ptr<Shareable>> parked;
  {
    std::lock_guard lock(state_->mutex);
    parked.swap(state_->parked);
    state_->parked_order.clear();
  }
}

std::variant<int64_t, ErrorCode> Registry::transfer(const std::shared_ptr<Shareable>& object,
                                                    std::chrono::milliseconds timeout) {
  const int64_t id = share(object);
  std::vector<std::shared_ptr<Shareable>> expired;
  {
    std::lock_guard lock(state_->mutex);
    const auto now = std::chrono::steady_clock::now();
    state_->expire(now, expired);
    if (state_->parked.count(id) == 0) {
      if (state_->parked.size() >= kMaxParked) return ErrorCode::LimitExceeded;
      state_->parked.emplace(id, object);
      state_->parked_order.emplace_back(now + timeout, id);
    }
  }
  return id;
}

void Registry::unpark(int64_t id) {
  std::vector<std::shared_ptr<Shareable>> released;
  {
    std::lock_guard lock(state_->mutex);
    state_->expire(std::chrono::steady_clock::now(), released);
    auto it = state_->parked.find(id);
    if (it != state_->parked.end()) {
      released.push_back(std::move(it->second));
      state_->parked.erase(it);
    }
  }
}

std::size_t Registry::parkedCount() const {
  std::lock_guard lock(state_->mutex);
  return state_->parked.size();
}

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
  {
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
  }
  if (listener_) listener_(id, object);
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
