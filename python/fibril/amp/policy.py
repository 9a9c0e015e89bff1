"""What autocast does to an op's inputs, after torch's CPU and CUDA autocast op lists.

An op calls, at its entry,

    if _autocast_active.on:
        a, b = autocast_inputs("lower", a, b)

so that with autocast off it pays one attribute read (state.active: on while autocast is on in
some thread; autocast_inputs then reads this thread's state). `kind` names the op's policy:

    "lower"       both devices: floating inputs cast to the autocast dtype (matmul, mm, bmm, addmm,
                  baddbmm, addbmm, linear, the convolutions, scaled_dot_product_attention, prelu)
    "lower_cuda"  CUDA only: lower precision there, untouched on CPU (mv, addmv, addr)
    "fp32"        both devices: floating inputs cast to float32 (the losses)
    "fp32_cuda"   CUDA only: float32 there (softmax, log_softmax)
    "fp32_cpu"    CPU only: float32 there (trace, prod, quantile, cdist's CPU side, the 3-D pools,
                  grid_sample, reflection and replication pads, the linalg decompositions/solvers)
    "bce"         float32 on CPU; refused on CUDA, as torch (binary_cross_entropy)
    "promote_cuda" CUDA only: mixed floating inputs promoted to their widest dtype (bilinear)
    "fp32_cpu_promote_cuda"  float32 on CPU, promoted on CUDA (grid_sample)
    "none"        casts nothing (for autocast_op: an op autocast leaves alone whose internals must
                  not autocast, as torch's single kernel does not)

Ops composed of other fibril ops (the linalg routines are built on fibril.matmul, which autocast
lowers) use the decorator autocast_op(kind): under autocast it casts their tensor arguments as
`kind` asks and runs their body with autocast off, so that their internals stay in that dtype as
torch's kernels do.

Ops not listed run in their inputs' widest dtype: autocast leaves them alone. Only floating
tensors on the device whose autocast is on are cast, and float64 never (as torch); integer and
bool tensors, None and non-tensors pass through. The cast is Tensor.to, which is differentiable:
gradients reach float32 parameters as float32.

Every listed op has bfloat16 and float16 CPU kernels in fibril (forward and backward: matmul,
linear, conv1d/2d/3d and the transposed ones, attention, prelu), so no op needs the float32
fallback that a missing lower-precision kernel would call for.

Casts of float32 leaf tensors that require grad (parameters) to the lower dtype are cached
until the outermost autocast region exits (cache_enabled), as torch's: a weight used several
times in a region is cast once."""

import functools

from .. import _C
from .state import active, set_autocast_enabled, state  # noqa: F401  (active: the flag the ops read)

_LOW = "low"  # the device's autocast dtype
_BANNED = "banned"
_PROMOTE = "promote"

# kind -> (target on cpu, target on cuda); None leaves that device's tensors alone.
_TARGETS = {
    "lower": (_LOW, _LOW),
    "lower_cuda": (None, _LOW),
    "fp32": (_C.float32, _C.float32),
    "fp32_cuda": (None, _C.float32),
    "fp32_cpu": (_C.float32, None),
    "fp32_cpu_promote_cuda": (_C.float32, _PROMOTE),
    "bce": (_C.float32, _BANNED),
    "promote_cuda": (None, _PROMOTE),
    "none": (None, None),
}
_CASTABLE = (_C.float16, _C.bfloat16, _C.float32)  # floating, not float64

_BCE_MESSAGE = (
    "torch.nn.functional.binary_cross_entropy and torch.nn.BCELoss are unsafe to autocast.\n"
    "Many models use a sigmoid layer right before the binary cross entropy layer.\n"
    "In this case, combine the two layers using torch.nn.functional.binary_cross_entropy_with_logits\n"
    "or torch.nn.BCEWithLogitsLoss.  binary_cross_entropy_with_logits and BCEWithLogits are\n"
    "safe to autocast.")

_Tensor = None
_is_grad_enabled = None


def _bind():
    """fibril.Tensor and is_grad_enabled, imported on first use: this package loads before them."""
    global _Tensor, _is_grad_enabled
    from ..autograd import is_grad_enabled
    from ..tensor import Tensor
    _Tensor, _is_grad_enabled = Tensor, is_grad_enabled


def _device_type(t):
    device = t.device
    return device if device == "cpu" else device.split(":", 1)[0]


def _cached_cast(t, dtype):
    """t.to(dtype), reused within the autocast region for a float32 parameter."""
    if not (state.cache_enabled and t.dtype == _C.float32 and t.requires_grad and t.is_leaf
            and t._base is None and _is_grad_enabled()):
        return t.to(dtype)
    cache = state.cache
    if cache is None:
        cache = state.cache = {}
    key = (id(t), dtype)
    hit = cache.get(key)
    if hit is not None and hit[0] is t:
        return hit[1]
    cast = t.to(dtype)
    cache[key] = (t, cast)  # holding t keeps its id from being reused while the entry lives
    return cast


def autocast_inputs(kind, *tensors):
    """The tensors, each cast as `kind` asks on its device when autocast is on there (a tuple of
    the same length; unchanged when autocast is off)."""
    if not state.on:
        return tensors
    if _Tensor is None:
        _bind()
    cpu_target, cuda_target = _TARGETS[kind]
    targets = {
        "cpu": (state.cpu_dtype if cpu_target is _LOW else cpu_target) if state.cpu else None,
        "cuda": (state.cuda_dtype if cuda_target is _LOW else cuda_target) if state.cuda else None,
    }
    if _PROMOTE in targets.values():
        targets = _promotions(targets, tensors)
    out = []
    for t in tensors:
        if isinstance(t, _Tensor) and t.dtype in _CASTABLE:
            target = targets.get(_device_type(t))
            if target is _BANNED:
                raise RuntimeError(_BCE_MESSAGE)
            if target is not None and t.dtype != target:
                t = _cached_cast(t, target) if target is not _C.float32 else t.to(target)
        out.append(t)
    return tuple(out)


def _promotions(targets, tensors):
    """targets with each device's _PROMOTE replaced by its inputs' widest floating dtype (mixed
    float16, bfloat16 and float32 promote to float32) or None where they agree."""
    targets = dict(targets)
    for device, target in targets.items():
        if target is _PROMOTE:
            dtypes = {t.dtype for t in tensors
                      if isinstance(t, _Tensor) and t.dtype in _CASTABLE and _device_type(t) == device}
            targets[device] = _C.float32 if len(dtypes) > 1 else None
    return targets


class _AutocastOff:
    """Autocast off for every device type in this thread, restored on exit (as torch's
    autocast(enabled=False) around a kernel)."""

    __slots__ = ("saved",)

    def __enter__(self):
        self.saved = (state.cpu, state.cuda)
        set_autocast_enabled("cpu", False)
        set_autocast_enabled("cuda", False)

    def __exit__(self, *exc):
        cpu, cuda = self.saved
        set_autocast_enabled("cpu", cpu)
        set_autocast_enabled("cuda", cuda)
        return False


def _cast_value(kind, value):
    if isinstance(value, (list, tuple)) and not isinstance(value, _Tensor):
        return type(value)(autocast_inputs(kind, *value)) if type(value) in (list, tuple) else value
    return autocast_inputs(kind, value)[0]


def autocast_op(kind):
    """Decorator for an op composed of other fibril ops: under autocast its tensor arguments
    (positional, keyword, and inside plain lists and tuples) are cast as `kind` asks, and its
    body runs with autocast off so that what it calls (fibril.matmul, ...) keeps that dtype. With
    autocast off it costs the call and one attribute read."""

    def decorate(fn):
        @functools.wraps(fn)
        def autocast_wrapper(*args, **kwargs):
            if not (active.on and state.on):
                return fn(*args, **kwargs)
            if _Tensor is None:
                _bind()
            if _TARGETS[kind][1] is _PROMOTE:  # the widest dtype among all the arguments
                cast = autocast_inputs(kind, *args, *kwargs.values())
                args, kwargs = cast[:len(args)], dict(zip(kwargs, cast[len(args):]))
            else:
                args = tuple(_cast_value(kind, a) for a in args)
                kwargs = {k: _cast_value(kind, v) for k, v in kwargs.items()}
            with _AutocastOff():
                return fn(*args, **kwargs)

        return autocast_wrapper

    return decorate
