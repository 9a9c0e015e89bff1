"""PyTorch's checkpoint format, read and written without torch.

torch.save (since 1.6) writes a zip archive: <root>/data.pkl, a protocol-2 pickle whose
tensors refer to storages by persistent id ("storage", torch.FloatStorage, key, location,
numel), and each storage's raw bytes as <root>/data/<key>, their byte order in
<root>/byteorder. The legacy format (_use_new_zipfile_serialization=False) is a stream of
pickles: magic number, protocol version, system info, the object, the list of storage keys,
then each storage as an int64 element count and its bytes.

Loading unpickles with an allowlist like torch's weights_only=True loader: containers,
numbers, strings, and tensors rebuilt by local functions as views of their storage (views of
one storage share memory, as in torch); any other global is refused, so no code from the
file runs. Saving writes the pickle opcode by opcode (a pickler would have to import torch to
name torch's globals), using only opcodes that weights_only=True accepts.
"""

import collections
import io
import pickle
import struct
import zipfile

import numpy as np

from . import _C, _interop, creation
from .tensor import Size, Tensor

_ZIP_MAGIC = b"PK\x03\x04"
_LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL_VERSION = 1001
_LEGACY_HEADER = pickle.dumps(_LEGACY_MAGIC_NUMBER, protocol=2)  # what torch's legacy files start with
_ARCHIVE_ROOT = "archive"

# fibril dtype name -> torch's storage class name and the numpy dtype of its bytes (without
# byte order; bfloat16 as bit patterns, numpy has no bfloat16).
_DTYPES = {
    "float32": ("FloatStorage", "f4"),
    "float64": ("DoubleStorage", "f8"),
    "float16": ("HalfStorage", "f2"),
    "bfloat16": ("BFloat16Storage", "u2"),
    "int64": ("LongStorage", "i8"),
    "int32": ("IntStorage", "i4"),
    "uint8": ("ByteStorage", "u1"),
    "bool": ("BoolStorage", "b1"),
}


def is_torch_checkpoint(file):
    """Whether the path or binary file object (read from its position, which is kept) starts
    like a torch.save file: a zip archive or the legacy pickle stream."""
    if hasattr(file, "read"):
        position = file.tell()
        head = file.read(len(_LEGACY_HEADER))
        file.seek(position)
    else:
        with open(file, "rb") as f:
            head = f.read(len(_LEGACY_HEADER))
    return head.startswith(_ZIP_MAGIC) or head == _LEGACY_HEADER


# ---------------------------------------------------------------------------------- loading

class _Global:
    """An allowed global as the unpickler sees it: func, for REDUCE to call. Shared by every
    load, so it refuses BUILD, which would otherwise set attributes on it."""

    __slots__ = ("func",)

    def __init__(self, func):
        self.func = func

    def __call__(self, *args):
        if self.func is None:
            raise pickle.UnpicklingError("corrupt checkpoint: it calls a type that is not allowed to be called")
        return self.func(*args)

    def __setstate__(self, state):
        raise pickle.UnpicklingError("corrupt checkpoint: it sets attributes of a global")


class _StorageType(_Global):
    """What torch.FloatStorage & co. unpickle to: the fibril dtype of the storage's elements."""

    __slots__ = ("dtype",)

    def __init__(self, dtype_name):
        super().__init__(None)
        self.dtype = getattr(_C, dtype_name)


class _Storage:
    """A storage in the file: one flat fibril Array that every tensor on it views."""

    def __init__(self, array):
        self.array = array


def _storage_view(storage, storage_offset, size, stride):
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError(f"a tensor's storage must be a storage, got {type(storage).__name__}")
    try:
        return Tensor._wrap(storage.array.as_strided(tuple(size), tuple(stride), storage_offset))
    except (TypeError, ValueError) as err:
        raise pickle.UnpicklingError(f"corrupt checkpoint: a tensor does not fit its storage: {err}") from err


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _storage_view(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    if metadata:  # conj / neg bits: the values are not the stored ones
        raise pickle.UnpicklingError(f"fibril.load cannot rebuild a tensor with {metadata} set")
    return _rebuild_parameter(_storage_view(storage, storage_offset, size, stride), requires_grad, backward_hooks)


def _rebuild_parameter(data, requires_grad, backward_hooks):
    """A Parameter comes back as a plain tensor, as a state dict holds it."""
    if not isinstance(data, Tensor):
        raise pickle.UnpicklingError(f"corrupt checkpoint: a parameter of {type(data).__name__}")
    return data.requires_grad_() if requires_grad else data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return _rebuild_parameter(data, requires_grad, backward_hooks)


def _rebuild_from_type_v2(func, new_type, args, state):
    """A tensor saved with Python attributes (or as a subclass): the tensor alone."""
    return func(*args)


def _torch_device(kind, index=None):
    return kind if index is None else f"{kind}:{index}"


def _encode_bytes(text, encoding):
    """How protocol 2 pickles bytes: _codecs.encode(the bytes as latin-1 text, "latin1")."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"fibril.load refuses _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _allowed_globals():
    tensor_type = _Global(None)  # torch.Tensor / torch.nn.Parameter: only _rebuild_from_type_v2's new_type
    allowed = {"torch.Tensor": tensor_type, "torch.nn.parameter.Parameter": tensor_type}
    allowed.update((name, _Global(func)) for name, func in {
        "collections.OrderedDict": collections.OrderedDict,
        "builtins.set": set,
        "builtins.frozenset": frozenset,
        "builtins.bytearray": bytearray,
        "builtins.complex": complex,
        "_codecs.encode": _encode_bytes,
        "torch.Size": Size,
        "torch.device": _torch_device,
        "torch._utils._rebuild_tensor": _rebuild_tensor,
        "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
        "torch._utils._rebuild_parameter": _rebuild_parameter,
        "torch._utils._rebuild_parameter_with_state": _rebuild_parameter_with_state,
        "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
    }.items())
    for dtype_name, (storage_class, _) in _DTYPES.items():
        allowed[f"torch.{storage_class}"] = _StorageType(dtype_name)
        allowed[f"torch.{dtype_name}"] = getattr(_C, dtype_name)
    return allowed


_ALLOWED_GLOBALS = _allowed_globals()


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only the globals in _ALLOWED_GLOBALS; storages come from new_storage(key,
    dtype, numel), one per key."""

    def __init__(self, file, new_storage):
        super().__init__(file)
        self._new_storage = new_storage
        self.storages = {}

    def find_class(self, module, name):
        if module == "__builtin__":  # protocol 2 names builtins as Python 2 did
            module = "builtins"
        try:
            return _ALLOWED_GLOBALS[f"{module}.{name}"]
        except KeyError:
            reason = ("fibril has no such dtype" if module == "torch" else
                      "only tensors, their storages, dtypes, sizes and plain containers are allowed")
            raise pickle.UnpicklingError(f"fibril.load refuses the global {module}.{name}: {reason}") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str) and isinstance(pid[4], int)):
            raise pickle.UnpicklingError(f"corrupt checkpoint: unknown persistent id {pid!r}")
        storage_type, key, numel = pid[1], pid[2], pid[4]
        if key not in self.storages:
            self.storages[key] = _Storage(self._new_storage(key, storage_type.dtype, numel))
        storage = self.storages[key]
        if storage.array.dtype != storage_type.dtype:
            raise pickle.UnpicklingError(f"corrupt checkpoint: storage {key!r} is read as two dtypes")
        view = pid[5] if len(pid) == 6 else None
        if view is None:
            return storage
        view_key, offset, view_numel = view  # very old torch: a storage that is part of another
        if view_key not in self.storages:
            self.storages[view_key] = _Storage(_storage_view(storage, offset, (view_numel,), (1,))._data)
        return self.storages[view_key]


def _host_array(raw, dtype, byteorder):
    """A CPU fibril Array of the raw element bytes of a storage ("little" or "big" endian)."""
    dtype_name = dtype.name
    stored = np.dtype(_DTYPES[dtype_name][1]).newbyteorder("<" if byteorder == "little" else ">")
    values = np.frombuffer(raw, dtype=stored)
    if dtype_name == "bfloat16":  # float32 with these top bits holds the value exactly
        values = (values.astype(np.uint32) << 16).view(np.float32)
    else:
        values = values.astype(stored.newbyteorder("="))
    return _interop.from_numpy(values)


def _device(map_location):
    return "cpu" if map_location is None else creation._device(map_location)


def _new_storage(dtype, numel, device):
    if numel < 0:
        raise pickle.UnpicklingError(f"corrupt checkpoint: a storage of {numel} elements")
    return _C.Array.empty((numel,), dtype, device)


def _load_zip(file, device):
    with zipfile.ZipFile(file) as archive:
        roots = [name[: -len("data.pkl")] for name in archive.namelist()
                 if name.endswith("/data.pkl") and name.count("/") == 1]
        if len(roots) != 1:
            raise RuntimeError("fibril.load: a zip file that is not a torch.save checkpoint (no <root>/data.pkl)")
        root = roots[0]
        has_byteorder = root + "byteorder" in archive.namelist()
        byteorder = archive.read(root + "byteorder").decode() if has_byteorder else "little"
        if byteorder not in ("little", "big"):
            raise RuntimeError(f"fibril.load: unknown byte order {byteorder!r} in the checkpoint")

        def read_storage(key, dtype, numel):
            storage = _new_storage(dtype, numel, device)
            raw = archive.read(f"{root}data/{key}")
            if len(raw) < storage.nbytes:
                raise pickle.UnpicklingError(f"corrupt checkpoint: storage {key!r} holds {len(raw)} bytes, "
                                             f"{storage.nbytes} expected")
            return storage.copy_(_host_array(raw[: storage.nbytes], dtype, byteorder))

        return _RestrictedUnpickler(io.BytesIO(archive.read(root + "data.pkl")), read_storage).load()


def _no_storage(key, dtype, numel):
    raise pickle.UnpicklingError("corrupt checkpoint: a storage in a legacy file's header")


def _load_legacy(file, device):
    def load_value():
        return _RestrictedUnpickler(file, _no_storage).load()

    if load_value() != _LEGACY_MAGIC_NUMBER or load_value() != _LEGACY_PROTOCOL_VERSION:
        raise RuntimeError("fibril.load: not a legacy torch.save file (wrong magic number or protocol)")
    sys_info = load_value()
    byteorder = "little" if not isinstance(sys_info, dict) or sys_info.get("little_endian", True) else "big"
    unpickler = _RestrictedUnpickler(file, lambda key, dtype, numel: _new_storage(dtype, numel, device))
    result = unpickler.load()
    for key in load_value():  # the storages' bytes follow the object, in this order
        if key not in unpickler.storages:
            raise pickle.UnpicklingError(f"corrupt checkpoint: data for unknown storage {key!r}")
        storage = unpickler.storages[key].array
        (numel,) = struct.unpack("<q" if byteorder == "little" else ">q", file.read(8))
        raw = file.read(numel * storage.itemsize)
        if numel != storage.numel() or len(raw) != storage.nbytes:
            raise pickle.UnpicklingError(f"corrupt checkpoint: storage {key!r} has the wrong size")
        storage.copy_(_host_array(raw, storage.dtype, byteorder))
    return result


def load(file, map_location=None):
    """The object torch.save wrote to file (a path or binary file object), its tensors fibril
    tensors on map_location (default the CPU, whatever device they were saved from)."""
    if not hasattr(file, "read"):
        with open(file, "rb") as f:
            return load(f, map_location)
    device = _device(map_location)
    position = file.tell()
    is_zip = file.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC
    file.seek(position)
    try:
        return _load_zip(file, device) if is_zip else _load_legacy(file, device)
    except (zipfile.BadZipFile, EOFError, struct.error, KeyError) as err:
        raise RuntimeError(f"fibril.load: not a valid PyTorch checkpoint (truncated or corrupt?): {err!r}") from err


# ---------------------------------------------------------------------------------- saving

class _PickleWriter:
    """Writes obj as the protocol-2 pickle torch.save would, tensors as torch's
    _rebuild_tensor_v2 of a storage (views of one fibril storage share it, as in torch)."""

    def __init__(self):
        self.out = bytearray(pickle.PROTO + b"\x02")
        self.storages = {}  # (address, device, dtype) -> (key, a tensor on that storage)

    def global_(self, module, name):
        self.out += pickle.GLOBAL + f"{module}\n{name}\n".encode()

    def call(self, module, name, args):
        self.global_(module, name)
        self.value(tuple(args))
        self.out += pickle.REDUCE

    def value(self, obj):
        if obj is None:
            self.out += pickle.NONE
        elif isinstance(obj, bool):
            self.out += pickle.NEWTRUE if obj else pickle.NEWFALSE
        elif isinstance(obj, int):
            self.integer(obj)
        elif isinstance(obj, float):
            self.out += pickle.BINFLOAT + struct.pack(">d", obj)
        elif isinstance(obj, str):
            data = obj.encode("utf-8", "surrogatepass")
            self.out += pickle.BINUNICODE + struct.pack("<I", len(data)) + data
        elif isinstance(obj, bytes):  # as protocol 2 pickles bytes
            self.call("_codecs", "encode", [obj.decode("latin1"), "latin1"])
        elif isinstance(obj, set):
            self.call("builtins", "set", [list(obj)])
        elif isinstance(obj, Tensor):
            self.tensor(obj)
        elif isinstance(obj, _C.DType):
            self.global_("torch", obj.name)
        elif isinstance(obj, Size):
            self.call("torch", "Size", [tuple(obj)])
        elif isinstance(obj, tuple):
            self.items(obj, pickle.TUPLE, empty=pickle.EMPTY_TUPLE)
        elif isinstance(obj, list):
            self.out += pickle.EMPTY_LIST
            self.items(obj, pickle.APPENDS)
        elif isinstance(obj, dict):
            self.dictionary(obj)
        else:
            raise TypeError(f"fibril.save cannot store a {type(obj).__name__} in torch format: checkpoints hold "
                            "tensors, numbers, strings, bytes, None, lists, tuples, sets and dicts")

    def integer(self, obj):
        if 0 <= obj < 1 << 8:
            self.out += pickle.BININT1 + struct.pack("<B", obj)
        elif 0 <= obj < 1 << 16:
            self.out += pickle.BININT2 + struct.pack("<H", obj)
        elif -(1 << 31) <= obj < 1 << 31:
            self.out += pickle.BININT + struct.pack("<i", obj)
        else:
            data = obj.to_bytes(obj.bit_length() // 8 + 1, "little", signed=True)
            if len(data) > 255:
                raise ValueError("fibril.save: an integer too large for torch format")
            self.out += pickle.LONG1 + struct.pack("<B", len(data)) + data

    def items(self, values, opcode, empty=b""):
        if not values:
            self.out += empty
            return
        self.out += pickle.MARK
        for value in values:
            self.value(value)
        self.out += opcode

    def dictionary(self, obj):
        if isinstance(obj, collections.OrderedDict):
            self.call("collections", "OrderedDict", [])
        else:
            self.out += pickle.EMPTY_DICT
        self.items([x for pair in obj.items() for x in pair], pickle.SETITEMS)
        attributes = getattr(obj, "__dict__", None)
        if isinstance(obj, collections.OrderedDict) and attributes:  # a state dict's _metadata
            self.value(dict(attributes))
            self.out += pickle.BUILD

    def tensor(self, tensor):
        array = tensor._data
        address = array.data_ptr() - array.offset * array.itemsize
        key, _ = self.storages.setdefault((address, array.device, array.dtype.name), (str(len(self.storages)), tensor))
        storage_class = _DTYPES[array.dtype.name][0]
        self.global_("torch._utils", "_rebuild_tensor_v2")
        self.out += pickle.MARK + pickle.MARK
        self.value("storage")
        self.global_("torch", storage_class)
        self.value(key)
        self.value(array.device)
        self.value(array.storage_nbytes // array.itemsize)
        self.out += pickle.TUPLE + pickle.BINPERSID
        self.value(array.offset)
        self.value(tuple(array.shape))
        self.value(tuple(array.strides))
        self.value(tensor.requires_grad)
        self.call("collections", "OrderedDict", [])
        self.out += pickle.TUPLE + pickle.REDUCE


def _storage_bytes(array):
    """All the elements of array's storage, as torch stores them (little-endian)."""
    whole = array.as_strided((array.storage_nbytes // array.itemsize,), (1,), 0)
    if whole.device != "cpu":
        whole = whole.to("cpu")
    if whole.dtype == _C.bfloat16:  # exact in float32, whose top half are the bits
        values = (np.asarray(whole.astype(_C.float32)).view(np.uint32) >> 16).astype("<u2")
    else:
        values = np.asarray(whole).astype(np.dtype(_DTYPES[whole.dtype.name][1]).newbyteorder("<"), copy=False)
    return memoryview(np.ascontiguousarray(values)).cast("B")


def save(obj, file):
    """Writes obj to file (a path or binary file object) as torch.save does, so that
    torch.load(file, weights_only=True) reads it."""
    writer = _PickleWriter()
    writer.value(obj)
    writer.out += pickle.STOP
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{_ARCHIVE_ROOT}/data.pkl", bytes(writer.out))
        archive.writestr(f"{_ARCHIVE_ROOT}/byteorder", "little")
        for key, tensor in writer.storages.values():
            archive.writestr(f"{_ARCHIVE_ROOT}/data/{key}", _storage_bytes(tensor._data))
        archive.writestr(f"{_ARCHIVE_ROOT}/version", "3\n")
