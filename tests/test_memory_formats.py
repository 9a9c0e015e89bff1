"""Memory formats against torch: channels_last(_3d) strides from contiguous(), to(), clone()
and Module.to(), is_contiguous(memory_format=), gradients through the relayout, results of
ops on channels-last inputs unchanged; non_blocking accepted by to() and cuda()."""

import numpy as np
import pytest

import fibril
import fibril.nn.functional as F

torch = pytest.importorskip("torch")

FORMATS = [("channels_last", 4), ("channels_last_3d", 5), ("contiguous_format", 4)]


def _pair(shape, requires_grad=False):
    x = np.random.default_rng(0).standard_normal(shape)
    return fibril.tensor(x, requires_grad=requires_grad), torch.tensor(x, requires_grad=requires_grad)


@pytest.mark.parametrize("name,ndim", FORMATS)
def test_contiguous_in_a_format_has_torchs_strides(name, ndim):
    ours, theirs = _pair((2, 3, 4, 5, 6)[:ndim])
    fmt, tfmt = getattr(fibril, name), getattr(torch, name)
    for a, b in ((ours.contiguous(memory_format=fmt), theirs.contiguous(memory_format=tfmt)),
                 (ours.to(memory_format=fmt), theirs.to(memory_format=tfmt)),
                 (ours.clone(memory_format=fmt), theirs.clone(memory_format=tfmt))):
        assert a.stride() == b.stride()
        assert a.is_contiguous(memory_format=fmt) == b.is_contiguous(memory_format=tfmt)
        assert a.is_contiguous() == b.is_contiguous()
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_clone_preserves_a_channels_last_layout():
    ours, theirs = _pair((2, 3, 4, 5))
    a = ours.contiguous(memory_format=fibril.channels_last).clone()
    b = theirs.contiguous(memory_format=torch.channels_last).clone()
    assert a.stride() == b.stride()
    assert fibril.clone(a, memory_format=fibril.contiguous_format).is_contiguous()


def test_wrong_rank_and_preserve_format_errors_match_torch():
    ours, theirs = _pair((2, 3, 4))
    with pytest.raises(RuntimeError):
        theirs.contiguous(memory_format=torch.channels_last)
    with pytest.raises(RuntimeError):
        ours.contiguous(memory_format=fibril.channels_last)
    with pytest.raises(RuntimeError):
        ours.contiguous(memory_format=fibril.preserve_format)


def test_gradients_flow_through_the_relayout():
    ours, theirs = _pair((2, 3, 4, 5), requires_grad=True)
    w = np.random.default_rng(1).standard_normal((4, 3, 3, 3))
    (F.conv2d(ours.contiguous(memory_format=fibril.channels_last), fibril.tensor(w)) ** 2).sum().backward()
    (torch.nn.functional.conv2d(theirs.contiguous(memory_format=torch.channels_last), torch.tensor(w)) ** 2
     ).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10)


def test_module_to_channels_last_keeps_outputs_and_parameter_identity():
    torch.manual_seed(0)
    theirs, ours = (lib.nn.Sequential(lib.nn.Conv2d(3, 4, 3), lib.nn.BatchNorm2d(4), lib.nn.Flatten(),
                                      lib.nn.Linear(32, 2)).double() for lib in (torch, fibril))
    ours.load_state_dict(theirs.state_dict())
    weight = ours[0].weight
    ours.to(memory_format=fibril.channels_last)
    theirs.to(memory_format=torch.channels_last)
    assert ours[0].weight is weight and weight.stride() == theirs[0].weight.stride()
    assert ours[3].weight.stride() == theirs[3].weight.stride()  # 2-D: untouched
    x, xt = _pair((2, 3, 6, 4))
    np.testing.assert_allclose(ours(x.to(memory_format=fibril.channels_last)).detach().numpy(),
                               theirs(xt.to(memory_format=torch.channels_last)).detach().numpy(), rtol=1e-10)


def test_to_accepts_non_blocking_and_layout_is_strided():
    x = fibril.ones(2, 3)
    assert x.to("cpu", non_blocking=True) is x
    assert x.to(fibril.float64, non_blocking=True).dtype == fibril.float64
    assert x.layout is fibril.strided and x.get_device() == -1
    assert not fibril.is_complex(x)
