"""Data-parallel training under ``torchrun``, and the memory arithmetic behind the two-GPU split.

The 2012 paper split one network over two GTX 580s (3 GB each): half of the kernels of every
layer on each GPU (model parallelism). Today each GPU holds a whole copy of the model and a
shard of the data; after every backward pass ``DistributedDataParallel`` averages the
gradients over the processes (an all-reduce), so all copies take the same step: the result of
one process training on the global batch, computed N times faster. Run this module with
torchrun, one process per GPU::

    torchrun --standalone --nproc_per_node=N -m lessons_lib.distributed --epochs 2
    # several machines: the same command on each, with its --node_rank
    torchrun --nnodes=M --node_rank=R --nproc_per_node=N --rdzv_backend=c10d \\
        --rdzv_endpoint=HOST:29500 -m lessons_lib.distributed --epochs 2

:class:`DistributedTrainer` is the library's trainer for one process of the group: it sums
each epoch's statistics over the ranks, and only rank 0 prints and writes checkpoints.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import threading
import time

import torch
import torch.distributed as dist
from torch import nn

from .files import atomic_write
from .training import FastTrainer


TIMEOUT = 300.0  # seconds a process waits for the others at any step before it gives up


def init(backend: str | None = None, timeout: float | None = None):
    """Join the process group that ``torchrun`` describes in the environment.

    Returns ``(rank, world_size, device)``: NCCL and the process's own GPU (``LOCAL_RANK``)
    on CUDA, gloo and the CPU otherwise. Without torchrun's variables it is one process:
    ``(0, 1, device)`` with no process group.

    Two faults end the process instead of leaving it waiting: a process that stops answering
    (stalled, or dead without its launcher noticing) makes the others fail after ``timeout``
    seconds (default ``$LESSONS_DIST_TIMEOUT`` or 300) with a message that says so; and when the
    launcher itself dies (``kill -9`` of torchrun), its workers exit within a second or two.
    """
    from .device import pick_device

    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return 0, 1, pick_device(verbose=False)
    cuda = torch.cuda.is_available()
    backend = backend or ("nccl" if cuda else "gloo")
    if backend not in ("nccl", "gloo"):
        raise ValueError(f"backend must be 'nccl' or 'gloo'; got {backend!r}")
    timeout = float(os.environ.get("LESSONS_DIST_TIMEOUT", TIMEOUT)) if timeout is None else timeout
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds; got {timeout!r}")
    local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local) if backend == "nccl" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        _exit_with_the_launcher()
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout))
    return dist.get_rank(), dist.get_world_size(), device


def _exit_with_the_launcher() -> None:
    """Exit as soon as the process that started this one (torchrun's agent) is gone: an orphaned
    worker would otherwise keep its GPU and wait for the others forever."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        print(f"rank {os.environ.get('RANK')}: the launcher (pid {parent}) is gone; exiting", file=sys.stderr, flush=True)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-the-launcher", daemon=True).start()


def shard(x: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Rank ``rank``'s share of ``x``: items rank, rank + W, rank + 2W, ... (W = ``world_size``),
    cut to the same length on every rank (DDP needs the same number of steps everywhere).

    With unshuffled loaders of batch B per rank, step k of all ranks together covers items
    kWB ... (k+1)WB - 1: exactly step k of one process with batch WB.
    """
    if not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be a positive int; got {world_size!r}")
    if not isinstance(rank, int) or not 0 <= rank < world_size:
        raise ValueError(f"rank must be an int in [0, {world_size}); got {rank!r}")
    if len(x) < world_size:
        raise ValueError(f"x must hold at least world_size={world_size} items; got {len(x)}")
    n = len(x) // world_size
    return x[rank::world_size][:n]


class DistributedTrainer(FastTrainer):
    """The trainer for one process of a ``torchrun`` group (a plain trainer without a group).

    Each rank trains on its shard; ``reduce`` sums the epoch's loss, metric and item counts over
    the ranks, so every rank reports the global figures. Only rank 0 prints and writes the
    checkpoint; every rank resumes from it.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not is_main_process():
            self.verbose = self.live_plot = False

    def reduce(self, totals: torch.Tensor) -> torch.Tensor:
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            totals = totals.clone()
            dist.all_reduce(totals)
        return totals

    def save_checkpoint(self, train_loader=None) -> None:
        if is_main_process():
            super().save_checkpoint(train_loader)


def is_main_process() -> bool:
    """False on every rank but 0 of an initialised process group."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def wrap(model: nn.Module, device) -> nn.Module:
    """``model`` on ``device``, inside DistributedDataParallel when a process group exists."""
    model = model.to(device)
    if not dist.is_initialized():
        return model
    device = torch.device(device)
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def training_memory(model: nn.Module, input_size, batch_size: int = 128, bytes_per_value: int = 4,
                    optimizer_slots: int = 1) -> dict:
    """Bytes that training ``model`` needs, from its layer table: weights, their gradients,
    ``optimizer_slots`` values per weight (1 for SGD momentum), and the activations of one
    batch (every layer's output, kept for the backward pass, the input included; in-place
    ReLUs add nothing). Workspace, the framework and fragmentation come on top."""
    from math import prod

    from .analysis.architecture import layer_table

    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
    table = layer_table(model, input_size)
    modules = dict(model.named_modules())
    weights = table.total_params * bytes_per_value
    # an in-place ReLU overwrites its input: it adds no stored tensor
    values = prod(input_size) + sum(prod(L.output_shape) for L in table if not getattr(modules[L.name], "inplace", False))
    out = {"weights": weights, "gradients": weights, "optimizer": optimizer_slots * weights,
           "activations": values * batch_size * bytes_per_value}
    out["total"] = sum(out.values())
    return out


# -- the torchrun entry point ---------------------------------------------------------------
def train(epochs: int = 1, model: str = "lenet", batch_size: int = 64, n_train: int | None = None,
          source: str = "auto", shuffle: bool = True, seed: int = 0, resolution: int = 64, out: str | None = None,
          timeout: float | None = None):
    """Train on MNIST in every process of the group, each on its shard; ``batch_size`` is the
    global batch (each rank takes ``batch_size / world_size``). Rank 0 saves the final weights
    and history to ``out`` (a ``torch.save`` file) when given. Returns the trainer."""
    from .data import DeviceLoader, MNIST_MEAN, MNIST_STD, mnist
    from .device import seed_everything
    from .models import LeNet, MnistAlexNet

    rank, world, device = init(timeout=timeout)
    if batch_size % world:
        raise ValueError(f"batch_size must be a multiple of the {world} processes; got {batch_size}")
    train_split, test_split = mnist(source, n_train=n_train)
    seed_everything(seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    if model == "lenet":
        net, resize, scale, norm = LeNet(), None, 1 / 256, None
    elif model == "alexnet":
        net = MnistAlexNet(resolution, (24, 64, 96, 96, 64), 1024, dropout=0.0)
        resize, scale, norm = resolution, None, (MNIST_MEAN, MNIST_STD)
    else:
        raise ValueError(f"model must be 'lenet' or 'alexnet'; got {model!r}")
    x, y = shard(train_split.images, rank, world), shard(train_split.labels, rank, world)
    loader = DeviceLoader(x, y, batch_size // world, shuffle=shuffle, drop_last=True, device=device, seed=seed,
                          scale=scale, normalize=norm, resize=resize)
    test = DeviceLoader(test_split.images, test_split.labels, 1000, shuffle=False, device=device, scale=scale,
                        normalize=norm, resize=resize)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    fast = device.type == "cuda" and model == "alexnet"
    trainer = DistributedTrainer(wrap(net, device), opt, device=device, bf16=fast, channels_last=fast, live_plot=False)
    trainer.fit(loader, test, epochs=epochs)
    if out is not None and rank == 0:
        state = {k.removeprefix("module."): v.cpu() for k, v in trainer.model.state_dict().items()}
        with atomic_write(out) as f:
            torch.save({"state_dict": state, "history": list(trainer.history), "world_size": world}, f)
    return trainer


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="torchrun --nproc_per_node=N -m lessons_lib.distributed",
                                description="Data-parallel MNIST training with lessons_lib's Trainer.")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--model", default="lenet", choices=["lenet", "alexnet"])
    p.add_argument("--batch-size", type=int, default=64, help="global batch (split over the processes)")
    p.add_argument("--n-train", type=int, default=None)
    p.add_argument("--source", default="auto", help="MNIST source: auto, full or sample")
    p.add_argument("--no-shuffle", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--out", default=None, help="file for rank 0's final weights and history")
    p.add_argument("--timeout", type=float, default=None, help="seconds to wait for the other processes at any "
                   f"step before failing (default $LESSONS_DIST_TIMEOUT or {TIMEOUT:g})")
    a = p.parse_args(argv)
    timeout = a.timeout if a.timeout is not None else float(os.environ.get("LESSONS_DIST_TIMEOUT", TIMEOUT))
    try:
        train(a.epochs, a.model, a.batch_size, a.n_train, a.source, not a.no_shuffle, a.seed, a.resolution, a.out,
              timeout)
    except RuntimeError as exc:
        message = str(exc).lower()
        if "timed out" not in message and "timeout" not in message:  # torch 2.6's gloo: "Application timeout ..."
            raise
        print(f"rank {os.environ.get('RANK', 0)}: no answer from another process for {timeout:g} s: one has stalled, "
              "or died without torchrun noticing; stopping. If a step can take that long, raise --timeout "
              f"(torch: {str(exc).strip()[-200:]})", file=sys.stderr, flush=True)
        return 1
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
