"""Dropout modules: elementwise (Dropout) and whole-channel (Dropout1d, Dropout2d) zeroing
with probability p in training, the kept values scaled by 1/(1-p); the identity in eval."""

from .. import creation
from ..ops.random import dropout
from ..random import bernoulli_
from .module import Module


class _DropoutNd(Module):
    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    def forward(self, x):
        return dropout(x, self.p, self.training, self.inplace)


class _ChannelDropout(_DropoutNd):
    """Zeroes whole channels: one draw per (batch, channel), broadcast over the rest."""

    _spatial_dims = 1

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        batched = x.ndim == self._spatial_dims + 2
        if x.ndim not in (self._spatial_dims + 1, self._spatial_dims + 2):
            raise ValueError(f"{type(self).__name__}: expected {self._spatial_dims + 1}-D or "
                             f"{self._spatial_dims + 2}-D input, got shape {list(x.shape)}")
        lead = 2 if batched else 1
        mask_shape = tuple(x.shape[:lead]) + (1,) * self._spatial_dims
        if self.p == 1:
            return x * creation.zeros(mask_shape, dtype=x.dtype, device=x.device)
        mask = bernoulli_(creation.empty(mask_shape, dtype=x.dtype, device=x.device), 1 - self.p)
        return x * (mask / (1 - self.p))


class Dropout1d(_ChannelDropout):
    _spatial_dims = 1


class Dropout2d(_ChannelDropout):
    _spatial_dims = 2
