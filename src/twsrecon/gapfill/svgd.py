"""Stein variational gradient descent (Liu & Wang 2016) and the priors of Zhu & Zabaras (2018).

Pure tensor math, no networks: particles are the rows of a matrix θ (N, D). Kept apart from the
network code so that the update can be checked against hand-computed numbers.

SVGD moves particle i along

    φ_i = (1/N) Σ_j [ k(θ_j, θ_i) ∇_{θ_j} log p(θ_j) + ∇_{θ_j} k(θ_j, θ_i) ]

with the RBF kernel k(a, b) = exp(-‖a − b‖² / h): the first term drives every particle uphill on the
posterior (smoothed by its neighbours), the second pushes particles apart so that they spread over
the posterior instead of collapsing on its mode.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch


class Kernel(NamedTuple):
    """The RBF kernel of a particle set.

    k: (N, N) kernel matrix k(θ_i, θ_j); repulsion: (N, D), row i = Σ_j ∇_{θ_j} k(θ_j, θ_i);
    bandwidth: the h that was used.
    """

    k: torch.Tensor
    repulsion: torch.Tensor
    bandwidth: float


def squared_distances(theta: torch.Tensor) -> torch.Tensor:
    """Pairwise squared Euclidean distances (N, N), float64, from a float64 Gram matrix.

    Particles have 10^5–10^7 coordinates: float32 sums of that many squares lose ~1e-4 relative
    accuracy, while in float64 |a|² + |b|² − 2ab stays exact to ~1e-12 for particles as far apart
    as SVGD keeps them, and one matrix product is faster than N² difference vectors.
    """
    t = theta.double()
    gram = t @ t.T
    norms = gram.diagonal()
    return (norms[:, None] + norms[None] - 2 * gram).clamp(min=0).fill_diagonal_(0)


def median_bandwidth(sq_dist: torch.Tensor) -> float:
    """Median heuristic h = median(‖θ_i − θ_j‖², i < j) / log N (Liu & Wang 2016).

    The median is the ordinary one (mean of the two middle values for an even count) over distinct
    pairs, the diagonal zeros left out. Guards: with one particle there is nothing to repel (h = 1,
    the kernel is k = 1 whatever h); a zero median (duplicated particles) falls back on the mean of
    the non-zero distances, and on 1 when all particles coincide (repulsion is then zero anyway).
    """
    n = sq_dist.shape[0]
    if n < 2:
        return 1.0
    iu = torch.triu_indices(n, n, offset=1, device=sq_dist.device)
    pairs = sq_dist[iu[0], iu[1]].double()
    med = torch.quantile(pairs, 0.5).item()
    if med <= 0.0:
        positive = pairs[pairs > 0]
        med = positive.mean().item() if positive.numel() else 0.0
    h = med / math.log(n) if med > 0.0 else 1.0
    return h if math.isfinite(h) and h > 0.0 else 1.0


def rbf_kernel(theta: torch.Tensor, bandwidth: float | None = None) -> Kernel:
    """RBF kernel matrix and its summed gradient (the repulsive force) for particles θ (N, D).

    ∇_{θ_j} k(θ_j, θ_i) = −(2/h) (θ_j − θ_i) k_ij, so row i of the repulsion is
    (2/h) (θ_i Σ_j k_ij − Σ_j k_ij θ_j). `bandwidth` None means the median heuristic.
    """
    if theta.dim() != 2:
        raise ValueError(f"particles must be a (N, D) matrix, got shape {tuple(theta.shape)}")
    sq = squared_distances(theta)
    h = median_bandwidth(sq) if bandwidth is None else float(bandwidth)
    if not h > 0.0:
        raise ValueError(f"kernel bandwidth must be positive, got {h}")
    k = torch.exp(-sq / h).to(theta.dtype)
    repulsion = (2.0 / h) * (theta * k.sum(1, keepdim=True) - k @ theta)
    return Kernel(k, repulsion, h)


def svgd_direction(theta: torch.Tensor, grad_logp: torch.Tensor, kernel: Kernel | None = None) -> torch.Tensor:
    """SVGD direction φ (N, D) for particles θ (N, D) with score ∇ log p (N, D); ascend along φ.

    `kernel` None means the RBF kernel with the median heuristic (pass one to reuse or fix h).
    """
    if grad_logp.shape != theta.shape:
        raise ValueError(f"gradient shape {tuple(grad_logp.shape)} differs from particles {tuple(theta.shape)}")
    kern = rbf_kernel(theta) if kernel is None else kernel
    return (kern.k @ grad_logp + kern.repulsion) / theta.shape[0]


def log_student_t_prior(w: torch.Tensor, a: float = 1.0, b: float = 0.05) -> torch.Tensor:
    """Elementwise log prior of weights, up to a constant: w ~ N(0, 1/α), α ~ Gamma(a, b) integrated
    out gives a Student-t, log p(w) = −(a + ½) log(1 + w² / (2b)) (Zhu & Zabaras 2018: a = 1, b = 0.05).
    Heavy tails: shrinks small weights, lets a few large ones be."""
    return -(a + 0.5) * torch.log1p(w.square() / (2.0 * b))


def log_gamma_prior_log_beta(log_beta: torch.Tensor, a: float = 2.0, b: float = 1e-6) -> torch.Tensor:
    """Log density of log β, up to a constant, when β ~ Gamma(a, b) (shape a, rate b).

    The sampler moves log β (β stays positive), so the density is the one in log β coordinates,
    p(β) · dβ/dlog β: a log β − b β (the Jacobian adds one to (a − 1) log β).
    """
    return a * log_beta - b * torch.exp(log_beta)
