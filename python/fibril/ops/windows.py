"""Window functions (torch's hann_window, hamming_window, blackman_window, bartlett_window,
kaiser_window). A periodic window of length N is the symmetric one of length N + 1 without its
last value, the form spectral analysis wants; values are computed in float64 and then cast."""

import numpy as np

from ..creation import _dtype, get_default_dtype, tensor


def _window(name, symmetric, window_length, periodic, dtype, device, requires_grad):
    if window_length < 0:
        raise ValueError(f"{name} requires non-negative window length, got window_length={window_length}")
    dtype = _dtype(dtype) or get_default_dtype()
    if not dtype.is_floating_point:
        raise TypeError(f"{name} expects floating point dtypes, got: {dtype.name}")
    if window_length <= 1:
        values = np.ones(window_length)
    else:
        values = symmetric(window_length + 1)[:-1] if periodic else symmetric(window_length)
    return tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)


def _cosine_sum(*coeffs):
    """The symmetric window sum_k (-1)^k coeffs[k] cos(2 pi k n / (N - 1))."""
    def symmetric(n):
        phase = 2 * np.pi * np.arange(n) / (n - 1)
        return sum((-1) ** k * c * np.cos(k * phase) for k, c in enumerate(coeffs))
    return symmetric


def hann_window(window_length, periodic=True, *, dtype=None, device=None, requires_grad=False):
    return _window("hann_window", _cosine_sum(0.5, 0.5), window_length, periodic, dtype, device, requires_grad)


def hamming_window(window_length, periodic=True, alpha=0.54, beta=0.46, *, dtype=None, device=None,
                   requires_grad=False):
    return _window("hamming_window", _cosine_sum(alpha, beta), window_length, periodic, dtype, device,
                   requires_grad)


def blackman_window(window_length, periodic=True, *, dtype=None, device=None, requires_grad=False):
    return _window("blackman_window", _cosine_sum(0.42, 0.5, 0.08), window_length, periodic, dtype, device,
                   requires_grad)


def bartlett_window(window_length, periodic=True, *, dtype=None, device=None, requires_grad=False):
    def symmetric(n):
        return 1 - np.abs(2 * np.arange(n) / (n - 1) - 1)
    return _window("bartlett_window", symmetric, window_length, periodic, dtype, device, requires_grad)


def kaiser_window(window_length, periodic=True, beta=12.0, *, dtype=None, device=None, requires_grad=False):
    return _window("kaiser_window", lambda n: np.kaiser(n, beta), window_length, periodic, dtype, device,
                   requires_grad)
