"""Per-cell GR*Ai*CE fitting of a set of cells: samples, split, scaling, N fits, best fit, prediction, PCC."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from ..device import resolve_device
from ..periods import NONE, SPLIT_ATTRS, TEST, TRAIN, VAL
from ..evaluation.baselines import linear_trend, monthly_means
from ..regions.classes import MODEL_PREDICTORS, uses_sif, uses_water_balance
from .features import RobustScaler, reference, windows
from .hyperparameters import Hyperparameters
from .merge import pcc_table
from .models import BatchedRegressor, select_models
from .training import TrainSettings, predict, train

log = logging.getLogger(__name__)


def features_of(model_type: str) -> tuple[str, ...]:
    return MODEL_PREDICTORS[model_type]


def region_cells_for(ds: xr.Dataset, model_type: str) -> xr.Dataset:
    """The cells a model type can use: SIF models leave out cells without SIF, the wb types cells without the
    water-balance predictors."""
    keep = np.ones(ds.sizes["cell"], bool)
    if uses_sif(model_type):
        keep &= ds["has_sif"].values == 1
    if uses_water_balance(model_type):
        if "has_water_balance" not in ds:
            raise ValueError(f"model type {model_type} needs cwsc_dev and model_twsa, which this region dataset lacks: "
                             "the cube needs ERA5 e, ro and swvl1-4 (config/README.md, models.types)")
        keep &= ds["has_water_balance"].values == 1
    return ds if keep.all() else ds.isel(cell=np.flatnonzero(keep))


def chunk_cells(n_cells: int, n_chunks: int, chunk: int) -> np.ndarray:
    """Indices of the cells of one chunk: a fixed, contiguous share, so the DAG never depends on data."""
    bounds = np.linspace(0, n_cells, n_chunks + 1).round().astype(int)
    return np.arange(bounds[chunk], bounds[chunk + 1])


def cell_seeds(seed: int, cells: np.ndarray, fits: int) -> np.ndarray:
    """Seed of every (cell, fit) model: reproducible whatever the chunking."""
    cells = np.asarray(cells, np.int64)
    return (np.int64(seed) * 1_000_003 + cells[:, None] * 101 + np.arange(fits)[None, :]).ravel()


@dataclass
class Prepared:
    """Scaled windows and targets of C cells, all months (C, T, window, F) and (C, T)."""

    x: np.ndarray
    y: np.ndarray
    flags: np.ndarray
    usable: np.ndarray  # (C, T): a full window and a GRACE value
    offset: np.ndarray  # (C,) the target's reference: TWSA of the first GRACE month
    x_scaler: RobustScaler
    y_scaler: RobustScaler
    baseline: np.ndarray  # (C, T) what the model's target is relative to: the offset, or the offset and trend
    trend: np.ndarray  # (C,) cm per month taken out of the target (0 with models.trend none)

    def to_cm(self, scaled: np.ndarray) -> np.ndarray:
        return self.y_scaler.inverse(scaled) + self.baseline

    def mask(self, flag: int, repeat: int = 1) -> np.ndarray:
        """Samples of one set that a model can train or validate on, each cell's row `repeat` times."""
        return np.repeat((self.flags == flag) & self.usable, repeat, axis=0)

    def pooled(self, models: int, device: str = "cpu", x: torch.Tensor | None = None,
               y: torch.Tensor | None = None):
        """Every cell's samples as one cell's, for `models` models of the pooled cells (tuning trials, the
        regional start): x (1, C*T, window, F), y (1, C*T) and the training and validation masks (models,
        C*T). `x`, `y`: these samples already on the device (pooled as a view, no copy)."""
        n = self.y.size
        x = torch.tensor(self.x, device=device) if x is None else x
        y = torch.tensor(self.y, device=device) if y is None else y
        return (x.reshape(1, n, *x.shape[2:]), y.reshape(1, n), np.repeat(self.mask(TRAIN).reshape(1, n), models, 0),
                np.repeat(self.mask(VAL).reshape(1, n), models, 0))


# How the target's trend is handled (models.trend): `none`, the model learns TWSA as it is (the authors');
# `hold`, it learns TWSA minus the cell's linear trend fit on its training months, and the trend is added
# back, held at its first GRACE month's value before it (only the predictors make a trend before GRACE);
# `extrapolate`, the same with the trend line extended back. The two agree on every GRACE month.
# `significant`, `extrapolate` in the cells whose trend is SIGNIFICANT_T standard errors from zero or more,
# `none` elsewhere: a trend that strong (pumping, ice loss) is one the predictors do not make, and a model fit
# without it puts the years before GRACE at the record's mean level. `decline`, the same for declines only
# (t <= -SIGNIFICANT_T): on the backcasts a rise carried back cost in nearly every cell (a wet spell the
# predictors make), a strong decline gained in every cell (abstraction outlasts the record; chosen on the
# 4- and 8-year backcasts, docs/method.md).
TRENDS = ("none", "hold", "extrapolate", "significant", "decline")
SIGNIFICANT_T = 8.0


def trend_t(twsa: np.ndarray, use: np.ndarray) -> np.ndarray:
    """(C,) t statistic of each cell's linear trend over the months `use`: the seasonal cycle (mean of each
    month of the year) taken out first, the standard error widened for the residuals' lag-1 autocorrelation
    (effective n = n (1 - rho) / (1 + rho)), as a month's storage carries over into the next."""
    n_time = twsa.shape[1]
    ok = use & np.isfinite(twsa)
    month = np.arange(n_time) % 12  # a monthly axis: its index modulo 12 is the month of the year, shifted
    y = np.where(ok, twsa - monthly_means(twsa, ok, month)[:, month], 0.0)
    t = np.arange(n_time, dtype=np.float64)
    slope, intercept = (v[:, 0] for v in linear_trend(y.T[:, :, None], t, ok.T[:, :, None]))
    n = ok.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        dt = np.where(ok, t[None] - (np.where(ok, t[None], 0).sum(1) / n)[:, None], 0.0)
        e = np.where(ok, y - intercept[:, None] - slope[:, None] * t[None], np.nan)
        pairs = ok[:, 1:] & ok[:, :-1]  # consecutive months both used
        lag = np.where(pairs, e[:, 1:] * e[:, :-1], 0.0).sum(1) / np.maximum(pairs.sum(1), 1)
        rho = np.clip(lag / (np.nansum(e**2, 1) / n), 0.0, 0.99)
        n_eff = n * (1 - rho) / (1 + rho)
        se = np.sqrt(np.nansum(e**2, 1) / np.maximum(n_eff - 2, 1) / (dt**2).sum(1))
        out = slope / se
    return np.where(n >= 24, np.nan_to_num(out), 0.0)


def target_trend(twsa: np.ndarray, train: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """(C, T) trend line of each cell (cm, 0 at its first GRACE month) fit on its `train` months, and the
    slope (cm per month)."""
    if how not in TRENDS:
        raise ValueError(f"unknown models.trend {how!r}: one of {', '.join(TRENDS)}")
    n_cells, n_time = twsa.shape
    if how == "none":
        return np.zeros((n_cells, n_time)), np.zeros(n_cells)
    t = np.arange(n_time, dtype=np.float64)
    slope, _ = linear_trend(twsa.T[:, :, None], t, train.T[:, :, None])  # the baselines' and the BCNN's fit
    slope = np.nan_to_num(slope[:, 0], nan=0.0)
    if how in ("significant", "decline"):
        stat = trend_t(twsa, train)
        slope = np.where((np.abs(stat) if how == "significant" else -stat) >= SIGNIFICANT_T, slope, 0.0)
    first = np.argmax(np.isfinite(twsa), axis=1).astype(np.float64)
    since = t[None] - first[:, None]
    if how == "hold":
        since = np.maximum(since, 0.0)
    return slope[:, None] * since, slope


def backcast(twsa: np.ndarray, flags: np.ndarray, years: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The series and split (C, T) of a fit whose record begins `years` after each cell's first GRACE month,
    and the months it is judged on: those first years' GRACE months that are not test months.

    Why: the models.trend options differ only before the record, which validation months inside it cannot
    judge; a record cut short can (tools/compare_lstm_options.py --backcast)."""
    observed = np.isfinite(twsa)
    first = np.argmax(observed, axis=1)
    early = observed & (np.arange(twsa.shape[1])[None] < first[:, None] + 12 * years)
    return np.where(early, np.nan, twsa), np.where(early, NONE, flags).astype(np.int8), early & (flags != TEST)


def prepare(predictors: np.ndarray, twsa: np.ndarray, window: int, flags: np.ndarray,
            include_current: bool = False, trend: str = "none") -> Prepared:
    """Samples of every month on the stored split `flags`; scalers (and the target's trend, `trend`) fit on
    the training months only.

    predictors: (C, T, F) raw, twsa: (C, T) cm with NaN outside GRACE months. The split is never drawn
    here: it comes from results/split, the same for every window, model type and product.
    """
    n_cells, n_time, _ = predictors.shape
    flags = np.asarray(flags, np.int8)
    if flags.shape != twsa.shape:
        raise ValueError(f"split flags {flags.shape} do not match the cells' series {twsa.shape}")
    x = windows(predictors, window, include_current)
    usable = np.isfinite(twsa) & np.isfinite(x).all((-1, -2))
    offset = reference(twsa)
    train = (flags == TRAIN) & usable
    line, slope = target_trend(twsa, train, trend)
    baseline = offset[:, None] + line
    y = twsa - baseline
    train_x = np.where(train[..., None, None], x, np.nan).reshape(n_cells, -1, x.shape[-1])
    x_scaler = RobustScaler.fit(train_x, axis=1)  # (C, 1, F)
    y_scaler = RobustScaler.fit(np.where(train, y, np.nan), axis=1)  # (C, 1)
    xs = (x - x_scaler.center[:, :, None, :]) / x_scaler.scale[:, :, None, :]
    ys = y_scaler.transform(y)
    return Prepared(xs.astype(np.float32), ys.astype(np.float32), flags, usable, offset, x_scaler, y_scaler,
                    baseline, slope)


# How a cell's fits make its prediction (models.combine_fits): the best fit by validation loss, the mean of
# all fits, or per cell whichever of the two has the lower validation MSE.
COMBINE_FITS = ("best", "mean", "validation")


@dataclass
class FitResult:
    prediction: np.ndarray  # (C, T) cm
    flags: np.ndarray  # (C, T)
    val_loss: np.ndarray  # (C,) validation MSE (scaled) of the prediction kept
    best_fit: np.ndarray  # (C,)
    best_epoch: np.ndarray  # (C,)
    weights: dict  # every fit, model axis = cell x fit (fit fastest)
    prepared: Prepared
    mean_of_fits: np.ndarray  # (C,) bool: the prediction is the mean of the fits, not the best one
    fits: int = 1

    def weights_of(self, cells) -> dict:
        """The fits of some cells (indices into this result's cells)."""
        rows = (np.asarray(cells, np.int64)[:, None] * self.fits + np.arange(self.fits)[None]).ravel()
        return select_models(self.weights, rows)


def masked_mse(pred: np.ndarray, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-row mean squared error over the samples where `mask` (NaN for a row without any)."""
    err = np.where(mask, (pred - y) ** 2, 0.0)
    n = mask.sum(-1)
    return np.where(n > 0, err.sum(-1) / np.maximum(n, 1), np.nan)


# Where each cell's fits start (models.start): `fresh`, weights drawn anew per cell and fit (the authors');
# `regional`, fit k of every cell starts from a regional model k trained on the pooled cells given (their
# training months, early-stopped on their validation months), then each cell's copy is trained on its own.
STARTS = ("fresh", "regional")


def regional_start(prep: Prepared, hp: Hyperparameters, model_type: str, fits: int, seed: int, lr: float,
                   settings: TrainSettings, device: str, x: torch.Tensor | None = None,
                   y: torch.Tensor | None = None) -> dict:
    """`fits` models trained on the pooled samples of all of `prep`'s cells (each cell scaled on its own, so
    the cells share one scale). The batch is `settings.batch_size` samples per cell: an epoch takes as many
    steps as a cell's own model, so the start costs about one more model's training. `x`, `y`: prep's
    samples already on the device."""
    n_cells = prep.y.shape[0]
    x, y, train_mask, val_mask = prep.pooled(fits, device, x, y)
    seeds = cell_seeds(seed, np.array([-1]), fits)  # cell -1: no real cell's seeds
    model = BatchedRegressor.from_hyperparameters(fits, prep.x.shape[-1], hp, model_type).to(device)
    model.initialise(seeds)
    pooled = dataclasses.replace(settings, batch_size=settings.batch_size * n_cells)
    res = train(model, x, y, np.zeros(fits, int), train_mask, val_mask, lr, seeds, pooled,
                progress="regional model")
    log.info("regional start: %d models on %d cells' pooled months, validation MSE %s", fits, n_cells,
             ", ".join(f"{v:.4g}" for v in res.best_val_loss))
    return model.select(np.arange(fits))


def fit_cells(predictors, twsa, flags, cells, hp: Hyperparameters, model_type: str, *, fits: int, seed: int,
              settings: TrainSettings, include_current: bool = False, learning_rate=None,
              device: str = "cpu", combine: str = "best", trend: str = "none", start: str = "fresh") -> FitResult:
    """Train `fits` models per cell (fresh or from a regional model: `start`, see STARTS), all cells and fits
    at once; predict with each cell's best fit by validation loss or the mean of its fits (`combine`, see
    COMBINE_FITS; only validation months decide)."""
    if combine not in COMBINE_FITS:
        raise ValueError(f"unknown models.combine_fits {combine!r}: one of {', '.join(COMBINE_FITS)}")
    if start not in STARTS:
        raise ValueError(f"unknown models.start {start!r}: one of {', '.join(STARTS)}")
    prep = prepare(predictors, twsa, hp.window, flags, include_current, trend)
    n_cells = len(cells)
    x = torch.tensor(prep.x, device=device)
    y = torch.tensor(prep.y, device=device)
    cell_of_model = np.repeat(np.arange(n_cells), fits)
    seeds = cell_seeds(seed, cells, fits)
    lr = hp.learning_rate if learning_rate is None else learning_rate
    model = BatchedRegressor.from_hyperparameters(n_cells * fits, predictors.shape[-1], hp, model_type).to(device)
    if start == "regional":
        regional = regional_start(prep, hp, model_type, fits, seed, lr, settings, device, x, y)
        model.load_selected(select_models(regional, np.tile(np.arange(fits), n_cells)))
    else:
        model.initialise(seeds)
    train_mask, val_mask = prep.mask(TRAIN, fits), prep.mask(VAL, fits)
    res = train(model, x, y, cell_of_model, train_mask, val_mask, lr, seeds, settings)
    loss = res.best_val_loss.reshape(n_cells, fits)
    best_fit = np.argmin(np.where(np.isfinite(loss), loss, np.inf), axis=1)
    every = predict(model, x, cell_of_model).reshape(n_cells, fits, -1)  # scaled, every fit
    cell = np.arange(n_cells)
    best_scaled, mean_scaled = every[cell, best_fit], every.mean(1)
    best_loss = loss[cell, best_fit]
    mean_loss = masked_mse(mean_scaled, prep.y, prep.mask(VAL) & np.isfinite(mean_scaled))
    use_mean = np.full(n_cells, combine == "mean")
    if combine == "validation":
        use_mean = np.nan_to_num(mean_loss, nan=np.inf) < np.nan_to_num(best_loss, nan=np.inf)
    scaled = np.where(use_mean[:, None], mean_scaled, best_scaled)
    prediction = prep.to_cm(scaled)
    return FitResult(prediction, prep.flags, np.where(use_mean, mean_loss, best_loss), best_fit,
                     res.best_epoch.reshape(n_cells, fits)[cell, best_fit], model.select(np.arange(n_cells * fits)),
                     prep, use_mean, fits)


@dataclass
class RegionArrays:
    """The cells of a region a model type can use: their dataset, predictors (C, T, F), twsa (C, T) and
    stored split flags (C, T)."""

    ds: xr.Dataset
    x: np.ndarray
    y: np.ndarray
    flags: np.ndarray

    def subset(self, idx) -> "RegionArrays":
        return RegionArrays(self.ds.isel(cell=idx), self.x[idx], self.y[idx], self.flags[idx])


def region_arrays(region_path, split_path, model_type: str) -> RegionArrays:
    """A region's series with its stored split, for one model type (SIF models leave out cells without SIF)."""
    with xr.open_dataset(region_path) as ds, xr.open_dataset(split_path) as split:
        ds = ds.load()
        flags = split["split"].load()
    if not np.array_equal(ds["cell"].values, flags["cell"].values):
        raise ValueError(f"{split_path} holds other cells than {region_path}: rerun the split rule")
    ds = ds.assign(split=flags.transpose("cell", "time"))
    ds = region_cells_for(ds, model_type)
    x = np.stack([ds[v].values.T for v in features_of(model_type)], axis=-1).astype(np.float64)
    return RegionArrays(ds, x, ds["twsa"].values.T.astype(np.float64), ds["split"].values.astype(np.int8))


def chunk_dataset(ds: xr.Dataset, res: FitResult, observed: np.ndarray, model_type: str,
                  learning_rate: float) -> xr.Dataset:
    """One trained chunk: predictions, stored split flags, PCCs, scalers and the chosen fit per cell."""
    pcc = pcc_table(res.prediction, observed, res.flags)
    feats = list(features_of(model_type))
    out = xr.Dataset(
        {
            "twsa": (("cell", "time"), res.prediction.astype(np.float32),
                     {"units": "cm", "long_name": f"{model_type} reconstruction of TWSA"}),
            "observed": (("cell", "time"), observed.astype(np.float32),
                         {"units": "cm", "long_name": "GRACE TWSA the model was fit to"}),
            "split": (("cell", "time"), res.flags, {"long_name": "split of each GRACE month, drawn once",
                                                    **SPLIT_ATTRS}),
            "val_loss": ("cell", res.val_loss, {"long_name": "validation MSE of the kept prediction (scaled units)"}),
            "best_fit": ("cell", res.best_fit.astype(np.int16), {"long_name": "index of the fit with the lowest "
                                                                               "validation loss"}),
            "mean_of_fits": ("cell", res.mean_of_fits.astype(np.int8), {
                "long_name": "prediction is the mean of the cell's fits (else its best fit; models.combine_fits)",
                "flag_values": [0, 1], "flag_meanings": "best_fit mean_of_fits"}),
            "best_epoch": ("cell", res.best_epoch.astype(np.int32), {"long_name": "epoch whose weights were kept"}),
            "learning_rate": ("cell", np.full(len(ds["cell"]), learning_rate), {"long_name": "learning rate used"}),
            "offset": ("cell", res.prepared.offset, {"units": "cm", "long_name": "TWSA of the first GRACE month"}),
            "target_trend": ("cell", res.prepared.trend * 12.0, {
                "units": "cm a-1", "long_name": "linear trend taken out of the target and added back (models.trend)"}),
            "x_center": (("cell", "feature"), res.prepared.x_scaler.center[:, 0, :],
                         {"long_name": "robust-scaler centre of each input (median over the training months)"}),
            "x_scale": (("cell", "feature"), res.prepared.x_scaler.scale[:, 0, :],
                        {"long_name": "robust-scaler scale of each input (IQR over the training months)"}),
            "y_center": ("cell", res.prepared.y_scaler.center[:, 0],
                         {"long_name": "robust-scaler centre of the re-referenced target TWSA", "units": "cm"}),
            "y_scale": ("cell", res.prepared.y_scaler.scale[:, 0],
                        {"long_name": "robust-scaler scale of the re-referenced target TWSA", "units": "cm"}),
            **{f"pcc_{k}": ("cell", v, {"long_name": f"Pearson r on {k.replace('_', '+')} months"})
               for k, v in pcc.items()},
        },
        coords={"cell": ds["cell"].values, "lat": ("cell", ds["lat"].values), "lon": ("cell", ds["lon"].values),
                "time": ds["time"].values, "feature": feats},
    )
    return out


def train_chunk(cells_of: RegionArrays, chunk: int, n_chunks: int, hyperparameters: dict | None, model_type: str,
                training: dict, device_name: str, region: str = "", log: logging.Logger = log
                ) -> tuple[xr.Dataset, dict]:
    """Step 5 for one chunk of a region's cells: `training["fits"]` fits per cell, all at once, each cell's best
    kept and every month predicted. `hyperparameters`: the region's (None where it is excluded). Returns the
    per-cell dataset and every fit's weights (on the CPU; model axis cell x fit); with no cell to train, the cells' and months'
    coordinates only and no weights."""
    idx = chunk_cells(cells_of.ds.sizes["cell"], n_chunks, chunk)
    cells_of = cells_of.subset(idx)
    ds = cells_of.ds
    if hyperparameters is None or len(idx) == 0:
        log.warning("no cells to train in %s chunk %d for %s", region, chunk, model_type)
        return xr.Dataset(coords={"cell": ds["cell"].values, "time": ds["time"].values}), {}
    hp = Hyperparameters.from_dict(hyperparameters)
    device = resolve_device(device_name, log)
    log.info("training %d cells x %d fits of %s in %s on %s with %s", len(idx), training["fits"], model_type, region,
             device, hp)
    res = fit_cells(cells_of.x, cells_of.y, cells_of.flags, ds["cell"].values, hp, model_type, fits=training["fits"],
                    seed=training["seed"], settings=TrainSettings.from_params(training),
                    include_current=training["include_current_month"], device=str(device),
                    combine=training["combine_fits"], trend=training["trend"], start=training["start"])
    out = chunk_dataset(ds, res, cells_of.y, model_type, hp.learning_rate)
    log.info("median PCC train+validation %.3f, test %.3f", float(out["pcc_train_validation"].median()),
             float(out["pcc_test"].median()))
    return out, {k: v.cpu() for k, v in res.weights.items()}
