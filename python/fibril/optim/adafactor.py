"""Adafactor (factored second moments, relative step size, update clipping, decoupled weight
decay), as torch.optim.Adafactor."""

from .. import creation
from ..tensor import Tensor
from ..typeinfo import finfo
from .optimizer import Optimizer


class Adafactor(Optimizer):
    def __init__(self, params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, *,
                 foreach=None, maximize=False):
        defaults = {"lr": lr, "beta2_decay": beta2_decay, "eps": tuple(eps), "d": d, "weight_decay": weight_decay,
                    "foreach": foreach, "maximize": maximize}
        super().__init__(params, defaults)

    def _check_group(self, group):
        lr, (eps1, eps2) = group["lr"], group["eps"]
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 >= group["beta2_decay"]:
            raise ValueError(f"beta2_decay should be <= 0 but is: {group['beta2_decay']}")
        if eps1 is not None and not 0.0 <= eps1:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps1}")
        if not 0.0 <= eps2:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps2}")
        if not 1.0 <= group["d"]:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {group['d']}")
        if not 0.0 <= group["weight_decay"]:
            raise ValueError(f"weight_decay should be >= 0 but is: {group['weight_decay']}")

    def _update(self, group, params, grads):
        # a tensor lr stays one, so the scalars below round to its dtype as torch's do
        lr, d, wd = group["lr"], group["d"], group["weight_decay"]
        eps1, eps2 = group["eps"]
        if eps1 is None:  # torch takes the first stepped param's dtype for the whole group
            eps1 = finfo(params[0].dtype).eps
        for p, grad in zip(params, grads):
            state = self.state[p]
            if not state:
                self._step_counter(state)
                if p.dim() > 1:  # row and column means of grad^2 over the last two dims
                    state["row_var"] = creation.zeros(p.shape[:-1] + (1,), dtype=p.dtype, device=p.device)
                    state["col_var"] = creation.zeros(p.shape[:-2] + (1, p.shape[-1]), dtype=p.dtype,
                                                      device=p.device)
                else:
                    state["variance"] = creation.zeros_like(p)
            step = state["step"].add_(1).item()
            if group["maximize"]:
                grad = -grad
            one_minus_beta2 = step ** group["beta2_decay"]
            alpha = max(eps2, p.norm(2).item() / p.numel() ** 0.5) * min(lr, 1 / step ** 0.5)
            if wd != 0:
                p.mul_(float(1 - lr * wd))
            if p.dim() > 1:
                row_var, col_var = state["row_var"], state["col_var"]
                row_var.lerp_(grad.norm(dim=-1, keepdim=True).square_().div_(grad.shape[-1]), one_minus_beta2)
                col_var.lerp_(grad.norm(dim=-2, keepdim=True).square_().div_(grad.shape[-2]), one_minus_beta2)
                var_estimate = (row_var @ col_var).div_(row_var.mean(dim=-2, keepdim=True).clamp_(min=eps1))
            else:
                var_estimate = state["variance"].lerp_(grad * grad, one_minus_beta2).clone()
            # eps1^2 may be subnormal, which fibril's kernels flush to 0 (a 0 grad would step to
            # inf * 0 = nan): the floor is at least the dtype's smallest normal
            floor = max(eps1 * eps1, finfo(p.dtype).tiny)
            update = var_estimate.clamp_(min=floor).rsqrt_().mul_(grad)
            denom = max(1.0, update.norm(2).item() / (update.numel() ** 0.5 * d))
            p.add_(update, alpha=float(-alpha / denom))
