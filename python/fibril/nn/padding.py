"""Modules that change a tensor's spatial size: padding (F.pad's modes over the last one, two
or three dims), upsampling (F.interpolate) and pixel (un)shuffling; and channel shuffling
beside them. With torch.nn's names, arguments and repr."""

from . import functional as F
from .module import Module


class _PadNd(Module):
    """padding: an int for every side, or a tuple (left, right[, top, bottom[, front, back]])."""

    _mode = "constant"
    _dims = 1

    def __init__(self, padding):
        super().__init__()
        sides = 2 * self._dims
        padding = (padding,) * sides if isinstance(padding, int) else tuple(padding)
        if len(padding) != sides:
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple of {sides} ints, "
                             f"got {padding}")
        self.padding = padding

    def forward(self, x):
        if x.ndim not in (self._dims + 1, self._dims + 2):
            raise ValueError(f"{type(self).__name__}: expected {self._dims + 1}-D or {self._dims + 2}-D input, "
                             f"got shape {list(x.shape)}")
        return F.pad(x, self.padding, self._mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, x):
        return F.pad(x, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    _dims = 1


class ConstantPad2d(_ConstantPadNd):
    _dims = 2


class ConstantPad3d(_ConstantPadNd):
    _dims = 3


class ZeroPad1d(ConstantPad1d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


def _pad_module(name, mode, dims):
    return type(name, (_PadNd,), {"_mode": mode, "_dims": dims, "__doc__": f"torch.nn.{name}"})


ReflectionPad1d = _pad_module("ReflectionPad1d", "reflect", 1)
ReflectionPad2d = _pad_module("ReflectionPad2d", "reflect", 2)
ReplicationPad1d = _pad_module("ReplicationPad1d", "replicate", 1)
ReplicationPad2d = _pad_module("ReplicationPad2d", "replicate", 2)
CircularPad1d = _pad_module("CircularPad1d", "circular", 1)
CircularPad2d = _pad_module("CircularPad2d", "circular", 2)
ReflectionPad3d = _pad_module("ReflectionPad3d", "reflect", 3)
ReplicationPad3d = _pad_module("ReplicationPad3d", "replicate", 3)
CircularPad3d = _pad_module("CircularPad3d", "circular", 3)


class Upsample(Module):
    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.size = size
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode, self.align_corners = mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x):
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                             self.recompute_scale_factor)

    def extra_repr(self):
        if self.scale_factor is not None:
            return f"scale_factor={self.scale_factor!r}, mode={self.mode!r}"
        return f"size={self.size!r}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class PixelShuffle(Module):
    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, x):
        return F.pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, x):
        return F.pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"


class ChannelShuffle(Module):
    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, input):
        return F.channel_shuffle(input, self.groups)

    def extra_repr(self):
        return f"groups={self.groups}"
