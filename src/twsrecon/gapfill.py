"""Inputs, detrending, experiments and products of the BCNN gap filling (Mo et al. 2022).

The network sees predictor fields at lags t-2, t-1, t and predicts the detrended TWSA at t. Every
field is detrended with its cell's linear trend fit on the training months with a GRACE observation
(all GRACE months for the production fit), the trend is added back to the prediction, and the loss
only ever sees land cells with an observation: ocean and missing months are masked, never zero-filled.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
import xarray as xr

from .baselines import decimal_years, linear_trend, trend_values
from .derived import predictor_field
from .grid import Grid, Regridder
from .metrics import nrmse, nse, pearson_r
from .logs import Progress
from .periods import EVALUATION, GAP, in_periods


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

    @property
    def loss_mask(self) -> np.ndarray:
        """The cells the likelihood sees: observed land, ice sheets left out."""
        return self.mask if self.ice is None else self.mask & ~self.ice[None]


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
        """A boolean analysis-grid map (lat, lon) on the BCNN grid: true where it covers half a cell."""
        sub = np.asarray(mask, bool)[self.rows]
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
    from .grid import edges_from_centres

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
                    ice: np.ndarray | None = None, inputs: bool = True, target_scaling: str = "global") -> GapfillData:
    """The BCNN's inputs and targets on the cube's grid; `ice` (H, W) marks ice-sheet cells (left out of
    the loss and the scores); `inputs=False` skips the predictor images (scoring on the analysis grid).
    `target_scaling`: the detrended target standardised with one mean and spread for the whole grid
    ("global", the published code's choice) or per cell ("cell"), on the training months."""
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

    slope, intercept = linear_trend(twsa, years_all, use)
    trend = trend_values(slope, intercept, years_all[era])
    detrended = observed - trend
    train_target = np.where(train[:, None, None], detrended, np.nan)
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
    return GapfillData(time, x, y.astype(np.float32), observed, mask, land, train, test, trend, target_scaler,
                       channels, None if ice is None else np.asarray(ice, bool) & land)


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


def latitude_weights(lat: np.ndarray, n_lon: int) -> np.ndarray:
    """(H, W) cos(latitude), the cells' relative area, with mean 1: a polar cell counts as little as its area."""
    w = np.cos(np.deg2rad(np.asarray(lat, np.float64)))
    return np.repeat((w / w.mean())[:, None], n_lon, axis=1)


def fit_bcnn(data: GapfillData, *, particles: int, n_features: int, epochs: int, learning_rate: float,
             batch_size: int, seed: int, device: str = "cpu", log=None, particle_group: int | None = None,
             checkpoint: bool = False, bf16: bool = False, noise: str = "particle",
             pixel_weights: np.ndarray | None = None, lr_schedule: str = "none"):
    """Train the particle network by SVGD on the training months; predict every month of the era.

    `noise`: one noise precision per particle, or per particle and pixel; `pixel_weights` (H, W): each
    pixel's weight in the likelihood (cos latitude); `lr_schedule` "plateau": the learning rate halves after
    5 epochs without a lower training loss (torch's ReduceLROnPlateau, as the published code).
    `particle_group` particles run forward and backward at a time (memory; same result);
    `checkpoint` and `bf16` (activation checkpointing, bf16 autocast) are CUDA options.
    Returns (mean, std) in cm with the trend added back, and the trainer (for its weights).
    """
    import torch  # only the fit needs torch; the data preparation stays importable without it

    from .bcnn import ParticleCBAMNet, SVGDTrainer

    if (checkpoint or bf16) and torch.device(device).type != "cuda":
        raise ValueError("gapfill.checkpoint and gapfill.bf16 are CUDA options: set gapfill.device: cuda "
                         "or switch them off")
    torch.manual_seed(seed)
    dev = torch.device(device)
    x = torch.tensor(data.x, device=dev)
    y = torch.tensor(np.nan_to_num(data.y), device=dev)
    loss_mask = data.loss_mask
    mask = torch.tensor(loss_mask, device=dev)
    train_months = np.flatnonzero(data.train & loss_mask.any((1, 2)))
    if noise not in ("particle", "pixel"):
        raise ValueError(f"unknown gapfill.noise {noise!r}: particle or pixel")
    if lr_schedule not in ("none", "plateau"):
        raise ValueError(f"unknown gapfill.lr_schedule {lr_schedule!r}: none or plateau")
    net = ParticleCBAMNet(particles, data.x.shape[1], n_features, seed=seed, group_size=particle_group,
                          checkpoint=checkpoint, noise_shape=data.land.shape if noise == "pixel" else None).to(dev)
    weights = None if pixel_weights is None else torch.tensor(pixel_weights, dtype=torch.float32, device=dev)
    trainer = SVGDTrainer(net, n_train=len(train_months), lr=learning_rate, bf16=bf16, pixel_weights=weights)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(trainer.optimizer, factor=0.5, patience=5) \
        if lr_schedule == "plateau" else None
    rng = np.random.default_rng(seed)
    progress = Progress(log, "BCNN", epochs) if log is not None else None
    for epoch in range(epochs):
        order = rng.permutation(train_months)
        stats = [trainer.step(x[idx], y[idx], mask[idx])
                 for idx in (torch.as_tensor(order[b:b + batch_size], device=dev)
                             for b in range(0, len(order), batch_size))]
        loss = float(np.mean([s["mse"] for s in stats]))
        if scheduler is not None:
            scheduler.step(loss)
        if progress is not None:
            progress.update(epoch, extra=f"masked MSE {loss:.4f}, mean beta {stats[-1]['beta']:.3g}, "
                                         f"lr {trainer.optimizer.param_groups[0]['lr']:.3g}")
    # Running BatchNorm statistics lag behind the weights SVGD keeps moving: recompute them once.
    trainer.refresh_batchnorm([x[torch.as_tensor(train_months[b:b + batch_size], device=dev)]
                               for b in range(0, len(train_months), batch_size)])
    means, variances = [], []
    for b in range(0, len(data.time), batch_size):
        m, v = trainer.predict(x[b:b + batch_size])
        means.append(m.cpu().numpy())
        variances.append(v.cpu().numpy())
    scale = data.target_scaler
    mean = scale.inverse(np.concatenate(means).astype(np.float64)) + data.trend
    std = np.sqrt(np.concatenate(variances).astype(np.float64)) * scale.std
    return mean, std, trainer


def to_analysis_grid(fit: GapfillData, analysis: GapfillData, grid: BcnnGrid, mean_cm: np.ndarray,
                     std_cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The BCNN-grid prediction on the analysis grid: the detrended prediction and the standard deviation
    remapped (first-order conservative), the analysis grid's own per-cell trend added back."""
    n_lat = analysis.land.shape[0]
    if grid.identity and len(grid.rows) == n_lat:
        return mean_cm, std_cm
    return (grid.refine(mean_cm - fit.trend, n_lat) + analysis.trend, grid.refine(std_cm, n_lat))


@dataclass(frozen=True)
class BCNNSettings:
    """The gapfill.* settings that shape a BCNN fit (its rule's params; device and memory savers are resources)."""

    lags: list
    particles: int
    n_features: int
    epochs: int
    learning_rate: float
    batch_size: int
    domain: dict | None
    resolution: float
    ice_classes: list
    bf16: bool
    target_scaling: str
    noise: str
    latitude_weighting: bool
    lr_schedule: str

    @classmethod
    def from_params(cls, params: dict) -> "BCNNSettings":
        return cls(**{f.name: params[f.name] for f in fields(cls)})


@dataclass
class BCNNRun:
    """One BCNN experiment's outputs: the record, its test-month scores, the summary row, the weights."""

    product: xr.Dataset
    scores: xr.Dataset
    summary: dict
    weights: dict  # the network's state, on the CPU
    channels: list


def run_bcnn(cube: xr.Dataset, ice: np.ndarray, predictors: list[str], experiment: str, predictor_set: str,
             settings: BCNNSettings, *, seed: int, device: str = "cpu", particle_group: int | None = None,
             checkpoint: bool = False, log=None) -> BCNNRun:
    """One BCNN experiment on a loaded cube: fit on the BCNN grid (`settings.resolution`, `settings.domain`),
    predict on the analysis grid and score the test months against GRACE (a truth is for the scoring rules only).

    `ice`: the analysis cells of an ice-sheet class, left out of the loss and the scores. `device`: gapfill.device,
    checked (and logged) once the data are ready.
    """
    from .device import resolve_device  # torch: only the fit needs it

    coords = cube[["lat_bnds", "lon_bnds", "crs"]].drop_attrs(deep=False)
    grid = bcnn_grid(cube["lat"].values, cube["lon"].values, settings.resolution, settings.domain)
    coarse = grid.coarsen(cube)
    fit_data = prepare_gapfill(coarse, predictors, settings.lags, experiment, ice=grid.coarsen_mask(ice),
                               target_scaling=settings.target_scaling)
    if log is not None:
        log.info("%s fit on the BCNN grid %d x %d (%g deg, lat %g..%g; the analysis grid is %d x %d): %d training "
                 "months, %d test months, %d input channels (%s); %d ice-sheet cells left out of the loss",
                 experiment, *grid.grid.shape, grid.grid.resolution, grid.grid.lat_min, grid.grid.lat_max,
                 cube.sizes["lat"], cube.sizes["lon"], fit_data.train.sum(), fit_data.test.sum(),
                 len(fit_data.channels), ", ".join(fit_data.channels), fit_data.ice.sum())
    device = str(resolve_device(device, log, "gapfill.device"))
    mean, std, trainer = fit_bcnn(fit_data, particles=settings.particles, n_features=settings.n_features,
                                  epochs=settings.epochs, learning_rate=settings.learning_rate,
                                  batch_size=settings.batch_size, seed=seed, device=device, log=log,
                                  particle_group=particle_group, checkpoint=checkpoint, bf16=settings.bf16,
                                  noise=settings.noise, lr_schedule=settings.lr_schedule,
                                  pixel_weights=latitude_weights(coarse["lat"].values, coarse.sizes["lon"])
                                  if settings.latitude_weighting else None)
    data = fit_data if grid.identity and len(grid.rows) == cube.sizes["lat"] else \
        prepare_gapfill(cube, predictors, settings.lags, experiment, ice=ice, inputs=False,
                        target_scaling=settings.target_scaling)
    mean, std = to_analysis_grid(fit_data, data, grid, mean, std)
    scores = score_test_months(data, mean, std, coords)
    rows = {f"median_{v}": float(np.nanmedian(scores[v])) if np.isfinite(scores[v]).any() else np.nan
            for v in scores.data_vars if v not in ("lat_bnds", "lon_bnds", "crs")}
    weights = {k: v.detach().cpu().contiguous() for k, v in trainer.net.state_dict().items()}
    return BCNNRun(product(data, mean, std, coords, experiment, predictor_set), scores, rows, weights,
                   fit_data.channels)
