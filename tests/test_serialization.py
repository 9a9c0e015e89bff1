"""fibril.save / fibril.load: safetensors round trips of state dicts and nested objects,
interop with safetensors.torch in both directions, atomic replacement, corrupt files."""

import os

import numpy as np
import pytest

import fibril
import fibril.nn as nn

safetensors = pytest.importorskip("safetensors")
try:
    import torch
    import safetensors.torch as st_torch
except ImportError:
    torch = None


def test_flat_state_dict_round_trip_every_dtype(tmp_path):
    state = {
        "f32": fibril.randn(3, 4),
        "f64": fibril.randn(2, dtype=fibril.float64),
        "i64": fibril.tensor([1, -2, 3]),
        "i32": fibril.tensor([7], dtype=fibril.int32),
        "u8": fibril.tensor([[0, 255]], dtype=fibril.uint8),
        "flag": fibril.tensor([True, False]),
        "scalar": fibril.tensor(2.5),
        "empty": fibril.zeros(0, 3),
        "strided": fibril.arange(12.0).reshape(3, 4).T,
        "f16": fibril.randn(5, 3).half(),
        "bf16": fibril.randn(4, 6).bfloat16().T,
        "bf16_empty": fibril.zeros(0, dtype=fibril.bfloat16),
    }
    fibril.save(state, tmp_path / "s.safetensors")
    loaded = fibril.load(tmp_path / "s.safetensors")
    assert set(loaded) == set(state)
    for key, value in state.items():
        assert loaded[key].dtype == value.dtype and loaded[key].shape == value.shape
        np.testing.assert_array_equal(loaded[key].float().numpy(), value.float().numpy())
    nested = {"model": {"w": state["bf16"]}, "step": 1}
    fibril.save(nested, tmp_path / "n.safetensors")
    back = fibril.load(tmp_path / "n.safetensors")["model"]["w"]
    assert back.dtype == fibril.bfloat16
    np.testing.assert_array_equal(back.float().numpy(), state["bf16"].float().numpy())


@pytest.mark.skipif(torch is None, reason="needs torch")
def test_16_bit_interop_with_safetensors_torch(tmp_path):
    theirs = {"bf16": torch.randn(3, 5).bfloat16(), "f16": torch.randn(4).half()}
    st_torch.save_file(theirs, str(tmp_path / "t.safetensors"))
    ours = fibril.load(tmp_path / "t.safetensors")
    assert ours["bf16"].dtype == fibril.bfloat16 and ours["f16"].dtype == fibril.float16
    for key in theirs:
        np.testing.assert_array_equal(ours[key].float().numpy(), theirs[key].float().numpy())
    fibril.save(ours, tmp_path / "o.safetensors")
    again = st_torch.load_file(str(tmp_path / "o.safetensors"))
    for key in theirs:
        assert again[key].dtype == theirs[key].dtype and torch.equal(again[key], theirs[key])


def test_nested_objects_round_trip(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    checkpoint = {"model": model.state_dict(), "epoch": 7, "best": float("inf"), "note": "ok", "none": None,
                  "history": [0.5, 0.25], "pair": (1, fibril.ones(2)),
                  "optimizer": {"state": {0: {"step": 3, "exp_avg": fibril.zeros(4, 3)}},
                                "param_groups": [{"lr": 0.1, "params": [0, 1]}]}}
    fibril.save(checkpoint, tmp_path / "ckpt")
    back = fibril.load(tmp_path / "ckpt")
    assert back["epoch"] == 7 and back["best"] == float("inf") and back["none"] is None
    assert back["history"] == [0.5, 0.25] and back["note"] == "ok"
    assert isinstance(back["pair"], tuple) and back["pair"][1].tolist() == [1.0, 1.0]
    assert back["optimizer"]["state"][0]["step"] == 3
    assert back["optimizer"]["param_groups"][0]["params"] == [0, 1]
    fresh = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    fresh.load_state_dict(back["model"])
    x = fibril.randn(5, 3)
    np.testing.assert_array_equal(fresh(x).detach().numpy(), model(x).detach().numpy())


def test_flat_state_dict_keeps_key_order(tmp_path):
    import safetensors.numpy as st_numpy

    state = {"z": fibril.zeros(2), "a": fibril.ones(3), "layer.10.w": fibril.ones(1), "layer.2.w": fibril.zeros(1)}
    path = tmp_path / "order.safetensors"
    fibril.save(state, path)
    assert list(fibril.load(path)) == list(state)
    assert sorted(st_numpy.load_file(str(path))) == sorted(state)  # still a plain safetensors file
    if torch is not None:
        assert sorted(st_torch.load_file(str(path))) == sorted(state)
    st_numpy.save_file({k: v.numpy() for k, v in state.items()}, str(tmp_path / "plain.safetensors"))
    assert list(fibril.load(tmp_path / "plain.safetensors")) == sorted(state)  # no saved order: header order


def test_header_metadata_key_round_trips(tmp_path):
    import safetensors.numpy as st_numpy

    for obj in ({"__metadata__": fibril.ones(2), "w": fibril.zeros(1)},
                {"__metadata__": fibril.ones(2), "__metadata___": fibril.zeros(3)},
                {"__metadata__": fibril.ones(2), "step": 4},  # a generated key
                {"__metadata__": {"x": fibril.ones(2)}, "step": 4}):
        fibril.save(obj, tmp_path / "m.safetensors")
        back = fibril.load(tmp_path / "m.safetensors")
        assert list(back) == list(obj)
        for key, value in obj.items():
            if isinstance(value, fibril.Tensor):
                assert back[key].tolist() == value.tolist()
        assert "__metadata__" not in st_numpy.load_file(str(tmp_path / "m.safetensors"))
    assert back["__metadata__"]["x"].tolist() == [1.0, 1.0] and back["step"] == 4


def test_unsupported_values_are_type_errors(tmp_path):
    with pytest.raises(TypeError, match="set"):
        fibril.save({"a": {1, 2}}, tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_interop_with_safetensors_torch(tmp_path):
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    st_torch.save_file(theirs.state_dict(), str(tmp_path / "torch.safetensors"))
    ours = nn.Sequential(nn.Linear(6, 5), nn.Identity(), nn.Linear(5, 3))
    ours.load_state_dict(fibril.load(tmp_path / "torch.safetensors"))
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    lin0, lin2 = ours[0], ours[2]
    expected = theirs(torch.from_numpy(x)).detach().numpy()
    h = fibril.from_numpy(x) @ lin0.weight.mT + lin0.bias
    got = lin2(h * (h > 0)).detach().numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)

    fibril.save(ours.state_dict(), tmp_path / "ours.safetensors")
    again = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    again.load_state_dict(st_torch.load_file(str(tmp_path / "ours.safetensors")))
    np.testing.assert_allclose(again(torch.from_numpy(x)).detach().numpy(), expected, atol=1e-5)


def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "keep.safetensors"
    fibril.save({"w": fibril.ones(3)}, path)

    def broken(specs, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors, "serialize_file", broken)
    with pytest.raises(OSError, match="disk full"):
        fibril.save({"w": fibril.zeros(3)}, path)
    monkeypatch.undo()
    assert fibril.load(path)["w"].tolist() == [1.0, 1.0, 1.0]
    assert os.listdir(tmp_path) == ["keep.safetensors"]


def test_corrupt_and_missing_files(tmp_path):
    path = tmp_path / "good.safetensors"
    fibril.save({"w": fibril.randn(100)}, path)
    data = path.read_bytes()
    (tmp_path / "truncated").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage").write_bytes(b"\x00not a safetensors file at all")
    for name in ("truncated", "garbage"):
        with pytest.raises(RuntimeError, match="not a valid safetensors file"):
            fibril.load(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        fibril.load(tmp_path / "missing.safetensors")


@pytest.mark.cuda
def test_cuda_state_dict_round_trip(tmp_path):
    model = fibril.nn.Linear(3, 2).cuda()
    path = tmp_path / "cuda.safetensors"
    fibril.save(model.state_dict(), path)
    on_cpu, on_cuda = fibril.load(path), fibril.load(path, map_location="cuda")
    assert all(t.device == "cpu" for t in on_cpu.values())
    assert all(t.device == "cuda:0" for t in on_cuda.values())
    fresh = fibril.nn.Linear(3, 2).cuda()
    fresh.load_state_dict(on_cpu)
    assert fresh.weight.device == "cuda:0"
    np.testing.assert_array_equal(fresh.weight.detach().cpu().numpy(), model.weight.detach().cpu().numpy())
