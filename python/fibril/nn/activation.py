"""Activation modules over fibril.nn.functional, with torch.nn's names, arguments and repr.
inplace=True writes the result into the input (as torch, refused for a leaf that requires
grad)."""

from .. import creation
from . import functional as F
from ..ops import activation as A
from ..ops import softmax as S
from ..ops.index import inplace_result
from .module import Module
from .parameter import Parameter


class _Activation(Module):
    """fn(x, **options). The arguments are `options` (name, default) in torch's order, then
    inplace where torch's module takes it; repr shows the options and inplace=True."""

    _fn = None
    _options = ()
    _takes_inplace = True
    _repr_inplace = True  # torch's Hardsigmoid and Hardswish leave inplace out of their repr

    def __init__(self, *args, **kwargs):
        super().__init__()
        name = type(self).__name__
        names = [option for option, _ in self._options] + (["inplace"] if self._takes_inplace else [])
        if len(args) > len(names):
            raise TypeError(f"{name} takes at most {len(names)} positional arguments ({len(args)} given)")
        values = dict(self._options, inplace=False)
        values.update(zip(names, args))
        for key, value in kwargs.items():
            if key not in names:
                raise TypeError(f"{name} got an unexpected keyword argument '{key}'")
            if key in names[:len(args)]:
                raise TypeError(f"{name} got multiple values for argument '{key}'")
            values[key] = value
        if not isinstance(values["inplace"], bool):  # e.g. an option given twice, positionally
            raise TypeError(f"{name}: inplace must be a bool, got {values['inplace']!r}")
        for key, value in values.items():
            setattr(self, key, value)

    def forward(self, x):
        options = {name: getattr(self, name) for name, _ in self._options}
        fn = type(self)._fn
        return inplace_result(x, lambda t: fn(t, **options)) if self.inplace else fn(x, **options)

    def extra_repr(self):
        parts = [f"{name}={getattr(self, name)!r}" for name, _ in self._options]
        if self.inplace and self._repr_inplace:
            parts.append("inplace=True")
        return ", ".join(parts)


def _activation(name, fn, options=(), takes_inplace=True, repr_inplace=True):
    return type(name, (_Activation,), {"_fn": staticmethod(fn), "_options": options, "_takes_inplace": takes_inplace,
                                       "_repr_inplace": repr_inplace, "__doc__": f"torch.nn.{name}"})


ReLU = _activation("ReLU", A.relu)
ReLU6 = _activation("ReLU6", A.relu6)
LeakyReLU = _activation("LeakyReLU", A.leaky_relu, (("negative_slope", 0.01),))
ELU = _activation("ELU", A.elu, (("alpha", 1.0),))
SELU = _activation("SELU", A.selu)
CELU = _activation("CELU", A.celu, (("alpha", 1.0),))
GELU = _activation("GELU", A.gelu, (("approximate", "none"),), takes_inplace=False)
SiLU = _activation("SiLU", A.silu)
Mish = _activation("Mish", A.mish)
Sigmoid = _activation("Sigmoid", A.sigmoid, takes_inplace=False)
Tanh = _activation("Tanh", A.tanh, takes_inplace=False)
Softplus = _activation("Softplus", A.softplus, (("beta", 1.0), ("threshold", 20.0)), takes_inplace=False)
Softsign = _activation("Softsign", A.softsign, takes_inplace=False)
Hardtanh = _activation("Hardtanh", A.hardtanh, (("min_val", -1.0), ("max_val", 1.0)))
Hardsigmoid = _activation("Hardsigmoid", A.hardsigmoid, repr_inplace=False)
Hardswish = _activation("Hardswish", A.hardswish, repr_inplace=False)


class PReLU(Module):
    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.weight = Parameter(creation.full((num_parameters,), init, device=device, dtype=dtype))

    def forward(self, x):
        return A.prelu(x, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class Softmax(Module):
    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return S.softmax(x, self.dim if self.dim is not None else (0 if x.ndim in (0, 1, 3) else 1))

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmax2d(Module):
    """Softmax over the channels of (N, C, H, W) or (C, H, W)."""

    def forward(self, input):
        if input.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got {input.ndim}D instead")
        return S.softmax(input, -3)


class LogSoftmax(Softmax):
    def forward(self, x):
        return S.log_softmax(x, self.dim if self.dim is not None else (0 if x.ndim in (0, 1, 3) else 1))


LogSigmoid = _activation("LogSigmoid", F.logsigmoid, takes_inplace=False)
Tanhshrink = _activation("Tanhshrink", F.tanhshrink, takes_inplace=False)


class RReLU(_Activation):
    _options = (("lower", 1.0 / 8), ("upper", 1.0 / 3))

    def forward(self, x):
        return F.rrelu(x, self.lower, self.upper, self.training, self.inplace)


class Threshold(_Activation):
    _fn = staticmethod(F.threshold)
    _options = (("threshold", None), ("value", None))

    def __init__(self, threshold, value, inplace=False):
        super().__init__(threshold, value, inplace=inplace)


class Hardshrink(Module):
    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, x):
        return F.hardshrink(x, self.lambd)

    def extra_repr(self):
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    def forward(self, x):
        return F.softshrink(x, self.lambd)


class Softmin(Softmax):
    def forward(self, x):
        return F.softmin(x, self.dim)


class GLU(Module):
    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.glu(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"
