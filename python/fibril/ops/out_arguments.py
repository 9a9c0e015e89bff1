"""torch's out= keyword on the functions of fibril, fibril.linalg and fibril.special that take
it in torch: the result is computed as without out=, then written into out (resized when its
shape differs, with torch's warning when out had elements), and out is returned. Results that
are tuples (values and indices, ...) go into a tuple of as many tensors, of exactly the
results' dtypes; a single result may be cast to out's dtype where torch's promotion allows it
(not a float into an integer, nor a number into bool): torch's own rule for most ops, a few of
which are stricter (abs of integers, mm) or looser (sum with a dim casts anything). Creation functions (zeros, arange,
rand, ...) make their values in out's dtype unless dtype= says otherwise, which must then
match. As torch, out= does not record autograd history: with grad mode on, no argument may
require grad.
"""

import functools
import warnings

from ..autograd import is_grad_enabled
from ..tensor import Tensor
from ..typeinfo import can_cast

TOP_LEVEL = """
abs acos acosh add addbmm addcdiv addcmul addmm addmv addr all amax amin aminmax any arange argmax argmin asin
asinh atan atan2 atanh baddbmm bernoulli bitwise_and bitwise_left_shift bitwise_not bitwise_or bitwise_right_shift
bitwise_xor bmm bucketize cat ceil chain_matmul cholesky cholesky_inverse cholesky_solve clamp clamp_max clamp_min
clip column_stack concat concatenate copysign cos cosh cross cummax cummin cumprod cumsum deg2rad diag diff digamma
div divide dot dstack empty empty_strided eq erf erfc erfinv exp exp2 expm1 eye fix float_power floor floor_divide
fmax fmin fmod frac frexp full gather gcd ge ger greater greater_equal gt hamming_window heaviside histc histogram
hstack hypot i0 igamma igammac index_add index_copy index_select inner inverse isin isneginf isposinf kron
kthvalue lcm ldexp le lerp less less_equal lgamma linspace log log10 log1p log2 logaddexp logaddexp2 logcumsumexp
logical_and logical_not logical_or logical_xor logit logspace logsumexp lt lu lu_solve lu_unpack masked_select
matmul matrix_power max maximum mean median min minimum mm mode msort mul multinomial multiply mv mvlgamma
nan_to_num nanmean nanmedian nanquantile nansum ne neg negative nextafter nonzero norm normal not_equal ones outer
polygamma pow prod quantile rad2deg rand randint randn randperm range reciprocal remainder renorm round row_stack
rsqrt scatter_add searchsorted sgn sigmoid sign signbit sin sinc sinh sort sqrt square stack std sub subtract sum
svd take take_along_dim tan tanh tensordot topk tril triu true_divide trunc var vdot vstack where xlogy zeros
""".split()

LINALG = """
cholesky cholesky_ex cond cross det eig eigh eigvals eigvalsh householder_product inv inv_ex lu lu_factor
lu_factor_ex lu_solve matmul matrix_norm matrix_power matrix_rank multi_dot norm pinv qr slogdet solve solve_ex
solve_triangular svd svdvals tensorinv tensorsolve vecdot vector_norm
""".split()

SPECIAL = """
airy_ai bessel_j0 bessel_j1 bessel_y0 bessel_y1 chebyshev_polynomial_t chebyshev_polynomial_u chebyshev_polynomial_v
chebyshev_polynomial_w digamma entr erf erfc erfcx erfinv exp2 expit expm1 gammainc gammaincc gammaln
hermite_polynomial_h hermite_polynomial_he i0 i0e i1 i1e laguerre_polynomial_l legendre_polynomial_p log1p log_ndtr
logit logsumexp modified_bessel_i0 modified_bessel_i1 modified_bessel_k0 modified_bessel_k1 multigammaln ndtr ndtri
polygamma psi round scaled_modified_bessel_k0 scaled_modified_bessel_k1 shifted_chebyshev_polynomial_t
shifted_chebyshev_polynomial_u shifted_chebyshev_polynomial_v shifted_chebyshev_polynomial_w sinc spherical_bessel_j0
xlog1py xlogy zeta
""".split()

# Their values are made in out's dtype and on out's device.
CREATION = frozenset("""
arange empty empty_strided eye full hamming_window linspace logspace ones rand randint randn randperm range zeros
""".split())


def _tensors(values):
    for value in values:
        if isinstance(value, Tensor):
            yield value
        elif isinstance(value, (list, tuple)):
            yield from _tensors(value)


def _write(name, result, out, exact_dtype):
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if out.device != result.device:
        raise RuntimeError(f"{name}(): expected out on {result.device}, but it is on {out.device}")
    if exact_dtype and out.dtype != result.dtype:
        raise RuntimeError(f"{name}(): expected out tensor to have dtype {result.dtype.name}, but got "
                           f"{out.dtype.name} instead")
    if not can_cast(result.dtype, out.dtype):
        raise RuntimeError(f"{name}(): result type {result.dtype.name} can't be cast to the desired output type "
                           f"{out.dtype.name}")
    if out.shape != result.shape:
        if out.numel():
            warnings.warn(f"{name}(): an output with one or more elements was resized since it had shape "
                          f"{list(out.shape)}, which does not match the required output shape "
                          f"{list(result.shape)}. Pass an empty tensor as out= to avoid this warning.",
                          UserWarning, stacklevel=4)
        out.resize_(tuple(result.shape))
    out.copy_(result)


def with_out(fn, name, creation=False):
    """fn taking torch's out= keyword (see the module docstring)."""

    @functools.wraps(fn)
    def wrapper(*args, out=None, **kwargs):
        if out is None:
            return fn(*args, **kwargs)
        outs = tuple(out) if isinstance(out, (tuple, list)) else None
        if is_grad_enabled() and any(t.requires_grad for t in _tensors((*args, *kwargs.values(), out))):
            raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic "
                               f"differentiation, but one of the arguments requires grad.")
        if creation:
            if outs is not None:
                raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
            if kwargs.get("dtype") is None:
                kwargs["dtype"] = out.dtype
            dtype = kwargs["dtype"]
            if dtype != out.dtype:
                raise RuntimeError(f"{name}(): dtype {dtype.name} does not match the dtype of out ({out.dtype.name})")
            kwargs.setdefault("device", out.device)
        result = fn(*args, **kwargs)
        if isinstance(result, Tensor):
            if outs is not None:
                raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
            _write(name, result, out, exact_dtype=False)
            return out
        if outs is None or len(outs) != len(result):
            raise TypeError(f"{name}(): argument 'out' must be a tuple of {len(result)} tensors, got "
                            f"{type(out).__name__}")
        for value, target in zip(result, outs):
            _write(name, value, target, exact_dtype=True)
        return type(result)(*outs) if hasattr(result, "_fields") else outs

    return wrapper


def add_out_arguments(namespaces):
    """Gives names in each (namespace, names) pair their out= taking form. One function under
    several names (asin and arcsin, lgamma and special.gammaln) gets one wrapper, under all of
    its names in these namespaces."""
    wrappers = {}
    for namespace, names in namespaces:
        for name in names:
            fn = getattr(namespace, name)
            if id(fn) not in wrappers:
                wrappers[id(fn)] = with_out(fn, name, creation=name in CREATION)
    for namespace, _ in namespaces:
        items = vars(namespace)
        for name, value in list(items.items()):
            if id(value) in wrappers and not name.startswith("_"):
                items[name] = wrappers[id(value)]
