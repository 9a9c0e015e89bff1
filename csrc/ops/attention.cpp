// The attention family's checks. Operands keep their strides when their last dim is
// contiguous (head-split views of a projection are read in place); the mask keeps any
// strides, broadcast dims included (stride 0), so it is never materialized.
#include "ops/attention.h"

#include <cmath>
#include <vector>

#include "core/errors.h"
#include "cpu/kernels.h"
#include "cuda/attention.h"
#include "ops/device.h"

namespace fibril::ops {
namespace {

constexpr const char* kOp = "[scaled_dot_product_attention]";

Array last_dim_contiguous(const Array& x) {
  return x.strides().back() == 1 || x.shape().back() <= 1 ? x : x.contiguous();
}

// Element offset of each leading index of x (its leading dims flattened in order).
std::vector<int64_t> offsets_of(const Array& x, int lead) {
  int64_t count = 1;
  for (int d = 0; d < lead; ++d) count *= x.shape()[d];
  std::vector<int64_t> off(static_cast<size_t>(count));
  for (int64_t b = 0; b < count; ++b) {
    int64_t rest = b, o = 0;
    for (int d = lead - 1; d >= 0; --d) {
      o += (rest % x.shape()[d]) * x.strides()[d];
      rest /= x.shape()[d];
    }
    off[static_cast<size_t>(b)] = o;
  }
  return off;
}

struct Layout {
  Array q, k, v;
  std::optional<Array> mask;
  std::vector<int64_t> q_off, k_off, v_off, mask_off;
  cpu::AttentionArgs args{};
  Device device;
  cuda::AttentionLead lead{};  // the leading dims, for the CUDA kernels (they compute the offsets)
};

// Runs the kernel of lay's device.
void dispatch(const Layout& lay) {
  if (lay.device.is_cpu()) cpu::kernels().attention(lay.args);
  else FIBRIL_CUDA_CALL(attention, lay.device.index, lay.args, lay.lead);
}

// reduced: float16/bfloat16 operands are taken as they are (the CUDA tensor-core forward).
Layout prepare(const Array& q_in, const Array& k_in, const Array& v_in, const AttentionParams& p,
               bool reduced = false) {
  const Device device = common_device(kOp, {&q_in, &k_in, &v_in, p.mask ? &*p.mask : nullptr});
  FIBRIL_CHECK((q_in.dtype() == DType::float32 || q_in.dtype() == DType::float64 ||
                (reduced && is_reduced_float(q_in.dtype()))) &&
                   k_in.dtype() == q_in.dtype() && v_in.dtype() == q_in.dtype(),
               Type,
               kOp, " query, key and value must be float32 or float64 of one dtype, got ", q_in.describe(), ", ",
               k_in.describe(), ", ", v_in.describe());
  const int nd = q_in.ndim();
  const auto shapes = [&] {
    return std::string(" (query ") + shape_str(q_in.shape()) + ", key " + shape_str(k_in.shape()) + ", value " +
           shape_str(v_in.shape()) + ")";
  };
  FIBRIL_CHECK(nd >= 2 && k_in.ndim() == nd && v_in.ndim() == nd, Value, kOp,
               " query, key and value must have the same number of dims, at least 2", shapes());
  const Shape lead(q_in.shape().begin(), q_in.shape().end() - 2);
  FIBRIL_CHECK(Shape(k_in.shape().begin(), k_in.shape().end() - 2) == lead &&
                   Shape(v_in.shape().begin(), v_in.shape().end() - 2) == lead,
               Value, kOp, " query, key and value must have the same batch and head dims", shapes());
  const int64_t L = q_in.shape()[nd - 2], E = q_in.shape()[nd - 1];
  const int64_t S = k_in.shape()[nd - 2], Ev = v_in.shape()[nd - 1];
  FIBRIL_CHECK(k_in.shape()[nd - 1] == E, Value, kOp, " key's last dim must equal query's", shapes());
  FIBRIL_CHECK(v_in.shape()[nd - 2] == S, Value, kOp, " value must have as many rows as key", shapes());
  FIBRIL_CHECK(p.dropout_p >= 0 && p.dropout_p <= 1, Value, kOp, " dropout_p must be in [0, 1], got ", p.dropout_p);
  Layout lay{last_dim_contiguous(q_in), last_dim_contiguous(k_in), last_dim_contiguous(v_in), std::nullopt,
             {}, {}, {}, {}, {}, device, {}};
  const int lead_n = nd - 2;
  if (!device.is_cpu()) {
    FIBRIL_CHECK(lead_n <= cuda::kAttentionMaxLead, NotImplemented, kOp, " on CUDA takes at most ",
                 cuda::kAttentionMaxLead, " batch and head dims", shapes());
    lay.lead.ndim = lead_n;
    for (int d = 0; d < lead_n; ++d) {
      lay.lead.shape[d] = q_in.shape()[d];
      lay.lead.q[d] = lay.q.strides()[d];
      lay.lead.k[d] = lay.k.strides()[d];
      lay.lead.v[d] = lay.v.strides()[d];
    }
  }
  lay.q_off = offsets_of(lay.q, lead_n);
  lay.k_off = offsets_of(lay.k, lead_n);
  lay.v_off = offsets_of(lay.v, lead_n);
  cpu::AttentionArgs& a = lay.args;
  a.dtype = q_in.dtype();
  a.bh = static_cast<int64_t>(lay.q_off.size());
  a.tq = L;
  a.tk = S;
  a.d = E;
  a.dv = Ev;
  a.q = static_cast<const char*>(lay.q.data());
  a.q_offsets = lay.q_off.data();
  a.q_rs = lay.q.strides()[nd - 2];
  a.k = static_cast<const char*>(lay.k.data());
  a.k_offsets = lay.k_off.data();
  a.k_rs = lay.k.strides()[nd - 2];
  a.v = static_cast<const char*>(lay.v.data());
  a.v_offsets = lay.v_off.data();
  a.v_rs = lay.v.strides()[nd - 2];
  a.mask_kind = cpu::AttentionMask::none;
  if (p.mask) {
    const Array& m = *p.mask;
    Shape full = lead;
    full.push_back(L);
    full.push_back(S);
    bool ok = m.ndim() <= nd;
    for (int i = 1; ok && i <= m.ndim(); ++i) {
      const int64_t dm = m.shape()[m.ndim() - i];
      ok = dm == 1 || dm == full[nd - i];
    }
    FIBRIL_CHECK(ok, Value, kOp, " attn_mask of shape ", shape_str(m.shape()),
                 " is not broadcastable to the attention shape ", shape_str(full), shapes());
    const bool boolean = m.dtype() == DType::bool_;
    FIBRIL_CHECK(boolean || is_floating_point(m.dtype()), Type, kOp, " attn_mask must be bool or floating point, got ",
                 m.describe());
    lay.mask = (boolean || m.dtype() == a.dtype ? m : m.astype(a.dtype)).expand(full);
    lay.mask_off = offsets_of(*lay.mask, lead_n);
    for (int d = 0; d < lead_n && !device.is_cpu(); ++d) lay.lead.mask[d] = lay.mask->strides()[d];
    a.mask_kind = boolean ? cpu::AttentionMask::boolean : cpu::AttentionMask::additive;
    a.mask = static_cast<const char*>(lay.mask->data());
    a.mask_offsets = lay.mask_off.data();
    a.mask_rs = lay.mask->strides()[nd - 2];
    a.mask_cs = lay.mask->strides()[nd - 1];
  }
  a.causal = p.causal;
  a.scale = p.scale ? *p.scale : 1.0 / std::sqrt(static_cast<double>(E));
  a.dropout_p = p.dropout_p;
  a.seed = p.seed;
  a.offset = p.offset;
  return lay;
}

Shape with_last(const Array& x, int64_t rows, int64_t cols) {
  Shape s = x.shape();
  s[s.size() - 2] = rows;
  s[s.size() - 1] = cols;
  return s;
}

// float16/bfloat16 query, key and value (one dtype): the float32 kernels run on widened
// copies; the results are rounded back, the log-sum-exp stays float32.
bool widens(const Array& q, const Array& k, const Array& v) {
  return is_reduced_float(q.dtype()) && k.dtype() == q.dtype() && v.dtype() == q.dtype();
}

Array wide(const Array& x) { return is_reduced_float(x.dtype()) ? x.astype(DType::float32) : x; }

// The outputs of lay's forward (lse float32 for 16-bit operands). done: they are already final
// (no problems, queries or keys); else args point at them for the kernel.
AttentionResult forward_outputs(Layout& lay, const Array& q, bool& done) {
  cpu::AttentionArgs& a = lay.args;
  Shape lse_shape(q.shape().begin(), q.shape().end() - 1);
  AttentionResult r{Array::empty(with_last(q, a.tq, a.dv), a.dtype, lay.device),
                    Array::empty(lse_shape, is_reduced_float(a.dtype) ? DType::float32 : a.dtype, lay.device)};
  done = a.bh == 0 || a.tq == 0 || a.tk == 0;
  if (done && a.tk == 0 && r.out.numel() > 0) {  // no keys: every row is masked
    r.out.fill(0.0);
    r.lse.fill(INFINITY);
  }
  a.out = static_cast<char*>(r.out.data());
  a.lse = static_cast<char*>(r.lse.data());
  return r;
}

// float16/bfloat16 on CUDA: the tensor-core forward, where it takes the head dims and layout
// (cuda/attention_tc.cu); nullopt leaves the call to the widened path.
std::optional<AttentionResult> attention_tensor_cores(const Array& q, const Array& k, const Array& v,
                                                      const AttentionParams& p) {
  if (q.device().is_cpu()) return std::nullopt;
  Layout lay = prepare(q, k, v, p, /*reduced=*/true);
  bool done = false;
  AttentionResult r = forward_outputs(lay, q, done);
  if (done) return r;
  if (!FIBRIL_CUDA_CALL(attention_tc, lay.device.index, lay.args, lay.lead)) return std::nullopt;
  return r;
}

}  // namespace

AttentionResult attention(const Array& q, const Array& k, const Array& v, const AttentionParams& p) {
  if (widens(q, k, v)) {
    if (std::optional<AttentionResult> r = attention_tensor_cores(q, k, v, p)) return *r;
    AttentionResult r = attention(wide(q), wide(k), wide(v), p);
    return AttentionResult{r.out.astype(q.dtype()), r.lse};
  }
  Layout lay = prepare(q, k, v, p);
  bool done = false;
  AttentionResult r = forward_outputs(lay, q, done);
  if (!done) dispatch(lay);
  return r;
}

AttentionGrads attention_backward(const Array& g_in, const Array& q, const Array& k, const Array& v, const Array& out,
                                  const Array& lse, const AttentionParams& p) {
  const bool reduced = widens(q, k, v) && g_in.dtype() == q.dtype();
  // float16/bfloat16 on CUDA: the tensor-core backward where it takes the call (as the forward,
  // whose float32 lse it reads); else the widened float32 kernels.
  const bool tensor_cores = reduced && !q.device().is_cpu() && lse.dtype() == DType::float32;
  const auto widened = [&] {
    AttentionGrads w = attention_backward(wide(g_in), wide(q), wide(k), wide(v), wide(out), wide(lse), p);
    return AttentionGrads{w.gq.astype(q.dtype()), w.gk.astype(q.dtype()), w.gv.astype(q.dtype())};
  };
  if (reduced && !tensor_cores) return widened();
  Layout lay = prepare(q, k, v, p, reduced);
  cpu::AttentionArgs& a = lay.args;
  common_device("scaled_dot_product_attention_backward", {&g_in, &q, &out, &lse});
  FIBRIL_CHECK(g_in.shape() == out.shape() && g_in.dtype() == out.dtype() && out.is_contiguous() &&
                   lse.is_contiguous() && out.shape() == with_last(q, a.tq, a.dv),
               Value, "[scaled_dot_product_attention_backward] gradient ", g_in.describe(),
               " does not match the output ", out.describe());
  const Array g = g_in.contiguous();
  AttentionGrads r{Array::empty(q.shape(), a.dtype, lay.device), Array::empty(k.shape(), a.dtype, lay.device),
                   Array::empty(v.shape(), a.dtype, lay.device)};
  if (a.bh == 0 || a.tq == 0 || a.tk == 0) {
    r.gq.fill(0.0);
    r.gk.fill(0.0);
    r.gv.fill(0.0);
    return r;
  }
  a.out = static_cast<char*>(out.data());
  a.lse = static_cast<char*>(lse.data());
  a.g = static_cast<const char*>(g.data());
  a.gq = static_cast<char*>(r.gq.data());
  a.gk = static_cast<char*>(r.gk.data());
  a.gv = static_cast<char*>(r.gv.data());
  if (!tensor_cores) dispatch(lay);
  else if (!FIBRIL_CUDA_CALL(attention_tc, lay.device.index, a, lay.lead)) return widened();
  return r;
}

}  // namespace fibril::ops
