// Handles across processes (no capability): kinds, cancelling a wait, shared ids; singletons
// (SingletonRegistry, SingletonLookup). Over kernel/registry.h.
#pragma once

#include "kernel/hostcall.h"

namespace selium::kernel::hostcalls {

int32_t handle_kind(CallContext& ctx, int32_t handle);
int32_t handle_cancel_wait(CallContext& ctx, int32_t handle);
int64_t handle_share(CallContext& ctx, int32_t handle);
int64_t handle_transfer(CallContext& ctx, int32_t handle);
int32_t handle_attach(CallContext& ctx, int64_t shared_id, int32_t kind);
int32_t singleton_register(CallContext& ctx, uint32_t id, int32_t handle);
int32_t singleton_lookup(CallContext& ctx, uint32_t id, int32_t kind);

}  // namespace selium::kernel::hostcalls
