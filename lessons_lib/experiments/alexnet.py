"""The AlexNet chapter's settings, measurements and full-scale runs.

The chapter trains small networks on a CPU, three seeds for every comparison:

* ReLU against tanh in a four-layer convolutional network on 28 x 28 digits, the form of the
  paper's Figure 1 (:func:`training_error_curve`);
* an AlexNet-style network (:class:`~lessons_lib.models.MnistAlexNet`) on a small training set,
  with and without dropout and random shifts, with the paper's recipe scaled down: SGD with
  momentum 0.9 and weight decay 0.0005 at a learning rate of 0.01, divided by 10 for the last
  third of training (:func:`train_alexnet`);
* max pooling against plain subsampling, and how often a shifted digit changes the prediction
  (:func:`shift_sensitivity`);
* first-layer filters learned from natural photographs by a sparse autoencoder
  (:func:`photographs`, :func:`natural_patches`, :func:`learn_filters`).

Full-scale runs (``python -m lessons_lib.reproduce NAME``):

* ``alexnet_relu_tanh`` -- the ReLU/tanh comparison on all 60,000 training images, width 32,
  about three epochs: small enough for a CPU (about 2 minutes a run on 2 cores, 6 runs for
  3 seeds).
* ``alexnet_regularisation`` -- the four regularisation settings at 224 x 224 with torchvision's
  widths: a GPU run.
* ``alexnet_mnist`` -- the full-width AlexNet-style network at 224 x 224 on all of MNIST, 3 epochs
  (24 s wall a seed on one H200, measured once).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..config import Profiles
from ..data import DeviceLoader, MNIST_MEAN, MNIST_STD, mnist
from ..device import seed_everything
from ..models import FourLayerCNN, MnistAlexNet, SparseAutoencoder
from ..training import FastTrainer
from . import checkpoint_path

RECIPE = dict(lr=0.01, momentum=0.9, weight_decay=5e-4, batch_size=128)
NARROW = dict(widths=(16, 32, 64, 64, 32), fc=256)     # a CPU-sized AlexNet for the many-run comparisons
FULL = dict(widths=(64, 192, 384, 256, 256), fc=4096)  # torchvision's widths, 10 classes

SETTINGS = Profiles(
    smoke=dict(source="sample", seeds=3, n_test=300,
               relu_n_train=2000, relu_width=8, relu_steps=30, relu_every=5,
               resolution=64, net=NARROW, batch_size=32,
               reg_n_train=200, reg_epochs=3, reg_lr_drop=2,
               shift_n_train=500, shift_epochs=1,
               patches=4000, filter_steps=200),
    standard=dict(source="full", seeds=3, n_test=1000,
                  relu_n_train=12000, relu_width=16, relu_steps=150, relu_every=5,
                  resolution=64, net=NARROW, batch_size=32,
                  reg_n_train=500, reg_epochs=30, reg_lr_drop=20,
                  shift_n_train=4000, shift_epochs=3,
                  patches=40000, filter_steps=3000),
    full=dict(source="full", seeds=3, n_test=10000,
              relu_n_train=60000, relu_width=32, relu_steps=1400, relu_every=20,
              resolution=224, net=FULL, batch_size=128,
              reg_n_train=1000, reg_epochs=60, reg_lr_drop=40,
              shift_n_train=60000, shift_epochs=3,
              patches=200000, filter_steps=20000),
)


# -- data and training ---------------------------------------------------------------------------
def digits(P):
    """MNIST at ``P``'s source: the training images the chapter's runs draw from, and ``P.n_test``
    test images (the same ones for every run)."""
    train, test = mnist(P.source)
    return train, test.subset(P.n_test, seed=0)


def loaders(train, test, resolution: int, batch_size: int = 128, shift: int = 0, device="cpu", seed: int = 0):
    """Device-resident MNIST loaders that resize to ``resolution`` (train shuffled, test not)."""
    common = dict(device=device, normalize=(MNIST_MEAN, MNIST_STD), resize=resolution)
    train_loader = DeviceLoader(train.images, train.labels, batch_size, shuffle=True, drop_last=True, seed=seed,
                                shift=shift, **common)
    test_loader = DeviceLoader(test.images, test.labels, 500, shuffle=False, **common)
    return train_loader, test_loader


class PartialEpochs:
    """Make each "epoch" of the trainer ``steps`` batches of ``loader``, continuing where the
    last one stopped (a new pass over ``loader`` starts when it runs out).

    The trainer then reports the training error every ``steps`` batches: the resolution a
    training-error curve needs on MNIST, where one epoch is already far past 25% error.
    """

    def __init__(self, loader, steps: int):
        if not isinstance(steps, int) or steps <= 0:
            raise ValueError(f"steps must be a positive int; got {steps!r}")
        self.loader, self.steps = loader, steps
        self.drop_last = getattr(loader, "drop_last", False)
        self._it = None

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        for _ in range(self.steps):
            try:
                batch = next(self._it) if self._it is not None else None
            except StopIteration:
                batch = None
            if batch is None:
                self._it = iter(self.loader)
                batch = next(self._it)
            yield batch


def make_trainer(model, device, lr: float = RECIPE["lr"], scheduler=None, fast: bool | None = None,
                 **trainer_kwargs) -> FastTrainer:
    """The paper's SGD on ``model``; ``fast`` (default: on CUDA) turns on bf16 and channels_last.
    ``scheduler``, if given, is called with the optimizer and returns a torch lr scheduler."""
    device = torch.device(device)
    fast = device.type == "cuda" if fast is None else fast
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=RECIPE["momentum"], weight_decay=RECIPE["weight_decay"])
    return FastTrainer(model, opt, device=device, scheduler=scheduler(opt) if scheduler else None,
                       bf16=fast, channels_last=fast, **trainer_kwargs)


def train_alexnet(data, resolution: int = 64, widths=NARROW["widths"], fc: int = NARROW["fc"], epochs: int = 1,
                  activation: str = "relu", dropout: float = 0.5, pool: str = "max", shift: int = 0,
                  lr: float = RECIPE["lr"], batch_size: int = RECIPE["batch_size"], lr_drop: int | None = None,
                  seed: int = 0, device="cpu", evaluate: bool = True, **trainer_kwargs) -> FastTrainer:
    """Train :class:`MnistAlexNet` on ``data = (train, test)``; return the trainer.

    ``lr_drop``: the epoch after which the learning rate is divided by 10 (the paper divided it
    by 10 whenever the validation error stopped improving).
    """
    if lr_drop is not None and not (isinstance(lr_drop, int) and 0 < lr_drop <= epochs):
        raise ValueError(f"lr_drop must be an epoch in 1..{epochs} or None; got {lr_drop!r}")
    seed_everything(seed)
    model = MnistAlexNet(resolution, widths, fc, activation=activation, dropout=dropout, pool=pool)
    train, test = data
    train_loader, test_loader = loaders(train, test, resolution, batch_size, shift, device, seed)
    steps = len(train) // batch_size
    schedule = None if lr_drop is None else (
        lambda opt: torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[lr_drop * steps], gamma=0.1))
    trainer = make_trainer(model, device, lr, schedule, **trainer_kwargs)
    trainer.fit(train_loader, test_loader if evaluate else None, epochs=epochs)
    return trainer


def training_error_curve(data, activation: str = "relu", width: int = 16, steps: int = 150, every: int = 5,
                         lr: float = RECIPE["lr"], seed: int = 0, device="cpu", **trainer_kwargs) -> FastTrainer:
    """Train :class:`FourLayerCNN` on the training images of ``data`` with SGD (momentum 0.9, no
    weight decay, no dropout: the paper's Figure 1 had no regularisation) for ``steps`` batches
    of 128; the history has one row per ``every`` batches, with the running training accuracy."""
    if not isinstance(steps, int) or not isinstance(every, int) or every < 1 or steps % every:
        raise ValueError(f"steps must be a multiple of every (both ints); got steps={steps!r}, every={every!r}")
    seed_everything(seed)
    model = FourLayerCNN(activation, width)
    train, _ = data
    loader = DeviceLoader(train.images, train.labels, RECIPE["batch_size"], shuffle=True, drop_last=True, seed=seed,
                          device=device, normalize=(MNIST_MEAN, MNIST_STD))
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=RECIPE["momentum"])
    trainer = FastTrainer(model, opt, device=device, **trainer_kwargs)
    trainer.fit(PartialEpochs(loader, every), None, epochs=steps // every)
    return trainer


def epochs_to_error(history, threshold: float = 0.25, epoch_fraction: float = 1.0) -> float:
    """Epochs until the training error first falls to ``threshold``, linearly interpolated
    between history rows (each row ``epoch_fraction`` of an epoch); ``nan`` if it never does."""
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be a training error in (0, 1); got {threshold!r}")
    errors = [1 - a for a in history.column("train_accuracy")]
    prev_t, prev_e = 0.0, 0.9  # before training: chance level on 10 classes
    for i, e in enumerate(errors, 1):
        t = i * epoch_fraction
        if e <= threshold:
            frac = 1.0 if prev_e == e else (prev_e - threshold) / (prev_e - e)
            return prev_t + frac * (t - prev_t)
        prev_t, prev_e = t, e
    return math.nan


def largest_fall(values) -> tuple[float, int]:
    """The largest drop between two consecutive values, and the (1-based) index of the value
    after the drop; ``(0.0, 0)`` when the sequence never falls."""
    falls = [a - b for a, b in zip(values[:-1], values[1:])]
    if not falls or max(falls) <= 0:
        return 0.0, 0
    i = int(np.argmax(falls))
    return float(falls[i]), i + 2


@torch.no_grad()
def top_k_error(model, loader, k: int = 5) -> float:
    """Fraction of ``loader``'s items whose label is not among the model's ``k`` highest scores."""
    model.eval()
    wrong, n = 0, 0
    for x, y in loader:
        top = model(x).topk(k, dim=-1).indices
        wrong += int((top != y[:, None]).all(dim=-1).sum())
        n += len(y)
    return wrong / n


@torch.no_grad()
def shift_sensitivity(model, images: torch.Tensor, shifts=(1, 2, 3, 4)) -> dict:
    """For each shift d, the fraction of ``images`` (N, C, H, W, already normalised) whose
    predicted class changes when the image moves d pixels right (background fill), and the
    mean drop of the probability of the originally predicted class."""
    model.eval()
    probs = model(images).softmax(-1)
    pred = probs.argmax(-1)
    background = images.amin()
    out = {}
    for d in shifts:
        moved = torch.full_like(images, float(background))
        moved[..., d:] = images[..., :-d]
        p = model(moved).softmax(-1)
        out[d] = {"changed": float((p.argmax(-1) != pred).float().mean()),
                  "prob_drop": float((probs.gather(1, pred[:, None]) - p.gather(1, pred[:, None])).mean())}
    return out


# -- first-layer filters from natural photographs ------------------------------------------------
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "motorcycle_right")


def photographs(names=PHOTOS, scale: float = 0.5) -> list:
    """scikit-image's sample colour photographs (they ship inside the package: no download), as
    float32 arrays (H, W, 3) in [0, 1], shrunk by ``scale``."""
    try:
        import skimage.data
        from skimage.transform import rescale
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the natural-image filters need scikit-image: pip install scikit-image") from exc
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1]; got {scale!r}")
    images = []
    for name in names:
        if name not in PHOTOS:
            raise ValueError(f"names must come from {PHOTOS}; got {name!r}")
        if name.startswith("motorcycle_"):
            left, right, _ = skimage.data.stereo_motorcycle()
            im = left if name.endswith("left") else right
        else:
            im = getattr(skimage.data, name)()
        im = im.astype(np.float32) / 255
        if scale != 1:
            im = rescale(im, scale, channel_axis=2, anti_aliasing=True).astype(np.float32)
        images.append(im)
    return images


def natural_patches(images, size: int = 11, n: int = 40000, seed: int = 0) -> torch.Tensor:
    """``n`` random ``size`` x ``size`` colour patches, about as many from each image, shape
    (n, 3, size, size). Each patch has its mean brightness removed and is divided by its
    contrast (standard deviation, with a floor so that flat patches are not blown up)."""
    if not isinstance(size, int) or size < 2 or not isinstance(n, int) or n < len(images):
        raise ValueError(f"size must be an int >= 2 and n an int >= the {len(images)} images; got {size!r}, {n!r}")
    rng = np.random.default_rng(seed)
    counts = [n // len(images)] * len(images)
    counts[-1] += n - sum(counts)
    out = []
    for im, m in zip(images, counts):
        h, w, _ = im.shape
        ys, xs = rng.integers(0, h - size + 1, m), rng.integers(0, w - size + 1, m)
        out.append(np.stack([im[y:y + size, x:x + size] for y, x in zip(ys, xs)]))
    p = torch.from_numpy(np.concatenate(out)).permute(0, 3, 1, 2).reshape(n, -1)
    p = p - p.mean(1, keepdim=True)
    p = p / (p.var(1, keepdim=True) + 0.01).sqrt()
    return p.reshape(n, 3, size, size)


def zca(x: torch.Tensor, eps: float = 0.3):
    """ZCA whitening of the rows of ``x`` (N, D): returns ``(x_white, W)`` with
    ``x_white = (x - mean) @ W``. ``eps`` is added to the covariance's eigenvalues, so that the
    weakest (finest, noisiest) directions are not amplified without limit."""
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"x must be a matrix (N, D) with N >= 2; got shape {tuple(x.shape)}")
    x = x - x.mean(0)
    cov = (x.T @ x / len(x)).double()
    e, v = torch.linalg.eigh(cov)
    w = (v @ torch.diag((e + eps).rsqrt()) @ v.T).float()
    return x @ w, w


def learn_filters(patches: torch.Tensor, n_units: int = 96, sparsity: float = 1.0, steps: int = 3000,
                  batch_size: int = 256, lr: float = 3e-3, eps: float = 0.3, seed: int = 0):
    """Train a :class:`~lessons_lib.models.SparseAutoencoder` on the whitened ``patches`` (N, C, k, k).

    Returns ``(filters, losses)``: the filters as they act on the pixels of a patch (the learned
    weights composed with the whitening), shape (n_units, C, k, k), and the mean loss of every 100 steps.
    """
    n, c, k, _ = patches.shape
    x_white, w_zca = zca(patches.reshape(n, -1), eps)
    seed_everything(seed)
    ae = SparseAutoencoder(c * k * k, n_units)
    opt = torch.optim.Adam(ae.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    losses, block = [], 0.0
    for step in range(1, steps + 1):
        x = x_white[torch.randint(0, n, (batch_size,), generator=g)]
        x_hat, h = ae(x)
        loss = ((x_hat - x) ** 2).sum(1).mean() + sparsity * h.sum(1).mean()  # h >= 0: sum(h) = |h|_1
        opt.zero_grad()
        loss.backward()
        opt.step()
        block += float(loss.detach())
        if step % 100 == 0:
            losses.append(block / 100)
            block = 0.0
    with torch.no_grad():
        filters = (ae.filters() @ w_zca.T).reshape(n_units, c, k, k)
    return filters, losses


def colourfulness(filters: torch.Tensor) -> torch.Tensor:
    """For each filter (N, 3, k, k), the share of its energy that differs between the colour
    channels: 0 for a black-and-white filter, near 1 for a pure colour contrast."""
    if filters.ndim != 4 or filters.shape[1] != 3:
        raise ValueError(f"filters must have shape (N, 3, k, k); got {tuple(filters.shape)}")
    grey = filters.mean(1, keepdim=True)
    return ((filters - grey) ** 2).sum((1, 2, 3)) / (filters ** 2).sum((1, 2, 3)).clamp_min(1e-12)


# -- the two-tower diagram -----------------------------------------------------------------------
def draw_two_towers(ax=None):
    """Draw the 2012 network split over two GPUs, with the shapes each GPU holds, from
    :class:`~lessons_lib.models.AlexNet2012`'s layers (the lecture's layer numbers on top)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    from ..analysis.architecture import layer_table
    from ..models import AlexNet2012

    table = [L for L in layer_table(AlexNet2012(), AlexNet2012.input_size)
             if L.type in ("Conv2d", "MaxPool2d", "Linear")]
    lecture = ["1", "2", "3", "4", "5", "6", "7", "", "8", "9", "10"]  # the third pooling is not in its table
    convs = {"features.0": "conv\n11×11 /4", "features.4": "conv\n5×5", "features.8": "conv\n3×3",
             "features.10": "conv\n3×3", "features.12": "conv\n3×3"}
    both = {"features.8", "classifier.2", "classifier.5", "classifier.7"}  # read both GPUs' maps
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 5.2))
    dx, ys = 1.0, (2.3, 0.0)
    ax.add_patch(FancyBboxPatch((-0.12, 1.15 - 0.75), 0.24, 1.5, boxstyle="round,pad=0.02", fc="#dbe9f6", ec="#333"))
    ax.text(0, 0.32, "227×227×3", ha="center", va="top", fontsize=8.5)
    ax.text(0, 4.2, "input", ha="center", va="bottom", fontsize=9)
    for i, (L, num) in enumerate(zip(table, lecture), 1):
        x = i * dx
        shape = L.output_shape
        fc = len(shape) == 1
        half = f"{shape[0] // 2:,}" if fc else f"{shape[1]}×{shape[2]}\n×{shape[0] // 2}"
        h = 1.2 if fc else 0.25 + 1.25 * (shape[1] / 227) ** 0.5
        w = 0.2 if fc else 0.14 + 0.3 * (shape[0] / 2 / 192) ** 0.5
        colour = "#fbe3c8" if fc else "#e6e6e6" if L.type == "MaxPool2d" else "#dbe9f6"
        kind = convs.get(L.name) or ("pool\n3×3 /2" if L.type == "MaxPool2d" else "fully\nconn.")
        ax.text(x, 4.2, (f"layer {num}\n" if num else "(not in\nthe table)\n") + kind, ha="center", va="bottom",
                fontsize=9)
        for t, y in enumerate(ys):
            ax.add_patch(FancyBboxPatch((x - w / 2, y + 1.15 - h / 2), w, h, boxstyle="round,pad=0.02", fc=colour,
                                        ec="#333", lw=0.8))
            ax.text(x, y + 1.15 - h / 2 - 0.08, half, ha="center", va="top", fontsize=8.5)
            if i == 1:
                sources = [(None, 0.12, 1.15)]  # the image, which both GPUs hold
            else:
                sources = [(s, (i - 1) * dx + 0.12, ys[s] + 1.15) for s in (0, 1)]
            for s, sx, sy in sources:
                cross = s is not None and s != t
                if cross and L.name not in both:
                    continue
                ax.annotate("", xy=(x - w / 2 - 0.02, y + 1.15), xytext=(sx, sy),
                            arrowprops=dict(arrowstyle="-|>", lw=1.1 if cross else 0.7,
                                            color="#c0392b" if cross else "#333", shrinkA=0, shrinkB=0))
    for t, y in enumerate(ys):
        ax.text(-0.35, y + 1.15, f"GPU {t + 1}", ha="right", va="center", fontsize=9, weight="bold")
    ax.set_xlim(-1.0, len(table) * dx + 0.5)
    ax.set_ylim(-0.6, 5.3)
    ax.axis("off")
    ax.set_title("The 2012 network on two GPUs: the shape each GPU holds after every layer\n"
                 "(red arrows: the layers that read both GPUs)", fontsize=11)
    return ax


# -- full-scale runs -----------------------------------------------------------------------------
MNIST_CLAIMS = [{"metric": "test_accuracy", "value": None,
                 "text": "AlexNet-style network on MNIST at 224x224 (no published figure)",
                 "source": "this chapter"}]
RELU_TANH_CLAIMS = [{"metric": "speedup_10pct", "value": None,
                     "text": "ReLU against tanh in a four-layer CNN on MNIST: tanh's epochs to 10% training error "
                     "over ReLU's (the paper: six times faster to 25% on CIFAR-10)",
                     "source": "krizhevsky2012imagenet, Figure 1"}]
REGULARISATION_CLAIMS = [{"metric": f"test_accuracy_{k}", "value": None,
                          "text": f"AlexNet-style network at 224x224 on 1,000 training images: test accuracy, {k}",
                          "source": "this chapter"} for k in ("neither", "dropout", "shifts", "both")]
REGULARISATION = {"neither": (0.0, 0), "dropout": (0.5, 0), "shifts": (0.0, 2), "both": (0.5, 2)}


def alexnet_mnist(profile, seed, device, checkpoints=None, **overrides):
    P = SETTINGS(profile)
    epochs = overrides.pop("epochs", 3)
    if overrides:
        raise ValueError(f"unknown overrides {sorted(overrides)}; this experiment takes epochs")
    train, test = mnist(P.source)
    trainer = train_alexnet((train, test), P.resolution, **P.net, epochs=epochs, seed=seed, device=device,
                            live_plot=False, verbose=False, checkpoint=checkpoint_path(checkpoints, "alexnet"),
                            settings={"resolution": P.resolution, "seed": seed})
    h = trainer.history
    _, test_loader = loaders(train, test, P.resolution, device=device)
    params = sum(p.numel() for p in trainer.model.parameters())
    return {"metrics": {"test_accuracy": h.last["test_accuracy"], "top5_error": top_k_error(trainer.model, test_loader),
                        "time_per_epoch_s": sum(h.column("time")) / len(h), "params": params},
            "history": list(h), "settings": {"epochs": epochs, "resolution": P.resolution, **RECIPE, **P.net}}


def alexnet_relu_tanh(profile, seed, device, checkpoints=None, **overrides):
    P = SETTINGS(profile)
    steps = overrides.pop("steps", P.relu_steps)
    if overrides:
        raise ValueError(f"unknown overrides {sorted(overrides)}; this experiment takes steps")
    data = mnist(P.source, n_train=P.relu_n_train)
    frac = P.relu_every * RECIPE["batch_size"] / len(data[0])
    out, histories = {}, {}
    for act in ("relu", "tanh"):
        tr = training_error_curve(data, act, P.relu_width, steps, P.relu_every, seed=seed, device=device,
                                  live_plot=False, verbose=False, checkpoint=checkpoint_path(checkpoints, act),
                                  settings={"activation": act, "seed": seed})
        histories[act] = list(tr.history)
        for thr in (0.25, 0.10, 0.05, 0.02):
            out[f"{act}_epochs_to_{round(thr * 100)}pct"] = epochs_to_error(tr.history, thr, frac)
    for thr in (25, 10, 5, 2):
        out[f"speedup_{thr}pct"] = out[f"tanh_epochs_to_{thr}pct"] / out[f"relu_epochs_to_{thr}pct"]
    return {"metrics": out, "history": histories,
            "settings": {"steps": steps, "every": P.relu_every, "width": P.relu_width, "epoch_fraction": frac}}


def alexnet_regularisation(profile, seed, device, checkpoints=None, **overrides):
    P = SETTINGS(profile)
    epochs = overrides.pop("epochs", P.reg_epochs)
    if overrides:
        raise ValueError(f"unknown overrides {sorted(overrides)}; this experiment takes epochs")
    train, test = digits(P)
    data = (train.subset(P.reg_n_train, seed=0), test)
    metrics, histories = {}, {}
    for name, (p_drop, shift) in REGULARISATION.items():
        tr = train_alexnet(data, P.resolution, **P.net, epochs=epochs, dropout=p_drop, shift=shift,
                           batch_size=P.batch_size, lr_drop=min(P.reg_lr_drop, epochs), seed=seed, device=device,
                           live_plot=False, verbose=False, checkpoint=checkpoint_path(checkpoints, name),
                           settings={"config": name, "seed": seed})
        h = tr.history
        histories[name] = list(h)
        metrics[f"test_accuracy_{name}"] = h.last["test_accuracy"]
        metrics[f"train_accuracy_{name}"] = h.last["train_accuracy"]
        metrics[f"test_loss_{name}"] = h.last["test_loss"]
        metrics[f"largest_fall_{name}"] = largest_fall(h.column("test_accuracy"))[0]
    return {"metrics": metrics, "history": histories,
            "settings": {"epochs": epochs, "n_train": P.reg_n_train, "resolution": P.resolution, **P.net}}
