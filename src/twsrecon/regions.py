"""The 28 GR*Ai*CE regions (Beck et al. Köppen–Geiger classes) and the per-region cell datasets."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import xarray as xr

log = logging.getLogger(__name__)

BECK_CODES = {
    1: "Af", 2: "Am", 3: "Aw", 4: "BWh", 5: "BWk", 6: "BSh", 7: "BSk", 8: "Csa", 9: "Csb", 10: "Csc",
    11: "Cwa", 12: "Cwb", 13: "Cwc", 14: "Cfa", 15: "Cfb", 16: "Cfc", 17: "Dsa", 18: "Dsb", 19: "Dsc",
    20: "Dsd", 21: "Dwa", 22: "Dwb", 23: "Dwc", 24: "Dwd", 25: "Dfa", 26: "Dfb", 27: "Dfc", 28: "Dfd",
    29: "ET", 30: "EF",
}

# Region names exactly as the GR*Ai*CE authors wrote them (their study files use these prefixes).
CLASS_NAMES = {
    1: "tropical_rainforest", 2: "tropical_monsoon", 3: "tropical_savannah", 4: "arid_deserthot",
    5: "arid_desertcold", 6: "arid_steppehot", 7: "arid_steppecold", 8: "temperate_dryhotsummer",
    9: "temperate_drywarmsummer", 10: "temperate_drycoldsummer", 11: "temperate_drywinhotsum",
    12: "temperate_drywinwarmsum", 13: "temperate_drywincoldsum", 14: "temperate_nodryhotsum",
    15: "temperate_nodrywarmsum", 16: "temperate_nodrycoldsum", 17: "continental_dryhotsummer",
    18: "continental_drywarmsummer", 19: "continental_drycoldsummer", 20: "continental_drysumverycoldwin",
    21: "continental_drywinhotsum", 22: "continental_drywinwarmsum", 23: "continental_drywincoldsum",
    24: "continental_drywinverycoldwin", 25: "continental_nodryhotsum", 26: "continental_nodrywarmsum",
    27: "continental_nodrycoldsum", 28: "continental_nodryverycoldwin", 29: "polar_tundra", 30: "polar_frost",
}

# Csc (10) and Cwc (13) had no usable cells in GR*Ai*CE: 28 regions remain.
EXCLUDED_CLASSES = (10, 13)
REGIONS = {name: cls for cls, name in CLASS_NAMES.items() if cls not in EXCLUDED_CLASSES}

PREDICTORS = ("pcp", "tmp", "snow", "rad", "rh", "sif")
METEO = tuple(p for p in PREDICTORS if p != "sif")


def class_of(region: str) -> int:
    try:
        return REGIONS[region]
    except KeyError:
        raise KeyError(f"unknown region {region!r}; known: {', '.join(REGIONS)}") from None


@dataclass
class RegionCells:
    dataset: xr.Dataset
    n_class_cells: int
    n_dropped_predictor: dict
    n_dropped_no_twsa: int
    n_without_sif: int
    included: bool
    reason: str


def region_cells(cube: xr.Dataset, kg_class: xr.DataArray, region: str, min_cells: int) -> RegionCells:
    """The cells of one region as (cell, time) series.

    A cell missing any meteorological predictor in any month is dropped (counted per predictor);
    a cell without any GRACE month is dropped; a cell without complete SIF is kept but flagged
    (`has_sif`), since only the SIF models must leave it out.
    """
    cls = class_of(region)
    nlon = cube.sizes["lon"]
    mask = (kg_class.values == cls)
    ii, jj = np.nonzero(mask)
    n_class = len(ii)
    rows = slice(int(ii.min()), int(ii.max()) + 1) if n_class else slice(0, 0)
    # Only the latitude band of the region is read: a global cube stays on disk.
    data = {v: cube[v].isel(lat=rows).values[:, ii - rows.start, jj] for v in (*PREDICTORS, "twsa")}
    keep = np.ones(n_class, bool)
    dropped = {}
    for v in METEO:
        bad = ~np.isfinite(data[v]).all(axis=0)
        dropped[v] = int((bad & keep).sum())
        keep &= ~bad
    no_twsa = ~np.isfinite(data["twsa"]).any(axis=0) & keep
    keep &= ~no_twsa
    has_sif = np.isfinite(data["sif"]).all(axis=0)
    sel = np.flatnonzero(keep)
    n = len(sel)
    included = n >= min_cells
    reason = "" if included else f"{n} usable cells < regions.min_cells = {min_cells}"
    if not included:
        log.warning("region %s left out: %s", region, reason)
        sel = sel[:0]
    for v, k in dropped.items():
        if k:
            log.info("region %s: %d cell(s) dropped for missing %s", region, k, v)
    if no_twsa.sum():
        log.info("region %s: %d cell(s) dropped without any GRACE month", region, int(no_twsa.sum()))

    lat = cube["lat"].values[ii[sel]]
    lon = cube["lon"].values[jj[sel]]
    cell_id = (ii[sel] * nlon + jj[sel]).astype(np.int64)
    ds = xr.Dataset(
        {v: (("time", "cell"), data[v][:, sel].astype(np.float32), dict(cube[v].attrs)) for v in (*PREDICTORS, "twsa")},
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
    ds["has_sif"] = ("cell", has_sif[sel].astype(np.int8),
                     {"long_name": "cell has SIF in every month (usable by the SIF models)", "flag_values": [0, 1],
                      "flag_meanings": "no_sif has_sif"})
    ds.attrs.update({
        "featureType": "timeSeries", "region": region, "kg_class": cls, "kg_code": BECK_CODES[cls],
        "included": int(included), "exclusion_reason": reason,
        "cells_in_class": n_class, "cells_dropped_missing_predictor": sum(dropped.values()),
        "cells_dropped_no_twsa": int(no_twsa.sum()),
    })
    return RegionCells(ds, n_class, dropped, int(no_twsa.sum()), int((~has_sif[sel]).sum()), included, reason)


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
