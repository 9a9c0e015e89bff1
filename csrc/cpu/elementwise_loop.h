// The iteration shared by every elementwise kernel: out and up to three inputs over one n-d
// index space. Only included from per-ISA translation units.
//
// Dims of size 1 are dropped, the rest ordered by the output's strides (largest first, so an
// `out=` that is a transposed view is still written along its memory) and neighbours that are
// contiguous in every operand merged: a contiguous op of any shape becomes one row, a row
// vector + matrix broadcast becomes rows with a stride-0 operand. A row kernel then runs
// along the innermost dim; rows (or blocks of a single row) are split across threads in
// chunks of >= kGrain elements, so small arrays run inline on the caller.
//
// Outputs beyond the cache (cpu/streaming.h) whose rows are contiguous are computed block by
// block into an L1 buffer and written with non-temporal stores: this skips the read-for-
// ownership of every output line, a quarter of a binary op's memory traffic.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>

#include "core/parallel.h"
#include "cpu/kernels.h"
#include "cpu/streaming.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace fibril::cpu::FIBRIL_ISA {

constexpr int kMaxOperands = 4;  // out + 3 inputs
constexpr int64_t kGrain = 32768;  // elements below which waking a worker costs more than it saves
constexpr int64_t kBlockBytes = 8192;  // the L1 staging buffer of a streamed row

// out[i*os] = f(in[k][i*is[k]], ...) for i < n. Returns false if an integer division met a
// zero divisor (the row is then left unwritten).
using RowFn = bool (*)(char* out, int64_t os, const char* const* in, const int64_t* is, int64_t n);

struct Operands {
  int count;                       // out + inputs
  char* base[kMaxOperands];        // out first
  int64_t itemsize[kMaxOperands];
};

struct Dims {
  int n = 0;
  int64_t size[64];
  int64_t stride[64][kMaxOperands];  // in elements
};

inline bool build_dims(const ElementwiseArgs& a, int nin, Dims* d) {
  for (int i = 0; i < a.ndim; ++i) {
    if (a.shape[i] == 0) return false;
    if (a.shape[i] == 1) continue;
    d->size[d->n] = a.shape[i];
    d->stride[d->n][0] = a.out_strides[i];
    for (int k = 0; k < nin; ++k) d->stride[d->n][k + 1] = a.in_strides[k][i];
    ++d->n;
  }
  // Insertion sort by output stride, descending; a no-op for the usual contiguous output.
  for (int i = 1; i < d->n; ++i) {
    for (int j = i; j > 0 && d->stride[j - 1][0] < d->stride[j][0]; --j) {
      std::swap(d->size[j - 1], d->size[j]);
      for (int k = 0; k <= nin; ++k) std::swap(d->stride[j - 1][k], d->stride[j][k]);
    }
  }
  int m = 0;
  for (int i = 0; i < d->n; ++i) {
    bool merge = m > 0;
    for (int k = 0; merge && k <= nin; ++k) merge = d->stride[m - 1][k] == d->stride[i][k] * d->size[i];
    if (merge) {
      d->size[m - 1] *= d->size[i];
      for (int k = 0; k <= nin; ++k) d->stride[m - 1][k] = d->stride[i][k];
    } else {
      d->size[m] = d->size[i];
      for (int k = 0; k <= nin; ++k) d->stride[m][k] = d->stride[i][k];
      ++m;
    }
  }
  d->n = m;
  return true;
}

// dst[0, nbytes) = src with non-temporal stores where dst is 16-byte aligned.
inline void stream_copy(char* dst, const char* src, int64_t nbytes) {
  int64_t i = 0;
#if defined(__AVX2__)
  for (; i + 32 <= nbytes; i += 32)
    _mm256_stream_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_load_si256(reinterpret_cast<const __m256i*>(src + i)));
#elif defined(__SSE2__)
  for (; i + 16 <= nbytes; i += 16)
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i), _mm_load_si128(reinterpret_cast<const __m128i*>(src + i)));
#endif
  std::memcpy(dst + i, src + i, static_cast<size_t>(nbytes - i));
}

// One row, computed through the L1 buffer and streamed out (out stride 1).
inline bool streamed_row(RowFn row, char* out, const char* const* in, const int64_t* is, int nin,
                         const int64_t* itemsize, int64_t n) {
  alignas(64) char buf[kBlockBytes];
  const int64_t osize = itemsize[0];
  const int64_t block = kBlockBytes / osize;
  // Until out is 32-byte aligned: directly (a misaligned element type never aligns).
  int64_t head = (32 - static_cast<int64_t>(reinterpret_cast<uintptr_t>(out) % 32)) % 32;
  head = head % osize == 0 ? std::min(n, head / osize) : n;
  if (head > 0 && !row(out, 1, in, is, head)) return false;
  const char* p[3];
  for (int64_t i = head; i < n; i += block) {
    const int64_t len = std::min(block, n - i);
    for (int k = 0; k < nin; ++k) {
      p[k] = in[k] + i * is[k] * itemsize[k + 1];
      // The next block's input, into L2: hardware prefetchers stop at page boundaries, and a
      // math-heavy row (exp, tanh) would wait for memory at every page.
      const int64_t bytes = len * itemsize[k + 1];
      if (is[k] == 1)
        for (int64_t b = bytes; b < 2 * bytes; b += 64) __builtin_prefetch(p[k] + b, 0, 2);
    }
    if (!row(buf, 1, p, is, len)) return false;
    stream_copy(out + i * osize, buf, len * osize);
  }
  return true;
}

// Runs `row` over the whole index space of `a` with `nin` inputs; false on a zero divisor.
inline bool run_elementwise(const ElementwiseArgs& a, int nin, const int64_t* itemsize, RowFn row) {
  Dims d;
  if (!build_dims(a, nin, &d)) return true;  // empty
  if (d.n == 0) {  // one element: a row of one, still through parallel_for (it sets FTZ/DAZ)
    d.n = 1;
    d.size[0] = 1;
    for (int k = 0; k <= nin; ++k) d.stride[0][k] = 1;
  }

  const int inner = d.n - 1;
  const int64_t len = d.size[inner];
  int64_t is[3];
  for (int k = 0; k < nin; ++k) is[k] = d.stride[inner][k + 1];
  const int64_t os = d.stride[inner][0];
  int64_t rows = 1;
  for (int i = 0; i < inner; ++i) rows *= d.size[i];
  bool stream = false;
#if defined(__SSE2__)
  stream = os == 1 && rows * len * itemsize[0] >= kStreamBytes;
#endif
  std::atomic<bool> ok{true};

  if (rows == 1) {  // one long row: split it in blocks, aligned for streaming
    const int64_t block = stream ? kBlockBytes / itemsize[0] : 1;
    parallel_for(0, (len + block - 1) / block, std::max<int64_t>(1, kGrain / block), [&](int64_t lo, int64_t hi) {
      const int64_t b = lo * block, e = std::min(hi * block, len);
      const char* p[3];
      for (int k = 0; k < nin; ++k) p[k] = a.in[k] + b * is[k] * itemsize[k + 1];
      char* o = a.out + b * os * itemsize[0];
      bool r = stream ? streamed_row(row, o, p, is, nin, itemsize, e - b) : row(o, os, p, is, e - b);
      if (!r) ok.store(false, std::memory_order_relaxed);
#if defined(__SSE2__)
      if (stream) _mm_sfence();  // streamed lines must be visible before the chunk reports done
#endif
    });
    return ok.load();
  }

  parallel_for(0, rows, std::max<int64_t>(1, kGrain / len), [&](int64_t lo, int64_t hi) {
    int64_t idx[64];
    int64_t off[kMaxOperands] = {0, 0, 0, 0};
    int64_t r = lo;
    for (int i = inner - 1; i >= 0; --i) {  // the multi-index of row lo
      idx[i] = r % d.size[i];
      r /= d.size[i];
      for (int k = 0; k <= nin; ++k) off[k] += idx[i] * d.stride[i][k];
    }
    const char* p[3];
    bool good = true;
    for (int64_t row_i = lo; row_i < hi && good; ++row_i) {
      for (int k = 0; k < nin; ++k) p[k] = a.in[k] + off[k + 1] * itemsize[k + 1];
      char* o = a.out + off[0] * itemsize[0];
      good = stream ? streamed_row(row, o, p, is, nin, itemsize, len) : row(o, os, p, is, len);
      for (int i = inner - 1; i >= 0; --i) {  // odometer step to the next row
        for (int k = 0; k <= nin; ++k) off[k] += d.stride[i][k];
        if (++idx[i] < d.size[i]) break;
        for (int k = 0; k <= nin; ++k) off[k] -= idx[i] * d.stride[i][k];
        idx[i] = 0;
      }
    }
    if (!good) ok.store(false, std::memory_order_relaxed);
#if defined(__SSE2__)
    if (stream) _mm_sfence();
#endif
  });
  return ok.load();
}

}  // namespace fibril::cpu::FIBRIL_ISA
