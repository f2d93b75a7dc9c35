// SNI routing: the ClientHello callback moves each connection onto its domain's context.
#include "net/tls/sni_context.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <new>
#include <optional>

#include "net/address.h"
#include "net/tls/openssl_util.h"
#include "util/strings.h"

namespace selium::net::tls {

struct SniContext::Registry {
  struct Entry {
    std::shared_ptr<const ServerConfig> config;
    uint64_t order = 0;  // when it was first added: the smallest is the default
  };
  struct Selection {
    std::string domain;
    std::shared_ptr<const ServerConfig> config;
  };

  // The configuration for a ClientHello naming `sni` (lower-case; empty: no SNI).
  std::optional<Selection> select(const std::string& sni) const {
    std::lock_guard lock(mutex);
    if (sni.empty()) {
      const auto oldest = std::min_element(domains.begin(), domains.end(), [](auto& a, auto& b) {
        return a.second.order < b.second.order;
      });
      if (oldest == domains.end()) return std::nullopt;
      return Selection{oldest->first, oldest->second.config};
    }
    if (auto exact = domains.find(sni); exact != domains.end()) {
      return Selection{exact->first, exact->second.config};
    }
    const std::size_t dot = sni.find('.');
    if (dot == std::string::npos || dot == 0) return std::nullopt;
    const std::string wildcard = "*" + sni.substr(dot);
    if (auto match = domains.find(wildcard); match != domains.end()) {
      return Selection{match->first, match->second.config};
    }
    return std::nullopt;
  }

  mutable std::mutex mutex;
  std::map<std::string, Entry, std::less<>> domains;  // guarded by mutex
  uint64_t next_order = 0;                            // guarded by mutex
};

namespace {

// Owned by the listening port's SSL_CTX, so the callback's registry outlives every handshake.
struct RegistryRef : detail::Attachment {
  std::shared_ptr<SniContext::Registry> registry;
};

// The selected domain, owned by the SSL.
void freeDomain(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*data*/, int /*index*/, long /*argl*/,
                void* /*argp*/) {
  delete static_cast<std::string*>(ptr);
}

int dupDomain(CRYPTO_EX_DATA* /*to*/, const CRYPTO_EX_DATA* /*from*/, void** from_d, int /*index*/,
              long /*argl*/, void* /*argp*/) {
  auto** slot = reinterpret_cast<std::string**>(from_d);
  if (*slot) *slot = new (std::nothrow) std::string(**slot);
  return 1;
}

int domainIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, &dupDomain, &freeDomain);
  return index;
}

bool setSelectedDomain(SSL* ssl, const std::string& domain) {
  const int index = domainIndex();
  if (index < 0) return false;
  auto* value = new (std::nothrow) std::string(domain);
  if (!value) return false;
  delete static_cast<std::string*>(SSL_get_ex_data(ssl, index));
  if (!SSL_set_ex_data(ssl, index, value)) {
    delete value;
    return false;
  }
  return true;
}

// Moves `ssl` onto `ctx`. SSL_set_SSL_CTX swaps only the certificate, key and session id context;
// everything SSL_new copied from the listening port's context is copied again from the domain's,
// or the port's client-verification mode and minimum version would apply to every domain.
bool switchContext(SSL* ssl, SSL_CTX* ctx) {
  if (!SSL_set_SSL_CTX(ssl, ctx)) return false;
  SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
  if (!SSL_set1_param(ssl, SSL_CTX_get0_param(ctx))) return false;
  SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(ctx));
  if (!SSL_set_min_proto_version(ssl, SSL_CTX_get_min_proto_version(ctx)) ||
      !SSL_set_max_proto_version(ssl, SSL_CTX_get_max_proto_version(ctx))) {
    return false;
  }
  SSL_set_options(ssl, SSL_CTX_get_options(ctx));
  // The client CA list, the verification store and the ALPN callback are read from the SSL's
  // current context, which is now the domain's.
  return true;
}

int onClientHello(SSL* ssl, int* alert, void* arg) noexcept {
  try {
    const auto& registry = *static_cast<RegistryRef*>(arg)->registry;
    const unsigned char* body = nullptr;
    std::size_t length = 0;
    std::string sni;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &body, &length) == 1) {
      Result<std::string> name = parseServerNameExtension({body, length});
      if (!name) {
        *alert = SSL_AD_DECODE_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
      }
      sni = util::toLower(*name);
    }
    std::optional<SniContext::Registry::Selection> selection = registry.select(sni);
    if (!selection) {
      *alert = SSL_AD_UNRECOGNIZED_NAME;
      return SSL_CLIENT_HELLO_ERROR;
    }
    if (!switchContext(ssl, selection->config->context().get()) ||
        !setSelectedDomain(ssl, selection->domain)) {
      *alert = SSL_AD_INTERNAL_ERROR;
      return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
  } catch (...) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
}

std::string joinNames(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) {
    if (!text.empty()) text += ", ";
    text += util::quote(name);
  }
  return text.empty() ? "none" : text;
}

}  // namespace

Result<std::shared_ptr<SniContext>> SniContext::create() {
  detail::SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return detail::opensslError("creating the SNI context");
  // Only the ClientHello callback runs under this context; the domain's settings replace these.
  if (!SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION)) {
    return detail::opensslError("setting the minimum TLS version");
  }
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  std::shared_ptr<SniContext> sni(new SniContext());
  sni->registry_ = std::make_shared<Registry>();
  auto ref = std::make_unique<RegistryRef>();
  ref->registry = sni->registry_;
  RegistryRef* ref_ptr = ref.get();
  if (!detail::attach(ctx.get(), std::move(ref))) {
    return detail::opensslError("attaching the domain registry to the SNI context");
  }
  SSL_CTX_set_client_hello_cb(ctx.get(), &onClientHello, ref_ptr);
  sni->context_ = std::move(ctx);
  ERR_clear_error();
  return sni;
}

SniContext::~SniContext() = default;

Status SniContext::add(std::string domain, std::shared_ptr<const ServerConfig> config) {
  if (!domain.empty() && domain.back() == '.') domain.pop_back();
  domain = util::toLower(domain);
  if (!isDnsName(domain, /*allow_wildcard=*/true)) {
    return Error{"SNI domain " + util::quote(domain) + " is not a DNS name"};
  }
  if (!config) return Error{"SNI domain " + util::quote(domain) + ": no configuration given"};
  if (!config->covers(domain)) {
    return Error{"the certificate for " + util::quote(config->subject()) +
                 " (names: " + joinNames(config->names()) + ") does not cover the SNI domain " +
                 util::quote(domain)};
  }
  std::lock_guard lock(registry_->mutex);
  auto [entry, inserted] = registry_->domains.try_emplace(std::move(domain));
  if (inserted) entry->second.order = registry_->next_order++;
  entry->second.config = std::move(config);
  return Ok{};
}

bool SniContext::remove(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  const std::string key = util::toLower(domain);
  std::lock_guard lock(registry_->mutex);
  return registry_->domains.erase(key) > 0;
}

std::size_t SniContext::size() const {
  std::lock_guard lock(registry_->mutex);
  return registry_->domains.size();
}

std::string SniContext::sniOf(const SSL* ssl) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  return name ? util::toLower(name) : std::string();
}

std::string SniContext::selectedDomain(const SSL* ssl) {
  const int index = domainIndex();
  if (index < 0) return {};
  const auto* domain = static_cast<const std::string*>(SSL_get_ex_data(ssl, index));
  return domain ? *domain : std::string();
}

Result<std::string> parseServerNameExtension(std::span<const uint8_t> body) {
  constexpr uint8_t kHostName = 0;
  auto read16 = [&](std::size_t at) {
    return static_cast<std::size_t>(body[at] << 8 | body[at + 1]);
  };
  if (body.size() < 2) return Error{"server_name extension: shorter than its length field"};
  const std::size_t list_length = read16(0);
  if (list_length != body.size() - 2 || list_length == 0) {
    return Error{"server_name extension: list length " + std::to_string(list_length) +
                 " does not match the " + std::to_string(body.size() - 2) + " bytes that follow"};
  }
  std::optional<std::string> host_name;
  for (std::size_t at = 2; at < body.size();) {
    if (body.size() - at < 3) return Error{"server_name extension: truncated entry"};
    const uint8_t type = body[at];
    const std::size_t length = read16(at + 1);
    at += 3;
    if (length > body.size() - at) return Error{"server_name extension: truncated name"};
    if (type == kHostName) {
      if (host_name) return Error{"server_name extension: more than one host_name"};
      if (length == 0) return Error{"server_name extension: empty host_name"};
      host_name.emplace(reinterpret_cast<const char*>(body.data() + at), length);
    }
    at += length;
  }
  return host_name.value_or(std::string());
}

}  // namespace selium::net::tls
