"""Conv1d, Conv2d, ConvTranspose1d and ConvTranspose2d with torch.nn's parameters,
initialization (kaiming_uniform_ with a = sqrt(5), bias uniform in ±1/sqrt(fan_in)),
padding modes and repr, so state dicts port both ways."""

import math
import numbers

from .. import creation
from ..ops import conv as C
from ..ops.join import pad
from . import init
from .module import Module
from .parameter import Parameter

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _tuple(value, n):
    return (int(value),) * n if isinstance(value, numbers.Integral) else tuple(int(v) for v in value)


class _ConvNd(Module):
    _dims = 0
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                 padding_mode, output_padding=0, device=None, dtype=None):
        super().__init__()
        n, name = self._dims, type(self).__name__
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                             f"divisible by groups ({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got '{padding_mode}'")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be 'same', 'valid', an int or a tuple, got '{padding}'")
            if padding == "same" and any(s != 1 for s in _tuple(stride, n)):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _tuple(kernel_size, n)
        self.stride = _tuple(stride, n)
        self.padding = padding if isinstance(padding, str) else _tuple(padding, n)
        self.dilation = _tuple(dilation, n)
        self.output_padding = _tuple(output_padding, n)
        self.groups, self.padding_mode = groups, padding_mode
        shape = ((in_channels, out_channels // groups) if self._transposed
                 else (out_channels, in_channels // groups)) + self.kernel_size
        self.weight = Parameter(creation.empty(*shape, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(creation.empty(out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._dims:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._dims:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device=device, dtype=dtype)

    def _pad_input(self, x):
        """Non-zero padding modes pad explicitly (torch's order: last dim first), then convolve unpadded."""
        if isinstance(self.padding, str):
            total = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)] \
                if self.padding == "same" else [0] * self._dims
            widths = [w for t in reversed(total) for w in (t // 2, t - t // 2)]
        else:
            widths = [w for p in reversed(self.padding) for w in (p, p)]
        return pad(x, widths, mode=self.padding_mode)

    def forward(self, x):
        conv = C.conv1d if self._dims == 1 else C.conv2d
        if self.padding_mode != "zeros":
            return conv(self._pad_input(x), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv1d(_Conv):
    _dims = 1


class Conv2d(_Conv):
    _dims = 2


class _ConvTranspose(_ConvNd):
    _transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple, got '{padding}'")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, output_padding, device=device, dtype=dtype)

    def _output_padding(self, x, output_size):
        """The output_padding that gives output_size, as torch's forward(input, output_size):
        output_size holds the spatial sizes, optionally after the batch and channel sizes."""
        if output_size is None:
            return self.output_padding
        n, name = self._dims, type(self).__name__
        leading = x.ndim - n
        wanted = [int(v) for v in output_size]
        if len(wanted) == leading + n:
            wanted = wanted[leading:]
        if len(wanted) != n:
            raise ValueError(f"{name}: for {x.ndim}D input, output_size must have {n} or {leading + n} elements "
                             f"(got {len(wanted)})")
        smallest = [C.transposed_output_size(x.shape[leading + d], self.kernel_size[d], self.stride[d],
                                             self.padding[d], 0, self.dilation[d]) for d in range(n)]
        largest = [size + stride - 1 for size, stride in zip(smallest, self.stride)]
        if any(not lo <= size <= hi for size, lo, hi in zip(wanted, smallest, largest)):
            raise ValueError(f"{name}: requested an output size of {wanted}, but valid sizes range from {smallest} "
                             f"to {largest} (for an input of {list(x.shape[leading:])})")
        return tuple(size - lo for size, lo in zip(wanted, smallest))

    def forward(self, x, output_size=None):
        conv_t = C.conv_transpose1d if self._dims == 1 else C.conv_transpose2d
        return conv_t(x, self.weight, self.bias, self.stride, self.padding, self._output_padding(x, output_size),
                      self.groups, self.dilation)


class ConvTranspose1d(_ConvTranspose):
    _dims = 1


class ConvTranspose2d(_ConvTranspose):
    _dims = 2
