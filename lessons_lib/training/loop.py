"""The training loop of every chapter, short enough to read in one sitting.

:meth:`Trainer.fit` runs epochs. One epoch, :meth:`Trainer.train_epoch`, is a loop over the
batches that calls :meth:`Trainer.step`: the five lines of every PyTorch training loop (zero
the gradients, forward, loss, backward, update). After each epoch ``fit`` evaluates on the test
loader, appends a row to the history, prints it, and, given ``checkpoint=``, saves what is
needed to resume. Faster steps on a GPU are in :mod:`lessons_lib.training.fast`; saving and
resuming in :mod:`lessons_lib.training.checkpoint`.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ..analysis.plots import LivePlot
from . import checkpoint as ckpt


def accuracy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Number of correct arg-max predictions in the batch (the trainer divides by the count)."""
    if output.ndim != 2 or target.ndim != 1 or target.is_floating_point():
        raise ValueError("metric 'accuracy' needs class scores (N, classes) and integer labels (N,); got output "
                         f"{tuple(output.shape)} and target {tuple(target.shape)} {target.dtype}: pass metric=None "
                         "for a regression or an autoencoder")
    return (output.argmax(dim=-1) == target).sum()


class History(list):
    """One dict per epoch: ``epoch``, ``train_loss``, ``train_<metric>``, ``test_loss``, ..., ``time``, ``lr``."""

    def column(self, key: str) -> list:
        if self and key not in self[0]:
            raise ValueError(f"history has no column {key!r}; it has {sorted(self[0])}")
        return [row[key] for row in self]

    @property
    def last(self) -> dict:
        return self[-1] if self else {}


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss."""


class Trainer:
    """Train ``model`` with ``optimizer`` on ``loss_fn(output, target)`` and keep a per-epoch history.

    ``metric`` is ``"accuracy"``, a function returning the batch *sum* of a per-item quantity, or
    None. ``scheduler`` (a ``torch.optim.lr_scheduler``) is stepped after every batch.
    ``grad_clip`` clips the gradients' global norm. ``checkpoint`` is a file written after every
    epoch; ``fit`` resumes from it, and refuses one written for other ``settings``, another model
    or optimiser. ``live_plot`` redraws the curves after each epoch (default: in an interactive notebook).
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss_fn=F.cross_entropy, *,
                 metric="accuracy", scheduler=None, device=None, grad_clip: float | None = None,
                 checkpoint: str | Path | None = None, settings: dict | None = None, verbose: bool = True,
                 live_plot: bool | None = None):
        from ..device import pick_device

        if not isinstance(model, torch.nn.Module):
            raise ValueError(f"model must be a torch.nn.Module; got {type(model).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError(f"optimizer must be a torch.optim.Optimizer; got {type(optimizer).__name__}")
        if not (metric is None or metric == "accuracy" or callable(metric)):
            raise ValueError(f"metric must be 'accuracy', a function or None; got {metric!r}")
        if grad_clip is not None and not (isinstance(grad_clip, (int, float)) and grad_clip > 0):
            raise ValueError(f"grad_clip must be a positive number or None; got {grad_clip!r}")
        self.device = torch.device(device) if device is not None else pick_device(verbose=False)
        self.model = model.to(self.device)
        self.optimizer, self.loss_fn, self.scheduler, self.grad_clip = optimizer, loss_fn, scheduler, grad_clip
        self.metric = accuracy if metric == "accuracy" else metric
        self.metric_name = None if metric is None else getattr(self.metric, "__name__", "metric")
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.settings = dict(settings or {})
        self.verbose = verbose
        self.live_plot = live_plot
        self.history = History()

    def step(self, x: torch.Tensor, y: torch.Tensor):
        """One update on one batch; returns its loss and outputs, detached."""
        self.optimizer.zero_grad()
        output = self.model(x)
        loss = self.loss_fn(output, y)
        loss.backward()
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return loss.detach(), output.detach()

    def train_epoch(self, loader) -> dict:
        """One pass over ``loader``, one step per batch; the epoch's mean loss (and metric)."""
        self.model.train()
        totals = torch.zeros(3, dtype=torch.float64, device=self.device)  # loss sum, metric sum, items
        for x, y in loader:
            x, y = x.to(self.device), y.to(self.device)
            loss, output = self.step(x, y)
            self._add(totals, loss, output, y)
        return self._means(totals, "train", loader)

    @torch.no_grad()
    def evaluate(self, loader) -> dict:
        """Mean loss (and metric) over ``loader`` in eval mode: ``{"loss": ..., "accuracy": ...}``."""
        _check_test_loader(loader)
        self.model.eval()
        totals = torch.zeros(3, dtype=torch.float64, device=self.device)
        for x, y in loader:
            x, y = x.to(self.device), y.to(self.device)
            output = self.forward(x)
            self._add(totals, self.loss_fn(output, y), output, y)
        return self._means(totals, "", loader)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The model's output for ``x`` (overridden by the fast trainer to use bf16 and channels_last)."""
        return self.model(x)

    def fit(self, train_loader, test_loader=None, epochs: int = 1) -> History:
        """Train until ``epochs`` epochs in all are done (resuming from the checkpoint if there is one)."""
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
            raise ValueError(f"epochs must be a non-negative int; got {epochs!r}")
        if test_loader is not None:
            _check_test_loader(test_loader)  # now, not after the first epoch
        if self.checkpoint is not None and self.checkpoint.is_file():
            done = ckpt.load(self.checkpoint, self, train_loader)
            if done > epochs:
                raise ValueError(f"the checkpoint {self.checkpoint} holds {done} epochs, more than the {epochs} asked "
                                 f"for: ask for at least {done}, or delete it to start afresh")
            self._say(f"Resumed from {self.checkpoint} after epoch {done}")
        plot = LivePlot.start(self.metric_name, self.history, self.live_plot)
        for epoch in range(len(self.history) + 1, epochs + 1):
            try:
                start = time.perf_counter()
                row = {"epoch": epoch, **self.train_epoch(train_loader)}
                row["time"] = time.perf_counter() - start
                if test_loader is not None:
                    row.update({f"test_{k}": v for k, v in self.evaluate(test_loader).items()})
            except KeyboardInterrupt:
                kept = f"; {self.checkpoint} holds the {len(self.history)} epochs done" if self.checkpoint else ""
                print(f"Interrupted during epoch {epoch}{kept}. Calling fit() again resumes from there.")
                raise
            row["lr"] = _current_lr(self.optimizer)
            self.history.append(row)
            if self.checkpoint is not None:
                try:
                    self.save_checkpoint(train_loader)
                except OSError as exc:  # a full disk, a folder gone: stop, with what is kept
                    done = epoch - 1
                    kept = (f"{self.checkpoint} still holds {done} epoch{'s' * (done != 1)}" if self.checkpoint.is_file()
                            else "no checkpoint was saved")
                    raise OSError(exc.errno, f"{exc.strerror or exc}. Training stopped after epoch {epoch}; {kept}: "
                                             "make room and call fit() again to resume") from exc
            self._say(_format(row, epochs))
            if plot is not None:
                plot.update(self.history)
        return self.history

    # -- helpers ------------------------------------------------------------------------------
    def _add(self, totals: torch.Tensor, loss, output, y) -> None:
        n = len(output)
        totals[0] += loss.double() * n
        if self.metric is not None:
            totals[1] += self.metric(output, y).double()
        totals[2] += n

    def _means(self, totals: torch.Tensor, prefix: str, loader) -> dict:
        loss_sum, metric_sum, count = self.reduce(totals).tolist()
        if count == 0:
            raise ValueError(f"the loader yielded no batches (len {len(loader) if hasattr(loader, '__len__') else '?'})")
        if prefix == "train" and not torch.isfinite(torch.tensor(loss_sum)):
            kept = f" {self.checkpoint} holds the last good epoch." if self.checkpoint and self.checkpoint.is_file() else ""
            raise NonFiniteLossError(f"the training loss became NaN or infinite in epoch {len(self.history) + 1}; "
                                     f"training stopped.{kept} Try a lower learning rate or grad_clip.")
        key = f"{prefix}_" if prefix else ""
        row = {f"{key}loss": loss_sum / count}
        if self.metric is not None:
            row[f"{key}{self.metric_name}"] = metric_sum / count
        return row

    def reduce(self, totals: torch.Tensor) -> torch.Tensor:
        """The epoch's sums over every process (one process here; see lessons_lib.distributed)."""
        return totals

    def save_checkpoint(self, train_loader=None) -> None:
        ckpt.save(self.checkpoint, self, train_loader)

    def _say(self, text: str) -> None:
        if self.verbose:
            print(text, flush=True)


def _check_test_loader(loader) -> None:
    if getattr(loader, "augments", False):
        raise ValueError("evaluation needs a loader without augmentation; this one augments its inputs (shift or "
                         "noise_std), so its figures would measure altered images: build it without them")


def _format(row: dict, epochs: int) -> str:
    parts = [f"epoch {row['epoch']:>3}/{epochs}"]
    parts += [f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "time", "lr")]
    return "  ".join(parts + [f"{row['time']:.1f}s"])


def _current_lr(optimizer) -> float:
    if hasattr(optimizer, "current_lr"):
        return float(optimizer.current_lr())
    return float(optimizer.param_groups[0]["lr"])
