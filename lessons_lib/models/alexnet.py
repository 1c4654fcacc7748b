"""AlexNet three ways, and the AlexNet-style network the chapter trains on MNIST.

* :class:`LectureAlexNet` -- the lecture's table taken literally: 96-256-384-384-256 kernels, no
  pooling after the last convolution, so the first fully-connected layer reads
  13 x 13 x 256 = 43,264 values.
* :class:`AlexNet2012` -- the NeurIPS 2012 paper: the same kernels, local response
  normalisation after the first two convolutions, a third overlapping pooling to
  6 x 6 x 256 = 9,216, and the two-GPU split written as grouped convolutions (``groups=2``):
  layers 2, 4 and 5 only see the kernel maps on their own GPU.
* :class:`TorchvisionAlexNet` -- ``torchvision.models.alexnet`` (64-192-384-256-256 kernels, no
  LRN, no groups): the single-GPU configuration of cuda-convnet2, not the 2012 network and not the
  "one weird trick" paper's 64-192-384-384-256 either; with ImageNet weights on request.
* :class:`MnistAlexNet` -- AlexNet's layer sequence (11x11 stride-4 stem, overlapping max
  pooling, five convolutions, two dropout fully-connected layers) for one-channel digits, with
  its widths, activation, dropout and pooling as arguments: the network the chapter trains.
* :class:`FourLayerCNN` -- the form of the paper's Figure 1 network, for ReLU against tanh.
* :class:`SparseAutoencoder` -- one layer of tied weights that learns first-layer filters from
  patches of photographs.

Each ``__init__`` reads top to bottom like its table; the comments give the output shapes
(H x W x C) for the input size the class expects.
"""
from __future__ import annotations

import torch
from torch import nn


def _check_input(x: torch.Tensor, channels: int, size: int | None, name: str) -> None:
    if x.ndim != 4 or x.shape[1] != channels or (size is not None and tuple(x.shape[2:]) != (size, size)):
        want = f"(N, {channels}, {size}, {size})" if size is not None else f"(N, {channels}, H, W)"
        raise ValueError(f"{name} expects input of shape {want}; got {tuple(x.shape)}")


class LectureAlexNet(nn.Module):
    """The lecture's table: 227x227x3 -> conv 11x11/4, 96 -> pool 3/2 -> conv 5x5, 256 -> pool 3/2
    -> conv 3x3 384 -> conv 3x3 384 -> conv 3x3 256 -> fc 4096 -> fc 4096 -> 1000.

    The lecture writes 224 x 224 x 3 for the input and 55 x 55 x 96 after the first
    convolution; (224 - 11) / 4 + 1 = 54.25, so 55 needs 227 (or padding): this class takes
    227. Its fully-connected input, 43,264, is 13 x 13 x 256: no pooling after layer 7.
    """

    input_size = (3, 227, 227)

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=11, stride=4),     # 55 x 55 x 96
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),          # 27 x 27 x 96
            nn.Conv2d(96, 256, kernel_size=5, padding=2),   # 27 x 27 x 256
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),          # 13 x 13 x 256
            nn.Conv2d(256, 384, kernel_size=3, padding=1),  # 13 x 13 x 384
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1),  # 13 x 13 x 384
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),  # 13 x 13 x 256 (no pooling after it)
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),                                   # 43,264
            nn.Dropout(0.5),
            nn.Linear(13 * 13 * 256, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),                   # the softmax lives in the loss
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, 3, 227, "LectureAlexNet")
        return self.classifier(self.features(x))


class AlexNet2012(nn.Module):
    """Krizhevsky, Sutskever and Hinton (2012), Figure 2, on one device.

    Layers numbered as in the lecture (1 to 10, poolings included). 96@11x11x3 stride 4,
    256@5x5x48, 384@3x3x256, 384@3x3x192, 256@3x3x192; fc 4096, 4096, 1000. ``groups=2`` is
    the two-GPU split: the kernels of layers 3, 6 and 7 see only the 48 (or 192) maps on their
    own GPU; layer 5 and the fully-connected layers see both halves. LRN (k=2, n=5,
    alpha=1e-4, beta=0.75) follows the ReLU of layers 1 and 3. The paper says 224 x 224 input;
    its 55 x 55 first layer needs 227 without padding, which this class takes.
    """

    input_size = (3, 227, 227)

    def __init__(self, num_classes: int = 1000, groups: int = 2):
        super().__init__()
        lrn = dict(size=5, alpha=1e-4, beta=0.75, k=2.0)
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=11, stride=4),                     # 55 x 55 x 96
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(**lrn),
            nn.MaxPool2d(kernel_size=3, stride=2),                          # 27 x 27 x 96
            nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=groups),    # 27 x 27 x 256 (2 x 128)
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(**lrn),
            nn.MaxPool2d(kernel_size=3, stride=2),                          # 13 x 13 x 256
            nn.Conv2d(256, 384, kernel_size=3, padding=1),                  # 13 x 13 x 384 (crosses GPUs)
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=groups),   # 13 x 13 x 384 (2 x 192)
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=groups),   # 13 x 13 x 256 (2 x 128)
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),                          # 6 x 6 x 256
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),                                                   # 9,216
            nn.Dropout(0.5),
            nn.Linear(6 * 6 * 256, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, 3, 227, "AlexNet2012")
        return self.classifier(self.features(x))


class TorchvisionAlexNet(nn.Module):
    """``torchvision.models.alexnet``: 224x224x3, 64-192-384-256-256 kernels, fc 4096-4096-1000.

    ``weights="DEFAULT"`` loads the ImageNet weights (see :func:`lessons_lib.pretrained`
    for a download that fails fast offline); ``None`` gives a random initialisation.
    """

    input_size = (3, 224, 224)

    def __init__(self, num_classes: int = 1000, weights=None):
        super().__init__()
        from torchvision.models import alexnet

        net = alexnet(weights=weights, num_classes=num_classes)
        self.features, self.avgpool, self.classifier = net.features, net.avgpool, net.classifier
        self.flatten = nn.Flatten()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, 3, None, "TorchvisionAlexNet")
        return self.classifier(self.flatten(self.avgpool(self.features(x))))


class Subsample(nn.Module):
    """The centre pixel of each 3x3 stride-2 window: max pooling's geometry without the max.

    Swapping it for ``nn.MaxPool2d(3, 2)`` keeps every shape and the subsampling, and removes
    only the pooling: what the chapter's shift-sensitivity measurement compares. Its geometry, as
    the layer table reads it: output pixel i is input pixel 2i + 1, a 1 x 1 window every 2 pixels
    with the border pixel cropped (padding -1).
    """

    kernel_size, stride, padding = 1, 2, -1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., 1:x.shape[-2] - 1:2, 1:x.shape[-1] - 1:2]


class MnistAlexNet(nn.Module):
    """AlexNet's layer sequence for 1-channel digits resized to ``resolution``.

    conv 11x11/4 (pad 2) -> pool 3/2 -> conv 5x5 -> pool 3/2 -> conv 3x3 -> conv 3x3 -> conv 3x3
    -> pool 3/2 -> fc -> fc -> 10, with dropout on the outputs of the two hidden
    fully-connected layers, as in the paper ("dropout in the first two fully-connected layers"). At 224 and the default widths this is torchvision's AlexNet for 10 classes
    (6 x 6 x 256 = 9,216 into the first fully-connected layer); at 64 the last pooling leaves
    1 x 1. ``activation`` is ``"relu"`` or ``"tanh"``; ``pool`` is ``"max"`` or ``"none"``
    (:class:`Subsample`: same shapes, no max). Weights start from a normal distribution with
    std sqrt(1 / fan-in) and zero biases whatever the activation, so a ReLU and a tanh network
    built with the same seed start from the same weights. Why this one: with PyTorch's default
    (uniform, std sqrt(1 / (3 fan-in))) the signal shrinks through the eight layers and neither
    network learns in its first hundred steps; with He's std sqrt(2 / fan-in) the first SGD steps
    at the paper's learning rate blow up (loss > 100 at full width) and the ReLUs die.
    """

    def __init__(self, resolution: int = 224, widths=(64, 192, 384, 256, 256), fc: int = 4096,
                 num_classes: int = 10, activation: str = "relu", dropout: float = 0.5, pool: str = "max"):
        super().__init__()
        if activation not in ("relu", "tanh"):
            raise ValueError(f"activation must be 'relu' or 'tanh'; got {activation!r}")
        if pool not in ("max", "none"):
            raise ValueError(f"pool must be 'max' or 'none'; got {pool!r}")
        if not isinstance(resolution, int) or resolution < 63:
            raise ValueError(f"resolution must be an int >= 63 (smaller inputs vanish after the third pooling); "
                             f"got {resolution!r}")
        if len(widths) != 5:
            raise ValueError(f"widths must give the 5 convolutions' kernel counts; got {widths!r}")
        self.resolution = resolution
        act = {"relu": nn.ReLU, "tanh": nn.Tanh}[activation]
        down = (lambda: nn.MaxPool2d(kernel_size=3, stride=2)) if pool == "max" else Subsample
        c1, c2, c3, c4, c5 = widths
        s = (resolution + 4 - 11) // 4 + 1      # after the stem
        s = ((s - 3) // 2 + 1 - 3) // 2 + 1      # after pools 1 and 2 (conv 2-5 keep the size)
        s = (s - 3) // 2 + 1                     # after pool 3: 6 at 224, 1 at 64
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, kernel_size=11, stride=4, padding=2),
            act(),
            down(),
            nn.Conv2d(c1, c2, kernel_size=5, padding=2),
            act(),
            down(),
            nn.Conv2d(c2, c3, kernel_size=3, padding=1),
            act(),
            nn.Conv2d(c3, c4, kernel_size=3, padding=1),
            act(),
            nn.Conv2d(c4, c5, kernel_size=3, padding=1),
            act(),
            down(),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c5 * s * s, fc),
            act(),
            nn.Dropout(dropout),
            nn.Linear(fc, fc),
            act(),
            nn.Dropout(dropout),
            nn.Linear(fc, num_classes),
        )
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="linear")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, 1, self.resolution, "MnistAlexNet")
        return self.classifier(self.features(x))


class FourLayerCNN(nn.Module):
    """A four-layer convolutional network for 28 x 28 digits: the form of the network in Figure 1
    of the AlexNet paper (there on CIFAR-10), with ``activation`` "relu" or "tanh".

    Built with the same seed, the ReLU and the tanh network start from the same weights
    (PyTorch's default initialisation does not depend on the activation).
    """

    def __init__(self, activation: str = "relu", width: int = 32, num_classes: int = 10):
        super().__init__()
        if activation not in ("relu", "tanh"):
            raise ValueError(f"activation must be 'relu' or 'tanh'; got {activation!r}")
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive int; got {width!r}")
        act = {"relu": nn.ReLU, "tanh": nn.Tanh}[activation]
        self.features = nn.Sequential(
            nn.Conv2d(1, width, kernel_size=5, padding=2),      # 28 x 28 x width
            act(),
            nn.MaxPool2d(2),                                    # 14 x 14 x width
            nn.Conv2d(width, width, kernel_size=5, padding=2),  # 14 x 14 x width
            act(),
            nn.MaxPool2d(2),                                    # 7 x 7 x width
            nn.Conv2d(width, width, kernel_size=3, padding=1),  # 7 x 7 x width
            act(),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(7 * 7 * width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, 1, 28, "FourLayerCNN")
        return self.classifier(self.features(x))


class SparseAutoencoder(nn.Module):
    """One layer of ``n_units`` ReLU units with tied weights, for learning filters from patches.

    encode: h = relu(W x + b), with each row of W scaled to unit length; decode: x_hat = W^T h.
    Trained on squared error plus ``sparsity * sum(h)``: each patch must be rebuilt from a few
    active units, which is what makes the rows of W local, oriented filters
    (Olshausen and Field, 1996).
    """

    def __init__(self, n_inputs: int, n_units: int = 96):
        super().__init__()
        if not isinstance(n_inputs, int) or n_inputs < 1 or not isinstance(n_units, int) or n_units < 1:
            raise ValueError(f"n_inputs and n_units must be positive ints; got {n_inputs!r} and {n_units!r}")
        self.weight = nn.Parameter(torch.randn(n_units, n_inputs) / n_inputs ** 0.5)
        self.bias = nn.Parameter(torch.zeros(n_units))

    def filters(self) -> torch.Tensor:
        return nn.functional.normalize(self.weight, dim=1)

    def forward(self, x: torch.Tensor):
        """Return ``(x_hat, h)``: the reconstruction and the unit activities."""
        if x.ndim != 2 or x.shape[1] != self.weight.shape[1]:
            raise ValueError(f"SparseAutoencoder expects input of shape (N, {self.weight.shape[1]}); got {tuple(x.shape)}")
        w = self.filters()
        h = torch.relu(x @ w.T + self.bias)
        return h @ w, h
