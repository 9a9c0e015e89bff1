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
// Measured with `python -m bench --family rnn --threads 2` (AMD EPYC Zen 1 (KVM), avx2; a busy
// machine: the 2 cores shared with three other engineers' builds and benchmarks, load 4-7, FMA
// probe 26 of a quiet 80 GFLOP/s), seq 128, batch 64, input 128, hidden 256, float32, the
// whole nn.LSTM / nn.GRU call (GEMMs included; GFLOP/s counts the GEMM work), per-row-block
// steps on W_hh packed once; fibril time, GFLOP/s, torch time / ours, in two runs:
//   lstm 1L fwd  319-340 ms, 19-20 GFLOP/s, 3.17x / 3.75x   fwd+bwd  782-924 ms, 2.0x / 2.4x
//   lstm 2L fwd  756-964 ms, 16-20 GFLOP/s, 3.75x / 4.31x   fwd+bwd 2508-3288 ms, 2.3x / 3.3x
//   gru 1L fwd   180-342 ms, 14-27 GFLOP/s, 4.16x / 4.85x   fwd+bwd  462-836 ms, 2.2x / 13x
//   gru 2L fwd   550-562 ms, 20-21 GFLOP/s, 3.49x / 3.73x   fwd+bwd 1048-2246 ms, 7.3x / 8.6x
// torch's OpenMP threads lose most to the load (a barrier per step). In a quieter minute (load
// ~2; interleaved medians of 5-7, 2 threads) the lead is smaller: lstm 1L fwd 126 ms 1.32x,
// fwd+bwd 322 ms 1.22x, 2L fwd 254 ms 1.06x (59 GFLOP/s, torch 56: both ~70% of FMA peak, so
// LSTM forward has no 1.3x left to take); gru 1L fwd 97 ms 1.49x, fwd+bwd 266 ms 1.42x, 2L fwd
// 186 ms 1.42x. On one thread each (load 6) LSTM 1L is 0.94x fwd, 1.45x fwd+bwd, GRU 1L 1.06x
// and 1.22x: the GEMM tiles are 60-80% of the time, at torch's speed.
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
