"""The ensemble product: per cell, the reconstructions and the BCNN gap fills weighted by their skill on the
stored split's validation months, with a spread.

Weights are inverse mean squared errors against GRACE (Bates & Granger 1969), per cell and never from test
months, gap months or a truth. Two sets, because the members are out-of-sample on different months:

- everywhere but GRACE's unobserved months: the reconstructions only, weighted on all validation months;
- the GRACE-era months without GRACE (the gap, missing months): the reconstructions and the BCNN production
  fits. A BCNN fit has seen every GRACE month, so its weight comes from its *evaluation* fit on the
  validation months inside that fit's test period (EVALUATION["test"]: months it never trained on), and the
  reconstructions' weights there from the same months, so every member is judged on the same months.

The spread is the weighted mixture's standard deviation: the members' disagreement, plus the BCNN's own
predictive variance where it is a member.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..data.timeaxis import month_start
from ..periods import EVALUATION, VAL, in_periods

ENSEMBLE = "ensemble"
MIN_MONTHS = 6  # validation months a weight needs; with fewer, the members of a cell weigh equally


def _on(da: xr.DataArray, time: pd.DatetimeIndex) -> np.ndarray:
    """(time, lat, lon) values on `time`, NaN where `da` has no month."""
    da = da.assign_coords(time=month_start(da["time"].values)).reindex(time=time)
    return da.transpose("time", "lat", "lon").values.astype(np.float64)


def inverse_mse_weights(members: np.ndarray, observed: np.ndarray, months: np.ndarray,
                        min_months: int = MIN_MONTHS) -> np.ndarray:
    """Weights (M, H, W) summing to 1 over the members with an error, from members (M, T, H, W) against
    `observed` (T, H, W) on the months where `months` (T, H, W) holds. A member without `min_months` such
    months gets no weight where another has them; where none has, the members weigh equally."""
    err = np.where(months[None], members - observed[None], np.nan)
    n = np.isfinite(err).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mse = np.nansum(err**2, axis=1) / n
    ok = (n >= min_months) & (mse > 0)
    w = np.where(ok, 1.0 / np.where(ok, mse, 1.0), 0.0)
    has = np.isfinite(members).any(1)
    none = ~ok.any(0)
    w = np.where(none[None] & has, 1.0, w)
    total = w.sum(0)
    return np.where(total > 0, w / np.where(total > 0, total, 1.0), 0.0)


def combine(members: np.ndarray, weights: np.ndarray, variances: np.ndarray | None = None):
    """Weighted mean and mixture standard deviation (T, H, W) of members (M, T, H, W) where a member is
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
    w_recon = inverse_mse_weights(r, observed, val, min_months)
    mean, spread = combine(r, w_recon)

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
        w_gap = inverse_mse_weights(judged, observed, out_of_sample, min_months)
        members = np.concatenate([r, np.stack(fits)])
        variances = np.concatenate([np.zeros_like(r), np.stack(stds) ** 2])
        g_mean, g_spread = combine(members, w_gap, variances)
        # GRACE-era months GRACE did not observe, where a BCNN production fit predicts
        unobserved = ~np.isfinite(observed) & np.isfinite(np.stack(fits)).any(0)
        mean = np.where(unobserved, g_mean, mean)
        spread = np.where(unobserved, g_spread, spread)
    return _dataset(coords, time, mean, spread, names, w_recon, [f"BCNN_{s}" for s in sets], w_gap, unobserved)


def _dataset(coords, time, mean, spread, names, w_recon, bcnn_names, w_gap, unobserved) -> xr.Dataset:
    ds = coords.copy().assign_coords(time=("time", time, {"standard_name": "time", "long_name": "time",
                                                          "axis": "T"}))
    common = {"units": "cm", "grid_mapping": "crs"}
    ds["twsa"] = (("time", "lat", "lon"), mean.astype(np.float32), {
        **common, "long_name": "terrestrial water storage anomaly, skill-weighted ensemble mean"})
    ds["twsa_spread"] = (("time", "lat", "lon"), spread.astype(np.float32), {
        **common, "long_name": "ensemble standard deviation (members' spread, plus the BCNN's predictive variance "
                               "where it is a member)"})
    ds["member"] = ("member", names, {"long_name": "reconstruction members"})
    ds["weight"] = (("member", "lat", "lon"), w_recon.astype(np.float32), {
        "units": "1", "grid_mapping": "crs",
        "long_name": "weight of each reconstruction: inverse validation-month MSE against GRACE, normalised"})
    ds["uses_bcnn"] = (("time", "lat", "lon"), unobserved.astype(np.int8), {
        "long_name": "month without GRACE where the BCNN gap fills are members", "flag_values": np.array([0, 1], np.int8),
        "flag_meanings": "reconstructions_only with_bcnn", "grid_mapping": "crs"})
    if w_gap is not None:
        ds["gap_member"] = ("gap_member", names + bcnn_names, {"long_name": "members in months without GRACE"})
        ds["gap_weight"] = (("gap_member", "lat", "lon"), w_gap.astype(np.float32), {
            "units": "1", "grid_mapping": "crs",
            "long_name": "weight of each member in months without GRACE: inverse MSE on the validation months of "
                         "the BCNN evaluation fit's test period"})
    ds.attrs.update(title="Skill-weighted ensemble of the TWSA reconstructions and BCNN gap fills",
                    weighting="inverse mean squared error against GRACE on the stored split's validation months "
                              "(never test months, gap months or a truth)")
    return ds
