"""torch.nn.functional's names and signatures over fibril's ops (import as F)."""

import warnings

from ..ops.activation import (
    celu, elu, gelu, hardsigmoid, hardswish, hardtanh, leaky_relu, mish, prelu, relu, relu6, selu, sigmoid, silu,
    softplus, softsign, tanh,
)
from ..ops.attention import scaled_dot_product_attention
from ..ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d
from ..ops.conv3d import conv3d, conv_transpose3d
from ..ops.ctc import ctc_loss
from ..ops.join import pad
from ..ops.matmul import linear
from ..ops.norm import batch_norm, group_norm, layer_norm, rms_norm
from ..ops.pool import (
    adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_max_pool1d, adaptive_max_pool2d, avg_pool1d, avg_pool2d,
    max_pool1d, max_pool2d,
)
from ..ops.gather import one_hot
from ..ops.im2col import fold, unfold
from ..ops.pool3d import adaptive_avg_pool3d, adaptive_max_pool3d, avg_pool3d, max_pool3d
from ..ops.unpool import max_unpool1d, max_unpool2d, max_unpool3d
from ..ops.random import (
    alpha_dropout, dropout, dropout1d, dropout2d, dropout3d, feature_alpha_dropout,
)
from ..ops.sampling import affine_grid, grid_sample
from ..ops.resize import (
    interpolate, pixel_shuffle, pixel_unshuffle, upsample, upsample_bilinear, upsample_nearest,
)
from ..ops.softmax import (
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, hinge_embedding_loss, huber_loss,
    kl_div, l1_loss, margin_ranking_loss, mse_loss, multi_margin_loss, nll_loss, smooth_l1_loss,
)
from ..ops.softmax import log_softmax as _log_softmax, softmax as _softmax
from ..ops.softmax import (
    cosine_embedding_loss, gaussian_nll_loss, multilabel_margin_loss, multilabel_soft_margin_loss, poisson_nll_loss,
    soft_margin_loss, triplet_margin_loss, triplet_margin_with_distance_loss,
)
from .linear import bilinear
from .normalization import instance_norm
from .sparse import embedding, embedding_bag
from .. import creation as _creation
from ..ops import elementwise as _ew
from ..ops.index import broadcast_tensors as _broadcast_tensors, inplace_result as _inplace_result
from ..ops.join import chunk as _chunk
from ..ops.reduce import norm as _norm, sum as _sum
from ..random import exponential_ as _exponential_, rand_like as _rand_like
from ..creation import zeros_like as _zeros_like
from ..ops.gather import scatter as _scatter

__all__ = [
    "celu", "elu", "gelu", "hardsigmoid", "hardswish", "hardtanh", "leaky_relu", "mish", "prelu", "relu", "relu6",
    "selu", "sigmoid", "silu", "softplus", "softsign", "tanh",
    "batch_norm", "group_norm", "layer_norm", "rms_norm",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "ctc_loss", "hinge_embedding_loss",
    "huber_loss", "kl_div", "l1_loss", "bilinear", "linear", "log_softmax", "margin_ranking_loss", "mse_loss",
    "multi_margin_loss", "nll_loss", "smooth_l1_loss", "softmax",
    "conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "conv3d", "conv_transpose3d", "pad",
    "adaptive_avg_pool3d", "adaptive_max_pool3d", "avg_pool3d", "max_pool3d", "max_unpool1d", "max_unpool2d",
    "max_unpool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d", "avg_pool1d",
    "avg_pool2d", "max_pool1d", "max_pool2d", "embedding", "embedding_bag", "instance_norm",
    "scaled_dot_product_attention", "dropout",
    "one_hot", "interpolate", "pixel_shuffle", "pixel_unshuffle", "upsample", "upsample_bilinear", "upsample_nearest",
    "logsigmoid", "softmin", "glu", "hardshrink", "softshrink", "tanhshrink", "threshold", "rrelu",
    "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout", "normalize", "cosine_similarity", "pairwise_distance",
    "cosine_embedding_loss", "gaussian_nll_loss", "multilabel_margin_loss", "multilabel_soft_margin_loss",
    "poisson_nll_loss", "soft_margin_loss", "triplet_margin_loss", "triplet_margin_with_distance_loss",
    "gumbel_softmax", "fold", "unfold", "affine_grid", "grid_sample", "lp_pool1d", "lp_pool2d", "local_response_norm",
]


# ------------------------------------------------------------------------------ activations
def _softmax_dim(name, ndim, dim, stacklevel):
    """dim, or torch's deprecated implicit choice when it is None (with its warning)."""
    if dim is not None:
        return dim
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as "
                  "an argument.", UserWarning, stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _softmax(input, _softmax_dim("softmax", input.ndim, dim, _stacklevel), dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _log_softmax(input, _softmax_dim("log_softmax", input.ndim, dim, _stacklevel), dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    return _softmax(-input, _softmax_dim("softmin", input.ndim, dim, _stacklevel), dtype)


def logsigmoid(input):
    return -softplus(-input)


def glu(input, dim=-1):
    """First half of `dim` gated by the sigmoid of the second half."""
    if input.ndim == 0 or input.shape[dim] % 2:
        raise ValueError(f"glu: dimension {dim} of input shape {list(input.shape)} must have an even size")
    a, b = _chunk(input, 2, dim)
    return a * sigmoid(b)


def hardshrink(input, lambd=0.5):
    return _ew.where(input.abs() <= lambd, 0.0, input)  # NaN fails the test: kept, as torch


def softshrink(input, lambd=0.5):
    if lambd < 0:
        raise ValueError(f"softshrink: lambd must be greater or equal to 0, got {lambd}")
    return input - input.clamp(-lambd, lambd)


def tanhshrink(input):
    return input - tanh(input)


def _result(input, fn, inplace):
    """fn(input), or with inplace written into input (torch's inplace=True)."""
    return _inplace_result(input, fn) if inplace else fn(input)


def threshold(input, threshold, value, inplace=False):
    # NaN fails the test: kept, as torch
    return _result(input, lambda x: _ew.where(x <= threshold, value, x), inplace)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Leaky ReLU whose negative slope is drawn from U(lower, upper) per element in training,
    and is (lower + upper) / 2 otherwise."""
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace=inplace)

    def drawn(x):
        slope = _rand_like(x) * (upper - lower) + lower
        return _ew.where(x >= 0, x, x * slope)

    return _result(input, drawn, inplace)


# ------------------------------------------------------------------------------ lp pooling, local response norm
def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum of x^p over each window)^(1/p), as torch's (windows past the end under ceil_mode
    count their missing elements as zeros)."""
    (k,) = (kernel_size,) if isinstance(kernel_size, int) else tuple(kernel_size)
    total = avg_pool1d(input ** norm_type, k, stride, 0, ceil_mode) * k
    return total ** (1.0 / norm_type)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    total = avg_pool2d(input ** norm_type, (kh, kw), stride, 0, ceil_mode) * (kh * kw)
    return total ** (1.0 / norm_type)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """input / (k + alpha * mean of input^2 over `size` neighbouring channels)^beta, the
    window centred on the channel (size // 2 before it), zeros past the ends, as torch's."""
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: expected an input with 3 or more dims (N, C, ...), got shape "
                         f"{tuple(input.shape)}")
    if input.numel() == 0:
        return input
    squares = (input * input).movedim(1, -1)  # channels last: pad and slide along them
    windows = pad(squares, (size // 2, (size - 1) // 2)).unfold(-1, size, 1)
    scale = (windows.mean(-1) * alpha + k) ** beta
    return input / scale.movedim(-1, 1)


# ------------------------------------------------------------------------------ distances
def normalize(input, p=2.0, dim=1, eps=1e-12):
    """input / max(||input||_p along dim, eps)."""
    return input / _norm(input, p, dim, True).clamp_min(eps)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 / ||x1|| * x2 / ||x2||) along dim, after broadcasting. As ATen, each norm is
    clamped to eps outside autograd: the gradient flows through the unclamped norm."""
    def unit(x):
        n = _norm(x, 2, dim, True)
        return x / (n + (n.clamp_min(eps) - n).detach())

    x1, x2 = _broadcast_tensors(x1, x2)
    return _sum(unit(x1) * unit(x2), dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p along the last dim of the broadcast inputs."""
    dim = max(x1.ndim, x2.ndim) - 1
    if dim < 0:
        raise ValueError("pairwise_distance: expected at least one dim in x1 or x2, both are 0-d")
    return _norm(x1 - x2 + eps, p, dim, keepdim)


# ------------------------------------------------------------------------------ sampling
def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """softmax((logits + g) / tau) with g ~ Gumbel(0, 1); hard: the one-hot argmax forward and
    the soft sample's gradient (straight-through). eps is unused, as in torch."""
    gumbels = -_exponential_(_creation.empty_like(logits.detach())).log()
    y_soft = softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y_soft
    y_hard = _scatter(_zeros_like(y_soft.detach()), dim, y_soft.detach().argmax(dim, keepdim=True), 1.0)
    return y_hard - y_soft.detach() + y_soft
