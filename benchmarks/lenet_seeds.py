"""Seeds per minute: S LeNet seeds one after another, against the same S seeds trained at once
as one stacked model (``lessons_lib.ensemble.Ensemble``, ``torch.func.vmap``).

    python benchmarks/lenet_seeds.py [--device cuda|cpu] [--seeds 3] [--epochs 2] [--n-train N]

Both sides run the Caffe recipe (batch 64) through ``lessons_lib``'s Trainer, with the whole step
in a CUDA graph on a GPU, in this one process, on the same data:

* baseline: ``train_lenet(seed=s)`` for each seed in turn (what ``reproduce`` does with one job);
* stacked: ``train_lenet_seeds(seeds)``, one model whose every kernel covers all the seeds.

It prints the wall time of each (training, per-epoch test evaluation and set-up included), the
seeds per minute and their ratio, and each seed's test accuracy from both sides as a check
that they trained the same networks (equal up to floating-point rounding for this variant,
which has no dropout).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from lenet_epoch import sync  # noqa: E402


def main():
    from lessons_lib.data import mnist
    from lessons_lib.device import describe_device
    from lessons_lib.ensemble import member_histories
    from lessons_lib.experiments.lenet import train_lenet, train_lenet_seeds

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--variant", default="conv_relu")
    p.add_argument("--n-train", type=int, default=None, help="training images (default: all 60,000)")
    args = p.parse_args()
    if args.seeds < 2:
        sys.exit(f"--seeds must be at least 2 to compare; got {args.seeds}")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda, but no CUDA GPU is available")
    print(f"device: {describe_device(device)}; torch {torch.__version__}; {args.seeds} seeds x {args.epochs} "
          f"epochs of lenet {args.variant}, batch 64, CUDA graph {'on' if device.type == 'cuda' else 'off'}")
    data = mnist("full", n_train=args.n_train)
    seeds = list(range(args.seeds))
    kw = dict(progress=False, live_plot=False, verbose=False)

    sync(device)
    t0 = time.perf_counter()
    singles = [train_lenet(args.variant, args.epochs, s, device, data, **kw) for s in seeds]
    sync(device)
    one_by_one = time.perf_counter() - t0

    t0 = time.perf_counter()
    stacked = train_lenet_seeds(args.variant, args.epochs, seeds, device, data, **kw)
    sync(device)
    at_once = time.perf_counter() - t0

    per_min = lambda wall: 60 * len(seeds) / wall  # noqa: E731
    print(f"one after another: {one_by_one:.1f} s -> {per_min(one_by_one):.2f} seeds/min")
    print(f"stacked (vmap):    {at_once:.1f} s -> {per_min(at_once):.2f} seeds/min")
    print(f"ratio stacked / one after another: x{one_by_one / at_once:.2f} seeds per minute")
    members = member_histories(stacked.history, len(seeds))
    for s, single, member in zip(seeds, singles, members):
        print(f"seed {s}: test accuracy {single.history.last['test_accuracy']:.4f} alone, "
              f"{member[-1]['test_accuracy']:.4f} stacked")


if __name__ == "__main__":
    main()
