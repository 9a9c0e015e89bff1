"""Rprop (resilient backpropagation), as torch.optim.Rprop."""

from .. import creation
from .optimizer import Optimizer


class Rprop(Optimizer):
    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False, foreach=None,
                 maximize=False, differentiable=False):
        defaults = {"lr": lr, "etas": tuple(etas), "step_sizes": tuple(step_sizes), "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable, "capturable": capturable}
        super().__init__(params, defaults)

    def _check_group(self, group):
        etaminus, etaplus = group["etas"]
        if not 0.0 <= group["lr"]:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        if not 0.0 < etaminus < 1.0 < etaplus:
            raise ValueError(f"Invalid eta values: {etaminus}, {etaplus}")

    def _update(self, group, params, grads):
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        for p, grad in zip(params, grads):
            state = self.state[p]
            if not state:
                self._step_counter(state)
                state["prev"] = creation.zeros_like(p)
                state["step_size"] = creation.full_like(p, float(group["lr"]))  # lr may be a 0-d tensor
            prev, step_size = state["prev"], state["step_size"]
            state["step"].add_(1)
            if group["maximize"]:
                grad = -grad
            # the sign of grad * prev picks each element's factor: etaplus (same sign), etaminus
            # (flipped: the step overshot, so this element does not move now) or 1
            factor = grad.mul(prev).sign()
            flipped = factor.lt(0)
            factor.masked_fill_(factor.gt(0), etaplus)
            factor.masked_fill_(flipped, etaminus)
            factor.masked_fill_(factor.eq(0), 1)
            step_size.mul_(factor).clamp_(step_size_min, step_size_max)
            grad = grad.masked_fill(flipped, 0)
            p.addcmul_(grad.sign(), step_size, value=-1)
            prev.copy_(grad)
