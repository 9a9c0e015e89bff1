"""Automatic mixed precision, torch.amp's API: autocast (ops pick their dtype in a region:
matrix products and convolutions in bfloat16/float16, losses in float32), GradScaler (dynamic
loss scaling), and custom_fwd/custom_bwd for custom autograd Functions. The per-op policy is
fibril.amp.policy; the state is per thread (fibril.amp.state)."""

from .autocast_mode import autocast, custom_bwd, custom_fwd
from .grad_scaler import GradScaler, OptState
from .state import (
    autocast_decrement_nesting, autocast_increment_nesting, clear_autocast_cache, get_autocast_cpu_dtype,
    get_autocast_dtype, get_autocast_gpu_dtype, is_autocast_available, is_autocast_cache_enabled,
    is_autocast_cpu_enabled, is_autocast_enabled, set_autocast_cache_enabled, set_autocast_cpu_dtype,
    set_autocast_cpu_enabled, set_autocast_dtype, set_autocast_enabled, set_autocast_gpu_dtype,
)

__all__ = [
    "autocast", "custom_bwd", "custom_fwd", "GradScaler", "is_autocast_available",
]
