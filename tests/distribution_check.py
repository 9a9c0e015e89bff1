"""Checks shared by the fibril.distributions tests: each builds a distribution with fibril and
with torch from the same float64 arrays (build(lib, *params) takes the library) and compares
values, gradients, shapes, samples, KL divergences, validation errors and reprs. Draws makes
a module's parameter arrays from one seeded generator."""

import numpy as np
import pytest

import fibril

torch = pytest.importorskip("torch")
import torch.distributions  # noqa: E402


class Draws:
    """A test module's arrays, drawn in order from one generator (rng, for any other draw)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def uniform(self, *shape, low=-2.0, high=2.0):
        return self.rng.uniform(low, high, size=shape)

    def positive(self, *shape):
        return self.rng.uniform(0.5, 2.5, size=shape)

    def counts(self, *shape, high=6):
        return self.rng.integers(0, high, shape).astype(float)

    def spd(self, batch, n):
        a = self.rng.standard_normal((batch, n, n))
        return a @ a.transpose(0, 2, 1) + n * np.eye(n)

    def tril(self, batch, n):
        return np.linalg.cholesky(self.spd(batch, n))


def grad_leaves(lib, params):
    return [lib.tensor(p, requires_grad=True) for p in params]


def _grads(leaves):
    """Each leaf's gradient as numpy; every leaf must have one."""
    assert all(x.grad is not None for x in leaves)
    return [x.grad.numpy() for x in leaves]


def evaluate(lib, build, params, value, method):
    """(dist, leaves, out): out is dist.<method>(value) for log_prob/cdf/icdf, else the method's
    result or the property."""
    leaves = grad_leaves(lib, params)
    dist = build(lib, *leaves)
    attr = getattr(dist, method)
    out = attr(lib.tensor(value)) if method in ("log_prob", "cdf", "icdf") else attr() if callable(attr) else attr
    return dist, leaves, out


def check_method_matches_torch(build, params, value, method, rtol=1e-10, grad_rtol=1e-9):
    """One method's batch and event shapes, output shape, dtype and values as torch's; then, where
    torch's output is finite and has a gradient, the parameters' gradients of its sum against a
    fixed cotangent."""
    dist, leaves, out = evaluate(fibril, build, params, value, method)
    ref_dist, ref_leaves, ref = evaluate(torch, build, params, value, method)
    assert tuple(dist.batch_shape) == tuple(ref_dist.batch_shape), method
    assert tuple(dist.event_shape) == tuple(ref_dist.event_shape), method
    assert tuple(out.shape) == tuple(ref.shape), method
    assert out.dtype.name == str(ref.dtype).replace("torch.", ""), method
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=rtol, atol=1e-12, err_msg=method)
    if not out.dtype.is_floating_point or not ref.requires_grad or not np.all(np.isfinite(ref.detach().numpy())):
        return
    cot = np.random.default_rng(1).standard_normal(tuple(ref.shape))
    (ref * torch.tensor(cot)).sum().backward()
    (out * fibril.tensor(cot)).sum().backward()
    for x, t in zip(leaves, ref_leaves):
        got = np.zeros(x.shape) if x.grad is None else x.grad.numpy()
        expected = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
        np.testing.assert_allclose(got, expected, rtol=grad_rtol, atol=1e-10, err_msg=f"{method} grad")


def check_kl_matches_torch(build, params):
    """kl_divergence(*build(lib, *params)) as torch's, and the parameters' gradients of its finite
    elements weighted 1, 2, 3, ..."""
    results = []
    for lib in (fibril, torch):
        leaves = grad_leaves(lib, params)
        kl = lib.distributions.kl_divergence(*build(lib, *leaves))
        finite = np.isfinite(kl.detach().numpy())
        (kl * lib.tensor(np.where(finite, 1.0 + np.arange(finite.size).reshape(finite.shape), 0.0))).sum().backward()
        results.append((kl.detach().numpy(), _grads(leaves)))
    (kl, grads), (ref, ref_grads) = results
    assert kl.shape == ref.shape
    np.testing.assert_allclose(kl, ref, rtol=1e-10, atol=1e-12)
    for got, expected in zip(grads, ref_grads):  # torch's trigamma (digamma's gradient) is good to ~5e-10
        np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10)


def samples_like_torch(build, n):
    """(x, ref, ref_x): n samples of build(fibril) as float64 numpy, torch's distribution and n of its
    samples as numpy, each library seeded with 0; fibril's shape and dtype are torch's, and x lies
    in both supports."""
    fibril.manual_seed(0)
    torch.manual_seed(0)
    dist, ref = build(fibril), build(torch)
    samples, ref_samples = dist.sample((n,)), ref.sample((n,))
    assert tuple(samples.shape) == (n,) + tuple(ref.batch_shape) + tuple(ref.event_shape)
    assert samples.dtype.name == str(ref_samples.dtype).replace("torch.", "")
    x = samples.numpy().astype(np.float64)
    assert bool(ref.support.check(torch.tensor(x)).all())
    assert bool(dist.support.check(fibril.tensor(x)).all())
    return x, ref, ref_samples.numpy()


def check_expand_matches_torch(fn, shape, entropy=True):
    """fn(lib).expand(shape): its class, shapes, log_prob of a torch sample, sample shape and (with
    entropy) entropy shape as torch's."""
    dist, ref = fn(fibril).expand(shape), fn(torch).expand(shape)
    assert type(dist).__name__ == type(ref).__name__
    assert (tuple(dist.batch_shape), tuple(dist.event_shape)) == (tuple(ref.batch_shape), tuple(ref.event_shape))
    ref_value = ref.sample()
    np.testing.assert_allclose(dist.log_prob(fibril.tensor(ref_value.numpy())).numpy(),
                               ref.log_prob(ref_value).numpy(), rtol=1e-5)
    assert tuple(dist.sample((2,)).shape) == tuple(ref.sample((2,)).shape)
    if entropy:
        assert tuple(dist.entropy().shape) == tuple(ref.entropy().shape)


def _validation_message(fn, lib):
    with pytest.raises(ValueError) as info:
        fn(lib)
    return str(info.value).replace("torch.", "fibril.")


def check_validation_error_matches_torch(fn):
    """fn(lib) raises a ValueError, with torch's message (its names read fibril.)."""
    assert _validation_message(fn, fibril) == _validation_message(fn, torch)


def check_reprs_and_flags_match_torch(fn):
    """fn(lib)'s repr, support, arg_constraints, has_rsample, has_enumerate_support and the
    support's is_discrete and event_dim as torch's."""
    dist, ref = fn(fibril), fn(torch)
    assert repr(dist) == repr(ref).replace("torch.", "fibril.")
    assert repr(dist.support) == repr(ref.support).replace("torch.", "fibril.")
    assert {k: repr(v) for k, v in dist.arg_constraints.items()} == {k: repr(v).replace("torch.", "fibril.")
                                                                    for k, v in ref.arg_constraints.items()}
    assert (dist.has_rsample, dist.has_enumerate_support) == (ref.has_rsample, ref.has_enumerate_support)
    assert (dist.support.is_discrete, dist.support.event_dim) == (ref.support.is_discrete, ref.support.event_dim)
