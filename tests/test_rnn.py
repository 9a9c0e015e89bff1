"""RNN family: RNN (tanh, relu), LSTM (with projections), GRU and their cells against a float64
numpy reference of the cell equations and against PyTorch with the same weights (every option:
layers, directions, batch_first, initial states, variable lengths, unbatched input), all
gradients, gradcheck, a 1,200-step backward, dropout between layers and bad input."""

import numpy as np
import pytest

import fibril
import fibril.nn as nn
from fibril.ops.rnn import rnn_layer
from op_check import torch, torch_one_thread  # noqa: F401 (an autouse fixture)

needs_torch = pytest.mark.skipif(torch is None, reason="torch does not import")


KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_cell(mode, x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr=None):
    """One step of torch's cell equations in float64; returns (h', c')."""
    gi, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    if mode.startswith("rnn"):
        pre = gi + gh
        return (np.tanh(pre) if mode == "rnn_tanh" else np.maximum(pre, 0)), None
    if mode == "gru":
        hs = gi.shape[1] // 3
        r = sigmoid(gi[:, :hs] + gh[:, :hs])
        z = sigmoid(gi[:, hs:2 * hs] + gh[:, hs:2 * hs])
        n = np.tanh(gi[:, 2 * hs:] + r * gh[:, 2 * hs:])
        return (1 - z) * n + z * h, None
    i, f, g, o = np.split(gi + gh, 4, axis=1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    h = sigmoid(o) * np.tanh(c)
    return (h if w_hr is None else h @ w_hr.T), c


def np_layer(mode, x, h0, c0, dirs, lengths):
    """x (T, B, I); dirs: per direction [w_ih, w_hh, b_ih, b_hh, w_hr]; padded steps keep the
    state and output 0. Returns y (T, B, D P), h_n, c_n (D, B, ...)."""
    steps = x.shape[0]
    lengths = np.full(x.shape[1], steps) if lengths is None else np.asarray(lengths)
    ys, hs, cs = [], [], []
    for d, w in enumerate(dirs):
        h, c = h0[d], (c0[d] if c0 is not None else None)
        y = np.zeros((steps,) + h.shape)
        for t in (range(steps - 1, -1, -1) if d else range(steps)):
            hn, cn = np_cell(mode, x[t], h, c, *w)
            active = (t < lengths)[:, None]
            h = np.where(active, hn, h)
            c = np.where(active, cn, c) if c is not None else None
            y[t] = np.where(active, h, 0)
        ys.append(y)
        hs.append(h)
        cs.append(c)
    return np.concatenate(ys, axis=2), np.stack(hs), (np.stack(cs) if c0 is not None else None)


def module_for(kind, *args, **kwargs):
    lib = kwargs.pop("lib", nn)
    if kind.startswith("rnn"):
        return lib.RNN(*args, nonlinearity=kind[4:], **kwargs)
    return {"lstm": lib.LSTM, "gru": lib.GRU}[kind](*args, **kwargs)


def reference_weights(m, layer, num_dirs):
    out = []
    for suffix in ("", "_reverse")[:num_dirs]:
        get = (lambda k: getattr(m, f"{k}_l{layer}{suffix}", None))
        ws = [get(k) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")]
        out.append([None if w is None else w.detach().numpy() for w in ws])
    return out


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("use_lengths", [False, True])
def test_matches_numpy_reference(kind, bidirectional, use_lengths):
    fibril.manual_seed(0)
    m = module_for(kind, 5, 6, num_layers=2, bidirectional=bidirectional, dtype=fibril.float64)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((7, 3, 5))
    lengths = [7, 2, 5] if use_lengths else None
    out = m(fibril.tensor(x), lengths=lengths)
    num_dirs = 2 if bidirectional else 1
    inp, hs, cs = x, [], []
    for layer in range(2):
        dirs = reference_weights(m, layer, num_dirs)
        for w in dirs:
            if w[4] is None:
                w.pop()
        zeros = np.zeros((num_dirs, 3, 6))
        inp, h, c = np_layer(kind, inp, zeros, zeros if kind == "lstm" else None, dirs, lengths)
        hs.append(h)
        cs.append(c)
    h_n = out[1][0] if kind == "lstm" else out[1]
    np.testing.assert_allclose(out[0].detach().numpy(), inp, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h_n.detach().numpy(), np.concatenate(hs), rtol=1e-10, atol=1e-12)
    if kind == "lstm":
        np.testing.assert_allclose(out[1][1].detach().numpy(), np.concatenate(cs), rtol=1e-10, atol=1e-12)


def test_lstm_projection_matches_numpy():
    fibril.manual_seed(0)
    m = nn.LSTM(4, 6, proj_size=3, bidirectional=True, dtype=fibril.float64)
    x = np.random.default_rng(2).standard_normal((5, 2, 4))
    y, (h, c) = m(fibril.tensor(x), lengths=[3, 5])
    ref = np_layer("lstm", x, np.zeros((2, 2, 3)), np.zeros((2, 2, 6)), reference_weights(m, 0, 2), [3, 5])
    for got, want in zip((y, h, c), ref):
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind,proj", [(k, False) for k in KINDS] + [("lstm", True)])
def test_gradcheck(kind, proj):
    """Both directions, initial states, variable lengths; every input and weight."""
    rng = np.random.default_rng(4)
    hidden, state, gates = 3, (2 if proj else 3), {"lstm": 4, "gru": 3}.get(kind, 1) * 3

    def leaf(*shape):
        return fibril.tensor(rng.standard_normal(shape) * 0.5, requires_grad=True)

    x, h0, c0 = leaf(4, 2, 3), leaf(2, 2, state), leaf(2, 2, hidden)
    weights = []
    for _ in range(2):
        weights += [leaf(gates, 3), leaf(gates, state), leaf(gates), leaf(gates)]
        weights += [leaf(state, hidden)] if proj else []
    lengths = fibril.tensor(np.array([4, 3]))._data
    per_dir = len(weights) // 2

    def run(x, h0, c0, *ws):
        dirs = [list(ws[i:i + per_dir]) + ([] if proj else [None]) for i in (0, per_dir)]
        return rnn_layer(kind, x, h0, c0 if kind == "lstm" else None, dirs, lengths)

    inputs = [x, h0, c0 if kind == "lstm" else c0.detach()] + weights
    assert fibril.testing.gradcheck(run, inputs)


def copy_to_fibril(tm, fm):
    fm.load_state_dict({k: fibril.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


def compare(tm, fm, x, hx=None, lengths=None, atol=1e-9, rtol=1e-7):
    """Forward outputs, final states and every gradient (input, states, parameters)."""
    tx = torch.tensor(x, requires_grad=True)
    fx = fibril.tensor(x, requires_grad=True)
    t_hx = f_hx = None
    if hx is not None:
        t_hx = tuple(torch.tensor(h, requires_grad=True) for h in hx)
        f_hx = tuple(fibril.tensor(h, requires_grad=True) for h in hx)
    is_lstm = isinstance(tm, (torch.nn.LSTM, torch.nn.LSTMCell))
    is_cell = isinstance(tm, torch.nn.RNNCellBase)

    def pack(hx):
        return None if hx is None else (hx if is_lstm else hx[0])

    if lengths is not None:
        packed = torch.nn.utils.rnn.pack_padded_sequence(tx, torch.tensor(lengths), batch_first=tm.batch_first,
                                                         enforce_sorted=False)
        ty, th = tm(packed, pack(t_hx))
        ty, _ = torch.nn.utils.rnn.pad_packed_sequence(ty, batch_first=tm.batch_first,
                                                       total_length=x.shape[1 if tm.batch_first else 0])
        fy, fh = fm(fx, pack(f_hx), lengths=lengths)
    elif is_cell:
        ty, fy = tm(tx, pack(t_hx)), fm(fx, pack(f_hx))
        th, fh = (ty[1], fy[1]) if is_lstm else (ty, fy)
        ty, fy = (ty[0], fy[0]) if is_lstm else (ty, fy)
        th, fh = ((th,), (fh,))
    else:
        ty, th = tm(tx, pack(t_hx))
        fy, fh = fm(fx, pack(f_hx))
    th = th if isinstance(th, tuple) else (th,)
    fh = fh if isinstance(fh, tuple) else (fh,)
    outs_t, outs_f = (ty,) + tuple(th), (fy,) + tuple(fh)
    rng = np.random.default_rng(7)
    loss_t, loss_f = 0, 0
    for a, b in zip(outs_t, outs_f):
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), atol=atol, rtol=rtol)
        w = rng.standard_normal(tuple(a.shape))
        loss_t = loss_t + (a * torch.tensor(w)).sum()
        loss_f = loss_f + (b * fibril.tensor(w)).sum()
    loss_t.backward()
    loss_f.backward()
    np.testing.assert_allclose(fx.grad.detach().numpy(), tx.grad.detach().numpy(), atol=atol, rtol=rtol)
    for a, b in zip(t_hx or (), f_hx or ()):
        np.testing.assert_allclose(b.grad.detach().numpy(), a.grad.detach().numpy(), atol=atol, rtol=rtol)
    t_params = dict(tm.named_parameters())
    for name, p in fm.named_parameters():
        np.testing.assert_allclose(p.grad.detach().numpy(), t_params[name].grad.detach().numpy(), atol=atol, rtol=rtol,
                                   err_msg=name)


OPTIONS = [
    dict(),
    dict(num_layers=2),
    dict(bidirectional=True),
    dict(num_layers=3, bidirectional=True, batch_first=True),
    dict(bias=False, batch_first=True),
]


@needs_torch
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()) or "plain")
@pytest.mark.parametrize("states", [False, True])
@pytest.mark.parametrize("use_lengths", [False, True])
def test_torch_parity(kind, options, states, use_lengths):
    torch.manual_seed(0)
    tm = module_for(kind, 5, 7, lib=torch.nn, dtype=torch.float64, **options)
    fm = module_for(kind, 5, 7, dtype=fibril.float64, **options)
    copy_to_fibril(tm, fm)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6, 5) if options.get("batch_first") else (6, 4, 5))
    num = options.get("num_layers", 1) * (2 if options.get("bidirectional") else 1)
    hx = None
    if states:
        hx = (rng.standard_normal((num, 4, 7)),) + ((rng.standard_normal((num, 4, 7)),) if kind == "lstm" else ())
    compare(tm, fm, x, hx, [6, 1, 4, 6] if use_lengths else None)


@needs_torch
@pytest.mark.parametrize("options", [dict(), dict(num_layers=2, bidirectional=True, batch_first=True)])
@pytest.mark.parametrize("use_lengths", [False, True])
def test_torch_parity_lstm_projection(options, use_lengths):
    torch.manual_seed(1)
    tm = torch.nn.LSTM(5, 8, proj_size=3, dtype=torch.float64, **options)
    fm = nn.LSTM(5, 8, proj_size=3, dtype=fibril.float64, **options)
    assert list(fm.state_dict()) == list(tm.state_dict())
    copy_to_fibril(tm, fm)
    rng = np.random.default_rng(1)
    num = 4 if options else 1
    hx = (rng.standard_normal((num, 3, 3)), rng.standard_normal((num, 3, 8)))
    x = rng.standard_normal((3, 5, 5) if options.get("batch_first") else (5, 3, 5))
    compare(tm, fm, x, hx, [2, 5, 3] if use_lengths else None)


@needs_torch
@pytest.mark.parametrize("kind", ["lstm", "gru", "lstm_proj"])
def test_torch_parity_row_blocks_and_wide_gates(kind, num_threads):
    """A batch of 40 on 3 threads runs as 3 blocks of rows (13, 13, 14), each step's GEMMs on
    row tiles of every height; hidden 70 ends the gate columns mid-panel and makes backward's
    recurrent GEMM (k = 280 or 210 gates) span two packed k blocks."""
    num_threads(3)
    torch.manual_seed(3)
    proj = dict(proj_size=5) if kind == "lstm_proj" else {}
    tm = module_for(kind[:4], 6, 70, lib=torch.nn, dtype=torch.float64, **proj)
    fm = module_for(kind[:4], 6, 70, dtype=fibril.float64, **proj)
    copy_to_fibril(tm, fm)
    rng = np.random.default_rng(3)
    lengths = list(rng.integers(1, 6, size=40))
    compare(tm, fm, rng.standard_normal((5, 40, 6)), None, lengths)


@needs_torch
@pytest.mark.parametrize("kind", KINDS)
def test_torch_parity_unbatched_and_float32(kind):
    torch.manual_seed(2)
    tm = module_for(kind, 4, 5, lib=torch.nn, num_layers=2, bidirectional=True)
    fm = module_for(kind, 4, 5, num_layers=2, bidirectional=True)
    copy_to_fibril(tm, fm)
    x = np.random.default_rng(2).standard_normal((6, 4)).astype(np.float32)
    compare(tm, fm, x, atol=2e-5, rtol=1e-4)
    x3 = np.random.default_rng(3).standard_normal((9, 3, 4)).astype(np.float32)
    compare(tm, fm, x3, atol=2e-5, rtol=1e-4)


@needs_torch
@pytest.mark.parametrize("kind", KINDS)
def test_torch_parity_float32_vector_lanes(kind):
    """Hidden 37 runs the float32 cells on whole vectors (16 or 8 lanes) and a scalar tail."""
    torch.manual_seed(4)
    tm = module_for(kind, 5, 37, lib=torch.nn)
    fm = module_for(kind, 5, 37)
    copy_to_fibril(tm, fm)
    x = np.random.default_rng(4).standard_normal((7, 3, 5)).astype(np.float32)
    compare(tm, fm, x, atol=2e-5, rtol=1e-4)


@needs_torch
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_cells_torch_parity(kind, batched, bias):
    torch.manual_seed(3)
    lib_cell = {"lstm": "LSTMCell", "gru": "GRUCell"}.get(kind, "RNNCell")
    extra = {"nonlinearity": kind[4:]} if kind.startswith("rnn") else {}
    tm = getattr(torch.nn, lib_cell)(4, 6, bias=bias, dtype=torch.float64, **extra)
    fm = getattr(nn, lib_cell)(4, 6, bias=bias, dtype=fibril.float64, **extra)
    assert list(fm.state_dict()) == list(tm.state_dict())
    copy_to_fibril(tm, fm)
    rng = np.random.default_rng(3)
    shape = (3, 4) if batched else (4,)
    hshape = (3, 6) if batched else (6,)
    hx = (rng.standard_normal(hshape),) + ((rng.standard_normal(hshape),) if kind == "lstm" else ())
    compare(tm, fm, rng.standard_normal(shape), hx)
    compare(tm, fm, rng.standard_normal(shape))


@needs_torch
def test_state_dict_names_match_torch():
    for kind in KINDS:
        options = dict(num_layers=2, bidirectional=True)
        tm = module_for(kind, 3, 4, lib=torch.nn, **options)
        fm = module_for(kind, 3, 4, **options)
        assert [(k, tuple(v.shape)) for k, v in fm.state_dict().items()] == \
            [(k, tuple(v.shape)) for k, v in tm.state_dict().items()]
        assert repr(fm) == repr(tm)
    for name, extra in (("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {"bias": False}), ("GRUCell", {})):
        assert repr(getattr(nn, name)(3, 4, **extra)) == repr(getattr(torch.nn, name)(3, 4, **extra))


def test_init_range():
    fibril.manual_seed(5)
    m = nn.LSTM(10, 16, num_layers=2)
    bound = 1 / 4
    for p in m.parameters():
        a = p.detach().numpy()
        assert a.min() >= -bound and a.max() <= bound and a.std() > bound / 3


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_long_sequence_backward(kind):
    fibril.manual_seed(6)
    m = module_for(kind, 8, 16)
    x = fibril.tensor(np.random.default_rng(6).standard_normal((1200, 2, 8)).astype(np.float32), requires_grad=True)
    y = m(x)[0]
    y.sum().backward()
    g = x.grad.detach().numpy()
    assert g.shape == (1200, 2, 8) and np.isfinite(g).all() and np.abs(g[0]).sum() > 0
    assert all(np.isfinite(p.grad.detach().numpy()).all() for p in m.parameters())


def test_dropout_between_layers():
    fibril.manual_seed(7)
    m = nn.GRU(4, 8, num_layers=2, dropout=0.5)
    x = fibril.tensor(np.random.default_rng(7).standard_normal((5, 3, 4)).astype(np.float32), requires_grad=True)
    m.eval()
    y_eval = m(x)[0].detach().numpy()
    np.testing.assert_array_equal(m(x)[0].detach().numpy(), y_eval)
    m.train()
    fibril.manual_seed(8)
    y1 = m(x)[0]
    fibril.manual_seed(8)
    np.testing.assert_array_equal(m(x)[0].detach().numpy(), y1.detach().numpy())
    assert not np.allclose(y1.detach().numpy(), y_eval)
    y1.sum().backward()
    assert np.isfinite(x.grad.detach().numpy()).all()
    single = nn.GRU(4, 8, num_layers=1)
    single.train()
    np.testing.assert_array_equal(single(x)[0].detach().numpy(), single.eval()(x)[0].detach().numpy())


def test_lengths_mask_outputs_and_final_states():
    fibril.manual_seed(9)
    m = nn.LSTM(3, 4, bidirectional=True, batch_first=True)
    x = np.random.default_rng(9).standard_normal((2, 6, 3)).astype(np.float32)
    y, (h, c) = m(fibril.tensor(x), lengths=fibril.tensor([6, 3]))
    assert np.all(y.detach().numpy()[1, 3:] == 0)
    short, (hs, cs) = m(fibril.tensor(x[1:, :3]))
    np.testing.assert_allclose(y.detach().numpy()[1, :3], short.detach().numpy()[0], atol=1e-6)
    np.testing.assert_allclose(h.detach().numpy()[:, 1], hs.detach().numpy()[:, 0], atol=1e-6)
    np.testing.assert_allclose(c.detach().numpy()[:, 1], cs.detach().numpy()[:, 0], atol=1e-6)


def test_bad_input():
    m = nn.LSTM(5, 7, num_layers=2)
    x = fibril.zeros(4, 3, 5)
    with pytest.raises(ValueError, match=r"input_size. Expected 5, got 6"):
        m(fibril.zeros(4, 3, 6))
    with pytest.raises(ValueError, match=r"2D \(unbatched\) or 3D.*\[5\]"):
        m(fibril.zeros(5))
    with pytest.raises(ValueError, match=r"h_0 of shape \[2, 3, 7\], got \[1, 3, 7\]"):
        m(x, (fibril.zeros(1, 3, 7), fibril.zeros(2, 3, 7)))
    with pytest.raises(ValueError, match=r"c_0 of shape \[2, 3, 7\], got \[2, 3, 6\]"):
        m(x, (fibril.zeros(2, 3, 7), fibril.zeros(2, 3, 6)))
    with pytest.raises(ValueError, match=r"hx must be a tuple"):
        m(x, fibril.zeros(2, 3, 7))
    with pytest.raises(ValueError, match=r"hx of shape \[1, 3, 7\], got \[1, 2, 7\]"):
        nn.GRU(5, 7)(x, fibril.zeros(1, 2, 7))
    with pytest.raises(ValueError, match=r"lengths must be 3 integers"):
        m(x, lengths=[1, 2])
    with pytest.raises(ValueError, match=r"lengths\[1\] = 9 is outside \[1, 4\]"):
        m(x, lengths=[1, 9, 2])
    with pytest.raises(ValueError, match=r"lengths\[0\] = 0"):
        m(x, lengths=[0, 1, 2])
    with pytest.raises(TypeError, match=r"float64"):
        m(fibril.zeros(4, 3, 5, dtype=fibril.float64))
    with pytest.raises(ValueError, match=r"expected input of shape \[batch, 5\] or \[5\], got \[3, 4\]"):
        nn.GRUCell(5, 7)(fibril.zeros(3, 4))
    with pytest.raises(ValueError, match=r"hx of shape \[3, 7\], got \[3, 6\]"):
        nn.RNNCell(5, 7)(fibril.zeros(3, 5), fibril.zeros(3, 6))
    with pytest.raises(ValueError, match=r"proj_size"):
        nn.LSTM(5, 7, proj_size=7)
    with pytest.raises(ValueError, match=r"nonlinearity"):
        nn.RNN(5, 7, nonlinearity="sigmoid")


def test_low_level_errors_name_shapes():
    x = fibril.zeros(4, 3, 5)
    w = [[fibril.zeros(28, 6)._data, fibril.zeros(28, 7)._data, None, None, None]]
    with pytest.raises(ValueError, match=r"weight_ih of shape \[28, 6\] does not match the expected \[28, 5\]"):
        fibril._C.rnn_layer("lstm", x._data, w, fibril.zeros(1, 3, 7)._data, fibril.zeros(1, 3, 7)._data, None)
    w = [[fibril.zeros(21, 5)._data, fibril.zeros(21, 7)._data, None, None, None]]
    with pytest.raises(ValueError, match=r"h0 of shape \[2, 3, 7\] does not match the expected \[1, 3, 7\]"):
        fibril._C.rnn_layer("gru", x._data, w, fibril.zeros(2, 3, 7)._data, None, None)
    with pytest.raises(ValueError, match=r"seq_len and batch >= 1"):
        fibril._C.rnn_layer("gru", fibril.zeros(0, 3, 5)._data, w, fibril.zeros(1, 3, 7)._data, None, None)


@pytest.mark.cuda
def test_cuda_mixed_devices_raise():
    x = fibril.zeros(4, 3, 5, device="cuda")
    w = [[fibril.zeros(28, 5, device="cuda")._data, fibril.zeros(28, 7)._data, None, None, None]]
    h0 = fibril.zeros(1, 3, 7, device="cuda")._data
    message = r"\[lstm\] expected all arrays on the same device, got float32\[4, 3, 5\] on cuda:0 and float32\[28, 7\]"
    with pytest.raises(RuntimeError, match=message):
        fibril._C.rnn_layer("lstm", x._data, w, h0, h0, None)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_thread_count_does_not_change_results(kind, bidirectional, num_threads):
    """The steps run per block of batch rows, as many blocks as threads: 1, 2 or 3 here."""
    fibril.manual_seed(10)
    m = module_for(kind, 16, 32, bidirectional=bidirectional)
    x = fibril.tensor(np.random.default_rng(10).standard_normal((9, 40, 16)).astype(np.float32), requires_grad=True)
    results = []
    for n in (1, 2, 3):
        num_threads(n)
        x.grad = None
        y = m(x)[0]
        y.sum().backward()
        results.append((y.detach().numpy(), x.grad.detach().numpy()))
    for y, dx in results[1:]:
        np.testing.assert_array_equal(y, results[0][0])
        np.testing.assert_array_equal(dx, results[0][1])
