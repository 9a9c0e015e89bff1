"""max_unpool1d/2d/3d against PyTorch: values at torch's pooling indices, output_size (with
and without the batch and channel sizes), padding, overlapping windows (repeated indices),
unbatched input, gradients and gradcheck; the MaxUnpool modules and bad input."""

import numpy as np
import pytest

import fibril
from fibril.nn.pooling import MaxUnpool1d, MaxUnpool3d
from fibril.ops.pool3d import max_pool3d
from fibril.ops.unpool import max_unpool1d, max_unpool2d, max_unpool3d
from op_check import check_op, torch_one_thread  # noqa: F401 (an autouse fixture)

torch = pytest.importorskip("torch")
TF = torch.nn.functional

UNPOOL = {1: max_unpool1d, 2: max_unpool2d, 3: max_unpool3d}

CASES = [  # dims, input shape, pooling options, unpooling output_size
    (1, (2, 3, 9), dict(kernel_size=2), None),
    (1, (3, 10), dict(kernel_size=3, stride=2, padding=1), [10]),  # unbatched
    (2, (2, 3, 7, 8), dict(kernel_size=2), [7, 8]),
    (2, (2, 2, 9, 7), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)), None),
    (2, (2, 2, 6, 6), dict(kernel_size=3, stride=1, padding=1), [2, 2, 6, 6]),  # overlapping windows
    (3, (2, 2, 5, 6, 7), dict(kernel_size=2), [2, 2, 5, 6, 7]),
    (3, (2, 5, 6, 4), dict(kernel_size=(3, 2, 2), stride=(2, 2, 1), padding=(1, 0, 1)), None),  # unbatched
]


def _pooled(dims, shape, kw, seed=0):
    """torch's max-pooled values and indices of a random input, as numpy."""
    x = torch.tensor(np.random.default_rng(seed).standard_normal(shape))
    y, indices = getattr(TF, f"max_pool{dims}d")(x, return_indices=True, **kw)
    return y.numpy(), indices.numpy()


@pytest.mark.parametrize("dims,shape,kw,output_size", CASES)
def test_max_unpool_matches_torch(dims, shape, kw, output_size):
    y, indices = _pooled(dims, shape, kw)
    args = dict(kernel_size=kw["kernel_size"], stride=kw.get("stride"), padding=kw.get("padding", 0),
                output_size=output_size)
    fi, ti = fibril.tensor(indices), torch.tensor(indices)
    planes = indices.reshape(-1, int(np.prod(indices.shape[-dims:])))
    repeats = any(len(np.unique(plane)) < len(plane) for plane in planes)  # no true derivative then
    check_op(lambda t: UNPOOL[dims](t, fi, **args), lambda t: getattr(TF, f"max_unpool{dims}d")(t, ti, **args), [y],
             gradcheck=not repeats)


def test_repeated_indices_write_the_last_and_read_every_gradient():
    """With overlapping windows one position is several windows' maximum: the forward keeps the
    last written, and each of them gets that position's gradient, as torch."""
    y = np.random.default_rng(1).standard_normal((1, 2, 6))
    indices = np.array([[[0, 0, 1, 3, 3, 3], [5, 4, 4, 2, 0, 5]]])
    fi, ti = fibril.tensor(indices), torch.tensor(indices)
    check_op(lambda t: max_unpool1d(t, fi, 2, 1), lambda t: TF.max_unpool1d(t, ti, 2, 1), [y], gradcheck=False)


def test_round_trip_restores_the_maxima():
    x = fibril.tensor(np.random.default_rng(2).standard_normal((2, 3, 4, 6, 6)))
    y, indices = max_pool3d(x, 2, return_indices=True)
    restored = max_unpool3d(y, indices, 2).numpy()
    mask = restored != 0
    np.testing.assert_array_equal(restored[mask], x.numpy()[mask])
    assert mask.sum() == y.numel()


def test_modules_match_torch():
    for make, dims in ((lambda m: m.MaxUnpool1d(2), 1), (lambda m: m.MaxUnpool2d(3, 2, 1), 2),
                       (lambda m: m.MaxUnpool2d((2, 3)), 2), (lambda m: m.MaxUnpool3d(2, stride=(2, 1, 2)), 3)):
        fm, tm = make(fibril.nn.pooling), make(torch.nn)
        assert repr(fm) == repr(tm)
        shape = (2, 3) + (7,) * dims
        y, indices = _pooled(dims, shape, dict(kernel_size=tm.kernel_size, stride=tm.stride, padding=tm.padding))
        out = fm(fibril.tensor(y), fibril.tensor(indices), output_size=shape)
        expected = tm(torch.tensor(y), torch.tensor(indices), output_size=shape)
        np.testing.assert_array_equal(out.numpy(), expected.numpy())
    assert MaxUnpool1d(2).stride == (2,) and MaxUnpool3d(2).padding == (0, 0, 0)


@pytest.mark.parametrize("call,error,match", [
    (lambda y, i: max_unpool2d(y, i, 2, output_size=[5]), ValueError, "2 or 4 elements"),
    (lambda y, i: max_unpool2d(y, i, 2, output_size=[8, 10]), ValueError, "dim 1 must be between 6 and 10"),
    (lambda y, i: max_unpool2d(y, i, 2, output_size=[1, 2, 8, 11]), ValueError, r"invalid output_size \"\[8, 11\]\""),
    (lambda y, i: max_unpool2d(y, i + 64, 2), IndexError, r"invalid max index \d+ .*8x8"),
    (lambda y, i: max_unpool2d(y, i - 100, 2), IndexError, "invalid max index -"),
    (lambda y, i: max_unpool2d(y, i.int(), 2), TypeError, "int64"),
    (lambda y, i: max_unpool2d(y, i[0], 2), ValueError, "indices of the input's shape"),
    (lambda y, i: max_unpool2d(y[0, 0, 0], i[0, 0, 0], 2), ValueError, "3-D"),
    (lambda y, i: max_unpool2d(y[:, :0], i[:, :0], 2), ValueError, "non-empty"),
    (lambda y, i: max_unpool2d(y, i, 2, stride=0), ValueError, "positive"),
    (lambda y, i: max_unpool2d(y.numpy(), i, 2), TypeError, "Tensors"),
])
def test_bad_input(call, error, match):
    y, indices = _pooled(2, (1, 2, 8, 8), dict(kernel_size=2))
    with pytest.raises(error, match=match):
        call(fibril.tensor(y), fibril.tensor(indices))
