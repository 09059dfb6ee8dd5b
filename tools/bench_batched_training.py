"""Benchmark: the batched per-cell trainer against a loop that trains one model per cell.

Both do the same work: the same cells, data, initial weights, minibatches and number of epochs
(early stopping is disabled so that every model runs every epoch). Prints cell-epochs per second
of each and their ratio (target: batched at least 3x the loop on CPU), the same for the ordinary
PyTorch way a user would write (one `torch.nn.LSTM` + `torch.nn.Linear` model per cell, trained with
`torch.optim.Adam`), and the share of this machine's fp32 matmul peak (a large sgemm, timed here)
that the batched trainer reaches (its FLOPs counted with torch.profiler: forward x3).

    .venv/bin/python tools/bench_batched_training.py [--cells 64] [--epochs 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from twsrecon.periods import TRAIN, VAL
from twsrecon.reconstruction.features import draw_split
from twsrecon.reconstruction.fitting import prepare
from twsrecon.reconstruction.hyperparameters import Hyperparameters
from twsrecon.reconstruction.models import BatchedRegressor, select_models
from twsrecon.reconstruction.training import TrainSettings, train


def synthetic_region(n_cells: int, n_time: int = 480, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_cells, n_time, 6)).cumsum(1) * 0.1
    y = x[..., 0].cumsum(1) * 0.1
    y[:, :243] = np.nan  # GRACE era only
    return x, y


class PlainModel(nn.Module):
    """What a user would write: LSTM over the window, dense tanh layers, linear output."""

    def __init__(self, n_features, units, dense):
        super().__init__()
        self.lstm = nn.LSTM(n_features, units, batch_first=True)
        sizes = (units, *dense)
        self.dense = nn.Sequential(*[m for i, o in zip(sizes, sizes[1:]) for m in (nn.Linear(i, o), nn.Tanh())])
        self.out = nn.Linear(sizes[-1], 1)

    def forward(self, x):
        return self.out(self.dense(self.lstm(x)[0][:, -1])).squeeze(-1)


def plain_pytorch(xt, yt, tr, lr, units, dense, epochs, batch_size, seed=0):
    """One model per cell, torch.nn.LSTM and torch.optim.Adam, the same epochs and batch size."""
    torch.manual_seed(seed)
    for c in range(xt.shape[0]):
        idx = np.flatnonzero(tr[c])
        x, y = torch.nan_to_num(xt[c, idx]), yt[c, idx]
        model = PlainModel(xt.shape[-1], units, dense)
        opt = torch.optim.Adam(model.parameters(), lr=lr, eps=1e-7)
        for _ in range(epochs):
            perm = torch.randperm(len(idx))
            for b in range(0, len(idx), batch_size):
                sel = perm[b:b + batch_size]
                opt.zero_grad()
                nn.functional.mse_loss(model(x[sel]), y[sel]).backward()
                opt.step()


def matmul_peak_flops(n=2048, repeats=5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - t0)


def trainer_flops_per_epoch(model, xt, tr, batch_size) -> float:
    """Forward FLOPs of one epoch's minibatches x3 (forward + backward), counted by the profiler."""
    m = xt.shape[0]
    xb = torch.nan_to_num(xt[:, :batch_size])
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        model(xb)
    per_step = 3 * sum(e.flops or 0 for e in prof.events())
    steps = int(np.ceil(tr.sum(1).max() / batch_size))
    return per_step * steps * (1 if m else 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--units", type=int, default=32)
    ap.add_argument("--window", type=int, default=12)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    hp = Hyperparameters(units=args.units, window=args.window, learning_rate=1e-3, n_layers=1, n_units=(32,),
                         source="benchmark")
    x, y = synthetic_region(args.cells)
    prep = prepare(x, y, hp.window, draw_split(y, 25, seed=42, history=hp.window))
    xt, yt = torch.tensor(prep.x), torch.tensor(prep.y)
    tr, va = prep.mask(TRAIN), prep.mask(VAL)
    seeds = np.arange(args.cells) + 1
    settings = TrainSettings(epochs=args.epochs, patience=10**6)

    batched = BatchedRegressor(args.cells, 6, hp.units, hp.n_units, False)
    batched.initialise(seeds)
    init = {k: v.detach().clone() for k, v in batched.named_parameters()}
    t0 = time.perf_counter()
    train(batched, xt, yt, np.arange(args.cells), tr, va, hp.learning_rate, seeds, settings)
    t_batched = time.perf_counter() - t0

    t0 = time.perf_counter()
    for c in range(args.cells):
        single = BatchedRegressor(1, 6, hp.units, hp.n_units, False)
        single.load_selected(select_models(init, [c]))
        train(single, xt[c:c + 1], yt[c:c + 1], [0], tr[c:c + 1], va[c:c + 1], hp.learning_rate, seeds[c:c + 1],
              settings)
    t_loop = time.perf_counter() - t0

    t0 = time.perf_counter()
    plain_pytorch(xt, yt, tr, hp.learning_rate, hp.units, hp.n_units, args.epochs, settings.batch_size)
    t_plain = time.perf_counter() - t0

    flops = trainer_flops_per_epoch(batched, xt, tr, settings.batch_size) * args.epochs
    peak = matmul_peak_flops()

    work = args.cells * args.epochs
    print(f"cells={args.cells} epochs={args.epochs} units={args.units} window={args.window} "
          f"torch_threads={torch.get_num_threads()}")
    print(f"batched: {t_batched:8.2f} s  {work / t_batched:8.1f} cell-epochs/s")
    print(f"loop:    {t_loop:8.2f} s  {work / t_loop:8.1f} cell-epochs/s")
    print(f"plain PyTorch (nn.LSTM + optim.Adam per cell): {t_plain:8.2f} s  {work / t_plain:8.1f} cell-epochs/s")
    print(f"ratio batched/loop: {t_loop / t_batched:.1f}x; batched/plain PyTorch: {t_plain / t_batched:.1f}x")
    print(f"batched trainer: {flops / t_batched / 1e9:.2f} GFLOP/s = {100 * flops / t_batched / peak:.1f} % of this "
          f"machine's fp32 matmul peak ({peak / 1e9:.1f} GFLOP/s, 2048^2 sgemm, {torch.get_num_threads()} threads)")
    print("(a shared 2-core machine under load: absolute times vary with the other jobs)")


if __name__ == "__main__":
    main()
