"""TWSA trends over the GRACE era with and without the gap filled, and the regional mean series (with the BCNN's
uncertainty band) of the time-series figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .baselines import decimal_years, linear_trend
from .scores import on_time
from .tables import region_labels

# --- the trend effect of the gap ----------------------------------------------------------------------------


def gap_trend(grace: xr.DataArray, filled: xr.DataArray) -> xr.Dataset:
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
