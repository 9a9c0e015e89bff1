// Convolution, forward and backward, over NCHW (1-D convolutions are 2-D ones of height 1).
//
// Most convolutions are GEMMs, per image and group g (K = C/G * kh * kw rows of taps, P = oh *
// ow output pixels, Og = O/G output channels):
//   forward          y_g (Og x P)  = W_g (Og x K) · im2col(x_g) (K x P)   + bias in the epilogue
//   backward_weight  gW_g (Og x K) = sum over n of gy_g (Og x P) · im2col(x_g)ᵀ (P x K)
//   backward_input   gx_g          = col2im(W_gᵀ (K x Og) · gy_g (Og x P))
// The first two never build im2col: the GEMM's B packer (BPacker, cpu/matmul.cpp) fills its
// panels from the image, so the patches exist only as the GEMM's packed panels. Most GEMMs
// run in the flat form (FlatLayout, flat_forward): the image is copied once into zero-padded
// phase planes (one per channel at stride 1, stride_h x stride_w of them otherwise) in which
// every tap of every output is a contiguous slice, and the GEMM's columns are flat output
// indices (cols - ow junk columns per output row, computed and dropped). Its panels are plain
// copies; the walk form (pack_patches) gathers along output rows with border checks, which
// cost as much as the GEMM on 14x14 maps. Small maps put several images side by side in each
// plane, so that one GEMM covers them (a GEMM per 4x4 image was mostly call overhead). The
// weight gradient of a layer with few taps per
// output (a first layer) runs as register-blocked dot products instead (tap_block), its GEMM
// being a third of a panel wide. backward_input goes through a column buffer of at most
// kColumnBytes per thread, then scatter-adds it. The weight gradient sums images in a fixed
// number of partial sums (kWeightPartials, each a fixed run of images), added in order, so
// the result does not depend on the thread count.
//
// With stride 1 and at least as many input as output channels (or 16 of them), the input
// gradient is itself a forward convolution (flipped kernel): it takes the forward's path, no
// column buffer. Forward GEMMs run one image per thread when there are enough images.
//
// Convolutions with one input channel per group (depthwise, and their channel multipliers)
// are too thin for a GEMM (one row of taps per output): they run direct, per plane, on a
// zero-padded copy of the input plane, vectorized along flat output rows (see below).
//
// Measured (`python -m bench --family conv`, 2 threads, float32; Xeon VM with AVX-512, FMA
// peak 470 GFLOP/s; fibril GFLOP/s and fibril / PyTorch 2.13 oneDNN time ratios of two runs,
// torch's own time varying up to 1.7x between them): 3x3 64->64 56x56 b32 fwd 286 GFLOP/s
// (61% of peak; 0.87-1.48x), fwd+bwd 273-277 (1.23-1.34x); 128->128 28x28 fwd 290-300
// (0.91-0.93x), fwd+bwd 289-306 (0.94-0.95x); 1x1 256->64 56x56 b16 fwd 109-141 (1.36-1.59x),
// fwd+bwd 116-121 (1.71-1.86x); 7x7/2 3->64 224 b8 fwd 227 (0.72-0.78x), fwd+bwd 182-193
// (0.69-0.88x); depthwise 3x3 256ch 14x14 b32 fwd 0.76-0.89 ms (1.23-1.27x), fwd+bwd 3.05-3.23
// ms (1.11x); MNIST 1->32 b64 fwd 0.38 ms (1.56-1.61x), fwd+bwd 0.89-1.07 ms (1.28-1.53x);
// 32->64 fwd 269-282 GFLOP/s (0.91-0.94x), fwd+bwd 240-250 (0.88-0.92x). Before the flat
// forms (same machine): 128->128 fwd 0.82-0.85x, 32->64 0.73x, 14x14 16->32 2.2x slower.
// Where the time goes (perf, 128->128 28x28 fwd+bwd): the 14x32 microkernel ~72% (about 89%
// of peak while it runs), the junk columns ~7-10% (28 + 2 columns per row, rounded up to
// whole panels), packing and copies ~12%. oneDNN's direct NCHWc kernels have neither junk
// nor copies. Next: padding shared between neighbouring rows (cols = W + pad: half the junk),
// a direct kernel for the strided first layers.
// Since then (same bench and machine, one run, torch's time moving as much as before): 1x1
// 256->64 as a plain GEMM fwd 8.7 ms 189 GFLOP/s (3.07x), fwd+bwd 22.4 ms 220 (3.29x); 7x7/2
// 3->64 224 b8 flat at every size, fwd 6.7 ms 282 GFLOP/s (0.89x), fwd+bwd 16.6 ms 228
// (1.91x); depthwise fwd 0.49 ms (1.88x), fwd+bwd 1.75 ms (1.68x); 128->128 fwd 313 GFLOP/s
// (0.89x), fwd+bwd 313 (1.16x); 32->64 fwd 284 (0.92x), fwd+bwd 275 (0.92x). The depthwise
// passes run near this machine's copy bandwidth (27 GB/s: fwd 12.8 MB in 0.46 ms, input
// gradient 0.61, weight gradient 0.47 when run alone), and the two gradients share one pass
// over grad_out (backward_direct_flat: both 1.19 -> 1.11 ms at 14x14, 2.10 -> 1.81 for 128
// channels at 28x28); 3x PyTorch (0.96 ms for the forward and both gradients) lies below the
// ~1.2 ms that their bytes take.

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>
#include <type_traits>
#include <vector>

#include "core/parallel.h"
#include "cpu/kernels.h"
#include "cpu/scratch.h"
#include "cpu/simd.h"
#include "cpu/vec.h"

namespace fibril::cpu::FIBRIL_ISA {

void matmul(const MatmulArgs& args);

namespace {

constexpr int64_t kColumnBytes = 1 << 20;
constexpr int64_t kWeightPartials = 8;

int64_t taps(const ConvGeometry& g) { return g.kernel_h * g.kernel_w; }
int64_t in_group(const ConvGeometry& g) { return g.in_channels / g.groups; }
int64_t out_group(const ConvGeometry& g) { return g.out_channels / g.groups; }
int64_t out_pixels(const ConvGeometry& g) { return g.out_height * g.out_width; }
int64_t in_pixels(const ConvGeometry& g) { return g.height * g.width; }
int64_t round_up(int64_t n, int64_t step) { return (n + step - 1) / step * step; }

// A 1x1 kernel at stride 1 without padding: im2col(x) is x itself (C x H W, row-major), so
// the GEMMs read it as a plain B operand, packed by matmul's own panel packer (the walk's
// per-run border checks cost 2.5x the tiles: 1x1 256->64 56x56 b16, 2 threads, fwd 15.4 -> 6.2
// ms, fwd+bwd 40.7 -> 21.5).
bool pointwise(const ConvGeometry& g) {
  return taps(g) == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
}

// Calls f(offset, len, oy, ox) for the runs of output pixels j0 .. j0+n-1 that share a row.
template <typename F>
inline void for_each_run(const ConvGeometry& g, int64_t j0, int64_t n, F&& f) {
  int64_t oy = j0 / g.out_width, ox = j0 % g.out_width;
  for (int64_t offset = 0; offset < n; ++oy, ox = 0) {
    const int64_t len = std::min(n - offset, g.out_width - ox);
    f(offset, len, oy, ox);
    offset += len;
  }
}

// The t in [lo, hi), t < len, for which i0 + t * step lies in [0, size).
struct Span {
  int64_t lo, hi;
};
inline Span valid_span(int64_t i0, int64_t step, int64_t len, int64_t size) {
  const int64_t lo = std::min(len, i0 >= 0 ? 0 : (-i0 + step - 1) / step);
  const int64_t hi = i0 >= size ? 0 : std::min(len, (size - 1 - i0) / step + 1);
  return {lo, std::max(lo, hi)};
}

// Tap index p -> (channel, ky, kx), stepped in order.
struct Tap {
  int64_t c, ky, kx;
  Tap(const ConvGeometry& g, int64_t p) : c(p / taps(g)), ky(p % taps(g) / g.kernel_w), kx(p % g.kernel_w) {}
  void next(const ConvGeometry& g) {
    if (++kx < g.kernel_w) return;
    kx = 0;
    if (++ky < g.kernel_h) return;
    ky = 0;
    ++c;
  }
};

bool flat(const ConvGeometry& g) { return g.stride_h == 1 && g.stride_w == 1; }

// The GEMM forms' copy of an image, "flat": every tap of every output is a contiguous slice.
// An input channel splits into stride_h x stride_w phase planes (one with stride 1), phase
// (py, px) holding the zero-padded input's rows py, py + sh, .. and columns px, px + sw, ..:
// rows x cols of them, rows = oh + (kh - 1) dh / sh, cols = ow + (kw - 1) dw / sw. Output
// (oy, ox) is flat index i = oy * cols + ox, and tap (c, ky, kx) reads phase plane (c, ky dh
// mod sh, kx dw mod sw) at i + (ky dh / sh) cols + kx dw / sw: the outputs are flat rows of
// cols values whose last cols - ow are junk (computed and dropped). A stride-2 convolution
// then packs like a stride-1 one.
// Small maps put `images` images side by side in every phase plane (image i's plane at
// i * plane), so that one GEMM covers them all: its columns run on from one image's flat
// indices into the next's.
struct FlatLayout {
  int64_t rows, cols, plane, phases_h, phases_w, images;
  explicit FlatLayout(const ConvGeometry& g, int64_t images = 1)
      : rows(g.out_height + (g.kernel_h - 1) * g.dilation_h / g.stride_h),
        cols(g.out_width + (g.kernel_w - 1) * g.dilation_w / g.stride_w),
        plane(rows * cols),
        phases_h(g.stride_h),
        phases_w(g.stride_w),
        images(images) {}
  int64_t block() const { return images * plane; }  // a phase plane of every image
  int64_t channel() const { return phases_h * phases_w * block(); }  // values per input channel
  int64_t flat_n(const ConvGeometry& g) const { return (g.out_height - 1) * cols + g.out_width; }
  // Flat indices (columns) that `count` images span.
  int64_t span(const ConvGeometry& g, int64_t count) const { return (count - 1) * plane + flat_n(g); }
  // Offset of tap (c, ky, kx) from flat index 0.
  int64_t offset(const ConvGeometry& g, int64_t c, int64_t ky, int64_t kx) const {
    const int64_t dy = ky * g.dilation_h, dx = kx * g.dilation_w;
    return ((c * phases_h + dy % phases_h) * phases_w + dx % phases_w) * block() + dy / phases_h * cols +
           dx / phases_w;
  }
  // Whether the layout is the input itself (stride 1, no padding).
  bool is_input(const ConvGeometry& g) const {
    return g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
  }
  std::vector<int64_t> offsets(const ConvGeometry& g) const {  // of the K taps, in order
    std::vector<int64_t> out;
    for (int64_t c = 0; c < g.in_channels / g.groups; ++c)
      for (int64_t ky = 0; ky < g.kernel_h; ++ky)
        for (int64_t kx = 0; kx < g.kernel_w; ++kx) out.push_back(offset(g, c, ky, kx));
    return out;
  }
};

// Whether forward_gemm takes the flat form: some padding, stride or taps to gather and 64+
// taps per output (fewer make a GEMM bound by its output, which the result buffer's extra
// pass doubles). Measured on 3x3 convolutions, 2 threads, pack_patches walk / flat form,
// AVX-512 (AVX2): 28x28 32->64 b64 7.8 / 6.9 ms (11.5 / 11.0), 14x14 16->32 b128 2.07 / 1.43
// (2.43 / 1.97), 7x7 256->256 b32 10.7 / 8.6 (13.7 / 12.5), 56x56 64->64 b32 33.1 / 28.5
// (fwd+bwd 109 / 85), 112x112 64->64 b8 31.3 / 27.4, 28x28 1->32 b64 0.37 / 0.51 (9 taps).
// Large maps run their result through L2 in chunks of output rows (kFlatChunkBytes): 224x224
// 64->64 b4 took the walk while the result went whole through memory (flat 68.5 ms, walk
// 63.9); in chunks, walk / flat 55.8 / 48.4 ms (fwd+bwd 183 / 165); 7x7/2 3->64 224x224 b8
// fwd, whole result / chunks: 7.2 / 6.8 ms.
constexpr int64_t kFlatChunkBytes = 512 << 10;
constexpr int64_t kFlatGroupColumns = 256;  // small maps group images up to this many columns

bool flat_forward(const ConvGeometry& g) {
  const bool gathers = taps(g) > 1 || g.pad_h > 0 || g.pad_w > 0 || g.stride_h > 1 || g.stride_w > 1;
  return gathers && in_group(g) * taps(g) >= 64;
}

// Images per flat GEMM: as many as fit kFlatGroupColumns columns (a GEMM per image of a 4x4
// map spent 5-8 us of calls and packing on 0.3 us of work).
int64_t flat_group(const ConvGeometry& g) {
  return std::max<int64_t>(1, std::min(g.batch, kFlatGroupColumns / FlatLayout(g).plane));
}

// Image n's planes of channel group grp, in an NCHW input (x) or output (y, grad_out).
template <typename T>
const T* input_planes(const ConvGeometry& g, const char* x, int64_t n, int64_t grp) {
  return reinterpret_cast<const T*>(x) + (n * g.in_channels + grp * in_group(g)) * in_pixels(g);
}
template <typename T, typename Bytes>
auto output_planes(const ConvGeometry& g, Bytes* y, int64_t n, int64_t grp) {
  using Out = std::conditional_t<std::is_const_v<Bytes>, const T, T>;
  return reinterpret_cast<Out*>(y) + (n * g.out_channels + grp * out_group(g)) * out_pixels(g);
}

// Rows here are short (a plane's width): an inline loop beats a call to memcpy, and a masked
// move (AVX-512) the tail's scalar loop.
template <typename T>
inline void copy_row(const T* __restrict src, int64_t n, T* __restrict dst) {
  constexpr int L = kLanesOf<T>;
  int64_t i = 0;
  for (; i + L <= n; i += L) storeu(dst + i, loadu(src + i));
#if defined(__AVX512F__)
  if (i < n) {
    const auto mask = static_cast<__mmask16>((1u << (n - i)) - 1);
    if constexpr (std::is_same_v<T, float>) _mm512_mask_storeu_ps(dst + i, mask, _mm512_maskz_loadu_ps(mask, src + i));
    if constexpr (std::is_same_v<T, double>) _mm512_mask_storeu_pd(dst + i, mask, _mm512_maskz_loadu_pd(mask, src + i));
    return;
  }
#endif
  for (; i < n; ++i) dst[i] = src[i];
}

#ifdef __AVX2__
// d[t] = src[2 t], t < 16 (a stride-2 run: first layers): two deinterleaving shuffles per 8.
inline void even_floats16_avx2(const float* src, float* d) {
  for (int h = 0; h < 2; ++h) {
    const __m256 a = _mm256_loadu_ps(src + 16 * h), b = _mm256_loadu_ps(src + 16 * h + 8);
    const __m256 evens = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));  // a0 a2 b0 b2 | a4 a6 b4 b6
    const __m256d ordered = _mm256_permute4x64_pd(_mm256_castps_pd(evens), _MM_SHUFFLE(3, 1, 2, 0));
    _mm256_storeu_ps(d + 8 * h, _mm256_castpd_ps(ordered));
  }
}
#endif

// An input channel's pixels into their places in its phase planes (FlatLayout: dst is the
// image's plane in the channel's first block; the padding is left as it is, a buffer reused
// across images zeroes it once).
template <typename T>
void fill_channel(const ConvGeometry& g, const FlatLayout& f, const T* x, T* dst) {
  for (int64_t py = 0; py < f.phases_h; ++py)
    for (int64_t px = 0; px < f.phases_w; ++px, dst += f.block()) {
      const Span rows = valid_span(py - g.pad_h, f.phases_h, f.rows, g.height);
      const Span cols = valid_span(px - g.pad_w, f.phases_w, f.cols, g.width);
      for (int64_t r = rows.lo; r < rows.hi; ++r) {
        const T* src = x + (r * f.phases_h + py - g.pad_h) * g.width + cols.lo * f.phases_w + px - g.pad_w;
        T* d = dst + r * f.cols + cols.lo;
        const int64_t n = cols.hi - cols.lo;
        if (f.phases_w == 1) {
          copy_row(src, n, d);
          continue;
        }
        int64_t q = 0;
#ifdef __AVX2__
        if constexpr (std::is_same_v<T, float>)  // reads src[2 q + 31]: inside the row while q + 17 <= n
          if (f.phases_w == 2)
            for (; q + 17 <= n; q += 16) even_floats16_avx2(src + 2 * q, d + q);
#endif
        for (; q < n; ++q) d[q] = src[q * f.phases_w];
      }
    }
}

// B panel of the forward GEMM: im2col(x)[p0 : p0+kc, j0 : j0+nr], rows taps, columns pixels.
// The panel's pixels split into at most nr runs along output rows, found once; each row of
// taps then copies its runs (interior runs straight, border runs element by element).
template <typename T>
void pack_patches(const void* ctx, const char* b, int64_t p0, int64_t kc, int64_t j0, int nr, int nr_full,
                  char* out) {
  const ConvGeometry& g = *static_cast<const ConvGeometry*>(ctx);
  const T* x = reinterpret_cast<const T*>(b);
  T* dst = reinterpret_cast<T*>(out);
  struct Run {
    int64_t offset, len, iy, ix;  // input coordinates of the first pixel at tap (0, 0)
  };
  constexpr int64_t kFullRun = 2 * kLanesOf<T>;  // the panel width NR: one run covers it in most panels
  Run runs[2 * kLanesOf<T>];                     // nr <= NR pixels: at most NR runs
  int count = 0;
  for_each_run(g, j0, nr, [&](int64_t offset, int64_t len, int64_t oy, int64_t ox) {
    runs[count++] = {offset, len, oy * g.stride_h - g.pad_h, ox * g.stride_w - g.pad_w};
  });
  const int64_t sw = g.stride_w;
  Tap tap(g, p0);
  for (int64_t p = 0; p < kc; ++p, dst += nr_full, tap.next(g)) {
    const T* plane = x + tap.c * in_pixels(g);
    const int64_t dy = tap.ky * g.dilation_h, dx = tap.kx * g.dilation_w;
    for (int r = 0; r < count; ++r) {
      const Run& run = runs[r];
      T* d = dst + run.offset;
      const int64_t iy = run.iy + dy, ix = run.ix + dx;
      if (iy < 0 || iy >= g.height) {
        for (int64_t t = 0; t < run.len; ++t) d[t] = T(0);
        continue;
      }
      const T* src = plane + iy * g.width + ix;
      if (sw == 1) {  // [lo, hi) of the run lies inside the row, the rest is padding
        const int64_t lo = ix < 0 ? std::min(-ix, run.len) : 0;
        const int64_t hi = std::max(lo, std::min(run.len, g.width - ix));
        if (lo == 0 && hi == kFullRun) {
          std::memcpy(d, src, sizeof(T) * kFullRun);  // a fixed size: inlined as vector moves
          continue;
        }
        for (int64_t t = 0; t < lo; ++t) d[t] = T(0);
        for (int64_t t = lo; t < hi; ++t) d[t] = src[t];
        for (int64_t t = hi; t < run.len; ++t) d[t] = T(0);
      } else if (ix >= 0 && ix + (run.len - 1) * sw < g.width) {
#ifdef __AVX2__
        if constexpr (std::is_same_v<T, float>) {
          if (sw == 2 && run.len == kFullRun && ix + 2 * kFullRun <= g.width) {
            for (int64_t t = 0; t < kFullRun; t += 16) even_floats16_avx2(src + 2 * t, d + t);
            continue;
          }
        }
#endif
        for (int64_t t = 0; t < run.len; ++t) d[t] = src[t * sw];
      } else {
        for (int64_t t = 0; t < run.len; ++t) {
          const int64_t at = ix + t * sw;
          d[t] = at >= 0 && at < g.width ? src[t * sw] : T(0);
        }
      }
    }
    for (int j = nr; j < nr_full; ++j) dst[j] = T(0);
  }
}

// The flat forward's B: im2col over a FlatLayout copy, whose columns are flat output indices.
// Tap p's row is the contiguous slice at offsets[p].
struct FlatPatches {
  const int64_t* offsets;
};

template <typename T>
void pack_flat_patches(const void* ctx, const char* b, int64_t p0, int64_t kc, int64_t j0, int nr, int nr_full,
                       char* out) {
  const int64_t* offsets = static_cast<const FlatPatches*>(ctx)->offsets + p0;
  const T* x = reinterpret_cast<const T*>(b) + j0;
  T* dst = reinterpret_cast<T*>(out);
  constexpr int kFullRun = 2 * kLanesOf<T>;
  for (int64_t p = 0; p < kc; ++p, dst += nr_full) {
    const T* src = x + offsets[p];
    if (nr == kFullRun && nr_full == kFullRun) {
      std::memcpy(dst, src, sizeof(T) * kFullRun);
      continue;
    }
    copy_row(src, nr, dst);
    std::fill(dst + nr, dst + nr_full, T(0));
  }
}

#ifdef __AVX2__
// Eight taps (from `first`) x eight pixels of one output row (from ox), stride 1, when all 64
// values lie inside the input: eight row loads, one 8x8 transpose, eight stores. False
// otherwise (the caller takes the scalar walk).
inline bool pack_taps8x8_avx2(const ConvGeometry& g, const float* x, Tap tap, int64_t oy, int64_t ox, float* dst,
                              int nr_full) {
  __m256 r[8];
  for (int j = 0; j < 8; ++j, tap.next(g)) {
    const int64_t iy = oy * g.stride_h + tap.ky * g.dilation_h - g.pad_h;
    const int64_t ix = ox + tap.kx * g.dilation_w - g.pad_w;
    if (iy < 0 || iy >= g.height || ix < 0 || ix + 8 > g.width) return false;
    r[j] = _mm256_loadu_ps(x + tap.c * in_pixels(g) + iy * g.width + ix);
  }
  transpose8x8(r);
  for (int q = 0; q < 8; ++q) _mm256_storeu_ps(dst + q * nr_full, r[q]);
  return true;
}
#endif

// B panel of the weight-gradient GEMM: im2col(x)ᵀ[p0 : p0+kc, j0 : j0+nr], rows pixels,
// columns taps. A tap's pixels are a strided walk of x; AVX2 float panels go by 8x8 blocks
// (transposed in registers), the rest column by column.
template <typename T>
void pack_patches_transposed(const void* ctx, const char* b, int64_t p0, int64_t kc, int64_t j0, int nr,
                             int nr_full, char* out) {
  const ConvGeometry& g = *static_cast<const ConvGeometry*>(ctx);
  const T* x = reinterpret_cast<const T*>(b);
  T* dst = reinterpret_cast<T*>(out);
  if (nr < nr_full)
    for (int64_t p = 0; p < kc; ++p) std::fill(dst + p * nr_full + nr, dst + (p + 1) * nr_full, T(0));
  // Column j (tap `tap`) at the len pixels from panel row `offset`, output (oy, ox) onwards.
  const auto column = [&](const Tap& tap, int j, int64_t offset, int64_t len, int64_t oy, int64_t ox) {
    T* d = dst + offset * nr_full + j;
    const int64_t iy = oy * g.stride_h + tap.ky * g.dilation_h - g.pad_h;
    if (iy < 0 || iy >= g.height) {
      for (int64_t t = 0; t < len; ++t) d[t * nr_full] = T(0);
      return;
    }
    const int64_t ix0 = ox * g.stride_w + tap.kx * g.dilation_w - g.pad_w;
    const Span s = valid_span(ix0, g.stride_w, len, g.width);
    const T* src = x + tap.c * in_pixels(g) + iy * g.width + ix0;
    for (int64_t t = 0; t < s.lo; ++t) d[t * nr_full] = T(0);
    for (int64_t t = s.lo; t < s.hi; ++t) d[t * nr_full] = src[t * g.stride_w];
    for (int64_t t = s.hi; t < len; ++t) d[t * nr_full] = T(0);
  };
  const auto columns8 = [&](const Tap& first, int j, int64_t offset, int64_t len, int64_t oy, int64_t ox) {
    Tap tap = first;
    for (int q = 0; q < 8; ++q, tap.next(g)) column(tap, j + q, offset, len, oy, ox);
  };
  Tap tap(g, j0);
  int j = 0;
#ifdef __AVX2__
  if constexpr (std::is_same_v<T, float>) {
    for (; g.stride_w == 1 && j + 8 <= nr; j += 8) {
      for_each_run(g, p0, kc, [&](int64_t offset, int64_t len, int64_t oy, int64_t ox) {
        int64_t t = 0;
        for (; t + 8 <= len; t += 8)
          if (!pack_taps8x8_avx2(g, x, tap, oy, ox + t, dst + (offset + t) * nr_full + j, nr_full))
            columns8(tap, j, offset + t, 8, oy, ox + t);
        if (t < len) columns8(tap, j, offset + t, len - t, oy, ox + t);
      });
      for (int q = 0; q < 8; ++q) tap.next(g);
    }
  }
#endif
  for (; j < nr; ++j, tap.next(g))
    for_each_run(g, p0, kc, [&](int64_t offset, int64_t len, int64_t oy, int64_t ox) {
      column(tap, j, offset, len, oy, ox);
    });
}

// The flat weight gradient's B: im2col(x)ᵀ over a FlatLayout copy (as FlatPatches), rows
// flat output indices, columns taps. A tap's pixels are contiguous, so float panels go by 8x8
// blocks (eight taps' rows of eight pixels, transposed in registers), the rest value by value.
template <typename T>
void pack_flat_patches_transposed(const void* ctx, const char* b, int64_t p0, int64_t kc, int64_t j0, int nr,
                                  int nr_full, char* out) {
  const int64_t* offset = static_cast<const FlatPatches*>(ctx)->offsets + j0;
  const T* x = reinterpret_cast<const T*>(b) + p0;
  T* dst = reinterpret_cast<T*>(out);
  if (nr < nr_full)
    for (int64_t p = 0; p < kc; ++p) std::fill(dst + p * nr_full + nr, dst + (p + 1) * nr_full, T(0));
  int j = 0;
#ifdef __AVX2__
  if constexpr (std::is_same_v<T, float>) {
    for (; j + 8 <= nr; j += 8) {
      int64_t p = 0;
      for (; p + 8 <= kc; p += 8) {
        __m256 r[8];
        for (int q = 0; q < 8; ++q) r[q] = _mm256_loadu_ps(x + offset[j + q] + p);
        transpose8x8(r);
        for (int q = 0; q < 8; ++q) _mm256_storeu_ps(dst + (p + q) * nr_full + j, r[q]);
      }
      for (; p < kc; ++p)
        for (int q = 0; q < 8; ++q) dst[p * nr_full + j + q] = x[offset[j + q] + p];
    }
  }
#endif
  for (; j < nr; ++j)
    for (int64_t p = 0; p < kc; ++p) dst[p * nr_full + j] = x[offset[j] + p];
}

// gx (one image's group, in_group planes) += col2im of cols (K rows of n pixels from j0, row
// stride ld), for the channels [c0, c1) of the group.
template <typename T>
void add_columns(const ConvGeometry& g, const T* cols, int64_t ld, int64_t j0, int64_t n, T* gx, int64_t c0,
                 int64_t c1) {
  for (int64_t c = c0; c < c1; ++c) {
    T* plane = gx + c * in_pixels(g);
    for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
      for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
        const T* row = cols + ((c * g.kernel_h + ky) * g.kernel_w + kx) * ld;
        for_each_run(g, j0, n, [&](int64_t offset, int64_t len, int64_t oy, int64_t ox) {
          const int64_t iy = oy * g.stride_h + ky * g.dilation_h - g.pad_h;
          if (iy < 0 || iy >= g.height) return;
          const int64_t ix0 = ox * g.stride_w + kx * g.dilation_w - g.pad_w;
          const Span s = valid_span(ix0, g.stride_w, len, g.width);
          T* d = plane + iy * g.width + ix0;
          const T* src = row + offset;
          if (g.stride_w == 1)
            for (int64_t t = s.lo; t < s.hi; ++t) d[t] += src[t];
          else
            for (int64_t t = s.lo; t < s.hi; ++t) d[t * g.stride_w] += src[t];
        });
      }
    }
  }
}

// ---- GEMM form ------------------------------------------------------------------------------

MatmulArgs gemm_args(DType dtype, int64_t batch, int64_t m, int64_t n, int64_t k) {
  MatmulArgs a{};
  a.dtype = dtype;
  a.batch = batch;
  a.m = m;
  a.n = n;
  a.k = k;
  a.alpha = 1;
  a.act = Activation::none;
  return a;
}

// One GEMM per image and group. With at least as many images as threads, each thread takes
// whole images (single-threaded GEMMs: no barrier per block, B packed privately); else every
// GEMM runs on all threads.
//
// Most take the flat form (flat_forward): the GEMM's columns are the flat output indices of a
// FlatLayout copy of the image, so each row of a B panel is one contiguous copy; pack_patches'
// walk along output rows with border checks cost as much as the GEMM on 14x14 maps (runs
// shorter than a panel). The junk columns cost that much extra compute, and the result goes
// through a buffer that drops them.
template <typename T>
void forward_gemm(const ConvArgs& args) {
  const ConvGeometry& g = args.geo;
  const int64_t K = in_group(g) * taps(g), P = out_pixels(g), Og = out_group(g), Cg = in_group(g);
  const bool flat_form = flat_forward(g);
  // Small maps: several images per GEMM. Grouping needs the copy.
  const int64_t plane = FlatLayout(g).plane, group = flat_form ? flat_group(g) : 1;
  const FlatLayout layout(g, group);
  const bool copy = flat_form && (group > 1 || !layout.is_input(g));
  constexpr int64_t NR = 2 * kLanesOf<T>;
  // The copy ends in zeros that round N up to whole panels (a partial panel's epilogue is
  // scalar; the tile computes the whole panel either way).
  const int64_t flat_n = layout.span(g, group);
  const int64_t N = !flat_form ? P : copy ? round_up(flat_n, NR) : flat_n;
  // A large map's flat GEMM runs a chunk of output rows at a time, so that its result stays
  // in L2 until copied out (7x7/2 3->64 224x224: 64 x 12880 results, 3.3 MB per image).
  const int64_t chunk_rows = group > 1 ? g.out_height
                                       : std::clamp<int64_t>(kFlatChunkBytes / (sizeof(T) * Og * layout.cols), 1,
                                                             g.out_height);
  const int64_t chunk_cols = group > 1 ? N : round_up(chunk_rows * layout.cols, NR);
  const std::vector<int64_t> offsets = flat_form ? layout.offsets(g) : std::vector<int64_t>{};
  const FlatPatches flat_patches{offsets.data()};
  const BPacker packer = flat_form ? BPacker{pack_flat_patches<T>, &flat_patches} : BPacker{pack_patches<T>, &g};
  // The images [lo, hi), `group` at a time, through one copy whose padding is zeroed once.
  const auto images = [&](int64_t lo, int64_t hi) {
    const int64_t copy_size = copy ? Cg * layout.channel() + N - flat_n : 0;
    Scratch padded(sizeof(T) * copy_size), result(flat_form ? sizeof(T) * Og * chunk_cols : 0);
    std::fill(padded.as<T>(), padded.as<T>() + copy_size, T(0));
    for (int64_t n0 = lo; n0 < hi; n0 += group) {
      const int64_t count = std::min(group, hi - n0);
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const auto x_of = [&](int64_t n) { return input_planes<T>(g, args.x, n, grp); };
        const auto y_of = [&](int64_t n) { return output_planes<T>(g, args.out, n, grp); };
        if (copy)
          parallel_for(0, Cg * count, 1, [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; ++t)
              fill_channel(g, layout, x_of(n0 + t % count) + t / count * in_pixels(g),
                           padded.as<T>() + t / count * layout.channel() + t % count * plane);
          });
        const T* b = copy ? padded.as<T>() : x_of(n0);
        MatmulArgs m = gemm_args(args.dtype, 1, Og, count == group ? N : layout.span(g, count), K);
        m.a = args.weight + sizeof(T) * grp * Og * K;
        m.a_rs = K;
        m.a_cs = 1;
        m.b = reinterpret_cast<const char*>(b);
        if (pointwise(g)) {
          m.b_rs = P;
          m.b_cs = 1;
        } else {
          m.b_packer = &packer;
        }
        if (args.bias) {
          m.bias = args.bias + sizeof(T) * grp * Og;
          m.bias_rs = 1;
        }
        if (!flat_form) {
          m.c = reinterpret_cast<char*>(y_of(n0));
          m.c_rs = P;
          matmul(m);
          continue;
        }
        for (int64_t oy0 = 0; oy0 < g.out_height; oy0 += chunk_rows) {
          const int64_t oy1 = std::min(g.out_height, oy0 + chunk_rows), j0 = group > 1 ? 0 : oy0 * layout.cols;
          // Whole panels where the columns past the chunk (next rows, or the copy's zeros) exist.
          if (group == 1) m.n = std::min(round_up(std::min(oy1 * layout.cols, flat_n) - j0, NR), N - j0);
          m.b = reinterpret_cast<const char*>(b + j0);
          m.c = reinterpret_cast<char*>(result.as<T>());
          m.c_rs = chunk_cols;
          matmul(m);
          parallel_for(0, Og * count, 1, [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; ++t) {
              const int64_t o = t / count, i = t % count;
              for (int64_t oy = oy0; oy < oy1; ++oy)
                copy_row(result.as<T>() + o * chunk_cols + i * plane + (oy - oy0) * layout.cols, g.out_width,
                         y_of(n0 + i) + o * P + oy * g.out_width);
            }
          });
        }
      }
    }
  };
  if (g.batch >= get_num_threads()) parallel_for(0, g.batch, group, images);
  else images(0, g.batch);
}

// ---- thin weight gradients: few taps per output ------------------------------------------
//
// A first layer (9 taps for one input channel, 27 for three) makes the weight gradient's GEMM
// N = K columns wide, a third to a half of a panel. Instead, over the image's FlatLayout copy,
// a block of R output channels x C taps keeps its R x C dot products in vector
// registers for a whole image: per vector of output pixels, R loads of grad_out, C of the
// padded input (at the taps' offsets), R x C FMAs. Rows go by output rows; a row's last vector
// is masked (AVX2, AVX-512), else its tail is summed in scalars.
constexpr int kTapRows = kVecBytes == 64 ? 4 : 2;  // 4 x 6 accumulators of 32 zmm, 2 x 6 of 16
constexpr int kTapCols = 6;
constexpr int64_t kThinTaps = 32;  // at most this many taps per output take the thin form

#if defined(__AVX512F__) || defined(__AVX2__)
#define FIBRIL_MASKED_LOADS 1
// p[0 .. n), zeros after (n < lanes): a masked load, which reads nothing past p[n - 1].
template <typename T>
inline Vec<T> load_first(const T* p, int64_t n) {
#if defined(__AVX512F__)
  const auto mask = static_cast<__mmask16>((1u << n) - 1);
  if constexpr (std::is_same_v<T, float>) return _mm512_maskz_loadu_ps(mask, p);
  else return _mm512_maskz_loadu_pd(static_cast<__mmask8>(mask), p);
#else
  if constexpr (std::is_same_v<T, float>) {
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_maskload_ps(p, mask);
  } else {
    const __m256i mask = _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
    return _mm256_maskload_pd(p, mask);
  }
#endif
}
#endif

// acc[r * ld + t] (lanes) and tail[r * ld + t] += sum over the image's output pixels of
// gy[r * P + pixel] * src[off[t] + flat index of the pixel].
template <typename T, int R, int C>
void tap_block(const ConvGeometry& g, int64_t cols, const T* gy, const T* src, const int64_t* off, Vec<T>* acc,
               T* tail, int64_t ld) {
  constexpr int L = kLanesOf<T>;
  const int64_t P = out_pixels(g), ow = g.out_width;
  Vec<T> s[R][C];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < C; ++t) s[r][t] = acc[r * ld + t];
  for (int64_t oy = 0; oy < g.out_height; ++oy) {
    const T* gr = gy + oy * ow;
    const T* sr = src + oy * cols;
    int64_t j = 0;
    for (; j + L <= ow; j += L) {
      Vec<T> a[R];
      for (int r = 0; r < R; ++r) a[r] = loadu(gr + r * P + j);
      for (int t = 0; t < C; ++t) {
        const Vec<T> b = loadu(sr + off[t] + j);
        for (int r = 0; r < R; ++r) s[r][t] += a[r] * b;
      }
    }
    if (j == ow) continue;
#ifdef FIBRIL_MASKED_LOADS
    Vec<T> a[R];
    for (int r = 0; r < R; ++r) a[r] = load_first(gr + r * P + j, ow - j);
    for (int t = 0; t < C; ++t) {
      const Vec<T> b = load_first(sr + off[t] + j, ow - j);
      for (int r = 0; r < R; ++r) s[r][t] += a[r] * b;
    }
#else
    for (; j < ow; ++j)
      for (int r = 0; r < R; ++r)
        for (int t = 0; t < C; ++t) tail[r * ld + t] += gr[r * P + j] * sr[off[t] + j];
#endif
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < C; ++t) acc[r * ld + t] = s[r][t];
}

template <typename T>
using TapBlockFn = void (*)(const ConvGeometry&, int64_t, const T*, const T*, const int64_t*, Vec<T>*, T*, int64_t);

template <typename T, int R, int... C>
constexpr std::array<TapBlockFn<T>, sizeof...(C)> tap_blocks_of(std::integer_sequence<int, C...>) {
  return {tap_block<T, R, C + 1>...};
}

template <typename T, int... R>
constexpr std::array<std::array<TapBlockFn<T>, kTapCols>, sizeof...(R)> tap_block_table(std::integer_sequence<int, R...>) {
  return {tap_blocks_of<T, R + 1>(std::make_integer_sequence<int, kTapCols>{})...};
}

// The R x C block kernel for r <= kTapRows rows and c <= kTapCols taps.
template <typename T>
TapBlockFn<T> tap_block_for(int r, int c) {
  static constexpr auto table = tap_block_table<T>(std::make_integer_sequence<int, kTapRows>{});
  return table[r - 1][c - 1];
}

// Weight gradients over flat rows (FlatLayout). With few taps per output, the thin form (above).
// With few outputs per tap (the junk columns cost the GEMM (flat_n - P) / P, the transposed
// walk they save about 1 / Og of it), a GEMM whose A is grad_out in flat rows (zeros in the
// junk columns) and whose B comes from the padded image, 8x8 blocks that never meet a border.
// 3x3, AVX-512, fwd+bwd, walk / flat GEMM: 28x28 16->32 b64 10.2 / 8.8 ms, 32->64 26.2 /
// 24.2, 64->128 b32 46.4 / 43.5, 128->128 85.8 / 77.7, 56x56 64->64 95.3 / 84.8; 14x14
// 128->256 44.8 / 46.6, 7x7 256->512 62.7 / 65.6.
enum class WeightForm { walk, flat_gemm, thin };

template <typename T>
WeightForm weight_form(const ConvGeometry& g) {
  const int64_t K = in_group(g) * taps(g), P = out_pixels(g), flat_n = FlatLayout(g).flat_n(g);
  if (taps(g) > 1 && K <= kThinTaps) return WeightForm::thin;
  if (flat_forward(g) && out_group(g) * (flat_n - P) <= 16 * P) return WeightForm::flat_gemm;
  return WeightForm::walk;
}

template <typename T>
void backward_weight_gemm(const ConvArgs& args) {
  const ConvGeometry& g = args.geo;
  const int64_t K = in_group(g) * taps(g), P = out_pixels(g), Og = out_group(g), Cg = in_group(g);
  const int64_t weight_size = g.out_channels * K;
  const WeightForm form = weight_form<T>(g);
  const bool copy = form != WeightForm::walk, flat_a = form == WeightForm::flat_gemm;
  // The flat GEMM sums several images at once on small maps.
  const int64_t plane = FlatLayout(g).plane, group = flat_a ? flat_group(g) : 1;
  const FlatLayout layout(g, group);
  const int64_t channel = layout.channel(), block = layout.block();
  const std::vector<int64_t> offsets = copy ? layout.offsets(g) : std::vector<int64_t>{};
  const FlatPatches flat_patches{offsets.data()};
  const BPacker packer =
      flat_a ? BPacker{pack_flat_patches_transposed<T>, &flat_patches} : BPacker{pack_patches_transposed<T>, &g};
  const int64_t partials = std::min(g.batch, kWeightPartials);
  Scratch sums(partials > 1 ? sizeof(T) * partials * weight_size : 0);
  // Partial sum q holds the images [batch * q / partials, batch * (q + 1) / partials).
  const auto run_partial = [&](int64_t q) {
    T* gw = partials > 1 ? sums.as<T>() + q * weight_size : reinterpret_cast<T*>(args.out);
    // Zeroed once: the padding and the junk columns stay zero, each image fills the rest.
    Scratch padded(copy ? sizeof(T) * Cg * channel : 0), flat_gy(flat_a ? sizeof(T) * Og * block : 0);
    std::fill(padded.as<T>(), padded.as<T>() + (copy ? Cg * channel : 0), T(0));
    std::fill(flat_gy.as<T>(), flat_gy.as<T>() + (flat_a ? Og * block : 0), T(0));
    // The thin form's sums: lanes and tail per weight, added up after the partial's images.
    const int64_t thin_size = form == WeightForm::thin ? weight_size : 0;
    Scratch lanes(sizeof(Vec<T>) * thin_size), tails(sizeof(T) * thin_size);
    std::fill(lanes.as<Vec<T>>(), lanes.as<Vec<T>>() + thin_size, Vec<T>{});
    std::fill(tails.as<T>(), tails.as<T>() + thin_size, T(0));
    const int64_t n0 = g.batch * q / partials, n1 = g.batch * (q + 1) / partials;
    for (int64_t first = n0; first < n1; first += group) {
      const int64_t count = std::min(group, n1 - first);
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const auto x_of = [&](int64_t n) { return input_planes<T>(g, args.x, n, grp); };
        const auto gy_of = [&](int64_t n) { return output_planes<T>(g, args.grad_out, n, grp); };
        if (copy)
          parallel_for(0, std::max(Cg, Og) * count, 1, [&](int64_t lo, int64_t hi) {
            for (int64_t t = lo; t < hi; ++t) {
              const int64_t c = t / count, i = t % count;
              if (c < Cg) fill_channel(g, layout, x_of(first + i) + c * in_pixels(g), padded.as<T>() + c * channel + i * plane);
              for (int64_t oy = 0; flat_a && c < Og && oy < g.out_height; ++oy)
                copy_row(gy_of(first + i) + c * P + oy * g.out_width, g.out_width,
                         flat_gy.as<T>() + c * block + i * plane + oy * layout.cols);
            }
          });
        if (form == WeightForm::thin) {
          for (int64_t o = 0; o < Og; o += kTapRows)
            for (int64_t t = 0; t < K; t += kTapCols) {
              const int64_t w0 = (grp * Og + o) * K + t;
              tap_block_for<T>(static_cast<int>(std::min<int64_t>(kTapRows, Og - o)),
                               static_cast<int>(std::min<int64_t>(kTapCols, K - t)))(
                  g, layout.cols, gy_of(first) + o * P, padded.as<T>(), offsets.data() + t, lanes.as<Vec<T>>() + w0,
                  tails.as<T>() + w0, K);
            }
          continue;
        }
        MatmulArgs m = gemm_args(args.dtype, 1, Og, K, flat_a ? layout.span(g, count) : P);
        m.a = reinterpret_cast<const char*>(flat_a ? flat_gy.as<T>() : gy_of(first));
        m.a_rs = flat_a ? block : P;
        m.a_cs = 1;
        m.b = reinterpret_cast<const char*>(flat_a ? padded.as<T>() : x_of(first));
        if (pointwise(g)) {
          m.b_rs = 1;
          m.b_cs = P;
        } else {
          m.b_packer = &packer;
        }
        m.c = reinterpret_cast<char*>(gw + grp * Og * K);
        m.c_rs = K;
        m.beta = first == n0 ? 0 : 1;
        matmul(m);
      }
    }
    for (int64_t i = 0; i < thin_size; ++i) {
      T lane[kLanesOf<T>];
      storeu(lane, lanes.as<Vec<T>>()[i]);
      T total = 0;
      for (T v : lane) total += v;
      gw[i] = total + tails.as<T>()[i];
    }
  };
  if (partials <= 1) {
    run_partial(0);
    return;
  }
  parallel_for(0, partials, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t q = lo; q < hi; ++q) run_partial(q);
  });
  T* gw = reinterpret_cast<T*>(args.out);
  const T* s = sums.as<T>();
  parallel_for(0, weight_size, 4096, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      T total = s[i];
      for (int64_t q = 1; q < partials; ++q) total += s[q * weight_size + i];
      gw[i] = total;
    }
  });
}

// With stride 1 the input gradient is a convolution of grad_out with the flipped kernel, its
// channel dims swapped, padded by dilation * (kernel - 1) - pad before: it runs as a forward
// convolution (implicit GEMM, no column buffer, no scatter).
template <typename T>
void backward_input_as_forward(const ConvArgs& args) {
  const ConvGeometry& g = args.geo;
  const int64_t Og = out_group(g), Cg = in_group(g), kt = taps(g);
  const T* w = reinterpret_cast<const T*>(args.weight);
  Scratch flipped(sizeof(T) * g.out_channels * Cg * kt);
  T* wf = flipped.as<T>();
  for (int64_t grp = 0; grp < g.groups; ++grp)
    for (int64_t o = 0; o < Og; ++o)
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t t = 0; t < kt; ++t)
          wf[((grp * Cg + c) * Og + o) * kt + t] = w[((grp * Og + o) * Cg + c) * kt + kt - 1 - t];
  ConvGeometry f = g;
  f.in_channels = g.out_channels;
  f.height = g.out_height;
  f.width = g.out_width;
  f.out_channels = g.in_channels;
  f.out_height = g.height;
  f.out_width = g.width;
  f.pad_h = g.dilation_h * (g.kernel_h - 1) - g.pad_h;
  f.pad_w = g.dilation_w * (g.kernel_w - 1) - g.pad_w;
  const ConvArgs forward{ConvPass::forward, args.dtype, f, args.grad_out, reinterpret_cast<const char*>(wf),
                         nullptr, nullptr, args.out};
  forward_gemm<T>(forward);
}

template <typename T>
void backward_input_gemm(const ConvArgs& args) {
  const ConvGeometry& g = args.geo;
  // As a forward convolution the GEMM has in_group rows: with few input channels, and fewer
  // than output channels, the column form (K rows) runs faster despite its scatter (3x3, 28x28,
  // 1->32: 1.7 ms fwd+bwd against 3.1 as a forward; 16->32 9.7 against 9.5).
  if (flat(g) && (in_group(g) >= out_group(g) || in_group(g) >= 16)) return backward_input_as_forward<T>(args);
  const int64_t K = in_group(g) * taps(g), P = out_pixels(g), Og = out_group(g), Cg = in_group(g);
  T* gx = reinterpret_cast<T*>(args.out);
  const T* w = reinterpret_cast<const T*>(args.weight);
  const T* gy = reinterpret_cast<const T*>(args.grad_out);
  std::fill(gx, gx + g.batch * g.in_channels * in_pixels(g), T(0));
  const int64_t chunk = std::min(P, std::max<int64_t>(16, kColumnBytes / static_cast<int64_t>(sizeof(T) * K)));
  // cols (K x len) = W_gᵀ · gy_g[:, j0 : j0+len], on `threads` threads.
  const auto columns = [&](int64_t n, int64_t grp, int64_t j0, int64_t len, T* cols) {
    MatmulArgs m = gemm_args(args.dtype, 1, K, len, Og);
    m.a = reinterpret_cast<const char*>(w + grp * Og * K);
    m.a_rs = 1;
    m.a_cs = K;
    m.b = reinterpret_cast<const char*>(gy + (n * g.out_channels + grp * Og) * P + j0);
    m.b_rs = P;
    m.b_cs = 1;
    m.c = reinterpret_cast<char*>(cols);
    m.c_rs = len;
    matmul(m);
  };
  const int64_t jobs = g.batch * g.groups;
  const auto plane_of = [&](int64_t job) { return gx + (job / g.groups * g.in_channels + job % g.groups * Cg) * in_pixels(g); };
  if (jobs >= get_num_threads()) {  // one (image, group) per task
    parallel_for(0, jobs, 1, [&](int64_t lo, int64_t hi) {
      Scratch cols(sizeof(T) * K * chunk);
      for (int64_t job = lo; job < hi; ++job)
        for (int64_t j0 = 0; j0 < P; j0 += chunk) {
          const int64_t len = std::min(chunk, P - j0);
          columns(job / g.groups, job % g.groups, j0, len, cols.as<T>());
          add_columns(g, cols.as<T>(), len, j0, len, plane_of(job), 0, Cg);
        }
    });
    return;
  }
  Scratch cols(sizeof(T) * K * chunk);
  for (int64_t job = 0; job < jobs; ++job)
    for (int64_t j0 = 0; j0 < P; j0 += chunk) {
      const int64_t len = std::min(chunk, P - j0);
      columns(job / g.groups, job % g.groups, j0, len, cols.as<T>());
      parallel_for(0, Cg, 1, [&](int64_t lo, int64_t hi) {
        add_columns(g, cols.as<T>(), len, j0, len, plane_of(job), lo, hi);
      });
    }
}

// ---- direct form: one input channel per group -----------------------------------------------
//
// Each task pads its input plane into a scratch plane (rows x cols, zeros around) that covers
// every tap of every output. With stride 1, output (oy, ox) and tap (ky, kx) meet at padded
// index i + ky * dh * cols + kx * dw, i = oy * cols + ox: a whole plane of outputs is one
// contiguous multiply-add per tap over oh * cols values ("flat" rows of cols values whose last
// cols - ow are junk, dropped at the end), which vectorizes at any plane width. Other strides
// walk output rows. The padded scratch planes are zeroed once per task range (only their
// interiors change), the taps' weights and sums stay in registers (correlate, tap_dots), and
// with stride 1 both gradients come from one pass over grad_out (backward_direct_flat).

struct PaddedPlane {
  int64_t rows, cols, slack;  // slack: zeros past the plane that the flat loops' junk reads
  explicit PaddedPlane(const ConvGeometry& g)
      : rows((g.out_height - 1) * g.stride_h + (g.kernel_h - 1) * g.dilation_h + 1),
        cols((g.out_width - 1) * g.stride_w + (g.kernel_w - 1) * g.dilation_w + 1),
        slack((g.kernel_w - 1) * g.dilation_w) {}
  int64_t size() const { return rows * cols + slack; }
};

// A padded plane's gradient cropped to the input plane: input pixels outside the padded
// plane get no gradient.
template <typename T>
void crop_plane(const ConvGeometry& g, const PaddedPlane& pp, const T* padded, T* out) {
  const Span s = valid_span(g.pad_w, 1, g.width, pp.cols);
  for (int64_t iy = 0; iy < g.height; ++iy) {
    T* d = out + iy * g.width;
    const int64_t r = iy + g.pad_h;
    if (r >= pp.rows) {
      std::fill(d, d + g.width, T(0));
      continue;
    }
    std::fill(d, d + s.lo, T(0));
    copy_row(padded + r * pp.cols + g.pad_w + s.lo, s.hi - s.lo, d + s.lo);
    std::fill(d + s.hi, d + g.width, T(0));
  }
}

// The input plane x into a padded plane's interior. The borders are left as they are: a
// scratch plane zeroed once keeps them zero, only the interior changes from plane to plane.
template <typename T>
void fill_interior(const ConvGeometry& g, const PaddedPlane& pp, const T* x, T* padded) {
  const Span s = valid_span(-g.pad_w, 1, pp.cols, g.width);
  for (int64_t r = std::max<int64_t>(0, g.pad_h); r < std::min(pp.rows, g.height + g.pad_h); ++r)
    copy_row(x + (r - g.pad_h) * g.width + s.lo - g.pad_w, s.hi - s.lo, padded + r * pp.cols + s.lo);
}

// A plane of outputs into flat rows of pp.cols values; the columns past out_width are left as
// they are (zero in a buffer zeroed once).
template <typename T>
void to_flat_rows(const ConvGeometry& g, const PaddedPlane& pp, const T* plane, T* rows) {
  for (int64_t oy = 0; oy < g.out_height; ++oy) copy_row(plane + oy * g.out_width, g.out_width, rows + oy * pp.cols);
}

// Offset of tap t in the padded plane.
int64_t tap_offset(const ConvGeometry& g, const PaddedPlane& pp, int64_t t) {
  return t / g.kernel_w * g.dilation_h * pp.cols + t % g.kernel_w * g.dilation_w;
}

// out[i] += w * src[i * step], i < n (vectorized when step is 1).
template <typename T>
inline void axpy_row(T* __restrict out, T w, const T* __restrict src, int64_t step, int64_t n) {
  if (step == 1)
    for (int64_t i = 0; i < n; ++i) out[i] += w * src[i];
  else
    for (int64_t i = 0; i < n; ++i) out[i] += w * src[i * step];
}

// out[i] = (add ? out[i] : b) + sum over taps t of w[t] * src[off[t] + i], i < n: the taps
// summed in registers, one store per output. Taps go in blocks of up to kCorrelateTaps (Block
// of them), their weights held in registers across the row; a later block adds to out.
constexpr int kCorrelateTaps = 16;

template <typename T, int Block>
void correlate_block(const T* src, const int64_t* off, const T* w, T b, bool add, T* out, int64_t n) {
  constexpr int L = kLanesOf<T>;
  Vec<T> wv[Block];
  for (int t = 0; t < Block; ++t) wv[t] = Vec<T>{} + w[t];
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    Vec<T> s = (add ? loadu(out + i) : Vec<T>{}) + b;
    for (int t = 0; t < Block; ++t) s += wv[t] * loadu(src + off[t] + i);
    storeu(out + i, s);
  }
  for (; i < n; ++i) {
    T s = (add ? out[i] : T(0)) + b;
    for (int t = 0; t < Block; ++t) s += w[t] * src[off[t] + i];
    out[i] = s;
  }
}

template <typename T, int... B>
constexpr std::array<void (*)(const T*, const int64_t*, const T*, T, bool, T*, int64_t), sizeof...(B)>
correlate_blocks(std::integer_sequence<int, B...>) {
  return {correlate_block<T, B + 1>...};
}

template <typename T>
void correlate(const T* src, const int64_t* off, const T* w, int64_t taps, T b, bool add, T* out, int64_t n) {
  static constexpr auto blocks = correlate_blocks<T>(std::make_integer_sequence<int, kCorrelateTaps>{});
  for (int64_t t0 = 0; t0 < taps; t0 += kCorrelateTaps)
    blocks[std::min<int64_t>(kCorrelateTaps, taps - t0) - 1](src, off + t0, w + t0, t0 == 0 ? b : T(0),
                                                             add || t0 > 0, out, n);
}

// sums[t] += sum over i < n of a[i] * src[off[t] + i], for every tap: lanes accumulate in
// vectors (acc, taps of them) and the tail in rest; both added up in a fixed order at the end.
// Taps go 8 at a time (Block of them), their sums in registers for the whole row (acc, through
// memory, may alias src as far as the compiler knows).
template <typename T, int Block>
void tap_dots_block(const T* a, const T* src, const int64_t* off, int64_t nv, Vec<T>* acc) {
  constexpr int L = kLanesOf<T>;
  Vec<T> s[Block];
  for (int t = 0; t < Block; ++t) s[t] = acc[t];
  for (int64_t i = 0; i < nv; i += L) {
    const Vec<T> va = loadu(a + i);
    for (int t = 0; t < Block; ++t) s[t] += va * loadu(src + off[t] + i);
  }
  for (int t = 0; t < Block; ++t) acc[t] = s[t];
}

template <typename T, int... B>
constexpr std::array<void (*)(const T*, const T*, const int64_t*, int64_t, Vec<T>*), sizeof...(B)> tap_dot_blocks(
    std::integer_sequence<int, B...>) {
  return {tap_dots_block<T, B + 1>...};
}

template <typename T>
void tap_dots(const T* a, const T* src, const int64_t* off, int64_t taps, int64_t n, Vec<T>* acc, T* rest) {
  static constexpr auto blocks = tap_dot_blocks<T>(std::make_integer_sequence<int, 8>{});
  const int64_t nv = n / kLanesOf<T> * kLanesOf<T>;
  for (int64_t t0 = 0; t0 < taps; t0 += 8) blocks[std::min<int64_t>(8, taps - t0) - 1](a, src, off + t0, nv, acc + t0);
  for (int64_t t = 0; t < taps; ++t)
    for (int64_t i = nv; i < n; ++i) rest[t] += a[i] * src[off[t] + i];
}

int64_t direct_grain(const ConvGeometry& g) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, out_pixels(g) * taps(g) * out_group(g)));
}

template <typename T>
void forward_direct(const ConvArgs& args) {
  const ConvGeometry& g = args.geo;
  const PaddedPlane pp(g);
  const int64_t Og = out_group(g), P = out_pixels(g), kt = taps(g), span = g.out_height * pp.cols;
  const T* x = reinterpret_cast<const T*>(args.x);
  const T* w = reinterpret_cast<const T*>(args.weight);
  const T* bias = reinterpret_cast<const T*>(args.bias);
  T* y = reinterpret_cast<T*>(args.out);
  std::vector<int64_t> offsets(kt);
  for (int64_t t = 0; t < kt; ++t) offsets[t] = tap_offset(g, pp, t);
  // A task is one (image, input channel): its padded plane serves the group's Og outputs.
  parallel_for(0, g.batch * g.in_channels, direct_grain(g), [&](int64_t lo, int64_t hi) {
    Scratch padded(sizeof(T) * pp.size()), sums(flat(g) ? sizeof(T) * span : 0);
    T* pad = padded.as<T>();
    std::fill(pad, pad + pp.size(), T(0));
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t n = task / g.in_channels, c = task % g.in_channels;
      fill_interior(g, pp, x + task * in_pixels(g), pad);
      for (int64_t o = c * Og; o < (c + 1) * Og; ++o) {
        T* out = y + (n * g.out_channels + o) * P;
        const T* wo = w + o * kt;
        const T b = bias ? bias[o] : T(0);
        if (flat(g)) {
          T* acc = sums.as<T>();
          correlate(pad, offsets.data(), wo, kt, b, false, acc, span);
          for (int64_t oy = 0; oy < g.out_height; ++oy)
            copy_row(acc + oy * pp.cols, g.out_width, out + oy * g.out_width);
          continue;
        }
        std::fill(out, out + P, b);
        for (int64_t oy = 0; oy < g.out_height; ++oy)
          for (int64_t t = 0; t < kt; ++t)
            axpy_row(out + oy * g.out_width, wo[t], pad + oy * g.stride_h * pp.cols + tap_offset(g, pp, t),
                     g.stride_w, g.out_width);
      }
    }
  });
}

// The sum of v's lanes [0, W), halving: lanes [0, W/2) plus [W/2, W), and so on.
template <typename T, int W, size_t... I>
inline Vec<T> upper_half(Vec<T> v, std::index_sequence<I...>) {
  return __builtin_shufflevector(v, v, (I < W / 2 ? I + W / 2 : I)...);
}
template <typename T, int W>
inline T lane_sum(Vec<T> v) {
  if constexpr (W == 1) return v[0];
  else return lane_sum<T, W / 2>(v + upper_half<T, W>(v, std::make_index_sequence<kLanesOf<T>>{}));
}

// Stride 1, flat: one task per (image, input channel). Each of the channel's output planes
// is copied once into flat rows (junk columns zero) with max_off zeros on both sides, and
// serves both gradients: the input gradient, padded input index j = sum over taps of w[t] *
// rows[j - off[t]] (correlate, read from max_off - off[t]), and the weight gradient, tap t's
// dot product of the rows with the padded input at off[t] (tap_dots). The weight gradient's
// dot products are kept per image and summed over the images in order at the end, so the
// result is the same on any number of threads, with or without the input gradient. gx or gw
// may be null (that gradient not wanted).
template <typename T>
void backward_direct_flat(const ConvArgs& args, T* gx, T* gw) {
  const ConvGeometry& g = args.geo;
  const PaddedPlane pp(g);
  const int64_t Og = out_group(g), P = out_pixels(g), kt = taps(g), span = g.out_height * pp.cols;
  const int64_t max_off = tap_offset(g, pp, kt - 1), plane = pp.rows * pp.cols;
  const T* x = reinterpret_cast<const T*>(args.x);
  const T* w = reinterpret_cast<const T*>(args.weight);
  const T* gy = reinterpret_cast<const T*>(args.grad_out);
  std::vector<int64_t> offsets(kt), back(kt);
  for (int64_t t = 0; t < kt; ++t) {
    offsets[t] = tap_offset(g, pp, t);
    back[t] = max_off - offsets[t];
  }
  Scratch per_image(gw ? sizeof(T) * g.batch * g.out_channels * kt : 0);  // (image, output, tap)
  parallel_for(0, g.batch * g.in_channels, direct_grain(g), [&](int64_t lo, int64_t hi) {
    Scratch padded_x(gw ? sizeof(T) * pp.size() : 0), padded_gx(gx ? sizeof(T) * pp.size() : 0);
    Scratch margin_rows(sizeof(T) * (span + 2 * max_off)), lanes(sizeof(Vec<T>) * kt + sizeof(T) * kt);
    T* pad = padded_x.as<T>();
    T* gpad = padded_gx.as<T>();
    T* margin = margin_rows.as<T>();
    Vec<T>* vacc = lanes.as<Vec<T>>();
    T* rest = reinterpret_cast<T*>(vacc + kt);
    std::fill(pad, pad + (gw ? pp.size() : 0), T(0));
    std::fill(margin, margin + span + 2 * max_off, T(0));
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t n = task / g.in_channels, c = task % g.in_channels;
      if (gw) fill_interior(g, pp, x + task * in_pixels(g), pad);
      for (int64_t o = c * Og; o < (c + 1) * Og; ++o) {
        to_flat_rows(g, pp, gy + (n * g.out_channels + o) * P, margin + max_off);
        if (gx) correlate(margin, back.data(), w + o * kt, kt, T(0), o > c * Og, gpad, plane);
        if (!gw) continue;
        std::fill(vacc, vacc + kt, Vec<T>{});
        std::fill(rest, rest + kt, T(0));
        tap_dots(margin + max_off, pad, offsets.data(), kt, span, vacc, rest);
        for (int64_t t = 0; t < kt; ++t)
          per_image.as<T>()[(n * g.out_channels + o) * kt + t] = lane_sum<T, kLanesOf<T>>(vacc[t]) + rest[t];
      }
      if (!gx) continue;
      crop_plane(g, pp, gpad, gx + task * in_pixels(g));
    }
  });
  if (!gw) return;
  const int64_t weights = g.out_channels * kt;
  parallel_for(0, weights, 4096, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      T total = 0;
      for (int64_t n = 0; n < g.batch; ++n) total += per_image.as<T>()[n * weights + i];
      gw[i] = total;
    }
  });
}

// Other strides: the input gradient scatters each output row's taps into a zeroed padded
// plane, then crops it.
template <typename T>
void backward_input_direct(const ConvArgs& args) {
  const ConvGeometry& g = args.geo;
  if (flat(g)) return backward_direct_flat<T>(args, reinterpret_cast<T*>(args.out), nullptr);
  const PaddedPlane pp(g);
  const int64_t Og = out_group(g), P = out_pixels(g), kt = taps(g);
  const T* w = reinterpret_cast<const T*>(args.weight);
  const T* gy = reinterpret_cast<const T*>(args.grad_out);
  T* gx = reinterpret_cast<T*>(args.out);
  parallel_for(0, g.batch * g.in_channels, direct_grain(g), [&](int64_t lo, int64_t hi) {
    Scratch padded(sizeof(T) * pp.size());
    T* pad = padded.as<T>();
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t n = task / g.in_channels, c = task % g.in_channels;
      std::fill(pad, pad + pp.size(), T(0));
      for (int64_t o = c * Og; o < (c + 1) * Og; ++o) {
        const T* go = gy + (n * g.out_channels + o) * P;
        const T* wo = w + o * kt;
        for (int64_t oy = 0; oy < g.out_height; ++oy) {
          const T* g_row = go + oy * g.out_width;
          for (int64_t t = 0; t < kt; ++t) {
            T* d = pad + oy * g.stride_h * pp.cols + tap_offset(g, pp, t);
            for (int64_t ox = 0; ox < g.out_width; ++ox) d[ox * g.stride_w] += wo[t] * g_row[ox];
          }
        }
      }
      crop_plane(g, pp, pad, gx + task * in_pixels(g));
    }
  });
}

// acc[i] += a[i] * b[i * step], i < n.
template <typename T>
inline void mul_add_row(T* __restrict acc, const T* __restrict a, const T* __restrict b, int64_t step, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] += a[i] * b[i * step];
}

// Other strides: one task per output channel over all images, one row of out_width partial
// sums per tap, added up at the end.
template <typename T>
void backward_weight_direct(const ConvArgs& args) {
  const ConvGeometry& g = args.geo;
  if (flat(g)) return backward_direct_flat<T>(args, nullptr, reinterpret_cast<T*>(args.out));
  const PaddedPlane pp(g);
  const int64_t Og = out_group(g), P = out_pixels(g), kt = taps(g), row = g.out_width;
  const T* x = reinterpret_cast<const T*>(args.x);
  const T* gy = reinterpret_cast<const T*>(args.grad_out);
  T* gw = reinterpret_cast<T*>(args.out);
  parallel_for(0, g.out_channels, 1, [&](int64_t lo, int64_t hi) {
    Scratch padded(sizeof(T) * pp.size()), sums(sizeof(T) * kt * row);
    T* acc = sums.as<T>();
    T* pad = padded.as<T>();
    std::fill(pad, pad + pp.size(), T(0));
    for (int64_t o = lo; o < hi; ++o) {
      const int64_t c = o / Og;
      std::fill(acc, acc + kt * row, T(0));
      for (int64_t n = 0; n < g.batch; ++n) {
        fill_interior(g, pp, x + (n * g.in_channels + c) * in_pixels(g), pad);
        const T* go = gy + (n * g.out_channels + o) * P;
        for (int64_t oy = 0; oy < g.out_height; ++oy)
          for (int64_t t = 0; t < kt; ++t)
            mul_add_row(acc + t * row, go + oy * g.out_width, pad + oy * g.stride_h * pp.cols + tap_offset(g, pp, t),
                        g.stride_w, g.out_width);
      }
      for (int64_t t = 0; t < kt; ++t) {
        T total = 0;
        for (int64_t i = 0; i < row; ++i) total += acc[t * row + i];
        gw[o * kt + t] = total;
      }
    }
  });
}

template <typename T>
void conv_typed_pass(const ConvArgs& args) {
  const ConvGeometry& g = args.geo;
  const bool direct = in_group(g) == 1 && g.groups > 1;
  switch (args.pass) {
    case ConvPass::forward: return direct ? forward_direct<T>(args) : forward_gemm<T>(args);
    case ConvPass::backward_input: return direct ? backward_input_direct<T>(args) : backward_input_gemm<T>(args);
    case ConvPass::backward_weight: return direct ? backward_weight_direct<T>(args) : backward_weight_gemm<T>(args);
    case ConvPass::backward_both: return;  // backward_both splits it first
  }
}

// Both gradients: one pass over grad_out when the direct form runs flat.
template <typename T>
void backward_both(const ConvArgs& args) {
  const ConvGeometry& g = args.geo;
  if (in_group(g) == 1 && g.groups > 1 && flat(g))
    return backward_direct_flat<T>(args, reinterpret_cast<T*>(args.out), reinterpret_cast<T*>(args.out_weight));
  ConvArgs input = args, weight = args;
  input.pass = ConvPass::backward_input;
  weight.pass = ConvPass::backward_weight;
  weight.out = args.out_weight;
  conv_typed_pass<T>(input);
  conv_typed_pass<T>(weight);
}


}  // namespace

void conv(const ConvArgs& args) {
  const auto run = [&](auto zero) {
    using T = decltype(zero);
    args.pass == ConvPass::backward_both ? backward_both<T>(args) : conv_typed_pass<T>(args);
  };
  if (args.dtype == DType::float32) run(0.0f);
  else run(0.0);
}

}  // namespace fibril::cpu::FIBRIL_ISA
