"""Weight layouts of convolutions, as torch.nn.utils.convert_conv2d_weight_memory_format and
convert_conv3d_weight_memory_format: every Conv2d / ConvTranspose2d (Conv3d / ConvTranspose3d)
in a module tree gets its weight's data laid out in memory_format, the Parameter object kept."""

from ...autograd import no_grad


def _convert(module, memory_format, classes):
    if isinstance(module, classes):
        weight = module.weight
        with no_grad():
            weight.data = weight.detach().clone().contiguous(memory_format=memory_format)
    for child in module.children():
        _convert(child, memory_format, classes)
    return module


def convert_conv2d_weight_memory_format(module, memory_format):
    """Lays out the weight of each nn.Conv2d and nn.ConvTranspose2d in module (recursively) in
    memory_format (fibril.channels_last or fibril.contiguous_format); returns module."""
    from .. import Conv2d, ConvTranspose2d
    return _convert(module, memory_format, (Conv2d, ConvTranspose2d))


def convert_conv3d_weight_memory_format(module, memory_format):
    """Lays out the weight of each nn.Conv3d and nn.ConvTranspose3d in module (recursively) in
    memory_format (fibril.channels_last_3d or fibril.contiguous_format); returns module."""
    from .. import Conv3d, ConvTranspose3d
    return _convert(module, memory_format, (Conv3d, ConvTranspose3d))
