"""Which device to train on, seeding, and the provenance of a run."""
from __future__ import annotations

import os
import platform
import random
import subprocess
from pathlib import Path

import numpy as np
import torch


def pick_device(prefer: str | None = None, verbose: bool = True) -> torch.device:
    """CUDA if there is a GPU, then Apple's MPS, then the CPU; says which.

    ``prefer`` (or ``$LESSONS_DEVICE``) forces one, e.g. ``"cpu"`` to compare timings.
    """
    prefer = prefer or os.environ.get("LESSONS_DEVICE") or None
    if prefer is not None:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {prefer!r} was asked for, but torch sees no CUDA GPU")
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    if verbose:
        print(f"Training on {describe_device(device)}")
    return device


def describe_device(device: torch.device | str) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads, {platform.processor() or platform.machine()})"
    return device.type


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and every GPU); return a CPU generator seeded the same.

    On the CPU two runs with the same seed give identical results. On a GPU some kernels are
    not deterministic, so results agree only up to floating-point noise.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def git_commit(path: str | Path | None = None) -> str | None:
    """The commit of the checkout that holds ``path`` (this package by default), or None.

    Where the code runs from a copy without ``.git`` (a GPU machine that received the working
    tree), ``$LESSONS_COMMIT`` names the commit it was copied from. A changed tracked file makes it
    ``<commit>-dirty``, except what executing the book writes (its notebooks' outputs and
    ``results/notebook_timings.json``): executing two notebooks in turn leaves the second one's
    record clean.
    """
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
        commit = out.stdout.strip() if out.returncode == 0 else None
        if commit:
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no", "--", ":/",
                 ":(top,exclude,glob)book/**/*.ipynb", ":(top,exclude)results/notebook_timings.json"],
                cwd=where, capture_output=True, text=True, timeout=10,
            ).stdout.strip()
            return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return os.environ.get("LESSONS_COMMIT") or None


def environment(device: torch.device | str | None = None) -> dict:
    """Versions, device and commit: the provenance stored with every result."""
    import matplotlib
    import torchvision

    from . import __version__
    from .config import current_profile

    device = torch.device(device) if device is not None else pick_device(verbose=False)
    return {
        "profile": current_profile(),
        "device": describe_device(device),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "matplotlib": matplotlib.__version__,
        "lessons_lib": __version__,
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "platform": platform.platform(),
        "commit": git_commit(),
    }
