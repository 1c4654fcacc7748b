"""Saving a training run after every epoch, and resuming it exactly where it stopped.

A checkpoint holds the model, the optimiser, the scheduler, the loader's position, the random
number generators and the history, so that a resumed run reaches the same weights as one that
was never interrupted. It also records what must not change between the two: the ``settings``
the trainer was given, the model's class and parameter shapes, the optimiser's class and
hyper-parameters, the loss, the metric and the training data as the loader describes it (items,
batch size, augmentation). :func:`load` refuses a checkpoint that disagrees and names what
differs, instead of resuming another run's weights.
"""
from __future__ import annotations

import io
from pathlib import Path

import torch

from ..files import atomic_write

FORMAT = 3


class CheckpointMismatch(ValueError):
    """The checkpoint was written by a run with other settings, model or optimiser."""


def identity(trainer, loader=None) -> dict:
    """What a resumed run must share with the run that wrote the checkpoint."""
    # a torch scheduler rewrites "lr" as it goes and keeps the starting value in "initial_lr"
    skip = lambda g: {"params", "lr"} if "initial_lr" in g else {"params"}  # noqa: E731
    hyper = [{k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
              for k, v in g.items() if k not in skip(g)} for g in trainer.optimizer.param_groups]
    return {
        "settings": {k: repr(v) for k, v in trainer.settings.items()},
        "model": type(trainer.model).__name__,
        "shapes": {k: tuple(v.shape) for k, v in trainer.model.state_dict().items()},
        "optimizer": type(trainer.optimizer).__name__,
        "hyperparameters": hyper,
        "loss": getattr(trainer.loss_fn, "__name__", type(trainer.loss_fn).__name__),
        "metric": trainer.metric_name,
        "data": loader.describe() if hasattr(loader, "describe") else None,
    }


def save(path: str | Path, trainer, loader=None) -> None:
    """Write ``trainer``'s state to ``path`` atomically (a crash leaves the old file or the new one)."""
    state = {
        "format": FORMAT,
        "identity": identity(trainer, loader),
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict() if trainer.scheduler is not None else None,
        "loader": loader.state_dict() if hasattr(loader, "state_dict") else None,
        "history": list(trainer.history),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if trainer.device.type == "cuda" else None,
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)  # serialise first: a full disk then fails before the old file is touched
    with atomic_write(path) as f:
        f.write(buffer.getbuffer())


def read(path: str | Path, map_location="cpu") -> dict:
    """The checkpoint's contents, or a ValueError that names the file and says what is wrong with it."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise ValueError(f"checkpoint {path} is empty (0 bytes): delete it to start afresh")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # truncated, corrupt, not a torch file
        raise ValueError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}); it is damaged or not "
                         "a checkpoint: delete it to start afresh") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path} was not written by this version of lessons_lib (format "
                         f"{state.get('format') if isinstance(state, dict) else '?'}, expected {FORMAT}): delete it "
                         "to start afresh")
    return state


def load(path: str | Path, trainer, loader=None) -> int:
    """Restore ``trainer`` (and ``loader``'s position) from ``path``; return the epochs done."""
    state = read(path, trainer.device)
    saved, now = state["identity"], identity(trainer, loader)
    differ = sorted(k for k in now if saved.get(k) != now[k])
    if differ:
        details = "; ".join(f"{k}: checkpoint {saved.get(k)!r}, this run {now[k]!r}" for k in differ)
        raise CheckpointMismatch(f"checkpoint {path} belongs to another run ({details}). Use another checkpoint "
                                 "file, or delete this one to start afresh")
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    if trainer.scheduler is not None and state["scheduler"] is not None:
        trainer.scheduler.load_state_dict(state["scheduler"])
    if state["loader"] is not None and hasattr(loader, "load_state_dict"):
        loader.load_state_dict(state["loader"])
    torch.set_rng_state(state["torch_rng"].cpu())
    if state["cuda_rng"] is not None and trainer.device.type == "cuda":
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
    from .loop import History

    trainer.history = History(state["history"])
    return len(trainer.history)
