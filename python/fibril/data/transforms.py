"""Sample transforms for augmentation, torchvision-style callables on one sample (a tensor;
images (..., H, W), signals (..., L)).

Random transforms draw from `generator` when given, else from the Generator of the epoch
a DataLoader is fetching (so a seeded loader replays the same augmentations), else from
fibril's default generator.
"""

import numbers

from ..creation import as_tensor
from ..ops.join import pad, roll
from ..random import default_generator, rand, randint, randn
from ..tensor import Tensor
from .dataloader import worker_generator


def _generator(generator):
    if generator is not None:
        return generator
    return worker_generator() or default_generator


def _check_tensor(name, x, min_dims):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} expects a fibril Tensor, got {type(x).__name__}")
    if x.ndim < min_dims:
        raise ValueError(f"{name} expects a tensor with at least {min_dims} dimensions, got shape {tuple(x.shape)}")


class Compose:
    """Applies the transforms in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for transform in self.transforms:
            x = transform(x)
        return x

    def __repr__(self):
        inner = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"Compose({inner}\n)"


class Normalize:
    """(x - mean[c]) / std[c] for each channel c of a (C, ...) tensor (numbers apply to all)."""

    def __init__(self, mean, std):
        std_values = [std] if isinstance(std, numbers.Real) else list(std)
        if any(s == 0 for s in std_values):
            raise ValueError(f"Normalize: std evaluated to zero in {std}, leading to division by zero")
        self.mean, self.std = mean, std

    def __call__(self, x):
        _check_tensor("Normalize", x, 1)
        mean, std = self.mean, self.std
        if not isinstance(mean, numbers.Real) or not isinstance(std, numbers.Real):
            tail = (1,) * (x.ndim - 1)
            mean = as_tensor([mean] if isinstance(mean, numbers.Real) else list(mean), dtype=x.dtype).reshape(-1, *tail)
            std = as_tensor([std] if isinstance(std, numbers.Real) else list(std), dtype=x.dtype).reshape(-1, *tail)
        return (x - mean) / std

    def __repr__(self):
        return f"Normalize(mean={self.mean}, std={self.std})"


class RandomCrop:
    """A random size[0] x size[1] window of the last two dimensions, after zero (or `fill`)
    padding of `padding` on every side."""

    def __init__(self, size, padding=0, fill=0.0, generator=None):
        self.size = (size, size) if isinstance(size, numbers.Integral) else tuple(size)
        self.padding, self.fill, self.generator = int(padding), fill, generator

    def __call__(self, x):
        _check_tensor("RandomCrop", x, 2)
        if self.padding:
            p = self.padding
            x = pad(x, (p, p, p, p), value=self.fill)
        height, width = x.shape[-2:]
        th, tw = self.size
        if th > height or tw > width:
            raise ValueError(f"RandomCrop: crop size {self.size} is larger than the (padded) input {(height, width)}")
        offsets = randint(0, 1 << 30, (2,), generator=_generator(self.generator)).tolist()
        top, left = offsets[0] % (height - th + 1), offsets[1] % (width - tw + 1)
        return x[..., top:top + th, left:left + tw]

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Reverses the last dimension with probability p."""

    def __init__(self, p=0.5, generator=None):
        self.p, self.generator = float(p), generator

    def __call__(self, x):
        _check_tensor("RandomHorizontalFlip", x, 1)
        if rand(1, generator=_generator(self.generator)).item() < self.p:
            return x.flip([-1])
        return x

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class RandomNoise:
    """Adds Gaussian noise of standard deviation std (mean `mean`)."""

    def __init__(self, std=0.1, mean=0.0, generator=None):
        if std < 0:
            raise ValueError(f"RandomNoise: std must be >= 0, got {std}")
        self.std, self.mean, self.generator = float(std), float(mean), generator

    def __call__(self, x):
        _check_tensor("RandomNoise", x, 0)
        noise = randn(x.shape, dtype=x.dtype, generator=_generator(self.generator))
        return x + (noise * self.std + self.mean)

    def __repr__(self):
        return f"RandomNoise(std={self.std}, mean={self.mean})"


class RandomShift:
    """Shifts a 1-D signal (the last dimension) by a random whole number of steps in
    [-max_shift, max_shift]: `mode="zeros"` fills the vacated steps with zeros, "wrap" rolls."""

    def __init__(self, max_shift, mode="zeros", generator=None):
        if mode not in ("zeros", "wrap"):
            raise ValueError(f"RandomShift: mode must be 'zeros' or 'wrap', got {mode!r}")
        if max_shift < 0:
            raise ValueError(f"RandomShift: max_shift must be >= 0, got {max_shift}")
        self.max_shift, self.mode, self.generator = int(max_shift), mode, generator

    def __call__(self, x):
        _check_tensor("RandomShift", x, 1)
        shift = int(randint(-self.max_shift, self.max_shift + 1, (1,), generator=_generator(self.generator)).item())
        if self.mode == "wrap" or shift == 0:
            return roll(x, shift, -1)
        length = x.shape[-1]
        if abs(shift) >= length:
            return x * 0
        if shift > 0:
            return pad(x[..., :length - shift], (shift, 0))
        return pad(x[..., -shift:], (0, -shift))

    def __repr__(self):
        return f"RandomShift(max_shift={self.max_shift}, mode={self.mode!r})"
