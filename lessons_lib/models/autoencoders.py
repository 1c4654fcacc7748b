"""Autoencoders for 28x28 images: linear, deep undercomplete, and one-layer overcomplete.

Each has an ``encoder`` (image -> code) and a ``decoder`` (code -> image), read top to bottom
like a table of layer sizes, and ``forward(x) = decoder(encoder(x))``. The target of training
is the input itself, so none of them ever sees a label.
"""
from __future__ import annotations

import torch
from torch import nn

IMAGE_SHAPE = (1, 28, 28)
N_PIXELS = 28 * 28


def _check_input(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} expects images of shape (N, 1, 28, 28); got {got}")


def _check_size(value, name: str) -> int:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return value


class LinearAutoencoder(nn.Module):
    """784 -> k -> 784 with no nonlinearity: the network Baldi and Hornik analysed.

    With squared error its best reconstruction is the projection onto the top-k
    principal subspace: it can do no better than PCA with k components.
    """

    def __init__(self, code_size: int):
        super().__init__()
        self.code_size = _check_size(code_size, "code_size")
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(N_PIXELS, code_size))
        self.decoder = nn.Sequential(nn.Linear(code_size, N_PIXELS),
                                     nn.Unflatten(1, IMAGE_SHAPE))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, type(self).__name__)
        return self.decoder(self.encoder(x))


class DeepAutoencoder(nn.Module):
    """784 -> 256 -> k -> 256 -> 784, one ReLU layer on each side of the code.

    No activation squashes the code or the output: the squared error is in pixel
    units, as PCA's. ``mean_image``, if given, is the output bias to start from.
    """

    def __init__(self, code_size: int, hidden_size: int = 256, mean_image=None):
        super().__init__()
        self.code_size = _check_size(code_size, "code_size")
        _check_size(hidden_size, "hidden_size")
        self.encoder = nn.Sequential(
            nn.Flatten(),                                # (N, 1, 28, 28) -> (N, 784)
            nn.Linear(N_PIXELS, hidden_size), nn.ReLU(),
            nn.Linear(hidden_size, code_size),           # the code: k numbers
        )
        self.decoder = nn.Sequential(
            nn.Linear(code_size, hidden_size), nn.ReLU(),
            nn.Linear(hidden_size, N_PIXELS),            # one value per pixel
            nn.Unflatten(1, IMAGE_SHAPE),
        )
        if mean_image is not None:
            _set_bias(self.decoder[2], mean_image)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, type(self).__name__)
        return self.decoder(self.encoder(x))


class OvercompleteAutoencoder(nn.Module):
    """784 -> h -> 784 with h > 784: one ReLU hidden layer of h units, linear output.

    ``forward`` keeps the last batch's code in ``self.code``, so that a loss can
    penalise it (see ``lessons_lib.experiments.autoencoders.sparse_mse``).
    """

    def __init__(self, hidden_size: int = 1024):
        super().__init__()
        self.hidden_size = _check_size(hidden_size, "hidden_size")
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(N_PIXELS, hidden_size),
                                     nn.ReLU())
        self.decoder = nn.Sequential(nn.Linear(hidden_size, N_PIXELS),
                                     nn.Unflatten(1, IMAGE_SHAPE))
        self.code = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, type(self).__name__)
        self.code = self.encoder(x)
        return self.decoder(self.code)


def _set_bias(layer: nn.Linear, mean_image) -> None:
    if not isinstance(mean_image, torch.Tensor) or mean_image.numel() != layer.out_features:
        got = tuple(mean_image.shape) if isinstance(mean_image, torch.Tensor) else type(mean_image).__name__
        raise ValueError(f"mean_image must be a tensor of {layer.out_features} pixels (1, 28, 28); got {got}")
    with torch.no_grad():
        layer.bias.copy_(mean_image.flatten())
