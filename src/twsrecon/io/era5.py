"""ERA5 / ERA5-Land monthly means from the Copernicus CDS, in the 2024+ (cfgrib) and older layouts."""

from __future__ import annotations

import logging

import pandas as pd
import xarray as xr

from ..errors import InputError
from ..timeaxis import monthly_stamps, require_coverage
from ..units import annotate, check_range, era5_to_canonical, relative_humidity
from .netcdf import open_input

log = logging.getLogger(__name__)

# ERA5 short name -> canonical predictor; d2m only feeds rh.
ERA5_PREDICTORS = {"tp": "pcp", "t2m": "tmp", "sd": "snow", "ssr": "rad"}
ERA5_REQUIRED = ("tp", "t2m", "d2m", "sd", "ssr")
# Optional: evaporation and runoff give CWSC = cumulative (P - ET - R); soil water layers give a model
# storage (ERA5-Land layer depths in m) for the BCNN's model-TWSA predictor.
SOIL_LAYERS_M = {"swvl1": 0.07, "swvl2": 0.21, "swvl3": 0.72, "swvl4": 1.89}


def _standardise(ds: xr.Dataset, path) -> xr.Dataset:
    """One layout for both CDS vintages: dims (time, lat, lon), expver folded, month-start stamps."""
    ds = ds.rename({k: v for k, v in {"valid_time": "time", "latitude": "lat", "longitude": "lon"}.items()
                    if k in ds.variables or k in ds.dims})
    for dim in ("time", "lat", "lon"):
        if dim not in ds.dims:
            raise InputError(path, f"no '{dim}' dimension (found dims {list(ds.dims)}): not an ERA5 monthly file?")
    if "expver" in ds.dims:
        # Older mixed ERA5/ERA5T requests: one slice per experiment version, NaN where the other has data.
        # Final ERA5 (expver 1) wins over ERA5T (5) where both exist.
        parts = [ds.sel(expver=v, drop=True) for v in sorted(ds["expver"].values, key=lambda v: str(v))]
        combined = parts[0]
        for part in parts[1:]:
            combined = combined.combine_first(part)
        ds = combined
    ds = ds.drop_vars([v for v in ("expver", "number", "step", "surface") if v in ds.variables])
    ds = ds.assign_coords(time=monthly_stamps(ds["time"].values, path, "time"))
    return ds


def open_era5(paths, chunk_months: int = 12) -> tuple[dict[str, xr.DataArray], dict[str, str]]:
    """Every variable of a set of CDS files, standardised but in native units, with its source files.

    The files may split the variables by step type (avgua/avgad, whose stamps differ by hours) and
    the years by request; a month found in two files is an error.
    """
    pieces: dict[str, list[tuple[str, xr.DataArray]]] = {}
    for path in paths:
        ds = _standardise(open_input(path, time_chunk=chunk_months), path)
        for var in ds.data_vars:
            pieces.setdefault(var, []).append((str(path), ds[var]))
    fields, sources = {}, {}
    for var, parts in pieces.items():
        arrays = [a for _, a in parts]
        da = arrays[0] if len(arrays) == 1 else xr.concat(arrays, dim="time", join="exact").sortby("time")
        files = "; ".join(p for p, _ in parts)
        stamps = pd.DatetimeIndex(da["time"].values)
        if stamps.has_duplicates:
            raise InputError(files, f"month {stamps[stamps.duplicated()][0]:%Y-%m} appears in more than one file", var)
        fields[var] = da.chunk({"time": chunk_months, "lat": -1, "lon": -1})
        sources[var] = files
    return fields, sources


def read_era5(paths, period: pd.DatetimeIndex, chunk_months: int = 12) -> xr.Dataset:
    """Canonical pcp, tmp, snow, rad, rh (lazy, dims time/lat/lon) covering `period`, plus et, runoff and
    storage when the files hold e, ro and swvl1-4."""
    fields, sources = open_era5(paths, chunk_months)
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
    ds = xr.Dataset({name: annotate(da, name) for name, da in out.items()})
    for name, (files, var, label) in origin.items():
        check_range(ds[name].isel(time=[0, -1]).compute(), name, files, var)
        ds[name].attrs.update(source_file=files, source_variable=label)
    return ds
