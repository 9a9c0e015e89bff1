// The rnn family's checks and sequence loops. Per direction, forward keeps (all indexed by
// time t, T x B rows each): the gate activations, the state h and cell c before each step,
// and for projections m = o tanh(c); backward walks the steps in reverse order, carrying the
// state gradient in a (T, B, P) buffer that also feeds the W_hr gradient, and finishes with
// one GEMM per weight gradient over all T B rows. The recurrence never mixes batch rows, so
// the steps run per block of rows, one thread each, all steps without a barrier, reading a
// W_hh (and W_hr) packed once per call for the GEMMs of every step. On CUDA the steps run
// over all rows at once, each GEMM and cell one launch, with W_hh read in place.
#include "ops/rnn.h"

#include <algorithm>
#include <functional>

#include "core/errors.h"
#include "core/parallel.h"
#include "core/shape.h"
#include "cuda/matmul.h"
#include "cuda/rnn.h"
#include "ops/device.h"
#include "ops/matmul.h"

namespace fibril::ops {
namespace {

using cpu::RnnMode;

const char* op_name(RnnMode mode) {
  switch (mode) {
    case RnnMode::rnn_tanh: return "rnn_tanh";
    case RnnMode::rnn_relu: return "rnn_relu";
    case RnnMode::lstm: return "lstm";
    case RnnMode::gru: return "gru";
    case RnnMode::rnn_emit: break;
  }
  FIBRIL_FAIL(Value, "[rnn] unknown mode");
}

struct Dims {
  int64_t T, B, I, H, P, D, G;
  bool lstm, gru, proj;
  int64_t gw, gd, hoff;  // gate columns saved, gradient columns, hidden-side gradient offset
};

Dims dims_of(RnnMode mode, const Array& x, const std::vector<RnnWeights>& dirs, const char* op) {
  FIBRIL_CHECK(x.dtype() == DType::float32 || x.dtype() == DType::float64, Type, "[", op,
               "] needs a float32 or float64 input, got ", x.describe());
  FIBRIL_CHECK(x.ndim() == 3 && x.shape()[0] >= 1 && x.shape()[1] >= 1, Value, "[", op,
               "] expected a (seq_len, batch, input_size) input with seq_len and batch >= 1, got shape ",
               shape_str(x.shape()));
  FIBRIL_CHECK(dirs.size() == 1 || dirs.size() == 2, Value, "[", op, "] expected 1 or 2 directions, got ", dirs.size());
  FIBRIL_CHECK(mode != RnnMode::rnn_emit, Value, "[rnn] rnn_emit is not a layer mode");
  Dims d{};
  d.T = x.shape()[0], d.B = x.shape()[1], d.I = x.shape()[2];
  d.D = static_cast<int64_t>(dirs.size());
  d.lstm = mode == RnnMode::lstm, d.gru = mode == RnnMode::gru;
  d.G = d.lstm ? 4 : d.gru ? 3 : 1;
  const Array& w_hh = dirs[0].w_hh;
  FIBRIL_CHECK(w_hh.ndim() == 2 && w_hh.shape()[0] % d.G == 0 && w_hh.shape()[0] > 0, Value, "[", op,
               "] weight_hh of shape ", shape_str(w_hh.shape()), " is not (", d.G, " * hidden_size, state size)");
  d.H = w_hh.shape()[0] / d.G;
  d.proj = dirs[0].w_hr.has_value();
  FIBRIL_CHECK(!d.proj || d.lstm, Value, "[", op, "] only an LSTM takes projection weights (weight_hr)");
  d.P = d.proj ? dirs[0].w_hr->shape()[0] : d.H;
  d.gw = d.gru ? 4 * d.H : d.G * d.H;
  d.gd = d.gru ? 6 * d.H : d.G * d.H;
  d.hoff = d.gru ? 3 * d.H : 0;
  return d;
}

Array param(const Array& p, const Shape& shape, const Array& x, const char* what, const char* op) {
  FIBRIL_CHECK(p.shape() == shape, Value, "[", op, "] ", what, " of shape ", shape_str(p.shape()),
               " does not match the expected ", shape_str(shape), " for input shape ", shape_str(x.shape()));
  FIBRIL_CHECK(p.dtype() == x.dtype(), Type, "[", op, "] ", what, " is ", p.describe(), " but the input is ",
               x.describe());
  common_device(op, {&x, &p});
  return p.contiguous();
}

std::vector<RnnWeights> prepared(const std::vector<RnnWeights>& dirs, const Array& x, const Dims& d, const char* op) {
  std::vector<RnnWeights> out;
  const Shape gates{d.G * d.H};
  for (const RnnWeights& w : dirs) {
    FIBRIL_CHECK(w.w_hr.has_value() == d.proj, Value, "[", op, "] every direction needs weight_hr, or none");
    out.push_back({param(w.w_ih, {d.G * d.H, d.I}, x, "weight_ih", op),
                   param(w.w_hh, {d.G * d.H, d.P}, x, "weight_hh", op),
                   w.b_ih ? OptArray(param(*w.b_ih, gates, x, "bias_ih", op)) : std::nullopt,
                   w.b_hh ? OptArray(param(*w.b_hh, gates, x, "bias_hh", op)) : std::nullopt,
                   w.w_hr ? OptArray(param(*w.w_hr, {d.P, d.H}, x, "weight_hr", op)) : std::nullopt});
  }
  return out;
}

Array state(const OptArray& s, const Shape& shape, const Array& x, const char* what, const char* op) {
  FIBRIL_CHECK(s.has_value(), Value, "[", op, "] needs ", what, " of shape ", shape_str(shape));
  return param(*s, shape, x, what, op);
}

// The lengths, checked on the host, on the input's device (PyTorch keeps them on the CPU).
OptArray checked_lengths(const OptArray& lengths, const Dims& d, Device device, const char* op) {
  if (!lengths) return lengths;
  FIBRIL_CHECK(lengths->dtype() == DType::int64 && lengths->shape() == Shape{d.B}, Value, "[", op,
               "] lengths must be int64 of shape [", d.B, "] (the batch), got ", lengths->describe());
  Array l = lengths->to(Device{}).contiguous();
  const int64_t* p = static_cast<const int64_t*>(l.data());
  for (int64_t b = 0; b < d.B; ++b) {
    FIBRIL_CHECK(p[b] >= 1 && p[b] <= d.T, Value, "[", op, "] lengths[", b, "] = ", p[b], " is outside [1, ", d.T,
                 "] (seq_len)");
  }
  return l.to(device);
}

char* at(const Array& a, int64_t element) {
  return static_cast<char*>(a.data()) + element * static_cast<int64_t>(a.itemsize());
}
char* at(const OptArray& a, int64_t element) { return a ? at(*a, element) : nullptr; }

// A GEMM's B operand: strided (b, rs, cs), or on the CPU the prepacked B of matmul_pack_b.
struct BOperand {
  const char* b = nullptr;
  int64_t rs = 0, cs = 0;
  OptArray packed;
};

// The device the layer runs on and how its float32 GEMMs round there.
struct Backend {
  Device device;
  bool tf32;
};

// c (m, n, row stride c_rs) = a (m, k) · b (k, n) + beta c + bias (per column).
void gemm(const Backend& be, DType dtype, int64_t m, int64_t n, int64_t k, const char* a, int64_t a_rs, int64_t a_cs,
          const BOperand& b, char* c, int64_t c_rs, double beta, const char* bias = nullptr) {
  cpu::MatmulArgs g{};
  g.dtype = dtype;
  g.batch = 1, g.m = m, g.n = n, g.k = k;
  g.a = a, g.a_rs = a_rs, g.a_cs = a_cs;
  g.b = b.b, g.b_rs = b.rs, g.b_cs = b.cs;
  g.b_prepacked = b.packed ? static_cast<const char*>(b.packed->data()) : nullptr;
  g.c = c, g.c_rs = c_rs;
  g.alpha = 1, g.beta = beta;
  g.bias = bias, g.bias_rs = 0, g.bias_cs = 1;
  g.act = cpu::Activation::none;
  if (be.device.is_cpu()) cpu::kernels().matmul(g);
  else FIBRIL_CUDA_CALL(matmul, be.device.index, g, be.tf32);
}

BOperand strided(const char* b, int64_t rs, int64_t cs) { return {b, rs, cs, std::nullopt}; }

// The strided b (k, n) as the B of every step's GEMM: packed once on the CPU, read in place on
// CUDA.
BOperand step_b(const Backend& be, DType dtype, int64_t k, int64_t n, const Array& b, int64_t b_rs, int64_t b_cs) {
  BOperand op = strided(static_cast<const char*>(b.data()), b_rs, b_cs);
  if (!be.device.is_cpu()) return op;
  cpu::MatmulArgs g{};
  g.dtype = dtype;
  g.batch = 1, g.n = n, g.k = k;
  g.b = op.b, g.b_rs = b_rs, g.b_cs = b_cs;
  op.packed = Array::empty({cpu::kernels().matmul_packed_b_bytes(dtype, k, n)}, DType::uint8);
  cpu::kernels().matmul_pack_b(g, static_cast<char*>(op.packed->data()));
  return op;
}

void cell(const Backend& be, const cpu::RnnCellArgs& a, bool backward) {
  if (be.device.is_cpu()) return backward ? cpu::kernels().rnn_cell_backward(a) : cpu::kernels().rnn_cell(a);
  if (backward) FIBRIL_CUDA_CALL(rnn_cell_backward, be.device.index, a);
  else FIBRIL_CUDA_CALL(rnn_cell, be.device.index, a);
}

Array empty_if(bool cond, const Shape& shape, DType dtype, Device device) {
  return Array::empty(cond ? shape : Shape{0}, dtype, device);
}

// The recurrence never mixes batch rows: each (direction, block of rows) runs all its steps on
// one thread, with no barrier per step. Blocks of fewer rows than this would waste the GEMM
// tiles; a single block runs on the caller, whose GEMMs then split each step.
constexpr int64_t kMinBlockRows = 8;

struct RowBlock {
  int64_t dir, b0, b1;
};

std::vector<RowBlock> row_blocks(const Dims& d, Device device) {
  const int64_t threads = device.is_cpu() ? get_num_threads() : 1;  // a CUDA step covers every row
  const int64_t per_dir = std::clamp<int64_t>((threads + d.D - 1) / d.D, 1, std::max<int64_t>(1, d.B / kMinBlockRows));
  std::vector<RowBlock> blocks;
  for (int64_t dir = 0; dir < d.D; ++dir)
    for (int64_t i = 0; i < per_dir; ++i) blocks.push_back({dir, d.B * i / per_dir, d.B * (i + 1) / per_dir});
  return blocks;
}

void for_each_block(const Dims& d, Device device, const std::function<void(const RowBlock&)>& fn) {
  const std::vector<RowBlock> blocks = row_blocks(d, device);
  parallel_for(0, static_cast<int64_t>(blocks.size()), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) fn(blocks[static_cast<size_t>(i)]);
  });
}

cpu::RnnCellArgs cell_args(RnnMode mode, DType dt, const Dims& d, const OptArray& lengths, const RowBlock& r,
                           int64_t t) {
  cpu::RnnCellArgs a{};
  a.mode = mode, a.dtype = dt, a.batch = r.b1 - r.b0, a.hidden = d.H, a.state = d.P;
  a.lengths = lengths ? static_cast<const int64_t*>(lengths->data()) + r.b0 : nullptr;
  a.t = t, a.proj = d.proj;
  return a;
}

}  // namespace

RnnLayerResult rnn_layer(RnnMode mode, const Array& x_in, const std::vector<RnnWeights>& dirs_in, const Array& h0_in,
                         const OptArray& c0_in, const OptArray& lengths_in) {
  const char* op = op_name(mode);
  const Dims d = dims_of(mode, x_in, dirs_in, op);
  const Array x = x_in.contiguous();
  const Device dev = x.device();
  const Backend be{dev, !dev.is_cpu() && float32_matmul_allows_tf32()};
  const std::vector<RnnWeights> dirs = prepared(dirs_in, x, d, op);
  const Array h0 = state(h0_in, {d.D, d.B, d.P}, x, "h0", op);
  const OptArray c0 = d.lstm ? OptArray(state(c0_in, {d.D, d.B, d.H}, x, "c0", op)) : std::nullopt;
  const OptArray lengths = checked_lengths(lengths_in, d, dev, op);
  const DType dt = x.dtype();
  const int64_t T = d.T, B = d.B, H = d.H, P = d.P, GH = d.G * d.H, DP = d.D * d.P;
  RnnLayerResult r{Array::empty({T, B, DP}, dt, dev), Array::empty({d.D, B, P}, dt, dev),
                   d.lstm ? OptArray(Array::empty({d.D, B, H}, dt, dev)) : std::nullopt, {}};
  const Array hg = empty_if(d.gru, {d.D, B, GH}, dt, dev);
  std::vector<BOperand> packed_hh, packed_hr;
  for (int64_t dir = 0; dir < d.D; ++dir) {
    const RnnWeights& w = dirs[static_cast<size_t>(dir)];
    Array gates = Array::empty({T, B, d.gw}, dt, dev), hp = Array::empty({T, B, P}, dt, dev);
    Array cp = empty_if(d.lstm, {T, B, H}, dt, dev), m = empty_if(d.proj, {T, B, H}, dt, dev);
    gemm(be, dt, T * B, GH, d.I, at(x, 0), d.I, 1, strided(at(w.w_ih, 0), 1, d.I), at(gates, 0), d.gw, 0, at(w.b_ih, 0));
    const int64_t t0 = dir == 1 ? T - 1 : 0;
    hp.select(0, t0).copy_from(h0.select(0, dir));
    if (d.lstm) cp.select(0, t0).copy_from(c0->select(0, dir));
    packed_hh.push_back(step_b(be, dt, P, GH, w.w_hh, 1, P));  // W_hh^T
    if (d.proj) packed_hr.push_back(step_b(be, dt, H, P, *w.w_hr, 1, H));  // W_hr^T
    r.saved.insert(r.saved.end(), {gates, hp, cp, m});
  }
  for_each_block(d, dev, [&](const RowBlock& rb) {
    const int64_t dir = rb.dir, b0 = rb.b0, rows = rb.b1 - rb.b0;
    const RnnWeights& w = dirs[static_cast<size_t>(dir)];
    const Array &gates = r.saved[4 * dir], &hp = r.saved[4 * dir + 1], &cp = r.saved[4 * dir + 2];
    const Array& m = r.saved[4 * dir + 3];
    const BOperand& w_hh = packed_hh[static_cast<size_t>(dir)];
    const BOperand* w_hr = d.proj ? &packed_hr[static_cast<size_t>(dir)] : nullptr;
    for (int64_t s = 0; s < T; ++s) {
      const int64_t t = dir == 1 ? T - 1 - s : s, tn = dir == 1 ? t - 1 : t + 1;
      const bool last = s == T - 1;
      char* h_prev = at(hp, (t * B + b0) * P);
      char* h_out = last ? at(r.h_n, (dir * B + b0) * P) : at(hp, (tn * B + b0) * P);
      char* gt = at(gates, (t * B + b0) * d.gw);
      char* hgt = at(hg, (dir * B + b0) * GH);
      char* y = at(r.y, (t * B + b0) * DP + dir * P);
      if (d.gru) gemm(be, dt, rows, GH, P, h_prev, P, 1, w_hh, hgt, GH, 0, at(w.b_hh, 0));
      else gemm(be, dt, rows, GH, P, h_prev, P, 1, w_hh, gt, d.gw, 1, at(w.b_hh, 0));
      cpu::RnnCellArgs a = cell_args(mode, dt, d, lengths, rb, t);
      a.gates = gt, a.gates_rs = d.gw, a.hg = hgt, a.h_prev = h_prev;
      if (d.lstm) {
        a.c_prev = at(cp, (t * B + b0) * H);
        a.c = last ? at(r.c_n, (dir * B + b0) * H) : at(cp, (tn * B + b0) * H);
      }
      a.h = d.proj ? at(m, (t * B + b0) * H) : h_out;
      a.y = d.proj ? nullptr : y, a.y_rs = DP;
      cell(be, a, false);
      if (d.proj) {
        gemm(be, dt, rows, P, H, a.h, H, 1, *w_hr, h_out, P, 0, nullptr);
        a.mode = RnnMode::rnn_emit, a.h = h_out, a.y = y;
        cell(be, a, false);
      }
    }
  });
  return r;
}

RnnLayerGrads rnn_layer_backward(RnnMode mode, const Array& x_in, const std::vector<RnnWeights>& dirs_in,
                                 const OptArray& lengths_in, const OptArray& c_n, const std::vector<Array>& saved,
                                 const Array& dy_in, const Array& dh_n_in, const OptArray& dc_n_in, bool want_x) {
  const char* op = op_name(mode);
  const Dims d = dims_of(mode, x_in, dirs_in, op);
  const Array x = x_in.contiguous();
  const Device dev = x.device();
  const Backend be{dev, !dev.is_cpu() && float32_matmul_allows_tf32()};
  const std::vector<RnnWeights> dirs = prepared(dirs_in, x, d, op);
  const OptArray lengths = checked_lengths(lengths_in, d, dev, op);
  const int64_t T = d.T, B = d.B, H = d.H, P = d.P, GH = d.G * d.H, DP = d.D * d.P;
  const Array dy = state(dy_in, {T, B, DP}, x, "the output gradient", op);
  const Array dh_n = state(dh_n_in, {d.D, B, P}, x, "the h_n gradient", op);
  const OptArray dc_n = d.lstm ? OptArray(state(dc_n_in, {d.D, B, H}, x, "the c_n gradient", op)) : std::nullopt;
  FIBRIL_CHECK(saved.size() == static_cast<size_t>(4 * d.D) && (!d.lstm || c_n), Value, "[", op,
               "] backward needs the forward's saved arrays");
  const DType dt = x.dtype();
  RnnLayerGrads g{want_x ? OptArray(Array::empty({T, B, d.I}, dt, dev)) : std::nullopt, Array::empty({d.D, B, P}, dt, dev),
                  d.lstm ? OptArray(Array::empty({d.D, B, H}, dt, dev)) : std::nullopt, {}};
  const Array dm = empty_if(d.proj, {d.D, B, H}, dt, dev);
  std::vector<Array> dgs, carrieds;
  std::vector<BOperand> packed_hh, packed_hr;
  for (int64_t dir = 0; dir < d.D; ++dir) {
    const RnnWeights& w = dirs[static_cast<size_t>(dir)];
    dgs.push_back(Array::empty({T, B, d.gd}, dt, dev));
    carrieds.push_back(Array::empty({T, B, P}, dt, dev));
    carrieds.back().select(0, dir == 1 ? 0 : T - 1).copy_from(dh_n.select(0, dir));
    if (d.lstm) g.dc0->select(0, dir).copy_from(dc_n->select(0, dir));
    packed_hh.push_back(step_b(be, dt, GH, P, w.w_hh, P, 1));
    if (d.proj) packed_hr.push_back(step_b(be, dt, P, H, *w.w_hr, H, 1));
  }
  for_each_block(d, dev, [&](const RowBlock& rb) {
    const int64_t dir = rb.dir, b0 = rb.b0, rows = rb.b1 - rb.b0;
    const Array &gates = saved[4 * dir], &hp = saved[4 * dir + 1], &cp = saved[4 * dir + 2];
    const Array &dg = dgs[static_cast<size_t>(dir)], &carried = carrieds[static_cast<size_t>(dir)];
    const BOperand& w_hh = packed_hh[static_cast<size_t>(dir)];
    const BOperand* w_hr = d.proj ? &packed_hr[static_cast<size_t>(dir)] : nullptr;
    char* dmb = at(dm, (dir * B + b0) * H);
    for (int64_t s = T - 1; s >= 0; --s) {
      const int64_t t = dir == 1 ? T - 1 - s : s, tn = dir == 1 ? t - 1 : t + 1, tp = dir == 1 ? t + 1 : t - 1;
      char* dh = at(carried, (t * B + b0) * P);
      char* dh_prev = s == 0 ? at(g.dh0, (dir * B + b0) * P) : at(carried, (tp * B + b0) * P);
      char* dyt = at(dy, (t * B + b0) * DP + dir * P);
      if (d.proj) {
        gemm(be, dt, rows, H, P, dh, P, 1, *w_hr, dmb, H, 0, nullptr);
        gemm(be, dt, rows, H, P, dyt, DP, 1, *w_hr, dmb, H, 1, nullptr);
      }
      cpu::RnnCellArgs a = cell_args(mode, dt, d, lengths, rb, t);
      a.gates = at(gates, (t * B + b0) * d.gw), a.gates_rs = d.gw, a.h_prev = at(hp, (t * B + b0) * P);
      if (d.lstm) {
        a.c_prev = at(cp, (t * B + b0) * H);
        a.c = s == T - 1 ? at(c_n, (dir * B + b0) * H) : at(cp, (tn * B + b0) * H);
        a.dc = at(g.dc0, (dir * B + b0) * H);
      }
      a.dh = dh, a.dy = d.proj ? nullptr : dyt, a.dy_rs = DP, a.dm = d.proj ? dmb : nullptr;
      a.dgates = at(dg, (t * B + b0) * d.gd), a.dgates_rs = d.gd, a.dh_prev = dh_prev;
      cell(be, a, true);
      gemm(be, dt, rows, P, GH, a.dgates + d.hoff * x.itemsize(), d.gd, 1, w_hh, dh_prev, P, 1, nullptr);
    }
  });
  const Array ones = Array::full({T * B}, 1.0, dt, dev);
  for (int64_t dir = 0; dir < d.D; ++dir) {
    const RnnWeights& w = dirs[static_cast<size_t>(dir)];
    const Array &hp = saved[4 * dir + 1], &m = saved[4 * dir + 3];
    const Array &dg = dgs[static_cast<size_t>(dir)], &carried = carrieds[static_cast<size_t>(dir)];
    Array dw_ih = Array::empty({GH, d.I}, dt, dev), dw_hh = Array::empty({GH, P}, dt, dev);
    gemm(be, dt, GH, d.I, T * B, at(dg, 0), 1, d.gd, strided(at(x, 0), d.I, 1), at(dw_ih, 0), d.I, 0);
    gemm(be, dt, GH, P, T * B, at(dg, d.hoff), 1, d.gd, strided(at(hp, 0), P, 1), at(dw_hh, 0), P, 0);
    OptArray db_ih, db_hh, dw_hr;
    if (w.b_ih) {
      db_ih = Array::empty({GH}, dt, dev);
      gemm(be, dt, GH, 1, T * B, at(dg, 0), 1, d.gd, strided(at(ones, 0), 1, 0), at(db_ih, 0), 1, 0);
    }
    if (w.b_hh) {
      db_hh = (db_ih && !d.gru) ? db_ih->clone() : Array::empty({GH}, dt, dev);
      if (!db_ih || d.gru) gemm(be, dt, GH, 1, T * B, at(dg, d.hoff), 1, d.gd, strided(at(ones, 0), 1, 0), at(db_hh, 0), 1, 0);
    }
    if (d.proj) {
      dw_hr = Array::empty({P, H}, dt, dev);
      gemm(be, dt, P, H, T * B, at(carried, 0), 1, P, strided(at(m, 0), H, 1), at(dw_hr, 0), H, 0);
      gemm(be, dt, P, H, T * B, at(dy, dir * P), 1, DP, strided(at(m, 0), H, 1), at(dw_hr, 0), H, 1);
    }
    if (want_x) gemm(be, dt, T * B, d.I, GH, at(dg, 0), d.gd, 1, strided(at(w.w_ih, 0), d.I, 1), at(g.dx, 0), d.I, dir ? 1 : 0);
    g.dweights.insert(g.dweights.end(), {dw_ih, dw_hh, db_ih, db_hh, dw_hr});
  }
  return g;
}

}  // namespace fibril::ops
