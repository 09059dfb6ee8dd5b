"""The baselines every product must beat, and the per-cell linear trend they and the BCNN share.

Both baselines are fit per cell on the months a caller marks (training months), never on test months.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..periods import TRAIN


def decimal_years(time: pd.DatetimeIndex) -> np.ndarray:
    return time.year.to_numpy() + (time.month.to_numpy() - 0.5) / 12.0


def linear_trend(values: np.ndarray, years: np.ndarray, use: np.ndarray):
    """Least-squares slope and intercept per cell over the months where `use` (T, H, W) and data are true."""
    ok = use & np.isfinite(values)
    n = ok.sum(0)
    t = np.broadcast_to(years[:, None, None], values.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        tm = np.where(ok, t, 0).sum(0) / n
        ym = np.where(ok, values, 0).sum(0) / n
        dt = np.where(ok, t - tm, 0)
        slope = (dt * np.where(ok, values - ym, 0)).sum(0) / (dt**2).sum(0)
    slope = np.where(n >= 2, slope, np.nan)
    return slope, ym - slope * tm


def trend_values(slope, intercept, years):
    return slope[None] * years[:, None, None] + intercept[None]


def trend_plus_season(observed: np.ndarray, time: pd.DatetimeIndex, fit: np.ndarray) -> np.ndarray:
    """The GRACE "trend + seasonal cycle" baseline: linear trend and mean monthly anomaly per cell."""
    years = decimal_years(time)
    use = fit[:, None, None] & np.isfinite(observed)
    slope, intercept = linear_trend(observed, years, use)
    trend = trend_values(slope, intercept, years)
    resid = observed - trend
    out = trend.copy()
    month = time.month.to_numpy()
    for m in range(1, 13):
        sel = month == m
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a cell without that calendar month: no cycle
            clim = np.nanmean(np.where(use & sel[:, None, None], resid, np.nan), axis=0)
        out[sel] += np.nan_to_num(clim)[None]
    return out


def monthly_means(values: np.ndarray, use: np.ndarray, month: np.ndarray) -> np.ndarray:
    """(C, 12) each cell's mean of `values` (C, T) per month of the year (`month`, 0-11) over the months `use`;
    NaN for a month of the year it has none of."""
    out = np.full((values.shape[0], 12), np.nan)
    for m in range(12):
        sel = (month == m)[None, :] & use
        with np.errstate(invalid="ignore"):
            out[:, m] = np.nansum(np.where(sel, values, 0.0), 1) / sel.sum(1)
    return out


def climatology_baseline(observed: np.ndarray, flags: np.ndarray, time: pd.DatetimeIndex) -> np.ndarray:
    """Each cell's mean TWSA per calendar month over its training months."""
    month = time.month.to_numpy() - 1
    return monthly_means(observed, flags == TRAIN, month)[:, month]


