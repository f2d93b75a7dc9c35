// Sessions over session_create / session_check / session_start and friends.
#include "selium/session.hpp"

#include <flatbuffers/flatbuffers.h>

#include "process_generated.h"

namespace selium {

namespace fb = ::selium::abi;

namespace {
int64_t resourceArg(std::optional<uint64_t> resource) {
  return resource ? static_cast<int64_t>(*resource) : SELIUM_SESSION_ANY;
}
}  // namespace

bool Session::covers(selium_capability_t capability, std::optional<uint64_t> resource) const {
  return selium_session_check(handle_.get(), capability, resourceArg(resource)) == 0;
}

Result<void> Session::grant(selium_capability_t capability, std::optional<uint64_t> resource) {
  int32_t result = selium_session_grant(handle_.get(), capability, resourceArg(resource));
  if (result < 0) return Error::fromResult(result);
  return Result<void>();
}

Result<void> Session::revoke(selium_capability_t capability, std::optional<uint64_t> resource) {
  int32_t result = selium_session_revoke(handle_.get(), capability, resourceArg(resource));
  if (result < 0) return Error::fromResult(result);
  return Result<void>();
}

Result<ChildProcess> Session::start(const ProcessBuilder& builder) const {
  std::vector<uint8_t> bytes = builder.request();
  int32_t handle = selium_session_start(handle_.get(), SELIUM_ADDR(bytes.data()),
                                        static_cast<uint32_t>(bytes.size()));
  if (handle < 0) return Error::fromResult(handle);
  return ChildProcess(Handle(handle));
}

Result<ChildProcess> Session::attach(int64_t pid) const {
  int32_t handle = selium_session_attach(handle_.get(), pid);
  if (handle < 0) return Error::fromResult(handle);
  return ChildProcess(Handle(handle));
}

Result<std::vector<ProcessInfo>> Session::list() const {
  selium_handle_t session = handle_.get();
  auto bytes = detail::readProcessList([session](uint8_t* buf, uint32_t cap) {
    return selium_session_list(session, SELIUM_ADDR(buf), cap);
  });
  if (!bytes) return bytes.error();
  return decodeProcessList(*bytes);
}

SessionBuilder& SessionBuilder::entitle(selium_capability_t capability) {
  entries_.push_back({capability, false, {}});
  return *this;
}

SessionBuilder& SessionBuilder::entitleAny(selium_capability_t capability) {
  entries_.push_back({capability, true, {}});
  return *this;
}

SessionBuilder& SessionBuilder::entitle(selium_capability_t capability,
                                        std::vector<uint64_t> resources) {
  entries_.push_back({capability, false, std::move(resources)});
  return *this;
}

std::vector<uint8_t> SessionBuilder::request() const {
  flatbuffers::FlatBufferBuilder builder(256);
  std::vector<flatbuffers::Offset<fb::Entitlement>> entitlements;
  for (const Entry& entry : entries_) {
    auto resources = builder.CreateVector(entry.resources);
    entitlements.push_back(fb::CreateEntitlement(builder, entry.capability, entry.any, resources));
  }
  builder.Finish(fb::CreateSessionRequest(builder, builder.CreateVector(entitlements)));
  return {builder.GetBufferPointer(), builder.GetBufferPointer() + builder.GetSize()};
}

Result<Session> SessionBuilder::create(const Session* parent) const {
  std::vector<uint8_t> bytes = request();
  int32_t handle =
      selium_session_create(parent != nullptr ? parent->handle().get() : -1,
                            SELIUM_ADDR(bytes.data()), static_cast<uint32_t>(bytes.size()));
  if (handle < 0) return Error::fromResult(handle);
  return Session(Handle(handle));
}

}  // namespace selium
