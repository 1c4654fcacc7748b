"""Write lessons_lib/data/mnist_sample.npz: a reproducible sample of the real MNIST.

Usage: LESSONS_DATA=/path/to/data python tools/make_mnist_sample.py
"""
from pathlib import Path

import numpy as np
import torch

from lessons_lib.data.mnist_files import SAMPLE_PATH, load_mnist

N_TRAIN, N_TEST, SEED = 3000, 1000, 20240601


def main():
    g = torch.Generator().manual_seed(SEED)
    arrays = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        full = load_mnist(split)
        idx = torch.randperm(len(full), generator=g)[:n].sort().values
        arrays[f"{split}_images"] = full.images[idx].numpy()
        arrays[f"{split}_labels"] = full.labels[idx].numpy().astype(np.uint8)
        arrays[f"{split}_indices"] = idx.numpy().astype(np.int32)
    np.savez_compressed(SAMPLE_PATH, **arrays)
    print(f"wrote {SAMPLE_PATH} ({Path(SAMPLE_PATH).stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
