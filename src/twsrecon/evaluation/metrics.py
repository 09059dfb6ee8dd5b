"""Skill metrics along time with NaN masking: a pair counts only where both values are finite.

Every metric returns NaN (never a silent 0) where it is undefined: fewer than `min_pairs` pairs,
a constant observed series (NSE, NRMSE, R) or a constant simulated series (R, KGE).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

MIN_PAIRS = 3


def _pairs(sim, obs, axis):
    sim, obs = np.broadcast_arrays(np.asarray(sim, float), np.asarray(obs, float))
    ok = np.isfinite(sim) & np.isfinite(obs)
    n = ok.sum(axis)
    return np.where(ok, sim, np.nan), np.where(ok, obs, np.nan), n


def _mean(x, axis):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nansum(x, axis) / np.sum(np.isfinite(x), axis)


def _defined(value, n, min_pairs):
    return np.where(n >= min_pairs, value, np.nan)


def pearson_r(sim, obs, axis=-1, min_pairs=MIN_PAIRS):
    s, o, n = _pairs(sim, obs, axis)
    ds = s - np.expand_dims(_mean(s, axis), axis)
    do = o - np.expand_dims(_mean(o, axis), axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.nansum(ds * do, axis) / np.sqrt(np.nansum(ds**2, axis) * np.nansum(do**2, axis))
    return _defined(np.where(np.isfinite(r), r, np.nan), n, min_pairs)


def rmse(sim, obs, axis=-1, min_pairs=MIN_PAIRS):
    s, o, n = _pairs(sim, obs, axis)
    return _defined(np.sqrt(_mean((s - o) ** 2, axis)), n, min_pairs)


def nse(sim, obs, axis=-1, min_pairs=MIN_PAIRS):
    """Nash–Sutcliffe efficiency: 1 − Σ(s−o)² / Σ(o−ō)²."""
    s, o, n = _pairs(sim, obs, axis)
    do = o - np.expand_dims(_mean(o, axis), axis)
    den = np.nansum(do**2, axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = 1.0 - np.nansum((s - o) ** 2, axis) / den
    return _defined(np.where(den > 0, value, np.nan), n, min_pairs)


def kge(sim, obs, axis=-1, min_pairs=MIN_PAIRS):
    """Kling–Gupta efficiency (Gupta et al. 2009) with the variability ratio of standard deviations.

    The mean-bias term uses the ratio of means; for anomalies (means near 0) read it with care.
    """
    s, o, n = _pairs(sim, obs, axis)
    r = pearson_r(s, o, axis, min_pairs)
    ms, mo = _mean(s, axis), _mean(o, axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = np.sqrt(_mean((s - np.expand_dims(ms, axis)) ** 2, axis) /
                        _mean((o - np.expand_dims(mo, axis)) ** 2, axis))
        beta = ms / mo
        value = 1.0 - np.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + (beta - 1) ** 2)
    return _defined(np.where(np.isfinite(value), value, np.nan), n, min_pairs)


def nrmse(sim, obs, axis=-1, min_pairs=MIN_PAIRS):
    """RMSE normalised by the observed range (y_max − y_min), as Mo et al. (2022)."""
    s, o, n = _pairs(sim, obs, axis)
    hi = np.max(np.where(np.isfinite(o), o, -np.inf), axis)
    lo = np.min(np.where(np.isfinite(o), o, np.inf), axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        span = hi - lo
        value = rmse(s, o, axis, min_pairs) / span
    return _defined(np.where(span > 0, value, np.nan), n, min_pairs)


Z95 = 1.959964  # the standard normal's 97.5 % quantile: mean ± Z95·std is the 95 % interval


def coverage_factor(errors: np.ndarray, stds: np.ndarray, noise: np.ndarray | float | None = None,
                    groups: np.ndarray | None = None, level: float = 0.95) -> float:
    """The factor on `stds` that puts `level` of `errors` inside ± Z95·factor·std (split-conformal calibration on
    months the fit or the weights never saw); the pairs where both are finite and the std positive count.

    `noise`: the 1-sigma measurement error of the observations the errors are taken against (GRACE's stated
    uncertainty). An observation is then inside where |error| ≤ Z95·sqrt((factor·std)² + noise²): the
    interval the factor gives is the interval of the true value, not of a noisy observation of it, and the
    months where the noise alone explains the error do not widen it. Without noise, the quantile of |e|/std.

    `groups`: the month of each pair. A month's cells are held out and err together, and the month to cover (a
    gap month) is a new group of them: each month's share of its cells inside counts once, and the level is
    raised by the n months' finite-sample correction, level (n + 1) / n (CDF pooling of Dunn, Wasserman &
    Ramdas 2022, J. Am. Stat. Assoc. 118: 2491); with fewer months than that allows, the largest score."""
    errors, stds = np.broadcast_arrays(np.asarray(errors, float), np.asarray(stds, float))
    # a pair without a stated error has none taken out
    noise = np.nan_to_num(np.broadcast_to(np.asarray(0.0 if noise is None else noise, float), errors.shape))
    ok = np.isfinite(errors) & np.isfinite(stds) & (stds > 0)
    if not ok.any():
        raise ValueError("no month with an error and a positive standard deviation to calibrate the interval on")
    # each observation's score: the smallest factor that covers it
    score = np.sqrt(np.clip((errors[ok] / Z95) ** 2 - noise[ok] ** 2, 0.0, None)) / stds[ok]
    if groups is None:
        return float(np.quantile(score, level))
    _, group, count = np.unique(np.broadcast_to(groups, errors.shape)[ok], return_inverse=True, return_counts=True)
    n = len(count)
    order = np.argsort(score, kind="stable")
    pooled = np.cumsum((1.0 / (count[group] * n))[order])  # the mean of the months' empirical CDFs
    target = min(level * (n + 1) / n, 1.0)
    return float(score[order][min(np.searchsorted(pooled, target - 1e-12), len(score) - 1)])


METRICS = {"r": pearson_r, "nse": nse, "kge": kge, "rmse": rmse, "nrmse": nrmse}


def score(sim: xr.DataArray, obs: xr.DataArray, dim: str = "time", metrics=("r", "nse", "kge", "rmse", "nrmse"),
          min_pairs: int = MIN_PAIRS) -> xr.Dataset:
    """Every metric along `dim` on xarray objects (aligned first), NaN where undefined."""
    sim, obs = xr.align(sim, obs, join="inner")
    out = {}
    for name in metrics:
        out[name] = xr.apply_ufunc(METRICS[name], sim, obs, input_core_dims=[[dim], [dim]],
                                   kwargs={"axis": -1, "min_pairs": min_pairs}, dask="parallelized",
                                   output_dtypes=[float])
    return xr.Dataset(out)
