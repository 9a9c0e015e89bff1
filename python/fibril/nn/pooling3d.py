"""3-D pooling modules with torch.nn's names, arguments and repr: MaxPool3d, AvgPool3d,
AdaptiveAvgPool3d and AdaptiveMaxPool3d."""

from ..ops import pool3d as P
from .pooling import _AdaptiveMaxPool, _AdaptivePool, _AvgPoolNd, _MaxPoolNd


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
