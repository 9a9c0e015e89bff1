"""MultivariateNormal(loc, covariance_matrix | precision_matrix | scale_tril): everything goes
through the lower Cholesky factor L of the covariance (rsample loc + L eps, log_prob by a
triangular solve with L)."""

import math

import fibril
from . import constraints
from .distribution import Distribution
from .utils import broadcast_shapes, lazy_property


def _batch_mv(bmat, bvec):
    return fibril.matmul(bmat, bvec.unsqueeze(-1)).squeeze(-1)


def _batch_mahalanobis(bL, bx):
    """x^T (L L^T)^-1 x = |L^-1 x|^2 over broadcast batch dims."""
    n = bx.size(-1)
    batch = broadcast_shapes(bL.shape[:-2], bx.shape[:-1])
    bL = bL.expand(tuple(batch) + (n, n))
    bx = bx.expand(tuple(batch) + (n,)).unsqueeze(-1)
    return fibril.linalg.solve_triangular(bL, bx, upper=False).squeeze(-1).pow(2).sum(-1)


def _tril_inverse(L):
    eye = fibril.eye(L.shape[-1], dtype=L.dtype)
    return fibril.linalg.solve_triangular(L, eye.expand(L.shape), upper=False)


def _precision_to_scale_tril(P):
    """The lower Cholesky factor of P^-1 without inverting P: flip P, factor, flip back."""
    Lf = fibril.linalg.cholesky(fibril.flip(P, (-2, -1)))
    L_inv = fibril.transpose(fibril.flip(Lf, (-2, -1)), -2, -1)
    return _tril_inverse(L_inv)


class MultivariateNormal(Distribution):
    arg_constraints = {"loc": constraints.real_vector, "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite, "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None, validate_args=None):
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        if (covariance_matrix is not None) + (scale_tril is not None) + (precision_matrix is not None) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or scale_tril may be specified.")
        for name, matrix, described in (("scale_tril", scale_tril, "scale_tril matrix"),
                                        ("covariance_matrix", covariance_matrix, "covariance_matrix"),
                                        ("precision_matrix", precision_matrix, "precision_matrix")):
            if matrix is not None:
                if matrix.dim() < 2:
                    raise ValueError(f"{described} must be at least two-dimensional, with optional leading batch "
                                     "dimensions")
                batch_shape = broadcast_shapes(matrix.shape[:-2], loc.shape[:-1])
                setattr(self, name, matrix.expand(tuple(batch_shape) + (-1, -1)))
        self.loc = loc.expand(tuple(batch_shape) + (-1,))
        super().__init__(batch_shape, self.loc.shape[-1:], validate_args=validate_args)
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = fibril.linalg.cholesky(covariance_matrix)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(precision_matrix)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(MultivariateNormal, _instance)
        batch_shape = fibril.Size(batch_shape)
        loc_shape = tuple(batch_shape) + tuple(self.event_shape)
        cov_shape = loc_shape + tuple(self.event_shape)
        new.loc = self.loc.expand(loc_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        for name in ("covariance_matrix", "scale_tril", "precision_matrix"):
            if name in self.__dict__:
                setattr(new, name, self.__dict__[name].expand(cov_shape))
        super(MultivariateNormal, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _matrix_shape(self):
        return tuple(self._batch_shape) + tuple(self._event_shape) * 2

    @lazy_property
    def scale_tril(self):
        return self._unbroadcasted_scale_tril.expand(self._matrix_shape())

    @lazy_property
    def covariance_matrix(self):
        L = self._unbroadcasted_scale_tril
        return fibril.matmul(L, L.mT).expand(self._matrix_shape())

    @lazy_property
    def precision_matrix(self):
        # A general inverse: its gradient reaches L's upper triangle too, as torch's cholesky_inverse's does.
        L_inv = fibril.linalg.inv(self._unbroadcasted_scale_tril)
        return fibril.matmul(L_inv.mT, L_inv).expand(self._matrix_shape())

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return self._unbroadcasted_scale_tril.pow(2).sum(-1).expand(tuple(self._batch_shape)
                                                                    + tuple(self._event_shape))

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = fibril.randn(shape, dtype=self.loc.dtype)
        return self.loc + _batch_mv(self._unbroadcasted_scale_tril, eps)

    def _half_log_det(self):
        return self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        M = _batch_mahalanobis(self._unbroadcasted_scale_tril, value - self.loc)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + M) - self._half_log_det()

    def entropy(self):
        H = 0.5 * self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + self._half_log_det()
        return H if len(self._batch_shape) == 0 else H.expand(self._batch_shape)
