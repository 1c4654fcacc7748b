"""The lecture's full LeNet run (Caffe recipe, batch 64, 75 epochs) on one GPU, timed three ways.

    python benchmarks/lenet_full.py [--epochs 75] [--probe-epochs 2] [--seeds 3]

1. the usual torchvision ``MNIST`` + ``DataLoader`` + ``ToTensor``/``Normalize`` loop, timed
   over ``--probe-epochs`` and projected to ``--epochs`` (a full baseline run takes minutes:
   the projection is printed as such);
2. ``DeviceLoader`` + ``Trainer``, eager, timed over ``--probe-epochs`` and projected;
3. ``DeviceLoader`` + ``Trainer`` with the whole step (forward, backward, SGD, the "inv"
   learning-rate schedule, running sums) captured in one CUDA graph: the complete run, timed.

Then several seeds at once (separate processes on the same GPU) against one alone, as seeds
per minute, and the floor: the multiply-adds of an epoch (forward + backward = 3x forward)
over this GPU's measured fp32 matrix-multiply rate.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from lenet_epoch import baseline, sync  # noqa: E402


def measured_fp32_rate(device) -> float:
    """Multiply-adds per second of a large fp32 matrix product (TF32 off), median of 5."""
    torch.backends.cuda.matmul.allow_tf32 = False
    n = 8192 if device.type == "cuda" else 1024
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(2):
        a @ b
    times = []
    for _ in range(5):
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - t0)
    return n ** 3 / sorted(times)[2]


def concurrent_seeds(n: int, epochs: int, device) -> float:
    """Wall seconds for ``n`` seeds of lenet_caffe run at once as separate processes."""
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lessons_lib.reproduce", "lenet_caffe", "--profile", "full",
                        "--seeds", str(n), "--jobs", str(n), "--set", f"epochs={epochs}", "--out", out,
                        "--device", device.type], check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t0


def main():
    from lessons_lib.data import load_mnist
    from lessons_lib.device import describe_device
    from lessons_lib.experiments.lenet import train_lenet
    from lessons_lib.analysis.architecture import layer_table
    from lessons_lib.models import LeNet

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=75)
    p.add_argument("--probe-epochs", type=int, default=2)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--cpu-check", action="store_true", help="run on the CPU to check the script (tiny numbers)")
    args = p.parse_args()
    if args.cpu_check:  # only that the script runs: one epoch of everything, two seeds
        args.epochs, args.probe_epochs, args.seeds, args.workers = 1, 1, 2, 0
    if not torch.cuda.is_available() and not args.cpu_check:
        sys.exit("this benchmark needs a CUDA GPU (see benchmarks/lenet_epoch.py for the CPU comparison)")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"device: {describe_device(device)}; torch {torch.__version__}")
    data = load_mnist("train"), load_mnist("test")

    b_times, _ = baseline(device, args.probe_epochs, args.workers)
    base_epoch = sum(b_times[1:] or b_times) / len(b_times[1:] or b_times)
    t0 = time.perf_counter()
    eager = train_lenet("caffe", args.probe_epochs, 0, device, data, fast=False, live_plot=False, verbose=False)
    eager_epoch = sum(eager.history.column("time")[1:] or eager.history.column("time")) / max(1, args.probe_epochs - 1)
    t0 = time.perf_counter()
    fast = train_lenet("caffe", args.epochs, 0, device, data, fast=device.type == "cuda", live_plot=False, verbose=False)
    sync(device)
    fast_total = time.perf_counter() - t0
    fast_train = sum(fast.history.column("time"))
    acc = fast.history.last["test_accuracy"]
    print(f"baseline torchvision DataLoader loop: {base_epoch:.2f} s/epoch -> {base_epoch * args.epochs:.0f} s "
          f"projected for {args.epochs} epochs (measured over {args.probe_epochs})")
    print(f"DeviceLoader + Trainer, eager:        {eager_epoch:.2f} s/epoch -> {eager_epoch * args.epochs:.0f} s projected")
    print(f"DeviceLoader + Trainer, CUDA graph:   {fast_train / args.epochs:.3f} s/epoch; {args.epochs} epochs: "
          f"{fast_train:.1f} s training ({fast_total:.1f} s with per-epoch test evaluation and set-up), "
          f"test accuracy {acc:.4f}")
    print(f"speed-up of the full run over the projected baseline: x{base_epoch * args.epochs / fast_train:.1f} "
          f"(target: <= 30 s of training per seed: {'met' if fast_train <= 30 else 'NOT met'})")

    one = concurrent_seeds(1, args.epochs, device)
    many = concurrent_seeds(args.seeds, args.epochs, device)
    print(f"seeds per minute: 1 alone {60 / one:.2f} ({one:.0f} s incl. start-up); {args.seeds} concurrent "
          f"{60 * args.seeds / many:.2f} ({many:.0f} s) -> x{(args.seeds / many) / (1 / one):.2f}")

    macs = layer_table(LeNet(), (1, 28, 28)).total_macs
    steps = len(data[0]) // 64
    epoch_macs = 3 * macs * steps * 64
    rate = measured_fp32_rate(device)
    floor = epoch_macs / rate
    print(f"floor: {epoch_macs / 1e9:.1f} G multiply-adds per epoch / {rate / 1e12:.1f} T multiply-adds/s (fp32 matmul, "
          f"measured) = {floor * 1e3:.2f} ms/epoch; the CUDA-graph run takes {fast_train / args.epochs * 1e3:.0f} ms/epoch, "
          f"x{fast_train / args.epochs / floor:.0f} the floor (batch 64 cannot fill the GPU)")


if __name__ == "__main__":
    main()
