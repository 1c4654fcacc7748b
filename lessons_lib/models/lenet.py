"""LeNet as in the seed's table, which is Caffe's ``examples/mnist/lenet.prototxt``."""
from __future__ import annotations

import torch
from torch import nn


class LeNet(nn.Module):
    """28x28x1 -> conv 5x5, 20 -> pool 2 -> conv 5x5, 50 -> pool 2 -> fc 500 -> fc 10.

    Caffe's version has no activation after the convolutions and a ReLU after the 500-unit
    layer only; ``conv_relu=True`` adds ReLUs after both convolutions and ``dropout`` adds
    dropout before the last layer: the variants the LeNet chapter measures.
    The softmax of the seed's layer 6 lives in the loss (``F.cross_entropy``).
    """

    def __init__(self, num_classes: int = 10, conv_relu: bool = False, dropout: float = 0.0):
        super().__init__()
        act = nn.ReLU if conv_relu else nn.Identity
        self.features = nn.Sequential(
            nn.Conv2d(1, 20, kernel_size=5),   # 28x28x1  -> 24x24x20
            act(),
            nn.MaxPool2d(2, stride=2),         # 24x24x20 -> 12x12x20
            nn.Conv2d(20, 50, kernel_size=5),  # 12x12x20 -> 8x8x50
            act(),
            nn.MaxPool2d(2, stride=2),         # 8x8x50   -> 4x4x50 = 800
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(800, 500),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(500, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"LeNet expects input of shape (N, 1, 28, 28); got {tuple(x.shape)}")
        return self.classifier(self.features(x))
