"""The plan checked against the data before any heavy job: which regions train, which get a time-series
figure, and whether the inputs hold what the settings ask of them (read from the files' metadata only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.derived import ERA5_NEEDS

class PlanError(ValueError):
    """A setting the data cannot serve: the message names the config key and what the data lacks."""

    def __init__(self, key: str, problem: str):
        self.key = key
        super().__init__(f"config key '{key}': {problem}")


# Time-series figures when `evaluation.timeseries_regions` is left empty: the largest regions.
N_TIMESERIES = 4



def _summary(summary):
    from ..data.io import read_csv

    return read_csv(summary) if isinstance(summary, (str, Path)) else summary


def regions_to_train(summary) -> list[str]:
    """Regions the summary marks included and that hold cells, in the summary's order."""
    t = _summary(summary)
    return [r for r, inc, n in zip(t["region"], t["included"], t["cells"]) if _true(inc) and int(n) > 0]


def _true(v) -> bool:
    return v if isinstance(v, (bool, np.bool_)) else str(v).strip().lower() == "true"


def own_cells(t):
    """Usable cells of each region's own class (whether they train there or, by fallback, elsewhere)."""
    return t["cells"].astype(int) - t["cells_moved_in"].astype(int) + t["cells_moved_out"].astype(int)


def pick_timeseries_regions(summary, requested, n: int = N_TIMESERIES) -> list[str]:
    """`requested` when every entry has cells with a reconstruction, else an error naming the setting;
    when `requested` is empty, the `n` regions with the most cells."""
    t = _summary(summary)
    own = dict(zip(t["region"], own_cells(t)))
    if not requested:
        ranked = sorted(own, key=lambda r: -own[r])  # stable: ties keep the summary's order
        return [r for r in ranked if own[r] > 0][:n]
    bad = []
    for r in requested:
        if r not in own:
            bad.append(f"{r} (not in regions.include)")
        elif own[r] == 0:
            row = t[t["region"] == r].iloc[0]
            bad.append(f"{r} ({int(row['cells_in_class'])} cells of class {row['kg_code']} on this grid, "
                       f"none usable)")
    if bad:
        with_cells = ", ".join(r for r in own if own[r] > 0) or "none"
        raise PlanError(
            "evaluation.timeseries_regions", f"these regions have no cells to show on this domain: "
            f"{'; '.join(bad)}. Regions with cells: {with_cells}. Name some of those, or leave the list "
            f"empty for the {n} largest")
    return list(requested)


def era5_variables(paths) -> dict[str, list[str]] | None:
    """{variable: files} of a set of ERA5 netCDF files, from their headers (no data is read); None when a
    file is missing or unreadable (the cube job then names it and the problem)."""
    import xarray as xr

    out: dict[str, list[str]] = {}
    for path in paths:
        try:
            with xr.open_dataset(path, decode_times=False, decode_cf=False) as ds:
                for v in ds.data_vars:
                    out.setdefault(str(v), []).append(str(path))
        except (OSError, ValueError):
            return None
    return out


def check_predictor_sets(predictor_sets: dict, era5_files, setting: str = "gapfill.predictor_sets") -> None:
    """Every predictor set (BCNN sets, or the model types' predictors with `setting` "models.types") can be
    built from the ERA5 files: cwsc and cwsc_dev need e and ro, model_twsa swvl1-4."""
    found = era5_variables(era5_files)
    if found is None:
        return
    problems = []
    for name, predictors in predictor_sets.items():
        for p in predictors:
            lacking = [v for v in ERA5_NEEDS.get(p, ()) if v not in found]
            if lacking:
                problems.append(f"{setting}.{name} uses {p}, which needs the ERA5 variable(s) "
                                f"{', '.join(lacking)}")
    if problems:
        files = ", ".join(str(f) for f in era5_files)
        raise PlanError(setting,
                          f"{'; '.join(problems)}, and the ERA5 files ({files}) hold only "
                          f"{', '.join(sorted(found))}. Add those variables to the files "
                          "(or use source: download) or drop the predictor or the model type")


def check_external_overlap(name: str, settings: dict, grid: dict) -> None:
    """An external product must cover part of the analysis domain (read from its coordinates only)."""
    from ..data.io.netcdf import open_input, select_field

    path = settings["path"]
    with open_input(path, decode_times=False) as ds:
        da = select_field(ds, path, settings.get("variable"), 3, f"evaluation.external.{name}.variable")
        lat, lon = np.asarray(da["lat"].values, float), np.asarray(da["lon"].values, float)
    lon = (lon + 180.0) % 360.0 - 180.0  # 0..360 files too
    half = grid["resolution"] / 2
    in_lat = (lat >= grid["lat_min"] - half) & (lat <= grid["lat_max"] + half)
    in_lon = (lon >= grid["lon_min"] - half) & (lon <= grid["lon_max"] + half)
    if not (in_lat.any() and in_lon.any()):
        raise PlanError(
            f"evaluation.external.{name}", f"{path} ({da.name}) covers lat {lat.min():g}..{lat.max():g}, "
            f"lon {lon.min():g}..{lon.max():g}, which does not overlap the domain (grid: lat "
            f"{grid['lat_min']:g}..{grid['lat_max']:g}, lon {grid['lon_min']:g}..{grid['lon_max']:g})")
