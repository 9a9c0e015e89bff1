// The optim family, device-independent: argument checks, step counters and bias corrections,
// then one multi-tensor kernel call per dtype. Formulas and option semantics as torch.optim
// (single-tensor implementations) and torch.nn.utils.clip_grad_norm_.
//
// Lists are parallel: params[i] goes with grads[i] and each state list's i-th array (state
// lists an option leaves unused are empty). Params and grads are float32 or float64, of one
// dtype and shape per index; state arrays match their param and are contiguous. Steps are
// one-element float32/float64 arrays, incremented in place before the update, as torch's
// state['step'].
#pragma once

#include <vector>

#include "core/array.h"

namespace fibril::ops {

struct SgdOptions {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
};
// momentum_buffers: empty when momentum == 0; fresh[i]: buffer i is new and takes the gradient.
void sgd_step(const std::vector<Array>& params, const std::vector<Array>& grads,
              const std::vector<Array>& momentum_buffers, const std::vector<bool>& fresh, const SgdOptions& opt);

struct AdamOptions {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, maximize, decoupled_weight_decay;  // decoupled: AdamW
};
void adam_step(const std::vector<Array>& params, const std::vector<Array>& grads, const std::vector<Array>& exp_avgs,
               const std::vector<Array>& exp_avg_sqs, const std::vector<Array>& max_exp_avg_sqs,
               const std::vector<Array>& steps, const AdamOptions& opt);

struct RmspropOptions {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
};
void rmsprop_step(const std::vector<Array>& params, const std::vector<Array>& grads,
                  const std::vector<Array>& square_avgs, const std::vector<Array>& momentum_buffers,
                  const std::vector<Array>& grad_avgs, const std::vector<Array>& steps, const RmspropOptions& opt);

struct AdagradOptions {
  double lr, lr_decay, weight_decay, eps;
  bool maximize;
};
void adagrad_step(const std::vector<Array>& params, const std::vector<Array>& grads, const std::vector<Array>& sums,
                  const std::vector<Array>& steps, const AdagradOptions& opt);

// The p-norm of all elements of all arrays together (p > 0 or inf), as torch computes it for
// clip_grad_norm_: each array's norm in its dtype, then the norm of those norms. A 0-d array,
// float64 when any input is, else float32; 0 for an empty list.
Array multi_tensor_norm(const std::vector<Array>& xs, double p);

// x *= factor for every array, in place.
void multi_tensor_scale_(const std::vector<Array>& xs, double factor);

}  // namespace fibril::ops
