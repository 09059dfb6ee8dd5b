"""Scoring every product per cell and period (the tables made of the scores: `tables`).

A product is a monthly TWSA field on the analysis grid. Each is scored against GRACE on its held-out
design: the reconstructions, baselines and external products all on the one stored per-cell split
(results/split/split.nc), so their comparisons are on the same months by construction; the BCNN on its
evaluation fit's training and test periods. Where a true TWSA exists (the demo world), every product is
also scored against the truth before GRACE (1984-2001) and in the mission gap. Scores are NaN where a
product has no values for a period; medians skip NaN; every score counts the months it used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..data.timeaxis import month_start
from ..periods import EVALUATION, GAP, PRE_GRACE, TEST, TRAIN, VAL, in_periods
from ..reconstruction.features import holdout_months
from .baselines import climatology_baseline, trend_plus_season
from .metrics import Z95, score

METRICS = ("r", "nse", "kge", "rmse", "nrmse")
GRACE_PERIODS = {"train": TRAIN, "validation": VAL, "test": TEST}
TRUTH_PERIODS = {"pre_grace": PRE_GRACE, "gap": GAP}
AGREEMENT_PERIOD = "gap_vs_bcnn"
PERIOD_LONG = {
    "train": "training months, against GRACE",
    "validation": "validation months, against GRACE",
    "test": "held-out test months, against GRACE",
    "holdout": "the split.holdout block (test months of every cell), against GRACE",
    "pre_grace": "1984-2001, against the true TWSA (demo world)",
    "gap": "GRACE/GRACE-FO gap 2017-07...2018-05, against the true TWSA (demo world)",
    AGREEMENT_PERIOD: "gap months, against the BCNN gap fill (agreement, not skill)",
}
BASELINES = ("climatology", "trend_season")
BCNN_DESIGN = ("BCNN evaluation fit: trained on " + ", ".join("...".join(p) for p in EVALUATION["train"])
               + "; validated and tested on " + ", ".join("...".join(p) for p in EVALUATION["test"])
               + " (observed months; validation: the stored split's validation months there)")


def split_design(attrs) -> str:
    """The stored split's settings, as a product's score file and the tables state them."""
    return (f"stored per-cell split: chunks of {attrs.get('split_chunk_months')} GRACE months, seed "
            f"{attrs.get('split_seed')}, fractions {attrs.get('split_fractions')}, "
            f"holdout {attrs.get('split_holdout', 'none')}")


def on_time(da: xr.DataArray, time: pd.DatetimeIndex, fill=np.nan) -> xr.DataArray:
    return da.assign_coords(time=month_start(da["time"].values)).reindex(time=time, fill_value=fill)


def split_on(split: xr.DataArray, time: pd.DatetimeIndex) -> xr.DataArray:
    """A reconstruction's split flags (on its `grace_time` axis) on the evaluation's time axis, 0 elsewhere."""
    return on_time(split.rename(grace_time="time"), time, fill=0).astype(np.int8)


def holdout_mask(split: xr.DataArray, spans) -> xr.DataArray:
    """The months of the split.holdout block that are test months (all of them, where GRACE observed)."""
    block = holdout_months(split["time"].values, spans)
    return (split == TEST) & xr.DataArray(block, dims="time", coords={"time": split["time"]})


def bcnn_split(time: pd.DatetimeIndex, grace: xr.DataArray, stored: xr.DataArray | None = None) -> xr.DataArray:
    """The BCNN evaluation fit's design as split flags: training and test periods of observed months. With the
    `stored` per-cell split (on `time`), its validation months inside the test period are the BCNN's
    validation months (the fit never trained on them; options are compared there), the rest its test months."""
    flags = np.zeros(len(time), np.int8)
    flags[in_periods(time, EVALUATION["train"])] = TRAIN
    flags[in_periods(time, EVALUATION["test"]) & (flags == 0)] = TEST
    f = xr.DataArray(flags, dims="time", coords={"time": time})
    if stored is not None:
        f = xr.where((f == TEST) & (stored == VAL), VAL, f)
    return f.where(grace.notnull(), 0).astype(np.int8)


def baselines(grace: xr.DataArray, split: xr.DataArray) -> dict[str, xr.DataArray]:
    """Monthly climatology and GRACE trend + seasonal cycle, fit per cell on its training months."""
    time = pd.DatetimeIndex(grace["time"].values)
    obs = grace.transpose("time", "lat", "lon").values.astype(np.float64)
    train = split.transpose("time", "lat", "lon").values == TRAIN
    t, h, w = obs.shape
    clim = climatology_baseline(obs.reshape(t, -1).T, np.where(train, TRAIN, 0).reshape(t, -1).T, time)
    trend = trend_plus_season(np.where(train, obs, np.nan), time, np.ones(t, bool))
    land = np.isfinite(obs).any(0)[None]
    out = {}
    for name, values in (("climatology", clim.T.reshape(t, h, w)), ("trend_season", trend)):
        out[name] = grace.copy(data=np.where(land, values, np.nan).astype(np.float32))
    return out


def observation_interval(std: xr.DataArray, obs_error: xr.DataArray | None) -> xr.DataArray:
    """The standard deviation of a GRACE observation a product predicts: the product's own (of the TWSA) and
    GRACE's stated error combined, for scoring the interval's coverage against GRACE (months without a stated
    error add none)."""
    if obs_error is None:
        return std
    std = std.assign_coords(time=month_start(std["time"].values))
    return np.hypot(std, on_time(obs_error, pd.DatetimeIndex(std["time"].values)).fillna(0.0))


def score_periods(sims: dict[str, xr.DataArray], refs: dict[str, xr.DataArray],
                  masks: dict[str, xr.DataArray], stds: dict[str, xr.DataArray] | None = None) -> xr.Dataset:
    """Per-cell metrics of each period: `sims[p]` against `refs[p]` on the months where `masks[p]`; where the
    product has a standard deviation (`stds[p]`), the share of those months inside mean ± 1.96 std too."""
    parts = []
    for period, mask in masks.items():
        sim, ref = sims.get(period), refs.get(period)
        if sim is None or ref is None:
            continue
        sim, ref, mask = xr.align(sim, ref, mask, join="inner")
        s = score(sim.where(mask), ref.where(mask), metrics=METRICS)
        s["months"] = (sim.notnull() & ref.notnull() & mask).sum("time").where(s["r"].notnull(), 0)
        if stds and period in stds:
            std = stds[period].reindex_like(sim)
            both = sim.notnull() & ref.notnull() & std.notnull() & mask
            n = both.sum("time")
            s["coverage95"] = ((np.abs(sim - ref) <= Z95 * std) & both).sum("time") / n.where(n > 0)
        parts.append(s.expand_dims(period=[period]))
    if not parts:
        raise ValueError("no period to score")
    return xr.concat(parts, dim="period")


def truth_masks(time: pd.DatetimeIndex) -> dict[str, xr.DataArray]:
    return {p: xr.DataArray(in_periods(time, [span]), dims="time", coords={"time": time})
            for p, span in TRUTH_PERIODS.items()}


def score_dataset(scores: xr.Dataset, coords: xr.Dataset, product: str, description: str,
                  design: str = "") -> xr.Dataset:
    ds = coords.copy()
    ds = ds.assign_coords(period=("period", scores["period"].values, {"long_name": "months and reference scored"}))
    long = {"r": "Pearson correlation (PCC)", "nse": "Nash-Sutcliffe efficiency", "kge": "Kling-Gupta efficiency",
            "rmse": "root mean square error", "nrmse": "RMSE normalised by the reference's range"}
    for m in METRICS:
        ds[m] = (("period", "lat", "lon"), scores[m].transpose("period", "lat", "lon").values.astype(np.float32),
                 {"long_name": f"{long[m]} of {product}", "units": "cm" if m == "rmse" else "1",
                  "grid_mapping": "crs"})
    if "coverage95" in scores:
        ds["coverage95"] = (("period", "lat", "lon"),
                            scores["coverage95"].transpose("period", "lat", "lon").values.astype(np.float32),
                            {"long_name": f"share of the months scored inside the 95 % interval of {product} "
                                          "(mean +- 1.96 standard deviations)", "units": "1", "grid_mapping": "crs"})
    ds["months"] = (("period", "lat", "lon"), scores["months"].transpose("period", "lat", "lon").values.astype(np.int32),
                    {"long_name": f"months scored per cell (product, reference and period all present)",
                     "units": "1", "grid_mapping": "crs"})
    ds["period_description"] = ("period", [PERIOD_LONG[p] for p in ds["period"].values])
    ds.attrs.update(title=f"Per-cell skill of {product}", product=product, product_description=description,
                    held_out_design=design or "none: scored against the truth only")
    return ds


def _read(path, *names) -> xr.Dataset:
    """The variables `names` of one file, read once."""
    with xr.open_dataset(path) as ds:
        return ds[list(names)].load()


def _field(path, name) -> xr.DataArray:
    return _read(path, name)[name]


def score_product(kind: str, product: str, *, cube, truth=None, split=None, reconstruction=None, evaluation=None,
                  production=None, external=None, gap_product=None, ensemble=None, holdout=None,
                  log=None) -> xr.Dataset:
    """The score file of one product (paths in, the dataset out): its simulations, references, masks per period.

    `kind` is reconstruction, ensemble, baseline, external or bcnn; each scores against GRACE on the stored split (the BCNN
    on its own evaluation design), against the demo truth where there is one (`truth`), and a reconstruction
    against the BCNN gap fill too (`gap_product`). `holdout`: the split.holdout spans, scored as one more period.
    """
    with xr.open_dataset(cube) as c:
        stated = "twsa_uncertainty" in c
    grid = _read(cube, "twsa", "lat_bnds", "lon_bnds", "crs", *(["twsa_uncertainty"] if stated else []))
    grace = grid["twsa"]
    grace_error = grid["twsa_uncertainty"] if stated else None
    coords = grid[["lat_bnds", "lon_bnds", "crs"]].drop_attrs(deep=False)
    time = pd.DatetimeIndex(grace["time"].values)
    true = on_time(_field(truth, "twsa"), time) if truth else None

    flags, design = None, ""
    if kind != "bcnn":  # one stored split for every reconstruction, baseline and external product
        stored = _read(split, "split")
        flags = split_on(stored["split"], time)
        design = split_design(stored.attrs)
    stds = {}  # a product's standard deviation, where it has one: its interval's coverage is scored
    if kind == "reconstruction":
        sims = dict.fromkeys([*GRACE_PERIODS, *TRUTH_PERIODS], _field(reconstruction, "twsa"))
        description = f"GR*Ai*CE {product} reconstruction"
    elif kind == "ensemble":
        sims = dict.fromkeys([*GRACE_PERIODS, *TRUTH_PERIODS], _field(ensemble, "twsa"))
        stds = dict.fromkeys(sims, _field(ensemble, "twsa_spread"))
        description = ("skill-weighted ensemble of the reconstructions and BCNN gap fills (weights from validation "
                       "months; its validation scores are in-sample)")
    elif kind == "bcnn":
        sims = {}
        if evaluation:
            fit = _field(evaluation, "twsa_bcnn")
            fit_time = pd.DatetimeIndex(fit["time"].values)
            stored = split_on(_read(split, "split")["split"], fit_time) if split else None
            flags = bcnn_split(fit_time, on_time(grace, fit["time"].values), stored)
            flags = on_time(flags, time, fill=0).astype("int8")
            sims.update(dict.fromkeys(GRACE_PERIODS, fit))
            stds.update(dict.fromkeys(GRACE_PERIODS, _field(evaluation, "twsa_bcnn_std")))
            design = BCNN_DESIGN
        if production:
            sims.update(dict.fromkeys(TRUTH_PERIODS, _field(production, "twsa_bcnn")))
            stds.update(dict.fromkeys(TRUTH_PERIODS, _field(production, "twsa_bcnn_std")))
        description = (f"BCNN mean with predictors {product.removeprefix('BCNN_')}: evaluation fit on its test "
                       "period against GRACE, production fit against the truth")
    else:
        if kind == "baseline":
            sim = baselines(grace, flags)[product]
            description = f"{product} baseline fit on the training months of the stored split"
        else:
            sim = _field(external, "twsa")
            description = f"external product {product}, regridded to the analysis grid"
        sims = dict.fromkeys([*GRACE_PERIODS, *TRUTH_PERIODS], sim)

    refs, masks = {}, {}
    if flags is not None:
        for period, flag in GRACE_PERIODS.items():
            refs[period], masks[period] = grace, flags == flag
        if kind != "bcnn" and holdout:  # how skill holds on one contiguous block
            sims["holdout"] = sims["test"]
            refs["holdout"], masks["holdout"] = grace, holdout_mask(flags, holdout)
    if true is not None:
        for period, mask in truth_masks(time).items():
            refs[period], masks[period] = true, mask
    if kind == "reconstruction" and gap_product:
        bcnn = _field(gap_product, "twsa")
        refs[AGREEMENT_PERIOD] = bcnn
        masks[AGREEMENT_PERIOD] = xr.DataArray(in_periods(pd.DatetimeIndex(bcnn["time"].values), [GAP]), dims="time",
                                               coords={"time": bcnn["time"]})
        sims[AGREEMENT_PERIOD] = sims["test"]

    # against GRACE, an interval of the TWSA must leave room for GRACE's own error; against the truth, not
    stds = {p: observation_interval(v, grace_error) if p in GRACE_PERIODS else v for p, v in stds.items()}
    scores = score_periods(sims, refs, masks, stds)
    if log is not None:
        for period in scores["period"].values:
            s = scores.sel(period=period)
            log.info("%s %-12s cells %5d  median r %.3f  nse %.3f", product, period, int(s["r"].notnull().sum()),
                     float(s["r"].median()), float(s["nse"].median()))
    return score_dataset(scores, coords, product, description, design)
