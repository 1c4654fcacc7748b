"""One LeNet epoch on the full MNIST: the device-resident loader against the usual DataLoader.

    python benchmarks/lenet_epoch.py [--device cuda|cpu] [--epochs 1] [--workers 2]

Both sides train the same network (the lecture's LeNet) with the same optimiser (Caffe's SGD
settings, torch.optim.SGD), batch 64, for the same number of epochs, in this one process:

* baseline: ``torchvision.datasets.MNIST`` + ``ToTensor`` + ``Normalize`` + ``DataLoader``
  (shuffle, ``num_workers``, ``pin_memory`` on CUDA), a plain training loop;
* ours: ``lessons_lib.data.DeviceLoader`` (the whole uint8 set on the device, one
  permutation per epoch, normalisation batched on the device) and ``lessons_lib.training.Trainer``
  (eager; add ``--graph`` on CUDA to capture each step in a CUDA graph as well).

It prints the seconds per epoch of each, the ratio, and the final test accuracy of each as a
sanity check that both trained the same thing.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def baseline(device, epochs, workers):
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    from lessons_lib.data import torchvision_root
    from lessons_lib.models import LeNet

    root = torchvision_root()
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train = datasets.MNIST(root, train=True, transform=tf, download=False)
    test = datasets.MNIST(root, train=False, transform=tf, download=False)
    pin = device.type == "cuda"
    tl = DataLoader(train, batch_size=64, shuffle=True, num_workers=workers, pin_memory=pin,
                    persistent_workers=workers > 0, drop_last=True)
    vl = DataLoader(test, batch_size=1000, num_workers=workers, pin_memory=pin)
    torch.manual_seed(0)
    model = LeNet().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    times = []
    for _ in range(epochs):
        sync(device)
        t0 = time.perf_counter()
        model.train()
        for x, y in tl:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
        sync(device)
        times.append(time.perf_counter() - t0)
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in vl:
            correct += (model(x.to(device)).argmax(1) == y.to(device)).sum().item()
    return times, correct / len(test)


def ours(device, epochs, graph):
    from lessons_lib.data import DeviceLoader, MNIST_MEAN, MNIST_STD, load_mnist
    from lessons_lib.models import LeNet
    from lessons_lib.training import FastTrainer

    train, test = load_mnist("train"), load_mnist("test")
    tl = DeviceLoader(train.images, train.labels, 64, drop_last=True, device=device, normalize=(MNIST_MEAN, MNIST_STD))
    vl = DeviceLoader(test.images, test.labels, 1000, shuffle=False, device=device, normalize=(MNIST_MEAN, MNIST_STD))
    torch.manual_seed(0)
    model = LeNet().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    trainer = FastTrainer(model, opt, device=device, cuda_graph=graph, live_plot=False, verbose=False)
    times = []
    for e in range(1, epochs + 1):
        sync(device)
        t0 = time.perf_counter()
        trainer.train_epoch(tl)
        sync(device)
        times.append(time.perf_counter() - t0)
    return times, trainer.evaluate(vl)["accuracy"]


def main():
    from lessons_lib.device import describe_device, pick_device

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default=None)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers of the baseline")
    p.add_argument("--graph", action="store_true", help="also capture our step in a CUDA graph (CUDA only)")
    args = p.parse_args()
    device = pick_device(args.device, verbose=False)
    print(f"device: {describe_device(device)}; torch {torch.__version__}; epochs {args.epochs}; batch 64")
    # The first epoch of each side includes its one-off costs (worker start-up, copying the set to
    # the device, CUDA-graph capture): both are reported per epoch, the mean over all epochs.
    b_times, b_acc = baseline(device, args.epochs, args.workers)
    o_times, o_acc = ours(device, args.epochs, graph=False)
    rows = [("torchvision MNIST + DataLoader", b_times, b_acc), ("DeviceLoader + Trainer (eager)", o_times, o_acc)]
    if args.graph and device.type == "cuda":
        g_times, g_acc = ours(device, args.epochs, graph=True)
        rows.append(("DeviceLoader + Trainer (CUDA graph)", g_times, g_acc))
    base = sum(b_times) / len(b_times)
    for name, times, acc in rows:
        mean = sum(times) / len(times)
        print(f"{name:38s} {mean:8.3f} s/epoch  speed-up x{base / mean:6.2f}  test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
