"""Principal component analysis in torch, and the angles between subspaces.

The autoencoders chapter compares what a network learns with PCA fitted on the same data:
reconstruction error at the same number of components, and the principal angles between the
subspace a linear autoencoder's decoder spans and the top-k principal subspace
(Baldi and Hornik, 1989: a linear autoencoder trained with squared error learns that subspace,
not necessarily its axes).

    pca = fit_pca(x_train)               # x: (N, ...) float; each item is flattened
    pca.reconstruction_mse(x_test, k=32)  # mean squared error per pixel
    principal_angles(W, pca.components[:32].T)   # radians, ascending
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


def _as_matrix(x, name: str) -> torch.Tensor:
    """``x`` (N, ...) as a float64 matrix (N, D): one flattened item per row."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"{name} must have shape (N, ...) with N >= 1 items of at least one value each; "
                         f"got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor (scale integer images first); got dtype {x.dtype}")
    return x.reshape(len(x), -1).double()


@dataclass
class PCA:
    """A fitted PCA: ``mean`` (D,), ``components`` (K, D) with orthonormal rows sorted by
    decreasing ``explained_variance`` (K,), and the data's ``total_variance``."""

    mean: torch.Tensor
    components: torch.Tensor
    explained_variance: torch.Tensor
    total_variance: float

    @property
    def dim(self) -> int:
        return self.mean.numel()

    def _k(self, k) -> int:
        kmax = len(self.components)
        if k is None:
            return kmax
        if not isinstance(k, int) or not 0 <= k <= kmax:
            raise ValueError(f"k must be an int in [0, {kmax}] (the number of components kept); got {k!r}")
        return k

    def _check(self, x, name="x") -> torch.Tensor:
        m = _as_matrix(x, name)
        if m.shape[1] != self.dim:
            raise ValueError(f"{name} must have {self.dim} values per item (as the data PCA was fitted on); "
                             f"got shape {tuple(x.shape)}")
        return m.to(self.mean.device)

    def transform(self, x: torch.Tensor, k: int | None = None) -> torch.Tensor:
        """Coordinates of ``x`` on the first ``k`` principal axes, shape (N, k), float32."""
        k = self._k(k)
        return ((self._check(x) - self.mean) @ self.components[:k].T).float()

    def inverse_transform(self, z: torch.Tensor) -> torch.Tensor:
        """Points (N, D) with coordinates ``z`` (N, k) on the first k axes, float32."""
        if not isinstance(z, torch.Tensor) or z.ndim != 2:
            raise ValueError(f"z must be a 2-D tensor (N, k); got {getattr(z, 'shape', type(z).__name__)}")
        k = self._k(z.shape[1])
        return (z.double().to(self.mean.device) @ self.components[:k] + self.mean).float()

    def reconstruct(self, x: torch.Tensor, k: int | None = None) -> torch.Tensor:
        """The projection of ``x`` onto the mean plus the top-k principal subspace, in x's shape."""
        k = self._k(k)
        m = self._check(x) - self.mean
        v = self.components[:k]
        return ((m @ v.T) @ v + self.mean).float().reshape(x.shape)

    def reconstruction_mse(self, x: torch.Tensor, k: int | None = None) -> float:
        """Mean squared error per value (per pixel) of the rank-k reconstruction of ``x``."""
        k = self._k(k)
        m = self._check(x) - self.mean
        v = self.components[:k]
        r = m - (m @ v.T) @ v
        return float((r ** 2).mean())

    def explained_variance_ratio(self, k: int | None = None) -> float:
        """Fraction of the fitting data's variance the first k components capture."""
        return float(self.explained_variance[: self._k(k)].sum() / self.total_variance)


def fit_pca(x: torch.Tensor, k: int | None = None) -> PCA:
    """Fit PCA to ``x`` (N, ...) by the eigen-decomposition of its covariance, in float64.

    ``k`` keeps the top k components (all D by default). The sign of each axis is fixed so that
    its largest-magnitude entry is positive, so repeated fits agree.
    """
    m = _as_matrix(x, "x")
    n, d = m.shape
    if k is not None and (not isinstance(k, int) or not 1 <= k <= d):
        raise ValueError(f"k must be an int in [1, {d}] or None; got {k!r}")
    mean = m.mean(0)
    c = m - mean
    cov = c.T @ c / max(n - 1, 1)
    evals, evecs = torch.linalg.eigh(cov)  # ascending
    evals, evecs = evals.flip(0).clamp_min(0), evecs.flip(1)
    k = d if k is None else k
    comps = evecs[:, :k].T.contiguous()
    idx = comps.abs().argmax(1)
    comps = comps * comps.gather(1, idx[:, None]).sign()
    return PCA(mean, comps, evals[:k].clone(), float(evals.sum()))


def _basis(a, name: str) -> torch.Tensor:
    if not isinstance(a, torch.Tensor) or a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D tensor (D, k) whose columns span a subspace; "
                         f"got {getattr(a, 'shape', type(a).__name__)}")
    if a.shape[1] == 0 or a.shape[1] > a.shape[0]:
        raise ValueError(f"{name} must have between 1 and D columns (D = {a.shape[0]}); got shape {tuple(a.shape)}")
    q, r = torch.linalg.qr(a.double())
    d = r.diagonal().abs()
    if d.min() <= 1e-10 * d.max().clamp_min(1e-300):
        raise ValueError(f"{name} must have linearly independent columns (full column rank); got a rank-deficient matrix")
    return q


def principal_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Principal angles (radians, ascending) between the column spaces of ``a`` (D, k) and ``b`` (D, l).

    Orthonormalise both (QR), then the cosines of the angles are the singular values of
    ``Qa^T Qb`` (Bjorck and Golub, 1973). There are min(k, l) of them: all zero when one
    subspace contains the other, pi/2 for directions orthogonal to the other subspace.
    Small angles are computed from the sines, which keeps them accurate near zero.
    """
    qa, qb = _basis(a, "a"), _basis(b, "b")
    if qa.shape[0] != qb.shape[0]:
        raise ValueError(f"a and b must live in the same space (same number of rows); got {qa.shape[0]} and {qb.shape[0]}")
    if qa.shape[1] > qb.shape[1]:
        qa, qb = qb, qa
    cos = torch.linalg.svdvals(qa.T @ qb).clamp(0, 1).flip(0)  # ascending cosines = descending angles
    # sines: singular values of (I - Qb Qb^T) Qa, accurate for small angles
    sin = torch.linalg.svdvals(qa - qb @ (qb.T @ qa)).clamp(0, 1)  # descending sines = descending angles
    angles = torch.where(cos > 0.7071, torch.arcsin(sin), torch.arccos(cos))
    return angles.flip(0).float()


def axis_cosines(vectors: torch.Tensor, axes: torch.Tensor) -> torch.Tensor:
    """|cos| of the angle between each column of ``vectors`` (D, k) and each column of ``axes`` (D, l).

    Entry (i, j) is 1 when vector i lies along axis j. A column of ones would mean a learned
    vector *is* a principal axis; Baldi and Hornik predict mixtures instead.
    """
    for t, name in ((vectors, "vectors"), (axes, "axes")):
        if not isinstance(t, torch.Tensor) or t.ndim != 2:
            raise ValueError(f"{name} must be a 2-D tensor (D, k) of column vectors; got {getattr(t, 'shape', type(t).__name__)}")
    if vectors.shape[0] != axes.shape[0]:
        raise ValueError(f"vectors and axes must have the same number of rows; got {vectors.shape[0]} and {axes.shape[0]}")
    v = torch.nn.functional.normalize(vectors.double(), dim=0)
    a = torch.nn.functional.normalize(axes.double(), dim=0)
    return (v.T @ a).abs().float()
