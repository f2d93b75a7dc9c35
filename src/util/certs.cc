// `generate-certs` with OpenSSL 3: builds the CA, server and client credentials in memory, then
// writes all six files through temporary files and renames, so a failure never leaves half a set.
#include "util/certs.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

#include "util/strings.h"

namespace selium::util {
namespace {

namespace fs = std::filesystem;
using util::quote;

constexpr const char* kCurve = "P-256";
// RFC 5280 caps serials at 20 octets; 159 bits with the top bit set is always positive and
// always encodes in exactly 20.
constexpr int kSerialBits = 159;
// Back-dating not-before absorbs clock skew between the machine that generates and the one that
// verifies.
constexpr long kClockSkewSeconds = 60 * 60;
constexpr int kCaValidityDays = 3650;  // ten years, give or take the leap days
// The longest lifetime Apple platforms accept for a TLS leaf from a private CA.
constexpr int kLeafValidityDays = 825;
// ub-common-name in RFC 5280; OpenSSL refuses a longer CN.
constexpr std::size_t kMaxCommonNameChars = 64;
constexpr mode_t kKeyMode = 0600;
constexpr mode_t kCertMode = 0644;

// The output files in the order generateCerts returns them.
constexpr std::array<std::string_view, 6> kFileNames = {
    "ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key",
};

template <auto free_fn>
struct Free {
  template <typename T>
  void operator()(T* p) const {
    free_fn(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Free<X509_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, Free<BN_free>>;
using BioPtr = std::unique_ptr<BIO, Free<BIO_free_all>>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, Free<X509_EXTENSION_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, Free<GENERAL_NAMES_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, Free<GENERAL_NAME_free>>;
using Asn1StringPtr = std::unique_ptr<ASN1_STRING, Free<ASN1_STRING_free>>;

// An Error naming the failed step, with everything on OpenSSL's (thread-local) error queue; the
// queue is left empty so the next step's message carries only its own errors.
Error opensslError(std::string_view step) {
  std::string message = std::string(step) + " failed";
  const char* separator = ": ";
  std::array<char, 256> text;
  while (unsigned long code = ERR_get_error()) {
    ERR_error_string_n(code, text.data(), text.size());
    message += separator;
    message += text.data();
    separator = "; ";
  }
  return Error{std::move(message)};
}

Error systemError(std::string_view step, int error_number) {
  return Error{std::string(step) +
               " failed: " + std::error_code(error_number, std::generic_category()).message()};
}

// --- Input validation -------------------------------------------------------------------------

// C0 controls, DEL, and C1 controls (U+0080..U+009F, which UTF-8 encodes as C2 80..C2 9F).
bool hasControlCharacters(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) return true;
    if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
      return true;
    }
  }
  return false;
}

// Code points in valid UTF-8: every byte that is not a continuation byte starts one.
std::size_t codePointCount(std::string_view text) {
  std::size_t count = 0;
  for (char c : text) count += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  return count;
}

// The address bytes of an IPv4 or IPv6 literal; nullopt for anything else.
std::optional<std::string> ipAddressBytes(std::string_view text) {
  std::string terminated(text);
  std::array<unsigned char, 16> bytes;
  if (inet_pton(AF_INET, terminated.c_str(), bytes.data()) == 1) {
    return std::string(reinterpret_cast<const char*>(bytes.data()), 4);
  }
  if (inet_pton(AF_INET6, terminated.c_str(), bytes.data()) == 1) {
    return std::string(reinterpret_cast<const char*>(bytes.data()), 16);
  }
  return std::nullopt;
}

// A dNSName SAN is an IA5String that clients compare label by label, so anything beyond
// letters, digits, '-', '_' and non-empty dot-separated labels would yield a certificate no
// client accepts.
bool isDnsName(std::string_view name) {
  if (name.size() > 253 || name.front() == '.' || name.back() == '.') return false;
  char previous = '\0';
  for (char c : name) {
    bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_' || c == '.';
    if (!allowed || (c == '.' && previous == '.')) return false;
    previous = c;
  }
  return true;
}

void checkCommonName(std::string_view option, std::string_view value,
                     std::vector<std::string>& errors) {
  if (value.empty()) {
    errors.push_back(std::string(option) + " must not be empty");
  } else if (hasControlCharacters(value)) {
    errors.push_back(std::string(option) + " " + quote(value) + " contains control characters");
  } else if (!util::isValidUtf8(value)) {
    errors.push_back(std::string(option) + " " + quote(value) + " is not valid UTF-8");
  } else if (codePointCount(value) > kMaxCommonNameChars) {
    errors.push_back(std::string(option) + " " + quote(value) + " is longer than " +
                     std::to_string(kMaxCommonNameChars) + " characters");
  }
}

void checkHostName(std::string_view option, std::string_view value,
                   std::vector<std::string>& errors) {
  std::size_t before = errors.size();
  checkCommonName(option, value, errors);
  if (errors.size() == before && !ipAddressBytes(value) && !isDnsName(value)) {
    errors.push_back(std::string(option) + " " + quote(value) +
                     " is neither a DNS name (letters, digits, '-', '_', dot-separated labels) "
                     "nor an IP address");
  }
}

// All input errors at once, so one run shows everything to fix.
Status validate(const CertOptions& options) {
  std::vector<std::string> errors;
  if (options.output_dir.empty()) errors.push_back("--output-dir must not be empty");
  checkCommonName("--ca-common-name", options.ca_common_name, errors);
  checkHostName("--server-name", options.server_name, errors);
  checkHostName("--client-name", options.client_name, errors);
  if (errors.empty()) return Ok{};
  std::string message = errors[0];
  for (std::size_t i = 1; i < errors.size(); ++i) message += "; " + errors[i];
  return Error{std::move(message)};
}

// --- Certificates -----------------------------------------------------------------------------

// What distinguishes the CA from the two leaves. Extension values use OpenSSL's config syntax;
// they are constants, never built from user input.
struct Profile {
  std::string_view role;  // "CA", "server", "client": names the certificate in errors
  std::string_view common_name;
  int validity_days;
  const char* basic_constraints;
  const char* key_usage;
  const char* extended_key_usage = nullptr;  // nullptr: none
  bool subject_alt_names = false;            // leaves name their host; the CA names none
};

struct Credential {
  X509Ptr cert;
  PkeyPtr key;
};

Result<PkeyPtr> generateKey(std::string_view role) {
  PkeyPtr key(EVP_EC_gen(kCurve));
  if (!key) return opensslError("generating the " + std::string(role) + " key");
  return key;
}

// The helpers below return false with the detail on OpenSSL's error queue; issue() names the step
// and drains it.

[[nodiscard]] bool setSerialNumber(X509* cert) {
  BignumPtr serial(BN_new());
  return serial && BN_rand(serial.get(), kSerialBits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) &&
         BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert));
}

[[nodiscard]] bool setValidity(X509* cert, int validity_days) {
  return X509_gmtime_adj(X509_getm_notBefore(cert), -kClockSkewSeconds) &&
         X509_time_adj_ex(X509_getm_notAfter(cert), validity_days, 0, nullptr);
}

// Appends a dNSName or iPAddress entry holding `bytes` (the name's text or the address octets).
[[nodiscard]] bool appendGeneralName(GENERAL_NAMES* names, int type, std::string_view bytes) {
  Asn1StringPtr value(
      ASN1_STRING_type_new(type == GEN_DNS ? V_ASN1_IA5STRING : V_ASN1_OCTET_STRING));
  GeneralNamePtr name(GENERAL_NAME_new());
  if (!value || !name ||
      !ASN1_STRING_set(value.get(), bytes.data(), static_cast<int>(bytes.size()))) {
    return false;
  }
  GENERAL_NAME_set0_value(name.get(), type, value.release());
  if (!sk_GENERAL_NAME_push(names, name.get())) return false;
  name.release();  // owned by `names` now
  return true;
}

// DNS:<name>, or IP:<name> for an address literal; "localhost" also gets both loopback addresses
// so clients that connect to 127.0.0.1 or ::1 directly still match.
[[nodiscard]] bool addSubjectAltNames(X509* cert, std::string_view host) {
  GeneralNamesPtr names(GENERAL_NAMES_new());
  if (!names) return false;
  if (std::optional<std::string> address = ipAddressBytes(host)) {
    if (!appendGeneralName(names.get(), GEN_IPADD, *address)) return false;
  } else {
    if (!appendGeneralName(names.get(), GEN_DNS, host)) return false;
    if (util::equalsIgnoreCase(host, "localhost")) {
      for (std::string_view loopback : {"127.0.0.1", "::1"}) {
        if (!appendGeneralName(names.get(), GEN_IPADD, *ipAddressBytes(loopback))) return false;
      }
    }
  }
  return X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) == 1;
}

// X509_add_ext copies, so the parsed extension is freed here either way.
[[nodiscard]] bool addExtension(X509* cert, X509V3_CTX* context, int nid, const char* value) {
  ExtensionPtr extension(X509V3_EXT_nconf_nid(nullptr, context, nid, value));
  return extension && X509_add_ext(cert, extension.get(), -1);
}

// A fresh key and a certificate for it, signed by `issuer`, or self-signed when `issuer` is null.
Result<Credential> issue(const Profile& profile, const Credential* issuer) {
  const std::string cert_name = "the " + std::string(profile.role) + " certificate";
  Result<PkeyPtr> key = generateKey(profile.role);
  if (!key) return key.error();
  X509Ptr cert(X509_new());
  if (!cert) return opensslError("allocating " + cert_name);
  if (!X509_set_version(cert.get(), X509_VERSION_3)) {
    return opensslError("setting the version of " + cert_name);
  }
  if (!setSerialNumber(cert.get())) {
    return opensslError("choosing a serial number for " + cert_name);
  }
  if (!setValidity(cert.get(), profile.validity_days)) {
    return opensslError("setting the validity period of " + cert_name);
  }

  X509_NAME* subject = X509_get_subject_name(cert.get());
  if (!X509_NAME_add_entry_by_NID(
          subject, NID_commonName, MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(profile.common_name.data()),
          static_cast<int>(profile.common_name.size()), -1, 0)) {
    return opensslError("setting the subject name of " + cert_name);
  }
  X509* signer_cert = issuer ? issuer->cert.get() : cert.get();
  EVP_PKEY* signer_key = issuer ? issuer->key.get() : key->get();
  if (!X509_set_issuer_name(cert.get(), X509_get_subject_name(signer_cert))) {
    return opensslError("setting the issuer name of " + cert_name);
  }
  if (!X509_set_pubkey(cert.get(), key->get())) {
    return opensslError("setting the public key of " + cert_name);
  }

  // The subject key identifier hashes the public key set above; the authority key identifier
  // copies the issuer's, which lets verifiers pick the right CA among same-named ones.
  X509V3_CTX context{};
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, signer_cert, cert.get(), nullptr, nullptr, 0);
  struct Extension {
    int nid;
    const char* value;
  };
  const std::array<Extension, 5> extensions = {{
      {NID_basic_constraints, profile.basic_constraints},
      {NID_key_usage, profile.key_usage},
      {NID_ext_key_usage, profile.extended_key_usage},
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, issuer ? "keyid:always" : nullptr},
  }};
  for (const Extension& extension : extensions) {
    if (extension.value && !addExtension(cert.get(), &context, extension.nid, extension.value)) {
      return opensslError("adding " + std::string(OBJ_nid2ln(extension.nid)) + " " +
                          extension.value + " to " + cert_name);
    }
  }
  if (profile.subject_alt_names && !addSubjectAltNames(cert.get(), profile.common_name)) {
    return opensslError("adding the subject alternative names to " + cert_name);
  }

  if (!X509_sign(cert.get(), signer_key, EVP_sha256())) return opensslError("signing " + cert_name);
  return Credential{std::move(cert), std::move(*key)};
}

// PEM text in a memory BIO. Keys go into a secure-memory BIO, which wipes its buffer when freed.
Result<BioPtr> certificatePem(X509* cert, std::string_view file) {
  BioPtr pem(BIO_new(BIO_s_mem()));
  if (!pem || !PEM_write_bio_X509(pem.get(), cert)) {
    return opensslError("encoding " + std::string(file));
  }
  return pem;
}

Result<BioPtr> privateKeyPem(EVP_PKEY* key, std::string_view file) {
  BioPtr pem(BIO_new(BIO_s_secmem()));
  if (!pem ||
      !PEM_write_bio_PKCS8PrivateKey(pem.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    return opensslError("encoding " + std::string(file));
  }
  return pem;
}

// --- Files ------------------------------------------------------------------------------------

// The complete contents of a file beside its destination, renamed over it by commit(), so a crash
// leaves either the old file or the whole new one. Unlinked on destruction unless committed.
class StagedFile {
 public:
  explicit StagedFile(std::string temp_path) : temp_path_(std::move(temp_path)) {}
  StagedFile(StagedFile&& other) noexcept : temp_path_(std::exchange(other.temp_path_, {})) {}
  StagedFile& operator=(StagedFile&&) = delete;
  ~StagedFile() {
    if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
  }

  Status commit(const fs::path& target) {
    if (::rename(temp_path_.c_str(), target.c_str()) != 0) {
      return systemError("renaming a temporary file to " + quote(target.string()), errno);
    }
    temp_path_.clear();
    return Ok{};
  }

 private:
  std::string temp_path_;  // empty once committed
};

// Closes on every path; close() errors matter only after writing, where stage() checks them.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Writes `contents` to a new temporary file beside `target`, with `mode`, synced to disk.
Result<StagedFile> stage(const fs::path& target, BIO* contents, mode_t mode) {
  std::string step = "writing " + quote(target.string());
  std::string temp_path =
      (target.parent_path() / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
  // mkstemp opens with O_CREAT | O_EXCL and mode 0600, so a key is never readable by anyone else,
  // not even before the fchmod below.
  FileDescriptor fd(::mkstemp(temp_path.data()));
  if (fd.get() < 0) return systemError(step + ": creating a temporary file", errno);
  StagedFile staged(std::move(temp_path));
  // Explicit mode: certificates should be readable whatever the umask, keys never more than 0600.
  if (::fchmod(fd.get(), mode) != 0) return systemError(step + ": setting its mode", errno);

  char* data = nullptr;
  long remaining = BIO_get_mem_data(contents, &data);
  while (remaining > 0) {
    ssize_t written = ::write(fd.get(), data, static_cast<std::size_t>(remaining));
    if (written < 0) {
      if (errno == EINTR) continue;
      return systemError(step, errno);
    }
    data += written;
    remaining -= written;
  }
  if (::fsync(fd.get()) != 0) return systemError(step + ": syncing", errno);
  if (::close(fd.release()) != 0) return systemError(step + ": closing", errno);
  return staged;
}

// Makes the renames durable. Best effort: some file systems cannot sync a directory, and the
// files themselves are complete either way.
void syncDirectory(const fs::path& dir) {
  FileDescriptor fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() >= 0) ::fsync(fd.get());
}

Status checkOutputDir(const fs::path& dir) {
  std::error_code error;
  fs::file_status status = fs::status(dir, error);
  if (fs::exists(status) && !fs::is_directory(status)) {
    return Error{"--output-dir " + quote(dir.string()) + " exists and is not a directory"};
  }
  return Ok{};
}

// Creates the directory and its parents; a no-op when it exists.
Status createOutputDir(const fs::path& dir) {
  std::error_code error;
  if (fs::create_directories(dir, error); error) {
    return Error{"creating --output-dir " + quote(dir.string()) + " failed: " + error.message()};
  }
  return Ok{};
}

// Refuses up front what the final renames could not do cleanly: replace a directory, or replace
// any existing file without --force. Names every offending path so the user sees them all at once.
Status checkTargets(const std::vector<fs::path>& paths, bool force) {
  std::string directories;
  std::string existing;
  for (const fs::path& path : paths) {
    std::error_code error;
    // symlink_status: a dangling symlink is still something the rename would replace.
    fs::file_status status = fs::symlink_status(path, error);
    std::string& list = fs::is_directory(status) ? directories : existing;
    if (fs::exists(status)) list += (list.empty() ? "" : ", ") + quote(path.string());
  }
  if (!directories.empty()) {
    return Error{"cannot write certificate files over directories: " + directories};
  }
  if (!existing.empty() && !force) {
    return Error{"refusing to overwrite existing " + existing + "; pass --force to replace them"};
  }
  return Ok{};
}

}  // namespace

Result<std::vector<fs::path>> generateCerts(const CertOptions& options) {
  if (Status valid = validate(options); !valid) return valid.error();
  std::vector<fs::path> paths;
  for (std::string_view name : kFileNames) paths.push_back(options.output_dir / name);

  if (Status dir = checkOutputDir(options.output_dir); !dir) return dir.error();
  if (Status targets = checkTargets(paths, options.force); !targets) return targets.error();

  // Errors left by unrelated earlier calls on this thread would otherwise end up in our messages.
  ERR_clear_error();
  const Profile ca_profile = {
      .role = "CA",
      .common_name = options.ca_common_name,
      .validity_days = kCaValidityDays,
      .basic_constraints = "critical,CA:TRUE,pathlen:0",
      .key_usage = "critical,keyCertSign,cRLSign,digitalSignature",
  };
  // digitalSignature only: keyEncipherment is meaningless for ECDSA keys (RFC 5480, section 3).
  const Profile server_profile = {
      .role = "server",
      .common_name = options.server_name,
      .validity_days = kLeafValidityDays,
      .basic_constraints = "critical,CA:FALSE",
      .key_usage = "critical,digitalSignature",
      .extended_key_usage = "serverAuth",
      .subject_alt_names = true,
  };
  const Profile client_profile = {
      .role = "client",
      .common_name = options.client_name,
      .validity_days = kLeafValidityDays,
      .basic_constraints = "critical,CA:FALSE",
      .key_usage = "critical,digitalSignature",
      .extended_key_usage = "clientAuth",
      .subject_alt_names = true,
  };
  Result<Credential> ca = issue(ca_profile, nullptr);
  if (!ca) return ca.error();
  Result<Credential> server = issue(server_profile, &*ca);
  if (!server) return server.error();
  Result<Credential> client = issue(client_profile, &*ca);
  if (!client) return client.error();

  struct Output {
    Result<BioPtr> pem;
    mode_t mode;
  };
  std::array<Output, 6> outputs = {{
      {certificatePem(ca->cert.get(), kFileNames[0]), kCertMode},
      {privateKeyPem(ca->key.get(), kFileNames[1]), kKeyMode},
      {certificatePem(server->cert.get(), kFileNames[2]), kCertMode},
      {privateKeyPem(server->key.get(), kFileNames[3]), kKeyMode},
      {certificatePem(client->cert.get(), kFileNames[4]), kCertMode},
      {privateKeyPem(client->key.get(), kFileNames[5]), kKeyMode},
  }};
  for (const Output& output : outputs) {
    if (!output.pem) return output.pem.error();
  }

  // Only now touch the file system: a failure above leaves no trace.
  if (Status dir = createOutputDir(options.output_dir); !dir) return dir.error();
  std::vector<StagedFile> staged;
  staged.reserve(outputs.size());
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    Result<StagedFile> file = stage(paths[i], outputs[i].pem->get(), outputs[i].mode);
    if (!file) return file.error();  // `staged` unlinks the temporary files written so far
    staged.push_back(std::move(file).value());
  }
  for (std::size_t i = 0; i < staged.size(); ++i) {
    if (Status committed = staged[i].commit(paths[i]); !committed) {
      std::string message = committed.error().message;
      if (i > 0) {
        message += "; already replaced:";
        for (std::size_t j = 0; j < i; ++j) message += " " + quote(paths[j].string());
        message += " (the set is inconsistent; rerun with --force)";
      }
      return Error{std::move(message)};
    }
  }
  syncDirectory(options.output_dir);
  return paths;
}

}  // namespace selium::util
