// Coding message types as FlatBuffers tables (the Switchboard examples' encode and decode).
// Header-only: each example includes it by a relative path.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <flatbuffers/flatbuffers.h>

namespace examples {

// The finished buffer of `builder`, as a message's bytes.
inline std::vector<uint8_t> bytesOf(const flatbuffers::FlatBufferBuilder& builder) {
  return {builder.GetBufferPointer(), builder.GetBufferPointer() + builder.GetSize()};
}

// The root table T of `bytes` once the verifier has checked them (offsets, sizes, alignment);
// null if they are not one. Bytes from a peer are never read before this.
template <typename T>
const T* verifiedRoot(std::span<const uint8_t> bytes) {
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  if (!verifier.VerifyBuffer<T>(nullptr)) return nullptr;
  return flatbuffers::GetRoot<T>(bytes.data());
}

}  // namespace examples
