"""The regions' per-cell results as products: PCC per split, the gridded split and reconstruction, the
hyperparameter-selection note, the skill table.

numpy/xarray only (no torch, no optuna), so that the light rules that grid and score the stored split and the
trained cells (merge_reconstruction, reconstruction_skill) run in envs/data.yaml. The gridded split
itself is features.gridded_split (no metrics import: editing the metrics does not redraw it).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import xarray as xr

from ..evaluation.baselines import climatology_baseline
from ..evaluation.metrics import pearson_r
from ..periods import TEST, TRAIN, VAL
from ..regions.cells import plan_cells
from ..regions.classes import REGIONS, STATUS, uses_sif

log = logging.getLogger(__name__)

PCC_SPLITS = {"train": (TRAIN,), "validation": (VAL,), "train_validation": (TRAIN, VAL), "test": (TEST,),
              "all": (TRAIN, VAL, TEST)}


def masked_r(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Pearson r per cell (row) over the months where `mask` holds."""
    return pearson_r(np.where(mask, a, np.nan), b)


def pcc_table(prediction, observed, flags) -> dict[str, np.ndarray]:
    """PCC per cell on train, validation, train+validation, test and all GRACE months."""
    return {name: masked_r(prediction, observed, np.isin(flags, codes)) for name, codes in PCC_SPLITS.items()}


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
        "units": "cm", "grid_mapping": "crs",
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


def add_cell_status(ds: xr.Dataset, plan, model_type: str) -> xr.Dataset:
    """Per cell of a gridded reconstruction: its own class, whether it trained in a neighbour's region
    (regions.fallback) and, where it has no reconstruction, why (regions.classes.STATUS)."""
    from ..regions.classes import NO_SIF, NOT_FITTED, USABLE

    has_model = ds["retrained"].values >= 0
    fitted = np.isfinite(ds["twsa"].values).any(0) & has_model
    status = plan.status.copy()
    planned = status == USABLE
    if uses_sif(model_type):
        status[planned & ~plan.has_sif] = NO_SIF
    status[(status == USABLE) & ~fitted] = NOT_FITTED
    status[fitted] = USABLE
    ds["cell_status"] = (("lat", "lon"), status.astype(np.int8), {
        "long_name": "why the cell has no reconstruction (reconstructed: it has one)",
        "flag_values": np.arange(len(STATUS), dtype=np.int8), "flag_meanings": " ".join(STATUS),
        "grid_mapping": "crs"})
    ds["fallback"] = (("lat", "lon"), np.where(has_model, plan.fallback, -1).astype(np.int8), {
        "long_name": "trained in the region of a neighbouring class, its own being too small (regions.fallback)",
        "flag_values": np.array([-1, 0, 1], np.int8), "flag_meanings": "no_model own_region fallback_region",
        "grid_mapping": "crs"})
    ds["kg_class"] = (("lat", "lon"), plan.kg_class.astype(np.int16), {
        "long_name": "Köppen–Geiger class of the cell itself (Beck et al. legend, 0: none)", "grid_mapping": "crs"})
    return ds


def merge_reconstruction(finals: list[xr.Dataset], split: xr.Dataset, cube: xr.Dataset, kg_class: np.ndarray,
                         model_type: str, predict_start: str, include, min_cells: int, fallback: bool,
                         log: logging.Logger = log) -> xr.Dataset:
    """Rule merge_reconstruction: the regions' per-cell results `finals` of one model type on the grid of the stored
    `split`, with every cell's status (why a cell has no reconstruction: the plan of the `cube` and the Köppen
    classes `kg_class` under the regions settings `include`, `min_cells`, `fallback`)."""
    ds = gridded(finals, split, model_type, predict_start)
    ds = add_cell_status(ds, plan_cells(cube, kg_class, include, min_cells, fallback), model_type)
    log.info("%s: %d cells with a model, %d of them by fallback", model_type, int((ds["retrained"] >= 0).sum()),
             int((ds["fallback"] == 1).sum()))
    for code, name in enumerate(STATUS[1:], start=1):
        if name != "not_land" and (n := int((ds["cell_status"] == code).sum())):
            log.warning("%s: %d cell(s) without a reconstruction: %s", model_type, n, name)
    log.info("hyperparameters: %s", ds.attrs["hyperparameter_selection"])
    return ds

def reconstruction_skill(finals: list[xr.Dataset]) -> pd.DataFrame:
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
