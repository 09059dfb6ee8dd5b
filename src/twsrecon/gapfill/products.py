"""The BCNN's products: the gap-filled record (GRACE where observed, BCNN elsewhere), its scores on the test
months and, where a true TWSA exists (the demo world), its skill against it."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..evaluation.baselines import decimal_years, linear_trend, trend_values
from ..evaluation.metrics import Z95, nrmse, nse, pearson_r
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
    sel = data.test[:, None, None] & data.scored_mask
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
    # the interval is the TWSA's: against GRACE it leaves room for GRACE's stated error
    observed_std = std_cm if data.obs_error is None else np.hypot(std_cm, np.nan_to_num(data.obs_error))
    inside = np.abs(obs - mean_cm) <= Z95 * observed_std
    with np.errstate(invalid="ignore", divide="ignore"):
        cover = np.where(sel, inside, False).sum(0) / sel.sum(0)
    out["coverage95"] = (("lat", "lon"), np.where(sel.sum(0) > 0, cover, np.nan),
                         {"long_name": "share of test observations inside the 95 % predictive interval (of a GRACE "
                                       "observation: the TWSA's and GRACE's stated error combined)",
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
