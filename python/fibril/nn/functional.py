"""torch.nn.functional's names and signatures over fibril's ops (import as F)."""

import math
import warnings

import numpy as np

from ..ops.activation import (
    celu, elu, gelu, hardsigmoid, hardswish, hardtanh, leaky_relu, mish, relu, relu6, selu, sigmoid, silu,
    softplus, softsign, tanh,
)
from ..ops.activation import prelu  # noqa: F401  (in the autocast dtype under autocast, as torch's)
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
from ..ops.fractional_pool import (
    fractional_max_pool2d, fractional_max_pool2d_with_indices, fractional_max_pool3d,
    fractional_max_pool3d_with_indices,
)
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
from ..autograd import Function as _Function
from ..ops import elementwise as _ew
from ..ops import index as _index
from ..ops.gather import index_select as _index_select
from ..ops.index import broadcast_tensors as _broadcast_tensors, inplace_result as _inplace_result
from ..ops.join import cat as _cat, chunk as _chunk
from ..ops.matmul import matmul as _matmul
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
    "relu_", "elu_", "leaky_relu_", "hardtanh_", "selu_", "celu_", "rrelu_", "threshold_",
    "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices", "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices", "adaptive_max_pool3d_with_indices", "lp_pool3d", "fractional_max_pool2d",
    "fractional_max_pool2d_with_indices", "fractional_max_pool3d", "fractional_max_pool3d_with_indices",
    "channel_shuffle", "native_channel_shuffle", "pdist", "multi_head_attention_forward",
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


def _thresholded(x, threshold, value):
    return _ew.where(x <= threshold, value, x)  # NaN fails the test: kept, as torch


def threshold(input, threshold, value, inplace=False):
    return _result(input, lambda x: _thresholded(x, threshold, value), inplace)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Leaky ReLU whose negative slope is drawn from U(lower, upper) per element in training,
    and is (lower + upper) / 2 otherwise."""
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace=inplace)

    def drawn(x):
        slope = _rand_like(x) * (upper - lower) + lower
        return _ew.where(x >= 0, x, x * slope)

    return _result(input, drawn, inplace)


# torch's in-place forms: the result written into input (refused for a leaf that requires grad)
def relu_(input):
    return relu(input, inplace=True)


def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


def selu_(input):
    return selu(input, inplace=True)


def celu_(input, alpha=1.0):
    return celu(input, alpha, inplace=True)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return rrelu(input, lower, upper, training, inplace=True)


def threshold_(input, threshold, value):
    return _result(input, lambda x: _thresholded(x, threshold, value), True)


# ------------------------------------------------------------------------------ pooling with indices
# torch's *_with_indices: (output, indices) whatever return_indices says
def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):
    return adaptive_max_pool2d(input, output_size, True)


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=False):
    return adaptive_max_pool3d(input, output_size, True)


# ------------------------------------------------------------------------------ lp pooling, local response norm
def _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, n, avg_pool, max_pool):
    """(sum of x^p over each window)^(1/p), as torch's: a window past the end under ceil_mode
    is averaged over its elements, then scaled by the full kernel; a zero sum gets a zero
    gradient (relu's); p = inf is the max of |x|, p = -inf its min."""
    if norm_type == math.inf:
        return max_pool(input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    if norm_type == -math.inf:
        return -max_pool(-input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    kernel = (kernel_size,) * n if isinstance(kernel_size, int) else tuple(kernel_size)
    out = avg_pool(input ** norm_type, kernel, stride, 0, ceil_mode)
    return ((_ew.sign(out) * relu(out.abs())) * math.prod(kernel)) ** (1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 1, avg_pool1d, max_pool1d)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 2, avg_pool2d, max_pool2d)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 3, avg_pool3d, max_pool3d)


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


class _PairDistance(_Function):
    """||d||_p of each row d, with torch's _pdist_backward: no gradient for p = 0 or where the
    distance is 0, none to a zero coordinate for p < 1, and for p = inf the whole gradient to
    every coordinate at the maximum."""

    @staticmethod
    def forward(ctx, diffs, p):
        dist = _norm(diffs, p, 1)
        ctx.save_for_backward(diffs, dist)
        ctx.p = p
        return dist

    @staticmethod
    def backward(ctx, g):
        diffs, dist = ctx.saved_tensors
        p = ctx.p
        g, dist = _index.unsqueeze(g, 1), _index.unsqueeze(dist, 1)
        if p == 0:
            return _zeros_like(diffs), None
        if p == 1:
            return g * _ew.sign(diffs), None
        if p == math.inf:
            return g * _ew.sign(diffs) * (diffs.abs() == dist), None
        if p == 2:
            grad = g * diffs / dist
        elif p < 2:
            grad = _ew.sign(diffs) * diffs.abs() ** (p - 1) * g / dist ** (p - 1)
            if p < 1:  # 0^(p - 1) is inf
                grad = _ew.where(diffs == 0, 0.0, grad)
        else:
            grad = diffs * diffs.abs() ** (p - 2) * g / dist ** (p - 1)
        return _ew.where(dist == 0, 0.0, grad), None


def pdist(input, p=2):
    """||x_i - x_j||_p for every pair of rows i < j of the 2-D input, in row-major order of
    the pairs, with torch's gradient."""
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    if not input.is_floating_point():
        raise RuntimeError("pdist only supports floating-point dtypes")
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    rows, cols = np.triu_indices(input.shape[0], 1)
    first = _index_select(input, 0, _creation.tensor(rows, device=input.device))
    second = _index_select(input, 0, _creation.tensor(cols, device=input.device))
    return _PairDistance.apply(first - second, float(p))


# ------------------------------------------------------------------------------ channel shuffle
def channel_shuffle(input, groups):
    """(N, C, *) with its channels read as groups x C/groups and transposed: channel
    i * groups + g of the output is channel g * C/groups + i of the input."""
    if input.ndim <= 2:
        raise RuntimeError(f"channel_shuffle expects input with > 2 dims, but got input with sizes "
                           f"{list(input.shape)}")
    if groups <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of groups:{groups}")
    channels = input.shape[1]
    if channels % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {channels} channels and {groups} "
                           "groups.")
    order = np.arange(channels).reshape(groups, channels // groups).T.reshape(-1)
    return _index_select(input, 1, _creation.tensor(order, device=input.device))  # a new tensor, as torch's


native_channel_shuffle = channel_shuffle


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


# ------------------------------------------------------------------------------ multi-head attention
def _canonical_mask(mask, name, other_dtype, other_name, dtype):
    """A bool mask (True = not allowed) as 0 / -inf of dtype; a float mask as is."""
    if mask is None:
        return None
    if mask.dtype.name != "bool" and not mask.is_floating_point():
        raise AssertionError(f"only bool and floating types of {name} are supported")
    if other_dtype is not None and mask.dtype != other_dtype:
        warnings.warn(f"Support for mismatched {name} and {other_name} is deprecated. Use same type for both "
                      "instead.", stacklevel=2)
    if mask.is_floating_point():
        return mask
    return _creation.zeros(tuple(mask.shape), dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))


def _mha_is_batched(query, key, value, key_padding_mask, attn_mask, num_heads):
    """torch's _mha_shape_check: query 3-D (L, N, E) or 2-D (L, E), the rest to match."""
    if query.ndim not in (2, 3):
        raise AssertionError(f"query should be unbatched 2D or batched 3D tensor but received {query.ndim}-D query "
                             "tensor")
    batched = query.ndim == 3
    kind = "batched (3-D)" if batched else "unbatched (2-D)"
    if key.ndim != query.ndim or value.ndim != query.ndim:
        raise AssertionError(f"For {kind} `query`, expected `key` and `value` to be {query.ndim}-D but found "
                             f"{key.ndim}-D and {value.ndim}-D tensors respectively")
    if key_padding_mask is not None and key_padding_mask.ndim != query.ndim - 1:
        raise AssertionError(f"For {kind} `query`, expected `key_padding_mask` to be `None` or {query.ndim - 1}-D "
                             f"but found {key_padding_mask.ndim}-D tensor instead")
    if attn_mask is not None:
        if attn_mask.ndim not in (2, 3):
            raise AssertionError(f"For {kind} `query`, expected `attn_mask` to be `None`, 2-D or 3-D but found "
                                 f"{attn_mask.ndim}-D tensor instead")
        expected = (num_heads, query.shape[0], key.shape[0])
        if not batched and attn_mask.ndim == 3 and tuple(attn_mask.shape) != expected:
            raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got {attn_mask.shape}")
    return batched


def _mha_same(fn, query, key, value):
    """fn of query, key and value, applied once to a tensor passed more than once, so that
    `query is key` and `key is value` (self-attention's one GEMM) still hold of the results."""
    q = fn(query)
    k = q if key is query else fn(key)
    v = k if value is key else q if value is query else fn(value)
    return q, k, v


def _mha_memory_order(x):
    """x (S, N, E) as its projection should read it: (x, False), or (the (N, S, E) it is a
    transpose of, True) when x is a batch-first tensor transposed (a batch_first module's
    input), so that neither x nor its projection is copied to reorder them."""
    t = _index.transpose(x, 0, 1)
    return (t, True) if not x.is_contiguous() and t.is_contiguous() else (x, False)


def _mha_in_projection(query, key, value, embed_dim, in_proj_weight, in_proj_bias, separate, q_proj_weight,
                       k_proj_weight, v_proj_weight):
    """q, k and v projected, each as (projection, batch_major) in its input's memory order
    ((S, N, E), or (N, S, E) when batch_major): one GEMM with the packed (3E, E) weight for
    self-attention, one for key and value when they are one tensor, else one per input."""
    biases = (None,) * 3 if in_proj_bias is None else _chunk(in_proj_bias, 3)
    if not separate:
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        weights = _chunk(in_proj_weight, 3)
    else:
        for name, w in (("q", q_proj_weight), ("k", k_proj_weight), ("v", v_proj_weight)):
            if w is None:
                raise AssertionError(f"use_separate_proj_weight is True but {name}_proj_weight is None")
        weights = (q_proj_weight, k_proj_weight, v_proj_weight)
        for name, w, x in zip(("query", "key", "value"), weights, (query, key, value)):
            if tuple(w.shape) != (embed_dim, x.shape[-1]):
                raise AssertionError(f"expecting {name} weights shape of {(embed_dim, x.shape[-1])}, but got "
                                     f"{w.shape}")
    (q, q_bm), (k, k_bm), (v, v_bm) = _mha_same(_mha_memory_order, query, key, value)
    if not separate and query is key and key is value:
        q, k, v = _chunk(linear(q, in_proj_weight, in_proj_bias), 3, -1)
    elif not separate and key is value:
        q = linear(q, weights[0], biases[0])
        kv_bias = None if in_proj_bias is None else in_proj_bias[embed_dim:]
        k, v = _chunk(linear(k, in_proj_weight[embed_dim:], kv_bias), 2, -1)
    else:
        q, k, v = (linear(x, w, b) for x, w, b in zip((q, k, v), weights, biases))
    return (q, q_bm), (k, k_bm), (v, v_bm)


def _mha_heads(x, batch_major, num_heads, head_dim):
    """A projection (S, N, E), or (N, S, E) when batch_major, as the view (N, heads, S,
    head_dim)."""
    if batch_major:
        return _index.transpose(_index.reshape(x, (x.shape[0], x.shape[1], num_heads, head_dim)), 1, 2)
    return _index.permute(_index.reshape(x, (x.shape[0], x.shape[1], num_heads, head_dim)), (1, 2, 0, 3))


def _mha_static_kv(static, k, bsz, num_heads, head_dim, name):
    """k (N, heads, S, head_dim), or the static one (N * heads, S', head_dim) given in its place
    as (N, heads, S', head_dim)."""
    if static is None:
        return k
    if static.shape[0] != bsz * num_heads:
        raise AssertionError(f"expecting {name}.size(0) of {bsz * num_heads}, but got {static.shape[0]}")
    if static.shape[2] != head_dim:
        raise AssertionError(f"expecting {name}.size(2) of {head_dim}, but got {static.shape[2]}")
    return _index.reshape(static, (bsz, num_heads, static.shape[1], head_dim))


def _mha_append_key(k, v, rows_k, rows_v, attn_mask, key_padding_mask):
    """k and v (N, heads, S, head_dim) with one more key, rows_k and rows_v (N, heads, 1,
    head_dim); each mask padded with a 0 (attend) for it."""
    k, v = _cat([k, rows_k], 2), _cat([v, rows_v], 2)
    attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
    key_padding_mask = None if key_padding_mask is None else pad(key_padding_mask, (0, 1))
    return k, v, attn_mask, key_padding_mask


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """torch's: query (L, N, E) or (L, E), key and value (S, N, E) or (S, E), sequence first;
    nn.MultiheadAttention's forward. The projections run in their inputs' memory order (a
    transposed batch-first input is read as the (N, L, E) it is, uncopied) and the heads are
    views (N, heads, L, head_dim) of them; the masks merge broadcast ((L, S) + (N, 1, 1, S)),
    not expanded over the heads, in the projections' dtype. need_weights forms the attention
    weights explicitly (averaged over heads with average_attn_weights); otherwise the fused
    scaled_dot_product_attention kernel runs, with its causal mask when is_causal and no
    key_padding_mask."""
    batched = _mha_is_batched(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:
        query, key, value = _mha_same(lambda t: _index.unsqueeze(t, 1), query, key, value)
        if key_padding_mask is not None:
            key_padding_mask = _index.unsqueeze(key_padding_mask, 0)
    tgt_len, bsz, embed_dim = query.shape
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask",
                                       None if attn_mask is None else attn_mask.dtype, "attn_mask", query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                           "method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # the kernel's causal mask replaces it
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype)
        is_causal = is_causal and key_padding_mask is None  # a merged mask is no longer causal
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight and tuple(key.shape[:2]) != tuple(value.shape[:2]):
        raise AssertionError(f"key's sequence and batch dims {key.shape[:2]} do not match value's "
                             f"{value.shape[:2]}")
    if not use_separate_proj_weight and tuple(key.shape) != tuple(value.shape):
        raise AssertionError(f"key shape {key.shape} does not match value shape {value.shape}")
    (q, q_bm), (k, k_bm), (v, v_bm) = _mha_in_projection(query, key, value, embed_dim, in_proj_weight, in_proj_bias,
                                                         use_separate_proj_weight, q_proj_weight, k_proj_weight,
                                                         v_proj_weight)
    src_len = key.shape[0]
    if attn_mask is not None:
        expected = (tgt_len, src_len) if attn_mask.ndim == 2 else (bsz * num_heads, tgt_len, src_len)
        if attn_mask.ndim not in (2, 3):
            raise RuntimeError(f"attn_mask's dimension {attn_mask.ndim} is not supported")
        if tuple(attn_mask.shape) != expected:
            raise RuntimeError(f"The shape of the {attn_mask.ndim}D attn_mask is {attn_mask.shape}, but should be "
                               f"{expected}.")
        if attn_mask.ndim == 3:  # a 2-D one stays (L, S), broadcast over batch and heads
            attn_mask = _index.reshape(attn_mask, (bsz, num_heads, tgt_len, src_len))
    if (bias_k is None) != (bias_v is None):
        raise AssertionError(f"bias_{'k' if bias_v is None else 'v'} is set but bias_{'v' if bias_v is None else 'k'}"
                             " is None")
    q, k, v = (_mha_heads(t, bm, num_heads, head_dim) for t, bm in ((q, q_bm), (k, k_bm), (v, v_bm)))
    if bias_k is not None:
        if static_k is not None or static_v is not None:
            raise AssertionError(f"bias cannot be added to static {'key' if static_k is not None else 'value'}.")
        rows_k, rows_v = (_index.expand(_index.reshape(b, (1, num_heads, 1, head_dim)), (bsz, num_heads, 1, head_dim))
                          for b in (bias_k, bias_v))
        k, v, attn_mask, key_padding_mask = _mha_append_key(k, v, rows_k, rows_v, attn_mask, key_padding_mask)
    k = _mha_static_kv(static_k, k, bsz, num_heads, head_dim, "static_k")
    v = _mha_static_kv(static_v, v, bsz, num_heads, head_dim, "static_v")
    if add_zero_attn:
        zeros = [_creation.zeros((bsz, num_heads, 1, head_dim), dtype=t.dtype, device=t.device) for t in (k, v)]
        k, v, attn_mask, key_padding_mask = _mha_append_key(k, v, *zeros, attn_mask, key_padding_mask)
    src_len = k.shape[2]
    if attn_mask is not None and attn_mask.dtype != q.dtype:
        attn_mask = attn_mask.to(q.dtype)  # a float mask of another dtype, or autocast's lower-precision q
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            dim = 0 if key_padding_mask.shape[0] != bsz else 1
            raise AssertionError(f"Expected key_padded_mask.shape[{dim}] to be {(bsz, src_len)[dim]}, but got "
                                 f"{key_padding_mask.shape[dim]}")
        key_padding_mask = _index.reshape(key_padding_mask.to(q.dtype), (bsz, 1, 1, src_len))
        attn_mask = key_padding_mask if attn_mask is None else attn_mask + key_padding_mask
    if not training:
        dropout_p = 0.0
    weights = None
    if need_weights:
        weights = _matmul(q * math.sqrt(1.0 / float(head_dim)), _index.transpose(k, -2, -1))
        if attn_mask is not None:
            weights = attn_mask + weights
        weights = _softmax(weights, -1)
        if dropout_p > 0.0:
            weights = dropout(weights, p=dropout_p)
        out = _matmul(weights, v)
        if average_attn_weights:
            weights = weights.mean(1)
        if not batched:
            weights = _index.squeeze(weights, 0)
    else:
        out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    if q_bm:  # (N, heads, L, head_dim) -> (N, L, E), projected, then viewed as (L, N, E)
        out = _index.reshape(_index.transpose(out, 1, 2), (bsz, tgt_len, embed_dim))
        out = _index.transpose(linear(out, out_proj_weight, out_proj_bias), 0, 1)
    else:
        out = _index.reshape(_index.permute(out, (2, 0, 1, 3)), (tgt_len, bsz, embed_dim))
        out = linear(out, out_proj_weight, out_proj_bias)
    return (out if batched else _index.squeeze(out, 1)), weights
