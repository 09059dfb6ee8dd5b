"""Scoring every product per cell and period, and the tables a hydrologist reads before trusting them.

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

from .aridity import CLASSES, class_names
from .baselines import climatology_baseline, decimal_years, linear_trend, trend_plus_season
from .ensemble import ENSEMBLE
from .errors import InputError
from .features import holdout_months
from .periods import EVALUATION, GAP, PRE_GRACE, TEST, TRAIN, VAL, in_periods
from .metrics import score
from .regions import MODEL_TYPES, REGIONS
from .timeaxis import month_start

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
LENGTH_TO_CM = {"cm": 1.0, "mm": 0.1, "m": 100.0}


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


def score_periods(sims: dict[str, xr.DataArray], refs: dict[str, xr.DataArray],
                  masks: dict[str, xr.DataArray]) -> xr.Dataset:
    """Per-cell metrics of each period: `sims[p]` against `refs[p]` on the months where `masks[p]`."""
    parts = []
    for period, mask in masks.items():
        sim, ref = sims.get(period), refs.get(period)
        if sim is None or ref is None:
            continue
        sim, ref, mask = xr.align(sim, ref, mask, join="inner")
        s = score(sim.where(mask), ref.where(mask), metrics=METRICS)
        s["months"] = (sim.notnull() & ref.notnull() & mask).sum("time").where(s["r"].notnull(), 0)
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
    grid = _read(cube, "twsa", "lat_bnds", "lon_bnds", "crs")
    grace = grid["twsa"]
    coords = grid[["lat_bnds", "lon_bnds", "crs"]].drop_attrs(deep=False)
    time = pd.DatetimeIndex(grace["time"].values)
    true = on_time(_field(truth, "twsa"), time) if truth else None

    flags, design = None, ""
    if kind != "bcnn":  # one stored split for every reconstruction, baseline and external product
        stored = _read(split, "split")
        flags = split_on(stored["split"], time)
        design = split_design(stored.attrs)
    if kind == "reconstruction":
        sims = dict.fromkeys([*GRACE_PERIODS, *TRUTH_PERIODS], _field(reconstruction, "twsa"))
        description = f"GR*Ai*CE {product} reconstruction"
    elif kind == "ensemble":
        sims = dict.fromkeys([*GRACE_PERIODS, *TRUTH_PERIODS], _field(ensemble, "twsa"))
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
            design = BCNN_DESIGN
        if production:
            sims.update(dict.fromkeys(TRUTH_PERIODS, _field(production, "twsa_bcnn")))
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

    scores = score_periods(sims, refs, masks)
    if log is not None:
        for period in scores["period"].values:
            s = scores.sel(period=period)
            log.info("%s %-12s cells %5d  median r %.3f  nse %.3f", product, period, int(s["r"].notnull().sum()),
                     float(s["r"].median()), float(s["nse"].median()))
    return score_dataset(scores, coords, product, description, design)


# --- external products ----------------------------------------------------------------------------------


def read_external(path, variable: str | None, grid, *, time_units: str | None = None,
                  units: str | None = None) -> xr.DataArray:
    """Any TWSA netCDF on a regular lat/lon grid, any CF time encoding, as monthly cm on the analysis grid."""
    from .grid import regrid
    from .io.netcdf import open_input, select_field

    ds = open_input(path, decode_times=False)
    da = select_field(ds, path, variable, 3, "evaluation.external.<name>.variable")
    variable = da.name
    tdim = next((d for d in da.dims if d not in ("lat", "lon")), None)
    if set(da.dims) - {"lat", "lon"} != {tdim} or da.ndim != 3:
        raise InputError(path, f"expected dims (time, lat, lon), found {da.dims}", variable)
    t = ds[tdim]
    t_units = time_units or t.attrs.get("units")
    if not t_units or "since" not in t_units:
        raise InputError(path, f"time coordinate '{tdim}' has no CF units ('<unit> since <date>'); "
                               "give evaluation.external.<name>.time_units", variable)
    try:
        times = xr.coding.times.decode_cf_datetime(t.values, t_units, t.attrs.get("calendar", "standard"))
    except Exception as err:
        raise InputError(path, f"cannot decode time '{t_units}': {err}", variable) from err
    unit = (units or da.attrs.get("units", "")).strip()
    if unit not in LENGTH_TO_CM:
        raise InputError(path, f"units '{unit}' are not a water thickness (cm, mm or m); "
                               "give evaluation.external.<name>.units if the file lacks them", variable)
    da = da.rename({tdim: "time"}).assign_coords(time=month_start(times))
    da = (da.astype(np.float64) * LENGTH_TO_CM[unit]).groupby("time").mean()  # two stamps in one month: mean
    out = regrid(da, grid, path=path, require_cover=False)
    out.name = "twsa"
    return out


def external_dataset(settings: dict, path, name: str, grid) -> xr.Dataset:
    """An external product's file (`settings`: evaluation.external.<name>) as a TWSA file on the analysis `grid`."""
    da = read_external(path, settings.get("variable"), grid, time_units=settings.get("time_units"),
                       units=settings.get("units"))
    ds = grid.coords()
    ds["twsa"] = da.assign_attrs(units="cm", standard_name="lwe_thickness", grid_mapping="crs",
                                 long_name=f"TWSA of the external product {name}")
    ds = ds.assign_coords(time=("time", da["time"].values, {"standard_name": "time", "axis": "T"}))
    return ds.assign_attrs(title=f"External TWSA product {name}", source=str(path))


# --- aggregation ------------------------------------------------------------------------------------------


def read_scores(paths) -> dict[str, xr.Dataset]:
    out = {}
    for path in paths:
        with xr.open_dataset(path) as ds:
            out[ds.attrs["product"]] = ds.load()
    return out


def region_labels(koppen_path) -> tuple[np.ndarray, tuple[str, ...]]:
    """The GR*Ai*CE region name of every analysis cell ('' outside the 28 regions), and their order."""
    with xr.open_dataset(koppen_path) as ds:
        cls = ds["kg_class"].values.astype(int)
    name_of = {c: n for n, c in REGIONS.items()}
    names = np.array([""] + [name_of.get(c, "") for c in range(1, 31)], dtype=object)
    return names[np.clip(cls, 0, 30)], tuple(REGIONS)


def aridity_labels(aridity_path) -> tuple[np.ndarray, tuple[str, ...]]:
    with xr.open_dataset(aridity_path) as ds:
        codes = ds["aridity_class"].values
    return class_names(codes), CLASSES


def medians(scores: dict[str, xr.Dataset], labels: np.ndarray, order, group: str) -> pd.DataFrame:
    """Median of each metric per group, product and period (Mo et al. 2022, Table 1), plus 'all'."""
    rows = []
    flat = labels.ravel()
    for product, ds in scores.items():
        for period in ds["period"].values:
            values = {m: ds[m].sel(period=period).values.ravel() for m in METRICS}
            scored = np.isfinite(values["r"])
            for name in (*order, "all"):
                sel = scored & ((flat == name) if name != "all" else (flat != ""))
                if not sel.any():
                    continue
                row = {group: name, "product": product, "period": str(period), "cells": int(sel.sum())}
                if "months" in ds:
                    row["median_months"] = float(np.median(ds["months"].sel(period=period).values.ravel()[sel]))
                row.update({m: float(np.nanmedian(values[m][sel])) for m in METRICS})
                rows.append(row)
    cols = [group, "product", "period", "cells", "median_months", *METRICS]
    return pd.DataFrame(rows, columns=cols)


def comparison_pairs(products) -> list[tuple[str, str, str]]:
    """(what, A, B) pairs: SIF vs noSIF, LSTM vs BiLSTM, each model vs the baselines and the BCNN."""
    p = list(products)
    pairs = []
    for a in ("LSTM", "BiLSTM"):
        if a in p and f"{a}noSIF" in p:
            pairs.append(("SIF vs noSIF", a, f"{a}noSIF"))
    for suffix in ("", "noSIF"):
        if f"LSTM{suffix}" in p and f"BiLSTM{suffix}" in p:
            pairs.append(("LSTM vs BiLSTM", f"LSTM{suffix}", f"BiLSTM{suffix}"))
    models = [m for m in p if m in MODEL_TYPES or m == ENSEMBLE]
    bcnns = [b for b in p if b.startswith("BCNN_")]
    for m in models + bcnns:
        for b in BASELINES:
            if b in p:
                pairs.append(("model vs baseline", m, b))
    for m in models:
        for b in bcnns:
            pairs.append(("reconstruction vs BCNN", m, b))
    return pairs


def compare(scores: dict[str, xr.Dataset], pairs) -> pd.DataFrame:
    """Per pair, period and metric: medians, median of the per-cell difference, share of cells A wins.

    Against GRACE, two products are compared only where they share a held-out design (the stored split):
    a BCNN test period and a reconstruction's test months are other months, not a comparison.
    """
    rows = []
    for what, a, b in pairs:
        sa, sb = scores[a], scores[b]
        same_design = sa.attrs.get("held_out_design") == sb.attrs.get("held_out_design")
        for period in sorted(set(sa["period"].values) & set(sb["period"].values)):
            if period in GRACE_PERIODS and not same_design:
                continue
            na = sa["months"].sel(period=period).values.ravel()
            nb = sb["months"].sel(period=period).values.ravel()
            for m in METRICS:
                va = sa[m].sel(period=period).values.ravel()
                vb = sb[m].sel(period=period).values.ravel()
                ok = np.isfinite(va) & np.isfinite(vb)
                if not ok.any():
                    continue
                better = va[ok] < vb[ok] if m in ("rmse", "nrmse") else va[ok] > vb[ok]
                rows.append({"comparison": what, "a": a, "b": b, "period": str(period), "metric": m,
                             "cells": int(ok.sum()), "months_a": int(na[ok].sum()), "months_b": int(nb[ok].sum()),
                             "same_months": bool(np.array_equal(na[ok], nb[ok])),
                             "median_a": float(np.median(va[ok])),
                             "median_b": float(np.median(vb[ok])),
                             "median_difference": float(np.median(va[ok] - vb[ok])),
                             "share_a_better": float(better.mean())})
    return pd.DataFrame(rows, columns=["comparison", "a", "b", "period", "metric", "cells", "months_a", "months_b",
                                       "same_months", "median_a", "median_b", "median_difference", "share_a_better"])


def scored_months(scores: dict[str, xr.Dataset]) -> pd.DataFrame:
    """Per product and period: its held-out design, the cells and cell-months it was scored on."""
    rows = []
    for product, ds in scores.items():
        for period in ds["period"].values:
            n = ds["months"].sel(period=period).values.ravel()
            n = n[n > 0]
            rows.append({"product": product, "period": str(period),
                         "months_and_reference": PERIOD_LONG.get(str(period), str(period)),
                         "held_out_design": ds.attrs.get("held_out_design", ""),
                         "cells": int(n.size), "cell_months": int(n.sum()),
                         "median_months_per_cell": float(np.median(n)) if n.size else 0.0})
    return pd.DataFrame(rows, columns=["product", "period", "months_and_reference", "held_out_design", "cells",
                                       "cell_months", "median_months_per_cell"])


def external_agreement(external: xr.DataArray, products: dict[str, xr.DataArray], labels: np.ndarray,
                       order) -> pd.DataFrame:
    """An external product scored against each of ours, per region, over the months both cover."""
    rows = []
    for name, ours in products.items():
        s = score(external, ours, metrics=METRICS)  # aligned on the months both have
        both = (external.notnull() & ours.notnull())
        months = int(both.any(("lat", "lon")).sum()) if both.size else 0
        ds = s.expand_dims(period=["overlap"])
        table = medians({name: ds}, labels, order, "region")
        table["months"] = months
        rows.append(table.rename(columns={"product": "reference"}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


# --- the trend effect of the gap ----------------------------------------------------------------------------


def gap_trends(grace: xr.DataArray, filled: xr.DataArray) -> xr.Dataset:
    """Linear trend per cell over the GRACE era with the gap left open (observed months only) and filled."""
    time = pd.DatetimeIndex(filled["time"].values)
    grace = on_time(grace, time)
    years = decimal_years(time)
    everything = np.ones((len(time),) + filled.shape[1:], bool)
    open_, _ = linear_trend(grace.values.astype(np.float64), years, everything)
    full, _ = linear_trend(filled.values.astype(np.float64), years, everything)
    ds = xr.Dataset()
    attrs = {"units": "cm a-1", "grid_mapping": "crs"}
    ds["trend_open"] = (("lat", "lon"), open_.astype(np.float32),
                        {**attrs, "long_name": "linear TWSA trend, GRACE months only (gap left open)"})
    ds["trend_filled"] = (("lat", "lon"), full.astype(np.float32),
                          {**attrs, "long_name": "linear TWSA trend of the gap-filled record"})
    ds["trend_difference"] = (("lat", "lon"), (full - open_).astype(np.float32),
                              {**attrs, "long_name": "trend filled minus trend with the gap open"})
    ds.attrs.update(period=f"{time[0]:%Y-%m}...{time[-1]:%Y-%m}")
    return ds


def regional_mean(da: xr.DataArray, cells: np.ndarray) -> xr.DataArray:
    """Area-weighted (cos lat) mean over the cells where `cells` is true."""
    w = np.cos(np.deg2rad(da["lat"])) * xr.DataArray(cells, dims=("lat", "lon"), coords={"lat": da.lat, "lon": da.lon})
    return da.weighted(w.fillna(0)).mean(("lat", "lon"))


class RegionalBand:
    """A product's regional mean and the standard deviation of that mean under the two bounding assumptions."""

    def __init__(self, name: str, mean: xr.DataArray, std_independent: xr.DataArray, std_correlated: xr.DataArray):
        self.name, self.mean, self.std_independent, self.std_correlated = name, mean, std_independent, std_correlated


def regional_std(std: xr.DataArray, cells: np.ndarray, *, correlated: bool) -> xr.DataArray:
    """Standard deviation of the area-weighted regional mean from the cells' predictive standard deviations.

    With weights w_i (cos lat, over the cells with a value): independent cell errors give
    sqrt(sum w_i^2 s_i^2) / sum w_i, a lower bound where errors correlate positively in space; fully
    correlated ones give sum w_i s_i / sum w_i, the upper bound. The truth lies between.
    """
    w = np.cos(np.deg2rad(std["lat"])) * xr.DataArray(cells, dims=("lat", "lon"), coords={"lat": std.lat, "lon": std.lon})
    w = w.where(np.isfinite(std), 0.0)
    total = w.sum(("lat", "lon"))
    s = std.fillna(0.0)
    out = (w * s).sum(("lat", "lon")) if correlated else np.sqrt((w**2 * s**2).sum(("lat", "lon")))
    return (out / total).where(total > 0)


def regional_series(region: str, koppen, cube, reconstructions, gap_products, truth):
    """The series of the regional time-series figure: area-weighted regional means of each reconstruction,
    the BCNN gap fill (with the standard deviation of its regional mean, both bounds) and the demo truth;
    GRACE apart. Returns (series by name, RegionalBand or None, GRACE)."""
    from pathlib import Path

    labels, _ = region_labels(koppen)
    cells = labels == region

    def read(path, *names):
        with xr.open_dataset(path) as ds:
            return [ds[name].load() for name in names]

    series = {Path(p).stem: regional_mean(*read(p, "twsa"), cells) for p in reconstructions}
    band = None
    for path in gap_products:  # none when the gap fill is off
        mean, std = read(path, "twsa_bcnn", "twsa_bcnn_std")
        band = RegionalBand("BCNN", regional_mean(mean, cells), regional_std(std, cells, correlated=False),
                            regional_std(std, cells, correlated=True))
        series["BCNN"] = band.mean
    for path in ([truth] if isinstance(truth, str) else truth):
        series["truth (demo)"] = regional_mean(*read(path, "twsa"), cells)
    grace = regional_mean(*read(cube, "twsa"), cells).rename("GRACE")
    return series, band, grace


def summary_table(scores: dict[str, xr.Dataset], periods, metrics=("r", "nse")) -> pd.DataFrame:
    """Median over all cells of each metric per product (rows) and period (columns 'PCC test', ...)."""
    short = {"r": "PCC", "nse": "NSE", "kge": "KGE", "rmse": "RMSE", "nrmse": "NRMSE"}
    rows = {}
    for product, ds in scores.items():
        row = {}
        for period in periods:
            for m in metrics:
                values = ds[m].sel(period=period).values if period in ds["period"].values else np.array([np.nan])
                row[f"{short[m]} {period}"] = float(np.nanmedian(values)) if np.isfinite(values).any() else np.nan
        rows[product] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def truth_skill_table(scores: dict[str, xr.Dataset], classes: np.ndarray, order) -> pd.DataFrame:
    """The demo's skill benchmark: median skill of every product against the true TWSA per aridity class
    (and over all cells), by period, then class; the products keep the workflow's order."""
    truth_scores = {p: ds.sel(period=[x for x in ds["period"].values if x in TRUTH_PERIODS])
                    for p, ds in scores.items()}
    table = medians(truth_scores, classes, order, "aridity_class")
    table["period"] = pd.Categorical(table["period"], list(TRUTH_PERIODS))
    table["aridity_class"] = pd.Categorical(table["aridity_class"], [*order, "all"])
    return table.sort_values(["period", "aridity_class"], kind="stable")
