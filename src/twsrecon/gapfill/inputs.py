"""Inputs and detrending of the BCNN gap filling (Mo et al. 2022), and the BCNN's own grid.

The network sees predictor fields at lags t-2, t-1, t and predicts the detrended TWSA at t. Every
field is detrended with its cell's linear trend fit on the training months with a GRACE observation
(all GRACE months for the production fit), the trend is added back to the prediction, and the loss
only ever sees land cells with an observation: ocean and missing months are masked, never zero-filled.
The fit of an experiment: `experiment`; the gap-filled record and its scores: `products`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..data.derived import predictor_field
from ..data.grid import Grid, Regridder
from ..evaluation.baselines import decimal_years, linear_trend, trend_values
from ..periods import EVALUATION, in_periods


@dataclass
class Standardiser:
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray, axes) -> "Standardiser":
        mean = np.nanmean(values, axis=axes, keepdims=True)
        std = np.nanstd(values, axis=axes, keepdims=True)
        return cls(mean, np.where(std > 0, std, 1.0))

    @classmethod
    def per_cell(cls, values: np.ndarray, min_months: int = 3) -> "Standardiser":
        """Mean and spread of each cell over time (T, H, W) -> (1, H, W). The network's noise precision is in
        these units, so the interval in cm follows each cell's own variability (one global scale makes it
        as wide in a desert as in a rainforest). Cells with fewer than `min_months` values take the global
        scale (and a zero mean), so no cell is scaled by a spread it cannot estimate."""
        pooled = cls.fit(values, axes=None)
        n = np.isfinite(values).sum(0, keepdims=True)
        with warnings.catch_warnings():  # cells without a value (ocean): replaced below
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(values, axis=0, keepdims=True)
            std = np.nanstd(values, axis=0, keepdims=True)
        enough = (n >= min_months) & (std > 0)
        return cls(np.where(enough, mean, 0.0), np.where(enough, std, pooled.std))

    def transform(self, x):
        return (x - self.mean) / self.std

    def inverse(self, x):
        return x * self.std + self.mean


@dataclass
class GapfillData:
    """Everything one BCNN fit needs, on the months of the GRACE era."""

    time: pd.DatetimeIndex
    x: np.ndarray  # (T, n_pred * n_lags, H, W), standardised, 0 outside land
    y: np.ndarray  # (T, H, W) standardised detrended TWSA, NaN where not observed
    observed: np.ndarray  # (T, H, W) GRACE TWSA (cm), NaN where missing
    mask: np.ndarray  # (T, H, W) land and observed
    land: np.ndarray  # (H, W)
    train: np.ndarray  # (T,) training months
    test: np.ndarray  # (T,) test months (evaluation experiment)
    trend: np.ndarray  # (T, H, W) TWSA trend (cm), added back to predictions
    target_scaler: Standardiser
    channels: list
    ice: np.ndarray | None = None  # (H, W) ice-sheet cells: out of the loss, the scores and the BCNN field
    holdout: np.ndarray | None = None  # (T, H, W) observed cell-months the fit never sees (gapfill.calibration)
    obs_error: np.ndarray | None = None  # (T, H, W) GRACE's stated 1-sigma uncertainty (cm) where observed

    @property
    def scored_mask(self) -> np.ndarray:
        """Observed land without the ice sheets: where the fit is judged."""
        return self.mask if self.ice is None else self.mask & ~self.ice[None]

    @property
    def loss_mask(self) -> np.ndarray:
        """The cells the likelihood sees: observed land, ice sheets and held-out months left out."""
        return self.scored_mask if self.holdout is None else self.scored_mask & ~self.holdout


@dataclass
class BcnnGrid:
    """The BCNN's own grid (Mo et al.: 60°S–84°N at 1°) and the conservative remaps between it and the
    analysis grid. `identity` when the two coincide (the demo): nothing is remapped."""

    grid: Grid
    rows: np.ndarray  # analysis rows inside the domain
    to_bcnn: Regridder | None
    to_analysis: Regridder | None

    @property
    def identity(self) -> bool:
        return self.to_bcnn is None

    def coarsen(self, cube: xr.Dataset) -> xr.Dataset:
        """Every (…, lat, lon) variable of the cube, area-weighted onto the BCNN grid (a coarse cell
        needs half its area covered by finite fine cells)."""
        sub = cube.isel(lat=self.rows)
        if self.identity:
            return sub
        out = xr.Dataset(coords={"time": cube["time"]}).assign_coords(self.grid.latlon())
        for name, da in sub.data_vars.items():
            if da.dims[-2:] == ("lat", "lon"):
                values = da.values.astype(np.float64)
                if name == "land_mask":
                    values = np.where(np.isfinite(values), values, 0.0)
                out[name] = (da.dims, self.to_bcnn._apply(values))
        if "land_mask" in out:
            out["land_mask"] = out["land_mask"] >= 0.5
        return out

    def coarsen_mask(self, mask: np.ndarray) -> np.ndarray:
        """A boolean analysis-grid map (…, lat, lon) on the BCNN grid: true where it covers half a cell."""
        sub = np.asarray(mask, bool)[..., self.rows, :]
        return sub if self.identity else self.to_bcnn._apply(sub.astype(np.float64)) >= 0.5

    def refine(self, field: np.ndarray, n_lat: int) -> np.ndarray:
        """A BCNN-grid field (…, h, w) back on the analysis grid (…, n_lat, W): each analysis cell takes
        the area-weighted value of the BCNN cells it overlaps (first-order conservative); NaN outside
        the domain."""
        inner = field if self.identity else self.to_analysis._apply(field)
        out = np.full(field.shape[:-2] + (n_lat, inner.shape[-1]), np.nan, dtype=inner.dtype)
        out[..., self.rows, :] = inner
        return out


def bcnn_grid(lat: np.ndarray, lon: np.ndarray, resolution_deg: float, domain: dict | None) -> BcnnGrid:
    """The BCNN grid for analysis cell centres lat, lon (ascending, regular): the rows inside
    `domain` (lat_min, lat_max), on cells of `resolution_deg` aligned to multiples of it. Finer than the
    analysis grid is an error: the BCNN never sees more detail than the data has."""
    from ..data.grid import edges_from_centres

    lat_e, lon_e = edges_from_centres(lat, name="latitude"), edges_from_centres(lon, name="longitude")
    res = float(np.median(np.diff(lat)))
    r = float(resolution_deg)
    if r < res - 1e-9:
        raise ValueError(f"gapfill.resolution {r:g} deg is finer than the analysis grid ({res:g} deg)")
    lo = max(lat_e[0], float(domain["lat_min"])) if domain else lat_e[0]
    hi = min(lat_e[-1], float(domain["lat_max"])) if domain else lat_e[-1]
    rows = np.flatnonzero((lat > lo) & (lat < hi))
    if not rows.size:
        raise ValueError(f"gapfill.domain lat {lo:g}..{hi:g} holds no cell of the analysis grid "
                         f"({lat_e[0]:g}..{lat_e[-1]:g})")
    f_lo, f_hi = lat_e[rows[0]], lat_e[rows[-1] + 1]
    snap = lambda v, f: float(f(v / r - 1e-9 if f is np.ceil else v / r + 1e-9) * r)  # noqa: E731
    grid = Grid(r, snap(f_lo, np.floor), snap(f_hi, np.ceil), snap(lon_e[0], np.floor), snap(lon_e[-1], np.ceil))
    fine = Grid(res, float(f_lo), float(f_hi), float(lon_e[0]), float(lon_e[-1]))
    if (abs(r - res) < 1e-9 and np.allclose(grid.lat_edges, fine.lat_edges)
            and np.allclose(grid.lon_edges, fine.lon_edges)):
        return BcnnGrid(grid, rows, None, None)
    to_bcnn = Regridder.build(lat[rows], lon, grid, require_cover=False)
    to_analysis = Regridder.build(grid.lat, grid.lon, fine, min_coverage=1e-6)
    return BcnnGrid(grid, rows, to_bcnn, to_analysis)


def prepare_gapfill(cube: xr.Dataset, predictors: list[str], lags: list[int], experiment: str,
                    ice: np.ndarray | None = None, inputs: bool = True, target_scaling: str = "global",
                    holdout: np.ndarray | None = None) -> GapfillData:
    """The BCNN's inputs and targets on the cube's grid; `ice` (H, W) marks ice-sheet cells (left out of
    the loss and the scores); `inputs=False` skips the predictor images (scoring on the analysis grid).
    `target_scaling`: the detrended target standardised with one mean and spread for the whole grid
    ("global", the published code's choice) or per cell ("cell"), on the training months.
    `holdout` (time, H, W) on the cube's months: cell-months whose TWSA neither the loss, nor the trend,
    nor the target's scaling sees (the stored split's validation months, to calibrate the interval on)."""
    twsa = cube["twsa"].values.astype(np.float64)
    all_time = pd.DatetimeIndex(cube["time"].values)
    has = np.isfinite(twsa).any((1, 2))
    first, last = np.flatnonzero(has)[[0, -1]]
    if first < max(lags):
        raise ValueError(f"the cube starts too late for lag {max(lags)} before the first GRACE month")
    era = slice(first, last + 1)
    time = all_time[era]
    years_all = decimal_years(all_time)
    land = np.isfinite(twsa).any(0)
    if "land_mask" in cube:
        land &= cube["land_mask"].values.astype(bool)
    observed = np.where(land[None], twsa[era], np.nan)
    if experiment == "evaluation":
        train = in_periods(time, EVALUATION["train"])
        test = in_periods(time, EVALUATION["test"]) & ~train
    elif experiment == "production":
        train, test = np.ones(len(time), bool), np.zeros(len(time), bool)
    else:
        raise ValueError(f"unknown experiment {experiment!r}: evaluation or production")
    fit_months = np.zeros(len(all_time), bool)
    fit_months[era] = train
    use = fit_months[:, None, None] & np.isfinite(twsa) & land[None]
    held = np.zeros(twsa.shape, bool) if holdout is None else np.asarray(holdout, bool) & use

    slope, intercept = linear_trend(twsa, years_all, use & ~held)
    trend = trend_values(slope, intercept, years_all[era])
    detrended = observed - trend
    train_target = np.where(train[:, None, None] & ~held[era], detrended, np.nan)
    if target_scaling == "cell":
        target_scaler = Standardiser.per_cell(train_target)
    elif target_scaling == "global":
        target_scaler = Standardiser.fit(train_target, axes=None)
    else:
        raise ValueError(f"unknown gapfill.target_scaling {target_scaling!r}: cell or global")
    y = target_scaler.transform(detrended)

    channels, fields = [], []
    for p in (predictors if inputs else []):
        v = predictor_field(cube, p)
        s, i = linear_trend(v, years_all, use)
        d = v - trend_values(s, i, years_all)
        sc = Standardiser.fit(np.where(fit_months[:, None, None] & land[None], d, np.nan), axes=None)
        d = np.where(land[None] & np.isfinite(d), sc.transform(d), 0.0)
        for lag in lags:
            fields.append(d[first - lag:last + 1 - lag])
            channels.append(f"{p}(t-{lag})" if lag else f"{p}(t)")
    x = np.stack(fields, axis=1).astype(np.float32) if fields else np.zeros((len(time), 0) + land.shape, np.float32)
    mask = land[None] & np.isfinite(observed)
    obs_error = None
    if "twsa_uncertainty" in cube:
        obs_error = np.where(mask, cube["twsa_uncertainty"].values[era].astype(np.float64), np.nan)
    return GapfillData(time, x, y.astype(np.float32), observed, mask, land, train, test, trend, target_scaler,
                       channels, None if ice is None else np.asarray(ice, bool) & land,
                       None if holdout is None else held[era] & mask, obs_error)
