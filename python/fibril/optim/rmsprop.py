"""RMSprop (momentum, centered, weight decay), as torch.optim.RMSprop."""

from .. import _C, creation
from .optimizer import Optimizer


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
                    "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable}
        super().__init__(params, defaults)

    def _check_group(self, group):
        for key, name in (("lr", "learning rate"), ("eps", "epsilon value"), ("momentum", "momentum value"),
                          ("weight_decay", "weight_decay value"), ("alpha", "alpha value")):
            if not 0.0 <= group[key]:
                raise ValueError(f"Invalid {name}: {group[key]}")

    def _update(self, group, params, grads):
        square_avgs, buffers, grad_avgs, steps = [], [], [], []
        keys = [("square_avg", square_avgs)]
        if group["momentum"] > 0:
            keys.append(("momentum_buffer", buffers))
        if group["centered"]:
            keys.append(("grad_avg", grad_avgs))
        for p in params:
            state = self.state[p]
            steps.append(self._step_counter(state))
            for key, out in keys:
                if key not in state:
                    state[key] = creation.zeros_like(p)
                out.append(state[key]._data)
        _C.rmsprop_step([p._data for p in params], [g._data for g in grads], square_avgs, buffers, grad_avgs, steps,
                        lr=group["lr"], alpha=group["alpha"], eps=group["eps"], weight_decay=group["weight_decay"],
                        momentum=group["momentum"], centered=group["centered"], maximize=group["maximize"])
