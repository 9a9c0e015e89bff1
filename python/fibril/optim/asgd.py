"""ASGD (averaged SGD), as torch.optim.ASGD."""

from .. import creation
from .._C import float32
from .optimizer import Optimizer


class ASGD(Optimizer):
    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
                 maximize=False, differentiable=False, capturable=False):
        defaults = {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0, "weight_decay": weight_decay,
                    "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
                    "capturable": capturable}
        super().__init__(params, defaults)

    def _check_group(self, group):
        if not 0.0 <= group["lr"]:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        if not 0.0 <= group["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")

    def _update(self, group, params, grads):
        lr, lambd = group["lr"], group["lambd"]
        for p, grad in zip(params, grads):
            state = self.state[p]
            if not state:
                self._step_counter(state)
                state["eta"] = creation.tensor(float(lr), dtype=float32)
                state["mu"] = creation.tensor(1.0, dtype=float32)
                state["ax"] = creation.zeros_like(p)
            eta, mu, ax = state["eta"], state["mu"], state["ax"]
            step = state["step"].add_(1).item()
            grad = self._directed_grad(p, grad, group)
            p.mul_(1 - lambd * eta.item())
            p.sub_(grad * eta.item())
            if mu.item() != 1:
                ax.add_(p.sub(ax).mul_(mu.item()))
            else:
                ax.copy_(p)
            # the new rates pass through float32, as torch's (torch.as_tensor of a float)
            eta.copy_(creation.tensor(lr / ((1 + lambd * lr * step) ** group["alpha"]), dtype=float32))
            mu.copy_(creation.tensor(1 / max(1, step - group["t0"]), dtype=float32))
