"""What a trained network computes: feature maps layer by layer, predictions over a loader, the
test items it gets most confidently wrong, and the confusion matrix."""
from __future__ import annotations

import torch
from torch import nn


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


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> torch.Tensor:
    """Counts ``C[i, j]`` of items of true class i predicted as j."""
    y_true, y_pred = torch.as_tensor(y_true).long().cpu(), torch.as_tensor(y_pred).long().cpu()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape; got {tuple(y_true.shape)} and {tuple(y_pred.shape)}")
    k = num_classes or int(max(y_true.max(), y_pred.max())) + 1
    return torch.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
