"""Second derivatives (create_graph=True) through the common ops, compared with torch in float64:
for each op, the first derivatives of sum(cot * f(x)) with create_graph=True, then the
derivatives of sum(g * g + c * g) over those gradients g."""

import zlib

import numpy as np
import pytest

import fibril
from op_check import torch_one_thread  # noqa: F401  (autouse fixture)

torch = pytest.importorskip("torch")


def _F(lib):
    return lib.nn.functional


def _u(*shape, lo=-2.0, hi=2.0):
    return ("uniform", shape, lo, hi)


def _p(*shape):
    return _u(*shape, lo=0.5, hi=2.0)


def _v(*values):
    return ("values", np.array(values, dtype=np.float64))


SIGNS = [[1.0, -1.0, -1.0, 1.0], [-1.0, 1.0, 1.0, 1.0], [-1.0, -1.0, 1.0, -1.0]]
ROWS = [[0, 0], [2, 2], [1, 0], [1, 1], [0, 0]]


def _setitem(lib, x, v):
    y = x * 1.0
    y[lib.tensor([0, 3])] = v * v
    return y * x


def _setitem_mask(lib, x, v):
    y = x * 1.0
    y[x > 0] = (v * v).sum()
    return y * x


def _set_slice(lib, x, v):
    y = x * 1.0
    y[:, 1:3] = v * v
    return y * x


def _unpool(n):
    def fn(lib, x):
        values, indices = getattr(_F(lib), f"max_pool{n}d")(x * x, 2, return_indices=True)
        return getattr(_F(lib), f"max_unpool{n}d")(values * values, indices, 2) ** 2

    return fn


# name: (inputs, f(lib, *inputs)); every f is twice differentiable in torch on its inputs
CASES = {
    # advanced indexing, gather and scatter
    "getitem_index": ([_u(5, 3)], lambda L, x: x[L.tensor([0, 2, 2, 4])] * x[:4]),
    "getitem_mask": ([_u(5, 3)], lambda L, x: x[x > 0] ** 3),
    "getitem_two_indices": ([_u(5, 3)], lambda L, x: x[L.tensor([0, 2, 2]), L.tensor([1, 0, 1])] ** 3),
    "setitem_index": ([_u(5, 3), _u(2, 3)], _setitem),
    "setitem_mask": ([_u(5, 3), _u(1)], _setitem_mask),
    "setitem_slice": ([_u(3, 4), _u(3, 2)], _set_slice),
    "index_select": ([_u(5, 3)], lambda L, x: L.index_select(x, 0, L.tensor([0, 2, 2])) ** 3),
    "index_add": ([_u(5, 3), _u(3, 3)], lambda L, x, s: L.index_add(x * x, 0, L.tensor([0, 2, 2]), s * s)),
    "index_copy": ([_u(5, 3), _u(2, 3)], lambda L, x, s: L.index_copy(x * x, 0, L.tensor([4, 1]), s * s)),
    "index_fill": ([_u(5, 3)], lambda L, x: L.index_fill(x * x, 0, L.tensor([4, 1]), 2.0) * x),
    "index_put": ([_u(5, 3), _u(2, 3)], lambda L, x, s: L.index_put(x * x, (L.tensor([4, 1]),), s * s)),
    "index_put_accumulate": ([_u(5, 3), _u(2, 3)],
                             lambda L, x, s: L.index_put(x * x, (L.tensor([1, 1]),), s * s, accumulate=True)),
    "masked_fill": ([_u(5, 3)], lambda L, x: L.masked_fill(x * x, x > 0, 2.0) * x),
    "masked_scatter": ([_u(5, 3), _u(15)], lambda L, x, s: L.masked_scatter(x * x, x > 0, s * s)),
    "masked_select": ([_u(5, 3)], lambda L, x: L.masked_select(x * x, x > 0) ** 2),
    "take": ([_u(5, 3)], lambda L, x: L.take(x * x, L.tensor([0, 5, 5, 14])) ** 2),
    "take_along_dim": ([_u(5, 3)],
                       lambda L, x: L.take_along_dim(x * x, L.tensor([[0], [2], [1], [1], [0]]), dim=1) ** 2),
    "put": ([_u(5, 3), _u(3)], lambda L, x, s: (x * x).put(L.tensor([0, 5, 14]), s * s) * x),
    "put_accumulate": ([_u(5, 3), _u(3)], lambda L, x, s: (x * x).put(L.tensor([0, 5, 5]), s * s, accumulate=True)),
    "gather": ([_u(5, 3)], lambda L, x: L.gather(x * x, 1, L.tensor(ROWS)) ** 2),
    "scatter": ([_u(5, 3), _u(5, 2)],
                lambda L, x, s: L.scatter(x * x, 1, L.tensor([[0, 1], [2, 1], [1, 0], [1, 2], [0, 2]]), s * s)),
    "scatter_add": ([_u(5, 3), _u(5, 2)], lambda L, x, s: L.scatter_add(x * x, 1, L.tensor(ROWS), s * s)),
    **{f"scatter_reduce_{r}": ([_u(5, 3), _u(5, 2)],
                               lambda L, x, s, r=r: L.scatter_reduce(x * x, 1, L.tensor(ROWS), s * s, r) * x)
       for r in ("sum", "prod", "mean", "amax", "amin")},
    **{f"scatter_reduce_{r}_exclude_self": (
        [_u(5, 3), _u(5, 2)],
        lambda L, x, s, r=r: L.scatter_reduce(x * x, 1, L.tensor(ROWS), s * s, r, include_self=False) * x)
       for r in ("prod", "amax")},
    "scatter_reduce_prod_one_zero": (
        [_v([0.0, 1.3], [0.5, 0.0], [1.1, -0.7], [0.0, 1.2], [0.9, 0.0]), _u(5, 2)],
        lambda L, s, y: L.scatter_reduce(y[:, :1].expand(5, 3) * 1.0, 1, L.tensor([[0, 1], [2, 2], [1, 0], [1, 1],
                                                                                   [0, 2]]), s * y, "prod")),
    # shapes, joins, views
    "flip": ([_u(4, 3)], lambda L, x: L.flip(x * x, (0,)) * x),
    "roll": ([_u(4, 3)], lambda L, x: L.roll(x * x, 1, 0) * x),
    "rot90": ([_u(3, 3)], lambda L, x: L.rot90(x * x, 1, (0, 1)) * x),
    "cat": ([_u(2, 3), _u(3, 3)], lambda L, a, b: L.cat([a * a, b * a.sum()], 0) ** 2),
    "stack": ([_u(2, 3), _u(2, 3)], lambda L, a, b: L.stack([a * b, b * b], 1) ** 2),
    "split": ([_u(5, 3)], lambda L, x: L.split(x * x, 2, 0)[1] * x[:2]),
    "chunk": ([_u(6, 3)], lambda L, x: L.chunk(x * x, 3, 0)[2] * x[:2]),
    "unbind": ([_u(3, 3)], lambda L, x: L.unbind(x * x, 0)[1] * x[0]),
    "narrow": ([_u(5, 3)], lambda L, x: L.narrow(x * x, 0, 1, 3) * x[:3]),
    "expand": ([_u(1, 3)], lambda L, x: (x * x).expand(4, 3) * x),
    "repeat": ([_u(2, 3)], lambda L, x: (x * x).repeat(2, 2) ** 2),
    "repeat_interleave": ([_u(2, 3)], lambda L, x: L.repeat_interleave(x * x, L.tensor([1, 3]), dim=0) ** 2),
    "tile": ([_u(2, 3)], lambda L, x: L.tile(x * x, (2, 1)) ** 2),
    "permute": ([_u(2, 3, 4)], lambda L, x: (x * x).permute(2, 0, 1) * x.permute(2, 0, 1)),
    "movedim": ([_u(2, 3, 4)], lambda L, x: L.movedim(x * x, 0, 2) ** 2),
    "squeeze_unsqueeze": ([_u(2, 1, 3)], lambda L, x: (x * x).squeeze(1).unsqueeze(0) ** 2),
    "tensor_unfold": ([_u(2, 7)], lambda L, x: (x * x).unfold(1, 3, 2) ** 2),
    "as_strided": ([_u(3, 4)], lambda L, x: L.as_strided(x * x, (2, 2), (1, 2), 1) ** 2),
    "diagonal": ([_u(3, 4)], lambda L, x: L.diagonal(x * x, 1) ** 2),
    **{f"pad_{mode}": ([_u(1, 2, 4, 5)], lambda L, x, mode=mode: _F(L).pad(x * x, (1, 2, 2, 1), mode=mode) ** 2)
       for mode in ("constant", "reflect", "replicate", "circular")},
    **{f"pad1d_{mode}": ([_u(1, 2, 5)], lambda L, x, mode=mode: _F(L).pad(x * x, (2, 1), mode=mode) ** 2)
       for mode in ("reflect", "replicate", "circular")},
    # scans and reductions
    "cumsum": ([_u(3, 4)], lambda L, x: L.cumsum(x * x, 1) ** 2),
    "cumprod": ([_u(3, 4)], lambda L, x: L.cumprod(x, 1)),
    "cumprod_zeros": ([_v([1.5, 0.0, 2.0, 0.3], [0.0, 0.0, 1.2, 2.0], [1.1, 0.7, -1.3, 0.0])],
                      lambda L, x: L.cumprod(x, 1)),
    "logcumsumexp": ([_u(3, 4)], lambda L, x: L.logcumsumexp(x, 1)),
    "cummax": ([_u(3, 4)], lambda L, x: L.cummax(x * x, 1)[0] * x),
    "cummin": ([_u(3, 4)], lambda L, x: L.cummin(x * x, 1)[0] * x),
    "prod_dim": ([_u(3, 4)], lambda L, x: x.prod(1)),
    "prod_zeros": ([_v([1.5, 0.0, 2.0], [0.0, 0.0, 1.2], [1.1, 0.7, -1.3])], lambda L, x: x.prod(1)),
    "prod_all_one_zero": ([_v([1.5, 0.0, 2.0], [0.5, 3.0, 1.2])], lambda L, x: x.prod()),
    "mean_dim": ([_u(3, 4)], lambda L, x: (x * x).mean(1) ** 2),
    "std": ([_u(3, 4)], lambda L, x: x.std(1)),
    "var": ([_u(3, 4)], lambda L, x: x.var(1, correction=0)),
    "norm_1": ([_u(3, 4)], lambda L, x: L.norm(x, 1, dim=1) * x.sum()),
    "norm_3": ([_u(3, 4)], lambda L, x: L.norm(x, 3, dim=1)),
    "logsumexp": ([_u(3, 4)], lambda L, x: L.logsumexp(x, 1)),
    "amax": ([_u(3, 4)], lambda L, x: L.amax(x * x, 1) * x.sum()),
    "max_dim": ([_u(3, 4)], lambda L, x: L.max(x * x, 1)[0] * x.sum()),
    "median": ([_u(3, 5)], lambda L, x: L.median(x * x, 1)[0] * x.sum()),
    "kthvalue": ([_u(3, 5)], lambda L, x: L.kthvalue(x * x, 2, 1)[0] * x.sum()),
    "sort": ([_u(3, 5)], lambda L, x: L.sort(x * x, 1)[0] * x),
    "topk": ([_u(3, 5)], lambda L, x: L.topk(x * x, 2, 1)[0] * x[:, :2]),
    # elementwise
    "where": ([_u(3, 4), _u(3, 4)], lambda L, a, b: L.where(a > 0, a * a, b * b * a)),
    "clamp_tensor_bounds": ([_u(3, 4), _u(3, 4)], lambda L, x, m: L.clamp(x * x, min=m * m) * x),
    "abs": ([_u(3, 4)], lambda L, x: L.abs(x) * x),
    "maximum": ([_u(3, 4), _u(3, 4)], lambda L, a, b: L.maximum(a * a, b * a) * a),
    "fmin": ([_u(3, 4), _u(3, 4)], lambda L, a, b: L.fmin(a * a, b * a) * a),
    "rsqrt": ([_p(3, 4)], lambda L, x: L.rsqrt(x)),
    "number_divided_by": ([_p(3, 4)], lambda L, x: 2.0 / x),
    "expm1": ([_u(3, 4)], lambda L, x: L.expm1(x)),
    "pow_tensors": ([_p(3, 4), _u(3, 4)], lambda L, a, b: L.pow(a, b)),
    "pow_number_base": ([_u(3, 4)], lambda L, b: L.pow(2.5, b)),
    "atan2": ([_u(3, 4), _u(3, 4)], lambda L, a, b: L.atan2(a, b)),
    "hypot": ([_u(3, 4), _u(3, 4)], lambda L, a, b: L.hypot(a, b)),
    "erfinv": ([_u(3, 4, lo=-0.9, hi=0.9)], lambda L, x: L.erfinv(x)),
    "lgamma": ([_p(3, 4)], lambda L, x: L.lgamma(x)),
    "digamma": ([_p(3, 4)], lambda L, x: L.digamma(x)),
    "xlogy": ([_u(3, 4), _p(3, 4)], lambda L, a, b: L.xlogy(a, b)),
    "xlogy_zero_x": ([_v(0.0, 1.0, 0.0, 2.0), _p(4)], lambda L, a, b: L.xlogy(a, b)),
    "xlog1py": ([_u(3, 4), _p(3, 4)], lambda L, a, b: L.special.xlog1py(a, b)),
    "xlog1py_zero_x": ([_v(0.0, 1.0, 0.0, 2.0), _p(4)], lambda L, a, b: L.special.xlog1py(a, b)),
    "sinc": ([_u(3, 4)], lambda L, x: L.sinc(x)),
    "logaddexp": ([_u(3, 4), _u(3, 4)], lambda L, a, b: L.logaddexp(a, b)),
    "lerp": ([_u(3, 4), _u(3, 4), _u(3, 4)], lambda L, a, b, w: L.lerp(a, b, w)),
    # activations
    **{f"activation_{name}": ([_u(3, 4)], fn) for name, fn in {
        "mish": lambda L, x: _F(L).mish(x * 3),
        "hardswish": lambda L, x: _F(L).hardswish(x * 2) * x,
        "hardswish_ends": lambda L, x: _F(L).hardswish(x * x * 3 - 3) * x,
        "selu": lambda L, x: _F(L).selu(x),
        "celu": lambda L, x: _F(L).celu(x, 0.7),
        "glu": lambda L, x: _F(L).glu(x, 1),
        "logsigmoid": lambda L, x: _F(L).logsigmoid(x),
        "softsign": lambda L, x: _F(L).softsign(x),
        "tanhshrink": lambda L, x: _F(L).tanhshrink(x),
        "hardtanh": lambda L, x: _F(L).hardtanh(x) * x,
        "relu6": lambda L, x: _F(L).relu6(x * 4) * x,
        "softshrink": lambda L, x: _F(L).softshrink(x) * x,
        "softplus": lambda L, x: _F(L).softplus(x, 2.0, 3.0),
        "softmin": lambda L, x: _F(L).softmin(x, 1),
        "rrelu_eval": lambda L, x: _F(L).rrelu(x, training=False) * x,
    }.items()},
    "activation_hardswish_at_3": ([_v(-1.0, 1.0, 0.5, 2.0)], lambda L, x: _F(L).hardswish(x * x * 3) * x),
    "prelu": ([_u(2, 3, 4), _u(3)], lambda L, x, w: _F(L).prelu(x, w) * x),
    # losses
    "bce": ([_u(3, 4, lo=0.1, hi=0.9), _u(3, 4, lo=0.1, hi=0.9)], lambda L, a, b: _F(L).binary_cross_entropy(a, b)),
    "bce_with_logits": ([_u(3, 4), _u(3, 4, lo=0.1, hi=0.9)],
                        lambda L, a, b: _F(L).binary_cross_entropy_with_logits(a, b)),
    "smooth_l1": ([_u(3, 4), _u(3, 4)], lambda L, a, b: _F(L).smooth_l1_loss(a * a, b, beta=0.5) * a.sum()),
    "huber": ([_u(3, 4), _u(3, 4)], lambda L, a, b: _F(L).huber_loss(a * a, b, delta=0.5) * a.sum()),
    "l1": ([_u(3, 4), _u(3, 4)], lambda L, a, b: _F(L).l1_loss(a * a, b) * a.sum()),
    "kl_div": ([_u(3, 4), _p(3, 4)], lambda L, a, b: _F(L).kl_div(a, b, reduction="batchmean")),
    "kl_div_log_target": ([_u(3, 4), _u(3, 4)], lambda L, a, b: _F(L).kl_div(a, b, reduction="sum", log_target=True)),
    "poisson_nll": ([_u(3, 4), _p(3, 4)], lambda L, a, b: _F(L).poisson_nll_loss(a, b)),
    "poisson_nll_full": ([_p(3, 4), _p(3, 4)], lambda L, a, b: _F(L).poisson_nll_loss(a, b, log_input=False, full=True)),
    "gaussian_nll": ([_u(3, 4), _u(3, 4), _p(3, 4)], lambda L, a, b, v: _F(L).gaussian_nll_loss(a, b, v)),
    "cosine_embedding": ([_u(3, 4), _u(3, 4)],
                         lambda L, a, b: _F(L).cosine_embedding_loss(a, b, L.tensor([1, -1, -1]), margin=-0.5)),
    "margin_ranking": ([_u(5), _u(5)], lambda L, a, b: _F(L).margin_ranking_loss(
        a * a, b, L.tensor([1.0, -1.0, 1.0, -1.0, 1.0])) * a.sum()),
    "hinge_embedding": ([_u(3, 4)], lambda L, a: _F(L).hinge_embedding_loss(a * a, L.tensor(SIGNS)) * a.sum()),
    "soft_margin": ([_u(3, 4)], lambda L, a: _F(L).soft_margin_loss(a, L.tensor(SIGNS))),
    "triplet_margin": ([_u(3, 4), _u(3, 4), _u(3, 4)],
                       lambda L, a, p, n: _F(L).triplet_margin_loss(a, p, n, margin=3.0, swap=True, p=3)),
    "multilabel_soft_margin": ([_u(3, 4), _p(4)], lambda L, a, w: _F(L).multilabel_soft_margin_loss(
        a, L.tensor([[1.0, 0, 1, 0], [0, 0, 1, 1], [1, 1, 1, 0]]), weight=w)),
    "cross_entropy_probabilities": ([_u(3, 4), _p(3, 4)], lambda L, a, b: _F(L).cross_entropy(a, b)),
    # distances, embeddings
    "cosine_similarity": ([_u(3, 4), _u(3, 4)], lambda L, a, b: _F(L).cosine_similarity(a, b)),
    "pairwise_distance": ([_u(3, 4), _u(3, 4)], lambda L, a, b: _F(L).pairwise_distance(a, b, p=3)),
    "normalize": ([_u(3, 4)], lambda L, a: _F(L).normalize(a, dim=1)),
    "embedding": ([_u(5, 3)], lambda L, w: _F(L).embedding(L.tensor([[0, 2], [2, 4]]), w * w) ** 2),
    "embedding_scale_grad_by_freq": ([_u(5, 3)], lambda L, w: _F(L).embedding(
        L.tensor([[0, 2], [2, 4]]), w * w, scale_grad_by_freq=True) ** 2),
    "embedding_bag_mean": ([_u(5, 3)], lambda L, w: _F(L).embedding_bag(
        L.tensor([0, 2, 2, 4]), w * w, L.tensor([0, 2]), mode="mean")),
    "one_hot": ([_u(3, 4)], lambda L, x: _F(L).one_hot(L.tensor([0, 3, 1]), 4) * x * x),
    # resampling
    **{f"interpolate_{mode}": ([_u(1, 2, 4, 5)],
                               lambda L, x, mode=mode: _F(L).interpolate(x * x, size=(6, 3), mode=mode) ** 2)
       for mode in ("nearest", "nearest-exact", "bilinear", "bicubic", "area")},
    "interpolate_linear": ([_u(1, 2, 5)], lambda L, x: _F(L).interpolate(x * x, size=7, mode="linear") ** 2),
    "interpolate_trilinear": ([_u(1, 1, 3, 4, 2)],
                              lambda L, x: _F(L).interpolate(x * x, size=(4, 3, 3), mode="trilinear") ** 2),
    **{f"grid_sample_{mode}_{padding}": (
        [_u(1, 2, 4, 5), _u(1, 3, 3, 2, lo=-1.1, hi=1.1)],
        lambda L, x, g, mode=mode, padding=padding: _F(L).grid_sample(
            x * x, g, mode=mode, padding_mode=padding, align_corners=False) ** 2)
       for mode in ("bilinear", "nearest") for padding in ("zeros", "reflection")},
    "affine_grid": ([_u(2, 2, 3)], lambda L, t: _F(L).affine_grid(t * t, (2, 1, 3, 4), align_corners=False) ** 2),
    "unfold": ([_u(1, 2, 4, 5)], lambda L, x: _F(L).unfold(x * x, 2, padding=1, stride=(1, 2)) ** 2),
    "fold": ([_u(1, 8, 6)], lambda L, x: _F(L).fold(x * x, (3, 4), 2) ** 2),
    "pixel_shuffle": ([_u(1, 4, 2, 3)], lambda L, x: _F(L).pixel_shuffle(x * x, 2) ** 2),
    # 3-d layers, unpooling
    "conv3d": ([_u(1, 2, 4, 4, 3), _u(3, 2, 2, 2, 2), _u(3)],
               lambda L, x, w, b: _F(L).conv3d(x, w, b, padding=1, stride=(1, 2, 1)) ** 2),
    "conv_transpose3d": ([_u(1, 2, 3, 3, 2), _u(2, 3, 2, 2, 2)],
                         lambda L, x, w: _F(L).conv_transpose3d(x, w, stride=2, output_padding=1) ** 2),
    "max_pool3d": ([_u(1, 2, 4, 4, 4)], lambda L, x: _F(L).max_pool3d(x * x, 2, padding=1) * _F(L).max_pool3d(
        x, 2, padding=1)),
    "avg_pool3d": ([_u(1, 2, 4, 4, 4)], lambda L, x: _F(L).avg_pool3d(x * x, 2, padding=1) ** 2),
    "adaptive_avg_pool3d": ([_u(1, 2, 5, 4, 3)], lambda L, x: _F(L).adaptive_avg_pool3d(x * x, (2, 3, 2)) ** 2),
    **{f"max_unpool{n}d": ([_u(1, 2, *(4,) * n)], _unpool(n)) for n in (1, 2, 3)},
    # contractions
    "einsum_diagonal": ([_u(3, 3), _u(3)], lambda L, a, b: L.einsum("ii,i->i", a, b) ** 2),
    "einsum_batch": ([_u(2, 2, 3), _u(2, 3, 4)], lambda L, a, b: L.einsum("bij,bjk->bik", a, b) ** 2),
    "tensordot": ([_u(2, 3, 4), _u(4, 3)], lambda L, a, b: L.tensordot(a, b, dims=([1, 2], [1, 0])) ** 2),
    "baddbmm": ([_u(2, 2, 4), _u(2, 2, 3), _u(2, 3, 4)],
                lambda L, c, a, b: L.baddbmm(c, a, b, beta=0.5, alpha=2.0) ** 2),
    "outer": ([_u(2), _u(3)], lambda L, a, b: L.outer(a, b) ** 2),
    "kron": ([_u(2, 2), _u(2, 3)], lambda L, a, b: L.kron(a, b) ** 2),
    "diag": ([_u(3, 3)], lambda L, a: L.diag(a * a, 1) ** 2),
    "diag_embed": ([_u(2, 3)], lambda L, a: L.diag_embed(a * a) ** 2),
    "trace": ([_u(3, 3)], lambda L, a: L.trace(a * a) ** 2),
    "tril_triu": ([_u(3, 3)], lambda L, a: L.tril(a * a) * L.triu(a, -1)),
    "bilinear": ([_u(2, 3), _u(2, 4), _u(5, 3, 4), _u(5)], lambda L, a, b, w, c: _F(L).bilinear(a, b, w, c) ** 2),
    "linear": ([_u(2, 3), _u(4, 3), _u(4)], lambda L, x, w, b: _F(L).linear(x, w, b) ** 2),
}


def _inputs(lib, name):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    arrays = [spec[1] if spec[0] == "values" else rng.uniform(spec[2], spec[3], spec[1])
              for spec in CASES[name][0]]
    return [lib.tensor(a.copy(), dtype=lib.float64, requires_grad=True) for a in arrays]


def _derivatives(lib, name):
    """(first derivatives, their own derivatives) of op `name`, as numpy arrays (None: none)."""
    xs = _inputs(lib, name)
    out = CASES[name][1](lib, *xs)
    rng = np.random.default_rng(1)
    cot = lib.tensor(rng.standard_normal(tuple(out.shape)))
    firsts = lib.autograd.grad(out, xs, cot, create_graph=True, allow_unused=True)
    total = 0.0
    for g in firsts:
        if g is not None and g.requires_grad:
            total = total + (g * g).sum() + (g * lib.tensor(rng.standard_normal(tuple(g.shape)))).sum()
    assert isinstance(total, lib.Tensor), "no first derivative has a graph"
    seconds = lib.autograd.grad(total, xs, allow_unused=True)
    as_numpy = lambda ts: [None if t is None else t.detach().numpy() for t in ts]  # noqa: E731
    return as_numpy(firsts), as_numpy(seconds)


def _same(ours, theirs):
    """Equal values; a derivative that is structurally zero may be None on one side."""
    if ours is None or theirs is None:
        other = theirs if ours is None else ours
        assert other is None or not other.any()
        return
    np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", sorted(CASES))
def test_second_derivatives_match_torch(name):
    ours, theirs = _derivatives(fibril, name), _derivatives(torch, name)
    for our_order, their_order in zip(ours, theirs):
        for a, b in zip(our_order, their_order):
            _same(a, b)


def test_first_order_gradients_keep_no_graph():
    # grad mode off in backward: the raw kernels, gradients without a history
    x = fibril.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    out = fibril.index_select(x, 1, fibril.tensor([2, 0, 2])).unfold(1, 2, 1) ** 2
    (g,) = fibril.autograd.grad(out.sum(), x)
    assert not g.requires_grad and g.grad_fn is None


def test_hardsigmoid_double_backward_raises_as_torch():
    x = fibril.tensor(np.array([0.5, -1.0]), requires_grad=True)
    (g,) = fibril.autograd.grad((fibril.nn.functional.hardsigmoid(x) * x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="does not support double backward"):
        fibril.autograd.grad(g.sum(), x)
