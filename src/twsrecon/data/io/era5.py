"""ERA5 / ERA5-Land monthly means from the Copernicus CDS, in the 2024+ (cfgrib) and older layouts."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import xarray as xr

from ...errors import InputError
from ..grid import check_covers
from ..timeaxis import month_start, monthly_stamps, require_coverage
from ..units import annotate, check_range, era5_to_canonical, relative_humidity
from .netcdf import open_input

log = logging.getLogger(__name__)

# ERA5 short name -> canonical predictor; d2m only feeds rh.
ERA5_PREDICTORS = {"tp": "pcp", "t2m": "tmp", "sd": "snow", "ssr": "rad"}
ERA5_REQUIRED = ("tp", "t2m", "d2m", "sd", "ssr")
# Optional: evaporation and runoff give CWSC = cumulative (P - ET - R); soil water layers give a model
# storage (ERA5-Land layer depths in m) for the BCNN's model-TWSA predictor.
SOIL_LAYERS_M = {"swvl1": 0.07, "swvl2": 0.21, "swvl3": 0.72, "swvl4": 1.89}


FINAL, ERA5T = "0001", "0005"  # CDS experiment versions: final ERA5 and its near-real-time preliminary


def _expver(value) -> str:
    """'0001', 1, b'0001' -> '0001': both CDS layouts' spellings of an experiment version."""
    text = value.decode() if isinstance(value, bytes) else str(value)
    text = text.strip()
    return f"{int(text):04d}" if text.isdigit() else text


def resolve_expver(ds, files, time_name: str):
    """One value per month: where a month is present as final ERA5 (expver 0001) and as ERA5T (0005), the
    final one is kept and the ERA5T one dropped (what the CDS itself does once ERA5 is final); the months are
    logged. Any other repetition (the same expver twice, or no final one) cannot be resolved: an error naming
    the time variable, the months and their expver values."""
    stamps = pd.DatetimeIndex(ds["time"].values)
    if not stamps.has_duplicates:
        return ds
    versions = ds["expver"].values if "expver" in ds.coords else [None] * len(stamps)
    keep = np.ones(len(stamps), bool)
    dropped, unresolved = [], []
    for month in stamps[stamps.duplicated(keep=False)].unique():
        idx = np.flatnonzero(stamps == month)
        vers = [versions[i] for i in idx]
        finals = [i for i in idx if versions[i] == FINAL]
        if len(finals) == 1 and all(versions[i] == ERA5T for i in idx if i != finals[0]):
            keep[idx] = False
            keep[finals[0]] = True
            dropped.append(f"{month:%Y-%m}")
        else:
            unresolved.append(f"{month:%Y-%m} (expver {', '.join(str(v) for v in vers)})")
    if unresolved:
        raise InputError(files, f"{len(unresolved)} month(s) appear more than once and cannot be resolved: "
                                f"{'; '.join(unresolved[:12])}{' ...' if len(unresolved) > 12 else ''} (only a "
                                f"final ERA5 value, expver {FINAL}, next to ERA5T duplicates, expver {ERA5T}, can be: "
                                "the final one is kept)", time_name)
    log.warning("ERA5T (expver %s) values dropped for %d month(s) present also as final ERA5 (expver %s), "
                "which is kept: %s (%s)", ERA5T, len(dropped), FINAL, ", ".join(dropped), files)
    return ds.isel(time=np.flatnonzero(keep))


def _fold_expver_dim(ds: xr.Dataset) -> xr.Dataset:
    """Older mixed ERA5/ERA5T requests have an `expver` dimension, NaN where the other version has data:
    each version's months with data become entries along time with an `expver` coordinate, like the 2024+
    layout, so that one rule (resolve_expver) serves both."""
    parts = []
    for v in ds["expver"].values:
        part = ds.sel(expver=v, drop=True)
        has_data = xr.concat([part[n].notnull().any([d for d in part[n].dims if d != "time"])
                              for n in part.data_vars], "var").any("var").values
        part = part.isel(time=np.flatnonzero(has_data))
        parts.append(part.assign_coords(expver=("time", [_expver(v)] * part.sizes["time"])))
    return xr.concat(parts, dim="time", join="exact", data_vars="all", coords="different", compat="equals")


def _standardise(ds: xr.Dataset, path, grid=None) -> xr.Dataset:
    """One layout for both CDS vintages: dims (time, lat, lon), month-start stamps, an `expver` coordinate
    along time where the file has one; a file not covering the analysis domain (`grid`) is an error here,
    before anything is combined."""
    time_name = "valid_time" if "valid_time" in ds.variables or "valid_time" in ds.dims else "time"
    ds = ds.rename({k: v for k, v in {"valid_time": "time", "latitude": "lat", "longitude": "lon"}.items()
                    if k in ds.variables or k in ds.dims})
    user = {"time": time_name, "lat": "latitude", "lon": "longitude"}
    for dim in ("time", "lat", "lon"):
        if dim not in ds.dims:
            raise InputError(path, f"no '{user[dim]}' dimension (found dims {list(ds.dims)}): not an ERA5 monthly "
                                   "file?")
    if grid is not None:
        check_covers(ds["lat"].values, ds["lon"].values, grid, path, ", ".join(map(str, ds.data_vars)))
    if "expver" in ds.dims:
        ds = _fold_expver_dim(ds)
    elif "expver" in ds.coords or "expver" in ds.variables:
        ds = ds.set_coords("expver")
        if ds["expver"].dims == ("time",):
            ds = ds.assign_coords(expver=("time", [_expver(v) for v in ds["expver"].values]))
        else:
            ds = ds.drop_vars("expver")
    ds = ds.drop_vars([v for v in ("number", "step", "surface") if v in ds.variables])
    times = ds["time"].values
    # Distinct time steps within one month of one experiment version are daily or sub-daily data; the same
    # time step repeated is a duplicated month, for resolve_expver.
    versions = ds["expver"].values if "expver" in ds.coords else np.zeros(len(times))
    for v in pd.unique(versions):
        monthly_stamps(pd.unique(times[versions == v]), path, time_name)
    ds = ds.assign_coords(time=month_start(times)).sortby("time")
    return resolve_expver(ds, str(path), time_name)


def open_era5(paths, chunk_months: int = 12, grid=None) -> tuple[dict[str, xr.DataArray], dict[str, str]]:
    """Every variable of a set of CDS files, standardised but in native units, with its source files.

    The files may split the variables by step type (avgua/avgad, whose stamps differ by hours) and
    the years by request; with `grid`, each file must cover the analysis domain. A month found in two
    files is resolved as within one (resolve_expver): final ERA5 over ERA5T, anything else an error.
    """
    pieces: dict[str, list[tuple[str, xr.DataArray, str]]] = {}
    for path in paths:
        raw = open_input(path, time_chunk=chunk_months)
        time_name = "valid_time" if "valid_time" in raw.variables else "time"
        ds = _standardise(raw, path, grid)
        for var in ds.data_vars:
            pieces.setdefault(var, []).append((str(path), ds[var], time_name))
    fields, sources = {}, {}
    for var, parts in pieces.items():
        arrays = [a for _, a, _ in parts]
        files = "; ".join(p for p, _, _ in parts)
        if len(arrays) == 1:
            da = arrays[0]
        else:
            try:
                da = xr.concat(arrays, dim="time", join="exact", coords="different", compat="equals")
            except ValueError as err:
                raise InputError(files, f"the files' latitude/longitude axes differ ({err}): files of one variable "
                                        "must share one grid", var) from err
            da = resolve_expver(da.sortby("time"), files, parts[0][2])
        if "expver" in da.coords:
            da = da.drop_vars("expver")
        fields[var] = da.chunk({"time": chunk_months, "lat": -1, "lon": -1})
        sources[var] = files
    return fields, sources


def read_era5(paths, period: pd.DatetimeIndex, chunk_months: int = 12, grid=None) -> xr.Dataset:
    """Canonical pcp, tmp, snow, rad, rh (lazy, dims time/lat/lon) covering `period`, plus et, runoff and
    storage when the files hold e, ro and swvl1-4. With `grid`, every file must cover the analysis domain."""
    fields, sources = open_era5(paths, chunk_months, grid)
    for var in ERA5_REQUIRED:
        if var not in fields:
            files = ", ".join(str(p) for p in paths)
            raise InputError(files, f"ERA5 variable not found in any of the files (found: {sorted(fields)})", var)

    def take(var):
        require_coverage(pd.DatetimeIndex(fields[var]["time"].values), period, sources[var], var)
        return fields[var].sel(time=period)

    out = {name: era5_to_canonical(take(var), name, sources[var]) for var, name in ERA5_PREDICTORS.items()}
    out["rh"] = relative_humidity(out["tmp"], era5_to_canonical(take("d2m"), "tmp", sources["d2m"]))
    # canonical name -> (files, variable named in errors, source_variable attribute)
    origin = {name: (sources[var], var, var) for var, name in ERA5_PREDICTORS.items()}
    origin["rh"] = (sources["d2m"], "d2m", "t2m, d2m")
    for var, name in (("e", "et"), ("ro", "runoff")):
        if var in fields:
            da = era5_to_canonical(take(var), name, sources[var])
            out[name] = -da if var == "e" else da  # ERA5 evaporation is negative upward flux
            origin[name] = (sources[var], var, var)
    if all(v in fields for v in SOIL_LAYERS_M):
        soil = sum(take(v) * depth for v, depth in SOIL_LAYERS_M.items())
        out["storage"] = soil + out["snow"] + (take("src") if "src" in fields else 0.0)
        files = "; ".join(sorted({sources[v] for v in SOIL_LAYERS_M}))
        origin["storage"] = (files, "swvl1", "swvl1-4, sd, src")
    try:  # never outer-join fields of different grids (that would NaN-fill a predictor silently)
        ds = xr.merge([annotate(da, name).rename(name) for name, da in out.items()], join="exact",
                      combine_attrs="drop_conflicts")  # each field keeps its own units and names
    except ValueError as err:
        raise InputError("; ".join(sorted(set(sources.values()))), "the step-type files have different "
                         f"latitude/longitude axes ({err}); request them with one grid and area") from err
    for name, (files, var, label) in origin.items():
        check_range(ds[name].isel(time=[0, -1]).compute(), name, files, var)
        ds[name].attrs.update(source_file=files, source_variable=label)
    return ds
