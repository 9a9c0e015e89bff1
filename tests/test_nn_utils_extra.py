"""nn.utils.rnn (packing, padding, RNN/LSTM/GRU on a PackedSequence), ParameterDict,
InstanceNorm1d/2d with instance_norm, and EmbeddingBag with embedding_bag: against PyTorch
(forward, gradients, running stats) where it imports, and against numpy or by hand without it."""

import numpy as np
import pytest

import fibril
import fibril.nn as nn
from fibril.nn.normalization import instance_norm
from fibril.nn.sparse import embedding_bag
from fibril.nn.utils import rnn as R
from op_check import torch

needs_torch = pytest.mark.skipif(torch is None, reason="torch does not import")
LENGTHS = (2, 5, 3, 5, 1)


def _np(t):
    return t.detach().numpy()


def _seqs(seed=0, lengths=LENGTHS):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, 3)).astype(np.float32) for n in lengths]


# ------------------------------------------------------------------------------ packing, without torch
def test_pack_roundtrip_and_layout():
    seqs = _seqs()
    packed = R.pack_sequence([fibril.tensor(s) for s in seqs], enforce_sorted=False)
    assert isinstance(packed, R.PackedSequence)
    assert packed.batch_sizes.tolist() == [5, 4, 3, 2, 2]
    assert packed.sorted_indices.tolist() == [1, 3, 2, 0, 4]  # stable: the first 5 comes first
    assert packed.unsorted_indices.tolist() == [3, 0, 2, 1, 4]
    # Step 0 holds each sequence's first row, longest first.
    np.testing.assert_array_equal(_np(packed.data[:5]), np.stack([seqs[i][0] for i in (1, 3, 2, 0, 4)]))
    padded, lengths = R.pad_packed_sequence(packed, batch_first=True, padding_value=-1.0, total_length=6)
    assert padded.shape == (5, 6, 3) and lengths.tolist() == list(LENGTHS)
    for b, s in enumerate(seqs):
        np.testing.assert_array_equal(_np(padded[b, :len(s)]), s)
        assert (_np(padded[b, len(s):]) == -1).all()
    for got, want in zip(R.unpack_sequence(packed), seqs):
        np.testing.assert_array_equal(_np(got), want)


def test_pad_sequence_sides_and_unpad():
    seqs = [fibril.tensor(s) for s in _seqs(1, (2, 4))]
    right = R.pad_sequence(seqs, padding_value=7.0)
    left = R.pad_sequence(seqs, batch_first=True, padding_side="left")
    assert right.shape == (4, 2, 3) and left.shape == (2, 4, 3)
    assert (_np(right[2:, 0]) == 7).all() and (_np(left[0, :2]) == 0).all()
    np.testing.assert_array_equal(_np(left[0, 2:]), _np(seqs[0]))
    for got, want in zip(R.unpad_sequence(right, fibril.tensor([2, 4])), seqs):
        np.testing.assert_array_equal(_np(got), _np(want))


def test_packing_gradient_reaches_each_sequence():
    seqs = [fibril.tensor(s, requires_grad=True) for s in _seqs()]
    packed = R.pack_sequence(seqs, enforce_sorted=False)
    padded, _ = R.pad_packed_sequence(packed, padding_value=3.0)
    (padded * padded).sum().backward()
    for s in seqs:
        np.testing.assert_allclose(_np(s.grad), 2 * _np(s), rtol=1e-6)


def test_packing_errors():
    x = fibril.zeros(4, 2, 3)
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        R.pack_padded_sequence(x, [2, 3])
    with pytest.raises(RuntimeError, match="greater than 0"):
        R.pack_padded_sequence(x, [2, 0], enforce_sorted=False)
    with pytest.raises(ValueError, match="batch_size"):
        R.pack_padded_sequence(x, [2, 2, 1])
    with pytest.raises(ValueError, match="total_length"):
        R.pad_packed_sequence(R.pack_padded_sequence(x, [4, 2]), total_length=3)
    with pytest.raises(ValueError, match="padding_side"):
        R.pad_sequence([x[0]], padding_side="middle")


def test_rnn_packed_matches_lengths_argument():
    fibril.manual_seed(0)
    lstm = nn.LSTM(3, 4, batch_first=True)
    seqs = [fibril.tensor(s) for s in _seqs()]
    out, (h, c) = lstm(R.pack_sequence(seqs, enforce_sorted=False))
    padded_out, _ = R.pad_packed_sequence(out, batch_first=True)
    ref, (h_ref, c_ref) = lstm(R.pad_sequence(seqs, batch_first=True), lengths=list(LENGTHS))
    np.testing.assert_allclose(_np(padded_out), _np(ref), atol=1e-6)
    np.testing.assert_allclose(_np(h), _np(h_ref), atol=1e-6)
    np.testing.assert_allclose(_np(c), _np(c_ref), atol=1e-6)
    with pytest.raises(ValueError, match="not both"):
        lstm(R.pack_sequence(seqs, enforce_sorted=False), lengths=list(LENGTHS))


# ------------------------------------------------------------------------------ packing, against torch
@needs_torch
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_pad_match_torch(enforce_sorted):
    lengths = sorted(LENGTHS, reverse=True) if enforce_sorted else LENGTHS
    seqs = _seqs(2, lengths)
    fs = [fibril.tensor(s, requires_grad=True) for s in seqs]
    ts = [torch.tensor(s, requires_grad=True) for s in seqs]
    pf = R.pack_sequence(fs, enforce_sorted)
    pt = torch.nn.utils.rnn.pack_sequence(ts, enforce_sorted)
    np.testing.assert_array_equal(_np(pf.data), pt.data.detach().numpy())
    np.testing.assert_array_equal(pf.batch_sizes.numpy(), pt.batch_sizes.numpy())
    assert (pf.sorted_indices is None) == (pt.sorted_indices is None)
    if not enforce_sorted:
        np.testing.assert_array_equal(pf.sorted_indices.numpy(), pt.sorted_indices.numpy())
        np.testing.assert_array_equal(pf.unsorted_indices.numpy(), pt.unsorted_indices.numpy())
    for side in ("left", "right"):
        np.testing.assert_array_equal(_np(R.pad_sequence(fs, True, 2.0, side)),
                                      torch.nn.utils.rnn.pad_sequence(ts, True, 2.0, side).detach().numpy())
    yf, lf = R.pad_packed_sequence(pf, True, -2.0, 7)
    yt, lt = torch.nn.utils.rnn.pad_packed_sequence(pt, True, -2.0, 7)
    np.testing.assert_array_equal(_np(yf), yt.detach().numpy())
    np.testing.assert_array_equal(lf.numpy(), lt.numpy())


def _torch_rnn_pair(kind, **kw):
    t = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind](3, 4, **kw)
    f = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind](3, 4, **kw)
    f.load_state_dict(t.state_dict())
    return f, t


@needs_torch
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
def test_rnn_on_packed_sequence_matches_torch(kind, enforce_sorted, batch_first):
    lengths = sorted(LENGTHS, reverse=True) if enforce_sorted else LENGTHS
    f, t = _torch_rnn_pair(kind, num_layers=2, bidirectional=True, batch_first=batch_first)
    seqs = _seqs(3, lengths)
    fs = [fibril.tensor(s, requires_grad=True) for s in seqs]
    ts = [torch.tensor(s, requires_grad=True) for s in seqs]
    h0 = np.random.default_rng(4).standard_normal((4, 5, 4)).astype(np.float32)  # original batch order
    hf, ht = fibril.tensor(h0, requires_grad=True), torch.tensor(h0, requires_grad=True)
    if kind == "lstm":
        hx_f, hx_t = (hf, fibril.tensor(-h0)), (ht, torch.tensor(-h0))
    else:
        hx_f, hx_t = hf, ht
    of, sf = f(R.pack_sequence(fs, enforce_sorted), hx_f)
    ot, st = t(torch.nn.utils.rnn.pack_sequence(ts, enforce_sorted), hx_t)
    assert isinstance(of, R.PackedSequence)
    np.testing.assert_allclose(_np(of.data), ot.data.detach().numpy(), atol=1e-5)
    np.testing.assert_array_equal(of.batch_sizes.numpy(), ot.batch_sizes.numpy())
    assert (of.sorted_indices is None) == (ot.sorted_indices is None)
    states_f = sf if kind == "lstm" else (sf,)
    states_t = st if kind == "lstm" else (st,)
    for a, b in zip(states_f, states_t):
        np.testing.assert_allclose(_np(a), b.detach().numpy(), atol=1e-5)
    g = np.random.default_rng(5).standard_normal(tuple(ot.data.shape)).astype(np.float32)
    loss_f = (of.data * fibril.tensor(g)).sum() + sum(s.sum() for s in states_f)
    loss_t = (ot.data * torch.tensor(g)).sum() + sum(s.sum() for s in states_t)
    loss_f.backward()
    loss_t.backward()
    for a, b in zip(fs + [hf], ts + [ht]):
        np.testing.assert_allclose(_np(a.grad), b.grad.numpy(), atol=1e-4)
    tp = dict(t.named_parameters())
    for name, p in f.named_parameters():
        np.testing.assert_allclose(_np(p.grad), tp[name].grad.numpy(), atol=1e-4, err_msg=name)


# ------------------------------------------------------------------------------ ParameterDict
def test_parameter_dict():
    pd = nn.ParameterDict({"b": fibril.ones(2), "a": nn.Parameter(fibril.zeros(3))})
    assert list(pd.keys()) == ["a", "b"]  # a plain dict is added in sorted key order, as torch
    assert isinstance(pd["b"], nn.Parameter) and pd["b"].requires_grad
    pd.update([("z", fibril.ones(1)), ("c", fibril.ones(1))])
    assert list(pd) == ["a", "b", "z", "c"] and len(pd) == 4 and "z" in pd
    model = nn.Module()
    model.pd = pd
    assert list(model.state_dict()) == ["pd.a", "pd.b", "pd.z", "pd.c"]
    assert len(list(model.parameters())) == 4
    del pd["z"]
    assert pd.pop("c").shape == (1,) and list(pd) == ["a", "b"]
    assert pd.get("missing") is None and pd.setdefault("d", fibril.ones(4)).shape == (4,)
    assert list((pd | {"e": fibril.ones(1)}).keys()) == ["a", "b", "d", "e"]
    with pytest.raises(KeyError):
        pd["x.y"] = fibril.ones(1)
    with pytest.raises(TypeError):
        pd[3] = fibril.ones(1)
    with pytest.raises(ValueError, match="length 3"):
        pd.update([("k", fibril.ones(1), 1)])


@needs_torch
def test_parameter_dict_state_dict_matches_torch():
    tm, fm = torch.nn.Module(), nn.Module()
    tm.p = torch.nn.ParameterDict({"w": torch.randn(2, 3), "b": torch.randn(3)})
    fm.p = nn.ParameterDict({"w": fibril.zeros(2, 3), "b": fibril.zeros(3)})
    assert list(fm.state_dict()) == list(tm.state_dict())
    fm.load_state_dict(tm.state_dict())
    np.testing.assert_array_equal(_np(fm.p["w"]), tm.p["w"].detach().numpy())


# ------------------------------------------------------------------------------ InstanceNorm
def test_instance_norm_by_hand():
    x = np.random.default_rng(6).standard_normal((2, 3, 7)).astype(np.float32)
    want = (x - x.mean(2, keepdims=True)) / np.sqrt(x.var(2, keepdims=True) + 1e-5)
    np.testing.assert_allclose(_np(instance_norm(fibril.tensor(x))), want, atol=1e-5)
    m = nn.InstanceNorm1d(3, track_running_stats=True, momentum=0.5)
    m(fibril.tensor(x))
    np.testing.assert_allclose(_np(m.running_mean), 0.5 * x.mean(2).mean(0), atol=1e-6)
    np.testing.assert_allclose(_np(m.running_var), 0.5 + 0.5 * x.var(2, ddof=1).mean(0), atol=1e-5)
    assert m.num_batches_tracked.item() == 0  # as torch: instance norm never counts batches
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        instance_norm(fibril.zeros(2, 3, 1))
    with pytest.raises(ValueError, match="expected 3D or 4D input"):
        nn.InstanceNorm2d(3)(fibril.zeros(2, 3))
    with pytest.raises(ValueError, match="num_features"):
        nn.InstanceNorm1d(4, affine=True)(fibril.zeros(2, 3, 5))
    with pytest.warns(UserWarning, match="num_features"):
        nn.InstanceNorm1d(4)(fibril.zeros(2, 3, 5))


@needs_torch
@pytest.mark.parametrize("cls,shape", [("InstanceNorm1d", (3, 4, 5)), ("InstanceNorm1d", (4, 6)),
                                       ("InstanceNorm2d", (2, 4, 3, 5)), ("InstanceNorm2d", (4, 3, 5))])
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("track", [False, True])
def test_instance_norm_matches_torch(cls, shape, affine, track):
    rng = np.random.default_rng(7)
    t = getattr(torch.nn, cls)(4, affine=affine, track_running_stats=track, momentum=0.3)
    f = getattr(nn, cls)(4, affine=affine, track_running_stats=track, momentum=0.3)
    if affine:
        with torch.no_grad():
            t.weight.uniform_()
            t.bias.uniform_()
    f.load_state_dict(t.state_dict())
    for training in (True, True, False):
        t.train(training)
        f.train(training)
        x = rng.standard_normal(shape).astype(np.float32)
        xt, xf = torch.tensor(x, requires_grad=True), fibril.tensor(x, requires_grad=True)
        yt, yf = t(xt), f(xf)
        np.testing.assert_allclose(_np(yf), yt.detach().numpy(), atol=1e-5)
        g = rng.standard_normal(shape).astype(np.float32)
        yt.backward(torch.tensor(g))
        yf.backward(fibril.tensor(g))
        np.testing.assert_allclose(_np(xf.grad), xt.grad.numpy(), atol=1e-4)
        if affine:
            np.testing.assert_allclose(_np(f.weight.grad), t.weight.grad.numpy(), atol=1e-4)
            np.testing.assert_allclose(_np(f.bias.grad), t.bias.grad.numpy(), atol=1e-4)
            t.zero_grad()
            f.zero_grad()
        for name, buf in t.named_buffers():
            np.testing.assert_allclose(_np(getattr(f, name)), buf.numpy(), atol=1e-5, err_msg=name)


# ------------------------------------------------------------------------------ EmbeddingBag
def test_embedding_bag_by_hand():
    w = fibril.tensor(np.arange(12, dtype=np.float32).reshape(6, 2), requires_grad=True)
    idx, offsets = fibril.tensor([1, 2, 4, 5, 0]), fibril.tensor([0, 2, 2])
    out = embedding_bag(idx, w, offsets, mode="sum", padding_idx=0)
    np.testing.assert_array_equal(_np(out), [[6, 8], [0, 0], [18, 20]])  # bag 1 is empty; index 0 is padding
    out.sum().backward()
    np.testing.assert_array_equal(_np(w.grad)[:, 0], [0, 1, 1, 0, 1, 1])
    bag = nn.EmbeddingBag(6, 2, mode="max", _weight=w.detach())
    np.testing.assert_array_equal(_np(bag(fibril.tensor([[1, 2], [5, 0]]))), [[4, 5], [10, 11]])
    with pytest.raises(ValueError, match="offsets has to be a 1D Tensor but got None"):
        embedding_bag(idx, w)
    with pytest.raises(ValueError, match="offsets has to be None"):
        embedding_bag(fibril.tensor([[1, 2]]), w, offsets)
    with pytest.raises(ValueError, match="offsets\\[0\\] has to be 0"):
        embedding_bag(idx, w, fibril.tensor([1, 3]))
    with pytest.raises(ValueError, match="mode has to be one of"):
        embedding_bag(idx, w, offsets, mode="min")
    with pytest.raises(NotImplementedError, match="per_sample_weights"):
        embedding_bag(idx, w, offsets, mode="mean", per_sample_weights=fibril.ones(5))


@needs_torch
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 2])
@pytest.mark.parametrize("layout", ["offsets", "last_offset", "2d"])
def test_embedding_bag_matches_torch(mode, padding_idx, layout):
    rng = np.random.default_rng(8)
    weight = rng.standard_normal((10, 3)).astype(np.float32)
    idx = np.array([[1, 2, 4], [4, 3, 0]]) if layout == "2d" else np.array([1, 2, 4, 5, 4, 3, 2, 9, 0])
    offsets = {"offsets": [0, 2, 2, 5], "last_offset": [0, 2, 2, 5, 9], "2d": None}[layout]
    psw = rng.standard_normal(idx.shape).astype(np.float32) if mode == "sum" else None
    t = torch.nn.EmbeddingBag(10, 3, mode=mode, padding_idx=padding_idx, include_last_offset=layout == "last_offset")
    f = nn.EmbeddingBag(10, 3, mode=mode, padding_idx=padding_idx, include_last_offset=layout == "last_offset")
    with torch.no_grad():
        t.weight.copy_(torch.tensor(weight))
    f.load_state_dict(t.state_dict())
    pt = None if psw is None else torch.tensor(psw, requires_grad=True)
    pf = None if psw is None else fibril.tensor(psw, requires_grad=True)
    yt = t(torch.tensor(idx), None if offsets is None else torch.tensor(offsets), pt)
    yf = f(fibril.tensor(idx), None if offsets is None else fibril.tensor(offsets), pf)
    np.testing.assert_allclose(_np(yf), yt.detach().numpy(), atol=1e-6)
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(g))
    yf.backward(fibril.tensor(g))
    np.testing.assert_allclose(_np(f.weight.grad), t.weight.grad.numpy(), atol=1e-5)
    if psw is not None:
        np.testing.assert_allclose(_np(pf.grad), pt.grad.numpy(), atol=1e-5)


@pytest.mark.cuda
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_on_cuda_matches_cpu(mode):
    w = fibril.tensor(np.random.default_rng(3).standard_normal((6, 3)).astype(np.float32))
    idx, offsets = fibril.tensor([1, 2, 4, 5, 0, 3]), fibril.tensor([0, 2, 2])
    cases = [(idx, offsets, {}), (idx, offsets, {"padding_idx": 0, "max_norm": 1.0}), (idx.reshape(2, 3), None, {})]
    for i, o, kw in cases:
        want = embedding_bag(i, w.clone(), o, mode=mode, **kw)
        got = embedding_bag(i.cuda(), w.clone().cuda(), None if o is None else o.cuda(), mode=mode, **kw)
        assert got.device.startswith("cuda")
        np.testing.assert_allclose(got.cpu().numpy(), want.numpy(), rtol=1e-6)
    bag = nn.EmbeddingBag(6, 3, mode=mode).cuda()
    assert bag(idx.cuda(), offsets.cuda()).device.startswith("cuda")


# ------------------------------------------------------------------------------ edge cases found by fuzzing
def test_embedding_bag_rejects_float_indices_and_out_of_range_padding_idx():
    w = fibril.zeros(4, 3)
    with pytest.raises(TypeError, match="input must be int64 or int32, got fibril.float32"):
        embedding_bag(fibril.tensor([[0.0, 1.7]]), w)
    with pytest.raises(TypeError, match="offsets must be int64 or int32"):
        embedding_bag(fibril.tensor([0, 1]), w, fibril.tensor([0.0]))
    for bad in (4, 7, -5):
        with pytest.raises(ValueError, match=rf"within \[-4, 4\).*\[4, 3\], got {bad}"):
            embedding_bag(fibril.tensor([[0, 1]]), w, padding_idx=bad)
    ones = fibril.ones(4, 3)
    assert embedding_bag(fibril.tensor([[0, 3]], dtype=fibril.int32), ones, padding_idx=-1, mode="sum").tolist() == \
        [[1.0, 1.0, 1.0]]


@pytest.mark.parametrize("cls,shape", [("InstanceNorm1d", (0, 3, 5)), ("InstanceNorm2d", (0, 3, 2, 2))])
@pytest.mark.parametrize("training", [True, False])
def test_instance_norm_on_an_empty_batch(cls, shape, training):
    m = getattr(nn, cls)(3, track_running_stats=True).train(training)
    x = fibril.ones(*shape, requires_grad=True)
    y = m(x)
    assert y.shape == shape
    y.sum().backward()
    assert x.grad.shape == shape


def test_instance_norm_needs_both_running_stats():
    x = fibril.ones(2, 3, 4)
    with pytest.raises(ValueError, match="both be None or neither"):
        instance_norm(x, running_mean=fibril.zeros(3))
    with pytest.raises(ValueError, match="both be None or neither"):
        instance_norm(x, running_var=fibril.ones(3))


def test_parameter_dict_reversed_fromkeys_and_plain_values():
    pd = nn.ParameterDict([("b", fibril.ones(1)), ("a", fibril.ones(2))])
    assert list(reversed(pd)) == ["a", "b"]
    keyed = pd.fromkeys(["x", "y"], fibril.ones(3))
    assert isinstance(keyed, nn.ParameterDict) and list(keyed) == ["x", "y"]
    assert isinstance(keyed["x"], nn.Parameter) and keyed["x"] is not keyed["y"]
    assert dict(pd.fromkeys(["z"])) == {"z": None}
    pd["n"], pd["s"] = 3, "text"
    assert pd["n"] == 3 and pd["s"] == "text" and list(pd) == ["b", "a", "n", "s"]
    assert list(pd.state_dict()) == ["b", "a"] and len(list(pd.parameters())) == 2
    assert "(n): Object of type: int" in repr(pd)
    pd["a"] = 1.5  # a parameter replaced by a plain value is no longer a parameter
    assert list(pd.state_dict()) == ["b"] and pd.popitem() == ("s", "text")
    del pd["n"]
    assert list(pd) == ["b", "a"]


@needs_torch
def test_parameter_dict_plain_values_match_torch():
    items = [("w", np.ones(2, np.float32)), ("n", 3), ("s", "text"), ("none", None)]
    t = torch.nn.ParameterDict([(k, torch.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in items])
    f = nn.ParameterDict([(k, fibril.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in items])
    assert list(f) == list(t) and list(reversed(f)) == list(reversed(t))
    assert [type(v).__name__ for v in f.values()] == [type(v).__name__ for v in t.values()]
    assert list(f.state_dict()) == list(t.state_dict())


def test_packed_sequence_dtype_and_device_methods():
    packed = R.pack_sequence([fibril.tensor(s) for s in _seqs(lengths=(4, 2, 1))], enforce_sorted=False)
    for method, dtype in [("double", fibril.float64), ("half", fibril.float16), ("float", fibril.float32),
                          ("cpu", fibril.float32)]:
        moved = getattr(packed, method)()
        assert isinstance(moved, R.PackedSequence) and moved.data.dtype == dtype
        np.testing.assert_allclose(moved.data.float().numpy(), _np(packed.data), rtol=1e-3)
        assert moved.batch_sizes is packed.batch_sizes and moved.sorted_indices is packed.sorted_indices
        assert moved.unsorted_indices is packed.unsorted_indices


@pytest.mark.cuda
def test_packed_sequence_cuda():
    packed = R.pack_sequence([fibril.tensor(s) for s in _seqs(lengths=(3, 1))])
    assert packed.cuda().data.device.startswith("cuda") and packed.cuda().cpu().data.device == "cpu"


def test_pad_sequence_takes_the_first_sequences_dtype():
    assert R.pad_sequence([fibril.tensor([1, 2]), fibril.tensor([1.5])]).dtype == fibril.int64
    padded = R.pad_sequence([fibril.tensor([1.5]), fibril.tensor([1, 2])], batch_first=True)
    assert padded.dtype == fibril.float32 and padded.tolist() == [[1.5, 0.0], [1.0, 2.0]]


@needs_torch
@pytest.mark.parametrize("dtypes", [("int64", "float32"), ("float32", "int64"), ("bool", "int32"),
                                    ("float64", "float32")])
def test_pad_sequence_mixed_dtypes_match_torch(dtypes):
    values = [[1, 0], [1]]
    t = torch.nn.utils.rnn.pad_sequence([torch.tensor(v, dtype=getattr(torch, d)) for v, d in zip(values, dtypes)])
    f = R.pad_sequence([fibril.tensor(v, dtype=getattr(fibril, d)) for v, d in zip(values, dtypes)])
    assert str(f.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    np.testing.assert_array_equal(f.numpy(), t.numpy())
