"""The BCNN's products: the gap-filled record (GRACE where observed, BCNN elsewhere), its scores on the test
months and, where a true TWSA exists (the demo world), its skill against it."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..evaluation.baselines import decimal_years, linear_trend, trend_plus_season, trend_values
from ..evaluation.metrics import nrmse, nse, pearson_r
from ..periods import GAP, in_periods
from .inputs import GapfillData


def _cells_last(a: np.ndarray) -> np.ndarray:
    """(T, H, W) -> (H, W, T): the metrics run along the last axis."""
    return np.moveaxis(a, 0, -1)


def all_months_trend(data: GapfillData) -> np.ndarray:
    """Each cell's linear TWSA trend (T, H, W, cm) fit on every GRACE month, test months included: how Mo et
    al. (2022) detrended for their Table 1. Only for comparing with it; the fit never sees it."""
    years = decimal_years(data.time)
    slope, intercept = linear_trend(data.observed, years, data.mask)
    return trend_values(slope, intercept, years)


def score_test_months(data: GapfillData, mean_cm: np.ndarray, std_cm: np.ndarray, grid_coords: xr.Dataset) -> xr.Dataset:
    """Per-cell R, NSE, NRMSE on the test months, on the full signal and on the detrended one (the public
    code reported only the trend-inflated full-signal scores), and the 95 % interval's coverage.

    Detrended twice: with the trend the fit used (training months only, `_detrended`) and, to compare with
    the paper's Table 1, with the trend of all GRACE months (`_detrended_all_months`; that trend has seen the
    test months, and it takes more of their variance away: on the demo it gives lower NSE, not higher)."""
    sel = data.test[:, None, None] & data.loss_mask
    obs = np.where(sel, data.observed, np.nan)
    out = grid_coords.copy()
    paper_trend = all_months_trend(data)
    variants = (("", mean_cm, obs, ""),
                ("_detrended", mean_cm - data.trend, obs - data.trend,
                 " (both series detrended with the trend of the training months)"),
                ("_detrended_all_months", mean_cm - paper_trend, obs - paper_trend,
                 " (both series detrended with the trend of all GRACE months, as Mo et al. 2022, Table 1)"))
    for label, sim, ref, how in variants:
        for name, f in (("r", pearson_r), ("nse", nse), ("nrmse", nrmse)):
            out[f"{name}{label}"] = (("lat", "lon"), f(_cells_last(sim), _cells_last(ref)),
                                     {"long_name": f"{name.upper()} on the test months{how}",
                                      "units": "1", "grid_mapping": "crs"})
    inside = np.abs(obs - mean_cm) <= 1.96 * std_cm
    with np.errstate(invalid="ignore", divide="ignore"):
        cover = np.where(sel, inside, False).sum(0) / sel.sum(0)
    out["coverage95"] = (("lat", "lon"), np.where(sel.sum(0) > 0, cover, np.nan),
                         {"long_name": "share of test observations inside the 95 % predictive interval",
                          "units": "1", "grid_mapping": "crs"})
    return out


def product(data: GapfillData, mean_cm: np.ndarray, std_cm: np.ndarray, grid_coords: xr.Dataset,
            experiment: str, predictors: str) -> xr.Dataset:
    """The gap-filled record: BCNN mean and standard deviation for every GRACE-era month, and the
    continuous series with GRACE where it has data and BCNN where it has not."""
    land = data.land[None] if data.ice is None else (data.land & ~data.ice)[None]
    mean = np.where(land, mean_cm, np.nan)
    std = np.where(land, std_cm, np.nan)
    filled = np.where(data.mask, data.observed, mean)
    flag = np.where(data.mask, 0, np.where(np.isfinite(mean), 1, -1)).astype(np.int8)
    gap = in_periods(data.time, [GAP])
    ds = grid_coords.copy().assign_coords(time=("time", data.time, {"standard_name": "time", "axis": "T"}))
    common = {"units": "cm", "grid_mapping": "crs"}
    ds["twsa_bcnn"] = (("time", "lat", "lon"), mean.astype(np.float32), {
        **common, "long_name": "BCNN predictive mean of TWSA (trend added back)"})
    ds["twsa_bcnn_std"] = (("time", "lat", "lon"), std.astype(np.float32), {
        **common, "long_name": "BCNN predictive standard deviation of TWSA (particle spread and noise)"})
    ds["twsa"] = (("time", "lat", "lon"), filled.astype(np.float32), {
        **common, "long_name": "gap-filled TWSA: GRACE/GRACE-FO where observed, BCNN elsewhere"})
    ds["source"] = (("time", "lat", "lon"), flag, {
        "long_name": "origin of twsa", "flag_values": np.array([-1, 0, 1], np.int8),
        "flag_meanings": "no_data grace bcnn", "grid_mapping": "crs"})
    ds["mission_gap"] = ("time", gap.astype(np.int8), {"long_name": "month of the GRACE / GRACE-FO gap",
                                                       "flag_values": np.array([0, 1], np.int8),
                                                       "flag_meanings": "no yes"})
    ds.attrs.update(title=f"BCNN gap filling of GRACE/GRACE-FO TWSA ({experiment} fit, predictors {predictors})",
                    references="Mo et al. (2022), J. Hydrol. 604:127244")
    return ds


def nse_against_truth(data: GapfillData, mean_cm: np.ndarray, truth: np.ndarray, months: np.ndarray):
    """Per-cell NSE of the BCNN and of the GRACE trend + seasonal cycle baseline against a true TWSA
    (the demo world's) over the given months."""
    baseline = trend_plus_season(data.observed, data.time, data.train)
    land = (data.land if data.ice is None else data.land & ~data.ice)[None] & months[:, None, None]
    t = np.where(land, truth, np.nan)
    return (nse(_cells_last(np.where(land, mean_cm, np.nan)), _cells_last(t)),
            nse(_cells_last(np.where(land, baseline, np.nan)), _cells_last(t)))


def truth_summary(data: GapfillData, mean_cm: np.ndarray, truth: np.ndarray, label: str = "", log=None) -> dict:
    """The BCNN against a true TWSA (the demo world's) over the gap and over every unobserved month, next to the
    GRACE trend + seasonal cycle: median NSE of both and the share of cells where the BCNN is better."""
    rows = {}
    unobserved = ~data.mask.any((1, 2))  # the mission gap and every single missing month
    gap = in_periods(data.time, [GAP])
    for name, months in (("gap", gap), ("missing", unobserved)):
        bcnn_nse, base_nse = nse_against_truth(data, mean_cm, truth, months)
        both = np.isfinite(bcnn_nse) & np.isfinite(base_nse)
        share = float((bcnn_nse[both] > base_nse[both]).mean()) if both.any() else np.nan
        rows[f"truth_{name}_median_nse_bcnn"] = float(np.nanmedian(bcnn_nse))
        rows[f"truth_{name}_median_nse_trend_season"] = float(np.nanmedian(base_nse))
        rows[f"truth_{name}_share_cells_bcnn_better"] = share
        if log is not None:
            log.info("%s months vs the demo truth: median NSE BCNN %.3f, trend+season %.3f; BCNN better in %.0f%% "
                     "of cells", name, np.nanmedian(bcnn_nse), np.nanmedian(base_nse), 100 * share)
        # the one line of the demo's benchmark a user sees on the console
        print(f"{label}: BCNN beats GRACE trend+season (NSE vs truth, {name} months) in {100 * share:.0f}% of cells")
    return rows
