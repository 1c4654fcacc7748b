import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("LESSONS_PROFILE", "smoke")
os.environ.setdefault("LESSONS_EXECUTING", "1")
torch.set_num_threads(min(2, torch.get_num_threads()))

ROOT = Path(__file__).resolve().parent.parent


def full_mnist_root():
    """The folder with the full MNIST for tests that need it, or None."""
    from lessons_lib.data.mnist_files import FILES, _find

    env = os.environ.get("LESSONS_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared" / "data")  # the development checkout's shared data
    for root in candidates:
        if root.is_dir() and all(_find(root, s) for pair in FILES.values() for s in pair):
            return root
    return None


@pytest.fixture
def mnist_root():
    root = full_mnist_root()
    if root is None:
        pytest.skip("the full MNIST is not available (set LESSONS_DATA)")
    return root


@pytest.fixture
def sample():
    from lessons_lib.data import load_sample

    return load_sample()


@pytest.fixture(autouse=True)
def checkpoints_in_tmp(tmp_path_factory, monkeypatch):
    """reproduce keeps its checkpoints and finished seeds in a temporary folder during tests."""
    from lessons_lib import reproduce

    monkeypatch.setattr(reproduce, "DEFAULT_CHECKPOINTS", tmp_path_factory.mktemp("checkpoints"))
