"""Compare BCNN settings on GRACE validation months only: the evaluation fit of each variant, scored on the
stored split's validation months inside the fit's test period (months it never trained on; the split's
test months, the gap and any truth are never read). How the demo's gapfill.overrides were chosen
(docs/method.md). Each variant changes the config's settings of a set (its overrides included).
`--experiment production` scores the production fit without the validation months (what
gapfill.calibration: validation fits first; every variant is run so) on all of them instead: months between
observed ones, as the gap is.

    .venv/bin/python tools/compare_bcnn_options.py [--results results] [--configfile config/config.yaml] \\
        [--sets all noSIF paper] [--experiment evaluation] [--variant name key=value ...]

Prints, per variant and predictor set, the median over cells of NSE and RMSE on those months and the share
of them inside the 95 % interval.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import pandas as pd
import torch
import xarray as xr
import yaml

from twsrecon.config import validate
from twsrecon.evaluation.metrics import nse
from twsrecon.evaluation.scores import bcnn_split, observation_interval, on_time, split_on
from twsrecon.gapfill.experiment import BCNNSettings, run_bcnn
from twsrecon.periods import VAL

VARIANTS = {
    "config": {},
    "pixel_noise": {"noise": "pixel"},
    "latitude": {"latitude_weighting": True},
    "plateau": {"lr_schedule": "plateau"},
    "cell_scaling": {"target_scaling": "cell"},
    "epochs_x3": {"epochs": "x3"},
}


def validation_scores(product: xr.Dataset, grace: xr.DataArray, split: xr.DataArray,
                      experiment: str = "evaluation", grace_error: xr.DataArray | None = None) -> dict:
    time = pd.DatetimeIndex(product["time"].values)
    obs = on_time(grace, time)
    stored = split_on(split, time)
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
    return {"cells": int(np.isfinite(cell_nse).sum()), "months": int(ok.any((1, 2)).sum()),
            "median_nse": float(np.nanmedian(cell_nse)), "median_rmse": float(np.nanmedian(rmse)),
            "coverage95": float(inside.mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default="results")
    ap.add_argument("--configfile", default="config/config.yaml")
    ap.add_argument("--sets", nargs="*", default=None)
    ap.add_argument("--experiment", choices=["evaluation", "production"], default="evaluation")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--variant", nargs="+", action="append", default=[],
                    help="a named variant of your own: NAME key=value ... (YAML values)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (gapfill.threads)")
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
    rows = []
    for name, change in variants.items():
        for pset in args.sets or list(g["predictor_sets"]):
            params = g | g["overrides"].get(pset, {})  # the config's settings of this set, as the workflow's
            for key, value in change.items():
                params[key] = params[key] * 3 if value == "x3" else value
            settings = BCNNSettings.from_params(params)
            if args.experiment == "production":  # its first fit holds out exactly the validation months
                settings = dataclasses.replace(settings, calibration="validation")
            start = time.perf_counter()
            run = run_bcnn(cube, ice, g["predictor_sets"][pset], args.experiment, pset, settings,
                           seed=config["seed"], split=split)
            rows.append({"variant": name, "predictors": pset,
                         **validation_scores(run.product if args.experiment == "evaluation" else run.held_out,
                                             cube["twsa"], split, args.experiment, cube.get("twsa_uncertainty")),
                         "seconds": round(time.perf_counter() - start, 1)})
            print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1), flush=True)
    table = pd.DataFrame(rows)
    print("\nmedian over the predictor sets:")
    print(table.groupby("variant", sort=False)[["median_nse", "median_rmse", "coverage95"]].median().to_string())


if __name__ == "__main__":
    main()
