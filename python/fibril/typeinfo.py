"""finfo and iinfo: the numerical limits of fibril's dtypes, as torch.finfo / torch.iinfo."""

import numpy as np

from . import _C

# bfloat16 (numpy has none): 8 exponent bits as float32, 8 significand bits (7 stored).
_BFLOAT16 = dict(bits=16, eps=2.0 ** -7, max=3.3895313892515355e38, min=-3.3895313892515355e38,
                 tiny=2.0 ** -126, smallest_normal=2.0 ** -126, resolution=0.01)


class finfo:
    """Limits of a floating-point dtype: bits, eps, max, min, tiny (= smallest_normal), resolution."""

    def __init__(self, dtype=None):
        dtype = _C.float32 if dtype is None else dtype
        if not isinstance(dtype, _C.DType) or not dtype.is_floating_point:
            raise TypeError(f"finfo needs a floating-point fibril dtype, got {dtype!r}")
        self.dtype = dtype
        if dtype == _C.bfloat16:
            values = _BFLOAT16
        else:
            info = np.finfo(np.dtype(dtype.name))
            values = dict(bits=info.bits, eps=float(info.eps), max=float(info.max), min=float(info.min),
                          tiny=float(info.tiny), smallest_normal=float(info.smallest_normal),
                          resolution=float(info.resolution))
        for name, value in values.items():
            setattr(self, name, value)

    def __repr__(self):
        return (f"finfo(resolution={self.resolution}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
                f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype.name})")


class iinfo:
    """Limits of an integer dtype: bits, min, max."""

    def __init__(self, dtype):
        if not isinstance(dtype, _C.DType) or dtype.is_floating_point or dtype == _C.bool:
            raise TypeError(f"iinfo needs an integer fibril dtype, got {dtype!r}")
        self.dtype = dtype
        info = np.iinfo(np.dtype(dtype.name))
        self.bits, self.min, self.max = info.bits, int(info.min), int(info.max)

    def __repr__(self):
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype.name})"


def promote_types(type1, type2):
    """The dtype that torch's type promotion gives two tensors of these dtypes."""
    return _C.result_type(_C.Array.empty((0,), type1), _C.Array.empty((0,), type2))


def can_cast(from_, to):
    """Whether torch's type promotion lets a value of dtype from_ be cast to to (in-place ops,
    out=): not a float into an integer or bool, nor an integer into bool."""
    if from_.is_floating_point and not to.is_floating_point:
        return False
    return from_ == _C.bool or to != _C.bool
