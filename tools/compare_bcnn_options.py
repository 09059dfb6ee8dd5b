"""Compare BCNN settings on GRACE validation months only: the evaluation fit of each variant, scored on the
stored split's validation months inside the fit's test period (months it never trained on; the split's
test months, the gap and any truth are never read). How the demo's gapfill.overrides were chosen
(docs/method.md). Each variant changes the config's settings of a set (its overrides included).
`--experiment production` scores the production fit without the validation months (what
gapfill.calibration: validation fits first; every variant is run so) on all of them instead: months between
observed ones, as the gap is. `--experiment windows` scores the production fit without the gap-like windows
(gapfill.calibration: windows, every variant run so) on those windows: 11-month holes between observed months,
the gap's shape; how gapfill.anchor was chosen.

    .venv/bin/python tools/compare_bcnn_options.py [--results results] [--configfile config/config.yaml] \\
        [--sets all noSIF paper] [--experiment evaluation] [--variant name key=value ...]

Prints, per variant and predictor set, the median over cells of NSE and RMSE on those months and the share
of them inside the 95 % interval.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np
import pandas as pd
import torch
import xarray as xr
import yaml

from twsrecon.config import validate
from twsrecon.evaluation.metrics import nse
from twsrecon.evaluation.scores import bcnn_split, observation_interval, on_time, split_on
from twsrecon.evaluation.tables import aridity_labels
from twsrecon.gapfill.experiment import BCNNSettings, anchor_to_edges, run_bcnn, window_holdout
from twsrecon.periods import VAL

VARIANTS = {
    "config": {},
    "pixel_noise": {"noise": "pixel"},
    "latitude": {"latitude_weighting": True},
    "plateau": {"lr_schedule": "plateau"},
    "cell_scaling": {"target_scaling": "cell"},
    "epochs_x3": {"epochs": "x3"},
    "anchor_edges": {"anchor": "edges"},
    "anchor_shrunk": {"anchor": "shrunk"},
}


def validation_scores(product: xr.Dataset, grace: xr.DataArray, split: xr.DataArray,
                      experiment: str = "evaluation", grace_error: xr.DataArray | None = None,
                      calibration_months: int = 11, dry: np.ndarray | None = None) -> dict:
    time = pd.DatetimeIndex(product["time"].values)
    obs = on_time(grace, time)
    stored = split_on(split, time)
    if experiment == "windows":
        months = window_holdout(stored.transpose("time", "lat", "lon").values, calibration_months)
    else:
        flags = bcnn_split(time, obs, stored) if experiment == "evaluation" else stored
        months = (flags == VAL).transpose("time", "lat", "lon").values
    sim = product["twsa_bcnn"].transpose("time", "lat", "lon").values.astype(float)
    # the interval of a GRACE value: the TWSA's and GRACE's stated error
    std = observation_interval(product["twsa_bcnn_std"], grace_error)
    std = std.transpose("time", "lat", "lon").values.astype(float)
    o = obs.transpose("time", "lat", "lon").values.astype(float)
    ok = months & np.isfinite(sim) & np.isfinite(o)
    s, r = np.where(ok, sim, np.nan), np.where(ok, o, np.nan)
    cell_nse = nse(np.moveaxis(s, 0, -1), np.moveaxis(r, 0, -1))
    rmse = np.sqrt(np.nanmean((s - r) ** 2, axis=0))
    inside = np.abs(sim - o)[ok] <= 1.96 * std[ok]
    out = {"cells": int(np.isfinite(cell_nse).sum()), "months": int(ok.any((1, 2)).sum()),
           "median_nse": float(np.nanmedian(cell_nse)), "median_rmse": float(np.nanmedian(rmse)),
           "coverage95": float(inside.mean())}
    if dry is not None:  # one interval factor fits the pooled months: do the dry cells' months fall inside too?
        in_dry = np.broadcast_to(dry, ok.shape)[ok]
        out.update({"dry_cells": int(np.isfinite(cell_nse[dry]).sum()),
                    "dry_median_nse": float(np.nanmedian(cell_nse[dry])),
                    "dry_coverage95": float(inside[in_dry].mean()), "humid_coverage95": float(inside[~in_dry].mean())})
    return out


def anchored_record(record: xr.Dataset, cube: xr.Dataset, split: xr.DataArray, settings: BCNNSettings,
                    months: int) -> xr.Dataset:
    """The windows fit's held-out record with its mean tied to the GRACE months it saw (all but the windows)
    at each hole's edges, as gapfill.anchor: edges would make it (its interval stays the fit's)."""
    time = pd.DatetimeIndex(record["time"].values)
    obs = on_time(cube["twsa"], time).transpose("time", "lat", "lon").values.astype(float)
    held = window_holdout(split_on(split, time).transpose("time", "lat", "lon").values, settings.calibration_months)
    mean = record["twsa_bcnn"].transpose("time", "lat", "lon").values.astype(float)
    seen = np.isfinite(obs) & np.isfinite(mean) & ~held
    out = record.copy()
    out["twsa_bcnn"] = (("time", "lat", "lon"), anchor_to_edges(mean, obs, seen, months)[0])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default="results")
    ap.add_argument("--configfile", default="config/config.yaml")
    ap.add_argument("--sets", nargs="*", default=None)
    ap.add_argument("--experiment", choices=["evaluation", "production", "windows"], default="evaluation")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--variant", nargs="+", action="append", default=[],
                    help="a named variant of your own: NAME key=value ... (YAML values)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (gapfill.threads)")
    ap.add_argument("--anchor-months", type=int, nargs="*", default=[],
                    help="with --experiment windows: also score each variant's held-out record (anchor none) "
                         "tied to the edges of its holes by this many months (gapfill.anchor: edges), no refit")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    config = yaml.safe_load(open(args.configfile))
    validate(config, "workflow/schemas/config.schema.yaml")
    g = config["gapfill"]
    variants = {v: VARIANTS[v] for v in args.variants}
    for name, *pairs in args.variant:
        variants[name] = {k: yaml.safe_load(v) for k, v in (p.split("=", 1) for p in pairs)}
    with xr.open_dataset(f"{args.results}/cube/cube.nc") as c:
        cube = c.load()
    with xr.open_dataset(f"{args.results}/regions/koppen_classes.nc") as k:
        ice = np.isin(k["kg_class"].values, g["ice_classes"])
    with xr.open_dataset(f"{args.results}/split/split.nc") as s:
        split = s["split"].load()
    dry = None  # the aridity classes from the forcings (the evaluation's, no truth): below humid is dry
    if os.path.exists(aridity := f"{args.results}/evaluation/aridity.nc"):
        labels, _ = aridity_labels(aridity)
        dry = (labels != "") & (labels != "H")
    rows = []
    for name, change in variants.items():
        for pset in args.sets or list(g["predictor_sets"]):
            params = g | g["overrides"].get(pset, {})  # the config's settings of this set, as the workflow's
            for key, value in change.items():
                params[key] = params[key] * 3 if value == "x3" else value
            settings = BCNNSettings.from_params(params)
            if args.experiment != "evaluation":  # its first fit holds out exactly the months scored
                settings = dataclasses.replace(
                    settings, calibration="validation" if args.experiment == "production" else "windows")
            start = time.perf_counter()
            run = run_bcnn(cube, ice, g["predictor_sets"][pset], "evaluation" if args.experiment == "evaluation"
                           else "production", pset, settings, seed=config["seed"], split=split)
            rows.append({"variant": name, "predictors": pset,
                         **validation_scores(run.product if args.experiment == "evaluation" else run.held_out,
                                             cube["twsa"], split, args.experiment, cube.get("twsa_uncertainty"),
                                             settings.calibration_months, dry),
                         "seconds": round(time.perf_counter() - start, 1)})
            print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1), flush=True)
            if args.experiment == "windows" and settings.anchor == "none":
                for months in args.anchor_months:  # the anchor only moves a fit's mean: the same fit, re-anchored
                    rows.append({"variant": f"{name}+anchor{months}", "predictors": pset,
                                 **validation_scores(anchored_record(run.held_out, cube, split, settings, months),
                                                     cube["twsa"], split, args.experiment,
                                                     cube.get("twsa_uncertainty"), settings.calibration_months,
                                                     dry)})
                    print(pd.DataFrame(rows[-1:]).to_string(index=False, header=False), flush=True)
    table = pd.DataFrame(rows)
    print("\nmedian over the predictor sets:")
    print(table.groupby("variant", sort=False)[["median_nse", "median_rmse", "coverage95"]].median().to_string())


if __name__ == "__main__":
    main()
