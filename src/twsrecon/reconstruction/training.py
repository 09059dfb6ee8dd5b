"""Batched training of many small per-cell models: one computation, independent models.

Model m trains on the samples of cell `cell_of_model[m]` with its own weights, its own Adam state and
step count, its own minibatch order and its own early stopping: it stops being updated once its
validation loss has not improved for `patience` epochs, and ends with the weights of its best epoch.
The result equals training each model alone (tests/test_training.py), only faster.
"""

from __future__ import annotations

import inspect
import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from ..device import resolve_device  # noqa: F401  (its home before; the scripts' import)
from ..logs import Progress
from .models import model_axis

log = logging.getLogger(__name__)

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


@dataclass(frozen=True)
class TrainSettings:
    """Training settings. `shuffle`: a fresh minibatch order each epoch (False: time order, as the authors'
    Keras fit(shuffle=False)); `restore_best`: end with the best epoch's weights (False: the last epoch's, as
    Keras' EarlyStopping without restore_best_weights); `compact`: once at most 3/4 of the batch still trains,
    the stopped models leave it (same results, less work); `compile`: torch.compile the model's forward on
    CUDA (ignored on CPU)."""

    epochs: int = 1000
    patience: int = 30
    batch_size: int = 32
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-7
    shuffle: bool = True
    restore_best: bool = True
    compact: bool = True
    compile: bool = False

    @classmethod
    def from_params(cls, params: dict, tuning: dict | None = None, **override) -> "TrainSettings":
        """Settings from a rule's `params` (the config keys of models.*). With `tuning` (the hyperparameters.*
        keys): the tuning trials' own epochs, patience and batch size (null: the training's)."""
        keys = ("epochs", "patience", "batch_size", "shuffle", "restore_best", "compact", "compile")
        if tuning is not None:
            override = {"epochs": tuning["epochs"], "patience": tuning["patience"],
                        "batch_size": tuning["batch_size"] or params["batch_size"]} | override
        return cls(**{k: params[k] for k in keys if k in params} | override)


def _splitmix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
        return x ^ (x >> np.uint64(31))


def sample_order(seeds: np.ndarray, epoch: int, usable: np.ndarray, shuffle: bool = True) -> np.ndarray:
    """Per-model shuffled order of its usable samples (first), from a counter-based hash.

    Depends only on the model's own seed, so a model trained alone draws the same minibatches.
    Without `shuffle`, the usable samples in time order.
    """
    if not shuffle:
        return np.argsort(~np.asarray(usable, bool), axis=1, kind="stable")
    seeds = np.asarray(seeds, np.uint64)[:, None]
    n = usable.shape[1]
    with np.errstate(over="ignore"):
        key = _splitmix(seeds * np.uint64(0x100000001B3) + np.uint64(epoch) * np.uint64(1_000_003)
                        + np.arange(n, dtype=np.uint64)[None, :])
    key = np.where(usable, key >> np.uint64(1), _MASK64)
    return np.argsort(key, axis=1, kind="stable")


def per_model(values: torch.Tensor, p: torch.Tensor, axis: int) -> torch.Tensor:
    """A per-model vector shaped to broadcast over parameter `p` along its model axis."""
    shape = [1] * p.ndim
    shape[axis] = -1
    return values.reshape(shape)


class BatchedAdam:
    """Adam with a per-model learning rate, step count and on/off mask."""

    def __init__(self, model, lr: torch.Tensor, settings: TrainSettings):
        self.model, self.lr, self.s = model, lr, settings
        self.state = {name: (torch.zeros_like(p), torch.zeros_like(p)) for name, p in model.named_parameters()}
        self.steps = torch.zeros_like(lr)

    @torch.no_grad()
    def step(self, active: torch.Tensor) -> None:
        self.steps += active.to(self.steps.dtype)
        b1, b2 = self.s.beta1, self.s.beta2
        t = self.steps.clamp(min=1)
        step_size = self.lr * torch.sqrt(1 - b2**t) / (1 - b1**t)
        for name, p in self.model.named_parameters():
            if p.grad is None:
                continue
            axis = model_axis(name)
            on = per_model(active, p, axis)
            m, v = self.state[name]
            m.copy_(torch.where(on, b1 * m + (1 - b1) * p.grad, m))
            v.copy_(torch.where(on, b2 * v + (1 - b2) * p.grad * p.grad, v))
            update = per_model(step_size, p, axis) * m / (torch.sqrt(v) + self.s.eps)
            p.sub_(torch.where(on, update, torch.zeros_like(update)))

    def subset(self, model, keep: torch.Tensor) -> "BatchedAdam":
        """The optimiser of `model`, which holds the models `keep` (indices into this batch)."""
        new = BatchedAdam(model, self.lr[keep], self.s)
        new.steps = self.steps[keep]
        for name, (m, v) in self.state.items():
            axis = model_axis(name)
            new.state[name] = (m.index_select(axis, keep), v.index_select(axis, keep))
        return new


@dataclass
class TrainResult:
    best_val_loss: np.ndarray  # (M,) MSE in scaled units
    best_epoch: np.ndarray  # (M,)
    epochs_run: np.ndarray  # (M,)


def _gather(x_cells, y_cells, cell_of_model, idx):
    """Minibatch of each model from its own cell; NaN in padding slots is zeroed (0 * NaN poisons gradients)."""
    cells = cell_of_model[:, None].expand_as(idx)
    return torch.nan_to_num(x_cells[cells, idx]), y_cells[cells, idx]


def masked_mse(model, x_cells, y_cells, cell_of_model, order, counts, batch_size, max_count=None) -> torch.Tensor:
    """Mean squared error of each model over its own `counts[m]` samples listed first in `order`
    (`max_count`, the largest count known on the host, saves a device-to-host sync)."""
    total = torch.zeros(len(counts), dtype=x_cells.dtype, device=x_cells.device)
    top = int(counts.max().item()) if max_count is None and len(counts) else (max_count or 0)
    for start in range(0, top, batch_size):
        idx = order[:, start:start + batch_size]
        valid = (start + torch.arange(idx.shape[1], device=idx.device))[None, :] < counts[:, None]
        xb, yb = _gather(x_cells, y_cells, cell_of_model, idx)
        err = torch.where(valid, model(xb) - torch.nan_to_num(yb), torch.zeros_like(yb))
        total = total + (err**2).sum(1)
    return total / counts.clamp(min=1)


def subset_model(model, keep: np.ndarray):
    """A new batched model holding the models `keep` of `model` (their current weights)."""
    new = type(model)(len(keep), model.n_features, model.units, model.dense_sizes, model.bidirectional)
    new = new.to(next(model.parameters()).device)
    new.load_selected(model.select(keep))
    return new


def _forward_of(model, settings: TrainSettings, device: torch.device):
    if settings.compile and device.type == "cuda":
        return torch.compile(model, dynamic=False)
    return model


def train(model, x_cells: torch.Tensor, y_cells: torch.Tensor, cell_of_model, train_mask: np.ndarray,
          val_mask: np.ndarray, lr, seeds, settings: TrainSettings = TrainSettings(), on_epoch=None,
          progress: str | None = "training") -> TrainResult:
    """Train the M models of `model` together.

    x_cells (C, N, window, F) and y_cells (C, N) hold every candidate sample of each cell (scaled);
    train_mask / val_mask (M, N) say which samples model m trains and validates on. `on_epoch(epoch,
    val_loss)` sees each epoch's validation losses of all M models (Optuna's pruner listens there; a
    stopped model's loss is its last). `progress`: the label of the progress lines in the log (the
    first epoch, then at most one a minute, and the last; None: silent, e.g. for tuning trials).

    The loop never waits for the device inside an epoch: the steps of an epoch are known on the host
    from the sample counts of the models still running, and a model whose samples are used up is
    masked, not tested. Once at most 3/4 of the batch still runs (`settings.compact`), the batch is
    rebuilt from the running models (weights, Adam state, best weights), which changes no result.
    """
    n_models = len(seeds)
    device = x_cells.device
    seeds = np.asarray(seeds)
    cell_all = np.asarray(cell_of_model)
    lr_all = torch.as_tensor(np.broadcast_to(np.asarray(lr, np.float64), (n_models,)).copy(),
                             dtype=x_cells.dtype, device=device)
    train_mask, val_mask = np.asarray(train_mask, bool), np.asarray(val_mask, bool)
    ntr_host, nva_host = train_mask.sum(1), val_mask.sum(1)
    # Results of all M models; the working batch holds the models `live`.
    best_all = np.full(n_models, math.inf)
    best_epoch = np.full(n_models, -1)
    epochs_run = np.zeros(n_models, dtype=int)
    last_val = np.full(n_models, math.inf)
    final_params = {k: v.detach().clone() for k, v in model.named_parameters()}
    live = np.arange(n_models)

    def batch_tensors(idx):
        return (torch.as_tensor(cell_all[idx], dtype=torch.long, device=device),
                torch.as_tensor(ntr_host[idx], device=device), torch.as_tensor(nva_host[idx], device=device),
                torch.as_tensor(np.argsort(~val_mask[idx], axis=1, kind="stable"), device=device))

    work = model
    cell_t, n_train, n_val, val_order = batch_tensors(live)
    opt = BatchedAdam(work, lr_all, settings)
    forward = _forward_of(work, settings, device)
    best = torch.full((n_models,), math.inf, dtype=x_cells.dtype, device=device)
    best_params = {k: v.detach().clone() for k, v in work.named_parameters()}
    wait = torch.zeros(n_models, dtype=torch.long, device=device)
    running = torch.ones(n_models, dtype=torch.bool, device=device)
    report = Progress(log if progress else None, progress or "", settings.epochs)
    takes_running = on_epoch is not None and len(inspect.signature(on_epoch).parameters) >= 3

    def store(idx_local):
        """Write the final weights (best or last) of working models idx_local into final_params."""
        src = best_params if settings.restore_best else dict(work.named_parameters())
        glob = torch.as_tensor(live[idx_local], dtype=torch.long, device=device)
        loc = torch.as_tensor(idx_local, dtype=torch.long, device=device)
        for name, t in src.items():
            axis = model_axis(name)
            final_params[name].index_copy_(axis, glob, t.detach().index_select(axis, loc))

    for epoch in range(settings.epochs):
        order = torch.as_tensor(sample_order(seeds[live], epoch, train_mask[live], settings.shuffle), device=device)
        steps = math.ceil(int(ntr_host[live].max()) / settings.batch_size) if len(live) else 0
        for s in range(steps):
            idx = order[:, s * settings.batch_size:(s + 1) * settings.batch_size]
            valid = (s * settings.batch_size + torch.arange(idx.shape[1], device=device))[None, :] < n_train[:, None]
            active = valid.any(1) & running
            xb, yb = _gather(x_cells, y_cells, cell_t, idx)
            err = torch.where(valid, forward(xb) - torch.nan_to_num(yb), torch.zeros_like(yb))
            loss_per_model = (err**2).sum(1) / valid.sum(1).clamp(min=1)
            work.zero_grad(set_to_none=False)
            loss_per_model.sum().backward()
            opt.step(active)
        with torch.no_grad():
            val = masked_mse(forward, x_cells, y_cells, cell_t, val_order, n_val, settings.batch_size,
                             int(nva_host[live].max()) if len(live) else 0)
            improved = running & (val < best)
            best = torch.where(improved, val, best)
            for name, p in work.named_parameters():
                on = per_model(improved, p, model_axis(name))
                best_params[name].copy_(torch.where(on, p, best_params[name]))
            wait = torch.where(improved, torch.zeros_like(wait), wait + 1)
            was_running = running.cpu().numpy().copy()  # .numpy() of a CPU tensor shares its memory
            running &= wait < settings.patience
        # one host transfer per epoch
        improved_h, running_h, val_h = (t.cpu().numpy().copy() for t in (improved, running, val))
        epochs_run[live[was_running]] += 1
        best_epoch[live[improved_h]] = epoch
        last_val[live] = val_h
        best_all[live] = best.cpu().numpy()
        if on_epoch is not None:
            running_all = np.zeros(n_models, bool)
            running_all[live] = was_running
            stop = (on_epoch(epoch, last_val.copy(), running_all) if takes_running
                    else on_epoch(epoch, last_val.copy()))
            if stop is not None:  # models the caller stops now (pruned trials)
                stop_h = np.asarray(stop, bool)[live] & running_h
                if stop_h.any():
                    running_h = running_h & ~stop_h
                    running &= ~torch.as_tensor(stop_h, device=device)
        n_run = int(running_h.sum())
        if report.log is not None:
            finite = best_all[np.isfinite(best_all)]
            report.update(epoch, running=n_run, done=n_models - n_run,
                          best=float(np.median(finite)) if finite.size else None, final=n_run == 0)
        if n_run == 0:
            break
        if settings.compact and n_run <= 0.75 * len(live):
            keep = np.flatnonzero(running_h)
            store(np.flatnonzero(~running_h))
            keep_t = torch.as_tensor(keep, dtype=torch.long, device=device)
            live = live[keep]
            new = subset_model(work, keep)
            opt = opt.subset(new, keep_t)
            best_params = {name: t.index_select(model_axis(name), keep_t) for name, t in best_params.items()}
            best, wait, running = best[keep_t], wait[keep_t], running[keep_t]
            work = new
            forward = _forward_of(work, settings, device)
            cell_t, n_train, n_val, val_order = batch_tensors(live)
    store(np.arange(len(live)))
    model.load_selected(final_params)
    dtype = np.float32 if x_cells.dtype == torch.float32 else np.float64
    if not settings.restore_best:  # the loss and epoch of the weights kept: the last ones
        return TrainResult(last_val.astype(dtype), epochs_run - 1, epochs_run)
    return TrainResult(best_all.astype(dtype), best_epoch, epochs_run)


@torch.no_grad()
def predict(model, x_cells: torch.Tensor, cell_of_model, batch_size: int = 256) -> np.ndarray:
    """Predictions of every model for every sample of its cell, (M, N); NaN where the window is incomplete."""
    cell_of_model = torch.as_tensor(np.asarray(cell_of_model), dtype=torch.long, device=x_cells.device)
    n = x_cells.shape[1]
    out = []
    for start in range(0, n, batch_size):
        idx = torch.arange(start, min(n, start + batch_size), device=x_cells.device)
        xb = x_cells[cell_of_model[:, None], idx[None, :]]
        ok = torch.isfinite(xb).all(-1).all(-1)
        out.append(torch.where(ok, model(torch.nan_to_num(xb)), torch.full_like(ok, math.nan, dtype=xb.dtype)))
    return torch.cat(out, dim=1).cpu().numpy()
