/* Capability ids shared by the host and guests. The numbers are part of the guest ABI: never
 * renumber an entry; add new ones at the end. Freestanding C: no includes beyond <stdint.h>. */
#ifndef SELIUM_ABI_CAPABILITIES_H_
#define SELIUM_ABI_CAPABILITIES_H_

#include <stdint.h>

/* X(Name, id): every capability, in id order. Expanded by the host (names, parsing, checks) and
 * by the SDK. */
#define SELIUM_CAPABILITIES(X) \
  X(SessionLifecycle, 0)       \
  X(ChannelLifecycle, 1)       \
  X(ChannelReader, 2)          \
  X(ChannelWriter, 3)          \
  X(ProcessLifecycle, 4)       \
  X(NetQuicBind, 5)            \
  X(NetQuicAccept, 6)          \
  X(NetQuicConnect, 7)         \
  X(NetQuicRead, 8)            \
  X(NetQuicWrite, 9)           \
  X(NetHttpBind, 10)           \
  X(NetHttpAccept, 11)         \
  X(NetHttpConnect, 12)        \
  X(NetHttpRead, 13)           \
  X(NetHttpWrite, 14)          \
  X(NetHttpsBind, 15)          \
  X(NetHttpsAccept, 16)        \
  X(NetHttpsConnect, 17)       \
  X(NetHttpsRead, 18)          \
  X(NetHttpsWrite, 19)         \
  X(NetTlsServerConfig, 20)    \
  X(NetTlsClientConfig, 21)    \
  X(SingletonRegistry, 22)     \
  X(SingletonLookup, 23)       \
  X(TimeRead, 24)

typedef uint32_t selium_capability_t;

enum {
#define SELIUM_CAPABILITY_ENUM_(name, id) SELIUM_CAP_##name = id,
  SELIUM_CAPABILITIES(SELIUM_CAPABILITY_ENUM_)
#undef SELIUM_CAPABILITY_ENUM_
      SELIUM_CAPABILITY_COUNT
};

#endif /* SELIUM_ABI_CAPABILITIES_H_ */
