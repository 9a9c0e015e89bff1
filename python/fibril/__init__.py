"""fibril: a deep-learning engine with hand-written C++ (and optional CUDA) kernels."""

import sys

from . import _C
from ._C import (
    Array,
    DType,
    bfloat16,
    bool,
    cpu_isa,
    empty_cache,
    float16,
    float32,
    float64,
    get_flush_denormal,
    get_num_threads,
    int32,
    int64,
    reset_peak_memory_stats,
    set_num_threads,
    uint8,
)
from . import cuda
from .tensor import Size, Tensor
from .creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_dlpack,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    tensor,
    zeros,
    zeros_like,
)
from .ops import index as _index_ops
from .ops.index import flatten, movedim, narrow, permute, reshape, squeeze, transpose, unflatten, unsqueeze
from .ops.elementwise import (
    abs, add, atan2, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, ceil, clamp, clip, cos, div, eq, erf, exp,
    exp2, expm1, floor, floor_divide, ge, gt, isfinite, isinf, isnan, isneginf, isposinf, le, log, log1p, log2,
    logical_and, logical_not, logical_or, logical_xor, lt, maximum, minimum, mul, ne, neg, pow, reciprocal, remainder,
    round, rsqrt, sigmoid, sign, sin, sqrt, sub, tanh, trunc, where,
)
from .ops.elementwise_math import (
    absolute, acos, acosh, addcdiv, addcmul, allclose, arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh,
    asin, asinh, atan, atanh, clamp_max, clamp_min, copysign, cosh, deg2rad, divide, equal, float_power, fmod, frac,
    hypot, isclose, lerp, log10, logaddexp, logaddexp2, multiply, nan_to_num, negative, positive, rad2deg, sgn, sinc,
    sinh, square, subtract, tan, true_divide, xlogy,
)
from .ops.reduce import (
    all, amax, amin, any, argmax, argmin, cumprod, cumsum, logsumexp, max, mean, min, norm, prod, std, sum, var,
)
from . import random
from .random import (
    Generator, bernoulli, default_generator, get_rng_state, initial_seed, manual_seed, multinomial, normal, rand,
    rand_like, randint, randint_like, randn, randn_like, randperm, seed, set_rng_state,
)
from .ops.random import dropout
from .ops.gather import (
    flip, gather, index_add, index_select, masked_fill, masked_select, nonzero, scatter, scatter_add, tril, triu,
)
from .ops.matmul import addmm, bmm, dot, matmul, mm, mv
from .ops.matmul import get_float32_matmul_precision, set_float32_matmul_precision
from .ops.matmul import addbmm, addmv, addr, baddbmm, chain_matmul
from .ops.special import (
    digamma, entr, erfc, erfinv, heaviside, histc, i0, igamma, igammac, kthvalue, lgamma, multigammaln as mvlgamma,
    polygamma, result_type, xlog1py,
)
from .ops.softmax import log_softmax, softmax
from .ops.sort import argsort, msort, sort, topk
from .ops.join import cat, chunk, concat, concatenate, pad, repeat, roll, split, stack, tile, unbind
from .ops.reduce import (
    aminmax, count_nonzero, cummax, cummin, diff, logcumsumexp, median, mode, nanmean, nanmedian, nanquantile, nansum,
    quantile, std_mean, var_mean,
)
from .ops.join import (
    atleast_1d, atleast_2d, atleast_3d, block_diag, cartesian_prod, column_stack, dsplit, dstack, hsplit, hstack,
    meshgrid, repeat_interleave, rot90, row_stack, tensor_split, vsplit, vstack,
)
from .ops.gather import (
    argwhere, bincount, bucketize, masked_scatter, searchsorted, take, take_along_dim, unique, unique_consecutive,
)
from .ops.index import moveaxis, swapaxes, swapdims
from .creation import logspace, tril_indices, triu_indices
from .ops.contract import cdist, cross, diag, diag_embed, diagonal, einsum, ger, inner, kron, outer, tensordot, trace
from .ops.index import broadcast_tensors, broadcast_to, is_tensor, numel
from . import autograd, nn, optim, special, testing
from .linalg.legacy import (  # binds fibril.linalg too
    cholesky, cholesky_inverse, cholesky_solve, det, geqrf, inverse, logdet, lu, lu_solve, lu_unpack, matrix_exp,
    matrix_power, orgqr, pinverse, qr, slogdet, svd, triangular_solve,
)
from .serialization import load, save
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from . import data, distributions, metrics, train
from . import utils
from .func import vmap  # binds fibril.func too
from .autograd.inference_mode import inference_mode, is_inference_mode_enabled
from .typeinfo import can_cast, finfo, iinfo, promote_types
from .creation import get_default_dtype, set_default_dtype
from .ops.index import as_strided, clone, is_floating_point, t
from .ops.join import diagflat
from .ops.elementwise import bitwise_left_shift, bitwise_right_shift, fmax, fmin
from .ops.elementwise_math import dist, fix, logit, renorm, signbit
from .ops.gather import fliplr, flipud, index_copy, index_fill, index_put, put, scatter_reduce
from .creation import asarray, empty_strided, range, scalar_tensor
from .ops.elementwise import ge as greater_equal, gt as greater, le as less_equal, lt as less, ne as not_equal
from .ops.elementwise_math import frexp, gcd, isreal, lcm, ldexp, nextafter, rsub
from .ops.index import (
    adjoint, broadcast_shapes, detach, diagonal_scatter, is_nonzero, is_same_size, is_signed, ravel, select,
    select_scatter, slice_scatter, unravel_index,
)
from .ops.contract import vdot
from .ops.gather import index_reduce, isin
from .ops.statistics import combinations, corrcoef, cov, cumulative_trapezoid, gradient, histogram, trapezoid, trapz
from .ops.windows import bartlett_window, blackman_window, hamming_window, hann_window, kaiser_window
from .random import binomial, poisson
from .ops import storage as _storage  # noqa: F401  (Tensor.resize_, resize_as_, set_)
from .ops.torch_forms import *  # noqa: F403  (torch.layer_norm, torch.kl_div, torch.exp_, ...: see its __all__)
from .runtime import (
    are_deterministic_algorithms_enabled, compile, get_default_device, get_deterministic_debug_mode,
    is_deterministic_algorithms_warn_only_enabled, set_default_device, set_deterministic_debug_mode, typename,
    use_deterministic_algorithms,
)
from .printing import set_printoptions
from . import backends, distributed, jit
from .devices import device
from .memory_formats import (
    channels_last, channels_last_3d, contiguous_format, layout, memory_format, preserve_format, strided,
)
from .runtime import get_num_interop_threads, is_complex, set_num_interop_threads
from .autograd.anomaly_mode import is_anomaly_check_nan_enabled, is_anomaly_enabled, set_anomaly_enabled
from .nn.functional import (
    adaptive_avg_pool1d, alpha_dropout, avg_pool1d, bilinear, celu, channel_shuffle, conv1d, conv2d, conv3d,
    conv_transpose1d, conv_transpose2d, conv_transpose3d, cosine_similarity, feature_alpha_dropout, hardshrink,
    max_pool1d, max_pool2d, max_pool3d, pairwise_distance, pdist, pixel_shuffle, pixel_unshuffle, prelu, relu,
    rms_norm, rrelu, selu, threshold,
)
from . import amp
from .amp import (
    autocast, clear_autocast_cache, get_autocast_cpu_dtype, get_autocast_dtype, get_autocast_gpu_dtype,
    is_autocast_available, is_autocast_cache_enabled, is_autocast_cpu_enabled, is_autocast_enabled,
    set_autocast_cache_enabled, set_autocast_cpu_dtype, set_autocast_cpu_enabled, set_autocast_dtype,
    set_autocast_enabled, set_autocast_gpu_dtype,
)

from .ops.out_arguments import LINALG as _LINALG_OUT, SPECIAL as _SPECIAL_OUT, TOP_LEVEL as _TOP_LEVEL_OUT
from .ops.out_arguments import add_out_arguments as _add_out_arguments

_add_out_arguments([(sys.modules[__name__], _TOP_LEVEL_OUT), (linalg, _LINALG_OUT), (special, _SPECIAL_OUT)])

__version__ = "0.1.0"
dtype = DType
float = float32
double = float64
half = float16
long = int64


def memory_stats():
    """CPU allocator statistics in bytes: allocated, reserved, peak; hits, misses, allocations."""
    return _C.memory_stats()


def set_flush_denormal(mode):
    """Flush denormals to zero in fibril's kernels (the default). Returns True, as PyTorch does."""
    _C.set_flush_denormal(mode)
    return True


def show_config():
    """One line per build and runtime fact: version, CPU ISA, threads, CUDA."""
    cuda_state = "built" if cuda.is_built() else "not built"
    if cuda.is_emulated():
        cuda_state += ", running the CPU emulator (FIBRIL_CUDA_EMULATOR=1)"
    elif cuda.is_built():
        cuda_state += f", {cuda.device_count()} device(s)"
    return "\n".join([
        f"fibril {__version__}",
        f"CPU kernels: {cpu_isa()} (AVX2+FMA supported: {_C.cpu_supports_avx2()}, "
        f"AVX-512: {_C.cpu_supports_avx512()})",
        f"threads: {get_num_threads()}",
        f"CUDA: {cuda_state}",
    ])
