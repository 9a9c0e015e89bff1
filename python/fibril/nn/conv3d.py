"""Conv3d and ConvTranspose3d: torch.nn's parameters, initialization, padding modes and repr
from conv.py's bases, forward through ops/conv3d.py, so state dicts port both ways."""

from ..ops.conv3d import conv3d, conv_transpose3d
from .conv import _Conv, _ConvTranspose


class Conv3d(_Conv):
    _dims = 3

    def forward(self, input):
        if self.padding_mode != "zeros":
            return conv3d(self._pad_input(input), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return conv3d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ConvTranspose3d(_ConvTranspose):
    _dims = 3

    def forward(self, input, output_size=None):
        return conv_transpose3d(input, self.weight, self.bias, self.stride, self.padding,
                                self._output_padding(input, output_size), self.groups, self.dilation)
