"""Tensor repr and print options, formatted as torch's (torch/_tensor_str.py): the same
choice of fixed, integral or scientific notation from the nonzero finite values, the same
column widths, line wrapping at `linewidth`, summarisation past `threshold` elements with
`edgeitems` per side, and the same suffixes (dtype, device, grad_fn)."""

import contextlib
import math

import numpy as np

_DEFAULTS = dict(precision=4, threshold=1000, edgeitems=3, linewidth=80, sci_mode=None)
_PROFILES = {
    "default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
    "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
    "full": dict(precision=4, threshold=math.inf, edgeitems=3, linewidth=80),
}
_options = dict(_DEFAULTS)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """As torch.set_printoptions: a profile ('default', 'short', 'full') first, then the options
    given; sci_mode is always set (None: chosen from the values)."""
    if profile is not None:
        _options.update(_PROFILES[profile])
    for name, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                        ("linewidth", linewidth)):
        if value is not None:
            _options[name] = value
    _options["sci_mode"] = sci_mode


def get_printoptions():
    """The current options, as keyword arguments for set_printoptions."""
    return dict(_options)


@contextlib.contextmanager
def printoptions(**kwargs):
    """Changes the print options inside a `with` block."""
    old = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**old)


class _Formatter:
    """One width and notation for every element of a tensor (torch's _Formatter)."""

    def __init__(self, values):
        self.floating = values.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        precision = _options["precision"]
        flat = values.reshape(-1)
        if not self.floating:
            self.max_width = max((len(str(v)) for v in flat.tolist()), default=1)
            return
        nonzero = flat[np.isfinite(flat) & (flat != 0)]
        if nonzero.size == 0:
            return
        magnitudes = np.abs(nonzero).astype(np.float64)
        low, high = magnitudes.min(), magnitudes.max()
        self.int_mode = bool(np.all(nonzero == np.ceil(nonzero)))
        sci = _options["sci_mode"]
        self.sci_mode = high / low > 1000.0 or high > 1.0e8 or low < 1.0e-4 if sci is None else sci
        values = nonzero.tolist()
        if self.sci_mode:
            self.max_width = max(len(f"{v:.{precision}e}") for v in values)
        elif self.int_mode:
            self.max_width = max(len(f"{v:.0f}") + 1 for v in values)
        else:
            self.max_width = max(len(f"{v:.{precision}f}") for v in values)

    def format(self, value):
        precision = _options["precision"]
        if not self.floating:
            text = str(value)
        elif self.sci_mode:
            text = f"{value:{self.max_width}.{precision}e}"
        elif self.int_mode:
            text = f"{value:.0f}" + ("" if math.isinf(value) or math.isnan(value) else ".")
        else:
            text = f"{value:.{precision}f}"
        return " " * (self.max_width - len(text)) + text


def _summarized(values):
    """The values that show when summarised: edgeitems from each end of every dimension."""
    edge = _options["edgeitems"]
    if values.ndim == 0:
        return values
    if values.ndim > 1 and not edge:
        return values[(slice(0, 0),) * values.ndim]
    if values.shape[0] > 2 * edge:
        values = np.concatenate((values[:edge], values[-edge:]))
    if values.ndim == 1:
        return values
    return np.stack([_summarized(row) for row in values])


def _vector_text(values, indent, summarize, formatter):
    edge, linewidth = _options["edgeitems"], _options["linewidth"]
    per_line = max(1, math.floor((linewidth - indent) / (formatter.max_width + 2)))
    if summarize and not edge:
        items = ["..."]
    elif summarize and values.shape[0] > 2 * edge:
        items = ([formatter.format(v) for v in values[:edge].tolist()] + [" ..."]
                 + [formatter.format(v) for v in values[-edge:].tolist()])
    else:
        items = [formatter.format(v) for v in values.tolist()]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested_text(values, indent, summarize, formatter):
    if values.ndim == 0:
        return formatter.format(values.item())
    if values.ndim == 1:
        return _vector_text(values, indent, summarize, formatter)
    edge = _options["edgeitems"]
    if summarize and values.shape[0] > 2 * edge:
        rows = ([_nested_text(values[i], indent + 1, summarize, formatter) for i in range(edge)] + ["..."]
                + [_nested_text(values[i], indent + 1, summarize, formatter)
                   for i in range(values.shape[0] - edge, values.shape[0])])
    else:
        rows = [_nested_text(row, indent + 1, summarize, formatter) for row in values]
    return "[" + ("," + "\n" * (values.ndim - 1) + " " * (indent + 1)).join(rows) + "]"


def values_text(values, indent):
    """The bracketed body of a tensor's repr, from its values as a numpy array."""
    if values.size == 0:
        return "[]"
    if values.dtype == np.float16:  # formatted through float32, which holds every float16 value
        values = values.astype(np.float32)
    summarize = values.size > _options["threshold"]
    formatter = _Formatter(_summarized(values) if summarize else values)
    return _nested_text(values, indent, summarize, formatter)


def _with_suffixes(text, suffixes, indent):
    parts = [text]
    last_line = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line + len(suffix) + 2 > _options["linewidth"]:
            parts.append(",\n" + " " * indent + suffix)
            last_line = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line += len(suffix) + 2
    return "".join(parts) + ")"


def tensor_repr(t, values):
    """repr(t), values: its values on the host as a numpy array."""
    from .creation import get_default_dtype
    from .runtime import get_default_device

    prefix = "tensor("
    indent = len(prefix)
    suffixes = []
    if t.device != get_default_device():
        suffixes.append(f"device='{t.device}'")
    default_dtype = t.dtype == get_default_dtype() or t.dtype.name in ("int64", "bool")
    if t.numel() == 0:
        if t.ndim != 1:
            suffixes.append(f"size={tuple(t.shape)}")
        if t.dtype != get_default_dtype():
            suffixes.append(f"dtype={t.dtype!r}")
        body = "[]"
    else:
        if not _options["edgeitems"]:
            suffixes.append(f"size={tuple(t.shape)}")
        if not default_dtype:
            suffixes.append(f"dtype={t.dtype!r}")
        body = values_text(values, indent)
    try:
        grad_fn = t.grad_fn
    except RuntimeError:  # a view whose history cannot be rebuilt (see tensor._View), printed as torch does
        suffixes.append("grad_fn=<Invalid>")
    else:
        if grad_fn is not None:
            suffixes.append(f"grad_fn=<{grad_fn.name()}>")
        elif t.requires_grad:
            suffixes.append("requires_grad=True")
    return _with_suffixes(prefix + body, suffixes, indent)
