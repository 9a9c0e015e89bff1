"""Random numbers on Philox4x32-10: Generator, manual_seed, and the sampling functions.

A Generator is a 64-bit seed plus an offset counted in Philox blocks of four numbers. Every
op takes (seed, offset) from its generator and advances the offset by the blocks it used
(ceil(elements / 4)), so successive calls draw fresh numbers and re-seeding replays them.
The numbers depend only on (seed, offset, element index): the same for any thread count,
ISA build or (later) device. The default generator starts from PyTorch's default seed,
67280421310721, so a fresh process is reproducible without a manual_seed.
"""

import math
import numbers
import os
import struct

import numpy as np

from . import _C
from .autograd.grad_mode import no_grad
from .creation import _dtype, _size, empty, tensor
from .tensor import Tensor
from .ops.index import write_inplace

DEFAULT_SEED = 67280421310721
_STATE_FORMAT = "<QQ"  # seed, offset: the 16 bytes of get_state()


class Generator:
    """A Philox stream: seed and block offset. torch.Generator's methods."""

    def __init__(self, device="cpu"):
        self.device = str(device)
        self._seed = DEFAULT_SEED
        self._offset = 0

    def manual_seed(self, seed):
        """Seeds and rewinds; any int in [-2^63, 2^64) (negatives wrap, as torch). Returns self."""
        if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
            raise TypeError(f"manual_seed expected an int, got {type(seed).__name__}")
        seed = int(seed)
        if not -(1 << 63) <= seed < (1 << 64):
            raise RuntimeError(f"Overflow when unpacking long: seed must be in [-2^63, 2^64), got {seed}")
        self._seed, self._offset = seed % (1 << 64), 0
        return self

    def seed(self):
        """Seeds from the OS's entropy and returns the new seed (a run that is not reproducible)."""
        seed = int.from_bytes(os.urandom(8), "little") >> 1
        self.manual_seed(seed)
        return seed

    def initial_seed(self):
        return self._seed

    def get_state(self):
        """The state as a uint8 tensor of 16 bytes (seed, offset; little-endian)."""
        return tensor(list(struct.pack(_STATE_FORMAT, self._seed, self._offset)), dtype=_C.uint8)

    def set_state(self, state):
        """Restores get_state()'s tensor (or its bytes). Returns self."""
        data = bytes(state.tolist()) if isinstance(state, Tensor) else bytes(state)
        if len(data) != struct.calcsize(_STATE_FORMAT):
            raise RuntimeError(f"Generator.set_state expects {struct.calcsize(_STATE_FORMAT)} bytes, got {len(data)}")
        self._seed, self._offset = struct.unpack(_STATE_FORMAT, data)
        return self

    def _next(self, elements):
        """(seed, offset) for an op on `elements` random elements; advances past them."""
        offset = self._offset
        self._offset = (offset + (elements + 3) // 4) % (1 << 64)
        return self._seed, offset

    def __repr__(self):
        return f"<fibril.Generator seed={self._seed} offset={self._offset}>"


default_generator = Generator()


def manual_seed(seed):
    """Seeds the default generator (and rewinds it); returns it."""
    return default_generator.manual_seed(seed)


def seed():
    return default_generator.seed()


def initial_seed():
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(state):
    default_generator.set_state(state)


def _gen(generator):
    return default_generator if generator is None else generator


# ------------------------------------------------------------------------------ in-place fills
# Significand bits of the 16-bit floats. Their uniforms lie on a grid of 2^-bits in [0, 1) (as
# torch's): a float32 draw rounded to 16 bits could round up to 1.
_GRID_BITS = {"float16": 11, "bfloat16": 8}


def uniform_(t, from_=0.0, to=1.0, *, generator=None):
    bits = _GRID_BITS.get(t.dtype.name)
    if bits is None:
        return write_inplace(t, lambda a: _C.uniform_(a, from_, to, *_gen(generator)._next(a.numel())))
    u = uniform_(empty(t.shape, dtype=_C.float32), generator=generator)
    values = (u * 2.0 ** bits).floor() * (2.0 ** -bits * (to - from_)) + from_
    return write_inplace(t, lambda a: a.copy_(values._data))


def normal_(t, mean=0.0, std=1.0, *, generator=None):
    return write_inplace(t, lambda a: _C.normal_(a, mean, std, *_gen(generator)._next(a.numel())))


def bernoulli_(t, p=0.5, *, generator=None):
    prob = p._data if isinstance(p, Tensor) else float(p)
    return write_inplace(t, lambda a: _C.bernoulli_(a, prob, *_gen(generator)._next(a.numel())))


# random_()'s range without bounds: integers a float holds exactly, or the dtype's range.
_RANDOM_LIMITS = {"float16": 1 << 11, "bfloat16": 1 << 8, "float32": 1 << 24, "float64": 1 << 53,
                  "int64": (1 << 63) - 1, "int32": (1 << 31) - 1, "uint8": 255}


def random_(t, from_=None, to=None, *, generator=None):
    """random_() integers in [0, limit] (limit as above; int64: [0, 2^63 - 1)), random_(to)
    in [0, to), random_(from, to) in [from, to)."""
    if t.dtype == _C.bool:
        return bernoulli_(t, 0.5, generator=generator)
    if from_ is None:
        low, high = 0, _RANDOM_LIMITS[t.dtype.name] + (t.dtype != _C.int64)
    else:
        low, high = (0, from_) if to is None else (from_, to)
    return write_inplace(t, lambda a: _C.randint_(a, low, high, *_gen(generator)._next(a.numel())))


def exponential_(t, lambd=1.0, *, generator=None):
    """-ln(1 - u) / lambd with u uniform in [0, 1); 16-bit tensors from a float32 u (a 16-bit one
    would cut the tail off)."""
    if lambd <= 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
    dtype = _C.float32 if t.dtype.name in _GRID_BITS else t.dtype
    values = (-uniform_(empty(t.shape, dtype=dtype), generator=generator)).log1p() / -lambd
    return write_inplace(t, lambda a: a.copy_(values._data))


def _uniform_float64(t, generator):
    return uniform_(empty(t.shape, dtype=_C.float64, device=t.device), generator=generator)


def _write_values(t, values):
    return write_inplace(t, lambda a: a.copy_(values.to(t.dtype)._data))


def geometric_(t, p, *, generator=None):
    """The number of Bernoulli(p) trials up to the first success: 1, 2, ... (inverse transform)."""
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
    survival = (-_uniform_float64(t, generator)).log1p()  # log(1 - u), u in [0, 1)
    return _write_values(t, (survival / math.log1p(-p)).ceil().clamp(min=1))


def cauchy_(t, median=0.0, sigma=1.0, *, generator=None):
    if sigma <= 0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma}")
    u = _uniform_float64(t, generator)
    return _write_values(t, ((u - 0.5) * math.pi).tan() * sigma + median)


def log_normal_(t, mean=1.0, std=2.0, *, generator=None):
    if std <= 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
    z = normal_(empty(t.shape, dtype=_C.float64, device=t.device), mean, std, generator=generator)
    return _write_values(t, z.exp())


def _numpy_sampler(generator, count):
    """A numpy Generator on Philox keyed by this generator's (seed, offset), which it advances
    as if count numbers were drawn: samplers without a kernel stay reproducible under manual_seed."""
    seed_, offset = _gen(generator)._next(count)
    return np.random.Generator(np.random.Philox(key=seed_, counter=offset))


def poisson(input, generator=None):
    """Poisson samples with the rates in input (float, non-negative), in input's dtype."""
    if not input.dtype.is_floating_point:
        raise TypeError(f"poisson: expected a floating-point input, got {input.dtype.name}")
    rates = input.detach().cpu().numpy().astype(np.float64)
    if not (rates >= 0).all():
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
    values = _numpy_sampler(generator, rates.size).poisson(rates)
    return tensor(values, dtype=input.dtype, device=input.device)


def binomial(count, prob, generator=None):
    """Binomial(count, prob) samples elementwise (float tensors of one dtype), in count's dtype."""
    if count.dtype != prob.dtype or not count.dtype.is_floating_point:
        raise TypeError(f"binomial: expected float count and prob of one dtype, got {count.dtype.name} and "
                        f"{prob.dtype.name}")
    n, p = (np.broadcast_arrays(count.detach().cpu().numpy().astype(np.float64),
                                prob.detach().cpu().numpy().astype(np.float64)))
    if not ((n >= 0).all() and (p >= 0).all() and (p <= 1).all()):
        raise RuntimeError("binomial: expected count >= 0 and 0 <= prob <= 1")
    values = _numpy_sampler(generator, n.size).binomial(n.astype(np.int64), p)
    return tensor(values, dtype=count.dtype, device=count.device)


# ------------------------------------------------------------------------------ factories
def _factory(size, dtype, device, requires_grad, fill):
    t = empty(_size(size), dtype=_dtype(dtype) or _C.float32, device=device)
    fill(t)
    return t.requires_grad_(requires_grad) if requires_grad else t


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Uniform in [0, 1)."""
    return _factory(size, dtype, device, requires_grad, lambda t: uniform_(t, generator=generator))


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Standard normal."""
    return _factory(size, dtype, device, requires_grad, lambda t: normal_(t, generator=generator))


def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None, requires_grad=False):
    """Integers in [low, high) (randint(high, size) takes low = 0); int64 unless dtype says."""
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    t = empty(tuple(size), dtype=_dtype(dtype) or _C.int64, device=device)
    random_(t, low, high, generator=generator)
    return t.requires_grad_(requires_grad) if requires_grad else t


def rand_like(t, *, generator=None, dtype=None, device=None, requires_grad=False):
    return rand(t.shape, generator=generator, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def randn_like(t, *, generator=None, dtype=None, device=None, requires_grad=False):
    return randn(t.shape, generator=generator, dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def randint_like(t, low, high=None, *, generator=None, dtype=None, device=None, requires_grad=False):
    if high is None:
        low, high = 0, low
    return randint(low, high, t.shape, generator=generator, dtype=dtype or t.dtype, device=device or t.device,
                   requires_grad=requires_grad)


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None):
    """mean + std * N(0, 1): mean and std numbers (size needed) or tensors (broadcast together)."""
    tensors = [x for x in (mean, std) if isinstance(x, Tensor)]
    if not tensors:
        if size is None:
            raise TypeError("normal() with a number mean and std needs a size")
        t = empty(tuple(size), dtype=_dtype(dtype) or _C.float32, device=device)
        return normal_(t, mean, std, generator=generator)
    if isinstance(std, numbers.Real) and std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    if isinstance(std, Tensor) and bool((std < 0).any()):
        raise RuntimeError("normal expects all elements of std >= 0.0")
    with no_grad():
        shape = np.broadcast_shapes(*(t.shape for t in tensors))
        z = randn(shape, generator=generator, dtype=tensors[0].dtype)
        return z * std + mean


def bernoulli(input, p=None, *, generator=None):
    """1 with probability input (elementwise), or p when given; input's dtype and shape."""
    out = empty(input.shape, dtype=input.dtype, device=input.device)
    return bernoulli_(out, input if p is None else p, generator=generator)


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """int64 indices sampled from the rows of input (1-D or 2-D, non-negative weights)."""
    elements = _C.multinomial_elements(input._data, num_samples, replacement) if input.ndim in (1, 2) else 0
    seed_, offset = _gen(generator)._next(max(elements, 0))
    return Tensor._wrap(_C.multinomial(input._data, num_samples, replacement, seed_, offset))


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False):
    """A random permutation of 0 .. n-1 (int64 unless dtype says)."""
    seed_, offset = _gen(generator)._next(n if n > 0 else 0)
    t = Tensor._wrap(_C.randperm(n, seed_, offset))
    if dtype is not None or device is not None:
        t = t.to(dtype=_dtype(dtype) or t.dtype, device=device or t.device)
    return t.requires_grad_(requires_grad) if requires_grad else t


def _attach():
    Tensor.uniform_ = uniform_
    Tensor.normal_ = normal_
    Tensor.bernoulli_ = bernoulli_
    Tensor.random_ = random_
    Tensor.exponential_ = exponential_
    Tensor.geometric_ = geometric_
    Tensor.cauchy_ = cauchy_
    Tensor.log_normal_ = log_normal_
    Tensor.bernoulli = bernoulli
    Tensor.multinomial = multinomial


_attach()
