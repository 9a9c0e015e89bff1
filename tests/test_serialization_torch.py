"""fibril.load of torch.save checkpoints (zip and legacy formats) and fibril.save(...,
format="torch"): dtypes, strides and shared storages, nested objects, models that load each
other's weights, and refusal of pickles that name anything but tensors and containers."""

import collections
import io
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import fibril
import fibril.nn as nn

FIBRIL_DTYPES = [fibril.float32, fibril.float64, fibril.float16, fibril.bfloat16, fibril.int64, fibril.int32,
                 fibril.uint8, fibril.bool]


def _values(t):
    """A tensor's values as numpy (bfloat16 as float32, which holds them exactly)."""
    t = t.detach()
    return (t.float() if t.dtype == fibril.bfloat16 else t).numpy()


def _fibril_tensors():
    rng = np.random.default_rng(0)
    tensors = {dtype.name: fibril.tensor(rng.standard_normal((3, 2)) * 50, dtype=dtype) for dtype in FIBRIL_DTYPES}
    tensors["bool"] = fibril.tensor([[True, False], [False, True]])
    return tensors


def _torch_twin(torch, t):
    """The torch tensor with t's values and dtype."""
    return torch.from_numpy(_values(t).copy()).to(getattr(torch, t.dtype.name))


def _assert_same(ours, theirs, torch):
    assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_array_equal(_values(ours), theirs.detach().float().numpy() if theirs.dtype == torch.bfloat16
                                  else theirs.detach().numpy())


# ---------------------------------------------------------------------------- without torch

def test_round_trip_without_torch(tmp_path):
    base = fibril.arange(12.0).reshape(3, 4)
    checkpoint = {"model": collections.OrderedDict(_fibril_tensors()), "epoch": 3, "lr": 0.5, "name": "run",
                  "none": None, "history": [1, 2.5], "pair": (fibril.ones(2), "x"), "big": 2**70, "neg": -40000,
                  "views": {"base": base, "t": base.T, "row": base[1], "empty": fibril.zeros(0, 3)},
                  "size": fibril.Size([2, 3]), "dtype": fibril.bfloat16, "raw": b"\x00\xff", "ids": {1, 2}}
    checkpoint["model"]._metadata = {"": {"version": 1}}
    path = tmp_path / "ckpt.pt"
    fibril.save(checkpoint, path, format="torch")
    with open(path, "rb") as f:
        assert f.read(4) == b"PK\x03\x04"
    back = fibril.load(path)
    for key, value in checkpoint["model"].items():
        assert back["model"][key].dtype == value.dtype and back["model"][key].shape == value.shape
        np.testing.assert_array_equal(_values(back["model"][key]), _values(value))
    assert isinstance(back["model"], collections.OrderedDict) and back["model"]._metadata == {"": {"version": 1}}
    for key in ("epoch", "lr", "name", "none", "history", "big", "neg", "size", "dtype", "raw", "ids"):
        assert back[key] == checkpoint[key] and type(back[key]) is type(checkpoint[key])
    assert isinstance(back["pair"], tuple) and back["pair"][1] == "x" and back["pair"][0].tolist() == [1.0, 1.0]
    views = back["views"]
    assert views["t"].tolist() == base.T.tolist() and views["t"].stride() == (1, 4)
    assert views["row"].tolist() == [4.0, 5.0, 6.0, 7.0] and views["row"].storage_offset() == 4
    assert views["empty"].shape == (0, 3)
    views["base"].add_(100)  # still one storage
    assert views["row"].tolist() == [104.0, 105.0, 106.0, 107.0] and views["t"][0, 1].item() == 104.0

    buffer = io.BytesIO()  # file objects too
    fibril.save({"w": fibril.ones(2)}, buffer, format="torch")
    buffer.seek(0)
    assert fibril.load(buffer)["w"].tolist() == [1.0, 1.0]


def test_torch_format_needs_no_torch(tmp_path):
    script = f"""
import sys
sys.modules["torch"] = None  # any import of torch now fails
import fibril
fibril.save({{"w": fibril.ones(2, dtype=fibril.bfloat16)}}, {str(tmp_path / "w.pt")!r}, format="torch")
assert fibril.load({str(tmp_path / "w.pt")!r})["w"].tolist() == [1.0, 1.0]
"""
    subprocess.run([sys.executable, "-c", script], check=True, env={**os.environ, "FIBRIL_NUM_THREADS": "1"})


def test_torch_format_errors(tmp_path):
    with pytest.raises(TypeError, match="object"):
        fibril.save({"a": object()}, tmp_path / "x.pt", format="torch")
    assert not (tmp_path / "x.pt").exists()
    with pytest.raises(ValueError, match="unknown format"):
        fibril.save({}, tmp_path / "x.pt", format="pickle")
    fibril.save({"w": fibril.randn(1000)}, tmp_path / "good.pt", format="torch")
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(RuntimeError, match="not a valid PyTorch checkpoint"):
        fibril.load(tmp_path / "truncated.pt")
    with pytest.raises(ValueError, match="file object"):
        fibril.load(io.BytesIO(b"\x00not a checkpoint"))


def _zip_checkpoint(data_pkl):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/version", "3\n")
    buffer.seek(0)
    return buffer


class _RunsCommand:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_malicious_pickles_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    attack = {"weight": [1.0], "payload": _RunsCommand(f"touch {marker}")}
    zipped = _zip_checkpoint(pickle.dumps(attack, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=r"refuses the global (posix|nt|os)\.system"):
        fibril.load(zipped)
    legacy = io.BytesIO()
    for part in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}, attack):
        pickle.dump(part, legacy, protocol=2)
    legacy.seek(0)
    with pytest.raises(pickle.UnpicklingError, match="system"):
        fibril.load(legacy)
    assert not marker.exists()

    # Allowed names are shared by every load: BUILD must not set attributes on them.
    build_on_global = b"\x80\x02ccollections\nOrderedDict\n}X\x01\x00\x00\x00xK\x01sb."
    with pytest.raises(pickle.UnpicklingError, match="attributes of a global"):
        fibril.load(_zip_checkpoint(build_on_global))
    # A tensor that reaches past its storage.
    out_of_bounds = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
                     b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x02tQK\x00K\x05\x85K\x01\x85\x89}tR.")
    buffer = _zip_checkpoint(out_of_bounds)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("archive/data/0", np.zeros(2, np.float32).tobytes())
    buffer.seek(0)
    with pytest.raises(pickle.UnpicklingError, match="does not fit its storage"):
        fibril.load(buffer)


# ---------------------------------------------------------------------------- torch's files

def _torch_models(torch):
    torch.manual_seed(0)
    convnet = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                  torch.nn.Flatten(), torch.nn.Linear(4 * 5 * 5, 6))
    with torch.no_grad():  # running statistics and num_batches_tracked away from their defaults
        for _ in range(2):
            convnet(torch.randn(8, 3, 5, 5))
    sequence = torch.nn.ModuleDict({"embed": torch.nn.Embedding(10, 4),
                                    "lstm": torch.nn.LSTM(4, 5, num_layers=2, batch_first=True)})
    return convnet.eval(), sequence


def _fibril_models():
    convnet = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                            nn.Linear(4 * 5 * 5, 6))
    sequence = nn.ModuleDict({"embed": nn.Embedding(10, 4), "lstm": nn.LSTM(4, 5, num_layers=2, batch_first=True)})
    return convnet.eval(), sequence


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_torch_state_dicts_load_into_fibril_models(tmp_path, legacy):
    torch = pytest.importorskip("torch")
    convnet, sequence = _torch_models(torch)
    path = tmp_path / "resnet.pt"  # the archive's root is named after the file: "resnet/"
    torch.save({"convnet": convnet.state_dict(), "sequence": sequence.state_dict()}, path,
               _use_new_zipfile_serialization=not legacy)
    loaded = fibril.load(path)
    for name, module in (("convnet", convnet), ("sequence", sequence)):
        theirs = module.state_dict()
        assert list(loaded[name]) == list(theirs)
        for key, value in theirs.items():
            _assert_same(loaded[name][key], value, torch)
            assert not loaded[name][key].requires_grad
    assert loaded["convnet"]["1.num_batches_tracked"].dtype == fibril.int64
    assert loaded["convnet"]["1.num_batches_tracked"].item() == 2

    ours_convnet, ours_sequence = _fibril_models()
    ours_convnet.load_state_dict(loaded["convnet"])
    ours_sequence.load_state_dict(loaded["sequence"])
    images = np.random.default_rng(1).standard_normal((2, 3, 5, 5)).astype(np.float32)
    with torch.no_grad():
        expected = convnet(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(ours_convnet(fibril.from_numpy(images)).detach().numpy(), expected, atol=1e-5)
    tokens = np.array([[1, 4, 9], [0, 2, 2]])
    with torch.no_grad():
        expected, _ = sequence["lstm"](sequence["embed"](torch.from_numpy(tokens)))
    got, _ = ours_sequence["lstm"](ours_sequence["embed"](fibril.from_numpy(tokens)))
    np.testing.assert_allclose(got.detach().numpy(), expected.numpy(), atol=1e-5)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_torch_views_keep_strides_and_share_storage(legacy):
    torch = pytest.importorskip("torch")
    weight = torch.arange(12.0).reshape(3, 4)
    views = {"weight": weight, "transposed": weight.t(), "first": weight[0], "rest": weight[1:, 1:],
             "expanded": torch.ones(3, 1).expand(3, 4)}
    buffer = io.BytesIO()  # the archive's root is "archive/"
    torch.save(views, buffer, _use_new_zipfile_serialization=not legacy)
    buffer.seek(0)
    loaded = fibril.load(buffer)
    for key, value in views.items():
        _assert_same(loaded[key], value, torch)
        assert loaded[key].stride() == value.stride() and loaded[key].storage_offset() == value.storage_offset()
    loaded["weight"].mul_(-1)  # one storage, as in torch
    assert loaded["transposed"][1, 0].item() == -1.0
    assert loaded["first"].tolist() == [0.0, -1.0, -2.0, -3.0] and loaded["rest"][0, 0].item() == -5.0


def test_torch_dtypes_and_nested_objects():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tensors = {"float32": torch.randn(2, 3), "float64": torch.randn(3, dtype=torch.float64),
               "float16": torch.randn(4).half(), "bfloat16": torch.randn(2, 2).bfloat16().t(),
               "int64": torch.tensor([-(2**40), 7]), "int32": torch.tensor([[-3, 4]], dtype=torch.int32),
               "uint8": torch.tensor([0, 255], dtype=torch.uint8), "bool": torch.tensor([True, False]),
               "scalar": torch.tensor(2.5)}
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(2):
        optimizer.zero_grad()
        model(torch.randn(4, 3)).sum().backward()
        optimizer.step()
    checkpoint = {"tensors": tensors, "model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3,
                  "best": float("inf"), "note": "ok", "none": None, "history": [0.5, 0.25],
                  "shape": torch.Size([2, 3]), "dtype": torch.float16, "raw": b"\x01\xfe", "tags": {"a", "b"},
                  "parameter": torch.nn.Parameter(torch.ones(2))}
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    buffer.seek(0)
    loaded = fibril.load(buffer)
    for key, value in tensors.items():
        _assert_same(loaded["tensors"][key], value, torch)
    for key, value in model.state_dict().items():
        _assert_same(loaded["model"][key], value, torch)
    theirs = optimizer.state_dict()
    assert loaded["optimizer"]["param_groups"] == theirs["param_groups"]
    assert sorted(loaded["optimizer"]["state"]) == [0, 1]
    for index, state in theirs["state"].items():
        assert sorted(loaded["optimizer"]["state"][index]) == sorted(state)
        for key, value in state.items():
            _assert_same(loaded["optimizer"]["state"][index][key], value, torch)
    for key in ("epoch", "best", "note", "none", "history", "raw", "tags"):
        assert loaded[key] == checkpoint[key]
    assert loaded["shape"] == fibril.Size([2, 3]) and loaded["dtype"] == fibril.float16
    parameter = loaded["parameter"]
    assert type(parameter) is fibril.Tensor and parameter.requires_grad and parameter.tolist() == [1.0, 1.0]

    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(2, dtype=torch.int8)}, buffer)
    buffer.seek(0)
    with pytest.raises(pickle.UnpicklingError, match="torch.CharStorage: fibril has no such dtype"):
        fibril.load(buffer)


# ---------------------------------------------------------------------------- fibril's files in torch

def test_torch_loads_fibril_checkpoints(tmp_path):
    torch = pytest.importorskip("torch")
    fibril.manual_seed(0)
    ours = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    tensors = _fibril_tensors()
    base = fibril.arange(6.0).reshape(2, 3)
    checkpoint = {"model": ours.state_dict(), "tensors": tensors, "epoch": 3, "note": "x", "history": [0.5, None],
                  "pair": (1, 2.0), "optimizer": {"state": {0: {"step": fibril.tensor(2.0)}},
                                                  "param_groups": [{"lr": 0.1, "params": [0]}]},
                  "views": {"base": base, "t": base.T, "row": base[1]}, "size": fibril.Size([4]),
                  "dtype": fibril.int32}
    path = tmp_path / "ours.pt"
    fibril.save(checkpoint, path, format="torch")
    loaded = torch.load(path, weights_only=True)
    assert isinstance(loaded["model"], collections.OrderedDict) and list(loaded["model"]) == list(ours.state_dict())
    for key, value in tensors.items():
        _assert_same(value, loaded["tensors"][key], torch)
    assert loaded["epoch"] == 3 and loaded["note"] == "x" and loaded["history"] == [0.5, None]
    assert loaded["pair"] == (1, 2.0) and loaded["optimizer"]["param_groups"] == [{"lr": 0.1, "params": [0]}]
    assert loaded["optimizer"]["state"][0]["step"].item() == 2.0
    assert loaded["size"] == torch.Size([4]) and loaded["dtype"] == torch.int32
    views = loaded["views"]
    assert views["t"].stride() == (1, 3) and views["row"].storage_offset() == 3
    views["base"].add_(10)
    assert views["row"].tolist() == [13.0, 14.0, 15.0] and views["t"][2, 0].item() == 12.0

    theirs = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    theirs.load_state_dict(loaded["model"])
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(fibril.from_numpy(x)).detach().numpy(), expected, atol=1e-5)


@pytest.mark.cuda
def test_cuda_tensors_in_torch_format(tmp_path):
    model = nn.Linear(3, 2).cuda()
    path = tmp_path / "cuda.pt"
    fibril.save(model.state_dict(), path, format="torch")
    on_cpu, on_cuda = fibril.load(path), fibril.load(path, map_location="cuda")
    assert all(t.device == "cpu" for t in on_cpu.values()) and all(t.device == "cuda:0" for t in on_cuda.values())
    np.testing.assert_array_equal(on_cuda["weight"].cpu().numpy(), model.weight.detach().cpu().numpy())
    np.testing.assert_array_equal(on_cpu["bias"].numpy(), model.bias.detach().cpu().numpy())
