"""What a trained conv net computes, made visible: receptive fields over an image, feature
maps layer by layer, and the test items it gets most confidently wrong.

``draw_receptive_fields`` takes the receptive fields from :func:`lessons_lib.inspect.layer_table`
(one formula) so the picture and the table cannot disagree.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle
from torch import nn

from .inspect import layer_table, theoretical_box


def _image_2d(image) -> np.ndarray:
    x = image.detach().float().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image, dtype=float)
    x = np.squeeze(x)
    if x.ndim != 2:
        raise ValueError(f"image must be one grey image (H, W) or (1, H, W); got shape {tuple(np.shape(image))}")
    return x


def draw_receptive_fields(model: nn.Module, image, layers: list[str], unit: tuple | None = None, ax=None,
                          centres_of: str | None = None, title: str = "receptive fields over the input"):
    """Draw, over ``image``, the receptive-field box of one unit of each layer in ``layers``.

    ``unit`` is the (row, col) of the unit in every layer's own grid (the centre of each grid
    by default). ``centres_of`` also marks the input position of the centre of every unit of
    that layer (the grid whose spacing is the layer's jump). Returns the axes.
    """
    img = _image_2d(image)
    table = layer_table(model, (1, *img.shape))
    infos = [table.find(name) for name in layers]
    for info in infos:
        if info.rf is None:
            raise ValueError(f"layer {info.name!r} has no spatial receptive field (it comes after flattening)")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5.5))
    ax.imshow(img, cmap="gray_r")
    colours = plt.cm.viridis(np.linspace(0.05, 0.9, len(infos)))
    for info, colour in zip(infos, colours):
        h, w = info.output_shape[1:]
        u = unit if unit is not None else (h // 2, w // 2)
        top, left, bottom, right = theoretical_box(info, u, img.shape)
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1, fill=False,
                               lw=2, ec=colour, label=f"{info.name} ({info.type}): {info.rf[0]} x {info.rf[1]}, "
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
                label=f"centres of the {h} x {w} units of {centres_of}")
    ax.set_xlabel("input column (pixels)")
    ax.set_ylabel("input row (pixels)")
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8)
    return ax


@torch.no_grad()
def feature_maps(model: nn.Module, x: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
    """The outputs of the named ``layers`` for input ``x`` (one forward pass, eval mode)."""
    modules = dict(model.named_modules())
    missing = [n for n in layers if n not in modules]
    if missing:
        raise ValueError(f"layers must be module names of the model; unknown {missing}")
    out, handles = {}, []
    for name in layers:
        handles.append(modules[name].register_forward_hook(lambda m, i, o, name=name: out.__setitem__(name, o.detach().cpu())))
    was_training = model.training
    model.eval()
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return out


@torch.no_grad()
def predict(model: nn.Module, loader) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax probabilities (N, classes) and targets (N,) over ``loader``, on the CPU."""
    was_training = model.training
    model.eval()
    probs, targets = [], []
    try:
        for x, y in loader:
            probs.append(torch.softmax(model(x).float(), dim=-1).cpu())
            targets.append(y.cpu())
    finally:
        model.train(was_training)
    if not probs:
        raise ValueError("loader yielded no batches")
    return torch.cat(probs), torch.cat(targets)


def confident_errors(probs: torch.Tensor, targets: torch.Tensor, k: int = 16):
    """Indices of the ``k`` wrongly classified items with the highest predicted probability,
    most confident first, with their predictions and those probabilities."""
    if probs.ndim != 2 or targets.shape != probs.shape[:1]:
        raise ValueError(f"probs must be (N, classes) and targets (N,); got {tuple(probs.shape)} and {tuple(targets.shape)}")
    conf, pred = probs.max(dim=1)
    wrong = (pred != targets).nonzero().flatten()
    order = wrong[conf[wrong].argsort(descending=True)][:k]
    return order, pred[order], conf[order]


class Table:
    """A small table of strings that renders as HTML in notebooks and as aligned text
    (which nbval can compare) elsewhere."""

    def __init__(self, header, rows, caption: str | None = None):
        self.header = [str(h) for h in header]
        self.rows = [[("" if v is None else str(v)) for v in r] for r in rows]
        bad = [r for r in self.rows if len(r) != len(self.header)]
        if bad:
            raise ValueError(f"rows must have {len(self.header)} cells like the header; got a row of {len(bad[0])}")
        self.caption = caption

    def __str__(self) -> str:
        rows = [self.header, *self.rows]
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(([self.caption] if self.caption else []) + lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        import html

        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>" for r in self.rows)
        cap = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
