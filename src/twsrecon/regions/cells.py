"""The cells of the regions: where each cell trains (and why another does not), the per-region cell datasets
and their summary table. The regions themselves: `classes`."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..data.derived import ATTRS as DERIVED_ATTRS, can_derive, predictor_field
from .classes import (BECK_CODES, CLASS_NAMES, CLASS_NOT_INCLUDED, CLASS_TOO_SMALL, EXCLUDED_CLASSES, METEO,
                      MISSING_PREDICTOR, NEIGHBOURS, NO_GRACE, NOT_LAND, PREDICTORS, REGIONS, USABLE, WATER_BALANCE,
                      class_of, related_classes)

log = logging.getLogger(__name__)


@dataclass
class CellPlan:
    """Where each cell of the grid trains, and why not where it does not (all arrays (lat, lon))."""

    kg_class: np.ndarray  # the cell's own Beck class, 0: none
    status: np.ndarray  # USABLE, NOT_LAND, MISSING_PREDICTOR, NO_GRACE, CLASS_TOO_SMALL or CLASS_NOT_INCLUDED
    missing: np.ndarray  # index in METEO of the first predictor a MISSING_PREDICTOR cell lacks, else -1
    has_sif: np.ndarray  # SIF in every month
    region: np.ndarray  # class of the region the cell trains in, 0: none
    fallback: np.ndarray  # trains in a neighbour's region (regions.fallback)
    usable: dict  # class -> usable cells of its own
    targets: dict  # class -> class of the region its cells join (itself when large enough), None: none


def plan_cells(cube: xr.Dataset, kg_class: np.ndarray, include, min_cells: int, fallback: bool,
               classes=None) -> CellPlan:
    """Usability of the cells of `classes` (all when None) and the region each usable cell trains in.

    A cell missing any meteorological predictor in any month is unusable, and so is a cell without any
    GRACE month; a cell without complete SIF is usable (only the SIF models leave it out). A region trains
    when it is in `include` and has at least `min_cells` usable cells; the usable cells of a smaller class
    (and of Csc, Cwc) join the first region of its NEIGHBOURS that trains, when `fallback` is on.
    Only the latitude band of `classes` is read, so a region job does not load a global cube.
    """
    kg = np.nan_to_num(np.asarray(kg_class, np.float64), nan=0.0).astype(np.int64)
    classes = set(np.unique(kg[kg > 0]).tolist()) if classes is None else set(classes)
    include_cls = {class_of(r) for r in include}
    status = np.full(kg.shape, NOT_LAND, np.int8)
    missing = np.full(kg.shape, -1, np.int8)
    has_sif = np.zeros(kg.shape, bool)
    ii, jj = np.nonzero(np.isin(kg, list(classes)) & (kg > 0))
    if len(ii):
        r0, r1 = int(ii.min()), int(ii.max()) + 1
        ok = np.ones(len(ii), bool)
        miss = np.full(len(ii), -1, np.int8)
        for k, v in enumerate(METEO):
            bad = ~np.isfinite(cube[v].isel(lat=slice(r0, r1)).values[:, ii - r0, jj]).all(axis=0)
            miss[bad & ok] = k
            ok &= ~bad
        no_grace = ~np.isfinite(cube["twsa"].isel(lat=slice(r0, r1)).values[:, ii - r0, jj]).any(axis=0) & ok
        status[ii, jj] = np.where(ok & ~no_grace, USABLE, np.where(ok, NO_GRACE, MISSING_PREDICTOR))
        missing[ii, jj] = miss
        has_sif[ii, jj] = np.isfinite(cube["sif"].isel(lat=slice(r0, r1)).values[:, ii - r0, jj]).all(axis=0)
    usable = {c: int(((kg == c) & (status == USABLE)).sum()) for c in classes}

    def trains(c):
        return c in include_cls and usable.get(c, 0) >= min_cells

    targets = {}
    for c in classes:
        if trains(c):
            targets[c] = c
        elif fallback and (c in REGIONS.values() and c in include_cls or c in EXCLUDED_CLASSES):
            targets[c] = next((n for n in NEIGHBOURS.get(c, ()) if n in classes and trains(n)), None)
        else:
            targets[c] = None
    region = np.zeros(kg.shape, np.int16)
    for c, t in targets.items():
        usable_c = (kg == c) & (status == USABLE)
        if t is not None:
            region[usable_c] = t
        else:
            status[usable_c] = CLASS_TOO_SMALL if c in include_cls else CLASS_NOT_INCLUDED
    return CellPlan(kg, status, missing, has_sif, region, (region > 0) & (region != kg), usable, targets)


@dataclass
class RegionCells:
    dataset: xr.Dataset
    n_class_cells: int
    n_dropped_predictor: dict
    n_dropped_no_twsa: int
    n_without_sif: int
    included: bool
    reason: str


def region_cells(cube: xr.Dataset, kg_class: xr.DataArray, region: str, min_cells: int, include=None,
                 fallback: bool = True) -> RegionCells:
    """The cells that train in one region as (time, cell) series: its own usable cells and, with
    `fallback`, those of smaller neighbouring classes (see plan_cells), flagged per cell (`fallback`)."""
    cls = class_of(region)
    include = list(REGIONS) if include is None else list(include)
    plan = plan_cells(cube, kg_class.values, include, min_cells, fallback, related_classes(cls))
    nlon = cube.sizes["lon"]
    own = plan.kg_class == cls
    n_class = int(own.sum())
    dropped = {v: int((own & (plan.missing == k)).sum()) for k, v in enumerate(METEO)}
    n_no_twsa = int((own & (plan.status == NO_GRACE)).sum())
    n = plan.usable.get(cls, 0)
    included = plan.targets.get(cls) == cls
    target = plan.targets.get(cls)
    if included:
        reason = ""
    elif region not in include:
        reason = "not in regions.include"
    elif n_class == 0:
        reason = f"no cells of class {BECK_CODES[cls]} on this grid"
    else:
        reason = f"{n} usable cells < regions.min_cells = {min_cells}"
        if target is not None and n:
            reason += f": its cells train in {CLASS_NAMES[target]} (regions.fallback)"
    if not included:
        log.warning("region %s left out: %s", region, reason)
    for v, k in dropped.items():
        if k:
            log.info("region %s: %d cell(s) dropped for missing %s", region, k, v)
    if n_no_twsa:
        log.info("region %s: %d cell(s) dropped without any GRACE month", region, n_no_twsa)

    ii, jj = np.nonzero(plan.region == cls) if included else (np.zeros(0, int), np.zeros(0, int))
    moved_from = {BECK_CODES[int(c)]: int(((plan.region == cls) & (plan.kg_class == c)).sum())
                  for c in sorted(set(plan.kg_class[ii, jj].tolist()) - {cls})}
    for code, k in moved_from.items():
        log.info("region %s: %d cell(s) of the small class %s join it (regions.fallback)", region, k, code)
    rows = slice(int(ii.min()), int(ii.max()) + 1) if len(ii) else slice(0, 0)
    # Only the latitude band of the region's cells is read: a global cube stays on disk.
    band = cube.isel(lat=rows)
    data = {v: band[v].values[:, ii - rows.start, jj] for v in (*PREDICTORS, "twsa")}
    attrs = {v: dict(cube[v].attrs) for v in data}
    for v in WATER_BALANCE:  # for the wb model types, where the cube has the fields
        if can_derive(band, v):
            data[v], attrs[v] = predictor_field(band, v)[:, ii - rows.start, jj], DERIVED_ATTRS[v]
    lat = cube["lat"].values[ii]
    lon = cube["lon"].values[jj]
    cell_id = (ii * nlon + jj).astype(np.int64)
    ds = xr.Dataset(
        {v: (("time", "cell"), data[v].astype(np.float32), attrs[v]) for v in data},
        coords={
            "time": cube["time"],
            "cell": ("cell", cell_id, {"long_name": "cell id: row-major index on the analysis grid "
                                                    "(lat_index * n_lon + lon_index)", "cf_role": "timeseries_id"}),
            "lat": ("cell", lat, cube["lat"].attrs | {"bounds": ""}),
            "lon": ("cell", lon, cube["lon"].attrs | {"bounds": ""}),
        },
    )
    for v in ds.data_vars:
        ds[v].attrs.pop("grid_mapping", None)
        ds[v].attrs["coordinates"] = "lat lon"
    for c in ("lat", "lon"):
        ds[c].attrs.pop("bounds", None)
    has_sif = plan.has_sif[ii, jj]
    if all(v in data for v in WATER_BALANCE):
        has_wb = np.logical_and.reduce([np.isfinite(data[v]).all(axis=0) for v in WATER_BALANCE])
        ds["has_water_balance"] = ("cell", has_wb.astype(np.int8), {
            "long_name": "cell has cwsc_dev and model_twsa in every month (usable by the wb model types)",
            "flag_values": [0, 1], "flag_meanings": "no_water_balance has_water_balance"})
    ds["has_sif"] = ("cell", has_sif.astype(np.int8),
                     {"long_name": "cell has SIF in every month (usable by the SIF models)", "flag_values": [0, 1],
                      "flag_meanings": "no_sif has_sif"})
    ds["kg_class"] = ("cell", plan.kg_class[ii, jj].astype(np.int16),
                      {"long_name": "Köppen–Geiger class of the cell itself (Beck et al. legend)"})
    ds["fallback"] = ("cell", plan.fallback[ii, jj].astype(np.int8),
                      {"long_name": "cell of a smaller class that trains in this region (regions.fallback)",
                       "flag_values": [0, 1], "flag_meanings": "own_class fallback"})
    ds.attrs.update({
        "featureType": "timeSeries", "region": region, "kg_class": cls, "kg_code": BECK_CODES[cls],
        "included": int(included), "exclusion_reason": reason,
        "cells_in_class": n_class, "cells_dropped_missing_predictor": sum(dropped.values()),
        "cells_dropped_no_twsa": n_no_twsa,
        "moved_to": CLASS_NAMES[target] if target is not None and not included and n else "",
        "cells_moved_out": 0 if included or target is None else n,
        "moved_in_from": " ".join(f"{c}:{k}" for c, k in moved_from.items()),
        "cells_moved_in": sum(moved_from.values()),
    })
    return RegionCells(ds, n_class, dropped, n_no_twsa, int((~has_sif).sum()), included, reason)


def own_cells(ds: xr.Dataset) -> np.ndarray:
    """Indices of a region dataset's own cells: a region is tuned on them, so cells joining it by fallback
    train with its hyperparameters without changing them."""
    return np.flatnonzero(ds["fallback"].values == 0) if "fallback" in ds else np.arange(ds.sizes["cell"])


def summary_table(paths):
    """One row per region dataset, from the counts each region job recorded in its attributes."""
    import pandas as pd

    rows = []
    for path in paths:
        with xr.open_dataset(path) as ds:
            a = ds.attrs
            rows.append({
                "region": a["region"], "kg_class": int(a["kg_class"]), "kg_code": a["kg_code"],
                "cells_in_class": int(a["cells_in_class"]),
                "dropped_missing_predictor": int(a["cells_dropped_missing_predictor"]),
                "dropped_no_twsa": int(a["cells_dropped_no_twsa"]),
                "cells": int(ds.sizes["cell"]), "cells_without_sif": int((ds["has_sif"] == 0).sum()),
                "included": bool(a["included"]), "reason": a["exclusion_reason"],
                "cells_moved_in": int(a.get("cells_moved_in", 0)), "moved_in_from": a.get("moved_in_from", ""),
                "cells_moved_out": int(a.get("cells_moved_out", 0)), "moved_to": a.get("moved_to", ""),
            })
    return pd.DataFrame(rows)


class NoUsableRegionError(ValueError):
    """Every region was left out: the workflow would end with empty reconstructions."""


def require_usable_region(table) -> None:
    """Stop when no region is usable, naming why each one was dropped (the per-region warnings alone are easy
    to miss in a run that otherwise 'succeeds')."""
    if table["included"].any():
        return
    reasons = "\n".join(
        f"  {r.region}: {r.reason or 'left out'} ({r.cells_in_class} cells in class, {r.dropped_missing_predictor} "
        f"dropped for a missing predictor, {r.dropped_no_twsa} without any GRACE month)" for r in table.itertuples())
    raise NoUsableRegionError(f"no usable region: all {len(table)} were left out:\n{reasons}")
