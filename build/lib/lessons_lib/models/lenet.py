"""LeNet as in the lecture's table, which is the network of Caffe's ``examples/mnist/lenet.prototxt``.

Besides :class:`LeNet`, two networks with the same layer sizes but no weight sharing, which
the chapter uses only to count parameters: :func:`lenet_locally_connected` (every position
has its own filters) and :func:`lenet_dense` (every unit sees the whole previous layer), and
:func:`mlp`, a fully connected net of about LeNet's parameter count.
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import LocallyConnected2d

POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


class LeNet(nn.Module):
    """28x28x1 -> conv 5x5, 20 -> pool 2 -> conv 5x5, 50 -> pool 2 -> fc 500 -> fc 10.

    Caffe's version has no activation after the convolutions and a ReLU after the 500-unit
    layer only; ``conv_relu=True`` adds ReLUs after both convolutions and ``dropout`` adds
    dropout before the last layer: the variants the LeNet chapter measures. ``pool`` is
    ``"max"`` (Caffe's), ``"avg"``, or ``None`` (no pooling: the first linear layer then
    sees 20x20x50 = 20,000 inputs), for the chapter's exercises.
    The softmax of the lecture's layer 6 lives in the loss (``F.cross_entropy``).
    """

    def __init__(self, num_classes: int = 10, conv_relu: bool = False, dropout: float = 0.0,
                 pool: str | None = "max"):
        super().__init__()
        if pool is not None and pool not in POOLS:
            raise ValueError(f"pool must be one of {sorted(POOLS)} or None; got {pool!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {dropout!r}")
        act = nn.ReLU if conv_relu else nn.Identity
        pool_layer = (lambda: POOLS[pool](2, stride=2)) if pool else nn.Identity
        flat = 800 if pool else 20 * 20 * 50
        self.features = nn.Sequential(
            nn.Conv2d(1, 20, kernel_size=5),   # 28x28x1  -> 24x24x20
            act(),
            pool_layer(),                      # 24x24x20 -> 12x12x20
            nn.Conv2d(20, 50, kernel_size=5),  # 12x12x20 -> 8x8x50
            act(),
            pool_layer(),                      # 8x8x50   -> 4x4x50 = 800
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, 500),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(500, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"LeNet expects input of shape (N, 1, 28, 28); got {tuple(x.shape)}")
        return self.classifier(self.features(x))


def lenet_locally_connected(num_classes: int = 10) -> nn.Sequential:
    """LeNet's layers with the weight sharing removed: each output position of the two
    convolutions has its own 5x5 filters (same shapes, same connections, more weights)."""
    return nn.Sequential(
        LocallyConnected2d(1, 20, kernel_size=5, input_size=(28, 28)),   # 28x28x1  -> 24x24x20
        nn.MaxPool2d(2, stride=2),                                        # -> 12x12x20
        LocallyConnected2d(20, 50, kernel_size=5, input_size=(12, 12)),  # 12x12x20 -> 8x8x50
        nn.MaxPool2d(2, stride=2),                                        # -> 4x4x50
        nn.Flatten(),
        nn.Linear(800, 500),
        nn.ReLU(),
        nn.Linear(500, num_classes),
    )


def lenet_dense(num_classes: int = 10) -> nn.Sequential:
    """LeNet's layer sizes with full connections: each unit of the two "convolutions" sees
    every unit of the previous layer (no locality, no sharing). Pooling has no weights and
    is kept as it is."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(28 * 28 * 1, 24 * 24 * 20),
        nn.Unflatten(1, (20, 24, 24)),
        nn.MaxPool2d(2, stride=2),
        nn.Flatten(),
        nn.Linear(12 * 12 * 20, 8 * 8 * 50),
        nn.Unflatten(1, (50, 8, 8)),
        nn.MaxPool2d(2, stride=2),
        nn.Flatten(),
        nn.Linear(800, 500),
        nn.ReLU(),
        nn.Linear(500, num_classes),
    )


def mlp(hidden: int = 500, num_classes: int = 10) -> nn.Sequential:
    """784 -> ``hidden`` -> ReLU -> classes: a fully connected net (398K parameters at 500,
    close to LeNet's 431K)."""
    if not isinstance(hidden, int) or hidden <= 0:
        raise ValueError(f"hidden must be a positive int; got {hidden!r}")
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))
