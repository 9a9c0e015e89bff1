"""Adagrad (lr decay, weight decay, initial accumulator value), as torch.optim.Adagrad."""

from .. import _C, creation
from .optimizer import Optimizer


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)
        for group in self.param_groups:  # as torch: the state exists before the first step
            for p in group["params"]:
                self._init_state(p)

    def _check_group(self, group):
        for key, name in (("lr", "learning rate"), ("lr_decay", "lr_decay value"),
                          ("weight_decay", "weight_decay value"),
                          ("initial_accumulator_value", "initial_accumulator_value value"), ("eps", "epsilon value")):
            if not 0.0 <= group[key]:
                raise ValueError(f"Invalid {name}: {group[key]}")

    def _init_state(self, p):
        state = self.state[p]
        self._step_counter(state)
        if "sum" not in state:
            # as torch: the constructor's value, whatever a param group says
            state["sum"] = creation.full_like(p, self.defaults["initial_accumulator_value"])
        return state

    def _update(self, group, params, grads):
        states = [self._init_state(p) for p in params]
        _C.adagrad_step([p._data for p in params], [g._data for g in grads], [s["sum"]._data for s in states],
                        [s["step"]._data for s in states], lr=group["lr"], lr_decay=group["lr_decay"],
                        weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"])
