// Sessions (capability SessionLifecycle): entitlements that only narrow (kernel/session.h), and
// starting, attaching and listing processes within them. A session handle stays with the process
// that made it: it cannot be shared.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "kernel/hostcall.h"
#include "util/result.h"

namespace selium::kernel {

// One entitlement of a session request.
struct EntitlementRequest {
  uint32_t capability = 0;
  bool any = false;
  std::vector<uint64_t> resources;
};

// Decodes and checks a selium.abi.SessionRequest (schemas/process.fbs): capability ids known,
// `any` without resources, at most SELIUM_SESSION_MAX_RESOURCES resources in all.
Result<std::vector<EntitlementRequest>> decodeSessionRequest(std::span<const uint8_t> bytes);

}  // namespace selium::kernel

namespace selium::kernel::hostcalls {

int32_t session_create(CallContext& ctx, int32_t parent, GuestIn request);
int32_t session_check(CallContext& ctx, int32_t session, uint32_t capability, int64_t resource);
int32_t session_grant(CallContext& ctx, int32_t session, uint32_t capability, int64_t resource);
int32_t session_revoke(CallContext& ctx, int32_t session, uint32_t capability, int64_t resource);
int32_t session_start(CallContext& ctx, int32_t session, GuestIn request);
int32_t session_attach(CallContext& ctx, int32_t session, int64_t pid);
int32_t session_list(CallContext& ctx, int32_t session, GuestOut buf);

}  // namespace selium::kernel::hostcalls
