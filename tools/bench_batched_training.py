"""Benchmark: the batched per-cell trainer against a loop that trains one model per cell.

Both do the same work: the same cells, data, initial weights, minibatches and number of epochs
(early stopping is disabled so that every model runs every epoch). Prints cell-epochs per second
of each and their ratio (target: batched at least 3x the loop on CPU).

    .venv/bin/python tools/bench_batched_training.py [--cells 64] [--epochs 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from twsrecon.features import TRAIN, VAL, draw_split
from twsrecon.hyperparameters import Hyperparameters
from twsrecon.models import BatchedRegressor, select_models
from twsrecon.reconstruction import prepare
from twsrecon.training import TrainSettings, train


def synthetic_region(n_cells: int, n_time: int = 480, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_cells, n_time, 6)).cumsum(1) * 0.1
    y = x[..., 0].cumsum(1) * 0.1
    y[:, :243] = np.nan  # GRACE era only
    return x, y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--units", type=int, default=32)
    ap.add_argument("--window", type=int, default=12)
    args = ap.parse_args()
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

    work = args.cells * args.epochs
    print(f"cells={args.cells} epochs={args.epochs} units={args.units} window={args.window} "
          f"torch_threads={torch.get_num_threads()}")
    print(f"batched: {t_batched:8.2f} s  {work / t_batched:8.1f} cell-epochs/s")
    print(f"loop:    {t_loop:8.2f} s  {work / t_loop:8.1f} cell-epochs/s")
    print(f"ratio batched/loop: {t_loop / t_batched:.1f}x")


if __name__ == "__main__":
    main()
