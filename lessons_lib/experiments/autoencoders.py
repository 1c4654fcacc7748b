"""Autoencoders on MNIST: code size against PCA, what a code is not, and regularised overcomplete codes.

Training never reads a label: the loaders are built with ``y=None``, so each batch is
``(x, x)`` (or ``(x + noise, x)`` for denoising). Labels appear only afterwards, to measure what
the codes hold (:func:`linear_probe`, :func:`neighbour_precision`).

Two full-scale runs back the chapter's numbers (60,000 training images, the settings below):

* ``autoencoders_code_size``: PCA, a linear autoencoder trained to the minimum of its loss
  (:func:`fit_linear_autoencoder`) and a nonlinear one (:class:`DeepAutoencoder`) at each code
  size; test mean squared error per pixel, the deep/PCA error ratio, and the principal angles
  between the linear autoencoder's subspace and PCA's. Measured: 7.4 minutes of CPU a seed on one
  thread (4 code sizes x 30 epochs), 22 for 3 seeds.
* ``autoencoders_overcomplete``: a 784-1024-784 autoencoder without regularisation, with an
  L1 sparsity penalty on its code, and trained to denoise; test error, code sparsity, PSNR on
  noisy test digits, and how well each reconstructs inputs unlike digits (noise, letters).
  Measured: 5.4 minutes of CPU a seed on one thread (3 variants x 10 epochs), 16 for 3 seeds.
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

_COMMON = dict(linear_lr=3e-3, deep_lr=3e-3, deep_batch_size=64, hidden_size=256, over_lr=1e-3,
               over_batch_size=64, noise_std=0.5, sparsity=0.1, reference_k=32)
SETTINGS = Profiles(
    smoke=dict(source="sample", n_train=1_000, n_test=1_000, code_sizes=(2, 32), seeds=(0, 1, 2),
               linear_steps=100, deep_epochs=2, over_epochs=1, probe_epochs=2, **_COMMON),
    standard=dict(source="full", n_train=8_000, n_test=None, code_sizes=(2, 8, 32, 64), seeds=(0, 1, 2),
                  linear_steps=1_500, deep_epochs=10, over_epochs=2, probe_epochs=20, **_COMMON),
    full=dict(source="full", n_train=None, n_test=None, code_sizes=(2, 8, 32, 64), seeds=(0, 1, 2),
              linear_steps=1_500, deep_epochs=30, over_epochs=10, probe_epochs=20, **_COMMON),
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


def train_autoencoder(model, train_images, epochs, *, lr=1e-3, batch_size=128, seed=0,
                      device="cpu", noise_std=0.0, sparsity=0.0, **trainer_kwargs):
    """Train ``model`` to reconstruct ``train_images`` with squared error: Adam, with
    the learning rate decayed to zero on a cosine. Returns the trainer (``.model``,
    ``.history``).

    The loader gets ``y=None``: every batch is ``(x, x)`` and no label is read.
    ``noise_std``: a denoising autoencoder (noisy input, clean target);
    ``sparsity``: the L1 penalty of :func:`sparse_mse`.
    """
    _check_images(train_images)
    seed_everything(seed)
    train = DeviceLoader(train_images, None, batch_size, device=device, seed=seed,
                         noise_std=noise_std)              # batches (x + noise, x)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = max(1, epochs * len(train))
    cosine = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step / steps, 1.0))))
    loss = sparse_mse(model, sparsity) if sparsity else F.mse_loss
    trainer_kwargs.setdefault("metric", None)
    trainer = Trainer(model, opt, loss, scheduler=cosine, device=device,
                      **trainer_kwargs)
    trainer.fit(train, None, epochs=epochs)
    return trainer


def _check_images(x) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"train_images must be a float tensor (N, 1, 28, 28) in [0, 1]; got "
                         f"{getattr(x, 'dtype', type(x).__name__)}")


# -- the linear autoencoder, trained to the minimum of its loss ----------------------------------
def exact_linear_loss(W, V, cov):
    """Mean squared error per pixel of x -> mean + W V (x - mean) over a whole
    training set, from its covariance ``cov`` alone: tr((I - WV) cov (I - WV)^T) / D,
    expanded so that no D x D product is formed, whatever the number of images."""
    A = cov @ V.T                                                    # (D, k)
    return (cov.trace() - 2 * (A * W).sum() + (W.T @ W * (V @ A)).sum()) / len(cov)


def captured_fraction(basis: torch.Tensor, pca, n_axes: int) -> torch.Tensor:
    """For each of the first ``n_axes`` principal axes, the fraction of it (squared length of its
    projection) that lies in the column space of ``basis`` (D, k): 1 inside, 0 orthogonal."""
    if not isinstance(basis, torch.Tensor) or basis.ndim != 2 or basis.shape[0] != pca.dim:
        raise ValueError(f"basis must be a (D, k) tensor with D = {pca.dim}; got {getattr(basis, 'shape', type(basis).__name__)}")
    q, _ = torch.linalg.qr(basis.detach().double().cpu())
    return ((pca.components[:n_axes].cpu() @ q) ** 2).sum(1).float()


def fit_linear_autoencoder(train_images: torch.Tensor, code_size: int, steps: int, *, lr: float = 3e-3,
                           seed: int = 0, pca=None, log_every: int = 50):
    """A :class:`LinearAutoencoder` trained by Adam on :func:`exact_linear_loss`: every step uses the
    exact gradient of the training-set error, so it can run until the minimum is reached. The
    learning rate is constant, then decays to zero on a half cosine over the last fifth of the steps.

    Encoder and decoder weights start small (standard deviation 1/28 each, so neither dominates).
    At the end the biases are set to centre the images (encoder bias ``-V mean``, decoder bias
    ``mean``), so the module computes ``mean + W V (x - mean)``. Returns ``(model, history)``,
    a row every ``log_every`` steps: ``step``, ``train_mse`` and, given a fitted ``pca``,
    ``max_angle_deg`` (largest principal angle to PCA's top-k subspace) and ``captured`` (see
    :func:`captured_fraction`, for the first k + 16 axes).
    """
    if not isinstance(train_images, torch.Tensor) or not train_images.is_floating_point() or train_images.ndim < 2:
        raise ValueError(f"train_images must be a float tensor (N, ...); got {getattr(train_images, 'dtype', type(train_images).__name__)}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int; got {steps!r}")
    model = LinearAutoencoder(code_size)
    x = train_images.reshape(len(train_images), -1).double()
    mean = x.mean(0)
    centred = x - mean
    cov = (centred.T @ centred / len(x)).float()
    d, k = cov.shape[0], code_size
    g = torch.Generator().manual_seed(seed)
    W = (torch.randn(d, k, generator=g) / 28).requires_grad_()
    V = (torch.randn(k, d, generator=g) / 28).requires_grad_()
    opt = torch.optim.Adam([W, V], lr=lr)
    decay = 0.8 * steps  # constant, then a half cosine to zero over the last fifth
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 1.0 if s < decay else 0.5 * (1 + math.cos(math.pi * (s - decay) / (steps - decay))))
    history = []
    for step in range(steps + 1):
        loss = exact_linear_loss(W, V, cov)
        if step % log_every == 0 or step == steps:
            row = {"step": step, "train_mse": loss.detach().item()}
            if pca is not None:
                top = pca.components[:k].T.float()
                row["max_angle_deg"] = math.degrees(principal_angles(W.detach(), top).max().item())
                row["captured"] = captured_fraction(W, pca, min(d, k + 16))
            history.append(row)
        if step == steps:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    with torch.no_grad():
        model.encoder[1].weight.copy_(V)
        model.encoder[1].bias.copy_(-(V.double() @ mean).float())
        model.decoder[0].weight.copy_(W)
        model.decoder[0].bias.copy_(mean.float())
    return model, history


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
    """Images decoded from codes ``z`` (N, code size): ``model.decoder`` in eval mode, on the CPU."""
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


def random_codes(codes: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` random codes, each unit drawn independently from a normal distribution with the mean
    and standard deviation of that unit over ``codes`` (N, k): the right scale, no structure."""
    if not isinstance(codes, torch.Tensor) or codes.ndim != 2 or len(codes) < 2:
        raise ValueError(f"codes must be a 2-D tensor (N >= 2, k); got {getattr(codes, 'shape', type(codes).__name__)}")
    g = torch.Generator().manual_seed(seed)
    return codes.mean(0) + codes.std(0) * torch.randn(n, codes.shape[1], generator=g)


def nearest_distance(x: torch.Tensor, reference: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """For each item of ``x``, the mean squared error per pixel to its nearest item of ``reference``."""
    a, b = x.reshape(len(x), -1).float(), reference.reshape(len(reference), -1).float()
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and reference must have the same number of values per item; got {a.shape[1]} and {b.shape[1]}")
    return torch.cat([torch.cdist(a[i:i + batch_size], b).min(1).values.pow(2) / a.shape[1]
                      for i in range(0, len(a), batch_size)])


def neighbour_precision(query: torch.Tensor, query_labels: torch.Tensor, database: torch.Tensor,
                        database_labels: torch.Tensor, n: int = 10) -> float:
    """Retrieval by nearest neighbours: the fraction of the ``n`` items of ``database`` nearest to each
    query (Euclidean distance between rows) that share the query's label, averaged over the queries."""
    for name, t in (("query", query), ("database", database)):
        if not isinstance(t, torch.Tensor) or t.ndim != 2:
            raise ValueError(f"{name} must be a 2-D tensor (N, features); got {getattr(t, 'shape', type(t).__name__)}")
    if not 1 <= n <= len(database):
        raise ValueError(f"n must be between 1 and the {len(database)} database items; got {n!r}")
    nearest = torch.cdist(query.float(), database.float()).topk(n, largest=False).indices
    return float((database_labels[nearest] == query_labels[:, None]).double().mean())


# -- full-scale runs ----------------------------------------------------------------------------
def _quiet():
    return dict(live_plot=False, verbose=False)


def _check_overrides(overrides: dict, allowed: tuple) -> None:
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise ValueError(f"unknown overrides {unknown}; this experiment takes {', '.join(allowed)}")


CODE_SIZE_CLAIMS = [
    {"metric": "linear_max_angle_deg.k64", "value": 2.0, "compare": "at_most",
     "text": "a linear autoencoder trained to the minimum of its squared error spans the principal subspace "
             "(largest principal angle at k=64 at most 2 degrees)", "source": "baldi1989pca"},
    {"metric": "deep_to_pca.k64", "value": 1.0, "compare": "at_most",
     "text": "a nonlinear autoencoder reconstructs test digits better than PCA with as many numbers (k=64)",
     "source": "hinton2006reducing"},
]


def train_deep(code_size: int, x_train: torch.Tensor, P, seed: int, device="cpu", **trainer_kwargs) -> Trainer:
    """The chapter's :class:`DeepAutoencoder` with ``P``'s settings, its output bias at the mean image."""
    seed_everything(seed)
    model = DeepAutoencoder(code_size, P.hidden_size, mean_image=x_train.mean(0))
    return train_autoencoder(model, x_train, P.deep_epochs, lr=P.deep_lr, batch_size=P.deep_batch_size,
                             seed=seed, device=device, **trainer_kwargs)


def _first_step(history, ok) -> float:
    return next((row["step"] for row in history if ok(row)), math.nan)


def run_code_size(profile, seed, device, checkpoints=None, **overrides):
    P = SETTINGS(profile)
    _check_overrides(overrides, ("n_train", "code_sizes", "deep_epochs", "linear_steps"))
    for key, value in overrides.items():
        setattr(P, key, tuple(value) if key == "code_sizes" else value)
    train, test = mnist(P.source, n_train=P.n_train, n_test=P.n_test)
    x_train, x_test = as_images(train), as_images(test)
    pca = fit_pca(x_train)
    names = ("pca_mse", "linear_mse", "linear_max_angle_deg", "linear_steps_to_1pct", "linear_steps_to_2deg",
             "deep_mse", "deep_to_pca")
    metrics, histories = {n: {} for n in names}, {}
    for k in P.code_sizes:
        key = f"k{k}"
        pca_train = pca.reconstruction_mse(x_train, k)
        metrics["pca_mse"][key] = pca.reconstruction_mse(x_test, k)
        lin, hist = fit_linear_autoencoder(x_train, k, P.linear_steps, lr=P.linear_lr, seed=seed, pca=pca)
        metrics["linear_mse"][key] = mse_per_pixel(x_test, reconstruct(lin, x_test))
        metrics["linear_max_angle_deg"][key] = hist[-1]["max_angle_deg"]
        metrics["linear_steps_to_1pct"][key] = _first_step(hist, lambda r: r["train_mse"] <= 1.01 * pca_train)
        metrics["linear_steps_to_2deg"][key] = _first_step(hist, lambda r: r["max_angle_deg"] < 2)
        deep = train_deep(k, x_train, P, seed, device, checkpoint=checkpoint_path(checkpoints, f"deep_k{k}"),
                          settings={"k": k, "epochs": P.deep_epochs, "n_train": len(x_train)}, **_quiet())
        metrics["deep_mse"][key] = mse_per_pixel(x_test, reconstruct(deep.model, x_test))
        metrics["deep_to_pca"][key] = metrics["deep_mse"][key] / metrics["pca_mse"][key]
        histories[f"linear_{key}"] = [{"step": r["step"], "train_mse": r["train_mse"], "max_angle_deg": r["max_angle_deg"]}
                                      for r in hist]
        histories[f"deep_{key}"] = list(deep.history)
    return {"metrics": metrics, "history": histories,
            "settings": {"code_sizes": P.code_sizes, "linear_steps": P.linear_steps, "deep_epochs": P.deep_epochs,
                         "n_train": len(x_train), "deep_batch_size": P.deep_batch_size, "deep_lr": P.deep_lr,
                         "hidden_size": P.hidden_size}}


OVERCOMPLETE_VARIANTS = ("plain", "sparse", "denoising")


def overcomplete_measurements(model, x_test: torch.Tensor, noise_std: float, seed: int = 0) -> dict:
    """Test MSE, code sparsity, denoising PSNR, and relative error on digits, noise and letters."""
    noisy = add_noise(x_test, noise_std, seed=seed + 1234)
    codes = encode(model, x_test)
    x_hat = decode(model, codes)
    noise, letters = box_noise(min(len(x_test), 1000), seed=seed), draw_letters()
    return {
        "test_mse": mse_per_pixel(x_test, x_hat),
        "active_fraction": active_fraction(codes),
        "psnr_noisy_input": psnr(x_test, noisy),
        "psnr_denoised": psnr(x_test, reconstruct(model, noisy)),
        "relative_error_digits": relative_error(x_test, x_hat),
        "relative_error_noise": relative_error(noise, reconstruct(model, noise)),
        "relative_error_letters": relative_error(letters, reconstruct(model, letters)),
    }


def train_overcomplete(variant: str, x_train: torch.Tensor, P, seed: int = 0, device="cpu",
                       hidden_size: int = 1024, **trainer_kwargs) -> Trainer:
    """One of the three overcomplete autoencoders with ``P``'s settings: ``plain``, ``sparse`` (L1 on
    the code) or ``denoising`` (Gaussian noise on the input, clean target)."""
    if variant not in OVERCOMPLETE_VARIANTS:
        raise ValueError(f"variant must be one of {OVERCOMPLETE_VARIANTS}; got {variant!r}")
    seed_everything(seed)
    return train_autoencoder(
        OvercompleteAutoencoder(hidden_size), x_train, P.over_epochs, lr=P.over_lr, batch_size=P.over_batch_size,
        seed=seed, device=device, noise_std=P.noise_std if variant == "denoising" else 0.0,
        sparsity=P.sparsity if variant == "sparse" else 0.0, **trainer_kwargs)


def run_overcomplete(profile, seed, device, checkpoints=None, **overrides):
    P = SETTINGS(profile)
    _check_overrides(overrides, ("over_epochs", "n_train"))
    for key, value in overrides.items():
        setattr(P, key, value)
    train, test = mnist(P.source, n_train=P.n_train, n_test=P.n_test)
    x_train, x_test = as_images(train), as_images(test)
    metrics, histories = {}, {}
    for variant in OVERCOMPLETE_VARIANTS:
        t = train_overcomplete(variant, x_train, P, seed, device, checkpoint=checkpoint_path(checkpoints, variant),
                               settings={"variant": variant, "epochs": P.over_epochs, "n_train": len(x_train)},
                               **_quiet())
        metrics[variant] = overcomplete_measurements(t.model, x_test, P.noise_std, seed)
        histories[variant] = list(t.history)
    return {"metrics": metrics, "history": histories,
            "settings": {"epochs": P.over_epochs, "hidden_size": 1024, "noise_std": P.noise_std, "sparsity": P.sparsity,
                         "n_train": len(x_train), "batch_size": P.over_batch_size, "lr": P.over_lr}}
