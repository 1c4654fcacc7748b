"""LeNet as in the lecture's table, which is the network of Caffe's ``examples/mnist/lenet.prototxt``.

Besides :class:`LeNet`, two networks with the same layer sizes but no weight sharing, which
the chapter uses only to count parameters: :func:`lenet_locally_connected` (every position
has its own filters) and :func:`lenet_dense` (every unit sees the whole previous layer), and
:func:`mlp`, a fully connected net of about LeNet's parameter count.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .layers import LocallyConnected2d

POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


class LeNet(nn.Module):
    """The lecture's table, layer for layer, named as in Caffe's lenet.prototxt.

    As in Caffe's file, only pooling follows the convolutions, a ReLU follows ip1,
    and the softmax of layer 6 is left to the loss (``F.cross_entropy``). The
    keywords build the chapter's variants by adding real layers: ``conv_relu=True``
    a ReLU after each convolution, ``dropout=p`` dropout before ip2, ``pool="avg"``
    average pooling, ``pool=None`` no pooling (ip1 then sees 20 x 20 x 50 inputs).
    """

    def __init__(self, num_classes: int = 10, conv_relu: bool = False,
                 dropout: float = 0.0, pool: str | None = "max"):
        super().__init__()
        self.features = nn.Sequential(OrderedDict(
            conv1=nn.Conv2d(1, 20, kernel_size=5),   # layer 1: 28x28x1 -> 24x24x20
            pool1=nn.MaxPool2d(2, stride=2),         # layer 2: -> 12x12x20
            conv2=nn.Conv2d(20, 50, kernel_size=5),  # layer 3: -> 8x8x50
            pool2=nn.MaxPool2d(2, stride=2),         # layer 4: -> 4x4x50
        ))
        self.classifier = nn.Sequential(OrderedDict(
            flatten=nn.Flatten(),                    # 4x4x50 -> 800
            ip1=nn.Linear(800, 500),                 # layer 5
            relu1=nn.ReLU(),
            ip2=nn.Linear(500, num_classes),         # layer 6: scores (softmax: loss)
        ))
        _make_variant(self, conv_relu, dropout, pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError("LeNet expects input of shape (N, 1, 28, 28); "
                             f"got {tuple(x.shape)}")
        return self.classifier(self.features(x))


def _make_variant(model: LeNet, conv_relu: bool, dropout: float, pool: str | None) -> None:
    """Add or swap real layers for the chapter's variants (Caffe's network is left as it is).

    The parameters are created in Caffe's network first, so a seed gives every variant the same
    initial convolution weights; only ``pool=None`` draws a new, wider ``ip1``.
    """
    if pool is not None and pool not in POOLS:
        raise ValueError(f"pool must be one of {sorted(POOLS)} or None; got {pool!r}")
    if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1); got {dropout!r}")
    features = OrderedDict()
    for name, layer in model.features.named_children():
        if name.startswith("pool"):
            if pool is None:
                continue
            layer = POOLS[pool](2, stride=2)
        features[name] = layer
        if conv_relu and name.startswith("conv"):
            features[f"relu_{name}"] = nn.ReLU()
    model.features = nn.Sequential(features)
    classifier = OrderedDict(model.classifier.named_children())
    if pool is None:
        classifier["ip1"] = nn.Linear(20 * 20 * 50, 500)
    if dropout:
        classifier = OrderedDict([*list(classifier.items())[:-1], ("drop1", nn.Dropout(dropout)),
                                  ("ip2", classifier["ip2"])])
    model.classifier = nn.Sequential(classifier)


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
