"""Layers that torch lacks and the chapters need.

``LocallyConnected2d`` is a convolution without weight sharing: the same local connections
(a k x k window of every input channel), but each output position has its own filters. It
shows what weight sharing saves: its weight has ``out_h * out_w`` times a convolution's.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _pair(v, name):
    v = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(v) != 2 or not all(isinstance(i, int) and i > 0 for i in v):
        raise ValueError(f"{name} must be a positive int or a pair of them; got {v!r}")
    return v


class LocallyConnected2d(nn.Module):
    """A 2-D layer with a ``kernel_size`` window and stride like ``nn.Conv2d`` (no padding),
    but an independent filter bank at every output position.

    Args:
        in_channels, out_channels: as in ``nn.Conv2d``.
        kernel_size, stride: int or (rows, cols).
        input_size: (H, W) of the input, needed to size the per-position weights.

    ``weight`` has shape (out_h * out_w, out_channels, in_channels * kh * kw) and ``bias``
    (out_channels, out_h, out_w). With every position's filters set to one convolution's, the
    layer computes exactly that convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, input_size, stride=1, bias: bool = True):
        super().__init__()
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name} must be a positive int; got {v!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.input_size = _pair(input_size, "input_size")
        oh, ow = ((i - k) // s + 1 for i, k, s in zip(self.input_size, self.kernel_size, self.stride))
        if oh <= 0 or ow <= 0:
            raise ValueError(f"input_size {self.input_size} is smaller than kernel_size {self.kernel_size}")
        self.output_size = (oh, ow)
        fan_in = in_channels * self.kernel_size[0] * self.kernel_size[1]
        bound = 1 / math.sqrt(fan_in)  # nn.Conv2d's default initialisation range
        self.weight = nn.Parameter(torch.empty(oh * ow, out_channels, fan_in).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_channels, oh, ow).uniform_(-bound, bound)) if bias else None

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, input_size) -> "LocallyConnected2d":
        """A locally connected layer whose filters at every position are ``conv``'s."""
        if not isinstance(conv, nn.Conv2d) or conv.padding != (0, 0) or conv.dilation != (1, 1) or conv.groups != 1:
            raise ValueError(f"conv must be an nn.Conv2d without padding, dilation or groups; got {conv!r}")
        layer = cls(conv.in_channels, conv.out_channels, conv.kernel_size, input_size, conv.stride,
                    bias=conv.bias is not None)
        with torch.no_grad():
            layer.weight.copy_(conv.weight.reshape(conv.out_channels, -1).expand_as(layer.weight))
            if conv.bias is not None:
                layer.bias.copy_(conv.bias[:, None, None].expand_as(layer.bias))
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels or tuple(x.shape[2:]) != self.input_size:
            raise ValueError(f"LocallyConnected2d expects input (N, {self.in_channels}, {self.input_size[0]}, "
                             f"{self.input_size[1]}); got {tuple(x.shape)}")
        cols = F.unfold(x, self.kernel_size, stride=self.stride)          # (N, C*kh*kw, L)
        out = torch.einsum("nfl,lof->nol", cols, self.weight)             # (N, out_channels, L)
        out = out.reshape(x.shape[0], self.out_channels, *self.output_size)
        return out + self.bias if self.bias is not None else out

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"input_size={self.input_size}")
