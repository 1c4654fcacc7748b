"""Autoencoders on MNIST: code size against PCA, and regularised overcomplete codes.

Training never reads a label: the loaders are built with ``y=None``, so each batch is
``(x, x)`` (or ``(x + noise, x)`` for denoising). Labels appear only in :func:`linear_probe`,
which measures afterwards what the codes hold.

Two registered runs back the chapter's headline numbers:

* ``autoencoders_code_size``: PCA, a linear autoencoder and a deep autoencoder at each code
  size; test mean squared error per pixel, and the principal angles between each linear
  autoencoder's decoder subspace and PCA's. Estimated full-profile time on one H100: about
  55 s for one seed (10 models, 350 epochs of 235 steps in all at ~0.6 ms a step: Adam and a
  per-step schedule, no CUDA graph). Not yet timed on a GPU.
* ``autoencoders_overcomplete``: a 784-1024-784 autoencoder without regularisation, with an
  L1 sparsity penalty on its code, and trained to denoise; test error, code sparsity, PSNR on
  noisy test digits, and how well each reconstructs inputs unlike digits (noise, letters).
  Estimated about 10 s for one seed on one H100 (60 epochs of 235 steps). Not yet timed on a GPU.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..analysis.pca import fit_pca, principal_angles
from ..config import Profiles
from ..data import DeviceLoader, mnist
from ..device import seed_everything
from ..models.autoencoders import DeepAutoencoder, LinearAutoencoder, OvercompleteAutoencoder
from ..training import Trainer
from . import checkpoint_path


SETTINGS = Profiles(
        smoke=dict(source="sample", n_train=1000, code_sizes=(2, 16), linear_epochs=2, deep_epochs=1,
                   over_epochs=1, batch_size=128, noise_std=0.5, sparsity=0.1),
        standard=dict(source="full", n_train=8_000, code_sizes=(2, 8, 16, 32, 64), linear_epochs=40,
                      deep_epochs=5, over_epochs=4, batch_size=128, noise_std=0.5, sparsity=0.1),
        full=dict(source="full", n_train=None, code_sizes=(2, 8, 16, 32, 64), linear_epochs=40,
                  deep_epochs=30, over_epochs=20, batch_size=256, noise_std=0.5, sparsity=0.1),
)


# -- data ---------------------------------------------------------------------------------------
def as_images(split_or_tensor) -> torch.Tensor:
    """uint8 images (a ``Split`` or a tensor (N, 28, 28)) as floats (N, 1, 28, 28) in [0, 1]."""
    x = getattr(split_or_tensor, "images", split_or_tensor)
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.ndim != 3:
        raise ValueError(f"expected a Split or uint8 images (N, H, W); got "
                         f"{getattr(x, 'dtype', type(x).__name__)} {tuple(getattr(x, 'shape', ()))}")
    return x.float().div(255).unsqueeze(1)


def add_noise(x: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    """``x`` plus Gaussian noise of standard deviation ``std`` (no clipping, as in training)."""
    if std < 0:
        raise ValueError(f"std must be non-negative; got {std!r}")
    g = torch.Generator().manual_seed(seed)
    return x + std * torch.randn(x.shape, generator=g).to(x.device)


# Letters as strokes in a unit box (x to the right, y down): inputs a digit autoencoder never saw.
LETTER_STROKES = {
    "A": [[(0, 1), (0.5, 0), (1, 1)], [(0.25, 0.55), (0.75, 0.55)]],
    "E": [[(1, 0), (0, 0), (0, 1), (1, 1)], [(0, 0.5), (0.7, 0.5)]],
    "H": [[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, 0.5), (1, 0.5)]],
    "K": [[(0, 0), (0, 1)], [(1, 0), (0, 0.6)], [(0.35, 0.4), (1, 1)]],
    "L": [[(0, 0), (0, 1), (1, 1)]],
    "M": [[(0, 1), (0, 0), (0.5, 0.6), (1, 0), (1, 1)]],
    "N": [[(0, 1), (0, 0), (1, 1), (1, 0)]],
    "T": [[(0, 0), (1, 0)], [(0.5, 0), (0.5, 1)]],
    "V": [[(0, 0), (0.5, 1), (1, 0)]],
    "W": [[(0, 0), (0.25, 1), (0.5, 0.4), (0.75, 1), (1, 0)]],
    "X": [[(0, 0), (1, 1)], [(1, 0), (0, 1)]],
    "Y": [[(0, 0), (0.5, 0.5), (1, 0)], [(0.5, 0.5), (0.5, 1)]],
    "Z": [[(0, 0), (1, 0), (0, 1), (1, 1)]],
}


def draw_letters(text: str = "AEHKLMNTVWXYZ", width: float = 2.2) -> torch.Tensor:
    """Capital letters drawn as anti-aliased strokes, MNIST-like: (N, 1, 28, 28) in [0, 1].

    Each letter fills a 14x20-pixel box in the middle of the image, as MNIST's digits fill
    a 20x20 box; ``width`` is the stroke width in pixels.
    """
    unknown = sorted(set(text) - set(LETTER_STROKES))
    if not text or unknown:
        raise ValueError(f"text must be made of the letters {''.join(LETTER_STROKES)}; got {text!r}")
    yy, xx = torch.meshgrid(torch.arange(28.0) + 0.5, torch.arange(28.0) + 0.5, indexing="ij")
    p = torch.stack([xx, yy], -1)  # pixel centres (28, 28, 2)
    out = []
    for ch in text:
        dist = torch.full((28, 28), float("inf"))
        for stroke in LETTER_STROKES[ch]:
            pts = [torch.tensor([7 + 14 * u, 4 + 20 * v], dtype=torch.float32) for u, v in stroke]
            for a, b in zip(pts[:-1], pts[1:]):
                t = ((p - a) @ (b - a) / (b - a).dot(b - a)).clamp(0, 1)
                dist = torch.minimum(dist, (p - (a + t[..., None] * (b - a))).norm(dim=-1))
        out.append((width / 2 + 0.5 - dist).clamp(0, 1))
    return torch.stack(out)[:, None]


def box_noise(n: int, seed: int = 0, box: int = 20) -> torch.Tensor:
    """Uniform noise in [0, 1] inside the central ``box`` x ``box`` pixels (where digits lie), 0 outside."""
    if not 1 <= box <= 28:
        raise ValueError(f"box must be in [1, 28] pixels; got {box!r}")
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, 28, 28)
    lo = (28 - box) // 2
    x[:, :, lo:lo + box, lo:lo + box] = torch.rand(n, 1, box, box, generator=g)
    return x


# -- training -----------------------------------------------------------------------------------
def sparse_mse(model, weight: float):
    """Squared error plus ``weight`` times the mean absolute code activation (an L1 sparsity penalty).

    The trainer calls ``loss_fn(output, target)``; the code is read from ``model.code``, which
    :class:`~lessons_lib.models.autoencoders.OvercompleteAutoencoder` keeps from its forward pass.
    """
    if weight < 0:
        raise ValueError(f"weight must be non-negative; got {weight!r}")

    def loss(output, target):
        return F.mse_loss(output, target) + weight * model.code.abs().mean()
    return loss


def train_autoencoder(model, train_images: torch.Tensor, epochs: int, *, test_images: torch.Tensor | None = None,
                      lr: float = 1e-3, batch_size: int = 128, seed: int = 0, device="cpu",
                      noise_std: float = 0.0, sparsity: float = 0.0, **trainer_kwargs) -> Trainer:
    """Train ``model`` to reconstruct ``train_images`` (N, 1, 28, 28) in [0, 1]: Adam, squared error,
    learning rate decayed to zero on a cosine over the run. No labels: the loader gets ``y=None``.

    ``noise_std`` trains a denoising autoencoder (noisy input, clean target); ``sparsity`` adds
    the L1 penalty of :func:`sparse_mse`. Returns the trainer (model and history inside).
    """
    if not isinstance(train_images, torch.Tensor) or not train_images.is_floating_point():
        raise ValueError(f"train_images must be a float tensor (N, 1, 28, 28) in [0, 1]; got {type(train_images).__name__}")
    device = torch.device(device)
    seed_everything(seed)
    train = DeviceLoader(train_images, None, batch_size, shuffle=True, device=device, seed=seed,  # y=None: no labels
                         noise_std=noise_std)
    test = (DeviceLoader(test_images, None, 1000, shuffle=False, device=device)
            if test_images is not None else None)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = max(1, epochs * len(train))
    cosine = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0))))
    loss = sparse_mse(model, sparsity) if sparsity else F.mse_loss
    trainer_kwargs.setdefault("metric", None)
    trainer = Trainer(model.to(device), opt, loss, scheduler=cosine, device=device, **trainer_kwargs)
    trainer.fit(train, test, epochs=epochs)
    return trainer


# -- measurements -------------------------------------------------------------------------------
@torch.no_grad()
def _batched(fn, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    return torch.cat([fn(x[i:i + batch_size]).cpu() for i in range(0, len(x), batch_size)])


def _on(model, x):
    return x.to(next(model.parameters()).device)


@torch.no_grad()
def reconstruct(model, x: torch.Tensor) -> torch.Tensor:
    """The model's reconstructions of ``x`` (N, 1, 28, 28), in eval mode, on the CPU."""
    model.eval()
    return _batched(lambda b: model(_on(model, b)), x)


@torch.no_grad()
def encode(model, x: torch.Tensor) -> torch.Tensor:
    """The codes of ``x``: ``model.encoder`` applied in eval mode, (N, code size), on the CPU."""
    model.eval()
    return _batched(lambda b: model.encoder(_on(model, b)), x)


@torch.no_grad()
def decode(model, z: torch.Tensor) -> torch.Tensor:
    model.eval()
    return _batched(lambda b: model.decoder(_on(model, b)), z)


def mse_per_pixel(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """Mean squared error per pixel between two image tensors of the same shape."""
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat must have the same shape; got {tuple(x.shape)} and {tuple(x_hat.shape)}")
    return float(((x.double() - x_hat.double().to(x.device)) ** 2).mean())


def relative_error(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """Sum of squared errors over sum of squared inputs (0: perfect; 1: as bad as outputting zeros)."""
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat must have the same shape; got {tuple(x.shape)} and {tuple(x_hat.shape)}")
    x, x_hat = x.double(), x_hat.double().to(x.device)
    return float(((x - x_hat) ** 2).sum() / (x ** 2).sum())


def psnr(clean: torch.Tensor, estimate: torch.Tensor, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(peak^2 / MSE)``, with the MSE over the whole set."""
    return 10 * math.log10(peak ** 2 / max(mse_per_pixel(clean, estimate.clamp(0, peak)), 1e-20))


def active_fraction(codes: torch.Tensor, threshold: float = 0.0) -> float:
    """Fraction of code entries above ``threshold`` (for ReLU codes: the units that fire)."""
    return float((codes > threshold).double().mean())


def decoder_basis(model: LinearAutoencoder) -> torch.Tensor:
    """The linear decoder's weight matrix (784, k): its columns span the reconstructions' subspace."""
    if not isinstance(model, LinearAutoencoder):
        raise ValueError(f"model must be a LinearAutoencoder; got {type(model).__name__}")
    return model.decoder[0].weight.detach().cpu()


def linear_probe(train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor,
                 test_labels: torch.Tensor, epochs: int = 20, lr: float = 1e-2, batch_size: int = 256,
                 seed: int = 0, device="cpu") -> float:
    """Test accuracy of a linear classifier (softmax regression) on fixed features.

    Features are standardised with the training set's mean and std; the budget (optimiser,
    learning rate, batch size, epochs) is the same for every feature set. The only place
    in the chapter where labels are used.
    """
    for name, t in (("train_features", train_features), ("test_features", test_features)):
        if not isinstance(t, torch.Tensor) or t.ndim != 2:
            raise ValueError(f"{name} must be a 2-D tensor (N, features); got {getattr(t, 'shape', type(t).__name__)}")
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(f"train and test features must have the same width; got {train_features.shape[1]} "
                         f"and {test_features.shape[1]}")
    mean, std = train_features.mean(0), train_features.std(0).clamp_min(1e-6)
    f_train, f_test = (train_features - mean) / std, (test_features - mean) / std
    seed_everything(seed)
    model = torch.nn.Linear(f_train.shape[1], 10)
    train = DeviceLoader(f_train.float(), train_labels, batch_size, shuffle=True, device=device, seed=seed)
    test = DeviceLoader(f_test.float(), test_labels, 2000, shuffle=False, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    trainer = Trainer(model, opt, F.cross_entropy, metric="accuracy", device=device, verbose=False,
                      live_plot=False)
    trainer.fit(train, None, epochs)
    return trainer.evaluate(test)["accuracy"]


def subspace_angles_deg(model: LinearAutoencoder, pca) -> torch.Tensor:
    """Principal angles (degrees, ascending) between the decoder's column space and PCA's top-k."""
    w = decoder_basis(model)
    return principal_angles(w, pca.components[: w.shape[1]].T.float()) * (180 / math.pi)


# -- registered runs ----------------------------------------------------------------------------
def _quiet():
    return dict(live_plot=False, verbose=False)


def _check_overrides(overrides: dict, allowed: tuple) -> None:
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise ValueError(f"unknown overrides {unknown}; this experiment takes {', '.join(allowed)}")


CODE_SIZE_CLAIMS = [{"metric": "linear_max_angle_deg.k16", "value": 2.0, "compare": "at_most",
                     "text": "a linear autoencoder trained with squared error learns the principal subspace "
                             "(largest principal angle at k=16 at most 2 degrees, the chapter's tolerance)",
                     "source": "baldi1989pca"}]


def run_code_size(profile, seed, device, checkpoints=None, **overrides):
    P = SETTINGS(profile)
    _check_overrides(overrides, ("linear_epochs", "deep_epochs", "n_train", "code_sizes"))
    linear_epochs = overrides.get("linear_epochs", P.linear_epochs)
    deep_epochs = overrides.get("deep_epochs", P.deep_epochs)
    code_sizes = tuple(overrides.get("code_sizes", P.code_sizes))
    train, test = mnist(P.source, n_train=overrides.get("n_train", P.n_train))
    x_train, x_test = as_images(train), as_images(test)
    pca = fit_pca(x_train)
    metrics = {"pca_mse": {}, "linear_mse": {}, "deep_mse": {}, "linear_max_angle_deg": {},
               "linear_median_angle_deg": {}}
    histories = {}
    for k in code_sizes:
        metrics["pca_mse"][f"k{k}"] = pca.reconstruction_mse(x_test, k)
        lin = train_autoencoder(LinearAutoencoder(k), x_train, linear_epochs, lr=1e-2, batch_size=P.batch_size,
                                seed=seed, device=device, checkpoint=checkpoint_path(checkpoints, f"linear_k{k}"),
                                **_quiet())
        metrics["linear_mse"][f"k{k}"] = mse_per_pixel(x_test, reconstruct(lin.model, x_test))
        angles = subspace_angles_deg(lin.model, pca)
        metrics["linear_max_angle_deg"][f"k{k}"] = float(angles.max())
        metrics["linear_median_angle_deg"][f"k{k}"] = float(angles.median())
        deep = train_autoencoder(DeepAutoencoder(k), x_train, deep_epochs, lr=2e-3, batch_size=P.batch_size,
                                 seed=seed, device=device, checkpoint=checkpoint_path(checkpoints, f"deep_k{k}"),
                                 **_quiet())
        metrics["deep_mse"][f"k{k}"] = mse_per_pixel(x_test, reconstruct(deep.model, x_test))
        histories[f"linear_k{k}"], histories[f"deep_k{k}"] = list(lin.history), list(deep.history)
    return {"metrics": metrics, "history": histories,
            "settings": {"code_sizes": code_sizes, "linear_epochs": linear_epochs, "deep_epochs": deep_epochs,
                         "n_train": len(train), "batch_size": P.batch_size}}


OVERCOMPLETE_VARIANTS = ("plain", "sparse", "denoising")


def overcomplete_measurements(model, x_test: torch.Tensor, noise_std: float, seed: int = 0) -> dict:
    """Test MSE, code sparsity, denoising PSNR, and relative error on digits, noise and letters."""
    noisy = add_noise(x_test, noise_std, seed=seed + 1234)
    codes = encode(model, x_test)
    noise, letters = box_noise(len(x_test) if len(x_test) < 1000 else 1000, seed=seed), draw_letters()
    return {
        "test_mse": mse_per_pixel(x_test, reconstruct(model, x_test)),
        "active_fraction": active_fraction(codes),
        "mean_code": float(codes.mean()),
        "psnr_noisy_input": psnr(x_test, noisy),
        "psnr_denoised": psnr(x_test, reconstruct(model, noisy)),
        "relative_error_digits": relative_error(x_test, reconstruct(model, x_test)),
        "relative_error_noise": relative_error(noise, reconstruct(model, noise)),
        "relative_error_letters": relative_error(letters, reconstruct(model, letters)),
    }


def train_overcomplete(variant: str, x_train: torch.Tensor, epochs: int, *, hidden_size: int = 1024,
                       noise_std: float = 0.5, sparsity: float = 0.1, batch_size: int = 128, seed: int = 0,
                       device="cpu", **trainer_kwargs) -> Trainer:
    """One of the three overcomplete autoencoders: ``plain``, ``sparse`` (L1 on the code) or ``denoising``."""
    if variant not in OVERCOMPLETE_VARIANTS:
        raise ValueError(f"variant must be one of {OVERCOMPLETE_VARIANTS}; got {variant!r}")
    return train_autoencoder(
        OvercompleteAutoencoder(hidden_size), x_train, epochs, lr=1e-3, batch_size=batch_size, seed=seed,
        device=device, noise_std=noise_std if variant == "denoising" else 0.0,
        sparsity=sparsity if variant == "sparse" else 0.0, **trainer_kwargs)


def run_overcomplete(profile, seed, device, checkpoints=None, **overrides):
    P = SETTINGS(profile)
    _check_overrides(overrides, ("over_epochs", "n_train"))
    epochs = overrides.get("over_epochs", P.over_epochs)
    train, test = mnist(P.source, n_train=overrides.get("n_train", P.n_train))
    x_train, x_test = as_images(train), as_images(test)
    metrics, histories = {}, {}
    for variant in OVERCOMPLETE_VARIANTS:
        t = train_overcomplete(variant, x_train, epochs, noise_std=P.noise_std, sparsity=P.sparsity,
                               batch_size=P.batch_size, seed=seed, device=device,
                               checkpoint=checkpoint_path(checkpoints, variant), **_quiet())
        metrics[variant] = overcomplete_measurements(t.model, x_test, P.noise_std, seed)
        histories[variant] = list(t.history)
    return {"metrics": metrics, "history": histories,
            "settings": {"epochs": epochs, "hidden_size": 1024, "noise_std": P.noise_std, "sparsity": P.sparsity,
                         "n_train": len(train), "batch_size": P.batch_size}}
