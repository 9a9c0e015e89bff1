// Random fills from Philox4x32-10 (core/philox.h's stream convention). Element i of a fill
// reads lane i % 4 of counter block `offset + i / 4` in stream 0, and the same lane of
// stream 1 when it needs 64 bits (float64, randint); nothing else. So the values are the
// same for any thread count or chunking, in both ISA builds (no contraction, see
// CMakeLists.txt; float64 normal's log/sin/cos are libm's, chosen at run time, not by compile
// flags), and a CUDA kernel computing the same words matches them.
//
// Philox runs on kBatch blocks at a time (AVX2: 8 blocks per register, vpmuludq for the
// 32x32 -> 64-bit products); each distribution then maps the words of a batch to elements:
//   uniform  float32: top 24 bits * 2^-24; float64: top 53 of the 64 bits * 2^-53; then
//            low + u (high - low), capped below high (rounding could otherwise reach it).
//   normal   Box-Muller on the lanes (0, 1) and (2, 3) of a block: u1 in (0, 1], u2 in
//            [0, 1), r = sqrt(-2 ln u1); even elements take r cos(2 pi u2), odd r sin. float32
//            with its own branch-free log and sincos (vectorized, the same bits in both
//            builds), float64 with libm's.
//   bernoulli / dropout: the 32-bit word w gives 1 (keep) when w < p 2^32: exact in p's
//            double, so p = 0 never and p = 1 always fires.
//   randint  low + floor(bits64 * range / 2^64) (multiply-shift): no rejection, so each value
//            has probability within range / 2^64 of 1 / range (a bias below 2^-32 for every
//            range < 2^32).
//
// Measured (AMD EPYC, 2 cores, AVX2; bench/bench_random.py, 16M float32, fresh output per
// call): rand 24.6 ms (2.7 GB/s written; numpy's default_rng 3.3x, torch 5.5x slower), randn
// 92 ms (numpy 2.9x, torch 1.7x slower). One thread, in place: uniform_ 2.7 ns/element,
// normal_ 5.8 ns/element; two threads halve both.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#ifdef __AVX2__
#include <immintrin.h>
#endif

#include "core/parallel.h"
#include "cpu/kernels.h"

namespace fibril::cpu::FIBRIL_ISA {
namespace {

constexpr int kBatch = 16;                 // blocks per Philox batch: 64 elements
constexpr int kWords = 4 * kBatch;
constexpr int64_t kGrainBatches = 512;     // 32K elements per thread at least
constexpr double kTwo32 = 4294967296.0;

// words[4 j + lane] = lane `lane` of Philox block (first + j) of `stream`, keyed by seed:
// philox4x32_10's rounds over kBatch counters at once. The scalar loop is the generic build
// (and the AVX2 build's reference in the tests: the words are integers, so equal bits).
#ifdef __AVX2__
// (hi, lo) 32-bit halves of the 8 products m * x.
inline void mulhilo(__m256i x, __m256i m, __m256i& hi, __m256i& lo) {
  const __m256i even = _mm256_mul_epu32(x, m), odd = _mm256_mul_epu32(_mm256_srli_epi64(x, 32), m);
  lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

void philox_words(uint64_t seed, uint64_t stream, uint64_t first, uint32_t* words) {
  const __m256i mul0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m256i mul1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
  for (int g = 0; g < kBatch; g += 8) {
    alignas(32) uint32_t lo32[8], hi32[8];
    for (int j = 0; j < 8; ++j) {
      const uint64_t block = first + static_cast<uint64_t>(g + j);
      lo32[j] = static_cast<uint32_t>(block);
      hi32[j] = static_cast<uint32_t>(block >> 32);
    }
    __m256i c0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(lo32));
    __m256i c1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(hi32));
    __m256i c2 = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream)));
    __m256i c3 = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream >> 32)));
    uint32_t key0 = static_cast<uint32_t>(seed), key1 = static_cast<uint32_t>(seed >> 32);
    for (int round = 0; round < 10; ++round) {
      __m256i hi0, lo0, hi1, lo1;
      mulhilo(c0, mul0, hi0, lo0);
      mulhilo(c2, mul1, hi1, lo1);
      c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32(static_cast<int>(key0)));
      c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32(static_cast<int>(key1)));
      c1 = lo1;
      c3 = lo0;
      key0 += 0x9E3779B9u;
      key1 += 0xBB67AE85u;
    }
    // 4 x 8 transpose: 128-bit half h of u[b] holds block b + 4 h's four lanes.
    const __m256i t0 = _mm256_unpacklo_epi32(c0, c1), t1 = _mm256_unpackhi_epi32(c0, c1);
    const __m256i t2 = _mm256_unpacklo_epi32(c2, c3), t3 = _mm256_unpackhi_epi32(c2, c3);
    const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    __m256i* out = reinterpret_cast<__m256i*>(words + 4 * g);
    _mm256_store_si256(out, _mm256_permute2x128_si256(u0, u1, 0x20));
    _mm256_store_si256(out + 1, _mm256_permute2x128_si256(u2, u3, 0x20));
    _mm256_store_si256(out + 2, _mm256_permute2x128_si256(u0, u1, 0x31));
    _mm256_store_si256(out + 3, _mm256_permute2x128_si256(u2, u3, 0x31));
  }
}
#else
void philox_words(uint64_t seed, uint64_t stream, uint64_t first, uint32_t* words) {
  for (int j = 0; j < kBatch; ++j) {
    const uint64_t block = first + static_cast<uint64_t>(j);
    uint32_t c0 = static_cast<uint32_t>(block), c1 = static_cast<uint32_t>(block >> 32);
    uint32_t c2 = static_cast<uint32_t>(stream), c3 = static_cast<uint32_t>(stream >> 32);
    uint32_t key0 = static_cast<uint32_t>(seed), key1 = static_cast<uint32_t>(seed >> 32);
    for (int round = 0; round < 10; ++round) {
      const uint64_t p0 = uint64_t{0xD2511F53u} * c0, p1 = uint64_t{0xCD9E8D57u} * c2;
      c0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ key0;
      c2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ key1;
      c1 = static_cast<uint32_t>(p1);
      c3 = static_cast<uint32_t>(p0);
      key0 += 0x9E3779B9u;
      key1 += 0xBB67AE85u;
    }
    words[4 * j] = c0;
    words[4 * j + 1] = c1;
    words[4 * j + 2] = c2;
    words[4 * j + 3] = c3;
  }
}
#endif

// Calls fill(first element, count, stream-0 words, stream-1 words) per batch of the fill;
// the stream-1 words are computed only when `wide`.
template <typename Fill>
void for_batches(const RandomArgs& a, bool wide, Fill&& fill) {
  const int64_t batches = (a.n + kWords - 1) / kWords;
  parallel_for(0, batches, kGrainBatches, [&](int64_t lo, int64_t hi) {
    alignas(32) uint32_t w0[kWords], w1[kWords] = {};
    for (int64_t b = lo; b < hi; ++b) {
      const uint64_t first = a.offset + static_cast<uint64_t>(b) * kBatch;
      philox_words(a.seed, 0, first, w0);
      if (wide) philox_words(a.seed, 1, first, w1);
      const int64_t e0 = b * kWords;
      fill(e0, static_cast<int>(std::min<int64_t>(kWords, a.n - e0)), w0, w1);
    }
  });
}

uint64_t bits64(const uint32_t* w0, const uint32_t* w1, int k) {
  return uint64_t{w1[k]} << 32 | w0[k];
}

// A uniform in [0, 1): 24 random bits for float, 53 for double; exactly representable.
template <typename T>
T unit(const uint32_t* w0, const uint32_t* w1, int k) {
  if constexpr (std::is_same_v<T, float>) return static_cast<float>(w0[k] >> 8) * (1.0f / 16777216.0f);
  else return static_cast<double>(bits64(w0, w1, k) >> 11) * (1.0 / 9007199254740992.0);
}

template <typename T>
void uniform(const RandomArgs& a) {
  T* out = reinterpret_cast<T*>(a.out);
  const T low = static_cast<T>(a.a), width = static_cast<T>(a.b - a.a);
  const T below_high = std::nextafter(static_cast<T>(a.b), low);
  for_batches(a, std::is_same_v<T, double>, [&](int64_t e0, int count, const uint32_t* w0, const uint32_t* w1) {
    for (int k = 0; k < count; ++k) out[e0 + k] = std::min(low + unit<T>(w0, w1, k) * width, below_high);
  });
}

// ln(j 2^-24) for an integer j in [1, 2^24]: Cephes' logf (about 1 ulp) on the exact float j,
// written with selects only, so that the AVX2 build vectorizes it into the generic build's bits.
inline float log_unit(uint32_t j) {
  const float x = static_cast<float>(j);
  int32_t bits;
  std::memcpy(&bits, &x, 4);
  const int32_t mant = (bits & 0x007FFFFF) | 0x3F000000;  // x = m 2^e, m in [0.5, 1)
  float m;
  std::memcpy(&m, &mant, 4);
  const int32_t low = mant < 0x3F3504F3;  // m < sqrt(1/2): use 2m, e - 1 (an exact multiply, no branch)
  const float e = static_cast<float>((bits >> 23) - 126 - 24 - low);
  m = m * static_cast<float>(1 + low) - 1.0f;
  const float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z - 2.12194440e-4f * e - 0.5f * z;
  return (m + y) + 0.693359375f * e;
}

// sin and cos of the angle 2 pi i / 2^24 for a 24-bit i. The reduction is exact in turns:
// quadrant q = round(4 i / 2^24), phi = (i - q 2^22) pi / 2^23 in [-pi/4, pi/4], then
// Cephes' sinf/cosf polynomials (about 1 ulp) and the quadrant's signs and swap.
inline void sincos_turns(uint32_t i, float& s, float& c) {
  const uint32_t q = (i + (1u << 21)) >> 22;
  const float x = static_cast<float>(static_cast<int32_t>(i - (q << 22))) * (1.57079632679f / 4194304.0f);
  const float z = x * x;
  const float sn = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * x + x;
  const float cs = ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) * z * z -
                   0.5f * z + 1.0f;
  // Odd quadrants swap (sin(phi + pi/2) = cos(phi), ...): exact multiplies by 0 and 1 rather
  // than selects, which GCC would leave as branches here.
  const float swap = static_cast<float>(q & 1), keep = 1.0f - swap;
  const float sign_s = static_cast<float>(1 - static_cast<int32_t>(q & 2));
  const float sign_c = static_cast<float>(1 - static_cast<int32_t>((q + 1) & 2));
  s = sign_s * (keep * sn + swap * cs);
  c = sign_c * (keep * cs + swap * sn);
}

void normal_f32(const RandomArgs& a) {
  float* out = reinterpret_cast<float*>(a.out);
  const float mean = static_cast<float>(a.a), stddev = static_cast<float>(a.b);
  for_batches(a, false, [&](int64_t e0, int count, const uint32_t* w0, const uint32_t*) {
    alignas(32) float z[kWords];
    for (int k = 0; k < kWords; k += 2) {  // the whole batch: branch-free, vectorized
      const float r = std::sqrt(-2.0f * log_unit((1u << 24) - (w0[k] >> 8)));
      float s, c;
      sincos_turns(w0[k + 1] >> 8, s, c);
      z[k] = r * c;
      z[k + 1] = r * s;
    }
    for (int k = 0; k < count; ++k) out[e0 + k] = mean + stddev * z[k];
  });
}

// float64: libm's log, cos and sin on 53-bit uniforms.
void normal_f64(const RandomArgs& a) {
  double* out = reinterpret_cast<double*>(a.out);
  const double two_pi = 6.283185307179586;
  for_batches(a, true, [&](int64_t e0, int count, const uint32_t* w0, const uint32_t* w1) {
    for (int k = 0; k < count; k += 2) {
      const double u1 = 1 - unit<double>(w0, w1, k), u2 = unit<double>(w0, w1, k + 1);
      const double r = std::sqrt(-2 * std::log(u1)) * a.b, theta = two_pi * u2;
      out[e0 + k] = a.a + r * std::cos(theta);
      if (k + 1 < count) out[e0 + k + 1] = a.a + r * std::sin(theta);
    }
  });
}

template <typename T>
void bernoulli(const RandomArgs& a) {
  T* out = reinterpret_cast<T*>(a.out);
  if (!a.p) {
    const double threshold = a.a * kTwo32;
    for_batches(a, false, [&](int64_t e0, int count, const uint32_t* w0, const uint32_t*) {
      for (int k = 0; k < count; ++k) out[e0 + k] = static_cast<T>(w0[k] < threshold);
    });
    return;
  }
  for_batches(a, false, [&](int64_t e0, int count, const uint32_t* w0, const uint32_t*) {
    for (int k = 0; k < count; ++k) out[e0 + k] = static_cast<T>(w0[k] < a.p[e0 + k] * kTwo32);
  });
}

void randint(const RandomArgs& a) {
  int64_t* out = reinterpret_cast<int64_t*>(a.out);
  const uint64_t low = static_cast<uint64_t>(a.low), range = a.range;
  for_batches(a, true, [&](int64_t e0, int count, const uint32_t* w0, const uint32_t* w1) {
    for (int k = 0; k < count; ++k) {
      const uint64_t bits = bits64(w0, w1, k);
      const uint64_t v = range ? static_cast<uint64_t>((static_cast<unsigned __int128>(bits) * range) >> 64) : bits;
      out[e0 + k] = static_cast<int64_t>(low + v);
    }
  });
}

template <typename T>
void dropout(const RandomArgs& a) {
  const T* x = reinterpret_cast<const T*>(a.x);
  T* out = reinterpret_cast<T*>(a.out);
  T* mask = reinterpret_cast<T*>(a.mask);
  const double keep = 1.0 - a.a, threshold = keep * kTwo32;
  const T scale = keep > 0 ? static_cast<T>(1.0 / keep) : T(0);
  for_batches(a, false, [&](int64_t e0, int count, const uint32_t* w0, const uint32_t*) {
    for (int k = 0; k < count; ++k) {
      const T m = w0[k] < threshold ? scale : T(0);
      mask[e0 + k] = m;
      out[e0 + k] = x[e0 + k] * m;
    }
  });
}

}  // namespace

void random(const RandomArgs& a) {
  if (a.n == 0) return;
  switch (a.kind) {
    case RandomKind::randint:
      randint(a);
      return;
    case RandomKind::bernoulli:
      visit_dtype(a.dtype, [&](auto t) { bernoulli<decltype(t)>(a); });
      return;
    default:
      break;
  }
  visit_dtype(a.dtype, [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_floating_point_v<T>) {
      if (a.kind == RandomKind::uniform) uniform<T>(a);
      else if (a.kind == RandomKind::normal && std::is_same_v<T, float>) normal_f32(a);
      else if (a.kind == RandomKind::normal) normal_f64(a);
      else dropout<T>(a);
    }
  });
}

}  // namespace fibril::cpu::FIBRIL_ISA
