// The rnn family, device-independent: one recurrent layer (one or two directions) over a
// whole sequence, forward and backward through time, in C++ (no per-step Python). The input
// projection for all steps is one GEMM, the recurrent product one GEMM per step (both through
// the matmul kernels), the gates and state update the fused cell kernels (cpu/rnn.cpp).
// PyTorch semantics and layouts (torch.nn.RNN / LSTM / GRU, gate order LSTM i, f, g, o and
// GRU r, z, n with b_hn inside r * (...)).
#pragma once

#include <optional>
#include <vector>

#include "core/array.h"
#include "cpu/kernels.h"

namespace fibril::ops {

using OptArray = std::optional<Array>;

// One direction's parameters: w_ih (G H, I), w_hh (G H, P), b_ih and b_hh (G H) or none, w_hr
// (P, H) for an LSTM with projections (P = proj_size), else none (P = H). G: 1 (RNN), 4
// (LSTM), 3 (GRU).
struct RnnWeights {
  Array w_ih, w_hh;
  OptArray b_ih, b_hh, w_hr;
};

// x (T, B, I) time-major; h0 (D, B, P), c0 (D, B, H) for LSTM; lengths (B) int64 in [1, T] or
// none: row b then runs steps t < lengths[b] only (the reverse direction starts at
// lengths[b] - 1), its outputs after that are 0 and its final state is the one after its last
// valid step. y is (T, B, D P), the directions side by side; `saved` is what backward needs.
struct RnnLayerResult {
  Array y, h_n;
  OptArray c_n;
  std::vector<Array> saved;
};
RnnLayerResult rnn_layer(cpu::RnnMode mode, const Array& x, const std::vector<RnnWeights>& dirs, const Array& h0,
                         const OptArray& c0, const OptArray& lengths);

// Gradients, from the forward's c_n and saved, for dy (T, B, D P), dh_n (D, B, P) and dc_n
// (D, B, H, LSTM): dx (when want_x),
// dh0, dc0 (LSTM) and, per direction, the gradients of w_ih, w_hh, b_ih, b_hh, w_hr (none
// where the parameter is absent).
struct RnnLayerGrads {
  OptArray dx;
  Array dh0;
  OptArray dc0;
  std::vector<OptArray> dweights;
};
RnnLayerGrads rnn_layer_backward(cpu::RnnMode mode, const Array& x, const std::vector<RnnWeights>& dirs,
                                 const OptArray& lengths, const OptArray& c_n, const std::vector<Array>& saved,
                                 const Array& dy,
                                 const Array& dh_n, const OptArray& dc_n, bool want_x);

}  // namespace fibril::ops
