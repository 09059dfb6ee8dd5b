"""Compare settings of the per-cell models on GRACE validation months only: every region's cells of one model
type are fit again with each variant (the run's hyperparameters, the stored split) and scored against GRACE on
their validation months. The split's test months, the gap and any truth are never read. How models.trend
was chosen (docs/method.md).

`--backcast YEARS` judges what validation months cannot: the years before the record, where the
models.trend options differ. Each cell's first YEARS of GRACE are taken out of the fit (as if the record began
after them) and its non-test months there are scored against GRACE instead of the validation months.

    .venv/bin/python tools/compare_lstm_options.py [--results results] [--configfile config/config.yaml] \\
        [--model LSTMwb] [--variant name key=value ...] [--backcast YEARS]

A variant's `hp.<name>=value` replaces that hyperparameter of every region (e.g. `hp.window=24`), the rest being
models.* keys.

Prints, per variant, the median over cells of NSE and RMSE on the validation months, and of the parts of NSE:
r (timing), alpha (amplitude: std ratio) and |beta| (level: mean error over the observed std); and the median NSE
per aridity class of the run's evaluation (nse_A, nse_SA, nse_SH, nse_H), where it has one.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from twsrecon.config import validate
from twsrecon.evaluation.metrics import nse, pearson_r
from twsrecon.evaluation.tables import aridity_labels
from twsrecon.periods import VAL
from twsrecon.reconstruction.fitting import backcast, fit_cells, region_arrays
from twsrecon.reconstruction.hyperparameters import Hyperparameters
from twsrecon.reconstruction.training import TrainSettings

VARIANTS = {"config": {}, "trend_hold": {"trend": "hold"}, "start_regional": {"start": "regional"}}


def nse_parts(sim: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Timing, amplitude and level of each cell's validation months: r, alpha = std(sim)/std(obs) and
    beta = (mean(sim) - mean(obs))/std(obs), with NSE = 2 alpha r - alpha**2 - beta**2 (the amplitude/level
    check: an NSE well below r**2 is alpha or beta, not timing)."""
    ok = np.isfinite(sim) & np.isfinite(obs)
    s, o = np.where(ok, sim, np.nan), np.where(ok, obs, np.nan)
    so = np.nanstd(o, axis=1)
    return pearson_r(s, o), np.nanstd(s, axis=1) / so, (np.nanmean(s, axis=1) - np.nanmean(o, axis=1)) / so


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default="results")
    ap.add_argument("--configfile", default="config/config.yaml")
    ap.add_argument("--model", default="LSTMwb")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--variant", nargs="+", action="append", default=[],
                    help="a named variant of your own: NAME key=value ... (models.* keys, YAML values)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--backcast", type=int, default=0, metavar="YEARS",
                    help="score each cell's first YEARS of GRACE, left out of the fit, instead of validation months")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    config = yaml.safe_load(open(args.configfile))
    validate(config, "workflow/schemas/config.schema.yaml")
    variants = {v: VARIANTS[v] for v in args.variants}
    for name, *pairs in args.variant:
        variants[name] = {k: yaml.safe_load(v) for k, v in (p.split("=", 1) for p in pairs)}
    results = Path(args.results)
    regions = []
    for path in sorted((results / "hyperparameters" / args.model).glob("*.json")):
        hp_file = json.loads(path.read_text())
        if not hp_file.get("excluded") and hp_file.get("hyperparameters"):
            regions.append((path.stem, Hyperparameters.from_dict(hp_file["hyperparameters"])))
    labels = None  # the aridity classes from the forcings (the evaluation's, no truth), where the run has them
    if (aridity := results / "evaluation" / "aridity.nc").exists():
        labels = aridity_labels(aridity)[0].ravel()
    rows = []
    for name, change in variants.items():
        models = config["models"] | {k: v for k, v in change.items() if not k.startswith("hp.")}
        hp_change = {k[3:]: v for k, v in change.items() if k.startswith("hp.")}
        start, scores, classes = time.perf_counter(), [], []
        for region, hp in regions:
            hp = dataclasses.replace(hp, **hp_change)
            cells = region_arrays(results / "regions" / f"{region}.nc", results / "split" / f"{region}.nc", args.model)
            y, flags, judged = (backcast(cells.y, cells.flags, args.backcast) if args.backcast
                                else (cells.y, cells.flags, cells.flags == VAL))
            res = fit_cells(cells.x, y, flags, cells.ds["cell"].values, hp, args.model,
                            fits=models["fits"], seed=config["seed"], settings=TrainSettings.from_params(models),
                            include_current=models["include_current_month"], combine=models["combine_fits"],
                            trend=models["trend"], start=models["start"])
            sim, obs = np.where(judged, res.prediction, np.nan), np.where(judged, cells.y, np.nan)
            scores.append(np.stack([nse(sim, obs), np.sqrt(np.nanmean((sim - obs) ** 2, axis=1)),
                                    *nse_parts(sim, obs)], 1))
            if labels is not None:
                classes.append(labels[cells.ds["cell"].values])
        s = np.concatenate(scores)
        med = np.nanmedian(s, axis=0)
        rows.append({"variant": name, "model": args.model, "regions": len(regions), "cells": int(np.isfinite(s[:, 0]).sum()),
                     "median_nse": float(med[0]), "median_rmse": float(med[1]), "median_r": float(med[2]),
                     "median_alpha": float(med[3]), "median_abs_beta": float(np.nanmedian(np.abs(s[:, 4]))),
                     "seconds": round(time.perf_counter() - start, 1)})
        if classes:  # median NSE per class: a level error of the dry cells hides in the median of all
            cls = np.concatenate(classes)
            rows[-1] |= {f"nse_{c}": float(np.nanmedian(s[cls == c, 0])) for c in np.unique(cls) if c}
        print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1), flush=True)


if __name__ == "__main__":
    main()
