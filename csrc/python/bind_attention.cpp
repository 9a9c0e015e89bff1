// The attention family's _C functions; the GIL is released around the work.
#include <pybind11/stl.h>

#include "ops/attention.h"
#include "python/bindings.h"

namespace fibril::python {
namespace {

ops::AttentionParams params(std::optional<Array> mask, double dropout_p, bool causal, std::optional<double> scale,
                            uint64_t seed, uint64_t offset) {
  return {std::move(mask), dropout_p, causal, scale, seed, offset};
}

}  // namespace

void bind_attention(py::module_& m) {
  m.def("attention", [](const Array& q, const Array& k, const Array& v, std::optional<Array> mask, double dropout_p,
                        bool causal, std::optional<double> scale, uint64_t seed, uint64_t offset) {
    const ops::AttentionParams p = params(std::move(mask), dropout_p, causal, scale, seed, offset);
    ops::AttentionResult r = [&] {
      py::gil_scoped_release release;
      return ops::attention(q, k, v, p);
    }();
    return py::make_tuple(r.out, r.lse);
  }, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("attn_mask"), py::arg("dropout_p"), py::arg("is_causal"),
        py::arg("scale"), py::arg("seed"), py::arg("offset"),
        "(out, lse) of scaled dot-product attention; lse is +inf on rows with every key masked.");
  m.def("attention_backward", [](const Array& g, const Array& q, const Array& k, const Array& v, const Array& out,
                                 const Array& lse, std::optional<Array> mask, double dropout_p, bool causal,
                                 std::optional<double> scale, uint64_t seed, uint64_t offset) {
    const ops::AttentionParams p = params(std::move(mask), dropout_p, causal, scale, seed, offset);
    ops::AttentionGrads r = [&] {
      py::gil_scoped_release release;
      return ops::attention_backward(g, q, k, v, out, lse, p);
    }();
    return py::make_tuple(r.gq, r.gk, r.gv);
  }, "(gq, gk, gv) from the forward's out and lse.");
}

}  // namespace fibril::python
