"""The one trainer every chapter uses.

``Trainer.fit`` runs epochs over :class:`~lessons_lib.data.DeviceLoader` batches and keeps a
per-epoch history (train and test loss, and the task's metric). It shows ``tqdm.auto``
progress bars and a live plot in an interactive notebook; executed headless it prints one
line per epoch and leaves exactly one final figure. It writes a checkpoint atomically after
each epoch, and ``fit`` resumes from it to the same weights an uninterrupted run would reach.
A non-finite loss stops training with an error naming the epoch and the step.

On CUDA it can run the step under bf16 autocast, keep conv nets in channels_last memory
format, and capture the whole training step (forward, backward, optimiser update, learning
rate schedule, running sums) in one CUDA graph, which removes the per-kernel launch cost that
dominates small models.

Given a :class:`~lessons_lib.ensemble.Ensemble` (several seeds of one network stacked into one
model), it trains all members in each step, applies the loss and the metric to each member,
and records them per member (columns ``<name>_members``) beside their mean.
"""
from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

HEADLESS_ENV = "LESSONS_EXECUTING"  # set while notebooks run unattended (nbval, the execute command)


def accuracy_sum(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Number of correct arg-max predictions in the batch (a tensor, no synchronisation)."""
    return (output.argmax(dim=-1) == target).sum()


METRICS = {"accuracy": accuracy_sum}


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where figures can be displayed and updated)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def headless() -> bool:
    return os.environ.get(HEADLESS_ENV, "") not in ("", "0")


class History(list):
    """One dict per epoch: ``epoch``, ``train_loss``, ``train_<metric>``, ``test_loss``, ... ."""

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
    """Fit a model with per-epoch history, checkpoints, and optional GPU speed-ups.

    Args:
        model: the network; moved to ``device``.
        optimizer: any ``torch.optim`` optimiser over ``model``'s parameters.
        loss_fn: ``loss_fn(output, target)`` returning the batch-mean loss.
        metric: ``"accuracy"``, a callable ``f(output, target)`` returning the batch *sum* of a
            per-item quantity, or None.
        scheduler: a ``torch.optim.lr_scheduler`` object, stepped every ``scheduler_interval``
            (``"step"`` or ``"epoch"``).
        device: where to train; by default :func:`lessons_lib.device.pick_device`.
        checkpoint: a file written atomically after every epoch; ``fit`` resumes from it.
        bf16: run forward and loss under bf16 autocast (CUDA only).
        channels_last: keep model and 4-D inputs in channels_last memory format (CUDA only).
        cuda_graph: capture the training step in a CUDA graph (CUDA only; needs a loader with
            ``drop_last=True`` and an optimiser whose learning rate is a device tensor, such as
            :class:`lessons_lib.optim.SGD`, or a constant one).
        grad_clip: clip the global gradient norm to this value.
        check_every: steps between checks for a non-finite loss (each check synchronises).
        progress, live_plot: None chooses: progress bars unless headless; the live plot inside a
            notebook.
        verbose: print one line per epoch.

    With an :class:`~lessons_lib.ensemble.Ensemble` of S members, batches are ``(S, B, ...)``
    (see :class:`~lessons_lib.data.StackedLoader`); ``loss_fn`` and ``metric`` are applied to each
    member (with ``torch.func.vmap``) and the members' losses are summed for the backward pass.
    ``evaluate`` gives every member the same test batch.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 loss_fn: Callable = F.cross_entropy, *, metric: str | Callable | None = "accuracy",
                 scheduler=None, scheduler_interval: str = "step", device=None,
                 checkpoint: str | Path | None = None, bf16: bool = False, channels_last: bool = False,
                 cuda_graph: bool = False, grad_clip: float | None = None, check_every: int = 100,
                 progress: bool | None = None, live_plot: bool | None = None, verbose: bool = True):
        from .device import pick_device
        from .ensemble import is_ensemble

        if not isinstance(model, torch.nn.Module):
            raise ValueError(f"model must be a torch.nn.Module; got {type(model).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError(f"optimizer must be a torch.optim.Optimizer; got {type(optimizer).__name__}")
        if isinstance(metric, str) and metric not in METRICS:
            raise ValueError(f"metric must be one of {sorted(METRICS)}, a callable or None; got {metric!r}")
        if scheduler_interval not in ("step", "epoch"):
            raise ValueError(f"scheduler_interval must be 'step' or 'epoch'; got {scheduler_interval!r}")
        self.device = torch.device(device) if device is not None else pick_device(verbose=False)
        cuda = self.device.type == "cuda"
        for flag, value in (("bf16", bf16), ("channels_last", channels_last), ("cuda_graph", cuda_graph)):
            if value and not cuda:
                raise ValueError(f"{flag}=True needs a CUDA device; got device {self.device.type!r}")
        if cuda_graph and scheduler is not None:
            raise ValueError("cuda_graph=True cannot follow a torch lr_scheduler (it sets Python floats the graph "
                             "would freeze); use lessons_lib.optim.SGD(lr_lambda=...) instead")
        self.model = model.to(self.device)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer, self.loss_fn, self.scheduler = optimizer, loss_fn, scheduler
        self.scheduler_interval = scheduler_interval
        self.metric_name = metric if isinstance(metric, str) else getattr(metric, "__name__", None) if metric else None
        self.metric_fn = METRICS.get(metric, metric) if metric is not None else None
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.bf16, self.channels_last, self.cuda_graph = bf16, channels_last, cuda_graph
        self.grad_clip, self.check_every = grad_clip, check_every
        self.progress = (not headless()) if progress is None else progress
        self.live_plot = in_notebook() if live_plot is None else live_plot
        self.verbose = verbose
        self.members = model.size if is_ensemble(model) else None  # None: one model
        if self.members and grad_clip is not None:
            raise ValueError("grad_clip is not supported for an Ensemble: it would clip the members' joint gradient "
                             "norm, coupling members that should train independently")
        if not self.is_main_process():  # under torchrun only rank 0 prints, plots and writes checkpoints
            self.progress = self.live_plot = self.verbose = False
        self.history = History()
        self._graph = None
        z = lambda dtype=torch.float32, shape=(): torch.zeros(shape, device=self.device, dtype=dtype)  # noqa: E731
        # Running sums of the epoch, updated on the device inside the step (one per member).
        per = (self.members,) if self.members else ()
        self._loss_sum, self._metric_sum = z(torch.float64, per), z(torch.float64, per)
        self._count = z(torch.float64)
        self._step_no, self._first_bad = z(torch.int64), z(torch.int64) - 1

    # -- one step -------------------------------------------------------------------------
    def _autocast(self):
        if self.bf16:
            # the autocast weight cache must be off while a CUDA graph is captured
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16, cache_enabled=not self.cuda_graph)
        return contextlib.nullcontext()

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.ndim == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The batch-mean loss: a scalar, or one per member of an ensemble."""
        if self.members:
            return torch.func.vmap(self.loss_fn)(out, y)
        return self.loss_fn(out, y)

    def _metric(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.members:
            return torch.func.vmap(self.metric_fn)(out, y)
        return self.metric_fn(out, y)

    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Forward, backward, update, and the running sums: all device work, no synchronisation."""
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            out = self.model(x)
            loss = self._loss(out, y)
        # An ensemble's members are independent: the gradient of the sum is each member's own.
        (loss.sum() if self.members else loss).backward()
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        loss = loss.detach()
        n = x.shape[1] if self.members else x.shape[0]
        bad = ~torch.isfinite(loss).all()
        self._first_bad.copy_(torch.where(bad & (self._first_bad < 0), self._step_no, self._first_bad))
        self._loss_sum.add_(loss.double() * n)
        if self.metric_fn is not None:
            self._metric_sum.add_(self._metric(out.detach().float(), y).double())
        self._count.add_(n)
        self._step_no.add_(1)

    def _warm_up(self, x: torch.Tensor, y: torch.Tensor, steps: int = 3) -> None:
        """Run ``steps`` training steps, then put model, optimiser and running sums back.

        CUDA-graph capture needs a few eager steps first (lazy state such as momentum buffers
        and cuBLAS workspaces must exist), but those steps would change the weights; restoring
        afterwards makes the captured run start exactly where the eager run would. Optimiser
        state that the warm-up created is zeroed, which equals a fresh state for SGD with
        momentum, Adam and RMSprop.
        """
        params = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        saved = {id(t): t.clone() for s in self.optimizer.state.values()
                 for t in (s.values() if isinstance(s, dict) else [s]) if torch.is_tensor(t)}
        sums = [t.clone() for t in (self._loss_sum, self._metric_sum, self._count, self._step_no, self._first_bad)]
        rng = torch.get_rng_state(), (torch.cuda.get_rng_state() if x.is_cuda else None)
        stream = torch.cuda.Stream() if x.is_cuda else None
        if stream is not None:
            stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
            for _ in range(steps):
                self._train_step(x, y)
        if stream is not None:
            torch.cuda.current_stream().wait_stream(stream)
        with torch.no_grad():
            for k, v in self.model.state_dict().items():
                v.copy_(params[k])
            for s in list(self.optimizer.state.values()):
                for t in (s.values() if isinstance(s, dict) else [s]):
                    if torch.is_tensor(t):
                        t.copy_(saved[id(t)]) if id(t) in saved else t.zero_()
            for t, v in zip((self._loss_sum, self._metric_sum, self._count, self._step_no, self._first_bad), sums):
                t.copy_(v)
        torch.set_rng_state(rng[0])
        if rng[1] is not None:
            torch.cuda.set_rng_state(rng[1])

    def _capture(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Record ``_train_step`` into a CUDA graph that reads static input buffers."""
        self._static_x, self._static_y = x.clone(), y.clone()
        self._warm_up(self._static_x, self._static_y)
        self._graph = torch.cuda.CUDAGraph()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(self._graph):
            self._train_step(self._static_x, self._static_y)

    def _run_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        x = self._prepare(x)
        if not self.cuda_graph:
            return self._train_step(x, y)
        if self._graph is None or x.shape != self._static_x.shape:
            if self._graph is not None:
                raise ValueError(f"cuda_graph=True needs batches of one shape; got {tuple(x.shape)} after "
                                 f"{tuple(self._static_x.shape)} (use a loader with drop_last=True)")
            self._capture(x, y)
        self._static_x.copy_(x)
        self._static_y.copy_(y)
        self._graph.replay()

    # -- epochs -----------------------------------------------------------------------------
    def _check_finite(self, epoch: int) -> None:
        bad = int(self._first_bad.item())
        if bad >= 0:
            kept = f" The checkpoint of the last good epoch is {self.checkpoint}." if self.checkpoint else ""
            raise NonFiniteLossError(
                f"loss became NaN or infinite at epoch {epoch}, step {bad} (counting from 0); training "
                f"stopped.{kept} Try a lower learning rate or gradient clipping."
            )

    def train_epoch(self, loader, epoch: int) -> dict:
        self.model.train()
        for t in (self._loss_sum, self._metric_sum, self._count, self._step_no):
            t.zero_()
        self._first_bad.fill_(-1)
        bar = None
        if self.progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=len(loader), desc=f"epoch {epoch}", leave=False)
        for i, (x, y) in enumerate(loader):
            self._run_step(x, y)
            if self.scheduler is not None and self.scheduler_interval == "step":
                self.scheduler.step()
            if (i + 1) % self.check_every == 0:
                self._check_finite(epoch)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        self._all_reduce_epoch_sums()
        self._check_finite(epoch)
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            self.scheduler.step()
        return self._epoch_summary("train")

    def _epoch_summary(self, prefix: str) -> dict:
        count = max(self._count.item(), 1.0)
        row = self._means(f"{prefix}_loss", self._loss_sum, count)
        if self.metric_fn is not None:
            row.update(self._means(f"{prefix}_{self.metric_name}", self._metric_sum, count))
        return row

    def _means(self, key: str, total: torch.Tensor, count: float) -> dict:
        """``{key: mean}``; for an ensemble also ``{key_members: [one mean per member]}``."""
        if not self.members:
            return {key: total.item() / count}
        values = (total / count).tolist()
        return {key: sum(values) / len(values), f"{key}_members": values}

    @torch.no_grad()
    def evaluate(self, loader) -> dict:
        """Mean loss (and metric) over ``loader`` in eval mode: ``{"loss": .., "<metric>": ..}``."""
        self.model.eval()
        loss_sum = torch.zeros((self.members,) if self.members else (), device=self.device, dtype=torch.float64)
        metric_sum, count = loss_sum.clone(), 0
        for x, y in loader:
            n = x.shape[0]
            if self.members:  # every member sees the same test batch (a view: no copy)
                x, y = x.expand(self.members, *x.shape), y.expand(self.members, *y.shape)
            x = self._prepare(x)
            with self._autocast():
                out = self.model(x)
                loss = self._loss(out, y)
            loss_sum += loss.double() * n
            if self.metric_fn is not None:
                metric_sum += self._metric(out.float(), y).double()
            count += n
        if count == 0:
            raise ValueError("evaluate() got an empty loader")
        result = self._means("loss", loss_sum, count)
        if self.metric_fn is not None:
            result.update(self._means(self.metric_name, metric_sum, count))
        return result

    def fit(self, train_loader, test_loader=None, epochs: int = 1, resume: bool = True,
            on_epoch_end: Callable[["Trainer", dict], None] | None = None) -> History:
        """Train until ``epochs`` epochs in total are done (resuming from the checkpoint if any)."""
        if not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"epochs must be a non-negative int; got {epochs!r}")
        if self.cuda_graph and not getattr(train_loader, "drop_last", False):
            raise ValueError("cuda_graph=True needs a train loader with drop_last=True (batches of one shape)")
        start = 0
        if resume and self.checkpoint is not None and self.checkpoint.is_file():
            start = self.load_checkpoint(train_loader)
            if self.verbose:
                print(f"Resumed from {self.checkpoint} after epoch {start}")
        plot = None
        if self.live_plot:
            from .plot import LivePlot
            plot = LivePlot(self.metric_name)
            if self.history:
                plot.update(self.history)
        epoch = start
        try:
            for epoch in range(start + 1, epochs + 1):
                t0 = time.perf_counter()
                row = {"epoch": epoch, **self.train_epoch(train_loader, epoch)}
                row["time"] = time.perf_counter() - t0
                if test_loader is not None:
                    row.update({f"test_{k}": v for k, v in self.evaluate(test_loader).items()})
                row["lr"] = float(self._current_lr())
                self.history.append(row)
                if self.checkpoint is not None:
                    self.save_checkpoint(train_loader)
                if self.verbose:
                    print(self._format_row(row, epochs), flush=True)
                if plot is not None:
                    plot.update(self.history)
                if on_epoch_end is not None:
                    on_epoch_end(self, row)
        except KeyboardInterrupt:
            kept = f"; the checkpoint of epoch {len(self.history)} is in {self.checkpoint}" if self.checkpoint else ""
            print(f"Interrupted during epoch {epoch}{kept}. fit() again resumes from it.")
            raise
        finally:
            if plot is not None:
                plot.close()
        return self.history

    def _current_lr(self):
        if hasattr(self.optimizer, "current_lr"):
            return self.optimizer.current_lr().item()
        return self.optimizer.param_groups[0]["lr"]

    def _format_row(self, row: dict, epochs: int) -> str:
        parts = [f"epoch {row['epoch']:>3}/{epochs}"]
        for k, v in row.items():
            if k not in ("epoch", "time", "lr") and not k.endswith("_members"):
                parts.append(f"{k} {v:.4f}")
        parts.append(f"{row['time']:.1f}s")
        return "  ".join(parts)

    # -- distributed data parallel (torchrun) ------------------------------------------------
    @staticmethod
    def is_main_process() -> bool:
        """False on every rank but 0 of an initialised ``torch.distributed`` process group."""
        import torch.distributed as dist

        return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0

    def _all_reduce_epoch_sums(self) -> None:
        """Under DistributedDataParallel each rank saw its own shard: sum the epoch's running
        sums over the ranks, so every rank reports the global loss and metric."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return
        parts = (self._loss_sum, self._metric_sum, self._count)
        sums = torch.cat([t.reshape(-1) for t in parts])
        dist.all_reduce(sums)
        dist.all_reduce(self._first_bad, op=dist.ReduceOp.MAX)
        for t, s in zip(parts, sums.split([t.numel() for t in parts])):
            t.copy_(s.reshape(t.shape))

    # -- checkpoints ------------------------------------------------------------------------
    def save_checkpoint(self, train_loader=None) -> None:
        """Write model, optimiser, scheduler, loader and RNG state, and history, atomically."""
        if not self.is_main_process():  # one writer under torchrun; every rank resumes from its file
            return
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "loader": train_loader.state_dict() if hasattr(train_loader, "state_dict") else None,
            "history": list(self.history),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
        }
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.checkpoint.with_name(self.checkpoint.name + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint)  # atomic: a crash leaves the old file or the new one

    def load_checkpoint(self, train_loader=None) -> int:
        """Restore everything ``save_checkpoint`` wrote; return the number of epochs done."""
        state = torch.load(self.checkpoint, map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if state["loader"] is not None and hasattr(train_loader, "load_state_dict"):
            train_loader.load_state_dict(state["loader"])
        torch.set_rng_state(state["torch_rng"].cpu())
        if state["cuda_rng"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
        self.history = History(state["history"])
        return len(self.history)
