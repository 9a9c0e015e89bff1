#include "ops/random.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/errors.h"
#include "core/parallel.h"
#include "cpu/kernels.h"
#include "cuda/random.h"
#include "ops/device.h"
#include "ops/reduce.h"

namespace fibril::ops {
namespace {

void check_on_cpu(const char* op, const Array& a) {
  FIBRIL_CHECK(a.device().is_cpu(), NotImplemented, "[", op, "] not implemented on CUDA yet (got ", a.describe(),
               ")");
}

cpu::RandomArgs args_for(cpu::RandomKind kind, Array& out, PhiloxState rng) {
  cpu::RandomArgs a{};
  a.kind = kind;
  a.dtype = out.dtype();
  a.out = static_cast<char*>(out.data());
  a.n = out.numel();
  a.seed = rng.seed;
  a.offset = rng.offset;
  return a;
}

void run(const Device& device, const cpu::RandomArgs& a) {
  if (device.is_cpu()) cpu::kernels().random(a);
  else FIBRIL_CUDA_CALL(random, device.index, a);
}

// Runs the kernel on out, or on a contiguous stand-in copied into out afterwards (float32 for
// the 16-bit floats: the float32 draws of the same seed, rounded).
template <typename Setup>
void fill(const char* op, cpu::RandomKind kind, Array& out, PhiloxState rng, Setup&& setup) {
  check_writable_layout(out, op);
  const bool reduced = is_reduced_float(out.dtype());
  const bool in_place = out.is_contiguous() && !reduced;
  Array target =
      in_place ? out : Array::empty(out.shape(), reduced ? DType::float32 : out.dtype(), out.device());
  cpu::RandomArgs a = args_for(kind, target, rng);
  setup(a);
  run(out.device(), a);
  if (!in_place) out.copy_from(target);
}

void check_floating(const char* op, const Array& a) {
  FIBRIL_CHECK(is_floating_point(a.dtype()), NotImplemented, "[", op, "] not implemented for '",
               dtype_name(a.dtype()), "'");
}

void check_probability(const char* op, double p) {
  FIBRIL_CHECK(p >= 0 && p <= 1, Value, "[", op, "] p must be in [0, 1], got ", p);
}

}  // namespace

void uniform_(Array& out, double from, double to, PhiloxState rng) {
  check_floating("uniform_", out);
  FIBRIL_CHECK(std::isfinite(from) && std::isfinite(to), Runtime, "[uniform_] from and to must be finite, got from=",
               from, " to=", to);
  FIBRIL_CHECK(from <= to, Runtime, "[uniform_] expects to return a [from, to) range, but found from=", from,
               " > to=", to);
  fill("uniform_", cpu::RandomKind::uniform, out, rng, [&](cpu::RandomArgs& a) {
    a.a = from;
    a.b = to;
  });
}

void normal_(Array& out, double mean, double std, PhiloxState rng) {
  check_floating("normal_", out);
  FIBRIL_CHECK(std >= 0, Runtime, "[normal_] expects std >= 0.0, but found std ", std);
  fill("normal_", cpu::RandomKind::normal, out, rng, [&](cpu::RandomArgs& a) {
    a.a = mean;
    a.b = std;
  });
}

void bernoulli_(Array& out, double p, PhiloxState rng) {
  check_probability("bernoulli_", p);
  fill("bernoulli_", cpu::RandomKind::bernoulli, out, rng, [&](cpu::RandomArgs& a) { a.a = p; });
}

void bernoulli_(Array& out, const Array& p, PhiloxState rng) {
  common_device("bernoulli_", {&out, &p});
  check_floating("bernoulli_", p);
  FIBRIL_CHECK(broadcast_shapes(p.shape(), out.shape(), "bernoulli_") == out.shape(), Runtime,
               "[bernoulli_] p of shape ", shape_str(p.shape()), " does not broadcast to ", out.describe());
  Array probs = p.expand(out.shape()).astype(DType::float64);  // contiguous, out's element order
  bool valid = true;
  if (!probs.device().is_cpu()) {  // min and max on the device (NaN propagates into both)
    if (probs.numel() > 0) {
      const Array lo = ops::reduce(ReduceOp::amin, probs, std::nullopt, false, std::nullopt).to(Device{});
      const Array hi = ops::reduce(ReduceOp::amax, probs, std::nullopt, false, std::nullopt).to(Device{});
      const double l = *static_cast<const double*>(lo.data()), h = *static_cast<const double*>(hi.data());
      valid = l >= 0 && h <= 1;
    }
  } else {
    const double* v = static_cast<const double*>(probs.data());
    valid = std::all_of(v, v + probs.numel(), [](double x) { return x >= 0 && x <= 1; });
  }
  FIBRIL_CHECK(valid, Runtime, "[bernoulli_] expected every probability in [0, 1] (got ", p.describe(), ")");
  fill("bernoulli_", cpu::RandomKind::bernoulli, out, rng, [&](cpu::RandomArgs& a) {
    a.p = static_cast<const double*>(probs.data());
  });
}

void randint_(Array& out, int64_t low, int64_t high, PhiloxState rng) {
  FIBRIL_CHECK(out.dtype() != DType::bool_, NotImplemented, "[randint_] not implemented for 'bool'");
  FIBRIL_CHECK(low < high, Runtime, "[randint_] expects 'from' to be less than 'to', but got from=", low,
               " >= to=", high);
  const uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  if (out.dtype() == DType::int64) {
    fill("randint_", cpu::RandomKind::randint, out, rng, [&](cpu::RandomArgs& a) {
      a.low = low;
      a.range = range;
    });
    return;
  }
  Array values = Array::empty(out.shape(), DType::int64, out.device());
  randint_(values, low, high, rng);
  out.copy_from(values);
}

std::pair<Array, Array> dropout(const Array& x, double p, PhiloxState rng) {
  check_floating("dropout", x);
  FIBRIL_CHECK(p >= 0 && p <= 1, Value, "[dropout] dropout probability has to be between 0 and 1, but got ", p);
  if (is_reduced_float(x.dtype())) {  // the float32 kernel on a widened copy, rounded back
    auto [out, mask] = dropout(x.astype(DType::float32), p, rng);
    return {out.astype(x.dtype()), mask.astype(x.dtype())};
  }
  const Array in = x.contiguous();
  Array out = Array::empty(x.shape(), x.dtype(), x.device()), mask = Array::empty(x.shape(), x.dtype(), x.device());
  cpu::RandomArgs a = args_for(cpu::RandomKind::dropout, out, rng);
  a.a = p;
  a.x = static_cast<const char*>(in.data());
  a.mask = static_cast<char*>(mask.data());
  run(x.device(), a);
  return {out, mask};
}

Array randperm(int64_t n, PhiloxState rng) {
  FIBRIL_CHECK(n >= 0, Runtime, "[randperm] n must be non-negative, got ", n);
  Array keys = Array::empty({n}, DType::int64);
  cpu::RandomArgs a = args_for(cpu::RandomKind::randint, keys, rng);
  a.range = 0;  // all 64 bits
  cpu::kernels().random(a);
  const int64_t* k = static_cast<const int64_t*>(keys.data());
  std::vector<std::pair<uint64_t, int64_t>> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = {static_cast<uint64_t>(k[i]), i};
  std::sort(order.begin(), order.end());
  Array out = Array::empty({n}, DType::int64);
  int64_t* o = static_cast<int64_t*>(out.data());
  for (int64_t i = 0; i < n; ++i) o[i] = order[i].second;
  return out;
}

int64_t multinomial_elements(const Array& probs, int64_t num_samples, bool replacement) {
  const int64_t rows = probs.ndim() == 2 ? probs.shape()[0] : 1;
  return rows * (replacement ? num_samples : probs.shape().back());
}

Array multinomial(const Array& probs, int64_t num_samples, bool replacement, PhiloxState rng) {
  check_on_cpu("multinomial", probs);
  FIBRIL_CHECK(probs.ndim() == 1 || probs.ndim() == 2, Runtime, "[multinomial] prob_dist must be 1 or 2 dim, got ",
               probs.describe());
  FIBRIL_CHECK(is_floating_point(probs.dtype()), Runtime,
               "[multinomial] only supports floating-point dtypes for input, got ", probs.describe());
  FIBRIL_CHECK(num_samples > 0, Runtime, "[multinomial] cannot sample n_sample <= 0 samples");
  const int64_t rows = probs.ndim() == 2 ? probs.shape()[0] : 1, cats = probs.shape().back();
  FIBRIL_CHECK(cats > 0, Runtime, "[multinomial] prob_dist has no categories: ", probs.describe());
  FIBRIL_CHECK(replacement || num_samples <= cats, Runtime,
               "[multinomial] cannot sample n_sample > prob_dist.size(-1) samples without replacement");
  const Array p = probs.astype(DType::float64);
  const double* pv = static_cast<const double*>(p.data());
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = pv + r * cats;
    double total = 0;
    int64_t nonzero = 0;
    for (int64_t c = 0; c < cats; ++c) {
      FIBRIL_CHECK(std::isfinite(row[c]) && row[c] >= 0, Runtime,
                   "[multinomial] probability tensor contains either `inf`, `nan` or element < 0");
      total += row[c];
      nonzero += row[c] > 0;
    }
    FIBRIL_CHECK(total > 0, Runtime, "[multinomial] invalid multinomial distribution (sum of probabilities <= 0)");
    FIBRIL_CHECK(replacement || nonzero >= num_samples, Runtime,
                 "[multinomial] invalid multinomial distribution (with replacement=False, not enough non-negative "
                 "category to sample)");
  }
  Array u = Array::empty({multinomial_elements(probs, num_samples, replacement)}, DType::float64);
  cpu::RandomArgs a = args_for(cpu::RandomKind::uniform, u, rng);
  a.b = 1;
  cpu::kernels().random(a);
  const double* uv = static_cast<const double*>(u.data());
  Array out = Array::empty(probs.ndim() == 2 ? Shape{rows, num_samples} : Shape{num_samples}, DType::int64);
  int64_t* ov = static_cast<int64_t*>(out.data());
  parallel_for(0, rows, 1, [&](int64_t lo, int64_t hi) {
    std::vector<double> keys(static_cast<size_t>(cats));
    std::vector<int64_t> order(static_cast<size_t>(cats));
    for (int64_t r = lo; r < hi; ++r) {
      const double* row = pv + r * cats;
      int64_t* dst = ov + r * num_samples;
      if (replacement) {  // inverse CDF; never lands on a zero-probability category
        double acc = 0;
        int64_t last = 0;
        for (int64_t c = 0; c < cats; ++c) {
          acc += row[c];
          keys[c] = acc;
          if (row[c] > 0) last = c;
        }
        for (int64_t s = 0; s < num_samples; ++s) {
          const double target = uv[r * num_samples + s] * acc;
          const int64_t c = std::upper_bound(keys.begin(), keys.end(), target) - keys.begin();
          dst[s] = std::min(c, last);
        }
        continue;
      }
      for (int64_t c = 0; c < cats; ++c) {
        keys[c] = row[c] > 0 ? -std::log1p(-uv[r * cats + c]) / row[c] : std::numeric_limits<double>::infinity();
        order[c] = c;
      }
      std::partial_sort(order.begin(), order.begin() + num_samples, order.end(),
                        [&](int64_t x, int64_t y) { return keys[x] < keys[y] || (keys[x] == keys[y] && x < y); });
      std::copy(order.begin(), order.begin() + num_samples, dst);
    }
  });
  return out;
}

}  // namespace fibril::ops
