/* The 16-byte singleton id of a name, as the SDK's selium::singletonId computes it, so the host
 * finds the singletons the system modules register ("selium.atlas", "selium.switchboard"): two
 * 64-bit FNV-1a hashes of the name's bytes with different offset bases, each little-endian.
 * Not a secret and not collision-proof against an adversary: a singleton is found by its name. */
#ifndef SELIUM_ABI_SINGLETON_ID_H
#define SELIUM_ABI_SINGLETON_ID_H

#include <stddef.h>
#include <stdint.h>

static inline void selium_singleton_id(const char* name, size_t len, uint8_t out[16]) {
  uint64_t a = 0xcbf29ce484222325ull;
  uint64_t b = 0x84222325cbf29ce4ull;
  for (size_t i = 0; i < len; ++i) {
    a = (a ^ (uint8_t)name[i]) * 0x100000001b3ull;
    b = (b ^ (uint8_t)name[i]) * 0x100000001b3ull;
  }
  for (int i = 0; i < 8; ++i) {
    out[i] = (uint8_t)(a >> (8 * i));
    out[i + 8] = (uint8_t)(b >> (8 * i));
  }
}

#endif /* SELIUM_ABI_SINGLETON_ID_H */
