"""MultiheadAttention with torch.nn's arguments, parameter names (in_proj_weight, in_proj_bias,
out_proj, or q/k/v_proj_weight when kdim/vdim differ) and masks, so state dicts port both ways.
need_weights=False runs the fused flash kernel; need_weights=True (torch's default) forms the
attention weights explicitly, as torch does, to return them. Also torch.nn.attention's
sdpa_kernel and SDPBackend."""

import contextlib
import math

from .. import backends as _backends
from .. import creation
from ..backends import SDPBackend
from ..ops import index
from ..ops.attention import scaled_dot_product_attention
from ..ops.join import cat
from ..ops.matmul import linear, matmul
from ..ops.random import dropout as _dropout
from ..ops.softmax import softmax
from . import init
from .linear import NonDynamicallyQuantizableLinear
from .module import Module
from .parameter import Parameter


@contextlib.contextmanager
def sdpa_kernel(backends, set_priority=False):
    """Within the block only `backends` (an SDPBackend or a list of them) count as enabled, as
    backends.cuda.flash_sdp_enabled() & co. report; the previous set comes back on exit. fibril's
    one attention kernel per device serves every backend, so results do not change."""
    chosen = [backends] if isinstance(backends, SDPBackend) else backends
    if not isinstance(chosen, list) or not all(isinstance(b, SDPBackend) for b in chosen):
        raise AssertionError("Backend must be an instance of SDPBackend or a list of SDPBackend instances, got "
                             f"{type(backends).__name__}")
    enabled = _backends.cuda.sdp_enabled
    saved = set(enabled)
    enabled.clear()
    enabled.update(chosen)
    try:
        yield
    finally:
        enabled.clear()
        enabled.update(saved)


def _additive(mask, dtype, name):
    """A bool mask (True = not allowed, torch.nn's convention) as 0 / -inf of dtype; a float
    mask as is."""
    if mask is None:
        return None
    if mask.dtype.name == "bool":
        return creation.zeros(tuple(mask.shape), dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))
    if not mask.is_floating_point():
        raise TypeError(f"MultiheadAttention: only bool and floating types of {name} are supported, got {mask.dtype}")
    return mask.to(dtype)


class MultiheadAttention(Module):
    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and "
                             f"num_heads={num_heads} instead")
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} must be divisible by num_heads {num_heads}")
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, dropout, batch_first
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.head_dim = embed_dim // num_heads
        kw = {"device": device, "dtype": dtype}
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(creation.empty(3 * embed_dim, embed_dim, **kw))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = Parameter(creation.empty(embed_dim, embed_dim, **kw))
            self.k_proj_weight = Parameter(creation.empty(embed_dim, self.kdim, **kw))
            self.v_proj_weight = Parameter(creation.empty(embed_dim, self.vdim, **kw))
        if bias:
            self.in_proj_bias = Parameter(creation.empty(3 * embed_dim, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, **kw)
        if add_bias_kv:
            self.bias_k = Parameter(creation.empty(1, 1, embed_dim, **kw))
            self.bias_v = Parameter(creation.empty(1, 1, embed_dim, **kw))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        for b in (self.bias_k, self.bias_v):
            if b is not None:
                init.xavier_normal_(b)

    def _project(self, query, key, value):
        e = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            if query is key and key is value:  # self-attention: one GEMM, then views
                qkv = linear(query, w, b)
                return qkv[..., :e], qkv[..., e:2 * e], qkv[..., 2 * e:]
            wq, wk, wv = w[:e], w[e:2 * e], w[2 * e:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return linear(query, wq, bq), linear(key, wk, bk), linear(value, wv, bv)

    def _check(self, query, key, value):
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"MultiheadAttention: query, key and value must all be 2-D (unbatched) or 3-D, got "
                             f"shapes {list(query.shape)}, {list(key.shape)}, {list(value.shape)}")
        if query.shape[-1] != self.embed_dim or key.shape[-1] != self.kdim or value.shape[-1] != self.vdim:
            raise ValueError(f"MultiheadAttention: expected last dims ({self.embed_dim}, {self.kdim}, {self.vdim}) for "
                             f"query, key and value, got shapes {list(query.shape)}, {list(key.shape)}, "
                             f"{list(value.shape)}")
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"MultiheadAttention: key shape {list(key.shape)} does not match value shape "
                             f"{list(value.shape)}")
        return batched

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        batched = self._check(query, key, value)
        if is_causal and attn_mask is None:
            raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                               "method `generate_square_subsequent_mask` to create this mask.")
        if not batched:
            query, key, value = (index.unsqueeze(t, 0) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = index.unsqueeze(key_padding_mask, 0)
        elif not self.batch_first:
            same_kv = key is value
            same = query is key and same_kv
            query = index.transpose(query, 0, 1)
            key = query if same else index.transpose(key, 0, 1)
            value = key if same_kv else index.transpose(value, 0, 1)
        n, tq, _ = query.shape
        h, dh = self.num_heads, self.head_dim
        q, k, v = self._project(query, key, value)
        mask = _additive(attn_mask, q.dtype, "attn_mask")
        kpm = _additive(key_padding_mask, q.dtype, "key_padding_mask")
        if self.bias_k is not None:
            k = cat([k, self.bias_k.expand(n, 1, self.embed_dim)], 1)
            v = cat([v, self.bias_v.expand(n, 1, self.embed_dim)], 1)
            mask, kpm = self._pad_masks(mask, kpm)
        if self.add_zero_attn:
            k = cat([k, creation.zeros((n, 1, self.embed_dim), dtype=k.dtype, device=k.device)], 1)
            v = cat([v, creation.zeros((n, 1, self.embed_dim), dtype=v.dtype, device=v.device)], 1)
            mask, kpm = self._pad_masks(mask, kpm)
        s = k.shape[1]
        mask = self._merge_masks(mask, kpm, n, tq, s)
        q, k, v = (index.transpose(index.reshape(t, (n, t.shape[1], h, dh)), 1, 2) for t in (q, k, v))
        p = self.dropout if self.training else 0.0
        use_causal = is_causal and key_padding_mask is None and not need_weights
        if use_causal:
            mask = None
        weights = None
        if need_weights:
            scores = matmul(q, index.transpose(k, -2, -1)) * (1.0 / math.sqrt(dh))
            if mask is not None:
                scores = scores + mask
            weights = softmax(scores, -1)
            if p > 0:
                weights = _dropout(weights, p)
            out = matmul(weights, v)
            if average_attn_weights:
                weights = weights.mean(1)
            if not batched:
                weights = index.squeeze(weights, 0)
        else:
            out = scaled_dot_product_attention(q, k, v, mask, p, use_causal)
        out = self.out_proj(index.reshape(index.transpose(out, 1, 2), (n, tq, self.embed_dim)))
        if not batched:
            out = index.squeeze(out, 0)
        elif not self.batch_first:
            out = index.transpose(out, 0, 1)
        return out, weights

    @staticmethod
    def _pad_masks(mask, kpm):
        def pad(m):
            if m is None:
                return None
            return cat([m, creation.zeros(tuple(m.shape[:-1]) + (1,), dtype=m.dtype, device=m.device)], -1)
        return pad(mask), pad(kpm)

    def _merge_masks(self, mask, kpm, n, tq, s):
        """attn_mask (L, S) or (N*H, L, S) and key_padding_mask (N, S) as one additive mask
        broadcastable to (N, H, L, S)."""
        h = self.num_heads
        if mask is not None:
            if mask.ndim == 2 and tuple(mask.shape) != (tq, s):
                raise ValueError(f"MultiheadAttention: the shape of the 2D attn_mask is {list(mask.shape)}, but "
                                 f"should be {[tq, s]}")
            if mask.ndim == 3:
                if tuple(mask.shape) != (n * h, tq, s):
                    raise ValueError(f"MultiheadAttention: the shape of the 3D attn_mask is {list(mask.shape)}, but "
                                     f"should be {[n * h, tq, s]}")
                mask = index.reshape(mask, (n, h, tq, s))
            elif mask.ndim != 2:
                raise ValueError(f"MultiheadAttention: attn_mask's dimension {mask.ndim} is not supported")
        if kpm is not None:
            if tuple(kpm.shape) != (n, s):
                raise ValueError(f"MultiheadAttention: expected key_padding_mask of shape {[n, s]}, got "
                                 f"{list(kpm.shape)}")
            kpm = index.reshape(kpm, (n, 1, 1, s))
            mask = kpm if mask is None else mask + kpm
        return mask
