// Handle allocation with generations; the free list reuses slots LIFO, and a slot whose
// generations are used up is retired rather than wrapped.
#include "kernel/handle_table.h"

namespace selium::kernel {

std::string_view kindName(HandleKind kind) {
  switch (kind) {
    case HandleKind::Timer:
      return "timer";
    case HandleKind::Channel:
      return "channel";
    case HandleKind::Reader:
      return "reader";
    case HandleKind::Writer:
      return "writer";
    case HandleKind::Process:
      return "process";
    case HandleKind::TlsConfig:
      return "TLS configuration";
    case HandleKind::HttpListener:
      return "HTTP listener";
    case HandleKind::HttpRequest:
      return "HTTP request";
    case HandleKind::QuicListener:
      return "QUIC listener";
    case HandleKind::QuicConnection:
      return "QUIC connection";
    case HandleKind::HttpClient:
      return "HTTP client";
    case HandleKind::HttpExchange:
      return "HTTP exchange";
    case HandleKind::Lifetime:
      return "lifetime";
    case HandleKind::Session:
      return "session";
    case HandleKind::Test:
      return "test";
  }
  return "unknown";
}

std::variant<std::optional<HandleKind>, ErrorCode> guestKind(int32_t kind) {
  switch (kind) {
    case SELIUM_KIND_ANY:
      return std::optional<HandleKind>{};
    case SELIUM_KIND_TIMER:
    case SELIUM_KIND_CHANNEL:
    case SELIUM_KIND_READER:
    case SELIUM_KIND_WRITER:
    case SELIUM_KIND_PROCESS:
    case SELIUM_KIND_TLS_CONFIG:
    case SELIUM_KIND_HTTP_LISTENER:
    case SELIUM_KIND_HTTP_REQUEST:
    case SELIUM_KIND_QUIC_LISTENER:
    case SELIUM_KIND_QUIC_CONNECTION:
    case SELIUM_KIND_HTTP_CLIENT:
    case SELIUM_KIND_HTTP_EXCHANGE:
    case SELIUM_KIND_LIFETIME:
    case SELIUM_KIND_SESSION:
      return std::optional<HandleKind>{static_cast<HandleKind>(kind)};
    default:
      return ErrorCode::InvalidArgument;
  }
}

HandleTable::HandleTable(std::size_t max_handles)
    : max_handles_(std::min<std::size_t>(max_handles, std::size_t{1} << kIndexBits)) {}

HandleTable::~HandleTable() { clear(); }

std::variant<int32_t, ErrorCode> HandleTable::insert(std::unique_ptr<Resource> resource) {
  uint32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    if (slots_.size() >= max_handles_) return ErrorCode::LimitExceeded;
    index = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& slot = slots_[index];
  slot.resource = std::move(resource);
  ++live_;
  return static_cast<int32_t>((slot.generation << kIndexBits) | index);
}

const HandleTable::Slot* HandleTable::find(int32_t handle) const {
  if (handle <= 0) return nullptr;
  uint32_t value = static_cast<uint32_t>(handle);
  uint32_t index = value & ((1u << kIndexBits) - 1);
  uint32_t generation = value >> kIndexBits;
  if (index >= slots_.size()) return nullptr;
  const Slot& slot = slots_[index];
  if (slot.generation != generation || !slot.resource) return nullptr;
  return &slot;
}

Resource* HandleTable::get(int32_t handle, HandleKind kind) const {
  const Slot* slot = find(handle);
  if (slot == nullptr || slot->resource->kind() != kind) return nullptr;
  return slot->resource.get();
}

Resource* HandleTable::get(int32_t handle) const {
  const Slot* slot = find(handle);
  return slot == nullptr ? nullptr : slot->resource.get();
}

bool HandleTable::remove(int32_t handle) {
  if (find(handle) == nullptr) return false;
  uint32_t index = static_cast<uint32_t>(handle) & ((1u << kIndexBits) - 1);
  Slot& slot = slots_[index];
  // Move out first: the resource's destructor may call back into the process.
  std::unique_ptr<Resource> released = std::move(slot.resource);
  // A slot at its last generation stays empty for good: reusing it would bring back generation 1
  // and, with it, every handle the slot ever gave out. It keeps kMaxGeneration, which no live
  // resource will have again, so find() keeps rejecting every handle that names it.
  if (slot.generation < kMaxGeneration) {
    ++slot.generation;
    free_.push_back(index);
  }
  --live_;
  released.reset();
  return true;
}

void HandleTable::clear() {
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].resource) {
      remove(static_cast<int32_t>((slots_[i].generation << kIndexBits) | i));
    }
  }
}

}  // namespace selium::kernel
