"""Monthly solar-induced fluorescence: any CF netCDF with one SIF variable on a regular lat/lon grid."""

from __future__ import annotations

import logging

import pandas as pd
import xarray as xr

from ...errors import InputError
from ..timeaxis import monthly_stamps, require_coverage
from ..units import annotate, check_range
from .netcdf import open_input

log = logging.getLogger(__name__)

_COORD_NAMES = {"latitude": "lat", "longitude": "lon", "y": "lat", "x": "lon", "Time": "time", "t": "time"}


def read_sif(path, period: pd.DatetimeIndex, variable: str | None = None, chunk_months: int = 12) -> xr.DataArray:
    ds = open_input(path, time_chunk=chunk_months)
    ds = ds.rename({k: v for k, v in _COORD_NAMES.items() if k in ds.dims or k in ds.coords})
    if variable is None:
        gridded = [v for v, da in ds.data_vars.items() if {"time", "lat", "lon"} <= set(da.dims)]
        if len(gridded) != 1:
            raise InputError(path, f"expected one (time, lat, lon) variable, found {gridded or 'none'}: "
                                   "set inputs.sif.variable in the config")
        variable = gridded[0]
    if variable not in ds:
        raise InputError(path, f"variable not found (found: {list(ds.data_vars)})", variable)
    da = ds[variable]
    if {"time", "lat", "lon"} - set(da.dims):
        raise InputError(path, f"dims {da.dims} do not include time, lat and lon", variable)
    if "units" not in da.attrs:
        log.warning("SIF variable '%s' in %s has no units attribute; taken as mW m-2 nm-1 sr-1", variable, path)
    da = da.assign_coords(time=monthly_stamps(da["time"].values, path, variable))
    require_coverage(pd.DatetimeIndex(da["time"].values), period, path, variable)
    da = da.sel(time=period).chunk({"time": chunk_months, "lat": -1, "lon": -1}).astype("float32")
    check_range(da.isel(time=[0, -1]).compute().rename("sif"), "sif", path, variable)
    out = annotate(da, "sif")
    out.attrs.update(source_file=str(path), source_variable=variable,
                     source_units=ds[variable].attrs.get("units", ""))
    return out
