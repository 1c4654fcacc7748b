"""Figures the chapters share: training curves (live and final), image grids, confusion matrices,
receptive fields drawn over an image (from :func:`~lessons_lib.analysis.architecture.layer_table`,
one formula, so the picture and the table cannot disagree).

Every function takes an optional ``ax`` and returns the matplotlib objects it drew, sets a
title and labelled axes, so a notebook can compose them.
"""
from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import nn

from .architecture import layer_table, theoretical_box


def plot_history(history, metric: str | None = "accuracy", axes=None, title: str | None = None):
    """Loss (and ``metric``) per epoch, train and test, from a :class:`~lessons_lib.training.History`."""
    if not history:
        raise ValueError("history is empty: train for at least one epoch first")
    has_metric = metric is not None and f"train_{metric}" in history[0]
    if axes is None:
        fig = plt.figure(figsize=(10 if has_metric else 5, 3.6))
        axes = fig.subplots(1, 2 if has_metric else 1)
    axes = np.atleast_1d(axes)
    _draw_history(history, metric if has_metric else None, axes)
    if title:
        axes[0].figure.suptitle(title)
    return axes


def _draw_history(history, metric, axes):
    epochs = [r["epoch"] for r in history]
    for ax, key, label in ((axes[0], "loss", "loss"), *(((axes[1], metric, metric),) if metric else ())):
        ax.clear()
        for split, style in (("train", "-o"), ("test", "-s")):
            col = f"{split}_{key}"
            if col in history[0]:
                ax.plot(epochs, [r[col] for r in history], style, ms=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(f"{label} per epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    if len(epochs) == 1:
        for ax in axes:
            ax.set_xticks(epochs)


class LivePlot:
    """Training curves redrawn after each epoch, in place, in one notebook output.

    The figure is shown once with a display id and updated through it, so an interactive
    notebook sees it grow, and a notebook executed headless keeps exactly one final figure.
    """

    @classmethod
    def start(cls, metric: str | None, history, wanted: bool | None = None) -> "LivePlot | None":
        """A live plot for a trainer, or None when not ``wanted`` (default: only in an interactive
        notebook; never while notebooks are executed unattended, ``LESSONS_EXECUTING=1``)."""
        if wanted is None:
            wanted = _in_notebook() and os.environ.get("LESSONS_EXECUTING", "") in ("", "0")
        if not wanted:
            return None
        plot = cls(metric)
        if history:
            plot.update(history)
        return plot

    def __init__(self, metric: str | None = "accuracy"):
        from IPython.display import display

        self.metric = metric
        ncols = 2 if metric else 1
        # A bare Figure (not pyplot) so the inline backend does not show it a second time.
        self.fig = Figure(figsize=(5 * ncols, 3.6), layout="constrained")
        self.axes = np.atleast_1d(self.fig.subplots(1, ncols))
        self._display = display
        self.handle = None

    def update(self, history) -> None:
        metric = self.metric if self.metric and f"train_{self.metric}" in history[0] else None
        _draw_history(history, metric, self.axes)
        image = self._png()
        if self.handle is None:
            self.handle = self._display(image, display_id=True)
        else:
            self.handle.update(image)

    def _png(self):
        """The figure as a PNG image: independent of the notebook's matplotlib backend."""
        import io

        from IPython.display import Image

        buf = io.BytesIO()
        self.fig.savefig(buf, format="png", dpi=90)
        return Image(data=buf.getvalue(), format="png")

    def close(self) -> None:
        self.fig.clear()


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def image_grid(images, nrow: int | None = None, titles=None, ax=None, cmap: str = "gray",
               title: str | None = None, vmin=None, vmax=None, pad: int = 1):
    """Tile images (N, H, W), (N, 1, H, W) or (N, 3, H, W) into one picture on ``ax``.

    Each image is scaled to its own [min, max] unless ``vmin``/``vmax`` are given.
    """
    x = images.detach().float().cpu() if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images)).float()
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"images must have shape (N, H, W), (N, 1, H, W) or (N, 3, H, W); got {tuple(x.shape)}")
    n, c, h, w = x.shape
    if vmin is None:
        lo = x.amin(dim=(1, 2, 3), keepdim=True)
        hi = x.amax(dim=(1, 2, 3), keepdim=True)
        x = (x - lo) / (hi - lo).clamp_min(1e-12)
    else:
        x = ((x - vmin) / (vmax - vmin)).clamp(0, 1)
    nrow = nrow or int(np.ceil(np.sqrt(n)))
    ncol = int(np.ceil(n / nrow))
    canvas = torch.ones(c, nrow * (h + pad) + pad, ncol * (w + pad) + pad)
    for i in range(n):
        r, col = divmod(i, ncol)
        canvas[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = x[i]
    if ax is None:
        _, ax = plt.subplots(figsize=(min(1.0 * ncol + 1, 12), min(1.0 * nrow + 1, 12)))
    ax.imshow(canvas[0] if c == 1 else canvas.permute(1, 2, 0), cmap=cmap, vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    if titles is not None:
        for i, t in enumerate(titles):
            r, col = divmod(i, ncol)
            ax.text(pad + col * (w + pad) + w / 2, pad + r * (h + pad) - 0.5, str(t), ha="center", va="bottom", fontsize=7)
    if title:
        ax.set_title(title)
    return ax


def plot_confusion(cm, ax=None, title: str = "confusion matrix (test set)"):
    """Draw a confusion matrix with counts in the cells (log colour scale, diagonal dominates)."""
    from matplotlib.colors import LogNorm

    cm = torch.as_tensor(cm)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(cm.numpy() + 1, cmap="Blues", norm=LogNorm())
    k = cm.shape[0]
    for i in range(k):
        for j in range(k):
            v = int(cm[i, j])
            if v:
                ax.text(j, i, v, ha="center", va="center", fontsize=7, color="white" if i == j else "black")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    return ax


def _image_2d(image) -> np.ndarray:
    x = image.detach().float().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image, dtype=float)
    x = np.squeeze(x)
    if x.ndim != 2:
        raise ValueError(f"image must be one grey image (H, W) or (1, H, W); got shape {tuple(np.shape(image))}")
    return x


def draw_receptive_fields(model: nn.Module, image, layers: list[str], unit: tuple | None = None, ax=None,
                          centres_of: str | None = None, title: str = "receptive fields over the input",
                          labels: dict[str, str] | None = None):
    """Draw, over ``image``, the receptive-field box of one unit of each layer in ``layers``.

    ``unit`` is the (row, col) of the unit in every layer's own grid (the centre of each grid
    by default). ``centres_of`` also marks the input position of the centre of every unit of
    that layer (the grid whose spacing is the layer's jump). ``labels`` names layers in the
    legend (e.g. ``{"features.conv1": "layer 1"}``; the module name by default). Returns the axes.
    """
    labels = dict(labels or {})
    unknown = sorted(set(labels) - set(layers) - {centres_of})
    if unknown:
        raise ValueError(f"labels must name layers that are drawn ({layers}); got {unknown}")
    img = _image_2d(image)
    table = layer_table(model, (1, *img.shape))
    infos = [table.find(name) for name in layers]
    for info in infos:
        if not isinstance(info.rf, tuple):
            why = "it comes after flattening" if info.rf is None else "it comes after a layer of unknown geometry"
            raise ValueError(f"layer {info.name!r} has no spatial receptive field to draw ({why})")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5.5))
    ax.imshow(img, cmap="gray_r")
    colours = plt.cm.viridis(np.linspace(0.05, 0.9, len(infos)))
    for info, colour in zip(infos, colours):
        h, w = info.output_shape[1:]
        u = unit if unit is not None else (h // 2, w // 2)
        top, left, bottom, right = theoretical_box(info, u, img.shape)
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1, fill=False,
                               lw=2, ec=colour, label=f"{labels.get(info.name, info.name)} ({info.type}): {info.rf[0]} x {info.rf[1]}, "
                               f"jump {info.jump[0]}"))
        cy, cx = info.start[0] + u[0] * info.jump[0], info.start[1] + u[1] * info.jump[1]
        ax.plot(cx, cy, "+", color=colour, ms=10, mew=2)
    if centres_of is not None:
        info = table.find(centres_of)
        h, w = info.output_shape[1:]
        ys = info.start[0] + np.arange(h) * info.jump[0]
        xs = info.start[1] + np.arange(w) * info.jump[1]
        gx, gy = np.meshgrid(xs, ys)
        ax.plot(gx.ravel(), gy.ravel(), ".", color="tab:red", ms=3,
                label=f"centres of the {h} x {w} units of {labels.get(centres_of, centres_of)}")
    ax.set_xlabel("input column (pixels)")
    ax.set_ylabel("input row (pixels)")
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8)
    return ax
