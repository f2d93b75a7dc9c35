// Sessions: handles over kernel/session.h, and process starts, attaches and lists checked
// against them.
#include "kernel/drivers/process/session_driver.h"

#include <selium/abi/hostcalls.h>

#include <flatbuffers/flatbuffers.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kernel/drivers/process/child_driver.h"
#include "kernel/process.h"
#include "kernel/session.h"
#include "selium/schemas/process_generated.h"

static_assert(SELIUM_SESSION_MAX_RESOURCES == selium::kernel::Session::kMaxResources);

namespace selium::kernel {
namespace {

class SessionHandle final : public Resource {
 public:
  static constexpr HandleKind kKind = HandleKind::Session;
  explicit SessionHandle(std::shared_ptr<Session> session) : session(std::move(session)) {}
  HandleKind kind() const override { return kKind; }
  const std::shared_ptr<Session> session;
};

Session* findSession(CallContext& ctx, int32_t handle, const char* call, int32_t& error) {
  auto* resource = ctx.process.handles().get<SessionHandle>(handle);
  if (resource == nullptr) {
    error = fail(ctx, ErrorCode::InvalidHandle,
                 std::string(call) + ": handle " + std::to_string(handle) +
                     " is not an open session of this process");
    return nullptr;
  }
  return resource->session.get();
}

std::optional<Capability> capabilityOf(CallContext& ctx, uint32_t id, const char* call,
                                       int32_t& error) {
  if (id >= kCapabilityCount) {
    error = fail(ctx, ErrorCode::InvalidArgument,
                 std::string(call) + ": " + std::to_string(id) + " is not a capability id (0-" +
                     std::to_string(kCapabilityCount - 1) + ")");
    return std::nullopt;
  }
  return static_cast<Capability>(id);
}

// SELIUM_SESSION_ANY: nullopt (the capability as a whole); another negative is refused.
bool resourceOf(CallContext& ctx, int64_t resource, const char* call, std::optional<uint64_t>& out,
                int32_t& error) {
  if (resource == SELIUM_SESSION_ANY) {
    out.reset();
    return true;
  }
  if (resource < 0) {
    error = fail(ctx, ErrorCode::InvalidArgument,
                 std::string(call) + ": resource " + std::to_string(resource) +
                     " is neither an id (>= 0) nor SELIUM_SESSION_ANY (-1)");
    return false;
  }
  out = static_cast<uint64_t>(resource);
  return true;
}

std::string entitlementText(Capability capability, std::optional<uint64_t> resource) {
  return std::string(capabilityName(capability)) +
         (resource ? " on resource " + std::to_string(*resource) : " on any resource");
}

}  // namespace

Result<std::vector<EntitlementRequest>> decodeSessionRequest(std::span<const uint8_t> bytes) {
  if (bytes.size() > SELIUM_SESSION_REQUEST_MAX_BYTES) {
    return Error{"session request is " + std::to_string(bytes.size()) +
                 " bytes, over the limit of " + std::to_string(SELIUM_SESSION_REQUEST_MAX_BYTES)};
  }
  std::vector<uint8_t> aligned(bytes.begin(), bytes.end());  // the verifier reads in place
  flatbuffers::Verifier verifier(aligned.data(), aligned.size(), /*max_depth=*/8,
                                 /*max_tables=*/4096, /*check_alignment=*/true);
  if (!verifier.VerifyBuffer<abi::SessionRequest>(nullptr)) {
    return Error{"session request is not a valid selium.abi.SessionRequest FlatBuffer (" +
                 std::to_string(bytes.size()) + " bytes; build it with schemas/process.fbs)"};
  }
  const auto* request = flatbuffers::GetRoot<abi::SessionRequest>(aligned.data());
  std::vector<EntitlementRequest> out;
  std::size_t resources = 0;
  if (const auto* list = request->entitlements(); list != nullptr) {
    for (flatbuffers::uoffset_t i = 0; i < list->size(); ++i) {
      const abi::Entitlement* in = list->Get(i);
      std::string where = "entitlements[" + std::to_string(i) + "]";
      EntitlementRequest entitlement;
      entitlement.capability = in->capability();
      if (entitlement.capability >= kCapabilityCount) {
        return Error{where + ": " + std::to_string(entitlement.capability) +
                     " is not a capability id (0-" + std::to_string(kCapabilityCount - 1) + ")"};
      }
      entitlement.any = in->any();
      if (const auto* ids = in->resources(); ids != nullptr) {
        if (entitlement.any && ids->size() != 0) {
          return Error{where + ": `any` and `resources` together: give one"};
        }
        resources += ids->size();
        if (resources > SELIUM_SESSION_MAX_RESOURCES) {
          return Error{"the request names more than " +
                       std::to_string(SELIUM_SESSION_MAX_RESOURCES) + " resources, the limit"};
        }
        // The verifier does not check the 8-byte alignment of the elements: copy them out.
        const uint8_t* at = ids->Data();
        entitlement.resources.resize(ids->size());
        for (std::size_t j = 0; j < ids->size(); ++j) {
          uint64_t id = 0;
          std::memcpy(&id, at + j * sizeof(uint64_t), sizeof(uint64_t));
          entitlement.resources[j] = flatbuffers::EndianScalar(id);
        }
      }
      out.push_back(std::move(entitlement));
    }
  }
  return out;
}

namespace hostcalls {

int32_t session_create(CallContext& ctx, int32_t parent, GuestIn request) {
  std::shared_ptr<Session> session;
  if (parent == -1) {
    session = std::make_shared<Session>(ctx.process.capabilities());
  } else {
    auto* handle = ctx.process.handles().get<SessionHandle>(parent);
    if (handle == nullptr) {
      return fail(ctx, ErrorCode::InvalidHandle,
                  "session_create: parent " + std::to_string(parent) +
                      " is neither -1 (this process's own capabilities) nor an open session of "
                      "this process");
    }
    session = std::make_shared<Session>(handle->session);
  }
  auto decoded = decodeSessionRequest(request.bytes);
  if (!decoded) {
    return fail(ctx,
                request.bytes.size() > SELIUM_SESSION_REQUEST_MAX_BYTES
                    ? ErrorCode::TooLarge
                    : ErrorCode::InvalidArgument,
                "session_create: " + decoded.error().message);
  }
  for (std::size_t i = 0; i < decoded->size(); ++i) {
    const EntitlementRequest& entitlement = (*decoded)[i];
    auto capability = static_cast<Capability>(entitlement.capability);
    std::string where = "session_create: entitlements[" + std::to_string(i) + "]: ";
    if (entitlement.any) {
      if (auto refused = session->grant(capability, std::nullopt)) {
        return fail(ctx, ErrorCode::PermissionDenied, where + *refused);
      }
      continue;
    }
    // An empty set is an entitlement too: a session that may start processes and manage only
    // those it started.
    if (auto refused = session->admit(capability)) {
      return fail(ctx, ErrorCode::PermissionDenied, where + *refused);
    }
    for (uint64_t resource : entitlement.resources) {
      if (auto refused = session->grant(capability, resource)) {
        return fail(ctx, ErrorCode::PermissionDenied, where + *refused);
      }
    }
  }
  auto inserted = ctx.process.handles().insert(std::make_unique<SessionHandle>(session));
  if (auto* code = std::get_if<ErrorCode>(&inserted)) {
    return fail(ctx, *code, "too many open handles");
  }
  return std::get<int32_t>(inserted);
}

int32_t session_check(CallContext& ctx, int32_t session_handle, uint32_t capability_id,
                      int64_t resource_id) {
  int32_t error = 0;
  Session* session = findSession(ctx, session_handle, "session_check", error);
  if (session == nullptr) return error;
  auto capability = capabilityOf(ctx, capability_id, "session_check", error);
  std::optional<uint64_t> resource;
  if (!capability || !resourceOf(ctx, resource_id, "session_check", resource, error)) return error;
  if (session->covers(*capability, resource)) return 0;
  return fail(ctx, ErrorCode::PermissionDenied,
              "session " + std::to_string(session_handle) + " is not entitled to " +
                  entitlementText(*capability, resource));
}

int32_t session_grant(CallContext& ctx, int32_t session_handle, uint32_t capability_id,
                      int64_t resource_id) {
  int32_t error = 0;
  Session* session = findSession(ctx, session_handle, "session_grant", error);
  if (session == nullptr) return error;
  auto capability = capabilityOf(ctx, capability_id, "session_grant", error);
  std::optional<uint64_t> resource;
  if (!capability || !resourceOf(ctx, resource_id, "session_grant", resource, error)) return error;
  if (auto refused = session->grant(*capability, resource)) {
    return fail(ctx, ErrorCode::PermissionDenied, "session_grant: " + *refused);
  }
  return 0;
}

int32_t session_revoke(CallContext& ctx, int32_t session_handle, uint32_t capability_id,
                       int64_t resource_id) {
  int32_t error = 0;
  Session* session = findSession(ctx, session_handle, "session_revoke", error);
  if (session == nullptr) return error;
  auto capability = capabilityOf(ctx, capability_id, "session_revoke", error);
  std::optional<uint64_t> resource;
  if (!capability || !resourceOf(ctx, resource_id, "session_revoke", resource, error)) {
    return error;
  }
  if (auto refused = session->revoke(*capability, resource)) {
    return fail(ctx, ErrorCode::InvalidArgument, "session_revoke: " + *refused);
  }
  return 0;
}

int32_t session_start(CallContext& ctx, int32_t session_handle, GuestIn request) {
  int32_t error = 0;
  auto* handle = ctx.process.handles().get<SessionHandle>(session_handle);
  if (handle == nullptr) {
    findSession(ctx, session_handle, "session_start", error);
    return error;
  }
  std::shared_ptr<Session> session = handle->session;
  auto authorise = [&](const StartRequest& start) -> int32_t {
    if (!session->entitles(Capability::ProcessLifecycle)) {
      return fail(ctx, ErrorCode::PermissionDenied,
                  "session_start: session " + std::to_string(session_handle) +
                      " is not entitled to ProcessLifecycle: it cannot start processes");
    }
    for (Capability capability : start.capabilities.inOrder()) {
      if (!session->covers(capability, std::nullopt)) {
        return fail(ctx, ErrorCode::PermissionDenied,
                    "session_start: session " + std::to_string(session_handle) +
                        " is not entitled to grant " + std::string(capabilityName(capability)) +
                        " (it needs the capability on any resource)");
      }
    }
    return 0;
  };
  std::shared_ptr<ChildState> state;
  int32_t result = startChild(ctx, request, "session_start", authorise, &state);
  if (result >= 0 && state != nullptr) session->addStarted(state);
  return result;
}

int32_t session_attach(CallContext& ctx, int32_t session_handle, int64_t pid) {
  int32_t error = 0;
  Session* session = findSession(ctx, session_handle, "session_attach", error);
  if (session == nullptr) return error;
  if (pid <= 0 || !session->covers(Capability::ProcessLifecycle, static_cast<uint64_t>(pid))) {
    return fail(ctx, ErrorCode::PermissionDenied,
                "session_attach: session " + std::to_string(session_handle) +
                    " is not entitled to ProcessLifecycle on process " + std::to_string(pid));
  }
  return attachProcess(ctx, pid, "session_attach");
}

int32_t session_list(CallContext& ctx, int32_t session_handle, GuestOut buf) {
  int32_t error = 0;
  Session* session = findSession(ctx, session_handle, "session_list", error);
  if (session == nullptr) return error;
  return writeProcessList(ctx, buf, "session_list", [&](const ProcessDirectory::Entry& entry) {
    return session->covers(Capability::ProcessLifecycle, entry.pid);
  });
}

}  // namespace hostcalls
}  // namespace selium::kernel
