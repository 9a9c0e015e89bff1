"""3-D pooling modules with torch.nn's names, arguments and repr: MaxPool3d, AvgPool3d,
AdaptiveAvgPool3d and AdaptiveMaxPool3d."""

from ..ops import pool3d as P
from .module import Module
from .pooling import _AdaptiveMaxPool, _AdaptivePool, _MaxPoolNd


class MaxPool3d(_MaxPoolNd):
    def forward(self, input):
        return P.max_pool3d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)


class AvgPool3d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.ceil_mode, self.count_include_pad = padding, ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input):
        return P.avg_pool3d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                            self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool3d(_AdaptivePool):
    def forward(self, input):
        return P.adaptive_avg_pool3d(input, self.output_size)


class AdaptiveMaxPool3d(_AdaptiveMaxPool):
    def forward(self, input):
        return P.adaptive_max_pool3d(input, self.output_size, self.return_indices)
