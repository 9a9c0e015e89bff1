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
    "bce"         float32 on CPU; refused on CUDA, as torch (binary_cross_entropy)

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

from .. import _C
from .state import active, state  # noqa: F401  (active: the flag the ops read)

_LOW = "low"  # the device's autocast dtype
_BANNED = "banned"

# kind -> (target on cpu, target on cuda); None leaves that device's tensors alone.
_TARGETS = {
    "lower": (_LOW, _LOW),
    "lower_cuda": (None, _LOW),
    "fp32": (_C.float32, _C.float32),
    "fp32_cuda": (None, _C.float32),
    "bce": (_C.float32, _BANNED),
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
