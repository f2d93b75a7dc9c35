// This process's memory as Linux reports it in /proc/self, for tests that check that memory
// returns to a baseline: address space (every wasm memory is a reservation of its maximum size,
// so a leaked one shows there at once), resident memory and the number of mappings.
#pragma once

#include <cstdint>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SELIUM_TESTING_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SELIUM_TESTING_ASAN 1
#endif

#ifdef SELIUM_TESTING_ASAN
#include <sanitizer/allocator_interface.h>
#else
#include <malloc.h>
#endif

namespace selium::testing {

struct MemoryUsage {
  uint64_t vm_size_kib = 0;  // VmSize: all mapped address space, reservations included
  uint64_t vm_rss_kib = 0;   // VmRSS: resident in RAM
  uint64_t mappings = 0;     // lines of /proc/self/maps

  // False if /proc could not be read (the fields are then zero).
  bool valid() const { return vm_size_kib != 0 && vm_rss_kib != 0 && mappings != 0; }
};

inline std::ostream& operator<<(std::ostream& out, const MemoryUsage& usage) {
  return out << "VmSize " << usage.vm_size_kib << " KiB, VmRSS " << usage.vm_rss_kib
             << " KiB, maps " << usage.mappings;
}

// The value of a "Name:   1234 kB" line of /proc/self/status, in KiB (0 if absent).
inline uint64_t procStatusKib(const std::string& status, const std::string& name) {
  std::istringstream lines(status);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.compare(0, name.size() + 1, name + ":") != 0) continue;
    std::istringstream value(line.substr(name.size() + 1));
    uint64_t kib = 0;
    value >> kib;
    return kib;
  }
  return 0;
}

// Hands the memory that the allocator keeps for reuse back to the system, so that resident
// memory shows what is in use: glibc's free lists, or under ASan also its quarantine of freed
// blocks (up to 256 MiB, held to catch use after free: RSS grows by everything freed until it is
// full). A measurement of RSS calls this first.
inline void releaseFreedMemory() {
#ifdef SELIUM_TESTING_ASAN
  __sanitizer_purge_allocator();
#else
  malloc_trim(0);
#endif
}

inline MemoryUsage memoryUsage() {
  MemoryUsage usage;
  {
    std::ifstream in("/proc/self/status");
    std::ostringstream status;
    status << in.rdbuf();
    usage.vm_size_kib = procStatusKib(status.str(), "VmSize");
    usage.vm_rss_kib = procStatusKib(status.str(), "VmRSS");
  }
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) ++usage.mappings;
  return usage;
}

}  // namespace selium::testing
