"""Dropout modules: elementwise (Dropout, AlphaDropout) and whole-channel (Dropout1d/2d/3d,
FeatureAlphaDropout) dropout with probability p in training; the identity in eval."""

from ..ops.random import alpha_dropout, dropout, dropout1d, dropout2d, dropout3d, feature_alpha_dropout
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


class Dropout1d(_DropoutNd):
    """Zeroes whole channels of (N, C, L) or (C, L): one draw per (batch, channel)."""

    def forward(self, x):
        return dropout1d(x, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zeroes whole channels of (N, C, H, W): one draw per (batch, channel). A 3-D input is
    taken as (N, C, L), with torch's warning."""

    def forward(self, x):
        return dropout2d(x, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W): one draw per (batch, channel)."""

    def forward(self, x):
        return dropout3d(x, self.p, self.training, self.inplace)


class AlphaDropout(_DropoutNd):
    """Dropout that keeps a SELU network's mean and variance (see ops.random.alpha_dropout)."""

    def forward(self, x):
        return alpha_dropout(x, self.p, self.training, self.inplace)


class FeatureAlphaDropout(_DropoutNd):
    """AlphaDropout with one draw per (batch, channel) of (N, C, *)."""

    def forward(self, x):
        return feature_alpha_dropout(x, self.p, self.training, self.inplace)
