"""torch.backends' switches that training scripts set (cudnn.benchmark, cudnn.deterministic,
cuda.matmul.allow_tf32, mps.is_available(), ...). fibril runs its own kernels, not cuDNN,
oneDNN or MPS: the cuDNN flags are recorded and read back but change nothing (every fibril
kernel is deterministic, and there is no algorithm search to benchmark); the TF32 switches are
float32_matmul_precision, as in torch."""

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


class _Cuda:
    matmul = _Matmul()

    @staticmethod
    def is_built():
        return _cuda.is_built()

    # torch's scaled_dot_product_attention backend switches: fibril has one flash kernel
    # per device, so these report it enabled and accept settings.
    @staticmethod
    def flash_sdp_enabled():
        return True

    @staticmethod
    def enable_flash_sdp(enabled):
        pass

    @staticmethod
    def mem_efficient_sdp_enabled():
        return False

    @staticmethod
    def enable_mem_efficient_sdp(enabled):
        pass

    @staticmethod
    def math_sdp_enabled():
        return True

    @staticmethod
    def enable_math_sdp(enabled):
        pass


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
