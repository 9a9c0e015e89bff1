// The rnn family's _C functions: one recurrent layer, forward and backward through time.
// Results come back as tuples; the GIL is released around the work.
#include <pybind11/stl.h>

#include "core/errors.h"
#include "ops/rnn.h"
#include "python/bindings.h"

namespace fibril::python {
namespace {

using ops::OptArray;
using Weights = std::vector<std::vector<OptArray>>;

cpu::RnnMode mode_from(const std::string& mode) {
  if (mode == "rnn_tanh") return cpu::RnnMode::rnn_tanh;
  if (mode == "rnn_relu") return cpu::RnnMode::rnn_relu;
  if (mode == "lstm") return cpu::RnnMode::lstm;
  if (mode == "gru") return cpu::RnnMode::gru;
  FIBRIL_FAIL(Value, "[rnn] unknown mode '", mode, "' (expected rnn_tanh, rnn_relu, lstm or gru)");
}

// Per direction [w_ih, w_hh, b_ih, b_hh, w_hr], None where absent.
std::vector<ops::RnnWeights> weights_from(const Weights& dirs) {
  std::vector<ops::RnnWeights> out;
  for (const auto& w : dirs) {
    FIBRIL_CHECK(w.size() == 5 && w[0] && w[1], Value,
                 "[rnn] each direction needs [w_ih, w_hh, b_ih, b_hh, w_hr] with w_ih and w_hh given");
    out.push_back({*w[0], *w[1], w[2], w[3], w[4]});
  }
  return out;
}

}  // namespace

void bind_rnn(py::module_& m) {
  m.def("rnn_layer", [](const std::string& mode, const Array& x, const Weights& weights, const Array& h0,
                        OptArray c0, OptArray lengths) {
    const cpu::RnnMode md = mode_from(mode);
    const auto w = weights_from(weights);
    ops::RnnLayerResult r = [&] {
      py::gil_scoped_release release;
      return ops::rnn_layer(md, x, w, h0, c0, lengths);
    }();
    return py::make_tuple(r.y, r.h_n, r.c_n, r.saved);
  }, py::arg("mode"), py::arg("x"), py::arg("weights"), py::arg("h0"), py::arg("c0"), py::arg("lengths"),
        "(y, h_n, c_n or None, saved) of one recurrent layer over a (T, B, I) sequence.");
  m.def("rnn_layer_backward", [](const std::string& mode, const Array& x, const Weights& weights, OptArray lengths,
                                 OptArray c_n, const std::vector<Array>& saved, const Array& dy, const Array& dh_n,
                                 OptArray dc_n, bool want_x) {
    const cpu::RnnMode md = mode_from(mode);
    const auto w = weights_from(weights);
    ops::RnnLayerGrads g = [&] {
      py::gil_scoped_release release;
      return ops::rnn_layer_backward(md, x, w, lengths, c_n, saved, dy, dh_n, dc_n, want_x);
    }();
    return py::make_tuple(g.dx, g.dh0, g.dc0, g.dweights);
  }, "(dx or None, dh0, dc0 or None, [per direction: dw_ih, dw_hh, db_ih, db_hh, dw_hr]).");
}

}  // namespace fibril::python
