"""LSTM and BiLSTM regressors of GR*Ai*CE, many independent models evaluated as one computation.

Every parameter has a leading model axis: model m has its own weights, sees its own cell's data
and gets its own gradient, but all models of a chunk of cells run through the same batched matrix
products. Architecture as the authors': LSTM(units) or Bidirectional(LSTM(units)) over the window,
`n_layers` dense tanh layers, a linear output. Initialisation as Keras (Glorot-uniform kernels,
orthogonal recurrent kernels, zero biases with forget-gate bias 1).

The published scripts built every "LSTM" as a BiLSTM (a local variable shadowed the model type);
here the model type alone decides `bidirectional`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..regions.classes import MODEL_TYPES
from .hyperparameters import Hyperparameters


def is_bidirectional(model_type: str) -> bool:
    if model_type not in MODEL_TYPES:
        raise ValueError(f"unknown model type {model_type!r}; known: {', '.join(MODEL_TYPES)}")
    return model_type.startswith("BiLSTM")


def model_axis(name: str) -> int:
    """Axis of the model index in a parameter: recurrent weights are (direction, model, ...)."""
    return 1 if name.split(".")[0] in ("w_ih", "w_hh", "b") else 0


def select_models(tensors: dict[str, torch.Tensor], index) -> dict[str, torch.Tensor]:
    """Some models' parameters (by index along each tensor's model axis)."""
    index = torch.as_tensor(np.asarray(index), dtype=torch.long)
    return {name: t.detach().index_select(model_axis(name), index.to(t.device)).contiguous()
            for name, t in tensors.items()}


def _glorot(gen, n_models, fan_out, fan_in):
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return (torch.rand(n_models, fan_out, fan_in, generator=gen) * 2 - 1) * limit


def _orthogonal(gen, n_models, rows, cols):
    a = torch.randn(n_models, max(rows, cols), min(rows, cols), generator=gen)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
    return q if rows >= cols else q.transpose(-1, -2)


class BatchedRegressor(nn.Module):
    """M independent (Bi)LSTM regressors; forward maps (M, B, window, F) to (M, B)."""

    def __init__(self, n_models: int, n_features: int, units: int, dense: tuple[int, ...], bidirectional: bool):
        super().__init__()
        self.n_models, self.n_features, self.units = n_models, n_features, units
        self.dense_sizes, self.bidirectional = tuple(dense), bidirectional
        directions = 2 if bidirectional else 1
        self.w_ih = nn.Parameter(torch.zeros(directions, n_models, 4 * units, n_features))
        self.w_hh = nn.Parameter(torch.zeros(directions, n_models, 4 * units, units))
        self.b = nn.Parameter(torch.zeros(directions, n_models, 4 * units))
        sizes = (directions * units, *dense, 1)
        self.dense_w = nn.ParameterList(nn.Parameter(torch.zeros(n_models, o, i)) for i, o in zip(sizes, sizes[1:]))
        self.dense_b = nn.ParameterList(nn.Parameter(torch.zeros(n_models, o)) for o in sizes[1:])

    @classmethod
    def from_hyperparameters(cls, n_models: int, n_features: int, hp: Hyperparameters, model_type: str):
        return cls(n_models, n_features, hp.units, hp.n_units, is_bidirectional(model_type))

    def initialise(self, seeds) -> None:
        """Keras-style initialisation, model m drawn from its own seed (fresh weights per fit)."""
        with torch.no_grad():
            for m, seed in enumerate(seeds):
                gen = torch.Generator().manual_seed(int(seed))
                h, f = self.units, self.n_features
                for d in range(self.w_ih.shape[0]):
                    self.w_ih[d, m] = _glorot(gen, 1, 4 * h, f)[0]
                    self.w_hh[d, m] = torch.cat([_orthogonal(gen, 1, h, h)[0] for _ in range(4)], dim=0)
                    self.b[d, m] = 0.0
                    self.b[d, m, h:2 * h] = 1.0  # unit forget bias
                for w, b in zip(self.dense_w, self.dense_b):
                    w[m] = _glorot(gen, 1, w.shape[1], w.shape[2])[0]
                    b[m] = 0.0

    def _run(self, x: torch.Tensor, d: int, reverse: bool) -> torch.Tensor:
        m, bsz, steps, _ = x.shape
        h = x.new_zeros(m, bsz, self.units)
        c = x.new_zeros(m, bsz, self.units)
        # Input projections of every step at once; only the recurrence loops over the window.
        xin = torch.baddbmm(self.b[d].unsqueeze(1), x.reshape(m, bsz * steps, -1), self.w_ih[d].transpose(1, 2))
        # unbind, not xin[:, :, t]: the backward of a slice writes a full-size zero tensor per step.
        xin = xin.reshape(m, bsz, steps, 4 * self.units).unbind(dim=2)
        w_hh = self.w_hh[d].transpose(1, 2)
        order = range(steps - 1, -1, -1) if reverse else range(steps)
        for t in order:
            gates = xin[t] + torch.bmm(h, w_hh)
            i, f, g, o = gates.chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._run(x, 0, reverse=False)
        if self.bidirectional:
            out = torch.cat([out, self._run(x, 1, reverse=True)], dim=-1)
        layers = list(zip(self.dense_w, self.dense_b))
        for k, (w, b) in enumerate(layers):
            out = torch.baddbmm(b.unsqueeze(1), out, w.transpose(1, 2))
            if k < len(layers) - 1:
                out = torch.tanh(out)
        return out.squeeze(-1)

    def select(self, index) -> dict[str, torch.Tensor]:
        """Parameters of some models, e.g. to save the best fit per cell."""
        return select_models(dict(self.named_parameters()), index)

    def load_selected(self, tensors: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for name, p in self.named_parameters():
                p.copy_(tensors[name])
