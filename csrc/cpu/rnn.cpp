// Pointwise parts of the recurrent cells (RNN tanh/relu, LSTM, GRU), forward and backward, one
// pass over a step's rows each: gate activations, state update and output in forward; the
// pre-activation gradients, the cell-state gradient and the carried state gradient in
// backward. The GEMMs (x W_ih^T for all steps at once, h W_hh^T per step) run in matmul; the
// sequence loop is ops/rnn.cpp. Forward overwrites the pre-activations with the activations,
// so backward recomputes only tanh(c).
//
// Rows are split over threads in chunks of >= kGrainElements values; each element's result
// depends on its row alone, so nothing depends on the thread count. (ops/rnn.cpp usually
// calls these from its per-row-block threads, where they run on the block's thread alone.)
//
// Measured with `python -m bench --family rnn` (AMD EPYC Zen 1 (KVM), avx2, 2 threads, quiet
// machine: other processes stopped), seq 128, batch 64, input 128, hidden 256, float32, the
// whole nn.LSTM / nn.GRU call (GFLOP/s counts the GEMM work), per-row-block steps on W_hh
// packed once; fibril time, GFLOP/s (of ~77 peak), torch time / ours:
//   lstm 1L fwd 110 ms 58.5 (1.11x)   fwd+bwd 328 ms 58.9 (1.22x)
//   lstm 2L fwd 253 ms 59.4 (1.08x)   fwd+bwd 759 ms 59.5 (1.18x)
//   gru  1L fwd  85 ms 56.8 (1.42x)   fwd+bwd 254 ms 57.1 (1.51x)
//   gru  2L fwd 191 ms 59.1 (1.39x)   fwd+bwd 572 ms 59.1 (1.44x)
// Both libraries run LSTM at 70-78% of the FMA peak, so 1.3x there needs a faster GEMM tile,
// not a faster loop: the tiles are 60-80% of the time. On a busy machine torch's OpenMP
// threads lose far more (a barrier per step): 2-4x in the same bench.
//
// Measured on AVX-512 (Intel Xeon VM, 2 cores, FMA peak ~470 GFLOP/s; the cells on 16-float
// lanes, the weight gradients' g^T packed page by page), same bench and threads:
//   lstm 1L fwd 21.0 ms 307 GFLOP/s (1.06x)   fwd+bwd  71 ms 271 (1.51x)
//   lstm 2L fwd 46.6 ms 323 GFLOP/s (0.97x)   fwd+bwd 158 ms 285 (1.45x)
//   gru  1L fwd 16.0 ms 301 GFLOP/s (1.59x)   fwd+bwd  60 ms 242 (1.69x)
//   gru  2L fwd 41.0 ms 275 GFLOP/s (1.39x)   fwd+bwd 129 ms 262 (1.66x)
// The LSTM forward (1 layer, ~24 ms on a slower run): the input projection ~6 ms, the steps'
// GEMMs ~13.5 ms (~80% of peak on their 32-row blocks), the cells ~2.7 ms (4.5 on 8-float
// lanes), bound by their five exact divisions per element (sigmoid, tanh), which 512-bit
// lanes issue no faster per element than 256-bit ones. torch (oneDNN) runs it at ~55% of peak.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/parallel.h"
#include "cpu/kernels.h"
#include "cpu/lanes.h"

namespace fibril::cpu::FIBRIL_ISA {
namespace {

using vm::cst;
using vm::load;
using vm::store;

constexpr int64_t kGrainElements = 8192;

bool active(const RnnCellArgs& a, int64_t b) { return !a.lengths || a.t < a.lengths[b]; }

template <typename T>
const T* cptr(const char* p) { return reinterpret_cast<const T*>(p); }
template <typename T>
T* ptr(char* p) { return reinterpret_cast<T*>(p); }

template <typename T>
void copy_row(T* dst, const T* src, int64_t n) { std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(T)); }
template <typename T>
void zero_row(T* dst, int64_t n) { std::fill(dst, dst + n, T(0)); }

template <typename V>
V one() { return cst<V>(1.0); }

template <typename T>
void forward_row(const RnnCellArgs& a, int64_t b) {
  const int64_t H = a.hidden, P = a.state;
  const T* hp = cptr<T>(a.h_prev) + b * P;
  T* h = ptr<T>(a.h) + b * (a.proj && a.mode != RnnMode::rnn_emit ? H : P);
  T* y = a.y ? ptr<T>(a.y) + b * a.y_rs : nullptr;
  if (a.mode == RnnMode::rnn_emit) {
    if (!active(a, b)) copy_row(h, hp, P);
    if (y) active(a, b) ? copy_row(y, h, P) : zero_row(y, P);
    return;
  }
  if (!active(a, b)) {
    if (a.mode == RnnMode::lstm) copy_row(ptr<T>(a.c) + b * H, cptr<T>(a.c_prev) + b * H, H);
    a.proj ? zero_row(h, H) : copy_row(h, hp, P);
    if (y) zero_row(y, P);
    return;
  }
  T* g = ptr<T>(a.gates) + b * a.gates_rs;
  switch (a.mode) {
    case RnnMode::rnn_tanh:
    case RnnMode::rnn_relu: {
      const bool relu = a.mode == RnnMode::rnn_relu;
      vm::each<T>(H, [&](auto v, int64_t i) {
        using V = decltype(v);
        const V x = load<V>(g + i);
        const V r = relu ? vm::vmax(x, cst<V>(0.0)) : vm::tanh(x);
        store(g + i, r);
        store(h + i, r);
      });
      break;
    }
    case RnnMode::lstm: {
      const T* cp = cptr<T>(a.c_prev) + b * H;
      T* c = ptr<T>(a.c) + b * H;
      vm::each<T>(H, [&](auto v, int64_t j) {
        using V = decltype(v);
        const V i = vm::sigmoid(load<V>(g + j)), f = vm::sigmoid(load<V>(g + H + j));
        const V gg = vm::tanh(load<V>(g + 2 * H + j)), o = vm::sigmoid(load<V>(g + 3 * H + j));
        const V cn = vm::fmadd(f, load<V>(cp + j), i * gg);
        store(g + j, i);
        store(g + H + j, f);
        store(g + 2 * H + j, gg);
        store(g + 3 * H + j, o);
        store(c + j, cn);
        store(h + j, o * vm::tanh(cn));
      });
      break;
    }
    case RnnMode::gru: {
      const T* hg = cptr<T>(a.hg) + b * 3 * H;
      vm::each<T>(H, [&](auto v, int64_t j) {
        using V = decltype(v);
        const V r = vm::sigmoid(load<V>(g + j) + load<V>(hg + j));
        const V z = vm::sigmoid(load<V>(g + H + j) + load<V>(hg + H + j));
        const V hn = load<V>(hg + 2 * H + j);
        const V n = vm::tanh(vm::fmadd(r, hn, load<V>(g + 2 * H + j)));
        store(g + j, r);
        store(g + H + j, z);
        store(g + 2 * H + j, n);
        store(g + 3 * H + j, hn);
        store(h + j, vm::fmadd(z, load<V>(hp + j) - n, n));
      });
      break;
    }
    case RnnMode::rnn_emit: break;
  }
  if (y && !a.proj) copy_row(y, h, P);
}

template <typename T>
void backward_row(const RnnCellArgs& a, int64_t b) {
  const int64_t H = a.hidden, P = a.state;
  const T* dh = cptr<T>(a.dh) + b * P;
  T* dhp = ptr<T>(a.dh_prev) + b * P;
  T* dg = ptr<T>(a.dgates) + b * a.dgates_rs;
  const int64_t gate_cols = a.mode == RnnMode::gru ? 6 * H : a.mode == RnnMode::lstm ? 4 * H : H;
  if (!active(a, b)) {
    copy_row(dhp, dh, P);
    zero_row(dg, gate_cols);
    return;
  }
  const T* g = cptr<T>(a.gates) + b * a.gates_rs;
  // the gradient of the cell's output: dm (projection) or dh + dy
  const T* dy = a.dy ? cptr<T>(a.dy) + b * a.dy_rs : nullptr;
  const T* dm = a.dm ? cptr<T>(a.dm) + b * H : nullptr;
  auto grad_out = [&](auto v, int64_t j) {
    using V = decltype(v);
    if (dm) return load<V>(dm + j);
    return dy ? load<V>(dh + j) + load<V>(dy + j) : load<V>(dh + j);
  };
  switch (a.mode) {
    case RnnMode::rnn_tanh:
    case RnnMode::rnn_relu: {
      const bool relu = a.mode == RnnMode::rnn_relu;
      vm::each<T>(H, [&](auto v, int64_t j) {
        using V = decltype(v);
        const V act = load<V>(g + j), d = grad_out(v, j);
        const V r = relu ? vm::select(vm::gt(act, cst<V>(0.0)), d, cst<V>(0.0)) : d * (one<V>() - act * act);
        store(dg + j, r);
      });
      zero_row(dhp, P);
      break;
    }
    case RnnMode::lstm: {
      const T* cp = cptr<T>(a.c_prev) + b * H;
      const T* c = cptr<T>(a.c) + b * H;
      T* dc = ptr<T>(a.dc) + b * H;
      vm::each<T>(H, [&](auto v, int64_t j) {
        using V = decltype(v);
        const V i = load<V>(g + j), f = load<V>(g + H + j), gg = load<V>(g + 2 * H + j), o = load<V>(g + 3 * H + j);
        const V d = grad_out(v, j), tc = vm::tanh(load<V>(c + j));
        const V dct = vm::fmadd(d * o, one<V>() - tc * tc, load<V>(dc + j));
        store(dg + j, dct * gg * i * (one<V>() - i));
        store(dg + H + j, dct * load<V>(cp + j) * f * (one<V>() - f));
        store(dg + 2 * H + j, dct * i * (one<V>() - gg * gg));
        store(dg + 3 * H + j, d * tc * o * (one<V>() - o));
        store(dc + j, dct * f);
      });
      zero_row(dhp, P);
      break;
    }
    case RnnMode::gru: {
      const T* hp = cptr<T>(a.h_prev) + b * P;
      vm::each<T>(H, [&](auto v, int64_t j) {
        using V = decltype(v);
        const V r = load<V>(g + j), z = load<V>(g + H + j), n = load<V>(g + 2 * H + j), hn = load<V>(g + 3 * H + j);
        const V d = grad_out(v, j);
        const V dn = d * (one<V>() - z) * (one<V>() - n * n);
        const V dz = d * (load<V>(hp + j) - n) * z * (one<V>() - z);
        const V dr = dn * hn * r * (one<V>() - r);
        store(dg + j, dr);
        store(dg + H + j, dz);
        store(dg + 2 * H + j, dn);
        store(dg + 3 * H + j, dr);
        store(dg + 4 * H + j, dz);
        store(dg + 5 * H + j, dn * r);
        store(dhp + j, d * z);
      });
      break;
    }
    case RnnMode::rnn_emit: break;
  }
}

template <typename T, bool Backward>
void run(const RnnCellArgs& a) {
  const int64_t per_row = std::max<int64_t>(1, a.hidden * 4);
  parallel_for(0, a.batch, std::max<int64_t>(1, kGrainElements / per_row), [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; ++b) Backward ? backward_row<T>(a, b) : forward_row<T>(a, b);
  });
}

}  // namespace

void rnn_cell(const RnnCellArgs& a) {
  a.dtype == DType::float64 ? run<double, false>(a) : run<float, false>(a);
}

void rnn_cell_backward(const RnnCellArgs& a) {
  a.dtype == DType::float64 ? run<double, true>(a) : run<float, true>(a);
}

}  // namespace fibril::cpu::FIBRIL_ISA
