"""F.unfold (im2col) and F.fold (col2im), as torch's: sliding blocks of a batched 4-D input as
columns, and columns summed back into their places. Both are composed from views (pad, then
Tensor.unfold along height and width, a dilation step) and one reshape or slice-adds, so their
gradients (each is the other's adjoint) come from those ops."""

import numbers

from .. import creation
from .index import permute, reshape, unfold as unfold_dim
from .join import pad


def _pair(value, name):
    pair = (value, value) if isinstance(value, numbers.Integral) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, numbers.Integral) for v in pair):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    return pair


def _geometry(kernel_size, dilation, padding, stride):
    kernel, dilation = _pair(kernel_size, "kernel_size"), _pair(dilation, "dilation")
    padding, stride = _pair(padding, "padding"), _pair(stride, "stride")
    if min(kernel) <= 0 or min(dilation) <= 0 or min(stride) <= 0 or min(padding) < 0:
        raise ValueError(f"kernel_size {kernel}, dilation {dilation} and stride {stride} must be positive and "
                         f"padding {padding} non-negative")
    return kernel, dilation, padding, stride


def _blocks(size, kernel, dilation, padding, stride):
    """Block positions along one dim (0 or fewer: the padded input is smaller than the kernel)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """(N, C, H, W) or (C, H, W) -> (N, C kh kw, L): each column one block's values, channel
    outermost, as torch.nn.functional.unfold."""
    kernel, dilation, padding, stride = _geometry(kernel_size, dilation, padding, stride)
    if input.ndim not in (3, 4):
        raise ValueError(f"unfold: expected a 3-D or 4-D input, got shape {tuple(input.shape)}")
    batched = input if input.ndim == 4 else reshape(input, (1, *input.shape))
    n, c, h, w = batched.shape
    rows, cols = (_blocks(s, k, d, p, st) for s, k, d, p, st in zip((h, w), kernel, dilation, padding, stride))
    if rows <= 0 or cols <= 0:
        raise ValueError(f"unfold: input of shape {tuple(input.shape)} with padding {padding} is smaller than the "
                         f"kernel {kernel} at dilation {dilation}")
    x = pad(batched, (padding[1], padding[1], padding[0], padding[0])) if any(padding) else batched
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    # (N, C, rows, cols, span_h, span_w), then every dilation-th tap
    x = unfold_dim(unfold_dim(x, 2, spans[0], stride[0]), 3, spans[1], stride[1])
    x = x[:, :, :rows, :cols, ::dilation[0], ::dilation[1]]
    out = reshape(permute(x, (0, 1, 4, 5, 2, 3)), (n, c * kernel[0] * kernel[1], rows * cols))
    return out if input.ndim == 4 else reshape(out, out.shape[1:])


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """(N, C kh kw, L) or (C kh kw, L) -> (N, C, H, W): each column's values summed into its
    block's places (overlaps add), as torch.nn.functional.fold."""
    kernel, dilation, padding, stride = _geometry(kernel_size, dilation, padding, stride)
    height, width = _pair(output_size, "output_size")
    if input.ndim not in (2, 3):
        raise ValueError(f"fold: expected a 2-D or 3-D input, got shape {tuple(input.shape)}")
    batched = input if input.ndim == 3 else reshape(input, (1, *input.shape))
    n, ckk, length = batched.shape
    taps = kernel[0] * kernel[1]
    if ckk % taps:
        raise ValueError(f"fold: input of shape {tuple(input.shape)}: its size {ckk} along dim {input.ndim - 2} "
                         f"is not a multiple of the kernel's {taps} taps")
    rows, cols = (_blocks(s, k, d, p, st)
                  for s, k, d, p, st in zip((height, width), kernel, dilation, padding, stride))
    if rows <= 0 or cols <= 0 or rows * cols != length:
        raise ValueError(f"fold: input of shape {tuple(input.shape)} has {length} blocks, but output_size "
                         f"{(height, width)} with kernel {kernel}, dilation {dilation}, padding {padding} and "
                         f"stride {stride} makes {max(rows, 0)} x {max(cols, 0)}")
    c = ckk // taps
    blocks = reshape(batched, (n, c, kernel[0], kernel[1], rows, cols))
    out = creation.zeros((n, c, height + 2 * padding[0], width + 2 * padding[1]), dtype=input.dtype,
                         device=input.device)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            y0, x0 = i * dilation[0], j * dilation[1]
            out[:, :, y0:y0 + stride[0] * (rows - 1) + 1:stride[0], x0:x0 + stride[1] * (cols - 1) + 1:stride[1]] += \
                blocks[:, :, i, j]
    out = out[:, :, padding[0]:padding[0] + height, padding[1]:padding[1] + width]
    return out if input.ndim == 3 else reshape(out, out.shape[1:])
