"""fibril.nn.init's eye_, dirac_, sparse_ and deprecated aliases, and fibril.nn.utils'
convert_conv{2,3}d_weight_memory_format and deprecated clip_grad_norm, against torch."""

import math
import warnings

import numpy as np
import pytest

import fibril
from fibril import nn
from fibril.nn import init

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")


@needs_torch
@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4), (0, 3)])
def test_eye_matches_torch(shape):
    w = fibril.empty(*shape, dtype=fibril.float64, requires_grad=True)
    out = init.eye_(w)
    assert out is w and w.requires_grad
    np.testing.assert_array_equal(w.detach().numpy(), torch.nn.init.eye_(torch.empty(*shape)).numpy())


@needs_torch
@pytest.mark.parametrize("shape", [(4,), (2, 3, 4), (2, 2, 2, 2)])
def test_eye_rejects_non_2d_as_torch(shape):
    with pytest.raises(ValueError) as theirs:
        torch.nn.init.eye_(torch.empty(*shape))
    with pytest.raises(ValueError, match=str(theirs.value)):
        init.eye_(fibril.empty(*shape))


@needs_torch
@pytest.mark.parametrize("shape,groups", [((4, 3, 5), 1), ((6, 4, 3, 3), 2), ((3, 16, 5, 5), 1),
                                          ((6, 2, 3, 4, 5), 3), ((4, 4, 2, 2), 4), ((2, 5, 3), 2)])
def test_dirac_matches_torch(shape, groups):
    w = fibril.empty(*shape, dtype=fibril.float64, requires_grad=True)
    assert init.dirac_(w, groups) is w
    ref = torch.nn.init.dirac_(torch.empty(*shape, dtype=torch.float64), groups)
    np.testing.assert_array_equal(w.detach().numpy(), ref.numpy())


@needs_torch
@pytest.mark.parametrize("shape,groups", [((3, 3), 1), ((2, 2, 2, 2, 2, 2), 1), ((5, 3, 3), 2)])
def test_dirac_errors_as_torch(shape, groups):
    with pytest.raises(ValueError) as theirs:
        torch.nn.init.dirac_(torch.empty(*shape), groups)
    with pytest.raises(ValueError, match=str(theirs.value)):
        init.dirac_(fibril.empty(*shape), groups)


def test_sparse_zeros_per_column_and_std():
    fibril.manual_seed(0)
    w = fibril.empty(200, 50, dtype=fibril.float64, requires_grad=True)
    assert init.sparse_(w, 0.1, std=0.5) is w
    values = w.detach().numpy()
    assert ((values == 0).sum(axis=0) == math.ceil(0.1 * 200)).all()
    assert values[values != 0].std() == pytest.approx(0.5, rel=0.05)
    g = fibril.Generator().manual_seed(3)
    a = init.sparse_(fibril.empty(10, 4), 0.35, generator=g).numpy()
    g.manual_seed(3)
    b = init.sparse_(fibril.empty(10, 4), 0.35, generator=g).numpy()
    np.testing.assert_array_equal(a, b)
    assert ((a == 0).sum(axis=0) == 4).all()


@needs_torch
def test_sparse_rejects_non_2d_as_torch():
    with pytest.raises(ValueError) as theirs:
        torch.nn.init.sparse_(torch.empty(2, 3, 4), 0.1)
    with pytest.raises(ValueError, match=str(theirs.value)):
        init.sparse_(fibril.empty(2, 3, 4), 0.1)


@needs_torch
@pytest.mark.parametrize("name,args", [("uniform", ()), ("normal", ()), ("constant", (0.5,)), ("xavier_uniform", ()),
                                       ("xavier_normal", ()), ("kaiming_uniform", ()), ("kaiming_normal", ()),
                                       ("orthogonal", ()), ("sparse", (0.2,))])
def test_deprecated_aliases_warn_as_torch(name, args):
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        getattr(torch.nn.init, name)(torch.empty(4, 5), *args)
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        w = fibril.empty(4, 5)
        assert getattr(init, name)(w, *args) is w
    assert [(w.category, str(w.message)) for w in ours] == [(w.category, str(w.message)) for w in theirs]
    assert ours[0].filename == __file__  # stacklevel points at the caller
    assert getattr(init, name).__name__ == name


def test_constant_alias_fills():
    with pytest.warns(FutureWarning, match="nn.init.constant_"):
        w = init.constant(fibril.empty(2, 3), 1.5)
    np.testing.assert_array_equal(w.numpy(), np.full((2, 3), 1.5, dtype=np.float32))


# ------------------------------------------------------------------------------ nn.utils
def _model():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.ConvTranspose2d(4, 2, 3), nn.Linear(2, 2)),
                         nn.Conv3d(2, 2, 3), nn.ConvTranspose3d(2, 2, 3))


def test_convert_conv2d_weight_memory_format():
    m = _model()
    before = [p for p in m.parameters()]
    values = [p.detach().numpy().copy() for p in before]
    assert nn.utils.convert_conv2d_weight_memory_format(m, fibril.channels_last) is m
    after = list(m.parameters())
    assert all(a is b for a, b in zip(before, after))  # the same Parameter objects
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in after)
    for p, v in zip(after, values):
        np.testing.assert_array_equal(p.detach().numpy(), v)
    assert m[0].weight.is_contiguous(memory_format=fibril.channels_last)
    assert m[1][0].weight.is_contiguous(memory_format=fibril.channels_last)
    assert m[2].weight.is_contiguous() and m[3].weight.is_contiguous()  # 3-d convs untouched
    nn.utils.convert_conv2d_weight_memory_format(m, fibril.contiguous_format)
    assert m[0].weight.is_contiguous()


def test_convert_conv3d_weight_memory_format():
    m = _model()
    assert nn.utils.convert_conv3d_weight_memory_format(m, fibril.channels_last_3d) is m
    assert m[2].weight.is_contiguous(memory_format=fibril.channels_last_3d)
    assert m[3].weight.is_contiguous(memory_format=fibril.channels_last_3d)
    assert m[0].weight.is_contiguous()
    x = fibril.randn(1, 2, 5, 5, 5)
    y = m[3](m[2](x))
    y.sum().backward()
    assert m[2].weight.grad is not None and tuple(m[2].weight.grad.shape) == tuple(m[2].weight.shape)


@needs_torch
def test_clip_grad_norm_deprecated_alias():
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        p = torch.nn.Parameter(torch.ones(3))
        p.grad = torch.full((3,), 2.0)
        ref = torch.nn.utils.clip_grad_norm([p], 1.0)
    q = nn.Parameter(fibril.ones(3))
    q.grad = fibril.full((3,), 2.0)
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        total = nn.utils.clip_grad_norm([q], 1.0)
    assert [(w.category, str(w.message)) for w in ours] == [(w.category, str(w.message)) for w in theirs]
    assert total.item() == pytest.approx(ref.item())
    np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-6)
