/* Error codes of the guest ABI. A hostcall returns >= 0 on success and -code on failure. The
 * codes say what a guest can do next; the last_error hostcall gives the human-readable detail.
 * Never renumber an entry. Freestanding C. */
#ifndef SELIUM_ABI_ERRORS_H_
#define SELIUM_ABI_ERRORS_H_

/* X(Name, code, description) */
#define SELIUM_ERRORS(X)                                                                        \
  X(WouldBlock, 1, "not ready yet; the waker passed will fire when it may be")                  \
  X(PermissionDenied, 2, "the process lacks the capability this hostcall needs")                \
  X(InvalidHandle, 3, "no such handle, a closed one, or a handle of another kind")              \
  X(InvalidArgument, 4, "an argument is malformed or out of its range")                         \
  X(OutOfBounds, 5, "a pointer and length do not lie inside the guest's memory")                \
  X(NotFound, 6, "the named thing does not exist")                                              \
  X(AlreadyExists, 7, "the named thing exists already")                                         \
  X(Closed, 8, "the other side has closed")                                                     \
  X(TooLarge, 9, "the data does not fit the destination or a size limit")                       \
  X(LimitExceeded, 10, "a per-process limit was reached (handles, memory, ...)")                \
  X(Internal, 11, "the host failed; see last_error")                                            \
  X(Unsupported, 12, "the operation is not supported for this resource or configuration")       \
  X(Dropped, 13, "the channel was full and drops frames when full: this one was discarded")     \
  X(Lagged, 14, "a weak reader fell behind and lost frames; it continues from the oldest held") \
  X(EndOfStream, 15, "the channel was drained and every frame in it has been read")

enum {
#define SELIUM_ERROR_ENUM_(name, code, text) SELIUM_ERR_##name = code,
  SELIUM_ERRORS(SELIUM_ERROR_ENUM_)
#undef SELIUM_ERROR_ENUM_
};

#endif /* SELIUM_ABI_ERRORS_H_ */
