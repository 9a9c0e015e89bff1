"""Gradient clipping as torch.nn.utils: by total norm (two fused kernel calls, one computing
the norm over all gradients, one scaling them) or by value. The fused kernels take float32 and
float64 on the CPU; float16 and bfloat16 gradients, and gradients on other devices, go through
tensor ops around them (each enters the total as its own norm)."""

import math
import warnings

from ... import _C
from ...autograd import no_grad
from ...tensor import Tensor

_FUSED = (_C.float32, _C.float64)


def _fused(t):
    return t.dtype in _FUSED and t.device == "cpu"


def _tensors(tensors):
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _norm_type(norm_type):
    if isinstance(norm_type, str):
        if norm_type not in ("inf", "Inf"):
            raise ValueError(f"norm_type must be a number or 'inf', got '{norm_type}'")
        return math.inf
    return float(norm_type)


def _norm_of(t, norm_type):
    """t's norm on the CPU as float32 (float64 for float64 t) data: for 16-bit t taken in float32
    and rounded to t's dtype, as torch's per-tensor norm."""
    with no_grad():
        wide = t if t.dtype in _FUSED else t.float()
        norm = (wide.norm(norm_type) if wide.numel() else wide.new_zeros(())).cpu()
        return (norm if t.dtype in _FUSED else norm.to(t.dtype).float())._data


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The norm of all elements of `tensors` together, as a 0-d tensor (as torch's). A 16-bit
    tensor enters as its own norm: the norm of the norms is the total norm."""
    norm_type = _norm_type(norm_type)
    tensors = _tensors(tensors)
    parts = [t._data if _fused(t) else _norm_of(t, norm_type) for t in tensors]
    total = Tensor._wrap(_C.multi_tensor_norm(parts, norm_type))
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) == 1 and dtypes.isdisjoint(_FUSED):  # torch: the norm in the grads' promoted dtype
        total = total.to(dtypes.pop())
    if tensors:
        total = total.to(tensors[0].device)
    if error_if_nonfinite and not math.isfinite(total.item()):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be "
            "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`")
    return total


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scales the gradients by max_norm / (total_norm + 1e-6) when that is below 1."""
    grads = [p.grad for p in _tensors(parameters) if p.grad is not None]
    if not grads:
        return
    with no_grad():
        coef = (max_norm / (total_norm + 1e-6)).clamp(max=1.0).item()
    if coef != 1.0:  # torch multiplies by the clamped 1.0 too: the values are the same
        fused = [g for g in grads if _fused(g)]
        _C.multi_tensor_scale_([g._data for g in fused], coef)
        for g in fused:
            g._version.value += 1
        with no_grad():
            for g in grads:
                if not _fused(g):
                    g.mul_(coef)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Clips the gradients of `parameters` in place to a total norm of at most max_norm.
    Returns the total norm before clipping, a 0-d tensor."""
    parameters = _tensors(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total)
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamps every gradient of `parameters` to [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    with no_grad():
        for p in _tensors(parameters):
            if p.grad is not None:
                p.grad.clamp_(min=-clip_value, max=clip_value)


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Deprecated alias of clip_grad_norm_ (warns a FutureWarning, as torch's)."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of `torch.nn.utils.clip_grad_norm_`.",
                  FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)
