"""Bayesian training of the particle network (`bcnn.ParticleCBAMNet`) by SVGD (the update: `svgd`).

Training (`SVGDTrainer`): the likelihood counts only observed cells (land and a GRACE month present),
masked with torch.where so that NaN targets at ocean cells or missing months touch neither the loss
nor the gradients; the minibatch log-likelihood is scaled by n_train / batch size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch.optim.swa_utils import update_bn

from .bcnn import ParticleCBAMNet
from .svgd import log_gamma_prior_log_beta, log_student_t_prior, rbf_kernel, svgd_direction


@dataclass(frozen=True)
class Priors:
    """Prior hyperparameters.

    a_w, b_w: Gamma(shape, rate) on each weight's precision, integrated out (Student-t weights);
    Zhu & Zabaras (2018): 1 and 0.05.
    a_beta, b_beta: Gamma(shape, rate) on the noise precision β; Zhu & Zabaras's 2 and 1e-6, a weak
    prior (mode 1e6) whose pull on log β, a − bβ, is negligible next to the likelihood's (half the
    number of observed cells in the training set) for any realistic β of standardised targets: it
    only keeps β away from zero.
    """

    a_w: float = 1.0
    b_w: float = 0.05
    a_beta: float = 2.0
    b_beta: float = 1e-6


class SVGDTrainer:
    """Bayesian training of a `ParticleCBAMNet` by SVGD, one minibatch per `step`.

    θ_i = all of particle i's parameters (weights and log β_i) flattened; the score ∇ log p(θ_i | data)
    comes from one backward pass of Σ_i log p_i (particles share no parameters, so each gets its
    own gradient); Adam then steps every particle along −φ_i (ascent along φ). Adam is elementwise,
    so one optimiser over the folded parameters equals one Adam per particle.
    """

    def __init__(self, net: ParticleCBAMNet, n_train: int, lr: float = 0.0025, priors: Priors = Priors(),
                 bandwidth: float | None = None, bf16: bool = False, pixel_weights: torch.Tensor | None = None):
        if n_train < 1:
            raise ValueError(f"n_train must be positive, got {n_train}")
        self.net, self.n_train, self.priors, self.bandwidth = net, n_train, priors, bandwidth
        self.bf16 = bf16
        # (H, W) weight of each pixel in the likelihood, e.g. cos(latitude) (its area) normalised to mean 1
        self.pixel_weights = pixel_weights
        self.params = list(net.parameters())
        self.optimizer = torch.optim.Adam(self.params, lr=lr)

    def _check(self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> None:
        shape = (x.shape[0], *x.shape[2:])
        if tuple(y.shape) != shape or tuple(mask.shape) != shape:
            raise ValueError(f"target {tuple(y.shape)} and mask {tuple(mask.shape)} must be (B, H, W) = {shape}")
        if mask.dtype != torch.bool:
            raise TypeError(f"mask must be boolean, got {mask.dtype}")

    def _autocast(self, x: torch.Tensor):
        """bf16 autocast of the network (an option for CUDA; convolutions in bf16, BatchNorm and the
        loss in fp32)."""
        return torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def log_likelihood(self, pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor,
                       log_beta: torch.Tensor) -> torch.Tensor:
        """(n_train / B) Σ_{observed} w [½ log β_i − ½ log 2π − ½ β_i r²] per particle of `pred` (B, n, H, W),
        r = prediction − target, w the pixel's weight (1 without `pixel_weights`), β_i one per particle or
        one per pixel; cells where `mask` is False count nowhere, whatever y holds there."""
        pred = pred.float()
        resid = torch.where(mask.unsqueeze(1), pred - torch.where(mask, y, 0.0).unsqueeze(1), 0.0)
        sq = resid.square().sum(0)  # (n, H, W)
        count = mask.sum(0).to(sq.dtype)  # (H, W)
        if self.pixel_weights is not None:
            sq, count = sq * self.pixel_weights, count * self.pixel_weights
        if log_beta.dim() == 1:  # one β per particle
            sq, count = sq.sum((1, 2)), count.sum()
            terms = 0.5 * count * (log_beta - math.log(2 * math.pi)) - 0.5 * torch.exp(log_beta) * sq
        else:
            terms = (0.5 * count * (log_beta - math.log(2 * math.pi)) - 0.5 * torch.exp(log_beta) * sq).sum((1, 2))
        return self.n_train / pred.shape[0] * terms

    def log_priors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-particle log priors (N_s,) of the weights (Student-t) and of log β (Gamma on β)."""
        n, pri = self.net.n_particles, self.priors
        prior_w = sum(log_student_t_prior(p, pri.a_w, pri.b_w).reshape(n, -1).sum(1)
                      for name, p in self.net.named_parameters() if name != "log_beta")
        prior_beta = log_gamma_prior_log_beta(self.net.log_beta, pri.a_beta, pri.b_beta).reshape(n, -1).sum(1)
        return prior_w, prior_beta

    def log_posterior(self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-particle terms (N_s,) of the log posterior on a minibatch, and the predictions
        (all particles in one graph; `step` goes group by group)."""
        self._check(x, y, mask)
        with self._autocast(x):
            pred = self.net(x)  # (B, N, H, W)
        loglik = self.log_likelihood(pred, y, mask, self.net.log_beta)
        prior_w, prior_beta = self.log_priors()
        return {"log_likelihood": loglik, "log_prior_w": prior_w, "log_prior_beta": prior_beta,
                "log_posterior": loglik + prior_w + prior_beta, "prediction": pred.float()}

    def _flat(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        n = self.net.n_particles
        return torch.cat([t.reshape(n, -1) for t in tensors], 1)

    def _scores(self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor):
        """Backward of Σ_i log p_i into the parameters' .grad, one particle group at a time (the terms
        are sums over particles, so the gradients add up to the all-at-once ones). Returns the
        per-particle log posterior and the predictions, detached."""
        net = self.net
        prior_w, prior_beta = self.log_priors()
        (prior_w + prior_beta).sum().backward()
        preds, logliks = [], []
        for a, b in net.groups():
            with net.group_view(a, b) as group, self._autocast(x):
                pred = group._forward_all(x)
                loglik = self.log_likelihood(pred, y, mask, net.log_beta[a:b])
                loglik.sum().backward()  # inside the view: a checkpointed block recomputes with it
            preds.append(pred.detach().float())
            logliks.append(loglik.detach())
        net._tick()
        return torch.cat(logliks) + (prior_w + prior_beta).detach(), torch.cat(preds, 1)

    def step(self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
        """One SVGD step on a minibatch (train-mode BatchNorm). Returns diagnostics, all from before the
        update: masked MSE of the particle-mean prediction, mean log posterior, mean β, kernel bandwidth."""
        self._check(x, y, mask)
        self.net.train()
        self.optimizer.zero_grad(set_to_none=True)
        log_post, pred = self._scores(x, y, mask)
        with torch.no_grad():
            theta = self._flat(self.params)
            kern = rbf_kernel(theta, self.bandwidth)
            phi = svgd_direction(theta, self._flat([p.grad for p in self.params]), kern)
            offset = 0
            for p in self.params:
                size = p.numel() // self.net.n_particles
                p.grad = -phi[:, offset:offset + size].reshape(p.shape)
                offset += size
            self.optimizer.step()
            mean = pred.mean(1)
            mse = torch.where(mask, mean - torch.where(mask, y, 0.0), 0.0).square().sum() / mask.sum().clamp(min=1)
        return {"mse": mse.item(), "log_posterior": log_post.mean().item(),
                "beta": torch.exp(self.net.log_beta).mean().item(), "bandwidth": kern.bandwidth}

    def refresh_batchnorm(self, batches: Iterable[torch.Tensor]) -> None:
        """Recompute the BatchNorm running statistics as plain averages over `batches` (inputs x).

        Eval-mode BatchNorm uses running averages that lag behind weights that SVGD keeps moving
        (momentum 0.1); after training, and before `predict`, run this over the training inputs so
        that eval mode normalises as training did. No parameter changes.
        """
        update_bn(batches, self.net)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predictive mean and variance (B, H, W), eval-mode BatchNorm.

        Mean over particles; variance = spread of the particles (population variance, the
        epistemic part) + mean over particles of 1/β_i (the aleatoric noise).
        """
        self.net.eval()
        with self._autocast(x):
            pred = self.net(x).float()
        noise = torch.exp(-self.net.log_beta).mean(0)  # a scalar, or (H, W) with one β per pixel
        return pred.mean(1), pred.var(1, correction=0) + noise
