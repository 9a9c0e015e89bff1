// Convolution, forward and backward, over NCHW (1-D convolutions are 2-D ones of height 1).
//
// Most convolutions are GEMMs, per image and group g (K = C/G * kh * kw rows of taps, P = oh *
// ow output pixels, Og = O/G output channels):
//   forward          y_g (Og x P)  = W_g (Og x K) · im2col(x_g) (K x P)   + bias in the epilogue
//   backward_weight  gW_g (Og x K) = sum over n of gy_g (Og x P) · im2col(x_g)ᵀ (P x K)
//   backward_input   gx_g          = col2im(W_gᵀ (K x Og) · gy_g (Og x P))
// The first two never build im2col: the GEMM's B packer (BPacker, cpu/matmul.cpp) fills its
// panels straight from x, so the patches exist only as the GEMM's packed panels (L2-sized),
// whatever the input size. backward_input goes through a column buffer of at most
// kColumnBytes per thread, then scatter-adds it. The weight gradient sums images in a fixed
// number of partial sums (kWeightPartials, each a fixed run of images), added in order, so
// the result does not depend on the thread count.
//
// Convolutions with one input channel per group (depthwise, and their channel multipliers)
// are too thin for a GEMM (one row of taps per output): they run direct, per plane, on a
// zero-padded copy of the input plane, vectorized along output rows.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/parallel.h"
#include "cpu/kernels.h"
#include "cpu/scratch.h"

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

// B panel of the forward GEMM: im2col(x)[p0 : p0+kc, j0 : j0+nr], rows taps, columns pixels.
template <typename T>
void pack_patches(const void* ctx, const char* b, int64_t p0, int64_t kc, int64_t j0, int nr, int nr_full,
                  char* out) {
  const ConvGeometry& g = *static_cast<const ConvGeometry*>(ctx);
  const T* x = reinterpret_cast<const T*>(b);
  T* dst = reinterpret_cast<T*>(out);
  Tap tap(g, p0);
  for (int64_t p = 0; p < kc; ++p, dst += nr_full, tap.next(g)) {
    const T* plane = x + tap.c * in_pixels(g);
    for_each_run(g, j0, nr, [&](int64_t offset, int64_t len, int64_t oy, int64_t ox) {
      T* d = dst + offset;
      const int64_t iy = oy * g.stride_h + tap.ky * g.dilation_h - g.pad_h;
      if (iy < 0 || iy >= g.height) {
        std::fill(d, d + len, T(0));
        return;
      }
      const int64_t ix0 = ox * g.stride_w + tap.kx * g.dilation_w - g.pad_w;
      const Span s = valid_span(ix0, g.stride_w, len, g.width);
      const T* src = plane + iy * g.width + ix0;
      std::fill(d, d + s.lo, T(0));
      if (g.stride_w == 1) std::memcpy(d + s.lo, src + s.lo, sizeof(T) * (s.hi - s.lo));
      else
        for (int64_t t = s.lo; t < s.hi; ++t) d[t] = src[t * g.stride_w];
      std::fill(d + s.hi, d + len, T(0));
    });
    std::fill(dst + nr, dst + nr_full, T(0));
  }
}

// B panel of the weight-gradient GEMM: im2col(x)ᵀ[p0 : p0+kc, j0 : j0+nr], rows pixels,
// columns taps. Filled column by column (a tap's pixels are a strided walk of x).
template <typename T>
void pack_patches_transposed(const void* ctx, const char* b, int64_t p0, int64_t kc, int64_t j0, int nr,
                             int nr_full, char* out) {
  const ConvGeometry& g = *static_cast<const ConvGeometry*>(ctx);
  const T* x = reinterpret_cast<const T*>(b);
  T* dst = reinterpret_cast<T*>(out);
  if (nr < nr_full)
    for (int64_t p = 0; p < kc; ++p) std::fill(dst + p * nr_full + nr, dst + (p + 1) * nr_full, T(0));
  Tap tap(g, j0);
  for (int j = 0; j < nr; ++j, tap.next(g)) {
    const T* plane = x + tap.c * in_pixels(g);
    for_each_run(g, p0, kc, [&](int64_t offset, int64_t len, int64_t oy, int64_t ox) {
      T* d = dst + offset * nr_full + j;
      const int64_t iy = oy * g.stride_h + tap.ky * g.dilation_h - g.pad_h;
      if (iy < 0 || iy >= g.height) {
        for (int64_t t = 0; t < len; ++t) d[t * nr_full] = T(0);
        return;
      }
      const int64_t ix0 = ox * g.stride_w + tap.kx * g.dilation_w - g.pad_w;
      const Span s = valid_span(ix0, g.stride_w, len, g.width);
      const T* src = plane + iy * g.width + ix0;
      for (int64_t t = 0; t < s.lo; ++t) d[t * nr_full] = T(0);
      for (int64_t t = s.lo; t < s.hi; ++t) d[t * nr_full] = src[t * g.stride_w];
      for (int64_t t = s.hi; t < len; ++t) d[t * nr_full] = T(0);
    });
  }
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

template <typename T>
void forward_gemm(const ConvArgs& args) {
  const ConvGeometry& g = args.geo;
  const int64_t K = in_group(g) * taps(g), P = out_pixels(g), Og = out_group(g);
  const BPacker packer{pack_patches<T>, &g};
  std::vector<int64_t> b_offsets(g.batch), c_offsets(g.batch);
  for (int64_t grp = 0; grp < g.groups; ++grp) {
    for (int64_t n = 0; n < g.batch; ++n) {
      b_offsets[n] = (n * g.in_channels + grp * in_group(g)) * in_pixels(g);
      c_offsets[n] = (n * g.out_channels + grp * Og) * P;
    }
    MatmulArgs m = gemm_args(args.dtype, g.batch, Og, P, K);
    m.a = args.weight + sizeof(T) * grp * Og * K;
    m.a_rs = K;
    m.a_cs = 1;
    m.b = args.x;
    m.b_offsets = b_offsets.data();
    m.b_packer = &packer;
    m.c = args.out;
    m.c_rs = P;
    m.c_offsets = c_offsets.data();
    if (args.bias) {
      m.bias = args.bias + sizeof(T) * grp * Og;
      m.bias_rs = 1;
    }
    matmul(m);
  }
}

template <typename T>
void backward_weight_gemm(const ConvArgs& args) {
  const ConvGeometry& g = args.geo;
  const int64_t K = in_group(g) * taps(g), P = out_pixels(g), Og = out_group(g);
  const int64_t weight_size = g.out_channels * K;
  const BPacker packer{pack_patches_transposed<T>, &g};
  const int64_t partials = std::min(g.batch, kWeightPartials);
  Scratch sums(partials > 1 ? sizeof(T) * partials * weight_size : 0);
  // Partial sum q holds the images [batch * q / partials, batch * (q + 1) / partials).
  const auto run_partial = [&](int64_t q) {
    T* gw = partials > 1 ? sums.as<T>() + q * weight_size : reinterpret_cast<T*>(args.out);
    const int64_t n0 = g.batch * q / partials, n1 = g.batch * (q + 1) / partials;
    for (int64_t n = n0; n < n1; ++n) {
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        MatmulArgs m = gemm_args(args.dtype, 1, Og, K, P);
        m.a = args.grad_out + sizeof(T) * (n * g.out_channels + grp * Og) * P;
        m.a_rs = P;
        m.a_cs = 1;
        m.b = args.x + sizeof(T) * (n * g.in_channels + grp * in_group(g)) * in_pixels(g);
        m.b_packer = &packer;
        m.c = reinterpret_cast<char*>(gw + grp * Og * K);
        m.c_rs = K;
        m.beta = n == n0 ? 0 : 1;
        matmul(m);
      }
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

template <typename T>
void backward_input_gemm(const ConvArgs& args) {
  const ConvGeometry& g = args.geo;
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

// The zero-padded input plane the output reads: rows [0, ph) and columns [0, pw) cover
// (out_height - 1) * stride + (kernel - 1) * dilation + 1 of each.
struct PaddedPlane {
  int64_t rows, cols;
  explicit PaddedPlane(const ConvGeometry& g)
      : rows((g.out_height - 1) * g.stride_h + (g.kernel_h - 1) * g.dilation_h + 1),
        cols((g.out_width - 1) * g.stride_w + (g.kernel_w - 1) * g.dilation_w + 1) {}
  int64_t size() const { return rows * cols; }
};

template <typename T>
void pad_plane(const ConvGeometry& g, const PaddedPlane& pp, const T* x, T* padded) {
  for (int64_t r = 0; r < pp.rows; ++r) {
    T* d = padded + r * pp.cols;
    const int64_t iy = r - g.pad_h;
    if (iy < 0 || iy >= g.height) {
      std::fill(d, d + pp.cols, T(0));
      continue;
    }
    const Span s = valid_span(-g.pad_w, 1, pp.cols, g.width);
    std::fill(d, d + s.lo, T(0));
    std::memcpy(d + s.lo, x + iy * g.width + s.lo - g.pad_w, sizeof(T) * (s.hi - s.lo));
    std::fill(d + s.hi, d + pp.cols, T(0));
  }
}

// out[i] += w * src[i * step], i < n (vectorized when step is 1).
template <typename T>
inline void axpy_row(T* __restrict out, T w, const T* __restrict src, int64_t step, int64_t n) {
  if (step == 1)
    for (int64_t i = 0; i < n; ++i) out[i] += w * src[i];
  else
    for (int64_t i = 0; i < n; ++i) out[i] += w * src[i * step];
}

template <typename T>
void forward_direct(const ConvArgs& args) {
  const ConvGeometry& g = args.geo;
  const PaddedPlane pp(g);
  const int64_t Og = out_group(g), P = out_pixels(g);
  const T* x = reinterpret_cast<const T*>(args.x);
  const T* w = reinterpret_cast<const T*>(args.weight);
  const T* bias = reinterpret_cast<const T*>(args.bias);
  T* y = reinterpret_cast<T*>(args.out);
  // A task is one (image, input channel): its padded plane serves the group's Og outputs.
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, P * taps(g) * Og));
  parallel_for(0, g.batch * g.in_channels, grain, [&](int64_t lo, int64_t hi) {
    Scratch padded(sizeof(T) * pp.size());
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t n = task / g.in_channels, c = task % g.in_channels;
      pad_plane(g, pp, x + task * in_pixels(g), padded.as<T>());
      for (int64_t o = c * Og; o < (c + 1) * Og; ++o) {
        T* out = y + (n * g.out_channels + o) * P;
        std::fill(out, out + P, bias ? bias[o] : T(0));
        const T* wo = w + o * taps(g);
        for (int64_t oy = 0; oy < g.out_height; ++oy) {
          T* out_row = out + oy * g.out_width;
          for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
            const T* in_row = padded.as<T>() + (oy * g.stride_h + ky * g.dilation_h) * pp.cols;
            for (int64_t kx = 0; kx < g.kernel_w; ++kx)
              axpy_row(out_row, wo[ky * g.kernel_w + kx], in_row + kx * g.dilation_w, g.stride_w, g.out_width);
          }
        }
      }
    }
  });
}

template <typename T>
void backward_input_direct(const ConvArgs& args) {
  const ConvGeometry& g = args.geo;
  const PaddedPlane pp(g);
  const int64_t Og = out_group(g), P = out_pixels(g);
  const T* w = reinterpret_cast<const T*>(args.weight);
  const T* gy = reinterpret_cast<const T*>(args.grad_out);
  T* gx = reinterpret_cast<T*>(args.out);
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, P * taps(g) * Og));
  parallel_for(0, g.batch * g.in_channels, grain, [&](int64_t lo, int64_t hi) {
    Scratch padded(sizeof(T) * pp.size());
    T* pad = padded.as<T>();
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t n = task / g.in_channels, c = task % g.in_channels;
      std::fill(pad, pad + pp.size(), T(0));
      for (int64_t o = c * Og; o < (c + 1) * Og; ++o) {
        const T* go = gy + (n * g.out_channels + o) * P;
        const T* wo = w + o * taps(g);
        for (int64_t oy = 0; oy < g.out_height; ++oy) {
          const T* g_row = go + oy * g.out_width;
          for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
            T* in_row = pad + (oy * g.stride_h + ky * g.dilation_h) * pp.cols;
            for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
              const T wk = wo[ky * g.kernel_w + kx];
              T* d = in_row + kx * g.dilation_w;
              if (g.stride_w == 1)
                for (int64_t ox = 0; ox < g.out_width; ++ox) d[ox] += wk * g_row[ox];
              else
                for (int64_t ox = 0; ox < g.out_width; ++ox) d[ox * g.stride_w] += wk * g_row[ox];
            }
          }
        }
      }
      // Crop: input pixels outside the padded plane get no gradient.
      T* out = gx + task * in_pixels(g);
      for (int64_t iy = 0; iy < g.height; ++iy) {
        T* d = out + iy * g.width;
        const int64_t r = iy + g.pad_h;
        if (r >= pp.rows) {
          std::fill(d, d + g.width, T(0));
          continue;
        }
        const Span s = valid_span(g.pad_w, 1, g.width, pp.cols);
        std::fill(d, d + s.lo, T(0));
        std::memcpy(d + s.lo, pad + r * pp.cols + g.pad_w + s.lo, sizeof(T) * (s.hi - s.lo));
        std::fill(d + s.hi, d + g.width, T(0));
      }
    }
  });
}

template <typename T>
void backward_weight_direct(const ConvArgs& args) {
  const ConvGeometry& g = args.geo;
  const PaddedPlane pp(g);
  const int64_t Og = out_group(g), P = out_pixels(g), kt = taps(g);
  const T* x = reinterpret_cast<const T*>(args.x);
  const T* gy = reinterpret_cast<const T*>(args.grad_out);
  T* gw = reinterpret_cast<T*>(args.out);
  // A task is one output channel over all images; each tap sums into a row of out_width
  // partial sums (vectorized), added up at the end in a fixed order.
  parallel_for(0, g.out_channels, 1, [&](int64_t lo, int64_t hi) {
    Scratch padded(sizeof(T) * pp.size());
    Scratch rows(sizeof(T) * kt * g.out_width);
    T* acc = rows.as<T>();
    for (int64_t o = lo; o < hi; ++o) {
      const int64_t c = o / Og;
      std::fill(acc, acc + kt * g.out_width, T(0));
      for (int64_t n = 0; n < g.batch; ++n) {
        pad_plane(g, pp, x + (n * g.in_channels + c) * in_pixels(g), padded.as<T>());
        const T* go = gy + (n * g.out_channels + o) * P;
        for (int64_t oy = 0; oy < g.out_height; ++oy) {
          const T* g_row = go + oy * g.out_width;
          for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
            const T* in_row = padded.as<T>() + (oy * g.stride_h + ky * g.dilation_h) * pp.cols;
            for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
              T* a = acc + (ky * g.kernel_w + kx) * g.out_width;
              const T* src = in_row + kx * g.dilation_w;
              if (g.stride_w == 1)
                for (int64_t ox = 0; ox < g.out_width; ++ox) a[ox] += g_row[ox] * src[ox];
              else
                for (int64_t ox = 0; ox < g.out_width; ++ox) a[ox] += g_row[ox] * src[ox * g.stride_w];
            }
          }
        }
      }
      for (int64_t t = 0; t < kt; ++t) {
        T total = 0;
        for (int64_t ox = 0; ox < g.out_width; ++ox) total += acc[t * g.out_width + ox];
        gw[o * kt + t] = total;
      }
    }
  });
}

template <typename T>
void conv_typed(const ConvArgs& args) {
  const ConvGeometry& g = args.geo;
  const bool direct = in_group(g) == 1 && g.groups > 1;
  switch (args.pass) {
    case ConvPass::forward: return direct ? forward_direct<T>(args) : forward_gemm<T>(args);
    case ConvPass::backward_input: return direct ? backward_input_direct<T>(args) : backward_input_gemm<T>(args);
    case ConvPass::backward_weight: return direct ? backward_weight_direct<T>(args) : backward_weight_gemm<T>(args);
  }
}

}  // namespace

void conv(const ConvArgs& args) {
  if (args.dtype == DType::float32) conv_typed<float>(args);
  else conv_typed<double>(args);
}

}  // namespace fibril::cpu::FIBRIL_ISA
