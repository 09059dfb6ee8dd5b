"""The ensemble product: per cell, the reconstructions and the BCNN gap fills weighted by their skill on the
stored split's validation months, with a spread.

Weights are powers of inverse mean squared errors against GRACE (power 1: Bates & Granger 1969), per cell
and never from test months, gap months or a truth; the power (how much the best member dominates) is
chosen by cross-validation on the validation months themselves (`choose_power`). Two sets, because the members are out-of-sample on different months:

- everywhere but GRACE's unobserved months: the reconstructions only, weighted on all validation months;
- the GRACE-era months without GRACE (the gap, missing months): the reconstructions and the BCNN production
  fits. A BCNN fit has seen every GRACE month, so its weight comes from its *evaluation* fit on the
  validation months inside that fit's test period (EVALUATION["test"]: months it never trained on), and the
  reconstructions' weights there from the same months, so every member is judged on the same months.

The spread is the weighted mixture's standard deviation: the members' disagreement, plus each member's own
variance where the BCNN is a member (the BCNN's calibrated predictive variance, gapfill.calibration; a
reconstruction's error variance on the months its gap weight comes from, `error_variance`). Where only
reconstructions are members, their disagreement is scaled to cover 95 % of the validation months
(`spread_factor`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr

from ..data.timeaxis import month_start
from ..periods import EVALUATION, VAL, in_periods
from .metrics import coverage_factor

ENSEMBLE = "ensemble"
MIN_MONTHS = 6  # validation months a weight needs; with fewer, the members of a cell weigh equally


def _on(da: xr.DataArray, time: pd.DatetimeIndex) -> np.ndarray:
    """(time, lat, lon) values on `time`, NaN where `da` has no month."""
    da = da.assign_coords(time=month_start(da["time"].values)).reindex(time=time)
    return da.transpose("time", "lat", "lon").values.astype(np.float64)


# Candidate sharpness of the weights, w ∝ MSE^-power: 0 weighs the members equally, 1 is Bates & Granger's
# inverse MSE, inf keeps each cell's best member only. The ensemble takes the one with the best
# cross-validated skill on the validation months (choose_power).
POWERS = (0.0, 1.0, 2.0, 4.0, np.inf)


def _mse(members: np.ndarray, observed: np.ndarray, months: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each member's mean squared error (M, H, W) against `observed` on the months where `months` holds, and
    how many months that is."""
    err = np.where(months[None], members - observed[None], np.nan)
    n = np.isfinite(err).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nansum(err**2, axis=1) / n, n


def error_variance(members: np.ndarray, observed: np.ndarray, months: np.ndarray, min_months: int = MIN_MONTHS,
                   obs_error: np.ndarray | None = None) -> np.ndarray:
    """Each member's error variance (M, H, W) of the TWSA: its MSE against GRACE on `months` (out of its
    sample), less GRACE's stated error variance there; 0 where fewer than `min_months` months judge it.

    Why: a reconstruction has no interval of its own; in the gap, beside the BCNN fits' calibrated variance,
    it carries the error it makes on months it never trained on."""
    mse, n = _mse(members, observed, months)
    if obs_error is not None:
        with warnings.catch_warnings():  # cells without such months: nothing to take out
            warnings.simplefilter("ignore", RuntimeWarning)
            noise = np.nanmean(np.where(months & np.isfinite(observed), obs_error, np.nan) ** 2, axis=0)
        mse = mse - np.nan_to_num(noise)
    return np.where(n >= min_months, np.clip(np.nan_to_num(mse), 0.0, None), 0.0)


def inverse_mse_weights(members: np.ndarray, observed: np.ndarray, months: np.ndarray,
                        min_months: int = MIN_MONTHS, power: float = 1.0) -> np.ndarray:
    """Weights (M, H, W) summing to 1 over the members with an error, ∝ MSE^-power, from members (M, T, H, W)
    against `observed` (T, H, W) on the months where `months` (T, H, W) holds (power inf: all weight on the
    lowest MSE). A member without `min_months` such months gets no weight where another has them; where
    none has, the members weigh equally."""
    mse, n = _mse(members, observed, months)
    ok = (n >= min_months) & (mse > 0)
    if np.isinf(power):
        best = np.argmin(np.where(ok, mse, np.inf), axis=0)
        w = (np.arange(len(members))[:, None, None] == best[None]) & ok
        w = w.astype(np.float64)
    else:
        # relative to each cell's lowest MSE, so a high power does not underflow
        low = np.min(np.where(ok, mse, np.inf), axis=0)
        w = np.where(ok, (np.where(ok, mse, 1.0) / np.where(np.isfinite(low), low, 1.0)) ** -power, 0.0)
    has = np.isfinite(members).any(1)
    none = ~ok.any(0)
    w = np.where(none[None] & has, 1.0, w)
    total = w.sum(0)
    return np.where(total > 0, w / np.where(total > 0, total, 1.0), 0.0)


def _folds(months: np.ndarray, time: pd.DatetimeIndex):
    """The two (weights from, judged on) folds of `months`: even years' months and odd years', both ways."""
    even = (time.year % 2 == 0)[:, None, None]
    folds = (months & even, months & ~even)
    return folds, folds[::-1]


def spread_factor(members: np.ndarray, observed: np.ndarray, months: np.ndarray, time: pd.DatetimeIndex,
                  power: float, min_months: int = MIN_MONTHS, obs_error: np.ndarray | None = None) -> float:
    """The factor on the ensemble's spread that puts 95 % of the validation months inside mean ± 1.96 spread,
    each month judged with weights from the other fold (the weights never see the months they are judged on).
    `obs_error` (T, H, W): GRACE's stated uncertainty, taken out as in the BCNN's calibration, so the spread is
    that of the TWSA, not of a GRACE observation of it (metrics.coverage_factor).

    Why: the members are alike (one method, one set of predictors each), so their disagreement alone is far
    narrower than the ensemble's error (on the demo, 48 % of the truth inside before 2002)."""
    errors, spreads = [], []
    for fit, judge in _folds(months, time):
        mean, spread = combine(members, inverse_mse_weights(members, observed, fit, min_months // 2 or 1, power))
        errors.append(np.where(judge, mean - observed, np.nan))
        spreads.append(spread)
    errors, spreads = np.concatenate(errors), np.concatenate(spreads)
    if not (np.isfinite(errors) & (spreads > 0)).any():  # one member per cell: no spread to scale
        return np.nan
    month = np.broadcast_to(np.tile(np.arange(len(time)), 2)[:, None, None], errors.shape)
    return coverage_factor(errors, spreads, None if obs_error is None else np.concatenate([obs_error, obs_error]),
                           groups=month)


def choose_power(members: np.ndarray, observed: np.ndarray, months: np.ndarray, time: pd.DatetimeIndex,
                 min_months: int = MIN_MONTHS, powers=POWERS) -> tuple[float, dict]:
    """The weight sharpness with the best two-fold cross-validated skill on `months`: weights from the
    validation months of even years score the odd years' and the other way round (the weights never see the
    months they are judged on). Returns the power and, per candidate, the median over cells of that
    held-out NSE."""
    scores = {}
    for power in powers:
        sse = np.zeros(observed.shape[1:])
        sst = np.zeros(observed.shape[1:])
        for fit, judge in _folds(months, time):
            mean, _ = combine(members, inverse_mse_weights(members, observed, fit, min_months // 2 or 1, power))
            ok = judge & np.isfinite(mean) & np.isfinite(observed)
            o = np.where(ok, observed, np.nan)
            with warnings.catch_warnings():  # cells without a month to judge: no score
                warnings.simplefilter("ignore", RuntimeWarning)
                anomaly = o - np.nanmean(o, axis=0)
            sse += np.where(ok, (mean - observed) ** 2, 0.0).sum(0)
            sst += np.nansum(anomaly**2, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            nse = np.where(sst > 0, 1.0 - sse / sst, np.nan)
        scores[power] = float(np.nanmedian(nse)) if np.isfinite(nse).any() else -np.inf
    return max(scores, key=lambda p: (scores[p], -p)), scores


def combine(members: np.ndarray, weights: np.ndarray, variances: np.ndarray | None = None):
    """Weighted mean and mixture standard deviation (T, H, W) of members (M, T, H, W); where a member is
    missing in a month, the others' weights are renormalised for that month."""
    w = np.where(np.isfinite(members), weights[:, None], 0.0)
    total = w.sum(0)
    ok = total > 0
    w = w / np.where(ok, total, 1.0)
    x = np.nan_to_num(members)
    mean = (w * x).sum(0)
    var = (w * (x - mean[None]) ** 2).sum(0)
    if variances is not None:
        var = var + (w * np.nan_to_num(variances)).sum(0)
    return np.where(ok, mean, np.nan), np.where(ok, np.sqrt(var), np.nan)


def ensemble(cube, split, reconstructions: dict, evaluation: dict, production: dict,
             min_months: int = MIN_MONTHS) -> xr.Dataset:
    """The ensemble on the reconstructions' grid and months (paths in, the dataset out).

    `reconstructions`: model type -> results/reconstruction/<MODEL>.nc; `evaluation`, `production`:
    predictor set -> the BCNN fits' bcnn.nc (either may be empty: then the reconstructions alone).
    """
    with xr.open_dataset(cube) as c:
        grace = c["twsa"].load()
        grace_error = c["twsa_uncertainty"].load() if "twsa_uncertainty" in c else None
        coords = c[["lat_bnds", "lon_bnds", "crs"]].load().drop_attrs(deep=False)
    with xr.open_dataset(split) as s:
        flags = s["split"].load().rename(grace_time="time")
    recon = {}
    for name, path in reconstructions.items():
        with xr.open_dataset(path) as ds:
            recon[name] = ds["twsa"].load()
    time = pd.DatetimeIndex(month_start(next(iter(recon.values()))["time"].values))
    observed = _on(grace, time)
    val = _on(flags, time) == VAL
    names = list(recon)
    r = np.stack([_on(recon[n], time) for n in names])
    power, cv = choose_power(r, observed, val, time, min_months)
    w_recon = inverse_mse_weights(r, observed, val, min_months, power)
    mean, spread = combine(r, w_recon)
    factor = spread_factor(r, observed, val, time, power, min_months,
                           None if grace_error is None else _on(grace_error, time))
    if np.isfinite(factor):
        spread = spread * factor
    chosen = {"weight_power": power, "weight_power_cv_nse": cv, "spread_factor": factor}

    sets = [s for s in production if s in evaluation]
    w_gap = None
    unobserved = np.zeros(mean.shape, bool)
    if sets:
        fits, stds, evals = [], [], []
        for s in sets:
            with xr.open_dataset(production[s]) as ds:
                fits.append(_on(ds["twsa_bcnn"], time))
                stds.append(_on(ds["twsa_bcnn_std"], time))
            with xr.open_dataset(evaluation[s]) as ds:
                evals.append(_on(ds["twsa_bcnn"], time))
        out_of_sample = val & in_periods(time, EVALUATION["test"])[:, None, None]
        judged = np.concatenate([r, np.stack(evals)])
        gap_power, gap_cv = choose_power(judged, observed, out_of_sample, time, min_months)
        w_gap = inverse_mse_weights(judged, observed, out_of_sample, min_months, gap_power)
        chosen |= {"gap_weight_power": gap_power, "gap_weight_power_cv_nse": gap_cv}
        members = np.concatenate([r, np.stack(fits)])
        # every member carries its own error variance: the reconstructions' on the months their weights come from
        recon_var = error_variance(r, observed, out_of_sample, min_months,
                                   None if grace_error is None else _on(grace_error, time))
        variances = np.concatenate([np.broadcast_to(recon_var[:, None], r.shape), np.stack(stds) ** 2])
        g_mean, g_spread = combine(members, w_gap, variances)
        # GRACE-era months GRACE did not observe, where a BCNN production fit predicts
        unobserved = ~np.isfinite(observed) & np.isfinite(np.stack(fits)).any(0)
        mean = np.where(unobserved, g_mean, mean)
        spread = np.where(unobserved, g_spread, spread)
    ds = _dataset(coords, time, mean, spread, names, w_recon, [f"BCNN_{s}" for s in sets], w_gap, unobserved)
    return ds.assign_attrs({k: str(v) for k, v in chosen.items()})


def _dataset(coords, time, mean, spread, names, w_recon, bcnn_names, w_gap, unobserved) -> xr.Dataset:
    ds = coords.copy().assign_coords(time=("time", time, {"standard_name": "time", "long_name": "time",
                                                          "axis": "T"}))
    common = {"units": "cm", "grid_mapping": "crs"}
    ds["twsa"] = (("time", "lat", "lon"), mean.astype(np.float32), {
        **common, "long_name": "terrestrial water storage anomaly, skill-weighted ensemble mean"})
    ds["twsa_spread"] = (("time", "lat", "lon"), spread.astype(np.float32), {
        **common, "long_name": "ensemble standard deviation (members' spread, plus each member's own variance "
                               "where the BCNN is a member)",
        "comment": "where the BCNN is not a member, the reconstructions' spread times spread_factor: the factor "
                   "that puts 95 % of the validation months inside mean +- 1.96 spread against GRACE, each month "
                   "judged with weights from the other fold (even/odd years); GRACE's stated uncertainty, where "
                   "the cube has it, is taken out (the spread is that of the TWSA)"})
    ds["member"] = ("member", names, {"long_name": "reconstruction members"})
    ds["weight"] = (("member", "lat", "lon"), w_recon.astype(np.float32), {
        "units": "1", "grid_mapping": "crs",
        "long_name": "weight of each reconstruction: validation-month MSE against GRACE to the power "
                     "-weight_power, normalised"})
    ds["uses_bcnn"] = (("time", "lat", "lon"), unobserved.astype(np.int8), {
        "long_name": "month without GRACE where the BCNN gap fills are members", "flag_values": np.array([0, 1], np.int8),
        "flag_meanings": "reconstructions_only with_bcnn", "grid_mapping": "crs"})
    if w_gap is not None:
        ds["gap_member"] = ("gap_member", names + bcnn_names, {"long_name": "members in months without GRACE"})
        ds["gap_weight"] = (("gap_member", "lat", "lon"), w_gap.astype(np.float32), {
            "units": "1", "grid_mapping": "crs",
            "long_name": "weight of each member in months without GRACE: MSE^-gap_weight_power on the validation "
                         "months of the BCNN evaluation fit's test period"})
    ds.attrs.update(title="Skill-weighted ensemble of the TWSA reconstructions and BCNN gap fills",
                    weighting="MSE^-power against GRACE on the stored split's validation months, the power chosen "
                              "by two-fold (even/odd years) cross-validation on those months (never test months, "
                              "gap months or a truth)")
    return ds
