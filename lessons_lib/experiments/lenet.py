"""LeNet on MNIST with Caffe's recipe: the chapter's settings, training function and full-scale runs.

Caffe's ``examples/mnist``: the network of ``lenet_train_test.prototxt`` (the lecture's table),
inputs scaled by 1/256 (0.00390625) with no mean subtraction, and ``lenet_solver.prototxt``:
SGD, base_lr 0.01, momentum 0.9, weight_decay 0.0005, lr_policy "inv" (gamma 1e-4, power 0.75),
batch 64. The prototxt also initialises every weight with Caffe's "xavier" filler and every bias
with zero, and gives biases twice the learning rate (``lr_mult: 2``); the ``caffe_xavier``
variant does that too, the others keep PyTorch's default initialisation.

Full scale (the lecture's claim): 75 epochs, 3 seeds, 937 updates an epoch (70,275 in all).
About 16 s an epoch on 2 CPU cores (20 minutes a seed); 27 s for all 75 epochs on one H200 with
the CUDA-graph trainer. ``lenet_mlp`` trains the chapter's fully connected comparison (784-500-10)
the same way: about 3 s of CPU time an epoch, 4 minutes a seed.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..config import Profiles
from ..data import DeviceLoader, mnist
from ..device import seed_everything
from ..models import LeNet
from ..models.lenet import mlp
from ..training import SGD, FastTrainer, Trainer, caffe_inv
from . import checkpoint_path

# The chapter's settings. ``source``: the full MNIST or the 3,000-image sample shipped with the
# package; ``seeds``: the seeds of every comparison on the page; ``init_steps``: steps of the first-
# steps comparison of initialisations; ``small_n``, ``lenet_epochs``, ``mlp_epochs``: the training
# images and epochs of the LeNet-against-MLP comparison (long enough for both to stop improving);
# ``epochs``: the length of the full-scale runs of ``python -m lessons_lib.reproduce``.
SETTINGS = Profiles(
    smoke=dict(source="sample", seeds=(0, 1, 2), init_steps=20, small_n=300, lenet_epochs=3, mlp_epochs=6,
               epochs=1),
    standard=dict(source="full", seeds=(0, 1, 2), init_steps=150, small_n=1000, lenet_epochs=60, mlp_epochs=150,
                  epochs=5),
    full=dict(source="full", seeds=(0, 1, 2), init_steps=150, small_n=1000, lenet_epochs=60, mlp_epochs=150,
              epochs=75),
)

RECIPE = dict(lr=0.01, momentum=0.9, weight_decay=5e-4, gamma=1e-4, power=0.75, batch_size=64, scale=1 / 256)

# What each variant changes; "caffe" is Caffe's network and solver with PyTorch's initialisation.
VARIANTS = {
    "caffe": dict(conv_relu=False, dropout=0.0, shift=0, caffe_init=False),
    "caffe_xavier": dict(conv_relu=False, dropout=0.0, shift=0, caffe_init=True),
    "conv_relu": dict(conv_relu=True, dropout=0.0, shift=0, caffe_init=False),
    "conv_relu_dropout": dict(conv_relu=True, dropout=0.5, shift=0, caffe_init=False),
    "conv_relu_dropout_shift": dict(conv_relu=True, dropout=0.5, shift=2, caffe_init=False),
}


def check_variant(variant: str) -> dict:
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}")
    return VARIANTS[variant]


@torch.no_grad()
def caffe_xavier_(model: nn.Module) -> nn.Module:
    """Caffe's weight_filler { type: "xavier" } and bias_filler { type: "constant" }.

    Each weight is drawn uniformly from [-a, a] with a = sqrt(3 / fan_in), where
    fan_in is the number of inputs of one unit (in_channels x kernel area for a
    convolution): the variance is 1 / fan_in. (Glorot and Bengio's own proposal
    averages fan-in and fan-out.) Every bias starts at 0. Changes ``model`` in place
    and returns it.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            a = math.sqrt(3 / fan_in)
            m.weight.uniform_(-a, a)
            m.bias.zero_()
    return model


def caffe_sgd(model: nn.Module, bias_lr_mult: float = 1.0) -> SGD:
    """Caffe's solver: SGD with momentum, weight decay and the "inv" schedule, computed on the device.

    ``bias_lr_mult=2`` gives biases twice the learning rate, as ``lr_mult: 2`` in the prototxt.
    One difference remains: Caffe keeps the learning rate inside its momentum buffer
    (``V = m V + lr g; w -= V``), PyTorch outside (``V = m V + g; w -= lr V``). That multiplies the
    momentum term by lr(t) / lr(t-1): exactly 1 for a constant rate, above 0.99992 under "inv".
    """
    r = RECIPE
    weights = [p for n, p in model.named_parameters() if not n.endswith("bias")]
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    groups = [{"params": weights}, {"params": biases, "lr": r["lr"] * bias_lr_mult}]
    return SGD(groups, lr=r["lr"], momentum=r["momentum"], weight_decay=r["weight_decay"],
               lr_lambda=caffe_inv(r["gamma"], r["power"]))


def lenet_loaders(train, test, device, seed: int = 0, shift: int = 0):
    """MNIST as Caffe feeds it: pixels times 1/256, batches of 64, shuffled by ``seed``.

    The training loader drops the last partial batch (60,000 = 937 x 64 + 32), so every batch
    has one shape; Caffe's data layer instead wraps around to the start of the data.
    """
    train_loader = DeviceLoader(train.images, train.labels, RECIPE["batch_size"], shuffle=True, drop_last=True,
                                device=device, seed=seed, scale=RECIPE["scale"], shift=shift)
    test_loader = DeviceLoader(test.images, test.labels, 1000, shuffle=False, device=device, scale=RECIPE["scale"])
    return train_loader, test_loader


def train_lenet(variant: str = "caffe", epochs: int = 1, seed: int = 0, device="cpu", data=None,
                pool: str | None = "max", fast: bool | None = None, **trainer_kwargs) -> FastTrainer:
    """Train a LeNet variant with Caffe's solver; return the trainer (model and history inside).

    ``data`` is ``(train, test)`` (MNIST by default). ``fast`` (default: on a GPU) captures each
    training step in a CUDA graph. ``pool`` ("max", "avg" or None) is the chapter's exercise.
    """
    v = check_variant(variant)
    seed_everything(seed)
    model = LeNet(conv_relu=v["conv_relu"], dropout=v["dropout"], pool=pool)
    if v["caffe_init"]:
        caffe_xavier_(model)
    return _fit_caffe(model, epochs, seed, device, data, bias_lr_mult=2.0 if v["caffe_init"] else 1.0,
                      shift=v["shift"], fast=fast, settings={"variant": variant, "seed": seed, "pool": pool},
                      **trainer_kwargs)


def train_mlp(epochs: int = 1, seed: int = 0, device="cpu", data=None, fast: bool | None = None,
              **trainer_kwargs) -> FastTrainer:
    """Train :func:`~lessons_lib.models.lenet.mlp` (784-500-10, PyTorch's initialisation) exactly as
    :func:`train_lenet` trains the ``caffe`` variant: the same solver, batches and epochs."""
    seed_everything(seed)
    return _fit_caffe(mlp(), epochs, seed, device, data, fast=fast, settings={"model": "mlp", "seed": seed},
                      **trainer_kwargs)


def _fit_caffe(model, epochs, seed, device, data, bias_lr_mult=1.0, shift=0, fast=None, **trainer_kwargs):
    device = torch.device(device)
    fast = device.type == "cuda" if fast is None else fast
    train, test = data if data is not None else mnist()
    # On the device before the optimiser is built: SGD keeps its step counter beside the parameters.
    model = model.to(device)
    train_loader, test_loader = lenet_loaders(train, test, device, seed, shift)
    trainer = FastTrainer(model, caffe_sgd(model, bias_lr_mult), device=device, cuda_graph=fast, **trainer_kwargs)
    trainer.fit(train_loader, test_loader, epochs=epochs)
    return trainer


def train_to_convergence(make_model, data, epochs: int, seed: int = 0, device="cpu") -> dict:
    """Train ``make_model()`` with Caffe's solver (and PyTorch's initialisation) on ``data``, a pair
    ``(train, test)`` of splits, for ``epochs`` epochs, to compare networks once both have stopped
    improving.

    Returns ``{"two_thirds": acc, "end": acc, "history": ...}``: the test accuracy after two thirds
    of the epochs and at the end (when the two differ by less than the spread over seeds, the run
    had converged), and the per-epoch training loss and accuracy.
    """
    if isinstance(make_model, nn.Module) or not callable(make_model):
        raise ValueError(f"make_model must be a function that returns a new network; got {type(make_model).__name__}")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 3:
        raise ValueError(f"epochs must be an int of at least 3 (two thirds of them are checked); got {epochs!r}")
    train, test = data
    seed_everything(seed)
    model = make_model().to(device)
    train_loader, test_loader = lenet_loaders(train, test, device, seed)
    trainer = Trainer(model, caffe_sgd(model), device=device, verbose=False, live_plot=False)
    trainer.fit(train_loader, epochs=round(2 * epochs / 3))
    two_thirds = trainer.evaluate(test_loader)["accuracy"]
    trainer.fit(train_loader, epochs=epochs)
    return {"two_thirds": two_thirds, "end": trainer.evaluate(test_loader)["accuracy"], "history": trainer.history}


def run_variant(variant: str):
    """The full-scale experiment of one variant: ``run(profile, seed, device, checkpoints, epochs=)``."""
    check_variant(variant)

    def run(profile, seed, device, checkpoints=None, **overrides):
        P = SETTINGS(profile)
        epochs = overrides.pop("epochs", P.epochs)
        if overrides:
            raise ValueError(f"unknown overrides {sorted(overrides)}; this experiment takes epochs")
        trainer = train_lenet(variant, epochs, seed, device, mnist(P.source), verbose=False, live_plot=False,
                              checkpoint=checkpoint_path(checkpoints, "lenet"))
        h = trainer.history
        return {"metrics": {"test_accuracy": h.last["test_accuracy"], "test_error": 1 - h.last["test_accuracy"],
                            "train_time_s": sum(h.column("time"))},
                "history": list(h), "settings": {"epochs": epochs, "variant": variant, **RECIPE, **VARIANTS[variant]}}

    run.__name__ = f"run_{variant}"
    return run


def run_mlp(profile, seed, device, checkpoints=None, **overrides):
    """The full-scale run of the MLP beside LeNet (``lenet_mlp``): the ``caffe`` variant's recipe."""
    P = SETTINGS(profile)
    epochs = overrides.pop("epochs", P.epochs)
    if overrides:
        raise ValueError(f"unknown overrides {sorted(overrides)}; this experiment takes epochs")
    trainer = train_mlp(epochs, seed, device, mnist(P.source), verbose=False, live_plot=False,
                        checkpoint=checkpoint_path(checkpoints, "mlp"))
    h = trainer.history
    return {"metrics": {"test_accuracy": h.last["test_accuracy"], "test_error": 1 - h.last["test_accuracy"],
                        "train_time_s": sum(h.column("time"))},
            "history": list(h), "settings": {"epochs": epochs, "model": "mlp 784-500-10", **RECIPE}}


# One 10,000-image test set has a binomial standard error of about 0.078 points at 99.3%: the
# lecture's single figure is compared within two of them.
LECTURE_CLAIM = {"metric": "test_accuracy", "value": 0.9938, "tolerance": 0.0016,
                 "text": "99.38% after 75 epochs at lr 0.01 (within two binomial standard errors, 0.16 points)",
                 "source": "the lecture (cnn_examples.md)"}
CAFFE_TUTORIAL_CLAIM = {"metric": "test_accuracy", "value": 0.9897, "compare": "at_least",
                        "text": "0.9897 after 10,000 iterations (10.7 epochs); 75 epochs should do at least as well",
                        "source": "Caffe MNIST tutorial, jia2014caffe"}
DESCRIPTIONS = {
    "caffe": "LeNet (the lecture's table), Caffe's solver, PyTorch's initialisation, 75 epochs",
    "caffe_xavier": "LeNet, Caffe's recipe in full (solver, Xavier filler, bias lr x2), 75 epochs",
    "conv_relu": "LeNet + ReLU after both convolutions, Caffe's solver, 75 epochs",
    "conv_relu_dropout": "LeNet + conv ReLUs + dropout 0.5 before the last layer, Caffe's solver, 75 epochs",
    "conv_relu_dropout_shift": "LeNet + conv ReLUs + dropout 0.5 + random shifts of up to 2 pixels, 75 epochs",
    "mlp": "MLP 784-500-10 (about LeNet's parameter count), the caffe variant's recipe, 75 epochs",
}
