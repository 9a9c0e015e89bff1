"""MultiheadAttention with torch.nn's arguments, parameter names (in_proj_weight, in_proj_bias,
out_proj, or q/k/v_proj_weight when kdim/vdim differ) and masks, so state dicts port both ways.
Its forward is F.multi_head_attention_forward's, as torch's: need_weights=False runs the fused
flash kernel; need_weights=True (torch's default) forms the attention weights explicitly, as
torch does, to return them. Also torch.nn.attention's sdpa_kernel and SDPBackend."""

import contextlib

from .. import backends as _backends
from .. import creation
from ..backends import SDPBackend
from ..ops import index
from . import functional as F
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

    def _check(self, query, key, value, key_padding_mask, attn_mask):
        """The module's ValueErrors and TypeErrors, raised before the functional's (torch's
        AssertionErrors): ranks and feature sizes of query, key and value, the masks' dtypes
        and shapes. Returns whether the input is batched."""
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
        for name, mask in (("attn_mask", attn_mask), ("key_padding_mask", key_padding_mask)):
            if mask is not None and mask.dtype.name != "bool" and not mask.is_floating_point():
                raise TypeError(f"MultiheadAttention: only bool and floating types of {name} are supported, got "
                                f"{mask.dtype}")
        seq = 1 if batched and self.batch_first else 0
        n = query.shape[1 - seq] if batched else 1
        tq, s = query.shape[seq], key.shape[seq]
        if attn_mask is not None:
            if attn_mask.ndim == 2 and tuple(attn_mask.shape) != (tq, s):
                raise ValueError(f"MultiheadAttention: the shape of the 2D attn_mask is {list(attn_mask.shape)}, but "
                                 f"should be {[tq, s]}")
            if attn_mask.ndim == 3 and tuple(attn_mask.shape) != (n * self.num_heads, tq, s):
                raise ValueError(f"MultiheadAttention: the shape of the 3D attn_mask is {list(attn_mask.shape)}, but "
                                 f"should be {[n * self.num_heads, tq, s]}")
            if attn_mask.ndim not in (2, 3):
                raise ValueError(f"MultiheadAttention: attn_mask's dimension {attn_mask.ndim} is not supported")
        expected = [n, s] if batched else [s]
        if key_padding_mask is not None and list(key_padding_mask.shape) != expected:
            raise ValueError(f"MultiheadAttention: expected key_padding_mask of shape {expected}, got "
                             f"{list(key_padding_mask.shape)}")
        return batched

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        batched = self._check(query, key, value, key_padding_mask, attn_mask)
        if self.batch_first and batched:  # to sequence first, views; `query is key` & co. still hold
            query, key, value = F._mha_same(lambda t: index.transpose(t, 0, 1), query, key, value)
        out, weights = F.multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight, self.in_proj_bias, self.bias_k,
            self.bias_v, self.add_zero_attn, self.dropout, self.out_proj.weight, self.out_proj.bias,
            training=self.training, key_padding_mask=key_padding_mask, need_weights=need_weights,
            attn_mask=attn_mask, use_separate_proj_weight=not self._qkv_same_embed_dim,
            q_proj_weight=self.q_proj_weight, k_proj_weight=self.k_proj_weight, v_proj_weight=self.v_proj_weight,
            average_attn_weights=average_attn_weights, is_causal=is_causal)
        if self.batch_first and batched:
            out = index.transpose(out, 0, 1)
        return out, weights
