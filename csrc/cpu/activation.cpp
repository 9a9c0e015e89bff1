// Activation kernels, forward and backward, one vectorized pass each over contiguous memory.
// Each activation is one struct with fwd(x) and bwd(x, g) written once over the lane type V
// (lanes.h): __m256 along the array and float for the tail in the AVX2 build, float alone in
// the generic one, double with libm for float64. Backward takes the forward's input x, so it
// reads x and g and writes the gradient: one pass, no saved output needed.
//
// float32 accuracy, max ulps of the float64 formula over every 997th float32 bit pattern
// (tests/test_activation.py::test_vec_math_gelu_ulp; erf in test_elementwise.py), avx2 / generic:
// erf 1.87 / 2.00, gelu 5.68 / 6.94 (its one erfc form, see vec_math.h; the generic build's
// multiply-adds round twice); gelu's derivative within 1.93 / 2.07 (ulp of the result + 2^-24)
// (test_vec_math_gelu_grad_accuracy); gelu_tanh 27 / 25 for x >= -5 and up to 115 / 169 where
// the result is below 1e-27: the float32 rounding of its argument s is amplified by e^s (as in
// PyTorch). Outputs past the caches (cpu/streaming.h) go out with streaming stores.
//
// Measured with `python -m bench --family activation`, two runs (AMD EPYC Zen 1 (KVM), 2
// threads, avx2; the 2 cores shared with three other engineers' builds and benchmarks, load
// average 5-9, copy probe 5.9 / 6.0 GB/s); 16M float32, bytes as in bench/bench_activation.py,
// ratio = torch 2.13 time / ours:
//   gelu fwd           118 / 77 ms, 19% / 29% of copy, 1.57x / 1.69x torch (before: 0.93x)
//   gelu fwd+bwd       112 / 156 ms, 51% / 36%,        1.77x / 1.71x torch (before: 0.97x)
//   gelu_tanh fwd       40 / 36 ms, 57% / 62%,         4.34x / 4.82x torch
//   gelu_tanh fwd+bwd  134 / 99 ms, 42% / 56%,         3.73x / 4.52x torch
//   silu fwd            32 / 28 ms, 71% / 80%,         2.71x / 2.90x torch
//   silu fwd+bwd        36 / 108 ms, 159% / 51%,       2.58x / 2.15x torch
// Compute-bound, not memory-bound (gelu ~3 ns/element of CPU time single-threaded, in cache or
// not): gelu costs exp_2p64, a degree-8 polynomial and a division per element; its backward
// shares them between Phi(x) and the density.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/parallel.h"
#include "cpu/kernels.h"
#include "cpu/lanes.h"

namespace fibril::cpu::FIBRIL_ISA {
namespace {

using vm::cst;

struct Params {
  double a, b, c;
};

template <typename V>
V zero() {
  return cst<V>(0.0);
}

// Selecting on x < 0 (not x > 0) lets NaN through, as PyTorch.
struct Relu {
  template <typename V> static V fwd(V x, const Params&) { return vm::select(vm::lt(x, zero<V>()), zero<V>(), x); }
  template <typename V> static V bwd(V x, V g, const Params&) { return vm::select(vm::gt(x, zero<V>()), g, zero<V>()); }
};

struct LeakyRelu {
  template <typename V> static V fwd(V x, const Params& p) {
    return vm::select(vm::lt(x, zero<V>()), x * cst<V>(p.a), x);
  }
  template <typename V> static V bwd(V x, V g, const Params& p) {
    return vm::select(vm::gt(x, zero<V>()), g, g * cst<V>(p.a));
  }
};

// elu, selu and celu: b x for x > 0, else b a expm1(c x).
struct Elu {
  template <typename V> static V fwd(V x, const Params& p) {
    V neg = cst<V>(p.b * p.a) * vm::expm1(x * cst<V>(p.c));  // NaN x stays NaN
    return vm::select(vm::gt(x, zero<V>()), x * cst<V>(p.b), neg);
  }
  template <typename V> static V bwd(V x, V g, const Params& p) {
    V neg = cst<V>(p.b * p.a * p.c) * vm::exp(x * cst<V>(p.c));
    return g * vm::select(vm::gt(x, zero<V>()), cst<V>(p.b), neg);
  }
};

struct Gelu {
  template <typename V> static V fwd(V x, const Params&) {
    if constexpr (std::is_same_v<V, double>) return 0.5 * x * std::erfc(-x * 0.70710678118654752440);
    else return vm::gelu(x);
  }
  // Phi(x) + x phi(x); float32 shares e^(-x^2/2) between the two terms
  template <typename V> static V bwd(V x, V g, const Params&) {
    if constexpr (std::is_same_v<V, double>) {
      const double cdf = 0.5 * std::erfc(-x * 0.70710678118654752440);
      return g * (cdf + x * std::exp(-0.5 * x * x) * 0.39894228040143267794);
    } else {
      return g * vm::gelu_grad(x);
    }
  }
};

// 0.5 x (1 + tanh(k (x + 0.044715 x^3))), k = sqrt(2/pi)
struct GeluTanh {
  template <typename V> static V inner(V x) {
    return x * vm::fmadd(x * x, cst<V>(0.044715 * 0.79788456080286535588), cst<V>(0.79788456080286535588));
  }
  template <typename V> static V fwd(V x, const Params&) {
    if constexpr (std::is_same_v<V, double>) return 0.5 * x * (1 + std::tanh(inner(x)));
    else return vm::gelu_tanh(x);
  }
  template <typename V> static V bwd(V x, V g, const Params&) {
    if constexpr (std::is_same_v<V, double>) {
      const double t = std::tanh(inner(x));
      const double dinner = 0.79788456080286535588 * (1 + 3 * 0.044715 * x * x);
      return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dinner);
    } else {
      return g * vm::gelu_tanh_grad(x);
    }
  }
};

struct Silu {
  template <typename V> static V fwd(V x, const Params&) { return x * vm::sigmoid(x); }
  template <typename V> static V bwd(V x, V g, const Params&) {
    V s = vm::sigmoid(x);
    return g * s * vm::fmadd(x, cst<V>(1.0) - s, cst<V>(1.0));
  }
};

// softplus(x) = log1p(e^-|x|) + max(x, 0), without overflow.
template <typename V>
V softplus1(V x) {
  return vm::log1p(vm::exp(-vm::vabs(x))) + vm::vmax(x, zero<V>());
}

struct Mish {
  template <typename V> static V fwd(V x, const Params&) { return x * vm::tanh(softplus1(x)); }
  template <typename V> static V bwd(V x, V g, const Params&) {
    V t = vm::tanh(softplus1(x));
    return g * vm::fmadd(x * vm::sigmoid(x), cst<V>(1.0) - t * t, t);
  }
};

struct Sigmoid {
  template <typename V> static V fwd(V x, const Params&) { return vm::sigmoid(x); }
  template <typename V> static V bwd(V x, V g, const Params&) {
    V s = vm::sigmoid(x);
    return g * s * (cst<V>(1.0) - s);
  }
};

struct Tanh {
  template <typename V> static V fwd(V x, const Params&) { return vm::tanh(x); }
  template <typename V> static V bwd(V x, V g, const Params&) {
    V t = vm::tanh(x);
    return g * (cst<V>(1.0) - t * t);
  }
};

// log1p(e^(beta x)) / beta, and x itself where beta x > threshold (as PyTorch).
struct Softplus {
  template <typename V> static V fwd(V x, const Params& p) {
    V bx = x * cst<V>(p.a);
    return vm::select(vm::gt(bx, cst<V>(p.b)), x, softplus1(bx) / cst<V>(p.a));
  }
  template <typename V> static V bwd(V x, V g, const Params& p) {
    V bx = x * cst<V>(p.a);
    return vm::select(vm::gt(bx, cst<V>(p.b)), g, g * vm::sigmoid(bx));
  }
};

struct Softsign {
  template <typename V> static V fwd(V x, const Params&) { return x / (cst<V>(1.0) + vm::vabs(x)); }
  template <typename V> static V bwd(V x, V g, const Params&) {
    V d = cst<V>(1.0) + vm::vabs(x);
    return g / (d * d);
  }
};

// Clamp to [a, b]; the gradient passes strictly inside (PyTorch's rule at the edges).
struct Hardtanh {
  template <typename V> static V fwd(V x, const Params& p) {
    V lo = cst<V>(p.a), hi = cst<V>(p.b);
    return vm::select(vm::lt(x, lo), lo, vm::select(vm::gt(x, hi), hi, x));
  }
  template <typename V> static V bwd(V x, V g, const Params& p) {
    return vm::select(vm::gt(x, cst<V>(p.a)), vm::select(vm::lt(x, cst<V>(p.b)), g, zero<V>()), zero<V>());
  }
};

// clamp(x / 6 + 1/2, 0, 1)
struct Hardsigmoid {
  template <typename V> static V fwd(V x, const Params&) {
    const V t = x * cst<V>(1.0 / 6) + cst<V>(0.5);  // selects, not min/max: NaN stays NaN, as torch
    return vm::select(vm::lt(t, zero<V>()), zero<V>(), vm::select(vm::gt(t, cst<V>(1.0)), cst<V>(1.0), t));
  }
  template <typename V> static V bwd(V x, V g, const Params&) {
    V inside = vm::select(vm::lt(x, cst<V>(3.0)), g * cst<V>(1.0 / 6), zero<V>());
    return vm::select(vm::gt(x, cst<V>(-3.0)), inside, zero<V>());
  }
};

// x hardsigmoid(x); gradient 0 up to -3, x/3 + 1/2 strictly inside, 1 from 3 (PyTorch's edges).
struct Hardswish {
  template <typename V> static V fwd(V x, const Params& p) { return x * Hardsigmoid::fwd(x, p); }
  template <typename V> static V bwd(V x, V g, const Params&) {
    V mid = vm::select(vm::lt(x, cst<V>(3.0)), g * vm::fmadd(x, cst<V>(1.0 / 3), cst<V>(0.5)), g);
    return vm::select(vm::gt(x, cst<V>(-3.0)), mid, zero<V>());
  }
};

constexpr int64_t kGrain = 32768;

template <typename Act, typename T>
void run(const ActivationArgs& a) {
  const T* x = reinterpret_cast<const T*>(a.x);
  const T* g = reinterpret_cast<const T*>(a.g);
  T* out = reinterpret_cast<T*>(a.out);
  const Params p{a.a, a.b, a.c};
  const bool stream = a.n * static_cast<int64_t>(sizeof(T)) >= vm::kStreamBytes;
  parallel_for(0, a.n, kGrain, [&](int64_t lo, int64_t hi) {
    if (g) {
      vm::put(out + lo, hi - lo, stream, [&](auto v, int64_t i) {
        using V = decltype(v);
        vm::prefetch_next_page(x + lo + i);
        vm::prefetch_next_page(g + lo + i);
        return Act::bwd(vm::load<V>(x + lo + i), vm::load<V>(g + lo + i), p);
      });
    } else {
      vm::put(out + lo, hi - lo, stream, [&](auto v, int64_t i) {
        using V = decltype(v);
        vm::prefetch_next_page(x + lo + i);
        return Act::fwd(vm::load<V>(x + lo + i), p);
      });
    }
    vm::stream_fence();
  });
}

template <typename T>
void dispatch(const ActivationArgs& a) {
  switch (a.kind) {
    case ActivationKind::relu: return run<Relu, T>(a);
    case ActivationKind::leaky_relu: return run<LeakyRelu, T>(a);
    case ActivationKind::elu: return run<Elu, T>(a);
    case ActivationKind::gelu: return run<Gelu, T>(a);
    case ActivationKind::gelu_tanh: return run<GeluTanh, T>(a);
    case ActivationKind::silu: return run<Silu, T>(a);
    case ActivationKind::mish: return run<Mish, T>(a);
    case ActivationKind::sigmoid: return run<Sigmoid, T>(a);
    case ActivationKind::tanh: return run<Tanh, T>(a);
    case ActivationKind::softplus: return run<Softplus, T>(a);
    case ActivationKind::softsign: return run<Softsign, T>(a);
    case ActivationKind::hardtanh: return run<Hardtanh, T>(a);
    case ActivationKind::hardsigmoid: return run<Hardsigmoid, T>(a);
    case ActivationKind::hardswish: return run<Hardswish, T>(a);
  }
}

}  // namespace

void activation(const ActivationArgs& a) {
  if (a.dtype == DType::float32) dispatch<float>(a);
  else dispatch<double>(a);
}

}  // namespace fibril::cpu::FIBRIL_ISA
