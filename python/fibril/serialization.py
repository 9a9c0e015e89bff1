"""fibril.save / fibril.load: state dicts (of models, optimizers, or a dict holding both and
plain values) in the safetensors format, through the `safetensors` package (the `io` extra).

A flat dict of named tensors (a model's state_dict) is written as a plain safetensors file,
so `safetensors.torch.load_file` reads it, and a file written by
`safetensors.torch.save_file(model.state_dict())` loads here. The header lists tensors sorted,
so the dict's key order is kept in the metadata (a file without it loads in header order).
Anything else (nesting, numbers, strings, lists, None, a key named "__metadata__", which is
the header's own) is kept as JSON in the file's metadata, with each tensor stored under a
generated key. The file is written next to its destination and renamed over it, so a
crash mid-write leaves the old file intact.

PyTorch's own checkpoints (torch.save's zip format, and its legacy pickle stream) load too,
recognised by their first bytes, and save(obj, f, format="torch") writes one that
torch.load(f, weights_only=True) reads; see _torch_format. Neither needs torch."""

import collections
import json
import os
import struct
import tempfile

import numpy as np

from . import _C, _torch_format
from .tensor import Tensor

_STRUCTURE_KEY = "fibril.structure"
_ORDER_KEY = "fibril.order"
_HEADER_METADATA = "__metadata__"  # the safetensors header's metadata entry: no tensor may have this name
_TENSOR = "__tensor__"


def _safetensors():
    try:
        import safetensors
    except ImportError as err:
        raise ImportError("fibril.save/fibril.load need the safetensors package: pip install safetensors "
                          "(or pip install fibril[io])") from err
    return safetensors


class _BFloat16Bits:
    """A bfloat16 tensor's values as their uint16 bit patterns (numpy has no bfloat16)."""

    def __init__(self, bits):
        self.bits = bits


def _host_array(t):
    if t.device != "cpu":
        t = t.to("cpu")
    if t.dtype == _C.bfloat16:  # exact in float32, whose top half are the bits
        wide = np.ascontiguousarray(t.detach().float().numpy())
        return _BFloat16Bits((wide.view(np.uint32) >> 16).astype(np.uint16))
    array = t.detach().numpy()
    return array if array.flags.c_contiguous else array.copy(order="C")  # (ascontiguousarray makes 0-d 1-d)


def _write(safetensors, tensors, path, metadata):
    """safetensors.numpy.save_file, plus bfloat16 (stored as safetensors' BF16)."""
    specs = {}
    for key, array in tensors.items():
        data = array.bits if isinstance(array, _BFloat16Bits) else array
        dtype = "bfloat16" if isinstance(array, _BFloat16Bits) else data.dtype.name
        if hasattr(safetensors, "TensorSpec"):  # safetensors >= 0.8: zero-copy specs
            specs[key] = safetensors.TensorSpec(dtype=dtype, shape=data.shape, data_ptr=data.ctypes.data,
                                                data_len=data.nbytes)
        else:
            specs[key] = {"dtype": dtype, "shape": data.shape, "data": data.tobytes()}
    safetensors.serialize_file(specs, path, metadata=metadata)


def _read_bf16(path, keys):
    """The BF16 entries of a safetensors file (numpy cannot hold them), read from the data
    section the header points at."""
    with open(path, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_len))
        out = {}
        for key in keys:
            begin, end = header[key]["data_offsets"]
            f.seek(8 + header_len + begin)
            bits = np.frombuffer(f.read(end - begin), dtype="<u2").astype(np.uint16)
            out[key] = _BFloat16Bits(bits.reshape(header[key]["shape"]))
        return out


def _is_flat_state_dict(obj):
    return isinstance(obj, dict) and _HEADER_METADATA not in obj and all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items())


def _encode(obj, tensors, path):
    """obj with every Tensor replaced by {"__tensor__": key}; the arrays collected in tensors."""
    if isinstance(obj, Tensor):
        key = ".".join(path) or "tensor"
        while key in tensors or key == _HEADER_METADATA:
            key += "_"
        tensors[key] = _host_array(obj)
        return {_TENSOR: key}
    if isinstance(obj, dict):
        if any(not isinstance(k, (str, int)) for k in obj):
            raise TypeError("fibril.save: dict keys must be str or int")
        return {"dict": [[k, _encode(v, tensors, path + [str(k)])] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        items = [_encode(v, tensors, path + [str(i)]) for i, v in enumerate(obj)]
        return {"tuple" if isinstance(obj, tuple) else "list": items}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    raise TypeError(f"fibril.save cannot store a {type(obj).__name__}: state dicts hold tensors, numbers, "
                    "strings, None, lists, tuples and dicts")


def _decode(node, arrays, device):
    if _TENSOR in node:
        return _tensor(arrays[node[_TENSOR]], device)
    if "dict" in node:
        return {k: _decode(v, arrays, device) for k, v in node["dict"]}
    if "list" in node:
        return [_decode(v, arrays, device) for v in node["list"]]
    if "tuple" in node:
        return tuple(_decode(v, arrays, device) for v in node["tuple"])
    return node["value"]


def _tensor(array, device):
    from . import creation
    if isinstance(array, _BFloat16Bits):  # float32 with these top bits holds the value exactly
        values = (array.bits.astype(np.uint32) << 16).view(np.float32)
        return creation.tensor(values, dtype=_C.bfloat16, device=device)
    return creation.tensor(array, device=device)


def _replace_atomically(path, write):
    """write(temporary path), then that file renamed over path (removed if write fails)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".fibril-save-", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def save(obj, f, format="safetensors"):
    """Writes obj (a state dict, or a dict of them and plain values) to the path f.
    format="torch": PyTorch's checkpoint format instead, which torch.load reads (f may then
    also be a binary file object)."""
    if format == "torch":
        if hasattr(f, "write"):
            _torch_format.save(obj, f)
        else:
            _replace_atomically(os.fspath(f), lambda tmp: _torch_format.save(obj, tmp))
        return
    if format != "safetensors":
        raise ValueError(f"fibril.save: unknown format {format!r} (expected 'safetensors' or 'torch')")
    safetensors = _safetensors()
    path = os.fspath(f)
    tensors = {}
    if _is_flat_state_dict(obj):
        tensors = {k: _host_array(v) for k, v in obj.items()}
        metadata = {"format": "pt", _ORDER_KEY: json.dumps(list(obj))}
    else:
        metadata = {"format": "pt", _STRUCTURE_KEY: json.dumps(_encode(obj, tensors, []))}
    _replace_atomically(path, lambda tmp: _write(safetensors, tensors, tmp, metadata))


def load(f, map_location=None):
    """Reads what save() wrote (or any safetensors file: a dict of name -> Tensor, or any
    torch.save checkpoint, from a path or a binary file object), with the tensors on
    map_location ("cpu", "cuda", "cuda:N"; default the CPU)."""
    if hasattr(f, "read"):
        if not _torch_format.is_torch_checkpoint(f):
            raise ValueError("fibril.load: a file object must hold a PyTorch checkpoint; "
                             "safetensors files are read from a path")
        return _torch_format.load(f, map_location)
    path = os.fspath(f)
    if not os.path.exists(path):
        raise FileNotFoundError(f"fibril.load: no such file: {path!r}")
    if _torch_format.is_torch_checkpoint(path):
        return _torch_format.load(path, map_location)
    safetensors = _safetensors()
    try:
        with safetensors.safe_open(path, framework="numpy") as handle:
            metadata = handle.metadata() or {}
            bf16 = [key for key in handle.keys() if handle.get_slice(key).get_dtype() == "BF16"]
            arrays = {key: handle.get_tensor(key) for key in handle.keys() if key not in bf16}
        arrays.update(_read_bf16(path, bf16))
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise RuntimeError(f"fibril.load: {path!r} is not a valid safetensors file "
                           f"(truncated or corrupt?): {err}") from err
    if _STRUCTURE_KEY in metadata:
        return _decode(json.loads(metadata[_STRUCTURE_KEY]), arrays, map_location)
    order = json.loads(metadata[_ORDER_KEY]) if _ORDER_KEY in metadata else []
    if sorted(order) != sorted(arrays):  # no order saved, or tensors added or removed since
        order = arrays
    return collections.OrderedDict((k, _tensor(arrays[k], map_location)) for k in order)
