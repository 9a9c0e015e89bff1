"""Adamax (Adam with an infinity norm), as torch.optim.Adamax."""

from .. import creation
from .adam import Adam
from .optimizer import Optimizer


class Adamax(Optimizer):
    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable, "capturable": capturable}
        super().__init__(params, defaults)

    _check_group = Adam._check_group

    def _update(self, group, params, grads):
        beta1, beta2 = group["betas"]
        for p, grad in zip(params, grads):
            state = self.state[p]
            if not state:
                self._step_counter(state)
                state["exp_avg"] = creation.zeros_like(p)
                state["exp_inf"] = creation.zeros_like(p)
            exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
            step = state["step"].add_(1).item()
            grad = self._directed_grad(p, grad, group)
            exp_avg.lerp_(grad, 1 - beta1)
            exp_inf.mul_(beta2).maximum_(grad.abs().add_(group["eps"]))
            p.addcdiv_(exp_avg, exp_inf, value=-group["lr"] / (1 - beta1 ** step))
