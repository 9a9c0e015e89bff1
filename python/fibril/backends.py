"""torch.backends' switches that training scripts set (cudnn.benchmark, cudnn.deterministic,
cuda.matmul.allow_tf32, mps.is_available(), ...). fibril runs its own kernels, not cuDNN,
oneDNN or MPS: the cuDNN flags are recorded and read back but change nothing (every fibril
kernel is deterministic, and there is no algorithm search to benchmark); the TF32 switches are
float32_matmul_precision, as in torch."""

import enum

from . import _C
from . import cuda as _cuda


class _Matmul:
    """backends.cuda.matmul.allow_tf32: float32 products on TF32 tensor cores (CUDA)."""

    @property
    def allow_tf32(self):
        return _C.get_float32_matmul_precision() != "highest"

    @allow_tf32.setter
    def allow_tf32(self, value):
        _C.set_float32_matmul_precision("high" if value else "highest")


class SDPBackend(enum.IntEnum):
    """torch's scaled_dot_product_attention backends (torch.nn.attention.SDPBackend)."""

    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4


class _Cuda:
    """fibril has one attention kernel per device, flash style, which serves whichever backends
    are enabled: the switches are recorded and read back (sdpa_kernel sets them for a block)."""

    matmul = _Matmul()

    def __init__(self):
        self.sdp_enabled = {SDPBackend.MATH, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                            SDPBackend.CUDNN_ATTENTION}

    @staticmethod
    def is_built():
        return _cuda.is_built()

    def _switch(self, backend, enabled):
        (self.sdp_enabled.add if enabled else self.sdp_enabled.discard)(backend)

    def flash_sdp_enabled(self):
        return SDPBackend.FLASH_ATTENTION in self.sdp_enabled

    def enable_flash_sdp(self, enabled):
        self._switch(SDPBackend.FLASH_ATTENTION, enabled)

    def mem_efficient_sdp_enabled(self):
        return SDPBackend.EFFICIENT_ATTENTION in self.sdp_enabled

    def enable_mem_efficient_sdp(self, enabled):
        self._switch(SDPBackend.EFFICIENT_ATTENTION, enabled)

    def math_sdp_enabled(self):
        return SDPBackend.MATH in self.sdp_enabled

    def enable_math_sdp(self, enabled):
        self._switch(SDPBackend.MATH, enabled)

    def cudnn_sdp_enabled(self):
        return SDPBackend.CUDNN_ATTENTION in self.sdp_enabled

    def enable_cudnn_sdp(self, enabled):
        self._switch(SDPBackend.CUDNN_ATTENTION, enabled)


class _Cudnn:
    """No cuDNN in fibril: is_available() is False; the flags are kept for scripts to read."""

    def __init__(self):
        self.enabled, self.benchmark, self.deterministic, self.allow_tf32 = True, False, False, True

    @staticmethod
    def is_available():
        return False

    @staticmethod
    def version():
        return None


class _Unavailable:
    """A backend fibril has not: is_available() and is_built() are False."""

    @staticmethod
    def is_available():
        return False

    @staticmethod
    def is_built():
        return False


class _Cpu:
    @staticmethod
    def get_cpu_capability():
        """The kernels' instruction set, in torch's words: "AVX512", "AVX2" or "DEFAULT"."""
        return {"avx512": "AVX512", "avx2": "AVX2"}.get(_C.cpu_isa(), "DEFAULT")


cuda = _Cuda()
cudnn = _Cudnn()
mps = _Unavailable()
mkldnn = _Unavailable()
cpu = _Cpu()
