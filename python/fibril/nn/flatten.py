"""Flatten and Unflatten: reshaping modules (views where the layout allows)."""

import numbers

from ..ops.index import flatten, unflatten
from .module import Module


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    def __init__(self, dim, unflattened_size):
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)) or \
                not all(isinstance(size, numbers.Integral) for size in unflattened_size):
            raise TypeError(f"unflattened_size must be a tuple or list of ints, got {unflattened_size!r}")
        self.dim, self.unflattened_size = dim, unflattened_size  # kept as given: repr shows it so, as torch's

    def forward(self, x):
        return unflatten(x, self.dim, tuple(self.unflattened_size))

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
