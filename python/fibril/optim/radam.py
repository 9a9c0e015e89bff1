"""RAdam (variance rectification, weight decay coupled or decoupled), as torch.optim.RAdam."""

from .. import creation
from .adam import Adam
from .optimizer import Optimizer


class RAdam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "decoupled_weight_decay": decoupled_weight_decay, "differentiable": differentiable}
        super().__init__(params, defaults)

    _check_group = Adam._check_group

    def _update(self, group, params, grads):
        lr, eps = group["lr"], group["eps"]
        beta1, beta2 = group["betas"]
        rho_inf = 2 / (1 - beta2) - 1  # the longest the approximated SMA gets
        for p, grad in zip(params, grads):
            state = self.state[p]
            if not state:
                self._step_counter(state)
                state["exp_avg"] = creation.zeros_like(p)
                state["exp_avg_sq"] = creation.zeros_like(p)
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            step = state["step"].add_(1).item()
            grad = self._directed_grad(p, grad, group)
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            bias_correction2 = 1 - beta2 ** step
            update = exp_avg / (1 - beta1 ** step) * lr
            rho_t = rho_inf - 2 * step * beta2 ** step / bias_correction2
            if rho_t > 5.0:  # the variance is tractable: rectify the adaptive step
                rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                update = update * (bias_correction2 ** 0.5 / exp_avg_sq.sqrt().add_(eps)) * rect
            p.sub_(update)
