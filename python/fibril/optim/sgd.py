"""SGD with momentum, dampening, Nesterov momentum and weight decay, as torch.optim.SGD."""

from .. import _C, creation
from .optimizer import Optimizer


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False,
                 foreach=None, differentiable=False, fused=None):
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize, "foreach": foreach,
                    "differentiable": differentiable, "fused": fused}
        # on the constructor's options only, as torch: a group may turn momentum off under nesterov
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def _check_group(self, group):
        if group["lr"] < 0.0:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        if group["momentum"] < 0.0:
            raise ValueError(f"Invalid momentum value: {group['momentum']}")
        if group["weight_decay"] < 0.0:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")

    def _update(self, group, params, grads):
        buffers, fresh = [], []
        if group["momentum"] != 0:
            for p in params:
                state = self.state[p]
                fresh.append("momentum_buffer" not in state)
                if fresh[-1]:
                    state["momentum_buffer"] = creation.empty_like(p)
                buffers.append(state["momentum_buffer"]._data)
        _C.sgd_step([p._data for p in params], [g._data for g in grads], buffers, fresh, lr=group["lr"],
                    momentum=group["momentum"], dampening=group["dampening"], weight_decay=group["weight_decay"],
                    nesterov=group["nesterov"], maximize=group["maximize"])
