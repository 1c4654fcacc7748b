"""A loader that keeps a whole dataset on the training device.

A per-sample ``DataLoader`` decodes, converts and collates every image on the CPU, every
epoch, then copies each batch to the GPU. MNIST is 47 MB as uint8: it fits on any GPU, so
``DeviceLoader`` puts it there once. Each epoch is one random permutation; conversion to
float, scaling, normalisation, random shifts and resizing run batched on the device, a chunk
of batches at a time, and each batch is a view into that chunk.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class DeviceLoader:
    """Iterate ``(inputs, targets)`` batches of tensors that live on ``device``.

    Args:
        x: inputs, shape (N, ...). uint8 images (N, H, W) or (N, C, H, W) are converted to
            float and multiplied by ``scale``; 3-D image arrays get a channel axis.
        y: targets, shape (N, ...), or ``None`` for unsupervised learning: then each batch is
            ``(inputs, inputs)`` and no label is ever read.
        batch_size: items per batch.
        shuffle: a new permutation each epoch, drawn from the loader's own seeded generator,
            so runs are reproducible and resumable.
        drop_last: drop the last incomplete batch (keeps shapes static, e.g. for CUDA graphs).
        scale: multiplier applied to uint8 inputs (1/255 by default; Caffe's LeNet uses 1/256).
        normalize: ``(mean, std)`` subtracted and divided after scaling, or None.
        shift: augmentation, a random translation of each image by up to this many pixels in
            each direction (zero fill); 0 turns it off.
        resize: an int or (H, W): images are resized bilinearly on the device (after shifting).
        noise_std: augmentation, Gaussian noise of this std added to the inputs only.
    """

    def __init__(self, x, y=None, batch_size: int = 64, *, shuffle: bool = True, drop_last: bool = False,
                 device: torch.device | str = "cpu", seed: int = 0, scale: float | None = None,
                 normalize: tuple[float, float] | None = None, shift: int = 0,
                 resize: int | tuple[int, int] | None = None, noise_std: float = 0.0,
                 chunk_bytes: int = 256 * 2**20):
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"x must be a torch.Tensor of inputs; got {type(x).__name__}")
        if x.ndim < 1 or len(x) == 0:
            raise ValueError(f"x must hold at least one item along its first axis; got shape {tuple(x.shape)}")
        if y is not None:
            if not isinstance(y, torch.Tensor):
                raise ValueError(f"y must be a torch.Tensor of targets or None; got {type(y).__name__}")
            if len(y) != len(x):
                raise ValueError(f"x and y must have the same length; got {len(x)} inputs and {len(y)} targets")
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
        if drop_last and batch_size > len(x):
            raise ValueError(f"batch_size {batch_size} exceeds the {len(x)} items with drop_last=True: no batch would remain")
        if not isinstance(shift, int) or shift < 0:
            raise ValueError(f"shift must be a non-negative int (pixels); got {shift!r}")
        sizes = (resize, resize) if isinstance(resize, int) else resize
        if resize is not None and not (isinstance(sizes, (tuple, list)) and len(sizes) == 2
                                       and all(isinstance(v, int) and v > 0 for v in sizes)):
            raise ValueError(f"resize must be None, a positive int or a pair of them (H, W); got {resize!r}")
        if scale is not None and not (isinstance(scale, (int, float)) and scale > 0):
            raise ValueError(f"scale must be a positive number or None; got {scale!r}")
        if normalize is not None and not (isinstance(normalize, (tuple, list)) and len(normalize) == 2
                                          and isinstance(normalize[1], (int, float)) and normalize[1] > 0):
            raise ValueError(f"normalize must be None or (mean, std) with std > 0; got {normalize!r}")
        if not (isinstance(noise_std, (int, float)) and noise_std >= 0):
            raise ValueError(f"noise_std must be a non-negative number; got {noise_std!r}")
        self.images = x.dtype == torch.uint8
        if (shift or resize) and x.ndim not in (3, 4):
            raise ValueError(f"shift and resize need images (N, H, W) or (N, C, H, W); got shape {tuple(x.shape)}")
        self.device = torch.device(device)
        if self.images and x.ndim == 3:
            x = x.unsqueeze(1)
        self.x = x.to(self.device)
        self.y = y.to(self.device) if y is not None else None
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.scale = (1 / 255 if self.images else 1.0) if scale is None else scale
        self.normalize, self.shift, self.noise_std = normalize, shift, noise_std
        self.resize = tuple(sizes) if resize is not None else None
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0
        item_bytes = 4 * math.prod(self._item_shape())
        self.chunk_batches = max(1, chunk_bytes // (item_bytes * batch_size))

    def _item_shape(self):
        shape = tuple(self.x.shape[1:])
        if self.resize is not None:
            shape = shape[:-2] + tuple(self.resize)
        return shape

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    @property
    def augments(self) -> bool:
        """True when batches are augmented (random shifts or noise): a training loader, never a test one."""
        return bool(self.shift or self.noise_std)

    @property
    def num_items(self) -> int:
        return len(self) * self.batch_size if self.drop_last else len(self.x)

    def describe(self) -> dict:
        """What the loader feeds a model (a checkpoint records it: a run on other data is not resumed)."""
        return {"items": len(self.x), "item_shape": list(self._item_shape()), "targets": self.y is not None,
                "batch_size": self.batch_size, "drop_last": self.drop_last, "shuffle": self.shuffle,
                "scale": self.scale, "normalize": self.normalize, "shift": self.shift, "noise_std": self.noise_std}

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.epoch = state["epoch"]

    def transform(self, xb: torch.Tensor, train: bool = True) -> torch.Tensor:
        """Scale, normalise and (when ``train``) augment a batch already on the device."""
        xb = xb.float()
        if self.scale != 1.0:
            xb = xb * self.scale
        if self.normalize is not None:
            mean, std = self.normalize
            xb = (xb - mean) / std
        if train and self.shift:
            xb = random_shift(xb, self.shift, self.generator)
        if self.resize is not None and tuple(xb.shape[-2:]) != tuple(self.resize):
            xb = F.interpolate(xb, size=self.resize, mode="bilinear", align_corners=False)
        return xb

    def __iter__(self):
        n = len(self.x)
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(self.device)
        else:
            order = torch.arange(n, device=self.device)
        stop = len(self) * self.batch_size if self.drop_last else n
        chunk = self.chunk_batches * self.batch_size
        for start in range(0, stop, chunk):
            idx = order[start:min(start + chunk, stop)]
            clean = self.transform(self.x[idx])
            ys = self.y[idx] if self.y is not None else clean  # unsupervised: the target is the input
            xs = clean
            if self.noise_std:  # denoising: noisy inputs, clean targets
                xs = clean + self.noise_std * torch.randn(clean.shape, generator=self.generator).to(clean.device)
            for b in range(0, len(idx), self.batch_size):
                yield xs[b:b + self.batch_size], ys[b:b + self.batch_size]
        self.epoch += 1


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Translate each image of ``x`` (N, C, H, W) by its own random (dy, dx) in [-max_shift, max_shift].

    Vacated pixels are filled with the smallest value of the batch (the background).
    """
    n, _, h, w = x.shape
    s = max_shift
    d = torch.randint(-s, s + 1, (2, n), generator=generator).to(x.device)
    fill = x.amin()  # stays on the device: no synchronisation
    padded = F.pad(x - fill, (s, s, s, s)) + fill
    rows = (s + d[0])[:, None] + torch.arange(h, device=x.device)  # (N, H)
    cols = (s + d[1])[:, None] + torch.arange(w, device=x.device)  # (N, W)
    batch = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()
