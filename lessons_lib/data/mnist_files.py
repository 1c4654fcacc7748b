"""MNIST from local IDX files, the user's cache, or torchvision's download, verified by MD5.

Search order for the four IDX files (``*-ubyte`` or ``*-ubyte.gz``, torchvision's layout
``<root>/MNIST/raw/``):

1. the directory named by ``$LESSONS_DATA``;
2. the user's cache directory (``$XDG_CACHE_HOME/lessons_lib`` or ``~/.cache/lessons_lib``);
3. a download from torchvision's mirrors into that cache, which fails within
   ``DOWNLOAD_TIMEOUT`` seconds when nothing answers (offline, or a proxy that never replies),
   with a message that says how to point ``$LESSONS_DATA`` at local files.

Every file is checked against the MD5 of its *uncompressed* IDX bytes, so a gzip wrapper made
by another tool is accepted and a truncated or corrupt file is named in the error. Nothing
enters the cache unverified, and the uncompressed copies made for torchvision
(:func:`torchvision_root`) are verified again each time they are used.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import time
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..files import atomic_write

# MD5 of the uncompressed IDX files (the canonical MNIST bytes).
MD5_UNCOMPRESSED = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DOWNLOAD_TIMEOUT = 30.0  # seconds for the first answer from a mirror: the whole attempt when offline
DATA_ENV = "LESSONS_DATA"


class MnistFileError(ValueError):
    """A data file is missing, truncated or corrupt."""


@dataclass
class Split:
    """One split of a dataset: uint8 images (N, H, W) and int64 labels (N,), on the CPU."""

    images: torch.Tensor
    labels: torch.Tensor
    name: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, n: int | None, seed: int = 0) -> "Split":
        """The first ``n`` items of a fixed random permutation (all of them when n is None)."""
        if n is None or n >= len(self):
            return self
        if not isinstance(n, int) or n <= 0:
            raise ValueError(f"n must be a positive int or None; got {n!r}")
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        idx, _ = idx.sort()
        return Split(self.images[idx], self.labels[idx], f"{self.name}[{n}]")


def cache_dir() -> Path:
    """Where downloaded or decompressed data is kept for this user."""
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base) / "lessons_lib"


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:  # truncated, damaged, or not gzip at all
            raise MnistFileError(f"{path}: cannot be decompressed ({exc}); the file is corrupt or truncated: "
                                 "delete it and fetch it again") from exc
    return data


def _parse_idx(data: bytes, path: Path) -> np.ndarray:
    """Parse IDX bytes (magic 0x0000 08 ndim, big-endian dims, uint8 payload)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise MnistFileError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise MnistFileError(f"{path}: expected {expected} bytes for shape {dims}, found {len(data)}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _find(root: Path, stem: str) -> Path | None:
    for folder in (root / "MNIST" / "raw", root / "raw", root):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def read_idx(path: str | Path, verify: bool = True) -> np.ndarray:
    """Read one MNIST IDX file (plain or gzip), checking the MD5 of its uncompressed bytes."""
    path = Path(path)
    return _parse_idx(_verified_bytes(path, verify), path)


def _verified_bytes(path: Path, verify: bool = True) -> bytes:
    """The uncompressed bytes of ``path``, checked against the canonical MD5 when the file is one of MNIST's."""
    if not path.is_file():
        raise MnistFileError(f"{path}: no such file")
    data = _read_bytes(path)
    stem = path.name.removesuffix(".gz")
    if verify and stem in MD5_UNCOMPRESSED:
        md5 = hashlib.md5(data).hexdigest()
        if md5 != MD5_UNCOMPRESSED[stem]:
            raise MnistFileError(
                f"{path}: MD5 of the uncompressed bytes is {md5}, expected {MD5_UNCOMPRESSED[stem]}; "
                "the file is corrupt or truncated: delete it and fetch it again"
            )
    return data


def locate_mnist(download: bool = True) -> Path:
    """The root folder holding all four MNIST files, following the search order above."""
    candidates = []
    env = os.environ.get(DATA_ENV)
    if env:
        root = Path(env).expanduser()
        if not root.is_dir():
            raise ValueError(f"{DATA_ENV} must name a directory holding MNIST/raw/; got {env!r}, which does not exist")
        candidates.append(root)
    candidates.append(cache_dir())
    for root in candidates:
        if all(_find(root, stem) for pair in FILES.values() for stem in pair):
            return root
    if env:
        missing = [s for p in FILES.values() for s in p if not _find(Path(env).expanduser(), s)]
        raise ValueError(f"{DATA_ENV}={env!r} is missing MNIST files {missing} (looked in MNIST/raw/, raw/ and the folder itself)")
    if not download:
        raise MnistFileError(
            f"MNIST not found in {cache_dir()}; set {DATA_ENV} to a folder with MNIST/raw/*-ubyte(.gz)"
        )
    return download_mnist(cache_dir())


def download_mnist(root: Path, timeout: float | None = None) -> Path:
    """Download the four MNIST files from torchvision's mirrors into ``root/MNIST/raw/``.

    Never hangs: the mirrors share ``timeout`` seconds (default ``DOWNLOAD_TIMEOUT``) to answer,
    so with no network, or behind a proxy that accepts connections and never replies, this fails
    within ``timeout`` seconds with a hint; once a mirror answers, a transfer that stalls for
    ``timeout`` seconds fails too. Each file is verified before it is kept.
    """
    from torchvision.datasets import MNIST

    timeout = DOWNLOAD_TIMEOUT if timeout is None else timeout
    hint = (
        f"Could not download MNIST (no network?). Point {DATA_ENV} at a folder that holds "
        "MNIST/raw/train-images-idx3-ubyte(.gz) and the three other files, e.g. "
        f"`export {DATA_ENV}=/path/to/data`."
    )
    names = [name for name, _ in MNIST.resources]
    deadline = time.monotonic() + timeout
    errors = []
    for i, mirror in enumerate(MNIST.mirrors):
        # connecting and waiting for the answer are two waits: each gets half of this mirror's share
        share = (deadline - time.monotonic()) / (len(MNIST.mirrors) - i) / 2
        if share <= 0:
            break
        try:
            for k, name in enumerate(names):
                wait = share if k == 0 else timeout  # after the first answer: a stall limit per read
                with urllib.request.urlopen(mirror + name, timeout=wait) as response:
                    data = response.read()
                path = root / "MNIST" / "raw" / name
                with atomic_write(path) as f:
                    f.write(data)
                try:
                    _verified_bytes(path)
                except MnistFileError:
                    path.unlink()
                    raise
            return root
        except (OSError, MnistFileError) as exc:  # URLError, timeouts, refused connections, bad files
            errors.append(f"{mirror}: {exc}")
    raise MnistFileError(f"{hint} ({'; '.join(errors) or f'no answer within {timeout:g} s'})")


def load_mnist(split: str = "train", root: str | Path | None = None, download: bool = True) -> Split:
    """The full MNIST ``train`` (60,000) or ``test`` (10,000) split as uint8 tensors, verified."""
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    if root is not None:
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"root must be an existing directory holding MNIST/raw/; got {str(root)!r}")
    else:
        root = locate_mnist(download=download)
    img_stem, lbl_stem = FILES[split]
    paths = [_find(root, s) for s in (img_stem, lbl_stem)]
    if None in paths:
        raise ValueError(f"root {str(root)!r} does not hold {img_stem} and {lbl_stem} (plain or .gz)")
    images = torch.from_numpy(read_idx(paths[0]).copy())
    labels = torch.from_numpy(read_idx(paths[1]).astype(np.int64))
    return Split(images, labels, f"mnist-{split}")


def torchvision_root(download: bool = True) -> Path:
    """A folder in torchvision's layout with the *uncompressed* verified files, for ``MNIST(root)``.

    torchvision looks for ``MNIST/raw/*-ubyte`` without ``.gz``; this decompresses the files
    found by :func:`locate_mnist` into the cache. A copy is written only after its MD5 matched,
    atomically (concurrent first uses are safe), and checked again at every call: a copy that
    no longer matches is replaced from the verified source, never used.
    """
    dst = cache_dir() / "MNIST" / "raw"
    src = None
    for stem, md5 in MD5_UNCOMPRESSED.items():
        target = dst / stem
        if target.is_file() and hashlib.md5(target.read_bytes()).hexdigest() == md5:
            continue
        src = src or locate_mnist(download=download)
        source = _find(src, stem)
        if source == target:  # the source is this damaged copy: use the download it came from
            source = target.with_name(stem + ".gz")
            if not source.is_file():
                raise MnistFileError(f"{target}: MD5 does not match MNIST's; the file is corrupt: delete it, or set "
                                     f"{DATA_ENV} to a folder with good copies")
        data = _verified_bytes(source)
        with atomic_write(target) as f:
            f.write(data)
    return cache_dir()


SAMPLE_PATH = Path(__file__).with_name("mnist_sample.npz")


def load_sample() -> tuple[Split, Split]:
    """The small MNIST sample shipped inside the package (no network, no data folder needed).

    3,000 training and 1,000 test images, drawn with a fixed seed from the full MNIST by
    ``tools/make_mnist_sample.py``. MNIST is by Yann LeCun, Corinna Cortes and Christopher
    J.C. Burges, licensed CC BY-SA 3.0.
    """
    with np.load(SAMPLE_PATH) as z:
        train = Split(torch.from_numpy(z["train_images"]), torch.from_numpy(z["train_labels"]).long(), "mnist-sample-train")
        test = Split(torch.from_numpy(z["test_images"]), torch.from_numpy(z["test_labels"]).long(), "mnist-sample-test")
    return train, test


def mnist(source: str = "auto", n_train: int | None = None, n_test: int | None = None,
          seed: int = 0) -> tuple[Split, Split]:
    """Train and test splits for a notebook.

    ``source``: ``"full"`` (the real 60k/10k MNIST), ``"sample"`` (the shipped sample) or
    ``"auto"``: the sample under the smoke profile, the full set otherwise. ``n_train`` and
    ``n_test`` take a fixed random subset.
    """
    from ..config import current_profile

    if source not in ("auto", "full", "sample"):
        raise ValueError(f"source must be 'auto', 'full' or 'sample'; got {source!r}")
    if source == "auto":
        source = "sample" if current_profile() == "smoke" else "full"
    if source == "sample":
        train, test = load_sample()
    else:
        train, test = load_mnist("train"), load_mnist("test")
    return train.subset(n_train, seed), test.subset(n_test, seed + 1)
