// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
// counter-based generator. Each (counter, key) pair maps to four independent 32-bit
// words, so any element of a random stream is computed directly from its index: the same
// values on any number of threads, and on the GPU (the header compiles under nvcc).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define FIBRIL_HOST_DEVICE __host__ __device__
#else
#define FIBRIL_HOST_DEVICE
#endif

namespace fibril {

struct Philox4x32 {
  uint32_t v[4];
};

FIBRIL_HOST_DEVICE inline Philox4x32 philox4x32_10(Philox4x32 ctr, uint32_t key0, uint32_t key1) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key0 += kWeyl0;
      key1 += kWeyl1;
    }
    const uint64_t p0 = uint64_t{kMul0} * ctr.v[0], p1 = uint64_t{kMul1} * ctr.v[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    ctr = Philox4x32{{hi1 ^ ctr.v[1] ^ key0, lo1, hi0 ^ ctr.v[3] ^ key1, lo0}};
  }
  return ctr;
}

// The convention every random op follows: the 64-bit seed is the key; the counter is the
// 64-bit index of a block of four outputs plus a 64-bit subsequence (stream) number.
FIBRIL_HOST_DEVICE inline Philox4x32 philox_block(uint64_t seed, uint64_t subsequence, uint64_t block) {
  Philox4x32 ctr{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                  static_cast<uint32_t>(subsequence), static_cast<uint32_t>(subsequence >> 32)}};
  return philox4x32_10(ctr, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// A uniform float in [0, 1) from the top 24 bits: every value is exactly representable.
FIBRIL_HOST_DEVICE inline float uint32_to_unit_float(uint32_t x) { return (x >> 8) * (1.0f / 16777216.0f); }

}  // namespace fibril
