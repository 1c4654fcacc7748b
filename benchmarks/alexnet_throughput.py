"""Images per second of AlexNet training: lessons_lib's Trainer against a bare loop, one run.

Both train the same AlexNet-style network (torchvision's widths, one input channel, 10 classes)
with the same SGD on the same device-resident MNIST batches resized on the device; on CUDA
both use bf16 autocast and channels_last. Each is warmed up, then timed over --steps steps
(synchronised). Prints both figures and their ratio (Trainer / bare; the target on a GPU is
at least 0.90).

    python benchmarks/alexnet_throughput.py                                # GPU: 224 x 224, batch 256
    python benchmarks/alexnet_throughput.py --resolution 64 --batch 64 --steps 20   # CPU, about a minute
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from lessons_lib.data import DeviceLoader, MNIST_MEAN, MNIST_STD, mnist
from lessons_lib.device import pick_device, seed_everything
from lessons_lib.experiments.alexnet import PartialEpochs
from lessons_lib.models import MnistAlexNet
from lessons_lib.training import FastTrainer


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def make(args, device):
    seed_everything(0)
    model = MnistAlexNet(args.resolution).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    return model, opt


def bare(args, device, loader) -> float:
    model, opt = make(args, device)
    fast = device.type == "cuda"
    if fast:
        model = model.to(memory_format=torch.channels_last)
    model.train()

    def step(x, y):
        if fast:
            x = x.contiguous(memory_format=torch.channels_last)
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", torch.bfloat16, enabled=fast):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    it = iter(PartialEpochs(loader, args.warmup + args.steps))
    for _ in range(args.warmup):
        step(*next(it))
    sync(device)
    t0 = time.perf_counter()
    for x, y in it:
        step(x, y)
    sync(device)
    return args.steps * args.batch / (time.perf_counter() - t0)


def trainer(args, device, loader) -> float:
    model, opt = make(args, device)
    fast = device.type == "cuda"
    tr = FastTrainer(model, opt, device=device, bf16=fast, channels_last=fast, live_plot=False,
                 verbose=False)
    tr.train_epoch(PartialEpochs(loader, args.warmup))
    sync(device)
    t0 = time.perf_counter()
    tr.train_epoch(PartialEpochs(loader, args.steps))  # ends with one .item() sync, as every epoch does
    sync(device)
    return args.steps * args.batch / (time.perf_counter() - t0)


def main(argv=None):
    device = pick_device(verbose=False)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    gpu = device.type == "cuda"
    p.add_argument("--resolution", type=int, default=224 if gpu else 64)
    p.add_argument("--batch", type=int, default=256 if gpu else 64)
    p.add_argument("--steps", type=int, default=50 if gpu else 20)
    p.add_argument("--warmup", type=int, default=10 if gpu else 3)
    p.add_argument("--source", default="auto", help="MNIST: auto, full or sample (the package's 3,000 images)")
    p.add_argument("--repeats", type=int, default=2, help="alternate bare/Trainer this many times; report the best")
    args = p.parse_args(argv)
    if gpu:
        torch.backends.cudnn.benchmark = True
    train, _ = mnist(args.source, n_train=min(60000, args.batch * (args.steps + args.warmup)))
    loader = DeviceLoader(train.images, train.labels, args.batch, shuffle=True, drop_last=True, device=device,
                          normalize=(MNIST_MEAN, MNIST_STD), resize=args.resolution)
    name = torch.cuda.get_device_name() if gpu else "CPU"
    print(f"device {name}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads; AlexNet-style, "
          f"{args.resolution}x{args.resolution}, batch {args.batch}, {args.steps} timed steps"
          + (", bf16 + channels_last" if gpu else ""))
    b, t = [], []
    for _ in range(args.repeats):
        b.append(bare(args, device, loader))
        t.append(trainer(args, device, loader))
    print(f"bare loop: {max(b):,.0f} images/s  (runs: {', '.join(f'{v:,.0f}' for v in b)})")
    print(f"Trainer:   {max(t):,.0f} images/s  (runs: {', '.join(f'{v:,.0f}' for v in t)})")
    print(f"ratio Trainer / bare: {max(t) / max(b):.3f}")


if __name__ == "__main__":
    main()
