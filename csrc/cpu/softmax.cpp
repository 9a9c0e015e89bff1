// Softmax family kernels: softmax and log_softmax (forward and backward) over contiguous rows,
// and the fused class-index losses (cross_entropy from logits, nll_loss from log-probabilities)
// with their backward. Rows are split across threads; each row is done by one thread in a
// fixed order, so results do not depend on the thread count.
//
// A row makes its passes while it sits in L1/L2 (a 4096-float row is 16 KiB), so memory sees
// one read of x and one write of the result: softmax = max, then e = exp(x - max) stored and
// summed, then e * (1 / sum); log_softmax = (x - max) - log(sum exp(x - max)). The shift by
// the max keeps exp finite for logits of +-1e4; a row that is all -inf gives NaN (as PyTorch).
// Losses take (max - x[t]) + log(sum) rather than lse - x[t], exact for large logits in float32.
// float32 takes vec_math.h's exp_2p64 (2^64 e^x for x <= 0: one reduction, one scaling, no
// special-case selects; the 2^64 cancels in 1/sum or goes with one last multiply) and log,
// float64 libm's. Outputs past the caches (cpu/streaming.h) go out with streaming stores,
// softmax's e then kept in a per-thread row of scratch: no read of the output's lines first.
//
// Measured with `python -m bench --family softmax`, two runs (AMD EPYC Zen 1 (KVM), 2 threads,
// avx2; the 2 cores shared with three other engineers' builds and benchmarks, load average
// 5-9: the FMA probe read 20-26 of the cores' 64 GFLOP/s, the copy probe 5.9 / 6.2 GB/s);
// bytes per element as in bench/bench_softmax.py, ratio = torch 2.13 time / ours:
//   softmax fwd 8192x4096       212 / 128 ms, 21% / 34% of copy, 1.79x / 2.58x torch
//   softmax fwd+bwd             272 / 131 ms, 42% / 82%,         3.14x / 2.99x torch
//   log_softmax fwd             122 /  96 ms, 37% / 45%,         2.68x / 3.12x torch
//   log_softmax fwd+bwd         186 / 208 ms, 61% / 52%,         1.84x / 2.76x torch
//   cross_entropy fwd+bwd 2048x32000  204 / 333 ms, 65% / 38%,   3.76x / 3.56x torch
// (before: 78-283 ms, 24-49% of an 11 GB/s copy, 1.80-2.83x torch, on a quieter machine.)
// Short of the copy roofline because exp is the bound, not memory: single-threaded, softmax
// costs the same 1.9 ns/element (CPU time) on rows in L1 as on 128 MiB, and exp_2p64 is most
// of it; fwd+bwd rows gain from the leaf taking the backward's gradient without a copy.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "core/parallel.h"
#include "cpu/kernels.h"
#include "cpu/lanes.h"
#include "cpu/scratch.h"

namespace fibril::cpu::FIBRIL_ISA {
namespace {

constexpr int64_t kGrainElements = 32768;

// Row blocks to threads; each block's streaming stores are fenced before it hands back.
template <typename F>
void for_row_blocks(int64_t rows, int64_t n, F&& f) {
  parallel_for(0, rows, std::max<int64_t>(1, kGrainElements / std::max<int64_t>(n, 1)), [&](int64_t lo, int64_t hi) {
    f(lo, hi);
    vm::stream_fence();
  });
}

template <typename T>
bool streams(int64_t rows, int64_t n) {
  return rows * n * static_cast<int64_t>(sizeof(T)) >= vm::kStreamBytes;
}

// e^x / kUnscale<T> for x <= 0: float lanes take vm::exp_2p64 (2^64 e^x, so subnormal results
// round once, at the caller's last multiply or in a ratio), double lanes libm's exp.
template <typename V>
V exp_scaled(V x) {
  if constexpr (std::is_same_v<V, double>) return std::exp(x);
  else return vm::exp_2p64_nonpositive(x);
}

template <typename T>
constexpr T kUnscale = std::is_same_v<T, float> ? T(5.42101086242752217e-20) : T(1);  // 2^-64 or 1

// e = exp_scaled(x - m) stored and summed.
template <typename T>
T exp_shifted(const T* x, T* e, int64_t n, T m) {
  return vm::sum<T>(n, [&](auto v, int64_t i) {
    using V = decltype(v);
    V y = exp_scaled(vm::load<V>(x + i) - vm::cst<V>(m));
    vm::store(e + i, y);
    return y;
  });
}

// log sum e^(x - m), nothing stored.
template <typename T>
T log_sum_exp_shifted(const T* x, int64_t n, T m) {
  const T s = vm::sum<T>(n, [&](auto v, int64_t i) {
    using V = decltype(v);
    return exp_scaled(vm::load<V>(x + i) - vm::cst<V>(m));
  });
  return vm::log(s * kUnscale<T>);
}

template <typename T>
void softmax_rows(const SoftmaxArgs& a) {
  const int64_t n = a.n;
  const T* x = reinterpret_cast<const T*>(a.x);
  const T* g = reinterpret_cast<const T*>(a.g);
  T* out = reinterpret_cast<T*>(a.out);
  const bool stream = streams<T>(a.rows, n);
  for_row_blocks(a.rows, n, [&](int64_t lo, int64_t hi) {
    // softmax keeps e^(x - max) here when the output is streamed, else in the output row
    Scratch buf(stream && a.kind == SoftmaxKind::softmax ? n * sizeof(T) : 0);
    for (int64_t r = lo; r < hi; ++r) {
      const T* xr = x + r * n;
      const T* gr = g ? g + r * n : nullptr;
      T* o = out + r * n;
      switch (a.kind) {
        case SoftmaxKind::softmax: {
          T* e = stream ? buf.as<T>() : o;
          const T inv = T(1) / exp_shifted(xr, e, n, vm::max(xr, n));
          vm::put(o, n, stream, [&](auto v, int64_t i) {
            using V = decltype(v);
            return vm::load<V>(e + i) * vm::cst<V>(inv);
          });
          break;
        }
        case SoftmaxKind::log_softmax: {
          const T m = vm::max(xr, n);
          const T lse = log_sum_exp_shifted(xr, n, m);
          vm::put(o, n, stream, [&](auto v, int64_t i) {
            using V = decltype(v);
            return (vm::load<V>(xr + i) - vm::cst<V>(m)) - vm::cst<V>(lse);
          });
          break;
        }
        case SoftmaxKind::softmax_backward: {
          const T dot = vm::sum<T>(n, [&](auto v, int64_t i) {
            using V = decltype(v);
            return vm::load<V>(gr + i) * vm::load<V>(xr + i);
          });
          vm::put(o, n, stream, [&](auto v, int64_t i) {
            using V = decltype(v);
            return vm::load<V>(xr + i) * (vm::load<V>(gr + i) - vm::cst<V>(dot));
          });
          break;
        }
        case SoftmaxKind::log_softmax_backward: {
          const T total = vm::sum<T>(n, [&](auto v, int64_t i) {
            using V = decltype(v);
            return vm::load<V>(gr + i);
          });
          vm::put(o, n, stream, [&](auto v, int64_t i) {
            using V = decltype(v);
            V p = exp_scaled(vm::load<V>(xr + i)) * vm::cst<V>(kUnscale<T>);
            return vm::load<V>(gr + i) - p * vm::cst<V>(total);
          });
          break;
        }
      }
    }
  });
}

template <typename T>
T weight_of(const T* w, int64_t c) {
  return w ? w[c] : T(1);
}

template <typename T>
bool class_loss_rows(const ClassLossArgs& a) {
  const int64_t n = a.n;
  const T* x = reinterpret_cast<const T*>(a.x);
  const T* w = reinterpret_cast<const T*>(a.weight);
  T* loss = reinterpret_cast<T*>(a.loss);
  T* row_weight = reinterpret_cast<T*>(a.row_weight);
  T* stats = reinterpret_cast<T*>(a.stats);
  const T s = static_cast<T>(a.smoothing);
  std::atomic<bool> ok{true};
  auto row = [&](int64_t r) {
    const int64_t t = a.target[r];
    if (t == a.ignore_index) {
      loss[r] = row_weight[r] = 0;
      if (a.logits) stats[2 * r] = stats[2 * r + 1] = 0;
      return;
    }
    if (t < 0 || t >= n) {
      ok.store(false, std::memory_order_relaxed);
      loss[r] = row_weight[r] = 0;
      return;
    }
    const T* xr = x + r * n;
    const T wt = weight_of(w, t);
    row_weight[r] = wt;
    if (!a.logits) {
      loss[r] = -wt * xr[t];
      return;
    }
    const T m = vm::max(xr, n);
    const T log_sum = log_sum_exp_shifted(xr, n, m);
    stats[2 * r] = m;
    stats[2 * r + 1] = log_sum;
    T l = (1 - s) * wt * ((m - xr[t]) + log_sum);
    if (s != 0) {
      T smooth = 0;
      for (int64_t c = 0; c < n; ++c) smooth += weight_of(w, c) * ((m - xr[c]) + log_sum);
      l += s / T(n) * smooth;
    }
    loss[r] = l;
  };
  for_row_blocks(a.rows, n, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) row(r);
  });
  return ok.load();
}

template <typename T>
void class_loss_backward_rows(const ClassLossArgs& a) {
  const int64_t n = a.n;
  const T* x = reinterpret_cast<const T*>(a.x);
  const T* w = reinterpret_cast<const T*>(a.weight);
  const T* stats = reinterpret_cast<const T*>(a.stats);
  const T* g = reinterpret_cast<const T*>(a.g);
  T* gx = reinterpret_cast<T*>(a.gx);
  const T s = static_cast<T>(a.smoothing);
  const bool stream = streams<T>(a.rows, n);
  T w_total = T(n);
  if (w) {
    w_total = 0;
    for (int64_t c = 0; c < n; ++c) w_total += w[c];
  }
  auto row = [&](int64_t r) {
    const int64_t t = a.target[r];
    T* o = gx + r * n;
    const T gr = g[r * a.g_stride];
    auto zero = [&](auto v, int64_t) { return vm::cst<decltype(v)>(0.0); };
    if (t == a.ignore_index || gr == 0) {
      vm::put(o, n, stream, zero);
      return;
    }
    const T wt = weight_of(w, t);
    if (!a.logits) {
      vm::put(o, n, stream, zero);
      o[t] = -gr * wt;
      return;
    }
    // d/dx_j = p_j ((1 - s) w_t + s W / n) - (1 - s) w_t [j == t] - (s / n) w_j
    const T* xr = x + r * n;
    const T p_scale = gr * ((1 - s) * wt + s * w_total / T(n));
    const T k = gr * s / T(n);
    const T m = stats[2 * r], log_sum = stats[2 * r + 1];
    vm::put(o, n, stream, [&](auto v, int64_t i) {
      using V = decltype(v);
      vm::prefetch_next_page(xr + i);  // the row comes from memory, behind an exp per element
      V p = exp_scaled((vm::load<V>(xr + i) - vm::cst<V>(m)) - vm::cst<V>(log_sum)) * vm::cst<V>(kUnscale<T>);
      V d = p * vm::cst<V>(p_scale);
      if (s != 0) d = d - (w ? vm::cst<V>(k) * vm::load<V>(w + i) : vm::cst<V>(k));
      return d;
    });
    o[t] -= gr * (1 - s) * wt;
  };
  for_row_blocks(a.rows, n, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) row(r);
  });
}

}  // namespace

void softmax(const SoftmaxArgs& a) {
  if (a.dtype == DType::float32) softmax_rows<float>(a);
  else softmax_rows<double>(a);
}

bool class_loss(const ClassLossArgs& a) {
  return a.dtype == DType::float32 ? class_loss_rows<float>(a) : class_loss_rows<double>(a);
}

void class_loss_backward(const ClassLossArgs& a) {
  if (a.dtype == DType::float32) class_loss_backward_rows<float>(a);
  else class_loss_backward_rows<double>(a);
}

}  // namespace fibril::cpu::FIBRIL_ISA
