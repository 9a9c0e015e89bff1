"""NAdam (momentum decay, weight decay coupled or decoupled), as torch.optim.NAdam."""

from .. import creation
from .._C import float32
from .adam import Adam
from .optimizer import Optimizer


class NAdam(Optimizer):
    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "momentum_decay": momentum_decay, "decoupled_weight_decay": decoupled_weight_decay,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _check_group(self, group):
        Adam._check_group(self, group)
        if not 0.0 <= group["momentum_decay"]:
            raise ValueError(f"Invalid momentum_decay value: {group['momentum_decay']}")

    def _update(self, group, params, grads):
        lr, eps = group["lr"], group["eps"]
        beta1, beta2 = group["betas"]
        for p, grad in zip(params, grads):
            state = self.state[p]
            if not state:
                self._step_counter(state)
                state["mu_product"] = creation.tensor(1.0, dtype=float32)
                state["exp_avg"] = creation.zeros_like(p)
                state["exp_avg_sq"] = creation.zeros_like(p)
            exp_avg, exp_avg_sq, mu_product = state["exp_avg"], state["exp_avg_sq"], state["mu_product"]
            step = state["step"].add_(1).item()
            grad = self._directed_grad(p, grad, group)
            # the momentum cache mu_t and mu_{t+1}
            mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * group["momentum_decay"]))
            mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * group["momentum_decay"]))
            mu_product.mul_(mu)
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = exp_avg_sq.div(1 - beta2 ** step).sqrt().add_(eps)
            product = mu_product.item()
            p.addcdiv_(grad, denom, value=-lr * (1.0 - mu) / (1.0 - product))
            p.addcdiv_(exp_avg, denom, value=-lr * mu_next / (1.0 - product * mu_next))
