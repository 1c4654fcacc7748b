import os

import pytest
import torch

os.environ.setdefault("LESSONS_PROFILE", "smoke")
os.environ.setdefault("LESSONS_EXECUTING", "1")
torch.set_num_threads(min(2, torch.get_num_threads()))

from testsupport import ROOT, full_mnist_root, on_tmpfs, python  # noqa: F401 (re-exported for fixtures)


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
