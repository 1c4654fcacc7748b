"""torchvision's ImageNet weights, fetched so that an offline machine fails fast instead of hanging.

``torch.hub`` downloads have no timeout: on a machine without a network they can wait for
minutes. :func:`alexnet_weights` looks in torch's cache first, then checks that the download
host answers within a few seconds, then downloads with a socket timeout; it returns ``None``
(and says why in one line) when any of that fails.
"""
from __future__ import annotations

import hashlib
import socket
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import torch

from .files import atomic_write


def _weights_url() -> str:
    from torchvision.models import AlexNet_Weights

    return AlexNet_Weights.IMAGENET1K_V1.url


def alexnet_weights(timeout: float = 10.0, verbose: bool = True) -> dict | None:
    """The state dict of torchvision's ``alexnet`` ImageNet weights, or None when unavailable.

    Total time without a network stays under about ``timeout`` seconds (the host check) plus
    ``3 * timeout`` for a stalled download.
    """
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds; got {timeout!r}")
    url = _weights_url()
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name
    if not path.is_file():
        where = urlparse(url)
        try:
            socket.create_connection((where.hostname, where.port or 443), timeout=timeout).close()
            deadline = time.monotonic() + 3 * timeout + 120  # generous for 233 MB, never unbounded
            digest = hashlib.sha256()
            with urllib.request.urlopen(url, timeout=timeout) as r, atomic_write(path) as f:
                while chunk := r.read(1 << 20):
                    f.write(chunk)
                    digest.update(chunk)
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"download slower than the {deadline:.0f} s allowed")
                # torchvision's file names end with the start of their SHA-256, which torch.hub checks too
                expected = path.stem.rsplit("-", 1)[-1]
                if not digest.hexdigest().startswith(expected):
                    raise ValueError(f"the download is damaged (SHA-256 {digest.hexdigest()[:8]}..., expected "
                                     f"{expected}...)")
        except (OSError, TimeoutError, ValueError) as exc:
            if verbose:
                print(f"torchvision's ImageNet AlexNet weights are not available here (no network: {exc}); "
                      "run this page in Colab to see them.")
            return None
    return torch.load(path, map_location="cpu", weights_only=True)
