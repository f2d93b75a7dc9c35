// The Remote Client's access policy: which verified clients (by certificate common name) get a
// session, and what each session may do. Plain C++ (no SDK): built into the guest and into the
// native unit test (src/control/CMakeLists.txt). Grammar and meaning: docs/control-plane.md.
//
//   client.localhost=* viewer=all-processes deployer=ProcessLifecycle+ChannelReader
//
// Entries are separated by spaces or ';', grants by '+' or ',' (a module spec's args cannot
// hold ';' or ',', so write spaces and '+' there).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace selium::remote {

// What one client may do. A process it starts gets only capabilities listed here (and held by
// the server); it sees (lists, follows, stops) the processes its own name started, or every
// process the server started with `all_processes`.
struct SessionRights {
  std::string name;                    // the client's certificate CN
  bool all_capabilities = false;       // "*": every capability the server holds
  std::vector<uint32_t> capabilities;  // SELIUM_CAP_* ids, when not all_capabilities
  bool all_processes = false;          // "*" or "all-processes"

  bool allows(uint32_t capability) const;
};

class Policy {
 public:
  // Parses `text`; empty text is "*=*" (every client the work dir's CA signed is trusted fully).
  // An error names the entry and what is wrong with it.
  static std::optional<Policy> parse(std::string_view text, std::string& error);

  // The session for a client name: its own entry, else the "*" entry, else none (refused).
  std::optional<SessionRights> sessionFor(std::string_view client_name) const;

 private:
  struct Entry {
    std::string name;  // "*": any other client
    SessionRights rights;
  };
  std::vector<Entry> entries_;
};

// The CN of an RFC 4514 subject ("CN=client.localhost,O=Selium" -> "client.localhost"; escaped
// characters unescaped); empty if it has none.
std::string commonName(std::string_view subject);

}  // namespace selium::remote
