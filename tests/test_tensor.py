"""Tensor: creation and dtype inference, attributes, conversions, repr, views and basic
indexing with their gradients; PyTorch parity where torch imports."""

import numpy as np
import pytest

import fibril
from op_check import overflow_raises

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")


@pytest.mark.parametrize("data, dtype", [
    ([1.5, 2], fibril.float32), ([1, 2], fibril.int64), ([True, False], fibril.bool), (3.0, fibril.float32),
    (7, fibril.int64), (np.arange(3, dtype=np.float64), fibril.float64), (np.arange(3, dtype=np.int32), fibril.int32),
    (np.zeros(2, np.uint8), fibril.uint8), ([[1, 2], [3, 4]], fibril.int64), (np.float64(2.5), fibril.float64),
])
def test_tensor_infers_dtype_like_torch(data, dtype):
    t = fibril.tensor(data)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), np.asarray(data))
    if torch is not None:
        assert str(torch.tensor(data).dtype).replace("torch.", "") == dtype.name


def test_tensor_copies_and_as_tensor_shares():
    x = np.arange(4.0)
    assert not np.shares_memory(fibril.tensor(x).numpy(), x)
    assert np.shares_memory(fibril.as_tensor(x).numpy(), x)
    assert np.shares_memory(fibril.from_numpy(x).numpy(), x)
    assert fibril.tensor([1, 2], dtype=fibril.float64).dtype == fibril.float64
    assert fibril.tensor([1, 2], dtype="float32").dtype == fibril.float32


def test_as_tensor_of_a_tensor_returns_it_or_converts_it_on_the_graph():
    x = fibril.ones(3, requires_grad=True)
    assert fibril.as_tensor(x) is x and fibril.as_tensor(x, dtype=fibril.float32, device="cpu") is x
    y = fibril.as_tensor(x * 2, dtype=fibril.float64)  # as x.to(float64): recorded, as torch's
    assert y.dtype == fibril.float64 and y.requires_grad
    y.sum().backward()
    assert x.grad.numpy().tolist() == [2.0] * 3


def test_tensor_rejects_ragged_and_unsupported_data():
    with pytest.raises((TypeError, ValueError)):
        fibril.tensor([[1, 2], [3]])
    with pytest.raises(TypeError, match="complex64"):
        fibril.tensor(np.zeros(2, np.complex64))


def test_factories():
    assert fibril.zeros(2, 3).shape == (2, 3) and fibril.zeros((2, 3)).dtype == fibril.float32
    np.testing.assert_array_equal(fibril.ones(2, dtype=fibril.int32).numpy(), [1, 1])
    assert fibril.full((2,), 3).dtype == fibril.int64
    assert fibril.full((2,), 3.0).dtype == fibril.float32
    assert fibril.full((2,), True).dtype == fibril.bool
    assert fibril.empty(0, 4).numel() == 0
    np.testing.assert_array_equal(fibril.eye(2, 3).numpy(), np.eye(2, 3))
    like = fibril.ones(2, 2, dtype=fibril.float64)
    assert fibril.zeros_like(like).dtype == fibril.float64
    assert fibril.full_like(like, 7, dtype=fibril.int64).numpy().tolist() == [[7, 7], [7, 7]]
    assert fibril.ones(3, requires_grad=True).requires_grad


@pytest.mark.parametrize("args, kwargs", [
    ((5,), {}), ((2, 9, 3), {}), ((0, 1, 0.1), {}), ((1.0, -1.0, -0.25), {}), ((3,), {"dtype": fibril.float64}),
    ((-5, 5, 2), {}), ((0, 0), {}),
])
def test_arange_matches_torch(args, kwargs):
    got = fibril.arange(*args, **kwargs)
    expected = np.arange(*args)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)
    if torch is not None:
        tkw = {"dtype": torch.float64} if kwargs else {}
        ref = torch.arange(*args, **tkw)
        assert str(ref.dtype).replace("torch.", "") == got.dtype.name
        np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-6)


@pytest.mark.parametrize("args, expected", [
    ((0, 2.5, 1), [0, 1]), ((0.5, 3, 1), [0, 1, 2]), ((2.5, 0, -1.5), [2, 1]), ((-0.5, 2, 1), [0, 1]),
    ((0, 3, 1.5), [0, 1, 2]), ((5.7,), [0, 1, 2, 3, 4]), ((0, 1, 0.25), None), ((1, 2.5, 0.5), None),
])
def test_arange_with_an_integer_dtype_truncates_bounds_and_step_like_torch(args, expected):
    if expected is None:  # the step truncates to 0
        with pytest.raises(ValueError, match="step must be nonzero"):
            fibril.arange(*args, dtype=fibril.int64)
    else:
        got = fibril.arange(*args, dtype=fibril.int64)
        assert got.dtype == fibril.int64 and got.tolist() == expected
    if torch is not None:
        if expected is None:
            with pytest.raises((ValueError, RuntimeError), match="step must be nonzero"):
                torch.arange(*args, dtype=torch.int64)
        else:
            assert torch.arange(*args, dtype=torch.int64).tolist() == expected


def test_arange_and_linspace_errors():
    with pytest.raises(ValueError, match="nonzero"):
        fibril.arange(0, 5, 0)
    with pytest.raises(ValueError, match="inconsistent"):
        fibril.arange(5, 0, 1)
    with pytest.raises(ValueError, match="non-negative"):
        fibril.linspace(0, 1, -1)


def test_linspace():
    np.testing.assert_allclose(fibril.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5))
    assert fibril.linspace(0, 1, 0).numel() == 0


def test_attributes_and_conversions():
    t = fibril.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.shape == fibril.Size([2, 3]) and repr(t.shape) == "fibril.Size([2, 3])"
    assert t.size() == (2, 3) and t.size(-1) == 3 and t.dim() == t.ndim == 2 and t.numel() == 6
    assert t.stride() == (3, 1) and t.stride(0) == 3 and t.is_contiguous() and t.element_size() == 4
    assert t.device == "cpu" and not t.is_cuda and t.is_floating_point() and t.is_leaf
    assert t.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert t[1, 2].item() == 6.0 and float(t[0, 0]) == 1.0 and int(t[1, 1]) == 5
    assert len(t) == 2 and [r.tolist() for r in t] == t.tolist()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(t)
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        t.item()
    with pytest.raises(IndexError, match="Dimension out of range"):
        t.size(2)
    assert fibril.tensor(3).__index__() == 3
    with pytest.raises(TypeError):
        fibril.tensor(3.5).__index__()


@pytest.mark.parametrize("lib", [fibril] + ([torch] if torch is not None else []), ids=lambda m: m.__name__)
def test_new_factories_take_dtype_and_device_from_self(lib):
    t = lib.tensor([1.5], dtype=lib.float64)
    assert t.new_tensor([1, 2]).dtype == lib.float64 and t.new_tensor([1, 2]).tolist() == [1.0, 2.0]
    assert t.new_zeros(2, 3).shape == (2, 3) and t.new_zeros((2, 3)).tolist() == [[0.0] * 3] * 2
    assert t.new_ones([2]).tolist() == [1.0, 1.0] and t.new_ones(2).dtype == lib.float64
    assert t.new_full((2,), 3).tolist() == [3.0, 3.0] and t.new_full((2,), 3).dtype == lib.float64
    assert t.new_empty(2, 0).shape == (2, 0) and t.new_empty((1,)).dtype == lib.float64
    i = lib.tensor([1, 2])
    assert i.new_tensor([1.5]).tolist() == [1] and i.new_full((2,), 3.7).tolist() == [3, 3]
    assert i.new_zeros(2, dtype=lib.float64).dtype == lib.float64
    assert t.new_zeros(2, requires_grad=True).requires_grad and t.new_tensor([1.0]).device == t.device
    assert not t.requires_grad_().new_tensor([1.0]).requires_grad


def test_softmax_and_log_softmax_methods():
    a = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]])
    x = fibril.tensor(a)
    e = np.exp(a - a.max(1, keepdims=True))
    np.testing.assert_allclose(x.softmax(1).numpy(), e / e.sum(1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(x.log_softmax(dim=-1).numpy(), np.log(e / e.sum(1, keepdims=True)), rtol=1e-12)
    np.testing.assert_array_equal(x.softmax(0).numpy(), fibril.softmax(x, 0).numpy())
    assert fibril.tensor(a, dtype=fibril.float32).log_softmax(1, dtype=fibril.float64).dtype == fibril.float64


@pytest.mark.parametrize("method, dtype", [("float", "float32"), ("double", "float64"), ("long", "int64"),
                                           ("int", "int32"), ("byte", "uint8"), ("bool", "bool")])
def test_dtype_conversions(method, dtype):
    t = fibril.tensor([0.0, 1.5, 2.0])
    out = getattr(t, method)()
    assert out.dtype.name == dtype
    np.testing.assert_array_equal(out.numpy(), np.array([0.0, 1.5, 2.0]).astype(dtype))
    assert t.to(fibril.float32) is t


def test_cast_gradient_flows_between_float_types():
    x = fibril.tensor(np.arange(3.0), requires_grad=True)
    y = x.float()
    assert y.dtype == fibril.float32 and y.requires_grad
    y.backward(fibril.ones(3))
    assert x.grad.dtype == fibril.float64
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(3))


@needs_torch
@pytest.mark.parametrize("make", [
    lambda m: m.tensor([1.0, 2.5, -3.0]), lambda m: m.tensor([[1, 2], [3, 4]]), lambda m: m.tensor(2.0),
    lambda m: m.tensor([True, False]), lambda m: m.tensor([0.1, 0.25], dtype=m.float64),
    lambda m: m.zeros(2, 0), lambda m: m.tensor([1.0, 2.0], requires_grad=True), lambda m: m.tensor([1, 2], dtype=m.int32),
    lambda m: m.tensor([1e-5, 1.0]), lambda m: m.tensor([[0.5, 1.5], [2.0, 3.0]]),
])
def test_repr_matches_torch(make):
    assert repr(make(fibril)) == repr(make(torch)).replace("torch.", "fibril.")


def test_numpy_is_zero_copy_and_guarded():
    t = fibril.zeros(3)
    t.numpy()[1] = 5
    assert t.tolist() == [0.0, 5.0, 0.0]
    with pytest.raises(RuntimeError, match="requires grad"):
        fibril.zeros(2, requires_grad=True).numpy()


# ----------------------------------------------------------------------------- views
def x64(*shape):
    return fibril.tensor(np.random.default_rng(1).standard_normal(shape), requires_grad=True)


VIEWS = {
    "reshape": (lambda t: t.reshape(6, 4), lambda a: a.reshape(6, 4)),
    "view -1": (lambda t: t.view(-1, 2), lambda a: a.reshape(-1, 2)),
    "transpose": (lambda t: t.transpose(0, 2), lambda a: a.transpose(2, 1, 0)),
    "permute": (lambda t: t.permute(1, 2, 0), lambda a: a.transpose(1, 2, 0)),
    "T": (lambda t: t.T, lambda a: a.T),
    "mT": (lambda t: t.mT, lambda a: np.swapaxes(a, -1, -2)),
    "unsqueeze": (lambda t: t.unsqueeze(1), lambda a: a[:, None]),
    "squeeze": (lambda t: t[:, :1].squeeze(1), lambda a: a[:, 0]),
    "flatten": (lambda t: t.flatten(1), lambda a: a.reshape(2, 12)),
    "unflatten": (lambda t: t.unflatten(2, (2, 2)), lambda a: a.reshape(2, 3, 2, 2)),
    "narrow": (lambda t: t.narrow(1, 1, 2), lambda a: a[:, 1:3]),
    "movedim": (lambda t: t.movedim(0, -1), lambda a: np.moveaxis(a, 0, -1)),
    "getitem int": (lambda t: t[1], lambda a: a[1]),
    "getitem mixed": (lambda t: t[-1, ::2, None, 1:], lambda a: a[-1, ::2, None, 1:]),
    "getitem ellipsis": (lambda t: t[..., 0], lambda a: a[..., 0]),
    "getitem steps": (lambda t: t[:, 1::2, ::3], lambda a: a[:, 1::2, ::3]),
    "transpose then reshape (copies)": (lambda t: t.transpose(0, 1).reshape(-1), lambda a: a.transpose(1, 0, 2).reshape(-1)),
}


@pytest.mark.parametrize("name", list(VIEWS))
def test_views_match_numpy_and_gradcheck(name):
    op, ref = VIEWS[name]
    x = x64(2, 3, 4)
    out = op(x)
    np.testing.assert_array_equal(out.detach().numpy(), ref(x.detach().numpy()))
    assert fibril.testing.gradcheck(op, [x])


def test_views_share_memory_and_contiguous_copies():
    x = fibril.zeros(4, 6)
    v = x[1:3].transpose(0, 1)
    assert v.data_ptr() != 0 and np.shares_memory(v.numpy(), x.numpy())
    c = v.contiguous()
    assert c.is_contiguous() and not np.shares_memory(c.numpy(), x.numpy())
    assert x.contiguous() is x


def test_view_of_non_viewable_layout_raises():
    with pytest.raises(RuntimeError, match="reshape"):
        fibril.zeros(3, 4).T.view(12)


@pytest.mark.parametrize("index, exc", [
    ((5,), IndexError), ((0, 0, 0), IndexError), ((..., ...), IndexError), ((slice(None, None, -1),), ValueError),
    (("a",), TypeError),
])
def test_bad_indices(index, exc):
    with pytest.raises(exc):
        fibril.zeros(3, 4)[index]


@needs_torch
@pytest.mark.parametrize("make", [lambda m: m.tensor(1), lambda m: m.tensor(-1, dtype=m.int32),
                                  lambda m: np.array(1), lambda m: torch.tensor(1)],
                         ids=["int64", "int32", "numpy", "torch"])
def test_0d_integer_index_is_an_int(make):
    """A 0-d integer tensor or array indexes as an int does (torch): a select, so a view, whose
    dim does not join the advanced indices' ones."""
    a = np.arange(120.0).reshape(2, 3, 4, 5)
    x, t = fibril.tensor(a), torch.tensor(a)
    assert tuple(x[:, make(fibril), :, [0, 1]].shape) == tuple(t[:, make(torch), :, [0, 1]].shape)
    x[make(fibril)].fill_(-1.0)
    t[make(torch)].fill_(-1.0)
    x[make(fibril), 0] = -2.0
    t[make(torch), 0] = -2.0
    np.testing.assert_array_equal(x.numpy(), t.numpy())


@needs_torch
def test_0d_bool_and_uint8_indices_stay_masks_and_torch_tensors_index():
    x, t = fibril.zeros(2, 3), torch.zeros(2, 3)
    for value, dtype in [(True, "bool"), (False, "bool"), (1, "uint8"), (0, "uint8")]:
        got = x[fibril.tensor(value, dtype=getattr(fibril, dtype))]
        assert tuple(got.shape) == tuple(t[torch.tensor(value, dtype=getattr(torch, dtype))].shape)
    assert tuple(x[torch.tensor([1, 0])].shape) == (2, 3)


@pytest.mark.parametrize("lib", ["fibril", pytest.param("torch", marks=needs_torch)])
@pytest.mark.parametrize("index", [Ellipsis, ()], ids=["ellipsis", "empty"])
def test_ellipsis_and_empty_index_give_a_new_view(lib, index):
    m = fibril if lib == "fibril" else torch
    x = m.ones(2, 3)
    v = x[index]
    assert v is not x and v.data_ptr() == x.data_ptr()
    v.unsqueeze_(0).fill_(2.0)
    assert tuple(x.shape) == (2, 3) and x.tolist() == [[2.0] * 3] * 2
    w = m.ones(2, requires_grad=True)
    y = w[index]
    assert not y.is_leaf and y.grad_fn is not None
    (y * 3).sum().backward()
    assert w.grad.tolist() == [3.0, 3.0]


@pytest.mark.parametrize("lib", ["fibril", pytest.param("torch", marks=needs_torch)])
def test_unflatten_infers_minus_one_from_the_split_dim(lib):
    m = fibril if lib == "fibril" else torch
    assert tuple(m.zeros(3, 0, 4).unflatten(-1, (2, -1)).shape) == (3, 0, 2, 2)
    assert tuple(m.zeros(3, 0).unflatten(1, (-1, 2)).shape) == (3, 0, 2)
    assert tuple(m.zeros(2, 6).unflatten(1, (-1, 3)).shape) == (2, 2, 3)
    for sizes in [(2, 3), (0, -1), (-1, -1), ()]:
        with pytest.raises(ValueError if lib == "fibril" else RuntimeError):
            m.zeros(3, 0, 4).unflatten(-1, sizes)


@needs_torch
@pytest.mark.filterwarnings("ignore:Using a non-tuple sequence")  # torch's, for the strings
@pytest.mark.parametrize("index", [np.float64(1.0), np.float32(1.0), np.bool_(True), np.datetime64(1, "D"), 1.0,
                                   (0, np.float32(1.0)), "a", np.str_("a")],
                         ids=["f64", "f32", "bool_", "datetime64", "float", "tuple", "str", "np_str"])
def test_non_integer_scalar_indices_raise_as_torch(index):
    with pytest.raises(Exception) as want:
        torch.zeros(2, 3)[index]
    for write in (False, True):
        x = fibril.zeros(2, 3)
        with pytest.raises(want.type, match="only integers, slices" if want.type is IndexError else "index"):
            if write:
                x[index] = 1.0
            else:
                x[index]


OVERFLOW_VALUES = [255, 256, -255, -256, 2**31, -2**31 - 1, 2**63 - 1, 3.7, 255.9, -0.5, float("nan"), float("inf"),
                   1e20, 65504.0, 65520.0, 70000, 3.3896e38, 3.4e38, 3.4028235e38, 1e300]


@needs_torch
@pytest.mark.parametrize("dtype", ["uint8", "int32", "int64", "bool", "float16", "bfloat16", "float32", "float64"])
def test_numbers_out_of_the_dtypes_range_raise_as_torch(dtype):
    """full, full_like, fill_ and x[i] = number refuse a number the dtype cannot hold as torch
    does (and only then): ints beyond an int dtype, NaN, infinities and big floats into one,
    floats beyond a float dtype's max."""
    def ops(m):
        d = getattr(m, dtype)
        return [lambda v: m.full((2,), v, dtype=d), lambda v: m.full_like(m.zeros(2, dtype=d), v),
                lambda v: m.zeros(2, dtype=d).fill_(v), lambda v: m.zeros(2, dtype=d).__setitem__(0, v)]

    for value in OVERFLOW_VALUES:
        want = [overflow_raises(op, value) for op in ops(torch)]
        assert [overflow_raises(op, value) for op in ops(fibril)] == want, value


def test_deepcopy_leaves_parameters_and_modules():
    import copy

    t = fibril.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    t.grad = fibril.ones(2, 2)
    c = copy.deepcopy(t)
    assert c.requires_grad and c.is_leaf and np.array_equal(c.detach().numpy(), t.detach().numpy())
    assert np.array_equal(c.grad.numpy(), np.ones((2, 2)))
    with fibril.no_grad():
        c.add_(1.0)
    assert t.detach().numpy()[0, 0] == 1.0  # separate memory
    m = fibril.nn.Sequential(fibril.nn.Linear(2, 3), fibril.nn.BatchNorm1d(3))
    mc = copy.deepcopy(m)
    assert type(mc[0].weight) is fibril.nn.Parameter
    assert [k for k, _ in mc.named_parameters()] == [k for k, _ in m.named_parameters()]
    np.testing.assert_array_equal(mc[0].weight.detach().numpy(), m[0].weight.detach().numpy())
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(t * 2)


def test_t_transposes_matrices_only():
    x = fibril.tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.t().numpy(), np.arange(6.0).reshape(2, 3).T)
    v = fibril.tensor([1.0, 2.0])
    assert v.t().shape == (2,)
    with pytest.raises(RuntimeError, match="<= 2 dimensions"):
        fibril.zeros(2, 2, 2).t()


def test_python_floats_keep_double_precision_when_float64_is_asked():
    assert fibril.tensor([0.1], dtype=fibril.float64).item() == 0.1
    assert fibril.tensor(1e300, dtype=fibril.float64).item() == 1e300
    assert fibril.tensor([0.1]).dtype == fibril.float32


# ------------------------------------------------------------------------------ numpy values in sequences
X64 = np.float64(0.1) + 1e-12  # not a float32 value


@pytest.mark.parametrize("data, dtype", [
    ([X64, X64], fibril.float64), ([[X64]], fibril.float64), ([np.zeros(2), np.ones(2)], fibril.float64),
    ([1.5, np.float64(2.0)], fibril.float64), ([np.float32(1), np.float64(2)], fibril.float64),
    ([np.int32(1)], fibril.int32), ([True, np.bool_(False)], fibril.bool), ([1.5, np.int32(1)], fibril.float32),
    ([np.float16(1), 1.5], fibril.float32), ([np.float16(1), np.int64(3)], fibril.float16),
    ([np.int64(1), 1.5], fibril.float32), ([np.uint8(1), np.int32(2)], fibril.int32), ([np.float32(1), 1], fibril.float32),
    ([], fibril.float32),
])
def test_tensor_keeps_numpy_dtypes_inside_sequences(data, dtype):
    """As torch: only Python floats default to float32; numpy scalars and arrays keep their dtype, promoted
    with the rest as torch.promote_types (a float beats any integer, not numpy's float64)."""
    assert fibril.tensor(data).dtype == dtype
    if torch is not None:
        assert str(torch.tensor(np.array(data) if data and isinstance(data[0], np.ndarray) else data).dtype) == \
            "torch." + dtype.name
    if dtype == fibril.float64 and data[0] is X64:
        assert fibril.tensor(data).tolist() == [X64, X64]


# ------------------------------------------------------------------------------ __format__, .data =, small methods
def test_format_of_a_0d_tensor_formats_its_value():
    assert f"{fibril.tensor(0.123456):.4f}" == "0.1235"
    assert f"{fibril.tensor(3):04d}" == "0003"
    assert f"{fibril.tensor(2.5, requires_grad=True):>8.3f}" == "   2.500"
    t = fibril.tensor([1.0, 2.0])
    assert f"{t}" == str(t)
    with pytest.raises(TypeError):
        f"{t:.2f}"
    if torch is not None:
        assert f"{fibril.tensor(1 / 3):.6e}" == f"{torch.tensor(1 / 3):.6e}"


def test_assigning_data_replaces_the_values_in_place():
    p = fibril.nn.Parameter(fibril.zeros(3))
    new = fibril.ones(2, 2, dtype=fibril.float64)
    p.data = new
    assert type(p) is fibril.nn.Parameter and p.requires_grad and p.is_leaf
    assert p.shape == (2, 2) and p.dtype == fibril.float64 and p.data_ptr() == new.data_ptr()
    np.testing.assert_array_equal(p.detach().numpy(), np.ones((2, 2)))
    (p * 3).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), np.full((2, 2), 3.0))
    with pytest.raises(TypeError):
        p.data = [1.0]
    with pytest.raises(RuntimeError, match="floating point"):
        p.data = fibril.ones(2, dtype=fibril.int64)


@pytest.mark.parametrize("lib", ["fibril", pytest.param("torch", marks=needs_torch)])
def test_small_tensor_methods(lib):
    m = fibril if lib == "fibril" else torch
    x = m.arange(24.0).reshape(2, 3, 4)
    assert x.nelement() == 24 and x.ndimension() == 3 and not x.is_complex()
    np.testing.assert_array_equal(np.asarray(x.ravel()), np.arange(24.0))
    np.testing.assert_array_equal(np.asarray(x.select(-1, 1)), np.arange(24.0).reshape(2, 3, 4)[..., 1])
    np.testing.assert_array_equal(np.asarray(x.select(0, -1)), np.arange(24.0).reshape(2, 3, 4)[-1])
    assert x.type() == f"{lib}.FloatTensor" and m.zeros(2, dtype=m.int64).type() == f"{lib}.LongTensor"
    assert x.type(m.float32) is x and x.type(m.float64).dtype == m.float64
    assert x.type(f"{lib}.HalfTensor").dtype == m.float16
    y = m.tensor([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(np.asarray(y.relu()), [0, 0, 2])
    assert y.relu_() is y
    np.testing.assert_array_equal(np.asarray(y), [0, 0, 2])


@pytest.mark.parametrize("lib", ["fibril", pytest.param("torch", marks=needs_torch)])
def test_relu_in_place_gradient(lib):
    m = fibril if lib == "fibril" else torch
    a = m.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    b = a * 2
    b.relu_()
    (b * m.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(np.asarray(a.grad), [0, 0, 6])


@pytest.mark.parametrize("lib", ["fibril", pytest.param("torch", marks=needs_torch)])
def test_in_place_view_ops_restride_the_same_tensor(lib):
    m = fibril if lib == "fibril" else torch
    x = m.arange(6.0).reshape(2, 1, 3)
    ptr = x.data_ptr()
    assert x.squeeze_(1) is x and tuple(x.shape) == (2, 3)
    assert x.unsqueeze_(0) is x and tuple(x.shape) == (1, 2, 3)
    assert x.transpose_(0, 2) is x and tuple(x.shape) == (3, 2, 1)
    assert x.squeeze_() is x and tuple(x.shape) == (3, 2)
    assert x.t_() is x and tuple(x.shape) == (2, 3) and x.data_ptr() == ptr
    np.testing.assert_array_equal(np.asarray(x), np.arange(6.0).reshape(2, 3))


def test_in_place_view_ops_refuse_tensors_that_need_a_graph():
    leaf = fibril.zeros(2, 1, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        leaf.squeeze_(1)
    with pytest.raises(RuntimeError, match="requires grad"):
        (leaf * 2).t_()
    with fibril.no_grad():
        assert leaf.squeeze_(1).shape == (2,)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int64", "int32", "uint8", "bool"])
def test_pickle_round_trip(dtype):
    """Tensors and modules pickle (multiprocessing, caches): values, dtype, requires_grad, grad
    and the subclass come back; a tensor with a graph refuses, as torch."""
    import pickle

    t = fibril.tensor(np.arange(6).reshape(2, 3) % 3, dtype=getattr(fibril, dtype))
    back = pickle.loads(pickle.dumps(t))
    assert back.dtype == t.dtype and back.shape == t.shape
    np.testing.assert_array_equal(back.float().numpy() if dtype == "bfloat16" else back.numpy(),
                                  t.float().numpy() if dtype == "bfloat16" else t.numpy())
    if t.is_floating_point():
        leaf = t.clone().requires_grad_()
        leaf.grad = fibril.ones(2, 3, dtype=t.dtype)
        back = pickle.loads(pickle.dumps(leaf))
        assert back.requires_grad and back.is_leaf and back.grad is not None
        with pytest.raises(RuntimeError, match="graph leaves"):
            pickle.dumps(leaf * 2)


def test_pickle_a_module():
    import pickle

    m = fibril.nn.Sequential(fibril.nn.Linear(3, 2), fibril.nn.BatchNorm1d(2))
    m(fibril.randn(4, 3))
    back = pickle.loads(pickle.dumps(m))
    assert isinstance(back[0].weight, fibril.nn.Parameter) and back[0].weight.requires_grad
    for (name, a), (_, b) in zip(m.state_dict().items(), back.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


@pytest.mark.parametrize("make,dtype", [
    (lambda lib: lib.arange(8, dtype=lib.float32).reshape(2, 4), "int32"),
    (lambda lib: lib.arange(8, dtype=lib.float32).reshape(2, 4), "float64"),
    (lambda lib: lib.arange(8, dtype=lib.float32).reshape(2, 4), "uint8"),
    (lambda lib: lib.arange(8, dtype=lib.float32).reshape(2, 4)[:, ::2], "int32"),
    (lambda lib: lib.arange(6, dtype=lib.int32)[2:], "int64"),
    (lambda lib: lib.arange(6, dtype=lib.int32)[1:], "uint8"),
    (lambda lib: lib.arange(6, dtype=lib.int32)[1:], "int64"),
    (lambda lib: lib.arange(8, dtype=lib.int32).reshape(2, 4)[:, ::2], "uint8"),
    (lambda lib: lib.tensor(1.0), "float16"),
    (lambda lib: lib.tensor(1.0), "int32"),
])
def test_view_as_another_dtype_as_torch(make, dtype):
    torch = pytest.importorskip("torch")
    results = []
    for lib in (fibril, torch):
        try:
            out = make(lib).view(getattr(lib, dtype))
            results.append((tuple(out.shape), out.numpy().tolist()))
        except RuntimeError as e:
            results.append(("RuntimeError", str(e).split(" to view")[0]))
    assert results[0] == results[1]


def test_view_as_another_dtype_shares_memory_and_version():
    x = fibril.zeros(4, requires_grad=True)
    bits = x.detach().view(fibril.int32)
    assert not x.view(fibril.int32).requires_grad
    bits.add_(1065353216)  # the bits of 1.0
    assert x.tolist() == [1.0, 1.0, 1.0, 1.0]
    assert bits._version.value == x._version.value
