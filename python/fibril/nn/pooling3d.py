"""3-D pooling modules with torch.nn's names, arguments and repr: MaxPool3d, AvgPool3d,
AdaptiveAvgPool3d, AdaptiveMaxPool3d, LPPool3d and FractionalMaxPool3d."""

from ..ops import fractional_pool as FP
from ..ops import pool3d as P
from .functional import lp_pool3d
from .pooling import _AdaptiveMaxPool, _AdaptivePool, _AvgPoolNd, _FractionalMaxPoolNd, _LPPool, _MaxPoolNd


class MaxPool3d(_MaxPoolNd):
    def forward(self, input):
        return P.max_pool3d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)


class AvgPool3d(_AvgPoolNd):
    pool = staticmethod(P.avg_pool3d)


class AdaptiveAvgPool3d(_AdaptivePool):
    def forward(self, input):
        return P.adaptive_avg_pool3d(input, self.output_size)


class AdaptiveMaxPool3d(_AdaptiveMaxPool):
    def forward(self, input):
        return P.adaptive_max_pool3d(input, self.output_size, self.return_indices)


class LPPool3d(_LPPool):
    def forward(self, input):
        return lp_pool3d(input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode)


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    _dims = 3
    pool = staticmethod(FP.fractional_max_pool3d)

    def __init__(self, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                 _random_samples=None):
        if any(k <= 0 for k in ((kernel_size,) if isinstance(kernel_size, int) else kernel_size)):
            raise ValueError(f"kernel_size must be greater than 0, but got {kernel_size}")
        super().__init__(kernel_size, output_size, output_ratio, return_indices, _random_samples)
