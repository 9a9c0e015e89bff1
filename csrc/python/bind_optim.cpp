// The optim family's _C functions: lists of Arrays in, updated in place. The GIL is
// released around the work.
#include <pybind11/stl.h>

#include "ops/optim.h"
#include "python/bindings.h"

namespace fibril::python {

using Arrays = std::vector<Array>;

void bind_optim(py::module_& m) {
  m.def("sgd_step", [](const Arrays& params, const Arrays& grads, const Arrays& momentum_buffers,
                       const std::vector<bool>& fresh, double lr, double momentum, double dampening,
                       double weight_decay, bool nesterov, bool maximize) {
    py::gil_scoped_release release;
    ops::sgd_step(params, grads, momentum_buffers, fresh, {lr, momentum, dampening, weight_decay, nesterov, maximize});
  }, py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"), py::arg("fresh"), py::arg("lr"),
        py::arg("momentum"), py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"), py::arg("maximize"),
        "One SGD step of torch.optim.SGD over all params; fresh[i]: buffer i takes the gradient.");

  m.def("adam_step", [](const Arrays& params, const Arrays& grads, const Arrays& exp_avgs, const Arrays& exp_avg_sqs,
                        const Arrays& max_exp_avg_sqs, const Arrays& steps, double lr, double beta1, double beta2,
                        double eps, double weight_decay, bool amsgrad, bool maximize, bool decoupled_weight_decay) {
    py::gil_scoped_release release;
    ops::adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps,
                   {lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay});
  }, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"),
        py::arg("steps"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("amsgrad"), py::arg("maximize"), py::arg("decoupled_weight_decay"),
        "One step of torch.optim.Adam (AdamW when decoupled_weight_decay); steps are incremented.");

  m.def("rmsprop_step", [](const Arrays& params, const Arrays& grads, const Arrays& square_avgs,
                           const Arrays& momentum_buffers, const Arrays& grad_avgs, const Arrays& steps, double lr,
                           double alpha, double eps, double weight_decay, double momentum, bool centered,
                           bool maximize) {
    py::gil_scoped_release release;
    ops::rmsprop_step(params, grads, square_avgs, momentum_buffers, grad_avgs, steps,
                      {lr, alpha, eps, weight_decay, momentum, centered, maximize});
  }, py::arg("params"), py::arg("grads"), py::arg("square_avgs"), py::arg("momentum_buffers"), py::arg("grad_avgs"),
        py::arg("steps"), py::arg("lr"), py::arg("alpha"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("momentum"), py::arg("centered"), py::arg("maximize"), "One step of torch.optim.RMSprop.");

  m.def("adagrad_step", [](const Arrays& params, const Arrays& grads, const Arrays& sums, const Arrays& steps,
                           double lr, double lr_decay, double weight_decay, double eps, bool maximize) {
    py::gil_scoped_release release;
    ops::adagrad_step(params, grads, sums, steps, {lr, lr_decay, weight_decay, eps, maximize});
  }, py::arg("params"), py::arg("grads"), py::arg("sums"), py::arg("steps"), py::arg("lr"), py::arg("lr_decay"),
        py::arg("weight_decay"), py::arg("eps"), py::arg("maximize"), "One step of torch.optim.Adagrad.");

  m.def("multi_tensor_norm", [](const Arrays& xs, double p) {
    py::gil_scoped_release release;
    return ops::multi_tensor_norm(xs, p);
  }, py::arg("xs"), py::arg("p") = 2.0, "The p-norm (p > 0 or inf) of all elements of xs, as a 0-d array.");

  m.def("multi_tensor_scale_", [](const Arrays& xs, double factor) {
    py::gil_scoped_release release;
    ops::multi_tensor_scale_(xs, factor);
  }, py::arg("xs"), py::arg("factor"), "x *= factor for every x in xs, in place.");
}

}  // namespace fibril::python
