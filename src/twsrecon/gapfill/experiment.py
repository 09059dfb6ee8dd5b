"""One BCNN experiment (the evaluation or the production fit): SVGD training on the BCNN grid, the prediction on
the analysis grid, its product and scores (`run_bcnn`, what rule bcnn runs)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
import xarray as xr

from ..evaluation.metrics import coverage_factor, nse
from ..evaluation.scores import split_on
from ..logs import Progress
from ..periods import TEST, VAL
from .inputs import BcnnGrid, GapfillData, bcnn_grid, prepare_gapfill
from .products import product, score_test_months


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

    from .bcnn import ParticleCBAMNet
    from .trainer import SVGDTrainer

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


def interval_factor(data: GapfillData, mean_cm: np.ndarray, std_cm: np.ndarray) -> tuple[float, int]:
    """The factor on the predictive standard deviation that puts 95 % of the held-out months' GRACE values
    inside the 95 % interval (split-conformal calibration), and how many cell-months it rests on.

    Why: SVGD's noise precision lags behind the fit (the interval comes out about twice the training
    residual), and the training months cannot say by how much the error grows on months the fit never saw;
    the held-out months can. One factor per fit: the per-cell shape of the interval stays the network's.
    Where the cube has GRACE's stated uncertainty, a GRACE value is inside where its distance from the mean
    is within 1.96 sqrt((factor std)^2 + uncertainty^2): the calibrated interval is that of the TWSA itself,
    and GRACE's own error does not widen it. Months are the units (a gap month is a new map of errors), with
    their finite-sample correction (metrics.coverage_factor)."""
    sel = data.holdout & data.scored_mask & np.isfinite(mean_cm) & (std_cm > 0)
    if not sel.any():
        raise ValueError("gapfill.calibration needs held-out months inside the fit's training months (validation "
                         "months of the stored split, or gap-like windows of its non-test months), and there are "
                         "none")
    noise = None if data.obs_error is None else data.obs_error[sel]
    month = np.broadcast_to(np.arange(len(data.time))[:, None, None], sel.shape)[sel]
    return coverage_factor(mean_cm[sel] - data.observed[sel], std_cm[sel], noise, groups=month), int(sel.sum())


def _edge_residuals(resid: np.ndarray, seen: np.ndarray, months: int) -> tuple[np.ndarray, np.ndarray]:
    """For every month, each cell's mean residual over its last `months` seen months up to it, and how many
    months back the last seen one lies (inf before the first)."""
    buf = np.full((months,) + resid.shape[1:], np.nan)
    pushed = np.zeros(resid.shape[1:], np.int64)
    since = np.full(resid.shape[1:], np.inf)
    level, distance = np.full(resid.shape, np.nan), np.full(resid.shape, np.inf)
    for t in range(resid.shape[0]):
        s = seen[t]
        slot = (pushed % months)[None]
        np.put_along_axis(buf, slot, np.where(s, resid[t], np.take_along_axis(buf, slot, 0)[0])[None], 0)
        pushed += s
        since = np.where(s, 0.0, since + 1)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # cells with nothing seen yet: NaN
            level[t] = np.nanmean(buf, 0)
        distance[t] = since
    return level, distance


def anchor_to_edges(mean_cm: np.ndarray, observed: np.ndarray, seen: np.ndarray, months: int,
                    noise: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The prediction (T, H, W) in each hole of a cell's record (months without a GRACE value the fit saw, between
    months with one) shifted by the fit's own error at the hole's edges: the mean residual (GRACE - prediction)
    of the `months` seen months before the hole and of those after it, interpolated linearly across the hole.
    Returns the shifted prediction and the variance (cm2) the shift adds (0 outside holes and without `noise`).

    Why: without storage predictors the network's error is largely a storage anomaly that persists for months
    (the memory it lacks), so its error next to the gap says much of its error inside. Only GRACE months the fit
    saw enter; seen months and months beyond a cell's first or last seen month are left as they are.

    `noise` (GRACE's stated 1-sigma error, gapfill.anchor: shrunk): an edge's mean residual also carries GRACE's
    error s2/k (s2 the edge months' mean stated variance), which in a dry cell can exceed the network's own
    error. Each edge is then shrunk to its expected persistent part, v / (v + s2/k), v the cell's residual
    variance over its seen months less their mean stated variance (a best linear predictor), and the GRACE
    error the shrunk shift still carries is returned for the interval."""
    seen = np.asarray(seen, bool) & np.isfinite(observed) & np.isfinite(mean_cm)
    if noise is not None:
        seen &= np.isfinite(noise)
    resid = np.where(seen, observed - mean_cm, np.nan)

    def edges(x: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """(before, months since), (after, months until): the mean of x over the edge months on each side."""
        after = (a[::-1] for a in _edge_residuals(x[::-1], seen[::-1], months))
        return _edge_residuals(x, seen, months), tuple(after)

    (before, d_before), (after, d_after) = edges(resid)
    hole = ~seen & np.isfinite(before) & np.isfinite(after)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = d_before / (d_before + d_after)  # the weight of the edge after the hole
        if noise is None:
            shift, var = (1 - w) * before + w * after, np.zeros(mean_cm.shape)
        else:
            err2 = np.where(seen, np.asarray(noise, float) ** 2, np.nan)
            (s2_before, _), (s2_after, _) = edges(err2)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # cells never seen: NaN, left as they are
                v = np.clip(np.nanvar(resid, 0) - np.nanmean(err2, 0), 0.0, None)
            lam_before = np.where(s2_before > 0, v / (v + s2_before / months), 1.0)
            lam_after = np.where(s2_after > 0, v / (v + s2_after / months), 1.0)
            shift = (1 - w) * lam_before * before + w * lam_after * after
            var = ((1 - w) * lam_before) ** 2 * s2_before / months + (w * lam_after) ** 2 * s2_after / months
    return np.where(hole, mean_cm + shift, mean_cm), np.where(hole, var, 0.0)


def held_out_nse(data: GapfillData, mean_cm: np.ndarray) -> float:
    """Median over cells of the NSE on a calibration fit's held-out months against GRACE: the skill on months
    the fit never saw (under gapfill.calibration: windows, holes like the gap), what gapfill options are chosen on."""
    sel = data.holdout & data.scored_mask & np.isfinite(mean_cm)
    cell = nse(np.moveaxis(np.where(sel, mean_cm, np.nan), 0, -1), np.moveaxis(np.where(sel, data.observed, np.nan), 0, -1))
    return float(np.nanmedian(cell)) if np.isfinite(cell).any() else np.nan


def calibration_windows(observed: np.ndarray, length: int) -> np.ndarray:
    """Months (T,) of gap-like windows: `length` months without GRACE between observed ones, as the mission gap.

    A window every 3 x `length` months from `length` months after the first GRACE month; one is kept only where
    the `length` months on each side lie inside the record and outside any stretch of `length` or more months
    without GRACE (the mission gap), so each window is a hole of its own, as the gap is in the record's fit."""
    observed = np.asarray(observed, bool)
    idx = np.flatnonzero(observed)
    out = np.zeros(observed.shape, bool)
    if idx.size == 0:
        return out
    first, last = idx[0], idx[-1]
    long_hole = np.zeros(observed.shape, bool)
    start = None
    for t in range(first, last + 2):
        if t <= last and not observed[t]:
            start = t if start is None else start
        elif start is not None:
            if t - start >= length:
                long_hole[start:t] = True
            start = None
    for s in range(first + length, last + 1, 3 * length):
        lo, hi = s - length, s + 2 * length
        if hi - 1 > last:
            break
        if not long_hole[lo:hi].any():
            out[s:s + length] = True
    return out


def window_holdout(flags: np.ndarray, length: int) -> np.ndarray:
    """(T, H, W) cell-months a calibration fit holds out under gapfill.calibration: windows: the months of each
    gap-like window (`calibration_windows`) that a cell has GRACE for, unless the window holds one of the cell's
    test months (test months calibrate nothing). `flags`: the stored split on the cube's months."""
    flags = np.asarray(flags)
    windows = calibration_windows((flags > 0).any((1, 2)), length)
    held = np.zeros(flags.shape, bool)
    edges = np.flatnonzero(np.diff(np.r_[0, windows.astype(np.int8), 0]))
    for a, b in zip(edges[::2], edges[1::2]):
        clean = ~(flags[a:b] == TEST).any(0)
        held[a:b] = (flags[a:b] > 0) & clean[None]
    return held


# gapfill.anchor: what the prediction in a hole of the record (the gap) is tied to.
ANCHORS = {"none": "the network alone (Mo et al.)",
           "edges": "the network shifted by its error on the GRACE months at the hole's edges",
           "shrunk": "the network shifted by its error on the GRACE months at the hole's edges, each edge's error "
                     "shrunk by GRACE's stated error against the fit's own, the interval widened by the GRACE error "
                     "the shift carries"}

# gapfill.calibration: the months a first fit holds out to set the interval's width on.
CALIBRATIONS = {"none": "no months", "validation": "stored split's validation months",
                "windows": "gap-like windows of the non-test months"}


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
    calibration: str
    calibration_months: int
    anchor: str
    anchor_months: int

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
    held_out: xr.Dataset | None = None  # gapfill.calibration: the record of the fit without the validation months


def run_bcnn(cube: xr.Dataset, ice: np.ndarray, predictors: list[str], experiment: str, predictor_set: str,
             settings: BCNNSettings, *, seed: int, device: str = "cpu", particle_group: int | None = None,
             checkpoint: bool = False, log=None, split: xr.DataArray | None = None) -> BCNNRun:
    """One BCNN experiment on a loaded cube: fit on the BCNN grid (`settings.resolution`, `settings.domain`),
    predict on the analysis grid and score the test months against GRACE (a truth is for the scoring rules only).

    `ice`: the analysis cells of an ice-sheet class, left out of the loss and the scores. `device`: gapfill.device,
    checked (and logged) once the data are ready. `split`: the stored per-cell split (grace_time, lat, lon), which
    `settings.calibration` needs: a fit without its validation months ("validation") or without gap-like windows of
    its non-test months ("windows") calibrates the interval.
    """
    from ..device import resolve_device  # torch: only the fit needs it

    if settings.anchor not in ANCHORS:
        raise ValueError(f"unknown gapfill.anchor {settings.anchor!r}: one of {', '.join(ANCHORS)}")
    if settings.anchor == "shrunk" and "twsa_uncertainty" not in cube:
        raise ValueError("gapfill.anchor: shrunk weighs each edge by GRACE's stated uncertainty, and the cube has "
                         "none (twsa_uncertainty, from the mascon file's uncertainty variable): use edges")
    if settings.calibration not in CALIBRATIONS:
        raise ValueError(f"unknown gapfill.calibration {settings.calibration!r}: one of {', '.join(CALIBRATIONS)}")
    holdout = None
    if settings.calibration != "none":
        if split is None:
            raise ValueError(f"gapfill.calibration: {settings.calibration} needs the stored split "
                             "(results/split/split.nc)")
        flags = split_on(split, pd.DatetimeIndex(cube["time"].values)).transpose("time", "lat", "lon")
        if flags.shape[1:] != (cube.sizes["lat"], cube.sizes["lon"]):
            raise ValueError(f"the stored split's grid {flags.shape[1:]} is not the cube's "
                             f"({cube.sizes['lat']}, {cube.sizes['lon']}): rerun the split")
        holdout = flags.values == VAL if settings.calibration == "validation" else \
            window_holdout(flags.values, settings.calibration_months)
    coords = cube[["lat_bnds", "lon_bnds", "crs"]].drop_attrs(deep=False)
    grid = bcnn_grid(cube["lat"].values, cube["lon"].values, settings.resolution, settings.domain)
    coarse = grid.coarsen(cube)
    weights = latitude_weights(coarse["lat"].values, coarse.sizes["lon"]) if settings.latitude_weighting else None
    device = str(resolve_device(device, log, "gapfill.device"))

    def fit(held: np.ndarray | None):
        """Fit on the BCNN grid, never seeing the `held` cell-months: (data, mean, std) on the analysis grid,
        the trainer and the input channels."""
        fit_data = prepare_gapfill(coarse, predictors, settings.lags, experiment, ice=grid.coarsen_mask(ice),
                                   target_scaling=settings.target_scaling,
                                   holdout=None if held is None else grid.coarsen_mask(held))
        if log is not None:
            log.info("%s fit on the BCNN grid %d x %d (%g deg, lat %g..%g; the analysis grid is %d x %d): %d training "
                     "months, %d test months, %d input channels (%s); %d ice-sheet cells left out of the loss; "
                     "%d validation cell-months held out", experiment, *grid.grid.shape, grid.grid.resolution,
                     grid.grid.lat_min, grid.grid.lat_max, cube.sizes["lat"], cube.sizes["lon"], fit_data.train.sum(),
                     fit_data.test.sum(), len(fit_data.channels), ", ".join(fit_data.channels), fit_data.ice.sum(),
                     0 if fit_data.holdout is None else fit_data.holdout.sum())
        mean, std, trainer = fit_bcnn(fit_data, particles=settings.particles, n_features=settings.n_features,
                                      epochs=settings.epochs, learning_rate=settings.learning_rate,
                                      batch_size=settings.batch_size, seed=seed, device=device, log=log,
                                      particle_group=particle_group, checkpoint=checkpoint, bf16=settings.bf16,
                                      noise=settings.noise, lr_schedule=settings.lr_schedule, pixel_weights=weights)
        data = fit_data if grid.identity and len(grid.rows) == cube.sizes["lat"] else \
            prepare_gapfill(cube, predictors, settings.lags, experiment, ice=ice, inputs=False,
                            target_scaling=settings.target_scaling, holdout=held)
        return (data, *to_analysis_grid(fit_data, data, grid, mean, std), trainer, fit_data.channels)

    def anchored(data: GapfillData, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """gapfill.anchor: edges / shrunk tie each hole to the GRACE months the fit saw on both sides of it."""
        if settings.anchor == "none":
            return mean, std
        mean, var = anchor_to_edges(mean, data.observed, data.loss_mask & data.train[:, None, None],
                                    settings.anchor_months, data.obs_error if settings.anchor == "shrunk" else None)
        return mean, np.sqrt(std ** 2 + var)

    factor, held_out, held_nse = 1.0, None, {"": np.nan, "_network": np.nan}
    if holdout is not None:
        # A first fit without the validation months measures how wide the interval must be on months it
        # never saw; the record comes from the fit on every month (its mean loses nothing to the holdout),
        # its standard deviation scaled by that factor.
        held_data, network_mean, held_std, _, _ = fit(holdout)
        held_mean, held_std = anchored(held_data, network_mean, held_std)
        factor, n_held = interval_factor(held_data, held_mean, held_std)
        held_nse = {"": held_out_nse(held_data, held_mean), "_network": held_out_nse(held_data, network_mean)}
        held_out = product(held_data, held_mean, held_std * factor, coords, experiment, predictor_set)
        if log is not None:
            log.info("interval calibrated on %d held-out cell-months (%s)%s: standard deviation x %.3f; now the "
                     "fit on every month", n_held, CALIBRATIONS[settings.calibration],
                     "" if held_data.obs_error is None else ", GRACE's stated uncertainty taken out", factor)
    data, mean, std, trainer, channels = fit(None)
    mean, std = anchored(data, mean, std)
    std = std * factor
    scores = score_test_months(data, mean, std, coords)
    rows = {f"median_{v}": float(np.nanmedian(scores[v])) if np.isfinite(scores[v]).any() else np.nan
            for v in scores.data_vars if v not in ("lat_bnds", "lon_bnds", "crs")}
    rows["interval_factor"] = factor
    # on the calibration fit's held-out months: the record as made, and the network alone (what the anchor adds)
    rows.update({f"median_nse_held_out{k}": v for k, v in held_nse.items()})
    record = product(data, mean, std, coords, experiment, predictor_set)
    if settings.anchor != "none":
        record["twsa_bcnn"].attrs["comment"] = (
            f"in each hole between GRACE months the fit trained on (the gap): {ANCHORS[settings.anchor]} (the mean "
            f"error of {settings.anchor_months} such month(s) at each edge, interpolated linearly; gapfill.anchor: "
            f"{settings.anchor})")
    if holdout is not None:
        record["twsa_bcnn_std"].attrs["comment"] = (
            f"scaled by {factor:.4f}: the factor that puts 95 % of the {CALIBRATIONS[settings.calibration]} (at the "
            "months' finite-sample level) inside mean +- 1.96 std against GRACE in a fit that never saw them "
            "(gapfill.calibration: "
            f"{settings.calibration})" + ("" if data.obs_error is None else
                                          "; GRACE's stated uncertainty is taken out: the interval of the TWSA"))
    state = {k: v.detach().cpu().contiguous() for k, v in trainer.net.state_dict().items()}
    return BCNNRun(record, scores, rows, state, channels, held_out)
