// float32 exp, exp2, expm1, log, log2, log1p, tanh, sigmoid, erf and gelu (erf and tanh forms,
// with their derivatives), each written once as a template over the lane type V: `float` (the
// scalar twin, used by the generic build, for tails and strided rows) or `__m256` (8 lanes,
// AVX2 + FMA). In the AVX2 build both lane types run the same IEEE operations (fused
// multiply-adds included), so a value gives the same bits whichever path computes it: results
// never depend on chunking or layout.
//
// Algorithms (Cephes-style): exp reduces x = n ln2 + r (Cody-Waite, |r| <= ln2/2), a degree-5
// polynomial for (e^r - 1 - r)/r^2, then scales by 2^n in two steps so subnormal results round
// once and n = 128 does not overflow early. log splits x = 2^e m (m in [sqrt(1/2), sqrt 2)),
// subnormal inputs prescaled by 2^23, degree-8 polynomial in m - 1. log1p = log(u) + (x -
// (u - 1))/u with u = 1 + x; expm1 = 2^n expm1(r) + (2^n - 1); tanh = odd polynomial below
// 0.625, else 1 - 2/(e^2|x| + 1). Specials (+-0, +-inf, NaN) are selected exactly at the end.
// exp_2p64 (x <= 0 only, for softmax, the losses, sigmoid and gelu) keeps exp's reduction and
// polynomial but returns 2^64 e^x with 2^(n + 64) read from the rounding sum's bits: no clamp
// at the top, one scaling multiply, no special-case selects (about 16 operations, not 26);
// callers divide the 2^64 out in a ratio or by one last multiply, so subnormal results still
// round once. sigmoid = {2^64 or e}/(2^64 + e) with e = 2^64 e^-|x|.
// erf: x + x P(x^2) (degree 6) for |x| < 1, else +-(1 - erfc(|x|)) with erfc(a) = e^-a^2 t Q(t),
// t = 1/(1 + a/2), Q of degree 9 (both fitted to erf in float64); e^-a^2 is taken as
// e^-h^2 e^((h - a)(h + a)) with h = a cut to 12 significant bits, so h^2 is exact. gelu =
// x Phi(x) from one form over the whole line: Phi(-|x|) = e^(-x^2/2) t Q(t), t = 1/(1 +
// |x|/(2 sqrt 2)), Q of degree 8 (fitted in float64), x^2 passed to exp_2p64 as an exact sum;
// no erf, no branch pair (about 38 operations, the erf form twice that); its derivative
// shares the exponential. gelu_tanh = x sigmoid(2 sqrt(2/pi)(x + 0.044715 x^3)), the same as
// x/2 (1 + tanh(...)) without its cancellation for x < 0; its derivative s + x s(1 - s) u'
// takes s and s(1 - s) = e/(1 + e)^2 from one exponential.
//
// Accuracy: max |result - exact| in ulps of the exact result (float64 reference), over every
// 97th float32 bit pattern plus specials, subnormals kept (set_flush_denormal(False)); the
// tests sweep every 997th pattern (tests/test_elementwise.py::test_vec_math_ulp). avx2 / generic:
//   exp 1.00 / 0.96, exp2 1.01 / 0.98, expm1 1.43 / 1.53, log 0.81 / 0.81, log2 1.07 / 2.07,
//   log1p 1.44 / 1.44, tanh 1.31 / 1.31, sigmoid 2.28 / 2.28. Specials and signed zeros exact.
// erf, gelu and gelu_tanh: see tests/test_activation.py::test_vec_math_gelu_ulp (and
// test_vec_math_gelu_grad_accuracy), which measure them through the activation kernels
// (figures in csrc/cpu/activation.cpp's header).
// With fibril's default FTZ/DAZ (set_flush_denormal(True)) subnormal inputs read as 0 and
// subnormal results are flushed to 0, as in every other fibril kernel.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace fibril::cpu::FIBRIL_ISA::vm {

// ---- lane primitives: scalar ---------------------------------------------------------

template <typename V>
V splat(float c);
template <>
inline float splat<float>(float c) { return c; }

inline float fmadd(float a, float b, float c) {
#ifdef __FMA__
  return std::fma(a, b, c);  // one vfmadd instruction, as in the vector lanes
#else
  return a * b + c;
#endif
}
inline bool lt(float a, float b) { return a < b; }
inline bool gt(float a, float b) { return a > b; }
inline bool ge(float a, float b) { return a >= b; }
inline bool eq(float a, float b) { return a == b; }
inline bool isnan_(float a) { return a != a; }
inline bool mor(bool a, bool b) { return a || b; }
inline float select(bool m, float a, float b) { return m ? a : b; }
inline float vmin(float a, float b) { return a < b ? a : b; }  // the minps rule: NaN a gives b
inline float vmax(float a, float b) { return a > b ? a : b; }
inline float vabs(float a) { return std::fabs(a); }
inline float copysign_(float mag, float sgn) { return std::copysign(mag, sgn); }
inline int32_t bits(float a) {
  int32_t i;
  std::memcpy(&i, &a, 4);
  return i;
}
inline float from_bits(int32_t i) {
  float a;
  std::memcpy(&a, &i, 4);
  return a;
}
inline int32_t to_int(float a) { return static_cast<int32_t>(a); }  // a is integer-valued
inline float to_float(int32_t i) { return static_cast<float>(i); }

// ---- lane primitives: AVX2 (GCC/Clang vector extensions give + - * / on __m256) -------

#ifdef __AVX2__
template <>
inline __m256 splat<__m256>(float c) { return _mm256_set1_ps(c); }
inline __m256 fmadd(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }
inline __m256 lt(__m256 a, __m256 b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
inline __m256 gt(__m256 a, __m256 b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
inline __m256 ge(__m256 a, __m256 b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
inline __m256 eq(__m256 a, __m256 b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
inline __m256 isnan_(__m256 a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
inline __m256 mor(__m256 a, __m256 b) { return _mm256_or_ps(a, b); }
inline __m256 select(__m256 m, __m256 a, __m256 b) { return _mm256_blendv_ps(b, a, m); }
inline __m256 vmin(__m256 a, __m256 b) { return _mm256_min_ps(a, b); }
inline __m256 vmax(__m256 a, __m256 b) { return _mm256_max_ps(a, b); }
inline __m256 vabs(__m256 a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
inline __m256 copysign_(__m256 mag, __m256 sgn) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  return _mm256_or_ps(_mm256_andnot_ps(sign, mag), _mm256_and_ps(sign, sgn));
}
inline __m256i bits(__m256 a) { return _mm256_castps_si256(a); }
inline __m256 from_bits(__m256i i) { return _mm256_castsi256_ps(i); }
inline __m256i to_int(__m256 a) { return _mm256_cvttps_epi32(a); }
inline __m256 to_float(__m256i i) { return _mm256_cvtepi32_ps(i); }
inline __m256i addc(__m256i a, int32_t c) { return _mm256_add_epi32(a, _mm256_set1_epi32(c)); }
inline __m256i andc(__m256i a, int32_t c) { return _mm256_and_si256(a, _mm256_set1_epi32(c)); }
inline __m256i orc(__m256i a, int32_t c) { return _mm256_or_si256(a, _mm256_set1_epi32(c)); }
inline __m256i shl23(__m256i a) { return _mm256_slli_epi32(a, 23); }
inline __m256i sra1(__m256i a) { return _mm256_srai_epi32(a, 1); }
inline __m256i sra23(__m256i a) { return _mm256_srai_epi32(a, 23); }
inline __m256i sub_i(__m256i a, __m256i b) { return _mm256_sub_epi32(a, b); }
#endif

// ---- lane primitives: AVX-512 (compares give __mmask16 masks) ---------------------------

#ifdef __AVX512F__
template <>
inline __m512 splat<__m512>(float c) { return _mm512_set1_ps(c); }
inline __m512 fmadd(__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); }
inline __mmask16 lt(__m512 a, __m512 b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
inline __mmask16 gt(__m512 a, __m512 b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
inline __mmask16 ge(__m512 a, __m512 b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
inline __mmask16 eq(__m512 a, __m512 b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
inline __mmask16 isnan_(__m512 a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
inline __mmask16 mor(__mmask16 a, __mmask16 b) { return static_cast<__mmask16>(a | b); }
inline __m512 select(__mmask16 m, __m512 a, __m512 b) { return _mm512_mask_blend_ps(m, b, a); }
inline __m512 vmin(__m512 a, __m512 b) { return _mm512_min_ps(a, b); }
inline __m512 vmax(__m512 a, __m512 b) { return _mm512_max_ps(a, b); }
inline __m512 vabs(__m512 a) { return _mm512_andnot_ps(_mm512_set1_ps(-0.0f), a); }
inline __m512 copysign_(__m512 mag, __m512 sgn) {
  const __m512 sign = _mm512_set1_ps(-0.0f);
  return _mm512_or_ps(_mm512_andnot_ps(sign, mag), _mm512_and_ps(sign, sgn));
}
inline __m512i bits(__m512 a) { return _mm512_castps_si512(a); }
inline __m512 from_bits(__m512i i) { return _mm512_castsi512_ps(i); }
inline __m512i to_int(__m512 a) { return _mm512_cvttps_epi32(a); }
inline __m512 to_float(__m512i i) { return _mm512_cvtepi32_ps(i); }
inline __m512i addc(__m512i a, int32_t c) { return _mm512_add_epi32(a, _mm512_set1_epi32(c)); }
inline __m512i andc(__m512i a, int32_t c) { return _mm512_and_si512(a, _mm512_set1_epi32(c)); }
inline __m512i orc(__m512i a, int32_t c) { return _mm512_or_si512(a, _mm512_set1_epi32(c)); }
inline __m512i shl23(__m512i a) { return _mm512_slli_epi32(a, 23); }
inline __m512i sra1(__m512i a) { return _mm512_srai_epi32(a, 1); }
inline __m512i sra23(__m512i a) { return _mm512_srai_epi32(a, 23); }
inline __m512i sub_i(__m512i a, __m512i b) { return _mm512_sub_epi32(a, b); }
#endif
inline int32_t addc(int32_t a, int32_t c) { return a + c; }
inline int32_t andc(int32_t a, int32_t c) { return a & c; }
inline int32_t orc(int32_t a, int32_t c) { return a | c; }
inline int32_t shl23(int32_t a) { return static_cast<int32_t>(static_cast<uint32_t>(a) << 23); }
inline int32_t sra1(int32_t a) { return a >> 1; }
inline int32_t sra23(int32_t a) { return a >> 23; }
inline int32_t sub_i(int32_t a, int32_t b) { return a - b; }

// ---- building blocks -----------------------------------------------------------------

// Round to the nearest integer (ties to even) for |x| < 2^22, the same bits in every lane
// type: adding and subtracting 1.5 * 2^23 leaves no fraction bits.
template <typename V>
inline V round_small(V x) {
  const V magic = splat<V>(12582912.0f);
  return (x + magic) - magic;
}

// x * 2^n for integer-valued n in [-252, 254], one rounding: 2^n is applied as two normal
// factors, so a subnormal or overflowing result rounds only at the second multiply.
template <typename V>
inline V scale_pow2(V x, V n) {
  auto ni = to_int(n);
  auto n1 = sra1(ni);
  auto n2 = sub_i(ni, n1);
  return x * from_bits(shl23(addc(n1, 127))) * from_bits(shl23(addc(n2, 127)));
}

// e^r - 1 for |r| <= ln2/2 (+ rounding slack), as r + r^2 P(r).
template <typename V>
inline V expm1_reduced(V r) {
  V p = splat<V>(1.9875691500e-4f);
  p = fmadd(p, r, splat<V>(1.3981999507e-3f));
  p = fmadd(p, r, splat<V>(8.3334519073e-3f));
  p = fmadd(p, r, splat<V>(4.1665795894e-2f));
  p = fmadd(p, r, splat<V>(1.6666665459e-1f));
  p = fmadd(p, r, splat<V>(5.0000001201e-1f));
  return fmadd(p, r * r, r);
}

// x = n ln2 + r with |r| <= ln2/2; x already clamped to a finite range.
template <typename V>
inline V reduce_ln2(V x, V* n) {
  *n = round_small(x * splat<V>(1.44269504088896341f));
  V r = fmadd(*n, splat<V>(-0.693359375f), x);  // ln2 split hi + lo: n * hi is exact
  return fmadd(*n, splat<V>(2.12194440e-4f), r);
}

// log(1 + f) - f for f in [sqrt(1/2) - 1, sqrt(2) - 1], and f^2 through *z.
template <typename V>
inline V log1p_reduced_tail(V f, V* z) {
  *z = f * f;
  V p = splat<V>(7.0376836292e-2f);
  p = fmadd(p, f, splat<V>(-1.1514610310e-1f));
  p = fmadd(p, f, splat<V>(1.1676998740e-1f));
  p = fmadd(p, f, splat<V>(-1.2420140846e-1f));
  p = fmadd(p, f, splat<V>(1.4249322787e-1f));
  p = fmadd(p, f, splat<V>(-1.6668057665e-1f));
  p = fmadd(p, f, splat<V>(2.0000714765e-1f));
  p = fmadd(p, f, splat<V>(-2.4999993993e-1f));
  p = fmadd(p, f, splat<V>(3.3333331174e-1f));
  return fmadd(*z, splat<V>(-0.5f), p * f * *z);
}

// x = 2^e (1 + f) with 1 + f in [sqrt(1/2), sqrt(2)), for finite x > 0 (subnormals too).
template <typename V>
inline V split_exponent(V x, V* e) {
  const auto sub = lt(x, splat<V>(1.17549435e-38f));
  V xs = select(sub, x * splat<V>(8388608.0f), x);  // 2^23 makes a subnormal normal
  auto b = bits(xs);
  V m = from_bits(orc(andc(b, 0x007fffff), 0x3f000000));  // in [0.5, 1)
  V ex = to_float(addc(sra23(b), -126)) - select(sub, splat<V>(23.0f), splat<V>(0.0f));
  const auto low = lt(m, splat<V>(0.707106781186547524f));
  *e = select(low, ex - splat<V>(1.0f), ex);
  return select(low, m + m, m) - splat<V>(1.0f);
}

// log and log2 of x's specials: 0 -> -inf, x < 0 -> NaN, +inf -> +inf, NaN -> NaN.
template <typename V>
inline V log_specials(V x, V r) {
  const V inf = splat<V>(INFINITY);
  r = select(lt(x, splat<V>(0.0f)), splat<V>(NAN), r);
  r = select(eq(x, splat<V>(0.0f)), -inf, r);
  r = select(eq(x, inf), inf, r);
  return select(isnan_(x), x, r);
}

// ---- the functions -------------------------------------------------------------------

template <typename V>
inline V exp(V x) {
  V xc = vmin(vmax(x, splat<V>(-104.0f)), splat<V>(89.0f));  // beyond: 0 and inf after scaling
  V n;
  V r = reduce_ln2(xc, &n);
  V y = scale_pow2(expm1_reduced(r) + splat<V>(1.0f), n);
  return select(isnan_(x), x, y);
}

template <typename V>
inline V exp2(V x) {
  V xc = vmin(vmax(x, splat<V>(-151.0f)), splat<V>(129.0f));
  V n = round_small(xc);
  V r = (xc - n) * splat<V>(0.693147180559945309f);  // xc - n is exact
  V y = scale_pow2(expm1_reduced(r) + splat<V>(1.0f), n);
  return select(isnan_(x), x, y);
}

template <typename V>
inline V expm1(V x) {
  V xc = vmin(vmax(x, splat<V>(-18.0f)), splat<V>(80.0f));  // below -18 the result rounds to -1
  V n;
  V em = expm1_reduced(reduce_ln2(xc, &n));
  V s = scale_pow2(splat<V>(1.0f), n);
  V y = fmadd(s, em, s - splat<V>(1.0f));
  y = select(gt(x, splat<V>(80.0f)), exp(x), y);  // e^x - 1 rounds to e^x there
  return select(mor(eq(x, splat<V>(0.0f)), isnan_(x)), x, y);  // keeps -0 and NaN
}

template <typename V>
inline V log(V x) {
  V e, z;
  V f = split_exponent(x, &e);
  V t = fmadd(e, splat<V>(-2.12194440e-4f), log1p_reduced_tail(f, &z));
  V r = fmadd(e, splat<V>(0.693359375f), f + t);
  return log_specials(x, r);
}

template <typename V>
inline V log2(V x) {
  V e, z;
  V f = split_exponent(x, &e);
  V t = log1p_reduced_tail(f, &z);
  const V log2e = splat<V>(1.44269504088896341f);
  V r = fmadd(f, log2e, t * log2e) + e;
  return log_specials(x, r);
}

template <typename V>
inline V log1p(V x) {
  const V one = splat<V>(1.0f), inf = splat<V>(INFINITY);
  V u = x + one;
  V c = (x - (u - one)) / u;  // what rounding u lost, to first order
  V r = log(u) + c;
  r = select(eq(x, splat<V>(-1.0f)), -inf, r);
  r = select(eq(x, inf), inf, r);
  r = select(lt(x, splat<V>(-1.0f)), splat<V>(NAN), r);
  return select(mor(eq(x, splat<V>(0.0f)), isnan_(x)), x, r);
}

template <typename V>
inline V tanh(V x) {
  const V one = splat<V>(1.0f);
  V z = x * x;
  V p = splat<V>(-5.70498872745e-3f);
  p = fmadd(p, z, splat<V>(2.06390887954e-2f));
  p = fmadd(p, z, splat<V>(-5.37397155531e-2f));
  p = fmadd(p, z, splat<V>(1.33314422036e-1f));
  p = fmadd(p, z, splat<V>(-3.33332819422e-1f));
  V small = copysign_(fmadd(p * z, x, x), x);  // odd: keeps -0
  V ax = vabs(x);
  V e = exp(ax + ax);
  V large = copysign_(one - splat<V>(2.0f) / (e + one), x);
  return select(lt(ax, splat<V>(0.625f)), small, large);
}

// 2^64 e^(x + lo) for x in [-131, 0] and |lo| < 2^-10: exp's reduction and polynomial, but
// 2^(n + 64) is read from the bits of the rounding sum (1.5 2^23 + 191 + n, shifted into the
// exponent field), normal for every such x. The factor 2^64 keeps results from e^-131 on exact;
// callers divide it out in a ratio or multiply by 2^-64 once at the end, so a subnormal result
// rounds once, and e^-131 and below (-inf too) end at 0.
template <typename V>
inline V exp_2p64(V x, V lo) {
  const V magic = splat<V>(12583103.0f);
  V t = fmadd(x + lo, splat<V>(1.44269504088896341f), magic);
  V n = t - magic;
  V r = fmadd(n, splat<V>(-0.693359375f), x) + lo;
  r = fmadd(n, splat<V>(2.12194440e-4f), r);
  return (expm1_reduced(r) + splat<V>(1.0f)) * from_bits(shl23(bits(t)));
}

template <typename V>
inline V exp_2p64(V x) {
  const V magic = splat<V>(12583103.0f);
  V t = fmadd(x, splat<V>(1.44269504088896341f), magic);
  V n = t - magic;
  V r = fmadd(n, splat<V>(2.12194440e-4f), fmadd(n, splat<V>(-0.693359375f), x));
  return (expm1_reduced(r) + splat<V>(1.0f)) * from_bits(shl23(bits(t)));
}

// 2^64 e^x for x <= 0 (NaN kept), from the clamp at -131 on.
template <typename V>
inline V exp_2p64_nonpositive(V x) {
  return exp_2p64(vmax(splat<V>(-131.0f), x));  // vmax(c, NaN) is NaN
}

// {1 or e}/(1 + e) with e = e^-|x|, both scaled by 2^64 so subnormal results round once.
template <typename V>
inline V sigmoid(V x) {
  const V two64 = splat<V>(18446744073709551616.0f);
  V e = exp_2p64_nonpositive(-vabs(x));
  return select(ge(x, splat<V>(0.0f)), two64, e) / (e + two64);
}

// e^(-s x^2) for s = 1 or 1/2 and |x| <= 15, x^2 split as h^2 + (x - h)(x + h) with h = x
// cut to 12 significant bits: h^2 is exact, so the rounding of x^2 does not grow with x; the
// small rest, |(x - h)(x + h) s| < 0.06, takes expm1_reduced instead of a second exp.
template <typename V>
inline V exp_neg_sq(V x, float s) {
  V h = from_bits(andc(bits(x), -4096));
  V e = exp(-(h * h) * splat<V>(s));
  return fmadd(e, expm1_reduced((h - x) * (h + x) * splat<V>(s)), e);
}

// P with erf(u) = u + u P(u^2) for |u| < 1.
template <typename V>
inline V erf_small_poly(V u) {
  V z = u * u;
  V p = splat<V>(7.9710167e-05f);
  p = fmadd(p, z, splat<V>(-8.0433639e-04f));
  p = fmadd(p, z, splat<V>(5.1918323e-03f));
  p = fmadd(p, z, splat<V>(-2.6855508e-02f));
  p = fmadd(p, z, splat<V>(1.1283622e-01f));
  p = fmadd(p, z, splat<V>(-3.7612629e-01f));
  return fmadd(p, z, splat<V>(1.2837911e-01f));
}

// erfc(a) = e_neg_a2 t Q(t) for 0.5 <= a <= 10.5, given e_neg_a2 = e^(-a^2).
template <typename V>
inline V erfc_tail(V a, V e_neg_a2) {
  V t = splat<V>(1.0f) / fmadd(a, splat<V>(0.5f), splat<V>(1.0f));
  V q = splat<V>(-3.96905132e-02f);
  q = fmadd(q, t, splat<V>(1.05800129e-01f));
  q = fmadd(q, t, splat<V>(-7.27487681e-03f));
  q = fmadd(q, t, splat<V>(-2.00135022e-01f));
  q = fmadd(q, t, splat<V>(1.06588855e-01f));
  q = fmadd(q, t, splat<V>(3.71930227e-02f));
  q = fmadd(q, t, splat<V>(1.88112348e-01f));
  q = fmadd(q, t, splat<V>(2.45026171e-01f));
  q = fmadd(q, t, splat<V>(2.82248557e-01f));
  q = fmadd(q, t, splat<V>(2.82089204e-01f));
  return e_neg_a2 * t * q;
}

template <typename V>
inline V erf(V x) {
  const V one = splat<V>(1.0f);
  V a = vmin(vabs(x), splat<V>(10.5f));  // erf rounds to +-1 long before; NaN becomes 10.5 here
  V big = copysign_(one - erfc_tail(a, exp_neg_sq(a, 1.0f)), x);
  V r = select(lt(vabs(x), one), fmadd(x, erf_small_poly(x), x), big);
  return select(isnan_(x), x, r);
}

// gelu's Phi(-|x|) = erfc(a / sqrt 2) / 2 (a = |x| clamped at 14.85, where it has underflowed)
// as e tQ(t) 2^-64: e = 2^64 e^(-a^2/2) (returned through *e, the density's factor too), and
// t Q(t) = erfc(a / sqrt 2) e^(a^2/2) / 2 with t = 1/(1 + a/(2 sqrt 2)), Q of degree 8 fitted
// in float64 on 0 <= a <= 14.85 (relative error 6.5e-8 with float32 coefficients). a^2 goes to
// the exponential as an exact sum hi + lo (by a fused multiply-add, else by 12-bit halves of
// a), so its rounding does not grow with a.
template <typename V>
inline V gelu_lower_tail(V x, V* e) {
  V a = vmin(splat<V>(14.849242f), vabs(x));  // vmin(c, NaN) is NaN
  V t = splat<V>(1.0f) / fmadd(a, splat<V>(3.53553385e-01f), splat<V>(1.0f));
  V q = splat<V>(-2.95974109e-02f);
  q = fmadd(q, t, splat<V>(1.42594770e-01f));
  q = fmadd(q, t, splat<V>(-2.44236767e-01f));
  q = fmadd(q, t, splat<V>(1.39762819e-01f));
  q = fmadd(q, t, splat<V>(-1.38156945e-02f));
  q = fmadd(q, t, splat<V>(1.01556428e-01f));
  q = fmadd(q, t, splat<V>(1.21497989e-01f));
  q = fmadd(q, t, splat<V>(1.41195074e-01f));
  q = fmadd(q, t, splat<V>(1.41042784e-01f));
#ifdef __FMA__
  V sq = a * a;
  V rest = fmadd(a, a, -sq);
#else
  V h = from_bits(andc(bits(a), -4096));
  V sq = h * h;
  V rest = (a - h) * (a + h);
#endif
  *e = exp_2p64(sq * splat<V>(-0.5f), rest * splat<V>(-0.5f));
  return *e * (t * q) * splat<V>(5.42101086e-20f);
}

// x Phi(x), Phi(x) = 1 - Phi(-x) for x >= 0. At -inf: NaN, as the formula x Phi(x) gives.
template <typename V>
inline V gelu(V x) {
  V e;
  V tail = gelu_lower_tail(x, &e);
  return x * select(lt(x, splat<V>(0.0f)), tail, splat<V>(1.0f) - tail);
}

// gelu's derivative Phi(x) + x e^(-x^2/2) / sqrt(2 pi), the exponential shared with Phi.
template <typename V>
inline V gelu_grad(V x) {
  V e;
  V tail = gelu_lower_tail(x, &e);
  V phi = select(lt(x, splat<V>(0.0f)), tail, splat<V>(1.0f) - tail);
  return fmadd(x, e * splat<V>(2.16267050e-20f), phi);
}

template <typename V>
inline V gelu_tanh(V x) {
  V inner = x * fmadd(x * x, splat<V>(0.044715f * 1.595769121605730711f), splat<V>(1.595769121605730711f));
  return select(isnan_(x), x, x * sigmoid(inner));
}

// gelu_tanh's derivative s + x s (1 - s) u' with s = sigmoid(u), u = 2 sqrt(2/pi)(x + 0.044715 x^3):
// s and s (1 - s) = e/(1 + e)^2 from one e = e^-|u| (2^64-scaled), so 1 - s never cancels.
template <typename V>
inline V gelu_tanh_grad(V x) {
  const V two64 = splat<V>(18446744073709551616.0f);
  V x2 = x * x;
  V u = x * fmadd(x2, splat<V>(0.044715f * 1.595769121605730711f), splat<V>(1.595769121605730711f));
  V du = fmadd(x2, splat<V>(3 * 0.044715f * 1.595769121605730711f), splat<V>(1.595769121605730711f));
  V e = exp_2p64_nonpositive(-vabs(u));
  V rd = splat<V>(1.0f) / (e + two64);
  V s = select(ge(u, splat<V>(0.0f)), two64, e) * rd;
  return fmadd(x * du, (e * rd) * (two64 * rd), s);
}

}  // namespace fibril::cpu::FIBRIL_ISA::vm
