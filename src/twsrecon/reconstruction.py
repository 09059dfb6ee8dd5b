"""Per-cell GR*Ai*CE fitting of a set of cells: samples, split, scaling, N fits, best fit, prediction, PCC."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import xarray as xr

from .baselines import climatology_baseline
from .features import SPLIT_ATTRS, TEST, TRAIN, VAL, RobustScaler, reference, windows
from .hyperparameters import Hyperparameters
from .metrics import pearson_r
from .models import BatchedRegressor, uses_sif
from .regions import PREDICTORS, REGIONS
from .training import TrainSettings, predict, train

log = logging.getLogger(__name__)

PCC_SPLITS = {"train": (TRAIN,), "validation": (VAL,), "train_validation": (TRAIN, VAL), "test": (TEST,),
              "all": (TRAIN, VAL, TEST)}


def features_of(model_type: str) -> tuple[str, ...]:
    return PREDICTORS if uses_sif(model_type) else tuple(p for p in PREDICTORS if p != "sif")


def region_cells_for(ds: xr.Dataset, model_type: str) -> xr.Dataset:
    """The cells a model type can use: SIF models leave out cells without SIF."""
    return ds.isel(cell=np.flatnonzero(ds["has_sif"].values == 1)) if uses_sif(model_type) else ds


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
    offset: np.ndarray
    x_scaler: RobustScaler
    y_scaler: RobustScaler

    def mask(self, flag: int, repeat: int = 1) -> np.ndarray:
        """Samples of one set that a model can train or validate on, each cell's row `repeat` times."""
        return np.repeat((self.flags == flag) & self.usable, repeat, axis=0)


def prepare(predictors: np.ndarray, twsa: np.ndarray, window: int, flags: np.ndarray,
            include_current: bool = False) -> Prepared:
    """Samples of every month on the stored split `flags`; scalers fit on the training months only.

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
    y = twsa - offset[:, None]
    train = (flags == TRAIN) & usable
    train_x = np.where(train[..., None, None], x, np.nan).reshape(n_cells, -1, x.shape[-1])
    x_scaler = RobustScaler.fit(train_x, axis=1)  # (C, 1, F)
    y_scaler = RobustScaler.fit(np.where(train, y, np.nan), axis=1)  # (C, 1)
    xs = (x - x_scaler.center[:, :, None, :]) / x_scaler.scale[:, :, None, :]
    ys = y_scaler.transform(y)
    return Prepared(xs.astype(np.float32), ys.astype(np.float32), flags, usable, offset, x_scaler, y_scaler)


@dataclass
class FitResult:
    prediction: np.ndarray  # (C, T) cm
    flags: np.ndarray  # (C, T)
    val_loss: np.ndarray  # (C,) best fit's validation MSE (scaled)
    best_fit: np.ndarray  # (C,)
    best_epoch: np.ndarray  # (C,)
    weights: dict  # best fit per cell, model axis = cell
    prepared: Prepared


def fit_cells(predictors, twsa, flags, cells, hp: Hyperparameters, model_type: str, *, fits: int, seed: int,
              settings: TrainSettings, include_current: bool = False, learning_rate=None,
              device: str = "cpu") -> FitResult:
    """Train `fits` fresh models per cell, all cells and fits at once, and keep each cell's best by validation loss."""
    prep = prepare(predictors, twsa, hp.window, flags, include_current)
    n_cells = len(cells)
    x = torch.tensor(prep.x, device=device)
    y = torch.tensor(prep.y, device=device)
    cell_of_model = np.repeat(np.arange(n_cells), fits)
    seeds = cell_seeds(seed, cells, fits)
    model = BatchedRegressor.from_hyperparameters(n_cells * fits, predictors.shape[-1], hp, model_type).to(device)
    model.initialise(seeds)
    train_mask, val_mask = prep.mask(TRAIN, fits), prep.mask(VAL, fits)
    lr = hp.learning_rate if learning_rate is None else learning_rate
    res = train(model, x, y, cell_of_model, train_mask, val_mask, lr, seeds, settings)
    loss = res.best_val_loss.reshape(n_cells, fits)
    best_fit = np.argmin(np.where(np.isfinite(loss), loss, np.inf), axis=1)
    chosen = np.arange(n_cells) * fits + best_fit
    weights = model.select(chosen)
    best = BatchedRegressor.from_hyperparameters(n_cells, predictors.shape[-1], hp, model_type).to(device)
    best.load_selected(weights)
    scaled = predict(best, x, np.arange(n_cells))
    prediction = prep.y_scaler.inverse(scaled) + prep.offset[:, None]
    return FitResult(prediction, prep.flags, loss[np.arange(n_cells), best_fit], best_fit,
                     res.best_epoch.reshape(n_cells, fits)[np.arange(n_cells), best_fit], weights, prep)


def masked_r(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Pearson r per cell (row) over the months where `mask` holds."""
    return pearson_r(np.where(mask, a, np.nan), b)


def pcc_table(prediction, observed, flags) -> dict[str, np.ndarray]:
    """PCC per cell on train, validation, train+validation, test and all GRACE months."""
    return {name: masked_r(prediction, observed, np.isin(flags, codes)) for name, codes in PCC_SPLITS.items()}


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
                                                    "flag_values": [0, 1, 2, 3],
                                                    "flag_meanings": "not_used train validation test"}),
            "val_loss": ("cell", res.val_loss, {"long_name": "validation MSE of the kept fit (scaled units)"}),
            "best_fit": ("cell", res.best_fit.astype(np.int16), {"long_name": "index of the kept fit"}),
            "best_epoch": ("cell", res.best_epoch.astype(np.int32), {"long_name": "epoch whose weights were kept"}),
            "learning_rate": ("cell", np.full(len(ds["cell"]), learning_rate), {"long_name": "learning rate used"}),
            "offset": ("cell", res.prepared.offset, {"units": "cm", "long_name": "TWSA of the first GRACE month"}),
            "x_center": (("cell", "feature"), res.prepared.x_scaler.center[:, 0, :]),
            "x_scale": (("cell", "feature"), res.prepared.x_scaler.scale[:, 0, :]),
            "y_center": ("cell", res.prepared.y_scaler.center[:, 0]),
            "y_scale": ("cell", res.prepared.y_scaler.scale[:, 0]),
            **{f"pcc_{k}": ("cell", v, {"long_name": f"Pearson r on {k.replace('_', '+')} months"})
               for k, v in pcc.items()},
        },
        coords={"cell": ds["cell"].values, "lat": ("cell", ds["lat"].values), "lon": ("cell", ds["lon"].values),
                "time": ds["time"].values, "feature": feats},
    )
    return out


def gridded_split(splits: list[xr.Dataset], grid_coords: xr.Dataset, time) -> xr.Dataset:
    """The stored split of every region's cells on the analysis grid, over the GRACE era (grace_time):
    the one set of train/validation/test months every product is scored on."""
    nlat, nlon = grid_coords.sizes["lat"], grid_coords.sizes["lon"]
    time = pd.DatetimeIndex(time)
    flags = np.zeros((len(time), nlat, nlon), np.int8)
    for s in splits:
        if s.sizes.get("cell", 0) == 0:
            continue
        if not pd.DatetimeIndex(s["time"].values).equals(time):
            raise ValueError(f"split of region {s.attrs.get('region')} is on another time axis than the cube")
        i, j = np.divmod(s["cell"].values, nlon)
        flags[:, i, j] = s["split"].transpose("time", "cell").values
    grace = (flags > 0).any((1, 2))
    first, last = np.flatnonzero(grace)[[0, -1]] if grace.any() else (0, -1)
    ds = grid_coords.copy()
    ds = ds.assign_coords(grace_time=("grace_time", time[first:last + 1],
                                      {"standard_name": "time", "long_name": "months of the GRACE/GRACE-FO era"}))
    ds["split"] = (("grace_time", "lat", "lon"), flags[first:last + 1], {
        **SPLIT_ATTRS, "grid_mapping": "crs",
        "long_name": "split of each GRACE month of each cell (drawn once, before any tuning or training)"})
    if splits:
        ds.attrs.update({k: v for k, v in splits[0].attrs.items() if k.startswith("split_")})
    return ds


def gridded(finals: list[xr.Dataset], split: xr.Dataset, model_type: str, predict_start: str) -> xr.Dataset:
    """Merge the regions' per-cell results onto the analysis grid (CF, time from `predict_start`).

    `split` is the gridded stored split (gridded_split): every model type carries the same flags, also
    in cells a SIF model could not train.
    """
    finals = [f for f in finals if "twsa" in f]
    nlat, nlon = split.sizes["lat"], split.sizes["lon"]
    time = pd.DatetimeIndex(finals[0]["time"].values) if finals else pd.DatetimeIndex(split["grace_time"].values)
    keep = time >= pd.Timestamp(predict_start + "-01")
    ds = split.copy()
    ds.attrs = {k: v for k, v in split.attrs.items() if k.startswith("split_")}  # not the split file's provenance
    ds = ds.assign_coords(time=("time", time[keep], {"standard_name": "time", "long_name": "time", "axis": "T"}))
    twsa = np.full((keep.sum(), nlat, nlon), np.nan, np.float32)
    per_cell = {k: np.full((nlat, nlon), np.nan) for k in (*(f"pcc_{s}" for s in PCC_SPLITS), "learning_rate")}
    retrained = np.full((nlat, nlon), -1, np.int8)
    region_id = np.zeros((nlat, nlon), np.int16)
    sources = {}
    for f in finals:
        i, j = np.divmod(f["cell"].values, nlon)
        twsa[:, i, j] = f["twsa"].values[:, keep].T
        for k in per_cell:
            per_cell[k][i, j] = f[k].values
        retrained[i, j] = f["retrained"].values
        region_id[i, j] = REGIONS[f.attrs["region"]]
        sources[f.attrs["region"]] = f.attrs.get("hyperparameter_selection", "")
    ds["twsa"] = (("time", "lat", "lon"), twsa, {
        "units": "cm", "standard_name": "lwe_thickness", "grid_mapping": "crs",
        "long_name": f"terrestrial water storage anomaly, GR*Ai*CE {model_type} reconstruction"})
    for k, v in per_cell.items():
        attrs = {"grid_mapping": "crs"}
        if k.startswith("pcc_"):
            attrs.update(units="1", long_name=f"Pearson r with GRACE on {k[4:].replace('_', '+')} months")
        else:
            attrs.update(units="1", long_name="learning rate of the kept fit (re-tuned where retrained)")
        ds[k] = (("lat", "lon"), v, attrs)
    ds["retrained"] = (("lat", "lon"), retrained, {
        "long_name": "kept fit comes from learning-rate re-tuning", "flag_values": np.array([-1, 0, 1], np.int8),
        "flag_meanings": "no_model original retrained", "grid_mapping": "crs"})
    ds["kg_region"] = (("lat", "lon"), region_id, {"long_name": "Köppen–Geiger class of the cell's region "
                                                   "(0: none)", "grid_mapping": "crs"})
    ds.attrs.update(title=f"GR*Ai*CE {model_type} reconstruction of monthly TWSA",
                    references="Palazzoli, Ceola & Gentine (2025), Sci. Data, doi:10.1038/s41597-025-04403-3",
                    hyperparameter_selection=hyperparameter_selection_note(sources))
    return ds


PUBLISHED_SELECTION = ("published GR*Ai*CE study: the authors scored its trials on test MAE, so test months "
                       "leaked into this choice (DESIGN.md, defect 5)")
TUNED_SELECTION = "tuned here: trials trained on training months, scored on validation months of the stored split"


def hyperparameter_selection_note(sources: dict[str, str]) -> str:
    """One line per kind of selection with the regions it applies to, for the product's attributes."""
    by_note: dict[str, list[str]] = {}
    for region, note in sources.items():
        by_note.setdefault(note or "unknown", []).append(region)
    return "; ".join(f"{note} ({', '.join(regions)})" for note, regions in by_note.items())


def skill_table(finals: list[xr.Dataset]) -> pd.DataFrame:
    """Median test PCC per region (and over all cells) of the model and of the monthly climatology."""
    rows, pooled_model, pooled_clim = [], [], []
    for f in finals:
        if "twsa" not in f or f.sizes["cell"] == 0:
            continue
        observed = f["observed"].values
        flags = f["split"].values
        clim = climatology_baseline(observed, flags, pd.DatetimeIndex(f["time"].values))
        test = flags == TEST
        r_model = masked_r(f["twsa"].values, observed, test)
        r_clim = masked_r(clim, observed, test)
        pooled_model.append(r_model)
        pooled_clim.append(r_clim)
        rows.append({"region": f.attrs["region"], "cells": f.sizes["cell"],
                     "median_test_pcc": np.nanmedian(r_model), "median_test_pcc_climatology": np.nanmedian(r_clim)})
    if pooled_model:
        m, c = np.concatenate(pooled_model), np.concatenate(pooled_clim)
        rows.append({"region": "all", "cells": len(m), "median_test_pcc": np.nanmedian(m),
                     "median_test_pcc_climatology": np.nanmedian(c)})
    table = pd.DataFrame(rows)
    if len(table):
        table["beats_climatology"] = table["median_test_pcc"] > table["median_test_pcc_climatology"]
    return table
