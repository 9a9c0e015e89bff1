"""fibril.device: torch.device's place. A device is a string ("cpu", "cuda", "cuda:1") with
torch's attributes (type, index), repr and context-manager use, so that code written for
torch.device runs and code that treats devices as strings keeps working."""

_TYPES = ("cpu", "cuda")


def _parse(spec):
    """(type, index or None) of a device string, with torch's error for anything else."""
    kind, sep, index = spec.partition(":")
    if kind not in _TYPES:
        raise RuntimeError(f"Expected one of {', '.join(_TYPES)} device type at start of device string: {spec}")
    if not sep:
        return kind, None
    if not index.isdigit() or (len(index) > 1 and index[0] == "0"):
        raise RuntimeError(f"Invalid device string: '{spec}'")
    return kind, int(index)


class device(str):
    """device("cuda"), device("cuda:1"), device("cuda", 1), device(1) (CUDA device 1) or
    device(another_device). Equal to, and hashed as, its string ("cuda:0"); `with device(...)`
    makes it the default device of factory functions, as torch's."""

    __slots__ = ()

    def __new__(cls, type=None, index=None):
        if isinstance(type, device) and index is None:
            return type
        if isinstance(type, int) and not isinstance(type, bool) and index is None:
            type, index = "cuda", type
        if not isinstance(type, str):
            raise TypeError(f"device(): argument 'type' must be str, not {type.__class__.__name__}")
        kind, parsed = _parse(type)
        if index is not None:
            if parsed is not None:
                raise RuntimeError(f"type (string) must not include an index because index was passed explicitly: "
                                   f"{type}")
            if not isinstance(index, int) or index < 0:
                raise RuntimeError(f"Device index must not be negative, got {index}")
            parsed = index
        return super().__new__(cls, kind if parsed is None else f"{kind}:{parsed}")

    @property
    def type(self):
        return self.partition(":")[0]

    @property
    def index(self):
        _, sep, index = self.partition(":")
        return int(index) if sep else None

    def __repr__(self):
        index = self.index
        return f"device(type='{self.type}')" if index is None else f"device(type='{self.type}', index={index})"

    def __reduce__(self):
        return device, (str(self),)

    def __enter__(self):
        from . import runtime

        _replaced.append(runtime.get_default_device())
        runtime.set_default_device(self)
        return self

    def __exit__(self, *exc):
        from . import runtime

        runtime.set_default_device(_replaced.pop())
        return False


_replaced = []  # the default devices that enclosing `with device(...)` blocks replaced

_interned = {}


def of(name):
    """The device for a kernel's device string (one object per string: Tensor.device is hot)."""
    d = _interned.get(name)
    if d is None:
        d = _interned[name] = device(name)
    return d
