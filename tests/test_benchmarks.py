"""Every benchmark still starts: each is run on the CPU at a tiny size (its numbers mean nothing
here; a GPU session runs them for real through tools/gpu_check.sh). lenet_full.py is a GPU
benchmark of whole 75-epoch runs: even its --cpu-check trains several full epochs, so only the GPU
check starts it."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(script, *args, **extra_env):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": "", **extra_env}
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True,
                         env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.mark.slow
def test_alexnet_throughput_starts():
    out = run("alexnet_throughput.py", "--resolution", "64", "--batch", "8", "--steps", "2", "--warmup", "1",
              "--repeats", "1", "--source", "sample")
    assert "ratio Trainer / bare:" in out


@pytest.mark.slow
@pytest.mark.mnist
def test_lenet_epoch_starts(mnist_root):
    assert "speed-up" in run("lenet_epoch.py", "--device", "cpu", "--workers", "0", LESSONS_DATA=str(mnist_root))
